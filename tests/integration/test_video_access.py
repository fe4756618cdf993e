"""Who may view (paper §3.2–§3.4, §4.4): RTSP refused before setup, the HTTP tunnel only with Internet
mode and RTSP Digest, the host filter on RTSP (split and dual-stack listeners) before a byte is parsed,
and a lockout shared by RTSP and HTTP for the failing address only."""
import socket
import subprocess
import time

import requests

from conftest import (ADMIN_PASSWORD, ADMIN_USER, SMALL_STREAMS, Camward, free_port, needs, rtsp_url, start_cam,
                      tunnel_url)
from videolib import RawRtsp, decode, probe_size

pytestmark = needs("ffmpeg")


class SplitCam(Camward):
    """HTTP on ::1, RTSP on 127.0.0.1: the administrator keeps access (::1) while IPv4 is filtered."""

    def __init__(self, data_dir, **kw):
        super().__init__(data_dir, http_host="::1", **kw)
        self.rtsp_port = free_port("127.0.0.1")

    def args(self):
        return [*super().args()[:-2], "--rtsp", f"127.0.0.1:{self.rtsp_port}"]


def test_host_filter_applies_to_rtsp(tmp_path):
    cam = SplitCam(tmp_path / "data")
    cam.start()
    try:
        cam.setup_admin()
        rc, frames, err = decode(rtsp_url(cam, "/stream2"), "tcp", frames=3)
        assert rc == 0 and frames == 3, err
        # The PATCH comes from ::1, which stays allowed: no self-lockout 409.
        r = cam.patch_config({"host_auth": {"enabled": True, "allow": ["::1"]}})
        assert r.status_code == 200, r.text
        rc, frames, err = decode(rtsp_url(cam, "/stream2"), "tcp", frames=1, timeout=20)
        assert rc != 0 and frames == 0, err
        assert "401" not in err, "refused peers must not even get a challenge: " + err
        # Closed before a byte is parsed: no RTSP answer at all.
        with socket.create_connection(("127.0.0.1", cam.rtsp_port), timeout=5) as s:
            s.sendall(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")
            try:
                assert s.recv(100) == b""
            except ConnectionResetError:
                pass
        # Allowing the IPv4 loopback again restores viewing, without a restart.
        r = cam.patch_config({"host_auth": {"allow": ["::1", "127.0.0.1"]}})
        assert r.status_code == 200, r.text
        rc, frames, err = decode(rtsp_url(cam, "/stream2"), "tcp", frames=3)
        assert rc == 0 and frames == 3, err
    finally:
        cam.stop()


def test_rtsp_failures_lock_out_rtsp_and_http_but_not_other_addresses(tmp_path):
    cam = start_cam(tmp_path / "data", SMALL_STREAMS)
    try:
        for i in range(8):
            rc, _, err = decode(rtsp_url(cam, "/stream2", password=f"Wrong-pass-{i}"), "tcp", frames=1)
            assert rc != 0 and "401" in err, (i, err)
        rc, frames, err = decode(rtsp_url(cam, "/stream2"), "tcp", frames=1)
        assert rc != 0 and frames == 0 and "503" in err, err
        r = cam.get("/api/v1/status")
        assert r.status_code == 429, r.text
        # Another address is not affected: RTSP with Digest and HTTP from 127.0.0.2.
        c = RawRtsp("127.0.0.1", cam.rtsp_port, source="127.0.0.2")
        try:
            c.play_interleaved("/stream2", ADMIN_USER, ADMIN_PASSWORD)
            c.sock.settimeout(10)
            assert c.sock.recv(4096)[:1] in (b"$", b"R")
        finally:
            c.close()
        p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--interface", "127.0.0.2",
                            "--digest", "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}", cam.url("/api/v1/status")],
                           capture_output=True, text=True, timeout=20)
        assert p.stdout == "200", p.stdout + p.stderr
    finally:
        cam.stop()


def test_rtsp_refuses_until_an_administrator_exists(cam):
    rc, _, out = probe_size(rtsp_url(cam, user=None))
    assert rc != 0 and "403" in out and "not set up" in out, out


def test_tunnel_needs_internet_mode_and_rtsp_digest(cam_admin):
    rc, _, out = probe_size(tunnel_url(cam_admin, password="Wrong-pass-1"), "http")
    assert rc != 0 and "401" in out, out
    # Internet mode (over HTTP) is off by default: the tunnel refuses the stream, plain RTSP serves it.
    rc, _, out = probe_size(tunnel_url(cam_admin), "http")
    assert rc != 0 and "403" in out and "Internet mode" in out, out
    r = cam_admin.patch_config({"streams": {"stream1": {"internet_mode": True}, "stream2": {"internet_mode": True}}})
    assert r.status_code == 200, r.text
    for path in ("/stream1", "/stream2"):
        rc, frames, err = decode(tunnel_url(cam_admin, path), "http", frames=10)
        assert rc == 0 and frames == 10, err


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


def test_host_filter_on_a_dual_stack_listener_matches_ipv4_peers_as_ipv4(tmp_path):
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
        r = requests.post(v4 + "/api/v1/setup", json=cam.setup_body(), timeout=10)
        assert r.status_code == 201
        assert rtsp_exchange("127.0.0.1", cam.rtsp_port, socket.AF_INET).startswith(b"RTSP/1.0 401")
        r = requests.patch(f"http://[::1]:{cam.http_port}/api/v1/config",
                           json={"host_auth": {"enabled": True, "allow": ["::1"]}}, auth=cam.admin(), timeout=10)
        assert r.status_code == 200, r.text
        assert rtsp_exchange("127.0.0.1", cam.rtsp_port, socket.AF_INET) == b"", "IPv4 must be closed unanswered"
        assert rtsp_exchange("::1", cam.rtsp_port, socket.AF_INET6).startswith(b"RTSP/1.0 401")
    finally:
        cam.stop()
