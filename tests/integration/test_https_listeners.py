"""Which listeners exist per Connection setting (paper §3.5/§3.7), the plain HTTP port's
redirect-only mode (credentials refused, never counted toward lockout), and video over TLS:
ffmpeg through the RTSP tunnel on the HTTPS port and over rtsps:// with Digest credentials."""
import re
import subprocess

import pytest
import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from conftest import ADMIN_PASSWORD, ADMIN_USER, BIN, needs
from https_util import listeners

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


@needs("ss")
def test_default_only_http_and_rtsp_listen_and_https_follows_config(https_cam):
    # Defaults closed: exactly HTTP and RTSP, even with --https/--rtsps given.
    assert listeners(https_cam.proc.pid) == {https_cam.http_port, https_cam.rtsp_port}
    https_cam.set_connection("https")
    assert listeners(https_cam.proc.pid) == {https_cam.http_port, https_cam.rtsp_port, https_cam.https_port, https_cam.rtsps_port}
    # And back, without a restart (the change is made over HTTPS: plain HTTP takes no credentials now).
    https_cam.set_connection("http", via_https=True)
    assert listeners(https_cam.proc.pid) == {https_cam.http_port, https_cam.rtsp_port}


def test_plain_http_only_redirects_when_https_is_on(https_cam):
    https_cam.set_connection("https")
    r = requests.get(https_cam.url("/api/v1/status?x=1"), allow_redirects=False, timeout=10)
    assert r.status_code == 308, r.text
    assert r.headers["Location"] == f"https://127.0.0.1:{https_cam.https_port}/api/v1/status?x=1"
    r = requests.get(https_cam.url("/"), allow_redirects=False, timeout=10, headers={"Host": "https_cam.example:80"})
    assert r.status_code == 308 and r.headers["Location"] == f"https://https_cam.example:{https_cam.https_port}/"
    # The redirect leads to the same API over TLS.
    r = requests.get(https_cam.url("/api/v1/status"), auth=https_cam.admin(), timeout=10, verify=False)
    assert r.status_code == 200 and r.url.startswith("https://"), r.url
    # The RTSP tunnel is not offered in clear either.
    r = requests.get(https_cam.url("/stream1"), headers={"x-sessioncookie": "abc", "Accept": "application/x-rtsp-tunnelled"},
                     allow_redirects=False, timeout=10)
    assert r.status_code == 308


def test_credentials_on_plain_http_are_refused_and_never_counted(https_cam):
    https_cam.set_connection("https")
    right_basic = HTTPBasicAuth(ADMIN_USER, ADMIN_PASSWORD)
    # Far more failures than the lockout threshold: none is even checked.
    for i in range(12):
        r = requests.get(https_cam.url("/api/v1/status"), auth=HTTPBasicAuth(ADMIN_USER, f"Wrong-pass-{i}"),
                         allow_redirects=False, timeout=10)
        assert r.status_code == 400 and r.json()["error"] == "https_required", r.text
        assert "Location" not in r.headers
    r = requests.get(https_cam.url("/api/v1/status"), auth=right_basic, allow_redirects=False, timeout=10)
    assert r.status_code == 400
    # A Digest client gets a redirect first (no challenge is ever issued on plain HTTP).
    r = requests.get(https_cam.url("/api/v1/config"), auth=HTTPDigestAuth(ADMIN_USER, ADMIN_PASSWORD),
                     allow_redirects=False, timeout=10)
    assert r.status_code == 308 and "WWW-Authenticate" not in r.headers
    # Not locked out: the same account and address still log in over HTTPS.
    r = https_cam.sreq("GET", "/api/v1/status")
    assert r.status_code == 200, r.text
    kinds = [e["kind"] for e in https_cam.sreq("GET", "/api/v1/log").json()["entries"]]
    assert not any("fail" in k or "lock" in k for k in kinds), kinds


def ffmpeg_frames(args, timeout=60):
    p = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "info", *args,
                        "-frames:v", "10", "-f", "null", "-"], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stderr


def assert_decoded(rc, out):
    # A 401 answer, not the digits 401 inside a port number.
    assert not re.search(r"(?<!\d)401(?!\d)", out) and "Unauthorized" not in out, out
    assert rc == 0 and "frame=" in out and "Video: h264" in out, out[-3000:]


