#!/usr/bin/env python3
"""A GStreamer RTSP server standing in for an existing camera in camward-media's tests.

Serves a live H.264 test pattern at rtsp://127.0.0.1:PORT/cam behind RTSP Digest (user
`cam`, password `pw`) on the port given as argument (default: any free one), prints
`PORT <n>` once listening, and exits when stdin closes.
Needs python3-gi and gir1.2-gst-rtsp-server-1.0 (Debian).
"""
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(sys.argv[1] if len(sys.argv) > 1 else "0")

factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 "
    "! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
)
factory.set_shared(True)

auth = GstRtspServer.RTSPAuth()
auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
token = GstRtspServer.RTSPToken()
token.set_string("media.factory.role", "viewer")
auth.add_digest("cam", "pw", token)
server.set_auth(auth)
perms = GstRtspServer.RTSPPermissions()
perms.add_permission_for_role("viewer", "media.factory.access", True)
perms.add_permission_for_role("viewer", "media.factory.construct", True)
factory.set_permissions(perms)

server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
print(f"PORT {server.get_bound_port()}", flush=True)

loop = GLib.MainLoop()
# The test holds our stdin; when it goes away (test ends or crashes), so do we.
threading.Thread(target=lambda: (sys.stdin.read(), loop.quit()), daemon=True).start()
loop.run()
