"""Recorder mode (the `cameras` settings; paper §3.8, §3.9): camward pulls upstream RTSP cameras —
GStreamer's RTSP server on loopback (gst_rtsp_camera.py, one of them behind Digest) and another
camward daemon that signs its stream — records each into its own files with the camera's name in
the index, reconnects by itself when a camera goes away and comes back, keeps a camera's own ONVIF
Media Signing SEIs, and counter-signs an unsigned camera when asked.

Timing is judged from timestamps the peers and the recorder wrote (the GStreamer camera's own
clock when it listens again, the index's start/end of each file), never from the test's clock.
"""
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import (ADMIN_PASSWORD, ADMIN_USER, SMALL_STREAMS, SNMP_USERS, free_port, needs, rtsp_url,
                      snmp, snmp_v3, snmp_value, start_cam, stop_process, wait_for)
from recording_util import cw, download, ffprobe_frames, provision_ca, recordings, reference_report, verify
from videolib import decode, jpeg_size, probe_size, read_parts

# The RTSP server comes through python3-gi (scripts/setup), i.e. the system interpreter.
SYSTEM_PY = "/usr/bin/python3"
CAMERA_SCRIPT = Path(__file__).with_name("gst_rtsp_camera.py")
FPS = 10
FILE_SECONDS = 10
DIGEST_USER, DIGEST_PASSWORD = "recorder", "Up-stream-2026"


def _have_gst_rtsp_server():
    p = subprocess.run([SYSTEM_PY, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                        "from gi.repository import GstRtspServer"], capture_output=True, timeout=30)
    return p.returncode == 0


if not _have_gst_rtsp_server():
    if os.environ.get("CI") == "true":
        pytest.fail("python3-gi with gir1.2-gst-rtsp-server-1.0 is not installed (scripts/setup)",
                    pytrace=False)
    pytest.skip("python3-gi with gir1.2-gst-rtsp-server-1.0 is not installed (scripts/setup)",
                allow_module_level=True)

pytestmark = needs("ffprobe")


class GstCamera:
    """One GStreamer RTSP camera process on a fixed loopback port (kept across restarts)."""

    def __init__(self, tmp: Path, name, user=None, password=None):
        self.name, self.user, self.password = name, user, password
        self.port = free_port()
        self.log = tmp / f"gst-{name}.log"
        self.proc = None
        self.ready_ms = None

    def start(self):
        args = [SYSTEM_PY, str(CAMERA_SCRIPT), "--port", str(self.port), "--fps", str(FPS), "--gop", str(FPS)]
        if self.user:
            args += ["--user", self.user, "--password", self.password]
        # The port was just freed by our own server: retry briefly while the kernel lets it go.
        for _ in range(20):
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(self.log, "ab"), text=True)
            line = self.proc.stdout.readline()
            msg = json.loads(line) if line.strip() else {}
            if msg.get("ready"):
                self.ready_ms = msg["wall_ms"]
                return self
            self.proc.wait(timeout=10)
            time.sleep(0.25)
        raise RuntimeError(f"GStreamer camera {self.name} did not listen: {self.log.read_text()[-2000:]}")

    def stop(self):
        if self.proc:
            stop_process(self.proc)

    def url(self):
        return f"rtsp://127.0.0.1:{self.port}/cam"


def camera_entry(name, url, **kw):
    return {"name": name, "url": url, "reconnect_max_secs": 1, **kw}


def ms(rfc3339):
    from datetime import datetime
    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("upstreams")
    cams = {"plain": GstCamera(tmp, "plain"), "udp": GstCamera(tmp, "udp"),
            "digest": GstCamera(tmp, "digest", DIGEST_USER, DIGEST_PASSWORD)}
    for c in cams.values():
        c.start()
    yield cams
    for c in cams.values():
        c.stop()


