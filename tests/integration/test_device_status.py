"""GET /api/v1/status/details and GET /api/v1/streams: what the Status and Live pages show, checked
against what real clients do — every listener that is open (paper §3.5) with its port, viewers per
stream and carrier while ffmpeg, a browser-like HTTP client and MJPEG watch, recording state per
stream, storage, and the serial the certificate carries."""
import subprocess
import time

import requests

from conftest import ADMIN_PASSWORD, ADMIN_USER, free_port, needs, rtsp_url, start_cam, wait_for, wait_port
from recording_util import SMALL, start_recording


def details(cam):
    r = cam.get("/api/v1/status/details")
    assert r.status_code == 200, r.text
    return r.json()


def listeners(d):
    return {x["service"]: x["port"] for x in d["listeners"]}


@needs("ffmpeg")
def test_status_details_name_listeners_viewers_recording_and_storage(tmp_path):
    ftp_port = free_port()
    cam = start_cam(tmp_path / "data", SMALL, extra_args=["--ftp", f"127.0.0.1:{ftp_port}"])
    try:
        d = details(cam)
        assert listeners(d) == {"HTTP": cam.http_port, "RTSP": cam.rtsp_port}, d["listeners"]
        cert = cam.get("/api/v1/certificate").json()
        assert d["serial"] == cert["device_serial"], "the serial the status shows is the certificate's"
        assert d["model"] and d["version"] and d["uptime_secs"] >= 0
        assert d["certificate"]["kind"] == "self_signed"
        assert {s["stream"]: s["recording"] for s in d["streams"]} == {1: "off", 2: "off"}

        # FTP access opened: its listener appears; closed: it goes.
        assert cam.patch_config({"ftp_server": {"enabled": True, "ftps_required": True}}).status_code == 200
        wait_port(ftp_port)
        assert listeners(details(cam))["FTP"] == ftp_port
        assert cam.patch_config({"ftp_server": {"enabled": False}}).status_code == 200
        wait_port(ftp_port, want_open=False)
        assert "FTP" not in listeners(details(cam))

        # Viewers: an RTSP player, an MJPEG view and the browser's H.264 view of stream 2.
        player = subprocess.Popen(["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", rtsp_url(cam, "/stream2"),
                                   "-t", "20", "-f", "null", "-"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        auth = cam.admin()
        mjpeg = requests.get(cam.url("/api/v1/mjpeg?stream=2"), auth=auth, stream=True, timeout=10)
        live = requests.get(cam.url("/api/v1/live.mp4?stream=2"), auth=auth, stream=True, timeout=10)
        try:
            assert mjpeg.status_code == 200 and live.status_code == 200
            # Kept: a dropped iterator closes its response.
            readers = [mjpeg.iter_content(1024), live.iter_content(1024)]
            for it in readers:
                next(it)

            def counted():
                s2 = next(s for s in details(cam)["streams"] if s["stream"] == 2)
                v = {x["carrier"]: x["viewers"] for x in s2["viewers"]}
                seen.append(v)
                for it in readers:
                    next(it)
                return v if v.get("rtsp") == 1 and v.get("mjpeg") == 1 and v.get("live_mp4") == 1 else None
            seen = []
            try:
                v = wait_for(counted, 20, what="viewers of stream 2 counted")
            except AssertionError:
                raise AssertionError(f"viewers seen: {seen[-3:]}; ffmpeg: {player.poll()}")
            assert set(v) == {"rtsp", "mjpeg", "live_mp4"}, v
        finally:
            mjpeg.close()
            live.close()
            player.kill()
            player.wait(timeout=10)
        wait_for(lambda: not next(s for s in details(cam)["streams"] if s["stream"] == 2)["viewers"], 20,
                 what="viewers gone when they disconnect")

        # Recording state per stream and the storage.
        start_recording(cam, streams=(1,))
        wait_for(lambda: {s["stream"]: s["recording"] for s in details(cam)["streams"]} == {1: "recording", 2: "off"},
                 20, what="stream 1 recording")
        st = details(cam)["storage"]
        assert st["state"] == "ok" and st["total_bytes"] > st["free_bytes"] > 0
        wait_for(lambda: details(cam)["storage"]["recordings"] >= 1, 20, what="a recording counted")
        assert details(cam)["storage"]["oldest"]

        # Live users may read the streams (for the Live page), not the details.
        viewer = cam.add_user("viewer", "View-only-2026", "live")
        s = cam.get("/api/v1/streams", auth=viewer)
        assert s.status_code == 200
        body = s.json()
        assert body["level"] == "live" and body["rtsp_port"] == cam.rtsp_port
        assert body["streams"][1]["codec"] == "H.264" and body["streams"][1]["width"] == 320
        assert cam.get("/api/v1/status/details", auth=viewer).status_code == 403
    finally:
        cam.stop()


def test_https_listeners_appear_in_the_details_with_the_port_in_use(https_cam):
    d = details(https_cam)
    assert d["https_port"] == https_cam.https_port and d["https_port_fixed"] is True
    assert "HTTPS" not in listeners(d)
    https_cam.set_connection("https")
    r = https_cam.sreq("GET", "/api/v1/status/details")
    assert r.status_code == 200
    ls = listeners(r.json())
    assert ls["HTTPS"] == https_cam.https_port and ls["RTSPS"] == https_cam.rtsps_port
    # The configured port does not move a listener pinned on the command line.
    assert https_cam.sreq("PATCH", "/api/v1/config", json={"https": {"port": 9443}}).status_code == 200
    time.sleep(0.5)
    assert listeners(https_cam.sreq("GET", "/api/v1/status/details").json())["HTTPS"] == https_cam.https_port
    assert requests.get(https_cam.url("/api/v1/status"), auth=(ADMIN_USER, ADMIN_PASSWORD), allow_redirects=False,
                        timeout=10).status_code == 400, "credentials over plain HTTP are refused while HTTPS is on"
