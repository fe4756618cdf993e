"""Data at rest (paper §3.2: nothing secret stored in clear; finding F2 of the outside probe):
the data directory is 0700 and every file camward writes in it is 0600 (recordings at most 0640),
checked with os.stat after every kind of file exists (database, keys, setup code, recordings and
their index, the FTP queue); the SQLite file, read directly, holds no configuration secret and
no Digest HA1 in clear; an install from before (world-readable files, clear secrets and HA1 in
the database, an absolute recording directory) is tightened, sealed and repaired at its first
start, and its accounts still log in.
"""
import hashlib
import json
import os
import sqlite3
import stat
from pathlib import Path

import requests

from conftest import ADMIN_PASSWORD, ADMIN_USER, SMALL_STREAMS, Camward, free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
POPULATED = REPO / "crates" / "camward-config" / "testdata" / "populated.json"
RTSP_SECRET = "AtRest-rtsp-9Kq2"


def modes(data: Path):
    """(path, mode) of the data directory and everything in it (links not followed)."""
    out = [(data, stat.S_IMODE(os.lstat(data).st_mode))]
    for root, dirs, files in os.walk(data):
        for n in dirs + files:
            p = Path(root) / n
            out.append((p, stat.S_IMODE(os.lstat(p).st_mode)))
    return out


def assert_owner_only(data: Path):
    loose = []
    for p, m in modes(data):
        if p.is_symlink():
            continue
        if p.is_dir():
            ok = m == 0o700
        elif "recordings" in p.relative_to(data).parts:
            ok = m & ~0o640 == 0  # recordings: 0640 at most
        else:
            ok = m == 0o600
        if not ok:
            loose.append(f"{p.relative_to(data) if p != data else '.'}: {m:o}")
    assert not loose, loose


def ha1s(user=ADMIN_USER, password=ADMIN_PASSWORD):
    return [hashlib.md5(f"{user}:camward:{password}".encode()).hexdigest(),
            hashlib.sha256(f"{user}:camward:{password}".encode()).hexdigest()]


def clear_values():
    populated = json.loads(POPULATED.read_text())
    return [populated["smtp"]["password"], populated["ftp_client"]["password"], RTSP_SECRET,
            ADMIN_PASSWORD, *ha1s()]


def db_bytes(data: Path):
    """Every byte of the database files as they lie on disk."""
    return b"".join(p.read_bytes() for p in sorted(data.glob("camward.db*")) if p.is_file())


def assert_nothing_in_clear(data: Path):
    raw = db_bytes(data)
    found = [v for v in clear_values() if v.encode() in raw]
    assert not found, f"in clear in the database files: {found}"
    db = sqlite3.connect(f"file:{data / 'camward.db'}?mode=ro", uri=True)
    try:
        for md5, sha in db.execute("SELECT ha1_md5, ha1_sha256 FROM account"):
            assert md5.startswith("cw1:") and sha.startswith("cw1:"), (md5, sha)
        doc = json.loads(db.execute("SELECT document FROM config").fetchone()[0])
    finally:
        db.close()
    assert doc["smtp"]["password"].keys() == {"sealed"}, doc["smtp"]
    assert doc["source"]["password"].keys() == {"sealed"}, doc["source"]


def populate(cam):
    """Every kind of file: secrets in the configuration, recordings, FTP queue items."""
    populated = json.loads(POPULATED.read_text())
    patch = {k: v for k, v in populated.items() if k not in ("source", "host_auth", "https", "ftp_server")}
    patch["streams"] = SMALL_STREAMS["streams"]
    patch["recording"] = {**populated["recording"], "file_seconds": 10}
    r = cam.patch_config(patch)
    assert r.status_code == 200, r.text
    # The command alarm sends images to an FTP server that is down: they wait in the queue.
    r = requests.post(cam.url("/api/v1/alarm"), json={"source": "command"}, auth=cam.admin(), timeout=10)
    assert r.status_code == 202, r.text
    wait_for(lambda: any((cam.data_dir / "ftp-queue").glob("*.item")), 30, what="a queued FTP image")
    wait_for(lambda: any((cam.data_dir / "recordings").rglob("*.mp4")), 30, what="a recording file")
    r = cam.patch_config({"source": f"rtsp://cam:{RTSP_SECRET}@127.0.0.1:9/stream1"})
    assert r.status_code == 200, r.text


