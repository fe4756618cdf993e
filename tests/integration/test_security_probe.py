"""Regression tests of an outside probe's findings (paper §3.2–§3.5, §3.10), each reproduced from
outside the way the probe did it: HTTP with requests, RTSP and slow clients over raw sockets.

F1 recording.directory outside the data directory; F3 lockout reset by another account's login;
F4 RTSP camera password in API/audit/log; F5 slow clients and connections per address; F6 an
over-long Authorization counted as a failure; F7 control characters in recording.directory;
F8 look-alike user names. F2 (files at rest) is in test_security_at_rest.py.
"""
import hashlib
import socket
import threading
import time

import requests
from requests.auth import HTTPDigestAuth

from conftest import ADMIN_PASSWORD, ADMIN_USER, wait_for

LIVE_USER, LIVE_PASSWORD = "viewer", "View-only-2026"


def field_errors(r):
    return [(e["path"], e["rule"]) for e in r.json().get("errors", [])]


def test_f1_f7_recording_directory_stays_inside_the_data_directory(cam_admin, tmp_path):
    outside = tmp_path / "outside"
    for directory, rule in [
        ("/etc", "recording.directory.absolute"),
        (str(outside), "recording.directory.absolute"),
        ("../outside", "recording.directory.parent"),
        ("recordings/../../outside", "recording.directory.parent"),
        (".", "recording.directory.data_dir"),
        ("identity", "recording.directory.reserved"),
        ("rec\u0000ordings", "recording.directory.control"),
        ("rec\nordings", "recording.directory.control"),
    ]:
        r = cam_admin.patch_config({"recording": {"enabled": True, "directory": directory}})
        assert r.status_code == 422, (directory, r.status_code, r.text)
        assert ("recording.directory", rule) in field_errors(r), (directory, r.text)
        assert "recording.directory" in r.text
    cfg = cam_admin.get("/api/v1/config").json()["recording"]
    assert cfg["directory"] == "recordings" and cfg["enabled"] is False, cfg
    assert not outside.exists()
    # A sub-directory is fine, and the recorder runs there.
    r = cam_admin.patch_config({"recording": {"enabled": True, "directory": "sd/card1"}})
    assert r.status_code == 200, r.text
    wait_for(lambda: (cam_admin.data_dir / "sd" / "card1").is_dir(), 20, what="the recording directory")
    assert "recording is off until the setting changes" not in cam_admin.read_log()


def digest(user, password):
    return HTTPDigestAuth(user, password)


def test_f3_another_accounts_login_does_not_reset_the_lockout(cam_admin):
    cam_admin.add_user(LIVE_USER, LIVE_PASSWORD, "live")
    statuses = []
    # The probe's pattern: 7 wrong administrator passwords, 1 right login of the live-only user.
    for _round in range(4):
        for _ in range(7):
            statuses.append(requests.get(cam_admin.url("/api/v1/status"), auth=digest(ADMIN_USER, "Wrong-pass-1"),
                                         timeout=10).status_code)
        requests.get(cam_admin.url("/api/v1/status"), auth=digest(LIVE_USER, LIVE_PASSWORD), timeout=10)
    assert statuses[:7] == [401] * 7, statuses
    assert 429 in statuses, f"28 wrong guesses were never locked out: {statuses}"
    assert statuses.count(401) <= 8, statuses
    r = requests.get(cam_admin.url("/api/v1/status"), auth=digest(ADMIN_USER, ADMIN_PASSWORD), timeout=10)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


def test_f3_the_owners_success_clears_only_its_own_failures(tmp_path):
    from conftest import start_cam
    cam = start_cam(tmp_path / "data")
    try:
        statuses = []
        for _round in range(4):
            for _ in range(7):
                statuses.append(cam.get("/api/v1/status", auth=digest(ADMIN_USER, "Wrong-pass-1")).status_code)
            assert cam.get("/api/v1/status").status_code == 200
        assert statuses == [401] * 28, statuses
    finally:
        cam.stop()


