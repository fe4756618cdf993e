"""Host filter and brute-force lockout applied to RTSP viewing as to HTTP (issue #3 with the foundation's
§3.4 host authentication): refused peers get no video, a locked-out address is refused on both protocols."""
import shutil
import socket
import subprocess

import pytest

from conftest import ADMIN_PASSWORD, ADMIN_USER, Camward, free_port
from videolib import SMALL_STREAMS, RawRtsp, decode, rtsp_url, start_cam

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


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
