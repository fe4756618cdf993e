"""Foundation: restart keeps accounts and settings; a corrupt or foreign database stops
start-up with a clear message and stays byte-identical; console tools; clean SIGTERM; bind errors."""
import os
import signal
import socket
import subprocess

import requests
from requests.auth import HTTPDigestAuth

from conftest import ADMIN_PASSWORD, ADMIN_USER, BIN, Camward, free_port

PW = "Str0ng-pass!"


def run_camward(data_dir, *extra, timeout=20):
    return subprocess.run([BIN, "run", "--data", str(data_dir), "--http", f"127.0.0.1:{free_port()}",
                           "--rtsp", f"127.0.0.1:{free_port()}", *extra], capture_output=True, text=True, timeout=timeout)


def test_restart_keeps_accounts_and_settings(cam_admin):
    cam_admin.add_user("viewer", PW, "live")
    assert cam_admin.patch_config({"user_auth": {"method": "digest_or_basic", "guest": True}}).status_code == 200
    cfg = cam_admin.get("/api/v1/config").json()
    assert cam_admin.stop() == 0, "SIGTERM ends the daemon cleanly"
    cam_admin.start()
    assert cam_admin.get("/api/v1/config").json() == cfg
    assert cam_admin.get("/api/v1/status", auth=HTTPDigestAuth("viewer", PW)).json()["level"] == "live"
    r = requests.post(cam_admin.url("/api/v1/setup"), json={"username": "x", "password": PW}, timeout=10)
    assert r.status_code == 409
    kinds = [e["kind"] for e in cam_admin.get("/api/v1/log?limit=1000").json()["entries"]]
    assert "daemon.stop" in kinds and kinds.count("daemon.start") == 2


def corrupt_and_check(data_dir, mutate, expect):
    db = data_dir / "camward.db"
    mutate(db)
    before = db.read_bytes()
    siblings = sorted(f for f in os.listdir(data_dir) if f.startswith("camward.db"))
    p = run_camward(data_dir)
    assert p.returncode != 0
    assert str(db) in p.stderr and expect in p.stderr, p.stderr
    assert "left untouched" in p.stderr
    assert db.read_bytes() == before, "the database file must be byte-identical"
    after = sorted(f for f in os.listdir(data_dir) if f.startswith("camward.db"))
    assert after == siblings, "no journal or WAL created next to it"


def test_corrupted_database_is_refused_and_left_byte_identical(cam_admin):
    for i in range(30):
        cam_admin.add_user(f"user{i:02}", PW, "live")
    cam_admin.stop()

    def scribble(db):
        data = bytearray(db.read_bytes())
        assert len(data) > 4 * 4096
        data[4096:len(data) // 2] = b"\xa5" * (len(data) // 2 - 4096)
        db.write_bytes(bytes(data))

    corrupt_and_check(cam_admin.data_dir, scribble, "corrupt")


def test_non_database_file_is_refused_and_left_byte_identical(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    corrupt_and_check(data, lambda db: db.write_bytes(b"not a database " * 100), "not a camward database")


def test_truncated_header_is_refused(cam_admin):
    cam_admin.stop()

    def smash_header(db):
        data = bytearray(db.read_bytes())
        data[0:16] = b"SQLite format 2\0"
        db.write_bytes(bytes(data))

    corrupt_and_check(cam_admin.data_dir, smash_header, "not a camward database")


def test_console_user_tools(cam_admin):
    d = str(cam_admin.data_dir)

    def cw(*args, stdin=None):
        return subprocess.run([BIN, *args, "--data", d], input=stdin, capture_output=True, text=True, timeout=30)

    p = cw("user", "add", "console-op", "--level", "control", stdin=PW + "\n")
    assert p.returncode == 0, p.stderr
    assert cam_admin.get("/api/v1/status", auth=HTTPDigestAuth("console-op", PW)).json()["level"] == "control"
    p = cw("user", "add", "weak", stdin="password1\n")
    assert p.returncode != 0 and "password.common" in p.stderr
    p = cw("user", "list")
    assert "console-op" in p.stdout and ADMIN_USER in p.stdout
    p = cw("user", "passwd", "console-op", stdin="N3w-password?\n")
    assert p.returncode == 0, p.stderr
    assert cam_admin.get("/api/v1/status", auth=HTTPDigestAuth("console-op", "N3w-password?")).status_code == 200
    p = cw("user", "delete", ADMIN_USER)
    assert p.returncode != 0 and "last administrator" in p.stderr
    p = cw("user", "delete", "console-op")
    assert p.returncode == 0
    p = cw("log")
    assert p.returncode == 0 and "account.delete" in p.stdout and "setup" in p.stdout
    assert PW not in p.stdout and "N3w-password?" not in p.stdout


def test_console_can_register_the_first_admin(tmp_path):
    data = tmp_path / "data"
    p = subprocess.run([BIN, "user", "add", "boss", "--level", "admin", "--data", str(data)], input=PW + "\n",
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    cam = Camward(data).start()
    try:
        assert cam.get("/api/v1/status", auth=HTTPDigestAuth("boss", PW)).json()["level"] == "admin"
        assert requests.post(cam.url("/api/v1/setup"), json={"username": "x", "password": PW}, timeout=10).status_code == 409
    finally:
        cam.stop()


def test_port_in_use_names_the_flag(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = subprocess.run([BIN, "run", "--data", str(tmp_path / "d"), "--http", f"127.0.0.1:{port}",
                            "--rtsp", f"127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    assert "--http" in p.stderr and str(port) in p.stderr, p.stderr


def test_second_daemon_on_same_data_dir_is_refused(cam_admin):
    p = run_camward(cam_admin.data_dir)
    assert p.returncode != 0 and "already running" in p.stderr


def test_sigint_also_shuts_down_cleanly(cam):
    assert cam.stop(sig=signal.SIGINT) == 0


def test_config_file_is_applied_at_start(tmp_path):
    f = tmp_path / "cfg.json"
    f.write_text('{"user_auth": {"method": "digest_or_basic"}}')
    cam = Camward(tmp_path / "data", extra_args=["--config", str(f)]).start()
    try:
        cam.setup_admin()
        assert cam.get("/api/v1/config").json()["user_auth"]["method"] == "digest_or_basic"
    finally:
        cam.stop()
    f.write_text('{"user_auth": {"method": "plain"}}')
    p = run_camward(tmp_path / "data", "--config", str(f))
    assert p.returncode != 0 and "user_auth.method" in p.stderr