def test_every_file_is_owner_only_and_no_secret_is_in_clear(tmp_path):
    cam = Camward(tmp_path / "data", extra_args=["--ftp", f"127.0.0.1:{free_port()}"])
    cam.start()
    try:
        # Before setup: the setup code file is there, owner-only too.
        assert (cam.data_dir / "setup-code").exists()
        assert_owner_only(cam.data_dir)
        cam.setup_admin()
        populate(cam)
        assert_owner_only(cam.data_dir)
        names = {p.name for p, _ in modes(cam.data_dir)}
        for expected in ["camward.db", "camward.db-wal", "camward.lock", "device.key", "secrets.key",
                         "selfsigned.pem", "index.sqlite3"]:
            assert expected in names, (expected, sorted(names))
    finally:
        cam.stop()
    assert_owner_only(cam.data_dir)
    assert_nothing_in_clear(cam.data_dir)


def test_an_older_install_is_tightened_and_sealed_at_start(tmp_path):
    data = tmp_path / "data"
    cam = Camward(data)
    cam.start()
    try:
        cam.setup_admin()
        populated = json.loads(POPULATED.read_text())
        r = cam.patch_config({"smtp": populated["smtp"], "ftp_client": {**populated["ftp_client"], "enabled": False},
                              "source": f"rtsp://cam:{RTSP_SECRET}@127.0.0.1:9/stream1"})
        assert r.status_code == 200, r.text
    finally:
        cam.stop()
    # What an older camward left: the same document with its secrets in clear, clear HA1 values,
    # and everything readable by every local user.
    db = sqlite3.connect(data / "camward.db")
    doc = json.loads(db.execute("SELECT document FROM config").fetchone()[0])
    doc["smtp"]["password"] = populated["smtp"]["password"]
    doc["ftp_client"]["password"] = populated["ftp_client"]["password"]
    doc["source"] = f"rtsp://cam:{RTSP_SECRET}@127.0.0.1:9/stream1"
    # Accepted before finding F1 was fixed: recordings outside the data directory.
    doc["recording"]["directory"] = str(tmp_path / "elsewhere")
    md5, sha = ha1s()
    with db:
        db.execute("UPDATE config SET document = ?", (json.dumps(doc),))
        db.execute("UPDATE account SET ha1_md5 = ?, ha1_sha256 = ?", (md5, sha))
    db.close()
    assert any(v.encode() in db_bytes(data) for v in clear_values()), "the old form is in clear"
    for p, _ in modes(data):
        if not p.is_symlink():
            os.chmod(p, 0o755 if p.is_dir() else 0o644)

    cam.start()
    try:
        assert_owner_only(data)
        # The accounts log in (their HA1 was sealed, not lost) and the secrets are still set.
        shown = cam.get("/api/v1/config", auth=cam.admin())
        assert shown.status_code == 200, shown.text
        cfg = shown.json()
        assert cfg["smtp"]["password"] == {"set": True}
        assert cfg["ftp_client"]["password"] == {"set": True}
        assert cfg["source"]["password"] == {"set": True}, cfg["source"]
        # The directory this version refuses is reset (audited), not a reason to stop the camera.
        assert cfg["recording"]["directory"] == "recordings", cfg["recording"]
        entries = cam.get("/api/v1/log?limit=50").json()["entries"]
        kinds = [e["kind"] for e in entries]
        assert "secrets.sealed" in kinds and "config.repair" in kinds, kinds
        repair = next(e for e in entries if e["kind"] == "config.repair")
        assert repair["detail"]["reset"][0]["path"] == "recording.directory", repair
    finally:
        cam.stop()
    assert_nothing_in_clear(data)
