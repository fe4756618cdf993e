""""FTP access to camera" (paper §4.2) with curl as the client: no port while Forbid; after Allow,
an administrator lists and downloads a recording over FTPS, while a live-only user, anonymous and
a filtered address are refused; Forbid closes the port again. Like HTTP and RTSP, one client
address holds a bounded share of the FTP sessions (paper §4.2, the probe's F5)."""
import ftplib
import os
import random
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ADMIN_PASSWORD, ADMIN_USER, Camward, free_port, port_open, wait_for
from recording_util import cw, start_recording, wait_for_files

LIVE_USER, LIVE_PASSWORD = "viewer", "Live-only-2026"


def curl(*args, timeout=30):
    return subprocess.run(["curl", "-sS", "--max-time", "20", *map(str, args)],
                          capture_output=True, timeout=timeout)


def provision(tmp: Path, data: Path) -> Path:
    """A private CA issues the device certificate for 127.0.0.1 (what curl checks); returns the CA."""
    ca = tmp / "ca"
    cw("ca", "init", ca, check=True)
    csr, chain = tmp / "device.csr", tmp / "chain.pem"
    cw("identity", "csr", "--data", data, "--out", csr, "--san", "localhost", "--san", "127.0.0.1", check=True)
    cw("ca", "issue", ca, "--csr", csr, "--out", chain, check=True)
    cw("identity", "install", "--data", data, chain, check=True)
    return ca / "root.pem"