@pytest.fixture(scope="module")
def recorder(tmp_path_factory, upstreams):
    """The recorder: this device's own recording off, three upstream cameras recorded
    continuously in 10 s files (one over RTP/UDP, one logging in with Digest). Its certificate
    comes from its own private CA (`recorder.ca`), so counter-signatures verify to it."""
    tmp = tmp_path_factory.mktemp("recorder")
    root = provision_ca(tmp, tmp / "data")
    u = upstreams
    config = {
        **SMALL_STREAMS,
        "recording": {"enabled": False, "file_seconds": FILE_SECONDS},
        "snmp": {"enabled": True, "users": [SNMP_USERS[0]]},
        "cameras": {"cameras": [
            camera_entry("plain", u["plain"].url()),
            camera_entry("udp", u["udp"].url(), transport="udp"),
            camera_entry("digest", u["digest"].url(), username=DIGEST_USER, password=DIGEST_PASSWORD,
                         live_users=["door-watch"]),
        ]},
    }
    snmp_port = free_port()
    cam = start_cam(tmp / "data", config, extra_args=["--snmp", f"127.0.0.1:{snmp_port}"])
    cam.ca = root
    cam.snmp_target = f"udp:127.0.0.1:{snmp_port}"
    cam.add_user("door-watch", "Door-watch-2026", "live")
    cam.add_user("lobby-watch", "Lobby-watch-2026", "live")
    yield cam
    cam.stop()


def camera_status(cam, name):
    return {c["name"]: c for c in cam.get("/api/v1/cameras/status").json()}[name]


def date_and_time_ms(value):
    """An RFC 2579 DateAndTime as net-snmp prints it (`Hex-STRING: 07 EA 0C 04 ...`), in UTC ms."""
    from datetime import datetime, timezone
    b = bytes.fromhex("".join(value.split(": ", 1)[1].split()))
    t = datetime(int.from_bytes(b[0:2], "big"), b[2], b[3], b[4], b[5], b[6], tzinfo=timezone.utc)
    return int(t.timestamp() * 1000) + b[7] * 100


def finished(cam, camera, n, timeout=60):
    rows = []

    def enough():
        nonlocal rows
        rows = [r for r in recordings(cam, f"?camera={camera}") if r["state"] != "recording"]
        return len(rows) >= n
    wait_for(enough, timeout, step=0.5, what=f"{n} finished recordings of camera {camera}")
    return rows


def test_three_cameras_are_recorded_at_once_and_every_file_decodes_with_its_frame_count(recorder, tmp_path):
    for name in ("plain", "udp", "digest"):
        rows = finished(recorder, name, 1)
        r = rows[0]
        assert r["camera"] == name and r["stream"] == 1 and r["trigger"] == "continuous", r
        assert (r["width"], r["height"]) == (320, 240), r
        f = download(recorder, r["id"], tmp_path / f"{name}.mp4")
        assert f.stat().st_size == r["bytes"], r
        rc, n, err = ffprobe_frames(f)
        assert rc == 0 and n == r["frames"], (r, n, err)
        p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                            str(f)], capture_output=True, text=True, timeout=60)
        duration = float(p.stdout.strip())
        expected = duration * FPS
        assert abs(n - expected) <= 0.02 * expected, (name, n, duration)
        # The index's wall-clock span says the same (a file is cut at a key frame near 10 s).
        span = (ms(r["end"]) - ms(r["start"])) / 1000
        assert abs(n - span * FPS) <= 0.02 * span * FPS, (name, n, span)
    # This device's own streams were not recorded; a camera's rows are only under its name.
    assert all(r.get("camera") for r in recordings(recorder)), recordings(recorder)
    assert recordings(recorder, "?camera=nosuch") == []
    status = {c["name"]: c for c in recorder.get("/api/v1/cameras/status").json()}
    assert set(status) == {"plain", "udp", "digest"}, status
    for c in status.values():
        assert c["connected"] and c["recording"] and c["bitrate_bps"] > 0, c
        assert (c["width"], c["height"], c["fps"]) == (320, 240, FPS), c