def test_f4_rtsp_source_password_never_comes_back(cam_admin):
    secret = "F4-SeCrEt-pass-7q"
    r = cam_admin.patch_config({"source": f"rtsp://cam-user:{secret}@127.0.0.1:9/stream1"})
    assert r.status_code == 200, r.text
    assert secret not in r.text
    shown = cam_admin.get("/api/v1/config").json()["source"]
    assert shown == {"url": "rtsp://cam-user@127.0.0.1:9/stream1", "password": {"set": True}}, shown
    log = cam_admin.get("/api/v1/log?limit=100").json()["entries"]
    changes = [e for e in log if e["kind"] == "config.change"]
    assert changes and "source" in str(changes[0]["detail"]), changes
    assert secret not in str(log)
    # The daemon logs the new source when it applies it: the URL, never the password.
    wait_for(lambda: "applying media settings" in cam_admin.read_log(), 20, what="the media settings log line")
    out = cam_admin.read_log()
    line = [ln for ln in out.splitlines() if "applying media settings" in ln][-1]
    assert "cam-user@127.0.0.1:9" in line, line
    assert secret not in out


def drip(port, first, payload, step, limit, host="127.0.0.1"):
    """Sends `first` at once, then `payload` one byte per `step` seconds (at most `limit` bytes);
    returns how many bytes were dripped before the server closed, or None if it never did."""
    with socket.create_connection((host, port), timeout=5) as s:
        if first:
            s.sendall(first)
            s.settimeout(5)
            assert s.recv(65536), "no answer to the complete request"
        s.settimeout(step)
        for i, b in enumerate(payload[:limit]):
            try:
                s.sendall(bytes([b]))
                data = s.recv(4096)
                if data == b"":
                    return i
                # An answer (400/408) before closing also ends the drip.
                return i
            except socket.timeout:
                continue
            except OSError:
                return i
    return None


