"""Video motion detection on testsrc: its bright box crosses the middle band of the picture
(testsrc.rs: y ≈ 0.38–0.62 of the height, left to right and back in 6 s), the lower third is a
static grey ramp. An area over the band raises a VMD alarm; an area over the ramp never does."""
import time

from alarm_util import log_has
from conftest import wait_for
from recording_util import SMALL


def vmd_patch(area):
    a = {"enabled": True, "sensitivity": 5, "threshold": 2}
    a.update(area)
    p = dict(SMALL)
    p["alarm"] = {"vmd": {"enabled": True, "stream": 2, "cooldown_seconds": 1, "areas": [a]}}
    return p


def test_motion_inside_an_area_raises_an_alarm(cam_admin):
    r = cam_admin.patch_config(vmd_patch({"x": 0.0, "y": 0.35, "width": 1.0, "height": 0.3}))
    assert r.status_code == 200, r.text
    st = wait_for(lambda: (lambda s: s if "last" in s else None)(cam_admin.get("/api/v1/alarm").json()),
                  20, what="a VMD alarm")
    assert st["last"]["trigger"] == "vmd", st
    assert st["active"] is True
    assert log_has(cam_admin, "alarm", "VMD area")


def test_motion_outside_every_area_raises_nothing(cam_admin):
    r = cam_admin.patch_config(vmd_patch({"x": 0.0, "y": 0.7, "width": 1.0, "height": 0.3}))
    assert r.status_code == 200, r.text
    # Two crossings of the box (6 s each) plus start-up.
    time.sleep(14)
    st = cam_admin.get("/api/v1/alarm").json()
    assert st == {"active": False}, st
    assert cam_admin.get("/api/v1/alarm/log").json()["alarms"] == []