@needs("ffmpeg")
def test_ffmpeg_rtsp_tunnel_over_https_with_digest(https_cam):
    https_cam.set_connection("https")
    # "Internet mode (over HTTP)" lets Stream(1) through the tunnel.
    r = https_cam.sreq("PATCH", "/api/v1/config", json={"streams": {"stream1": {"internet_mode": True}}})
    assert r.status_code == 200, r.text
    url = f"rtsp://{ADMIN_USER}:Wrong-pass-1@localhost:{https_cam.https_port}/stream1"
    rc, out = ffmpeg_frames(["-rtsp_transport", "https", "-i", url], timeout=40)
    assert rc != 0 and "401" in out, out[-2000:]
    url = f"rtsp://{ADMIN_USER}:{ADMIN_PASSWORD}@localhost:{https_cam.https_port}/stream1"
    assert_decoded(*ffmpeg_frames(["-rtsp_transport", "https", "-i", url]))


@needs("ffmpeg")
def test_ffmpeg_rtsps_with_digest(https_cam):
    https_cam.set_connection("https")
    url = f"rtsps://{ADMIN_USER}:Wrong-pass-1@127.0.0.1:{https_cam.rtsps_port}/stream1"
    rc, out = ffmpeg_frames(["-i", url], timeout=40)
    assert rc != 0 and "401" in out, out[-2000:]
    url = f"rtsps://{ADMIN_USER}:{ADMIN_PASSWORD}@127.0.0.1:{https_cam.rtsps_port}/stream1"
    assert_decoded(*ffmpeg_frames(["-i", url]))


def test_console_config_set_recovers_when_the_https_port_cannot_open(https_cam):
    """An installer switches to HTTPS while another program holds the HTTPS port: plain HTTP now
    only redirects to a port that never answers. `camward config set https.connection=http` on the
    console (daemon still running) brings the plain HTTP API back, audited as a console change."""
    import socket
    import time
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # Bound without SO_REUSEADDR and never listening: the daemon cannot bind it, clients are refused.
        blocker.bind(("127.0.0.1", https_cam.https_port))
        r = https_cam.patch_config({"https": {"connection": "https"}})
        assert r.status_code == 200, r.text
        r = requests.get(https_cam.url("/api/v1/status"), allow_redirects=False, timeout=10)
        assert r.status_code == 308, r.text
        with pytest.raises(requests.ConnectionError):
            requests.get(r.headers["Location"], timeout=5, verify=False)

        p = subprocess.run([BIN, "config", "show", "https.connection", "--data", str(https_cam.data_dir)],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0 and p.stdout.strip() == '"https"', (p.stdout, p.stderr)
        p = subprocess.run([BIN, "config", "set", "https.connection=bogus", "--data", str(https_cam.data_dir)],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode != 0 and "connection" in p.stderr, (p.stdout, p.stderr)  # validated like the API
        p = subprocess.run([BIN, "config", "set", "https.connection=http", "--data", str(https_cam.data_dir)],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, (p.stdout, p.stderr)

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r = requests.get(https_cam.url("/api/v1/status"), auth=https_cam.admin(), allow_redirects=False, timeout=10)
            if r.status_code == 200:
                break
            time.sleep(0.2)
        assert r.status_code == 200, (r.status_code, r.text)
    finally:
        blocker.close()
    log = https_cam.get("/api/v1/log?limit=20")
    assert log.status_code == 200, log.text
    entries = log.json()["entries"]
    assert any(e["kind"] == "config.change" and e["actor"] == "(console)"
               and e["detail"].get("changed", {}).get("https.connection") == "http" for e in entries), entries


def test_a_tunnel_leg_handed_to_the_rtsp_server_is_answered_with_hsts_and_the_security_headers(https_cam):
    # The GET leg of "Internet mode (over HTTPS)" is answered by the RTSP server on the raw TLS
    # socket, not by the web application: it must carry what every HTTPS answer carries.
    https_cam.set_connection("https")
    r = https_cam.sreq("PATCH", "/api/v1/config", json={"streams": {"stream1": {"internet_mode": True}}})
    assert r.status_code == 200, r.text
    tunnel = {"x-sessioncookie": "hsts-check-1", "Accept": "application/x-rtsp-tunnelled"}
    with requests.get(f"https://127.0.0.1:{https_cam.https_port}/stream1", headers=tunnel, stream=True,
                      verify=False, timeout=10) as r:
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-rtsp-tunnelled", r.headers
        assert r.headers["Strict-Transport-Security"] == "max-age=31536000", r.headers
        assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Cache-Control"] == "no-store", r.headers
    # A refused leg (a second GET with the same cookie while the first may still be open, or a
    # POST with no GET) is answered with them too.
    with requests.post(f"https://127.0.0.1:{https_cam.https_port}/stream1",
                       headers={"x-sessioncookie": "no-such-get", "Content-Type": "application/x-rtsp-tunnelled"},
                       data=b"", verify=False, timeout=10) as r:
        assert r.status_code >= 400, r.status_code
        assert r.headers["Strict-Transport-Security"] == "max-age=31536000", r.headers
        assert r.headers["X-Content-Type-Options"] == "nosniff", r.headers
