"""An upstream RTSP camera for the recorder-mode tests: GStreamer's RTSP server (gst-rtsp-server
through python3-gi) on a loopback port, serving a live H.264 test pattern at /cam, optionally
behind RFC 2617 Digest. Run with the system python3 (python3-gi): it prints one JSON line
`{"ready": true, "port": N, "wall_ms": T}` once it listens — `wall_ms` is its own clock at that
moment, which the tests compare with the recorder's index — then serves until SIGTERM (or, with
`--exit-with-stdin`, until its stdin closes: a Rust test holds the pipe, so the camera goes away
with the test even when the test crashes). `--port 0` takes a free port and prints it.
camward-media's `tests/rtsp_pull.rs` uses it too: one upstream camera for every test.

    /usr/bin/python3 gst_rtsp_camera.py --port 8554 [--fps 10] [--gop 10] [--user U --password P]
"""
import argparse
import json
import signal
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--fps", type=int, default=10)
    ap.add_argument("--gop", type=int, default=10)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--exit-with-stdin", action="store_true")
    a = ap.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( videotestsrc is-live=true pattern=ball "
        f"! video/x-raw,width={a.width},height={a.height},framerate={a.fps}/1 "
        f"! openh264enc gop-size={a.gop} bitrate=256000 "
        f"! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )"
    )
    # One pipeline per client. A shared pipeline aborts the whole server now and then in
    # gst-rtsp-server 1.22: a client's PLAY arriving while the pipeline already streams to
    # another ends in `gst_rtsp_media_get_rates: assertion failed` (seen in CI with two recorder
    # entries pulling one camera, over TCP and TCP, and UDP and TCP). The cost is one small
    # encoder per client.
    factory.set_shared(False)
    if a.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "recorder")
        auth.add_digest(a.user, a.password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_permission_for_role("recorder", "media.factory.access", True)
        perms.add_permission_for_role("recorder", "media.factory.construct", True)
        factory.set_permissions(perms)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print(json.dumps({"ready": False, "error": "cannot listen"}), flush=True)
        sys.exit(1)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    if a.exit_with_stdin:
        # idle_add: thread-safe, and it still ends the loop when stdin closes before loop.run().
        threading.Thread(target=lambda: (sys.stdin.read(), GLib.idle_add(loop.quit)), daemon=True).start()
    port = server.get_bound_port()
    print(json.dumps({"ready": True, "port": port, "wall_ms": int(time.time() * 1000)}), flush=True)
    loop.run()


if __name__ == "__main__":
    main()