@pytest.fixture
def ftp_cam(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    root = provision(tmp_path, data)
    ftp_port = free_port()
    cam = Camward(data, extra_args=["--ftp", f"127.0.0.1:{ftp_port}"]).start()
    cam.setup_admin()
    yield cam, ftp_port, root
    cam.stop()


def test_ftp_access_forbid_allow_and_who_gets_in(ftp_cam, tmp_path):
    cam, port, ca = ftp_cam
    url = f"ftp://127.0.0.1:{port}"
    # Forbid (default): nothing listens.
    assert not port_open(port)
    r = curl(f"{url}/")
    assert r.returncode == 7, r  # couldn't connect

    start_recording(cam)
    wait_for_files(cam, 1)
    rec_dir = cam.data_dir / "recordings"
    files = sorted(p for p in rec_dir.rglob("*.mp4") if p.stat().st_size > 0)
    assert files, list(rec_dir.rglob("*"))
    rel = files[0].relative_to(rec_dir).as_posix()

    base = random.randrange(40000, 60000, 20)
    r = cam.patch_config({"ftp_server": {"enabled": True, "passive_port_min": base, "passive_port_max": base + 19}})
    assert r.status_code == 200, r.text
    wait_for(lambda: port_open(port), 10, what="FTP port open after Allow")
    warnings = cam.get("/api/v1/config").json()["warnings"]
    assert any(w["rule"] == "ftp_server.plaintext" for w in warnings), warnings

    tls = ["--ssl-reqd", "--cacert", ca]
    # Administrator: list and download over FTPS.
    parent = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
    r = curl(*tls, "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}", f"{url}/recordings/{parent}")
    assert r.returncode == 0, r.stderr
    assert files[0].name.encode() in r.stdout, r.stdout
    out = tmp_path / "got.mp4"
    r = curl(*tls, "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}", "-o", out, f"{url}/recordings/{rel}")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == files[0].read_bytes()
    # Read-only: an upload is refused.
    up = tmp_path / "up.txt"
    up.write_text("x")
    r = curl(*tls, "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}", "-T", up, f"{url}/recordings/up.txt")
    assert r.returncode != 0

    # A live-only user and anonymous are refused at login (curl 67: login denied).
    cam.add_user(LIVE_USER, LIVE_PASSWORD, "live")
    r = curl(*tls, "-u", f"{LIVE_USER}:{LIVE_PASSWORD}", f"{url}/recordings/")
    assert r.returncode == 67, r
    r = curl(*tls, f"{url}/recordings/")
    assert r.returncode == 67, r
    r = curl(*tls, "-u", f"{ADMIN_USER}:wrong-Password-9", f"{url}/recordings/")
    assert r.returncode == 67, r

    # Host filter: only 127.0.0.1 allowed; a client from 127.0.0.2 is cut off before login.
    r = cam.patch_config({"host_auth": {"enabled": True, "allow": ["127.0.0.1"]}})
    assert r.status_code == 200, r.text
    r = curl(*tls, "--interface", "127.0.0.2", "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}", f"{url}/recordings/")
    assert r.returncode != 0, r
    r = curl(*tls, "-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}", f"{url}/recordings/{parent}")
    assert r.returncode == 0, r.stderr

    # FTPS required: plain FTP is refused even for the administrator.
    r = cam.patch_config({"ftp_server": {"ftps_required": True}})
    assert r.status_code == 200, r.text
    time.sleep(1)
    wait_for(lambda: port_open(port), 10, what="FTP port open after restart")
    r = curl("-u", f"{ADMIN_USER}:{ADMIN_PASSWORD}", f"{url}/recordings/")
    assert r.returncode != 0, r
    warnings = cam.get("/api/v1/config").json()["warnings"]
    assert not any(w["rule"] == "ftp_server.plaintext" for w in warnings), warnings

    # Forbid again: the port closes.
    r = cam.patch_config({"ftp_server": {"enabled": False}})
    assert r.status_code == 200, r.text
    wait_for(lambda: not port_open(port), 10, what="FTP port closed after Forbid")
    assert curl(f"{url}/").returncode == 7


def greeted(source="127.0.0.1", port=None):
    """A control connection that got the 220 greeting, or None when it was closed unanswered."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    s.settimeout(5)
    try:
        got = s.recv(100)
    except OSError:
        got = b""
    if got.startswith(b"220"):
        return s
    s.close()
    assert got == b"", got  # closed without a greeting, never some other answer
    return None


# FTP takes the daemon's --max-connections-per-address but never more than half of its 8
# sessions: the default (64) gives 4; a smaller flag is used as given.
@pytest.mark.parametrize("flag,cap", [(None, 4), (2, 2)], ids=["default", "flag"])
def test_ftp_sessions_are_capped_per_address(tmp_path, flag, cap):
    data = tmp_path / "data"
    port = free_port()
    extra = ["--ftp", f"127.0.0.1:{port}"]
    if flag is not None:
        extra += ["--max-connections-per-address", str(flag)]
    cam = Camward(data, extra_args=extra).start()
    held = []
    try:
        cam.setup_admin()
        base = random.randrange(40000, 60000, 20)
        r = cam.patch_config({"ftp_server": {"enabled": True, "passive_port_min": base,
                                             "passive_port_max": base + 19}})
        assert r.status_code == 200, r.text
        wait_for(lambda: port_open(port), 10, what="FTP port open after Allow")
        # One logged-in session (ftplib) and raw ones, each greeted before the next connects,
        # so the daemon accepts them in this order.
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", port, timeout=10)
        held.append(ftp)
        ftp.login(ADMIN_USER, ADMIN_PASSWORD)
        for _ in range(cap - 1):
            s = greeted(port=port)
            assert s is not None, f"session {len(held) + 1} of {cap} refused"
            held.append(s)
        # A passive data connection does not count against the cap and is not refused by it.
        assert "recordings" in " ".join(ftp.nlst("/"))
        # The next control connection from the same address is closed without a greeting…
        assert greeted(port=port) is None
        # …while another address is served.
        other = greeted("127.0.0.2", port)
        assert other is not None
        other.close()
        # The data connection left the count alone: still exactly `cap` for 127.0.0.1.
        assert greeted(port=port) is None
        # A slot comes back when a session closes (once the daemon has seen the close).
        held.pop().close()
        back = []
        wait_for(lambda: back.append(greeted(port=port)) or back[-1] is not None, 15,
                 what="an FTP session after another closed")
        held.append(back[-1])
        log = cam.get("/api/v1/log?limit=200").json()["entries"]
        busy = [e["detail"]["message"] for e in log if e["kind"] == "ftp_server.busy"]
        assert f"FTP connection from 127.0.0.1 refused: {cap} sessions already open from this address" in busy, busy
    finally:
        for h in held:
            h.close()
        cam.stop()