@needs("snmpwalk")
def test_the_snmp_camera_table_lists_each_camera_with_its_state(recorder):
    table = "1.3.6.1.4.1.32473.1.7.1.1"
    rows = {}

    def walked():
        code, out = snmp("snmpwalk", *snmp_v3(), recorder.snmp_target, table)
        assert code == 0, out
        rows.clear()
        for line in out.splitlines():
            if " = " not in line:
                continue
            oid, value = line.split(" = ", 1)
            col, idx = oid.strip().rsplit(".", 2)[-2:]
            rows.setdefault(int(idx), {})[int(col)] = value.split(": ", 1)[-1].strip().strip('"')
        return len(rows) == 3 and all(r.get(3) == "1" for r in rows.values())
    wait_for(walked, 10, what="three connected cameras in camwardCameraTable")
    # Name order; connected true(1), a bit rate, recording true(1), no error yet.
    assert [rows[i][2] for i in (1, 2, 3)] == ["digest", "plain", "udp"], rows
    for r in rows.values():
        assert int(r[4]) > 0 and r[7] == "1", rows


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_each_camera_is_re_served_at_cameras_name_behind_this_devices_digest(recorder, transport):
    # The Digest camera, pulled with its own credentials, is served with the recorder's.
    rc, size, out = probe_size(rtsp_url(recorder, "/cameras/digest"), transport)
    assert rc == 0 and size == (320, 240), out
    rc, frames, err = decode(rtsp_url(recorder, "/cameras/udp"), transport, frames=10)
    assert rc == 0 and frames == 10, err
    rc, frames, err = decode(rtsp_url(recorder, "/cameras/plain", password="Wrong-pass-1"), transport, frames=1)
    assert rc != 0 and "401" in err, err
    rc, frames, err = decode(rtsp_url(recorder, "/cameras/nosuch"), transport, frames=1)
    assert rc != 0 and "404" in err, err


def test_a_live_only_user_watches_only_the_cameras_shared_with_them(recorder):
    door = dict(user="door-watch", password="Door-watch-2026")
    lobby = dict(user="lobby-watch", password="Lobby-watch-2026")
    rc, frames, err = decode(rtsp_url(recorder, "/cameras/digest", **door), frames=5)
    assert rc == 0 and frames == 5, err
    for who, path in ((door, "/cameras/udp"), (lobby, "/cameras/digest")):
        rc, frames, err = decode(rtsp_url(recorder, path, **who), frames=1)
        assert rc != 0 and "403" in err, (who["user"], path, err)
    # Their own device's streams stay as they were for Live-only users.
    rc, frames, err = decode(rtsp_url(recorder, "/stream2", **lobby), frames=2)
    assert rc == 0 and frames == 2, err


def connected(cam, *names):
    def all_on():
        st = {c["name"]: c for c in cam.get("/api/v1/cameras/status").json()}
        return all(st.get(n, {}).get("connected") for n in names)
    wait_for(all_on, 20, what=f"cameras {names} connected")


def camera_view(cam, name, view, auth=None, **kw):
    """GET /api/v1/cameras/NAME/VIEW (streamed: live.mp4 and mjpeg never end)."""
    return requests.get(cam.url(f"/api/v1/cameras/{name}/{view}"), auth=auth or cam.admin(), stream=True,
                        timeout=15, **kw)


def test_a_cameras_live_mp4_is_its_h264_read_by_ffprobe_over_http_digest(recorder):
    """The browser's H.264 view of an upstream camera: its own stream relayed as fragmented MP4
    (no re-encoding: the camera's size and rate), read by ffmpeg's demuxer with Digest."""
    connected(recorder, "digest")
    url = f"http://{ADMIN_USER}:{ADMIN_PASSWORD}@127.0.0.1:{recorder.http_port}/api/v1/cameras/digest/live.mp4"
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                            "stream=codec_name,width,height", "-of", "csv=p=0", "-read_intervals", "%+2", url],
                           capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip().splitlines()[:1] == ["h264,320,240"], probe.stdout + probe.stderr
    frames = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", url, "-frames:v", "15", "-f", "framemd5", "-"],
                            capture_output=True, text=True, timeout=60)
    n = sum(1 for line in frames.stdout.splitlines() if line and not line.startswith("#"))
    assert frames.returncode == 0 and n == 15, frames.stderr[-500:]
    with camera_view(recorder, "digest", "live.mp4") as r:
        assert r.status_code == 200 and r.headers["Content-Type"] == "video/mp4", r.text
        first = next(r.iter_content(4096))
    assert first[4:8] == b"ftyp", first[:16]


