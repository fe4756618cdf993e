"""RTSP (issue #3, paper §4.4) against the built daemon: ffmpeg/ffprobe over UDP, TCP and the HTTP
tunnel with Digest, GStreamer rtspsrc, refusal before setup, live-only users, Internet mode switched
by PATCH, lockout shared with HTTP, host filter before parsing."""
import shutil
import socket
import subprocess
import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, ADMIN_USER, Camward

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None or shutil.which("ffmpeg") is None,
                                reason="ffmpeg/ffprobe are not installed")


def probe(url, transport="tcp", timeout=40):
    """ffprobe the first video stream; returns (exit code, combined output)."""
    p = subprocess.run(
        ["ffprobe", "-v", "error", "-rtsp_transport", transport, "-select_streams", "v:0",
         "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", url],
        capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def decode(url, transport="tcp", frames=10, timeout=60):
    """ffmpeg decodes `frames` frames; returns (exit code, stderr)."""
    p = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", transport, "-i", url,
         "-frames:v", str(frames), "-f", "null", "-"],
        capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stderr


def tunnel_url(cam, path="/stream1", user=ADMIN_USER, password=ADMIN_PASSWORD):
    return f"rtsp://{user}:{password}@127.0.0.1:{cam.http_port}{path}"


def assert_authenticated(rc, out):
    assert "401" not in out and "403" not in out and "503" not in out, out
    assert rc == 0 and out.startswith("h264,"), out


def test_rtsp_refuses_until_an_administrator_exists(cam):
    rc, out = probe(cam.rtsp_url())
    assert rc != 0 and "403" in out and "not set up" in out, out


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_rtsp_digest_right_password_decodes_wrong_gets_401(cam_admin, transport):
    rc, out = probe(cam_admin.rtsp_url(user=ADMIN_USER, password="Wrong-pass-1"), transport)
    assert rc != 0 and "401" in out, out
    for path in ("/stream1", "/stream2"):
        rc, err = decode(cam_admin.rtsp_url(path, user=ADMIN_USER, password=ADMIN_PASSWORD), transport)
        assert rc == 0, err


def test_rtsp_tunnel_follows_internet_mode_and_uses_rtsp_digest(cam_admin):
    rc, out = probe(tunnel_url(cam_admin, password="Wrong-pass-1"), "http")
    assert rc != 0 and "401" in out, out
    # Internet mode (over HTTP) is off by default: the tunnel refuses the stream, plain RTSP serves it.
    rc, out = probe(tunnel_url(cam_admin), "http")
    assert rc != 0 and "403" in out and "Internet mode" in out, out
    r = cam_admin.patch_config({"streams": {"stream1": {"internet_mode": True}, "stream2": {"internet_mode": True}}})
    assert r.status_code == 200, r.text
    for path in ("/stream1", "/stream2"):
        rc, err = decode(tunnel_url(cam_admin, path), "http")
        assert rc == 0, err


@pytest.mark.skipif(shutil.which("gst-launch-1.0") is None, reason="GStreamer is not installed")
def test_gstreamer_rtspsrc_plays_with_digest(cam_admin):
    p = subprocess.run(
        ["gst-launch-1.0", "rtspsrc", f"location={cam_admin.rtsp_url()}", "protocols=tcp",
         f"user-id={ADMIN_USER}", f"user-pw={ADMIN_PASSWORD}", "!", "rtph264depay", "!", "avdec_h264",
         "!", "identity", "eos-after=20", "!", "fakesink"],
        capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    # rtspsrc may report its own PAUSE/TEARDOWN race after EOS; what counts is EOS with no error first.
    eos = out.find("Got EOS from element")
    assert p.returncode == 0 or (eos >= 0 and "ERROR" not in out[:eos]), out


def test_rtsp_live_only_user_may_view(cam_admin):
    cam_admin.add_user("viewer", "View-only-2026", "live")
    assert_authenticated(*probe(cam_admin.rtsp_url("/stream2", user="viewer", password="View-only-2026")))


def test_rtsp_failures_lock_out_rtsp_and_http_alike(cam_admin):
    for i in range(8):
        rc, out = probe(cam_admin.rtsp_url(user=ADMIN_USER, password=f"Wrong-pass-{i}"))
        assert "401" in out, (i, out)
    rc, out = probe(cam_admin.rtsp_url(user=ADMIN_USER, password=ADMIN_PASSWORD))
    assert rc != 0 and "503" in out, out
    r = requests.get(cam_admin.url("/api/v1/status"), auth=cam_admin.admin(), timeout=10)
    assert r.status_code == 429, r.text


def rtsp_exchange(host, port, family):
    """Sends OPTIONS; returns everything the server sent before closing or answering."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((host, port))
        s.sendall(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk
        return data


def test_rtsp_host_filter_refuses_before_parsing(tmp_path):
    cam = Camward(tmp_path / "data", http_host="::")
    cam.start(wait=False)
    v4 = f"http://127.0.0.1:{cam.http_port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(v4 + "/api/v1/status", timeout=1)
            break
        except requests.RequestException:
            assert time.monotonic() < deadline, cam.read_log()
            time.sleep(0.05)
    try:
        r = requests.post(v4 + "/api/v1/setup", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}, timeout=10)
        assert r.status_code == 201
        assert rtsp_exchange("127.0.0.1", cam.rtsp_port, socket.AF_INET).startswith(b"RTSP/1.0 401")
        r = requests.patch(f"http://[::1]:{cam.http_port}/api/v1/config",
                           json={"host_auth": {"enabled": True, "allow": ["::1"]}}, auth=cam.admin(), timeout=10)
        assert r.status_code == 200, r.text
        assert rtsp_exchange("127.0.0.1", cam.rtsp_port, socket.AF_INET) == b"", "IPv4 must be closed unanswered"
        assert rtsp_exchange("::1", cam.rtsp_port, socket.AF_INET6).startswith(b"RTSP/1.0 401")
    finally:
        cam.stop()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_twenty_viewers_and_a_flapping_one_then_memory_returns(cam_admin):
    url = cam_admin.rtsp_url("/stream2", user=ADMIN_USER, password=ADMIN_PASSWORD)
    # Warm up (encoder, buffers, first session) so the baseline is the idle steady state.
    assert decode(url, "tcp", frames=15)[0] == 0
    time.sleep(1)
    baseline = rss_kib(cam_admin.proc.pid)
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url,
           "-frames:v", "120", "-f", "null", "-"]
    viewers = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(20)]
    flaps = 0
    deadline = time.monotonic() + 90
    while any(v.poll() is None for v in viewers) and time.monotonic() < deadline:
        rc, err = decode(url, "udp" if flaps % 2 else "tcp", frames=3, timeout=30)
        assert rc == 0, err
        flaps += 1
    for v in viewers:
        _, err = v.communicate(timeout=60)
        assert v.returncode == 0, err
    assert flaps >= 3
    # Sessions end with their TEARDOWN; give the daemon a moment, then compare.
    time.sleep(3)
    after = rss_kib(cam_admin.proc.pid)
    print(f"daemon RSS: {baseline} KiB before, {after} KiB after 20 viewers and {flaps} reconnects")
    assert after - baseline < 16 * 1024, f"RSS grew from {baseline} KiB to {after} KiB"
