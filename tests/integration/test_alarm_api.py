"""The command alarm API: level control and above may raise it, live may only watch the status;
off by default; audio is unavailable on this device."""
import requests

from alarm_util import log_has


def test_command_alarm_levels_and_switch(cam_admin):
    control = cam_admin.add_user("operator", "Operator-2026", "control")
    live = cam_admin.add_user("watcher", "Watcher-2026", "live")
    post = lambda auth, body=None: requests.post(cam_admin.url("/api/v1/alarm"), json=body, auth=auth, timeout=10)
    # Off by default.
    r = post(control)
    assert r.status_code == 409 and r.json()["error"] == "alarm.command.disabled", r.text
    assert cam_admin.patch_config({"alarm": {"command": {"enabled": True}}}).status_code == 200
    assert post(live).status_code == 403
    assert requests.post(cam_admin.url("/api/v1/alarm"), timeout=10).status_code == 401
    r = post(control)
    assert r.status_code == 202, r.text
    assert post(control, {"source": "audio"}).status_code == 409
    assert post(control, {"source": "vmd"}).status_code == 400
    st = requests.get(cam_admin.url("/api/v1/alarm"), auth=live, timeout=10).json()
    assert st["active"] is True and st["last"]["source"] == "command"
    assert log_has(cam_admin, "alarm", "command alarm")
    assert [a["source"] for a in cam_admin.get("/api/v1/alarm/log").json()["alarms"]] == ["command"]
