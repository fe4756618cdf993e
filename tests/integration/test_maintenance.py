"""Setup › Maintenance through the API: settings backup whose secrets stay sealed (restorable on the
same camera with its device key, or on another with a passphrase, and refused elsewhere or when
damaged), restart in place (same process id, a later start), and factory reset — accounts and
settings gone, recordings kept or wiped as asked, the device identity kept — each audited."""
import json

import requests

from conftest import start_cam, wait_for
from recording_util import SMALL, recordings, start_recording, wait_for_files

SECRET = "Mail-secret-2026"


def log_kinds(cam, kind):
    return [e["kind"] for e in cam.get(f"/api/v1/log?kind={kind}&limit=100").json()["entries"]]


def backup(cam, passphrase=None):
    r = requests.post(cam.url("/api/v1/config/backup"), auth=cam.admin(), timeout=30,
                      json={"passphrase": passphrase} if passphrase else None)
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["Content-Disposition"]
    return r.json()


def restore(cam, file, passphrase=None):
    body = {"backup": file}
    if passphrase:
        body["passphrase"] = passphrase
    return requests.post(cam.url("/api/v1/config/restore"), auth=cam.admin(), json=body, timeout=30)


def test_backup_seals_secrets_and_restores_only_where_it_may(tmp_path):
    a = start_cam(tmp_path / "a")
    b = start_cam(tmp_path / "b")
    try:
        assert a.patch_config({"smtp": {"server": "127.0.0.1", "password": SECRET},
                               "jpeg": {"refresh_fps": 3}}).status_code == 200
        device = backup(a)
        text = json.dumps(device)
        assert SECRET not in text, "no secret in clear in the file"
        assert device["config"]["smtp"]["server"] == "127.0.0.1", "settings stay readable"
        assert set(device["config"]["smtp"]["password"]) == {"sealed"}
        assert device["key"] == {"kind": "device"}

        # Same camera: restored, the secret with it.
        assert a.patch_config({"smtp": {"password": None, "server": "127.0.0.9"}, "jpeg": {"refresh_fps": 8}}) \
            .status_code == 200
        r = restore(a, device)
        assert r.status_code == 200, r.text
        assert r.json()["smtp"]["password"] == {"set": True} and r.json()["smtp"]["server"] == "127.0.0.1"
        assert r.json()["jpeg"]["refresh_fps"] == 3
        assert {"config.backup", "config.restore"} <= set(log_kinds(a, "config"))

        # Another camera: the device-sealed file is refused, saying why; a passphrase file restores.
        r = restore(b, device)
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "backup.key", r.text
        assert r.json()["errors"][0]["path"] == "backup"
        assert requests.post(a.url("/api/v1/config/backup"), auth=a.admin(), json={"passphrase": "short"},
                             timeout=30).status_code == 422
        portable = backup(a, "site passphrase 2026")
        assert portable["key"]["kind"] == "passphrase" and SECRET not in json.dumps(portable)
        r = restore(b, portable)
        assert r.status_code == 422 and r.json()["errors"][0]["path"] == "passphrase", r.text
        r = restore(b, portable, "wrong passphrase!")
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "backup.key"
        r = restore(b, portable, "site passphrase 2026")
        assert r.status_code == 200, r.text
        assert r.json()["smtp"]["password"] == {"set": True} and r.json()["jpeg"]["refresh_fps"] == 3

        # A sealed value moved to another setting, or changed, does not open.
        moved = json.loads(json.dumps(portable))
        moved["config"]["ftp_client"]["password"] = moved["config"]["smtp"]["password"]
        r = restore(b, moved, "site passphrase 2026")
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "backup.damaged", r.text
        assert restore(b, {**portable, "format": "something-else"}).status_code == 422
    finally:
        a.stop()
        b.stop()


def test_restart_and_factory_reset_keep_or_wipe_recordings(tmp_path):
    cam = start_cam(tmp_path / "data", SMALL)
    try:
        serial = cam.get("/api/v1/status").json()["serial"]
        start_recording(cam, extra={"jpeg": {"refresh_fps": 2}})
        kept = wait_for_files(cam, 1)
        pid = cam.proc.pid
        started = cam.get("/api/v1/status").json()["started_at"]
        r = requests.post(cam.url("/api/v1/maintenance/restart"), auth=cam.admin(), timeout=10)
        assert r.status_code == 202, r.text

        def restarted():
            try:
                s = cam.get("/api/v1/status", timeout=2)
            except requests.RequestException:
                return None
            return s.status_code == 200 and s.json()["started_at"] != started
        wait_for(restarted, 30, what="the camera back after its restart")
        assert cam.proc.poll() is None and cam.proc.pid == pid, "restarted in place"
        assert "maintenance.restart" in log_kinds(cam, "maintenance")

        # Factory reset, keeping the recordings.
        assert requests.post(cam.url("/api/v1/maintenance/factory-reset"), auth=cam.admin(), json={},
                             timeout=10).status_code == 422, "the user must choose"
        r = requests.post(cam.url("/api/v1/maintenance/factory-reset"), auth=cam.admin(),
                          json={"recordings": "keep"}, timeout=10)
        assert r.status_code == 202, r.text
        wait_for(lambda: _needs_setup(cam), 30, what="a camera without accounts")
        cam.setup_admin()
        assert cam.get("/api/v1/status").json()["serial"] == serial, "the device identity stays"
        cfg = cam.get("/api/v1/config").json()
        # Defaults, except what the daemon's --config applies at every start (here: small streams).
        assert cfg["recording"]["enabled"] is False and cfg["jpeg"]["refresh_fps"] == 5, "defaults"
        assert cfg["streams"]["stream1"]["width"] == 320
        assert {r["id"] for r in recordings(cam)} >= {r["id"] for r in kept}
        kinds = log_kinds(cam, "maintenance")
        assert "maintenance.factory_reset" in kinds and "maintenance.factory_reset_done" in kinds

        # Factory reset, wiping them: no file left.
        r = requests.post(cam.url("/api/v1/maintenance/factory-reset"), auth=cam.admin(),
                          json={"recordings": "wipe"}, timeout=10)
        assert r.status_code == 202
        wait_for(lambda: _needs_setup(cam), 30, what="a camera without accounts")
        cam.setup_admin()
        assert recordings(cam) == []
        assert not list((cam.data_dir / "recordings").glob("stream*/*.mp4"))
        assert cam.proc.pid == pid
    finally:
        cam.stop()


def _needs_setup(cam):
    try:
        r = requests.get(cam.url("/api/v1/status"), timeout=2)
    except requests.RequestException:
        return False
    return r.status_code == 401 and r.json().get("error") == "needs_setup"


def test_logout_answers_401_without_counting_a_failure(cam_admin):
    for _ in range(12):
        r = requests.get(cam_admin.url("/api/v1/logout"), auth=("logout", "logout"), timeout=10)
        assert r.status_code == 401 and r.json()["error"] == "logged_out"
    assert cam_admin.get("/api/v1/status").status_code == 200, "no lockout"
    assert not [e for e in cam_admin.get("/api/v1/log?kind=login.fail").json()["entries"]
                if e["actor"] == "logout"]
