"""FTP alarm images and periodic images (paper §4.3) arriving on a real pyftpdlib FTPS server that
refuses plain FTP: configured directory, names and count; the password never shown by the API."""
import re
import time
import threading
from pathlib import Path

import pytest
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.servers import FTPServer

from alarm_util import make_pki, raise_alarm
from conftest import free_port, wait_for

FTP_USER, FTP_PASSWORD = "camera", "Ftp-secret-77"
STAMP = r"\d{8}_\d{6}_\d{3}"


@pytest.fixture
def ftps_server(tmp_path):
    ca, cert, key = make_pki(tmp_path / "pki")
    root = tmp_path / "ftproot"
    root.mkdir()
    auth = DummyAuthorizer()
    auth.add_user(FTP_USER, FTP_PASSWORD, str(root), perm="elradfmwMT")

    class Handler(TLS_FTPHandler):
        pass
    Handler.certfile = str(cert)
    Handler.keyfile = str(key)
    Handler.tls_control_required = True
    Handler.tls_data_required = True
    Handler.authorizer = auth
    Handler.passive_ports = None  # pyftpdlib picks free ephemeral ports itself
    port = free_port()
    server = FTPServer(("127.0.0.1", port), Handler)
    t = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.2}, daemon=True)
    t.start()
    yield port, root, ca
    server.close_all()
    t.join(timeout=5)


def ftp_patch(port, ca, **over):
    c = {"enabled": True, "server": "127.0.0.1", "port": port, "username": FTP_USER,
         "password": FTP_PASSWORD, "tls": "explicit", "ca_certificate": ca.read_text(), "passive": True}
    c.update(over)
    return {"ftp_client": c}


def names(d: Path):
    return sorted(p.name for p in d.glob("*.jpg")) if d.is_dir() else []


def test_alarm_images_arrive_with_names_and_count(cam_admin, ftps_server):
    port, root, ca = ftps_server
    patch = ftp_patch(port, ca, alarm={
        "enabled": True, "directory": "alarms", "file_name": "gate", "alarms": ["command"],
        "pre_alarm": {"interval_ms": 500, "images": 2}, "post_alarm": {"interval_ms": 500, "images": 3},
        "image_size": 3})
    patch["alarm"] = {"command": {"enabled": True}}
    r = cam_admin.patch_config(patch)
    assert r.status_code == 200, r.text
    got = cam_admin.get("/api/v1/config")
    assert FTP_PASSWORD not in got.text and got.json()["ftp_client"]["password"] == {"set": True}
    # Let the pre-alarm ring fill (2 images at 0.5 s).
    time.sleep(2.5)
    assert raise_alarm(cam_admin).status_code == 202
    d = root / "alarms"
    wait_for(lambda: len(names(d)) >= 5, 40, what="5 alarm images on the FTP server")
    time.sleep(2)  # nothing beyond the configured count follows
    files = names(d)
    pre = [n for n in files if re.fullmatch(rf"gate_{STAMP}_command_pre\d{{3}}\.jpg", n)]
    post = [n for n in files if re.fullmatch(rf"gate_{STAMP}_command_post\d{{3}}\.jpg", n)]
    assert len(pre) == 2 and len(post) == 3 and len(files) == 5, files
    for n in files:
        assert (d / n).read_bytes()[:2] == b"\xff\xd8"


def test_periodic_images_with_and_without_date(cam_admin, ftps_server):
    port, root, ca = ftps_server
    r = cam_admin.patch_config(ftp_patch(port, ca, periodic={
        "enabled": True, "directory": "periodic", "file_name": "yard", "with_date_time": True,
        "interval_seconds": 1, "image_size": 3}))
    assert r.status_code == 200, r.text
    d = root / "periodic"
    wait_for(lambda: len(names(d)) >= 3, 30, what="3 periodic images")
    for n in names(d):
        assert re.fullmatch(rf"yard_{STAMP}\.jpg", n), n
    r = cam_admin.patch_config(ftp_patch(port, ca, periodic={
        "enabled": True, "directory": "latest", "file_name": "now", "with_date_time": False,
        "interval_seconds": 1, "image_size": 3}))
    assert r.status_code == 200, r.text
    d2 = root / "latest"
    wait_for(lambda: (d2 / "now.jpg").is_file(), 30, what="latest/now.jpg")
    time.sleep(2.5)
    assert names(d2) == ["now.jpg"]
    # The file is rewritten every second; a read may land inside a STOR, so allow a few tries.
    wait_for(lambda: (d2 / "now.jpg").read_bytes()[:2] == b"\xff\xd8", 10, what="a whole now.jpg")