def test_f5_slow_clients_are_dropped_after_a_total_deadline(cam_admin):
    rtsp = f"OPTIONS rtsp://127.0.0.1:{cam_admin.rtsp_port}/stream1 RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode()
    second = f"OPTIONS rtsp://127.0.0.1:{cam_admin.rtsp_port}/stream1 RTSP/1.0\r\nCSeq: 2\r\nUser-Agent: {'x' * 80}\r\n\r\n".encode()
    http = f"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {'x' * 80}\r\n\r\n".encode()
    # One byte every 2 s; a per-read timeout of 10 s would never fire. 40 bytes = 80 s.
    cases = {
        "rtsp first request": (cam_admin.rtsp_port, b"", rtsp + b"x" * 40),
        "rtsp later request": (cam_admin.rtsp_port, rtsp, second),
        "http request": (cam_admin.http_port, b"", http),
    }
    results = {}

    def run(name, args):
        results[name] = drip(*args, step=2.0, limit=40)

    threads = [threading.Thread(target=run, args=(n, a)) for n, a in cases.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for name in cases:
        n = results.get(name)
        # Dropped after the deadline (10 s ≈ 5 bytes at this pace), long before 40 bytes.
        assert n is not None and n < 12, (name, n)


def test_f5_connections_are_capped_per_address(cam_admin):
    cap = 64
    for port, hello in [(cam_admin.rtsp_port, b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"),
                        (cam_admin.http_port, b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n")]:
        held = []
        try:
            for _ in range(cap):
                held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            # Every one of them is being served…
            held[0].sendall(hello)
            held[0].settimeout(5)
            assert held[0].recv(100)[:4] in (b"RTSP", b"HTTP")
            # …the next one from the same address is closed without an answer…
            extra = socket.create_connection(("127.0.0.1", port), timeout=5)
            extra.settimeout(5)
            try:
                extra.sendall(hello)
                got = extra.recv(100)
            except OSError:
                got = b""
            extra.close()
            assert got == b"", (port, got)
            # …while another address is served.
            other = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.2", 0))
            other.settimeout(5)
            other.sendall(hello)
            assert other.recv(100)[:4] in (b"RTSP", b"HTTP")
            other.close()
        finally:
            for s in held:
                s.close()
    # Slots come back when the connections close.
    def served():
        try:
            return requests.get(cam_admin.url("/api/v1/status"), timeout=5).status_code == 401
        except requests.ConnectionError:
            return False  # the daemon has not yet seen every close: the slot is still taken

    wait_for(served, 15, what="a connection after the others closed")


def test_f6_an_over_long_authorization_is_refused_without_counting(cam_admin):
    # A right password on a long URL works (the header repeats the URL: ~5 KiB).
    long_ok = "/api/v1/status?pad=" + "a" * 5000
    r = requests.get(cam_admin.url(long_ok), auth=cam_admin.admin(), timeout=10)
    assert r.status_code == 200, r.text
    # Longer than any header the gate parses: 431, and never a failed login.
    too_long = "/api/v1/status?pad=" + "a" * 17000
    for _ in range(12):
        r = requests.get(cam_admin.url(too_long), auth=cam_admin.admin(), timeout=10)
        assert r.status_code == 431, (r.status_code, r.text[:200])
        assert r.json()["error"] == "header_too_large"
    r = cam_admin.get("/api/v1/status")
    assert r.status_code == 200, "the client locked itself out"
    kinds = [e["kind"] for e in cam_admin.get("/api/v1/log?limit=200").json()["entries"]]
    assert "login.fail" not in kinds and "login.lockout" not in kinds, kinds


def test_f8_look_alike_user_names_are_refused(cam_admin):
    for name in [f"{ADMIN_USER} ", f" {ADMIN_USER}", "admin "]:
        r = requests.post(cam_admin.url("/api/v1/users"),
                          json={"username": name, "password": LIVE_PASSWORD, "level": "live"},
                          auth=cam_admin.admin(), timeout=10)
        assert r.status_code == 422, (name, r.text)
        assert ("username", "username.whitespace") in field_errors(r), r.text
    for name in [ADMIN_USER.capitalize(), ADMIN_USER.upper()]:
        r = requests.post(cam_admin.url("/api/v1/users"),
                          json={"username": name, "password": LIVE_PASSWORD, "level": "live"},
                          auth=cam_admin.admin(), timeout=10)
        assert r.status_code == 409, (name, r.text)
        assert r.json()["error"] == "exists" and f"`{ADMIN_USER}`" in r.json()["message"], r.text
        assert "ignoring case" in r.json()["message"]
    users = [u["username"] for u in cam_admin.get("/api/v1/users").json()["users"]]
    assert users == [ADMIN_USER], users


def test_f2_the_ha1_on_disk_does_not_authenticate(tmp_path):
    """The probe built a Digest answer from the HA1 read out of the database and got 200."""
    import sqlite3
    from conftest import start_cam
    cam = start_cam(tmp_path / "data")
    try:
        db = sqlite3.connect(f"file:{cam.data_dir / 'camward.db'}?mode=ro", uri=True)
        stored_md5, = db.execute("SELECT ha1_md5 FROM account WHERE username = ?", (ADMIN_USER,)).fetchone()
        db.close()
        real = hashlib.md5(f"{ADMIN_USER}:camward:{ADMIN_PASSWORD}".encode()).hexdigest()
        assert stored_md5.startswith("cw1:") and real not in stored_md5
        uri = "/api/v1/users"
        r = requests.get(cam.url(uri), timeout=10)
        # Both challenges (SHA-256, MD5) carry the same nonce.
        nonce = r.headers["WWW-Authenticate"].split('nonce="')[1].split('"')[0]

        def answer(ha1):
            ha2 = hashlib.md5(f"GET:{uri}".encode()).hexdigest()
            resp = hashlib.md5(f"{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}".encode()).hexdigest()
            return (f'Digest username="{ADMIN_USER}", realm="camward", nonce="{nonce}", uri="{uri}", '
                    f'algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee", response="{resp}"')

        r = requests.get(cam.url(uri), headers={"Authorization": answer(stored_md5)}, timeout=10)
        assert r.status_code == 401, r.text
        # The real HA1 (which only the password gives) still works: the check above was real.
        r = requests.get(cam.url(uri), headers={"Authorization": answer(real)}, timeout=10)
        assert r.status_code == 200, r.text
    finally:
        cam.stop()
