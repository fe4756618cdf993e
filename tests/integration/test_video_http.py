"""JPEG snapshots and MJPEG over HTTP: JPEG(1)/(2)/(3) sizes as configured, level live and above,
multipart parts that decode, refusals without credentials."""

import pytest
import requests

from conftest import needs
from videolib import jpeg_size, read_parts, snapshot

pytestmark = needs("ffprobe")


@pytest.mark.parametrize("size,expected", [(1, (1280, 720)), (2, (640, 360)), (3, (320, 180))])
def test_snapshot_is_a_jpeg_of_the_configured_size(video_cam, tmp_path, size, expected):
    r = snapshot(video_cam, f"stream=1&size={size}")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", r.text
    assert r.headers.get("cache-control") == "no-store"
    assert jpeg_size(r.content, tmp_path) == expected


def test_snapshot_follows_jpeg_settings_and_live_users_may_fetch(video_cam, tmp_path):
    r = video_cam.patch_config({"jpeg": {"jpeg3": {"width": 640, "height": 360, "quality": 0}}})
    assert r.status_code == 200, r.text
    try:
        viewer = requests.auth.HTTPDigestAuth("viewer", "View-only-2026")
        r = snapshot(video_cam, "stream=2&size=3", auth=viewer)
        assert r.status_code == 200, r.text
        assert jpeg_size(r.content, tmp_path) == (640, 360)
    finally:
        assert video_cam.patch_config({"jpeg": {"jpeg3": None}}).status_code == 200


def test_snapshot_and_mjpeg_need_credentials_and_valid_queries(video_cam):
    for path in ["/api/v1/snapshot.jpg?stream=1", "/api/v1/mjpeg?stream=1"]:
        r = requests.get(video_cam.url(path), timeout=10)
        assert r.status_code == 401 and "Digest" in r.headers.get("www-authenticate", ""), r.text
        r = requests.get(video_cam.url(path), auth=requests.auth.HTTPDigestAuth("viewer", "Wrong-pass-1"), timeout=10)
        assert r.status_code == 401
    for q in ["stream=3", "stream=1&size=4"]:
        r = video_cam.get(f"/api/v1/snapshot.jpg?{q}")
        assert r.status_code == 400, r.text


def test_mjpeg_parts_decode(video_cam, tmp_path):
    viewer = requests.auth.HTTPDigestAuth("viewer", "View-only-2026")
    with requests.get(video_cam.url("/api/v1/mjpeg?stream=2&size=3&fps=5"), auth=viewer, stream=True, timeout=15) as r:
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("multipart/x-mixed-replace; boundary=")
        parts = read_parts(r, 3)
    assert [jpeg_size(p, tmp_path) for p in parts] == [(320, 180)] * 3
    # Parts are different pictures (the test scene moves), not one frame repeated.
    assert len(set(parts)) == 3
