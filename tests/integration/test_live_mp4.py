"""GET /api/v1/live.mp4: the browser's H.264 view as fragmented MP4 — read by ffprobe/ffmpeg (a
real demuxer) with Digest, one fragment per picture, each fragment's `prft` carrying the capture
time (the Live page measures its delay from it), the stream's signatures kept, and the level and
query rules of the other live views."""
import struct
import subprocess
import time

import requests

from conftest import ADMIN_PASSWORD, ADMIN_USER, needs


def boxes(data):
    """Top-level MP4 boxes of a byte string: [(type, payload)]."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        size, typ = struct.unpack(">I4s", data[pos:pos + 8])
        if size < 8 or pos + size > len(data):
            break
        out.append((typ.decode("latin1"), data[pos + 8:pos + size]))
        pos += size
    return out


@needs("ffprobe", "ffmpeg")
def test_live_mp4_is_fragmented_h264_with_capture_times(video_cam):
    cam = video_cam
    url = f"http://{ADMIN_USER}:{ADMIN_PASSWORD}@127.0.0.1:{cam.http_port}/api/v1/live.mp4?stream=2"
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                            "stream=codec_name,width,height", "-of", "csv=p=0", "-read_intervals", "%+2", url],
                           capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip().splitlines()[0] == "h264,320,180", probe.stdout + probe.stderr
    frames = subprocess.run(["ffmpeg", "-v", "error", "-i", url, "-t", "3", "-f", "framemd5", "-"],
                            capture_output=True, text=True, timeout=60)
    n = sum(1 for line in frames.stdout.splitlines() if line and not line.startswith("#"))
    assert n >= 20, f"{n} decoded frames in 3 s: {frames.stderr[-500:]}"

    r = requests.get(cam.url("/api/v1/live.mp4?stream=2"), auth=cam.admin(), stream=True, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "video/mp4"
    assert r.headers["Cache-Control"] == "no-store"
    data, deadline = b"", time.monotonic() + 15
    for chunk in r.iter_content(4096):
        data += chunk
        if data.count(b"moof") >= 12 or time.monotonic() > deadline:
            break
    r.close()
    got = boxes(data)
    kinds = [t for t, _ in got]
    assert kinds[:2] == ["ftyp", "moov"], kinds[:4]
    # prft, moof, mdat per picture.
    assert kinds[2:11] == ["prft", "moof", "mdat"] * 3, kinds[:12]
    now = time.time()
    for t, payload in got:
        if t == "prft":
            secs, frac = struct.unpack(">II", payload[8:16])
            captured = secs - 2208988800 + frac / 2**32
            assert now - 30 < captured <= now + 1, (captured, now)
    # The stream as signed: the samples (4-byte length-prefixed NAL units) carry SEI NAL units
    # (type 6), the ONVIF Media Signing signatures.
    nal_types = set()
    for t, payload in got:
        if t == "mdat":
            pos = 0
            while pos + 4 <= len(payload):
                (n,) = struct.unpack(">I", payload[pos:pos + 4])
                if n == 0 or pos + 4 + n > len(payload):
                    break
                nal_types.add(payload[pos + 4] & 0x1F)
                pos += 4 + n
    assert 6 in nal_types and (1 in nal_types or 5 in nal_types), nal_types

    viewer = requests.auth.HTTPDigestAuth("viewer", "View-only-2026")
    r = requests.get(cam.url("/api/v1/live.mp4?stream=1"), auth=viewer, stream=True, timeout=10)
    assert r.status_code == 200, "level Live may watch"
    r.close()
    assert requests.get(cam.url("/api/v1/live.mp4?stream=1"), timeout=10).status_code == 401
    assert requests.get(cam.url("/api/v1/live.mp4?stream=3"), auth=cam.admin(), timeout=10).status_code == 400