def test_a_cameras_snapshot_and_mjpeg_are_jpegs_of_its_own_size(recorder, tmp_path):
    """JPEGs of an upstream camera are decoded from its H.264 when asked (from the latest key
    frame), at the size the camera sends: it is no JPEG setting of this device."""
    connected(recorder, "udp", "plain")
    r = camera_view(recorder, "udp", "snapshot.jpg")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg", r.text
    assert jpeg_size(r.content, tmp_path) == (320, 240)
    with camera_view(recorder, "plain", "mjpeg", params={"fps": 5}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("multipart/x-mixed-replace"), r.text
        parts = read_parts(r, 2)
    assert [jpeg_size(p, tmp_path) for p in parts] == [(320, 240)] * 2
    # Two pictures of a moving scene, not one repeated.
    assert parts[0] != parts[1]


def test_a_cameras_status_counts_who_watches_it_over_rtsp_and_http(recorder):
    """The operator sees who watches an upstream camera through this device: RTSP viewers at
    /cameras/NAME and the HTTP views, each by carrier, gone again once they leave."""
    connected(recorder, "plain")

    def viewers(name):
        return {v["carrier"]: v["viewers"] for v in camera_status(recorder, name)["viewers"]}

    wait_for(lambda: viewers("plain") == {}, 20, what="no viewer of camera plain left from earlier tests")
    player = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i",
                               rtsp_url(recorder, "/cameras/plain"), "-t", "60", "-f", "null", "-"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with camera_view(recorder, "plain", "mjpeg", params={"fps": 2}) as jpegs, \
                camera_view(recorder, "plain", "live.mp4") as mp4:
            assert jpegs.status_code == 200 and mp4.status_code == 200
            # The iterators stay referenced: requests closes the connection when one is collected.
            jpeg_chunks, mp4_chunks = jpegs.iter_content(4096), mp4.iter_content(4096)
            assert next(jpeg_chunks).lstrip(b"\r\n").startswith(b"--camward-mjpeg-frame")
            assert next(mp4_chunks)[4:8] == b"ftyp"
            want = {"rtsp": 1, "mjpeg": 1, "live_mp4": 1}
            try:
                wait_for(lambda: viewers("plain") == want, 20, what=f"camera plain watched by {want}")
            except AssertionError:
                assert viewers("plain") == want  # says what it is instead
            # Another camera's count is its own.
            assert "mjpeg" not in viewers("digest") and "live_mp4" not in viewers("digest")
    finally:
        stop_process(player)
    wait_for(lambda: viewers("plain") == {}, 20, what="the viewers of camera plain gone")


def test_http_views_of_cameras_follow_the_per_camera_permission_of_rtsp(recorder):
    """A Live-only user watches over HTTP exactly the cameras RTSP lets them watch; an unknown
    name is 404 for Camera control and above, 403 for a Live-only user (who cannot learn names)."""
    connected(recorder, "digest", "plain", "udp")
    door = requests.auth.HTTPDigestAuth("door-watch", "Door-watch-2026")
    lobby = requests.auth.HTTPDigestAuth("lobby-watch", "Lobby-watch-2026")
    r = recorder.get("/api/v1/cameras", auth=door)
    assert r.status_code == 200 and [c["name"] for c in r.json()] == ["digest"], r.text
    assert set(r.json()[0]) == {"name", "connected", "width", "height", "fps"}, r.json()
    assert recorder.get("/api/v1/cameras", auth=lobby).json() == []
    assert [c["name"] for c in recorder.get("/api/v1/cameras").json()] == ["digest", "plain", "udp"]
    r = camera_view(recorder, "digest", "snapshot.jpg", auth=door)
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8", r.text
    with camera_view(recorder, "digest", "live.mp4", auth=door) as r:
        assert r.status_code == 200, r.text
    for who, name in ((door, "udp"), (door, "plain"), (lobby, "digest"), (door, "nosuch")):
        for view in ("live.mp4", "snapshot.jpg", "mjpeg"):
            r = camera_view(recorder, name, view, auth=who)
            assert r.status_code == 403 and r.json()["error"] == "forbidden", (who.username, name, view, r.text)
    for view in ("live.mp4", "snapshot.jpg", "mjpeg"):
        r = camera_view(recorder, "nosuch", view)
        assert r.status_code == 404 and r.json()["error"] == "not_found", (view, r.text)
        with camera_view(recorder, "plain", view) as r:
            assert r.status_code == 200, (view, r.text)
        r = requests.get(recorder.url(f"/api/v1/cameras/plain/{view}"), timeout=10)
        assert r.status_code == 401, r.text
    assert camera_view(recorder, "bad.name", "snapshot.jpg").status_code == 404
    assert camera_view(recorder, "plain", "mjpeg", params={"fps": 31}).status_code == 400


def test_a_camera_that_sends_nothing_answers_503_with_the_reason_to_retry(recorder):
    """A camera that is configured but not reachable: its views say so (503 `camera_offline`,
    `Retry-After`) instead of hanging."""
    cams = recorder.get("/api/v1/config").json()["cameras"]["cameras"]
    dead = camera_entry("dead", f"rtsp://127.0.0.1:{free_port()}/cam")
    assert recorder.patch_config({"cameras": {"cameras": cams + [dead]}}).status_code == 200
    try:
        wait_for(lambda: "dead" in {c["name"] for c in recorder.get("/api/v1/cameras").json()}, 10,
                 what="camera dead listed")
        for view in ("live.mp4", "snapshot.jpg", "mjpeg"):
            r = camera_view(recorder, "dead", view)
            assert r.status_code == 503 and r.headers["Retry-After"] == "1", (view, r.text)
            assert r.json()["error"] == "camera_offline" and "dead" in r.json()["message"], r.text
    finally:
        assert recorder.patch_config({"cameras": {"cameras": cams}}).status_code == 200


def test_an_upstream_back_after_10_s_is_recorded_again_within_2_s_and_the_gap_shows(recorder, upstreams):
    cam = upstreams["plain"]
    finished(recorder, "plain", 1)
    cam.stop()
    # The recorder sees the session end at once and closes the file.
    wait_for(lambda: all(r["state"] != "recording" for r in recordings(recorder, "?camera=plain")), 10,
             what="the open file of the stopped camera closed")
    stopped = time.monotonic()
    before = recordings(recorder, "?camera=plain")
    last_end = max(ms(r["end"]) for r in before)
    # While it is away the status says so within 3 s (no picture) and names the failure and when.
    away = {}

    def reported_away():
        away.update(camera_status(recorder, "plain"))
        return not away["connected"] and away["last_error"] and away["last_error_at"]
    wait_for(reported_away, 8, step=0.25, what="camera plain reported disconnected with its error")
    assert ms(away["last_error_at"]) >= last_end - 1000, (last_end, away)
    time.sleep(max(0.0, 10 - (time.monotonic() - stopped)))
    cam.start()
    back_ms = cam.ready_ms
    new = []

    def resumed():
        nonlocal new
        new = [r for r in recordings(recorder, "?camera=plain") if r["id"] not in {b["id"] for b in before}]
        return bool(new)
    wait_for(resumed, 20, step=0.25, what="a new recording of the returned camera")
    first = min(new, key=lambda r: r["id"])
    start = ms(first["start"])
    # Recording resumed within 2 s of the camera listening again (its own clock, the index's).
    assert 0 <= start - back_ms <= 2000, (back_ms, first)
    # The outage shows in the index as a gap between the two files.
    assert start - last_end >= 9000, (last_end, first)
    # Back: connected again; the error stays as history, dated within the outage, before the
    # pictures that came after it (docs/design/recorder.md, "Status: state now, error as history").
    st = {}

    def reported_back():
        st.update(camera_status(recorder, "plain"))
        return st["connected"]
    wait_for(reported_back, 5, step=0.25, what="camera plain reported connected again")
    assert st["connects"] >= 2 and st["last_error"], st
    err_ms = ms(st["last_error_at"])
    assert ms(away["last_error_at"]) <= err_ms <= start < ms(st["last_frame"]), (away, st, first)
    if shutil.which("snmpget"):
        # The same in camwardCameraTable (row 2 in name order: digest, plain, udp): connected,
        # the error, and its time as a DateAndTime (UTC, to the second).
        row = "1.3.6.1.4.1.32473.1.7.1.1.{}.2"
        code, out = snmp("snmpget", *snmp_v3(), recorder.snmp_target, *(row.format(c) for c in (2, 3, 6, 8)))
        assert code == 0, out
        values = [l.split(" = ", 1)[1] for l in out.splitlines() if " = " in l]
        assert snmp_value(out) == "plain" and values[1].endswith(": 1") and st["last_error"][:40] in values[2], out
        assert date_and_time_ms(values[3]) // 1000 == err_ms // 1000, (values[3], st["last_error_at"])


def test_a_signed_upstream_keeps_its_signatures_and_an_unsigned_one_is_countersigned(
        recorder, upstreams, tmp_path_factory, tmp_path):
    """Another camward daemon signing its stream (ONVIF Media Signing) is the camera: the
    recorder's file verifies to that camera's certificate. An unsigned GStreamer camera with
    `recorder_signing` verifies to the recorder's own certificate instead."""
    tmp = tmp_path_factory.mktemp("signer")
    up_ca = provision_ca(tmp, tmp / "data")
    up = start_cam(tmp / "data", {**SMALL_STREAMS, "alteration_detection": {"enabled": True}})
    ca = {"signed": up_ca, "countersigned": recorder.ca}
    other = {"signed": recorder.ca, "countersigned": up_ca}
    try:
        cams = recorder.get("/api/v1/config").json()["cameras"]["cameras"]
        # The list is replaced as a whole; the passwords read back as {"set": true} keep theirs.
        cams += [camera_entry("signed", f"rtsp://127.0.0.1:{up.rtsp_port}/stream1",
                              username=ADMIN_USER, password=ADMIN_PASSWORD),
                 camera_entry("countersigned", upstreams["udp"].url(), recorder_signing=True)]
        r = recorder.patch_config({"cameras": {"cameras": cams}})
        assert r.status_code == 200, r.text
        serial = {"signed": up.get("/api/v1/status").json()["serial"],
                  "countersigned": recorder.get("/api/v1/status").json()["serial"]}
        assert serial["signed"] != serial["countersigned"]
        for name in ("signed", "countersigned"):
            row = finished(recorder, name, 1, timeout=60)[0]
            assert row["signed"], row
            f = download(recorder, row["id"], tmp_path / f"{name}.mp4")
            rc, rep, err = verify(f, ca=ca[name])
            assert rc == 0 and rep["verdict"] == "authentic", (name, err, rep and rep["gops"])
            assert rep["provenance"]["status"] == "trusted", (name, rep["provenance"])
            assert rep["vendor"]["serial_number"] == serial[name], (name, rep["vendor"])
            assert rep["counts"]["validated_frames"] == row["frames"], (name, rep["counts"], row)
            # The ONVIF reference validator reads the recorder's fMP4 as it is and agrees: every
            # frame camward validated is valid to it too, signed by a key the CA vouches for.
            ref, mine = reference_report(f, ca[name]), rep["counts"]
            c = ref["counts"]
            assert ref["key"] == "PUBLIC KEY IS VALID!" and ref["video"] == "valid", (name, ref["summary"])
            assert (c["received_frames"], c["validated_frames"], c["pending_frames"]) == (
                mine["received_frames"], mine["validated_frames"], mine["pending_frames"]), (name, ref["summary"], mine)
            # The other device's CA does not vouch for it: the signer is who it says.
            rc, rep, _ = verify(f, ca=other[name])
            assert rc == 2 and rep["provenance"]["status"] != "trusted", (name, rep["provenance"])
        # The digest camera's password survived the list being replaced.
        st = {c["name"]: c for c in recorder.get("/api/v1/cameras/status").json()}
        assert st["digest"]["connected"], st["digest"]
    finally:
        up.stop()


def test_an_alarm_only_camera_is_recorded_when_this_devices_alarm_records(recorder, tmp_path):
    """`record: alarm`: the camera is recorded only while this device's alarm record action runs,
    with its pre- and post-alarm periods, into a file marked as an alarm recording."""
    cams = recorder.get("/api/v1/config").json()["cameras"]["cameras"]
    for c in cams:
        if c["name"] == "digest":
            c["record"] = "alarm"
    r = recorder.patch_config({
        "cameras": {"cameras": cams},
        "alarm": {"command": {"enabled": True},
                  "recording": {"enabled": True, "triggers": ["command"], "pre_seconds": 2, "post_seconds": 3}},
    })
    assert r.status_code == 200, r.text
    # The continuous file closes; nothing new is recorded until the alarm.
    wait_for(lambda: all(r["state"] != "recording" for r in recordings(recorder, "?camera=digest")), 15,
             what="the continuous recording of the alarm-only camera closed")
    before = {r["id"] for r in recordings(recorder, "?camera=digest")}
    r = requests.post(recorder.url("/api/v1/alarm"), auth=recorder.admin(), timeout=10)
    assert r.status_code == 202, r.text
    rows = []

    def alarm_file():
        nonlocal rows
        rows = [r for r in recordings(recorder, "?camera=digest")
                if r["id"] not in before and r["state"] != "recording"]
        return bool(rows)
    wait_for(alarm_file, 30, step=0.5, what="a finished alarm recording of the camera")
    row = rows[0]
    assert row["trigger"] == "alarm" and row["camera"] == "digest", row
    # Pre-alarm (2 s, whole GOPs) plus post-alarm (3 s): a few seconds, not a continuous file.
    assert 30 <= row["frames"] <= 90, row
    f = download(recorder, row["id"], tmp_path / "alarm.mp4")
    rc, n, err = ffprobe_frames(f)
    assert rc == 0 and n == row["frames"], (row, n, err)


def test_with_data_encryption_on_a_cameras_files_are_encrypted_to_the_viewers_key(recorder, tmp_path):
    """Data encryption (paper §3.8) switched on restarts the recorder, which records the upstream
    cameras again, now CENC-encrypted: only the viewer's key gives the pictures back."""
    key = tmp_path / "viewer.key"
    recipient = cw("keygen", "--out", key, check=True).stdout.strip()
    r = recorder.patch_config({"data_encryption": {"enabled": True, "recipients": [recipient]}})
    assert r.status_code == 200, r.text
    rows = []

    def encrypted_file():
        nonlocal rows
        rows = [r for r in recordings(recorder, "?camera=udp") if r["encrypted"] and r["state"] != "recording"]
        return bool(rows)
    wait_for(encrypted_file, 40, step=0.5, what="a finished encrypted recording of camera udp")
    row = rows[0]
    f = download(recorder, row["id"], tmp_path / "enc.mp4")
    clear = tmp_path / "clear.mp4"
    cw("decrypt", f, "--identity", key, "-o", clear, check=True)
    rc, n, err = ffprobe_frames(clear)
    assert rc == 0 and n == row["frames"], (row, n, err)


def test_many_cameras_do_not_starve_the_daemon_of_its_blocking_threads(upstreams, tmp_path):
    """Each recorded camera has a writer for as long as it is recorded. Twenty-four of them (more
    than the runtime's 16 blocking threads) once starved every short blocking call, and the
    daemon stopped answering HTTP at all; the writers now have threads of their own."""
    n = 24
    cams = [camera_entry(f"m{i}", upstreams["plain"].url()) for i in range(n)]
    cam = start_cam(tmp_path / "many", {**SMALL_STREAMS, "recording": {"enabled": False, "file_seconds": FILE_SECONDS},
                                        "cameras": {"cameras": cams}})
    try:
        def all_connected():
            r = cam.get("/api/v1/cameras/status", timeout=5)
            return r.status_code == 200 and sum(1 for c in r.json() if c["connected"]) == n
        wait_for(all_connected, 60, step=0.5, what=f"{n} cameras connected")
        # Settings are stored through the blocking pool: a change still goes through.
        r = cam.patch_config({"snmp": {"location": "Rack 7"}})
        assert r.status_code == 200, r.text
        assert cam.get("/api/v1/config").json()["snmp"]["location"] == "Rack 7"
        wait_for(lambda: len({r["camera"] for r in recordings(cam) if r.get("camera")}) == n, 30,
                 what=f"a recording for each of the {n} cameras")
    finally:
        cam.stop()
