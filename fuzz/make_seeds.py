#!/usr/bin/env python3
"""Writes the checked-in seed corpora of the fuzz targets (crates/*/fuzz/seeds/<target>/): real
inputs of each parser, small enough (≤ 64 KiB) for libFuzzer to mutate quickly. Run once when a
target is added or its input format changes, then commit what changed:

    python3 fuzz/make_seeds.py            # needs target/release/camward (or $CAMWARD_BIN) and ffmpeg

Sources: the checked-in H.264 clip (testdata/), the ONVIF signing test vectors
(crates/camward-sign/testdata/), crates/camward-config/testdata/populated.json, requests written
as ffmpeg/curl/python-requests send them, and recordings made by a short `camward run` (plain and
encrypted), cut after their first fragments. Existing seeds are replaced.
"""
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = os.environ.get("CAMWARD_BIN", str(REPO / "target" / "release" / "camward"))
CLIP = REPO / "testdata" / "testsrc-320x240-25fps-8s.h264"
SIGNED = REPO / "crates" / "camward-sign" / "testdata" / "signed.h264"
MAX = 64 * 1024


def write(crate, target, name, data):
    d = REPO / "crates" / crate / "fuzz" / "seeds" / target
    d.mkdir(parents=True, exist_ok=True)
    data = data.encode() if isinstance(data, str) else bytes(data)
    assert len(data) <= MAX, (target, name, len(data))
    (d / name).write_bytes(data)


def reset(crate, target):
    d = REPO / "crates" / crate / "fuzz" / "seeds" / target
    shutil.rmtree(d, ignore_errors=True)


def nals(buf):
    """Annex-B NAL units (without start codes)."""
    out, i, starts = [], 0, []
    while True:
        j = buf.find(b"\x00\x00\x01", i)
        if j < 0:
            break
        starts.append(j + 3)
        i = j + 3
    for k, s in enumerate(starts):
        e = starts[k + 1] - 3 if k + 1 < len(starts) else len(buf)
        n = buf[s:e].rstrip(b"\x00")
        if n:
            out.append(n)
    return out


def annexb(units):
    return b"".join(b"\x00\x00\x00\x01" + n for n in units)


def first_gops(buf, gops):
    """The NAL units of the first `gops` GOPs (each starting at an SPS)."""
    out, seen = [], 0
    for n in nals(buf):
        if n[0] & 0x1F == 7:
            seen += 1
            if seen > gops:
                break
        out.append(n)
    return out


def boxes(data):
    """Top-level ISO BMFF boxes as (type, start, end)."""
    i, out = 0, []
    while i + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        if size == 1:
            size = struct.unpack(">Q", data[i + 8:i + 16])[0]
        if size < 8 or i + size > len(data):
            break
        out.append((kind.decode("latin1"), i, i + size))
        i += size
    return out


def cut_fragments(data, fragments):
    """ftyp + moov and the first `fragments` prft?/moof/mdat groups."""
    keep, mdats = 0, 0
    for kind, _, end in boxes(data):
        keep = end
        if kind == "mdat":
            mdats += 1
            if mdats == fragments:
                break
    return data[:keep]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record(tmp, name, extra):
    """A few seconds of tiny continuous recording; returns the first file's bytes."""
    data = tmp / name
    cfg = tmp / f"{name}.json"
    cfg.write_text(json.dumps({
        "streams": {"stream1": {"width": 320, "height": 180, "fps": 5, "gop": 5, "bitrate_kbps": 64}},
        "recording": {"enabled": True, "streams": [1], "file_seconds": 10}, **extra}))
    p = subprocess.Popen([BIN, "run", "--data", str(data), "--config", str(cfg),
                          "--http", f"127.0.0.1:{free_port()}", "--rtsp", f"127.0.0.1:{free_port()}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            files = sorted((data / "recordings").rglob("*.mp4")) if (data / "recordings").exists() else []
            if files and files[0].stat().st_size > 4096:
                time.sleep(3)
                break
            time.sleep(0.25)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
    files = sorted((data / "recordings").rglob("*.mp4"))
    assert files, f"no recording in {data}"
    return files[0].read_bytes()


def snmp_seeds():
    """What net-snmp's own tools send: v1, v2c GET/GETNEXT/GETBULK/SET, an SNMPv3 discovery probe and
    authPriv requests (user `fuzz`, the password the target's USM user has), caught on a loopback
    socket nothing answers (the tools retry, then give up)."""
    t = "message"
    reset("camward-snmp", t)
    calls = {
        "v1-get": ["snmpget", "-v1", "-c", "public"],
        "v2c-get": ["snmpget", "-v2c", "-c", "public"],
        "v2c-getnext": ["snmpgetnext", "-v2c", "-c", "public"],
        "v2c-bulk": ["snmpbulkget", "-v2c", "-c", "public", "-Cr10"],
        "v3-authpriv-sha256-aes": ["snmpget", "-v3", "-u", "fuzz", "-l", "authPriv", "-a", "SHA-256", "-A",
                                   "fuzz-auth-1", "-x", "AES", "-X", "fuzz-auth-1", "-e", "0x80007ed905010203"],
        "v3-authnopriv-md5": ["snmpget", "-v3", "-u", "fuzz", "-l", "authNoPriv", "-a", "MD5", "-A", "fuzz-auth-1",
                              "-e", "0x80007ed905010203"],
        "v3-discovery": ["snmpget", "-v3", "-u", "fuzz", "-l", "noAuthNoPriv"],
    }
    for name, cmd in calls.items():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.settimeout(5)
            port = s.getsockname()[1]
            p = subprocess.Popen(cmd + ["-r", "0", "-t", "1", f"udp:127.0.0.1:{port}", "1.3.6.1.2.1.1.5.0"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                data, _ = s.recvfrom(65535)
                write("camward-snmp", t, name, data)
            finally:
                p.kill()
                p.wait(timeout=5)


def firmware_seeds():
    """Bundles as `camward firmware pack` writes them (a small payload, so each is whole), signed
    and encrypted-for-a-class, and the manifest JSON alone; the target parses heads and manifests."""
    t = "manifest"
    reset("camward-firmware", t)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        key = tmp / "vendor.key"
        subprocess.run([BIN, "firmware", "keygen", "--out", str(key)], check=True, capture_output=True, timeout=30)
        payload = tmp / "camward"
        payload.write_bytes(b"#!/bin/sh\necho camward\n" * 8)
        payload.chmod(0o755)
        bundle = tmp / "b.cfw"
        subprocess.run([BIN, "firmware", "pack", "--key", str(key), "--version", "0.2.0", "--security-version", "2",
                        str(payload), "-o", str(bundle)], check=True, capture_output=True, timeout=30)
        data = bundle.read_bytes()
        write("camward-firmware", t, "bundle-signed", data[:MAX])
        write("camward-firmware", t, "bundle-truncated", data[: len(data) // 2])
        start = data.find(b"{")
        if start >= 0:
            depth, end = 0, start
            for i in range(start, len(data)):
                depth += {ord("{"): 1, ord("}"): -1}.get(data[i], 0)
                if depth == 0:
                    end = i + 1
                    break
            write("camward-firmware", t, "manifest.json", data[start:end])


def main():
    clip = CLIP.read_bytes()
    signed = SIGNED.read_bytes()
    gop1 = first_gops(clip, 1)
    sps = next(n for n in gop1 if n[0] & 0x1F == 7)
    pps = next(n for n in gop1 if n[0] & 0x1F == 8)

    # camward-h264: annexb
    reset("camward-h264", "annexb")
    write("camward-h264", "annexb", "clip-head.h264", annexb(gop1)[:16384])
    write("camward-h264", "annexb", "parameter-sets.h264", annexb([sps, pps]))
    write("camward-h264", "annexb", "signed-head.h264", annexb(first_gops(signed, 1))[:16384])
    write("camward-h264", "annexb", "three-byte-codes.h264", b"\x00\x00\x01" + sps + b"\x00\x00\x01" + pps)

    # camward-auth: authorization_header
    t = "authorization_header"
    reset("camward-auth", t)
    write("camward-auth", t, "curl-sha256", 'Digest username="installer", realm="camward", '
          'nonce="MTcwMDAwMDAwMDpkZWFkYmVlZg", uri="/api/v1/status", algorithm=SHA-256, '
          'response="5b1c2a7f0e3d4c5b6a79881706f5e4d3c2b1a0f9e8d7c6b5a4938271605f4e3d", qop=auth, '
          'nc=00000001, cnonce="NDdmYzU1ZGI0YjE3"')
    write("camward-auth", t, "requests-md5", 'Digest username="op", realm="camward", nonce="abc123", '
          'uri="/api/v1/snapshot.jpg?stream=1", response="0123456789abcdef0123456789abcdef", '
          'opaque="xyz", algorithm="MD5", qop="auth", nc=0000000a, cnonce="f00d"')
    write("camward-auth", t, "ffmpeg-rtsp", 'Digest username="viewer", realm="camward", nonce="n0nce", '
          'uri="rtsp://127.0.0.1:554/stream1", response="ffffffffffffffffffffffffffffffff"')
    write("camward-auth", t, "basic", "Basic " + base64.b64encode(b"installer:Cam-ward-2026").decode())
    write("camward-auth", t, "escaped-quote", 'Digest username="a\\"b", realm="camward", nonce="x", uri="/", '
          'response="00", userhash=false')

    # camward-rtsp: rtsp_request, tunnel_decoder, sdp
    t = "rtsp_request"
    reset("camward-rtsp", t)
    auth = 'Authorization: Digest username="viewer", realm="camward", nonce="n", uri="rtsp://127.0.0.1/stream1", response="00"\r\n'
    session = ("OPTIONS rtsp://127.0.0.1:554/stream1 RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: Lavf59.27.100\r\n\r\n"
               "DESCRIBE rtsp://127.0.0.1:554/stream1 RTSP/1.0\r\nAccept: application/sdp\r\nCSeq: 2\r\n" + auth + "\r\n"
               "SETUP rtsp://127.0.0.1:554/stream1/trackID=0 RTSP/1.0\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"
               "CSeq: 3\r\n" + auth + "\r\n"
               "PLAY rtsp://127.0.0.1:554/stream1/ RTSP/1.0\r\nRange: npt=0.000-\r\nCSeq: 4\r\nSession: 1A2B3C4D\r\n" + auth + "\r\n")
    write("camward-rtsp", t, "ffmpeg-tcp-session", session)
    write("camward-rtsp", t, "setup-udp", "SETUP rtsp://[::1]:554/stream2/trackID=0 RTSP/1.0\r\nCSeq: 3\r\n"
          "Transport: RTP/AVP;unicast;client_port=50000-50001\r\n\r\n")
    write("camward-rtsp", t, "interleaved-rtcp", b"$\x01\x00\x08\x81\xc9\x00\x01\x00\x00\x00\x01"
          b"GET_PARAMETER rtsp://127.0.0.1/stream1 RTSP/1.0\r\nCSeq: 9\r\nSession: 1A2B3C4D\r\nContent-Length: 0\r\n\r\n")
    write("camward-rtsp", t, "with-body", "SET_PARAMETER rtsp://127.0.0.1/stream1 RTSP/1.0\r\nCSeq: 5\r\n"
          "Content-Type: text/parameters\r\nContent-Length: 12\r\n\r\nbarparam: x\n")
    write("camward-rtsp", t, "tunnel-get", "GET /stream1 HTTP/1.0\r\nx-sessioncookie: 7bd2a3f1\r\n"
          "Accept: application/x-rtsp-tunnelled\r\nPragma: no-cache\r\n\r\n")
    write("camward-rtsp", t, "teardown", "TEARDOWN rtsp://127.0.0.1/stream1 RTSP/1.0\r\nCSeq: 6\r\nSession: 1A2B3C4D\r\n\r\n")

    t = "tunnel_decoder"
    reset("camward-rtsp", t)
    opts = base64.b64encode(b"OPTIONS rtsp://127.0.0.1/stream1 RTSP/1.0\r\nCSeq: 1\r\n\r\n")
    write("camward-rtsp", t, "options", bytes([7]) + opts)
    write("camward-rtsp", t, "options-crlf", bytes([30]) + opts[:20] + b"\r\n" + opts[20:])
    write("camward-rtsp", t, "describe-padded", bytes([3]) + base64.b64encode(session.encode()[:200]))

    t = "sdp"
    reset("camward-rtsp", t)
    body = sps[1:]
    write("camward-rtsp", t, "clip-parameter-sets", bytes([len(body)]) + body + pps[1:])
    write("camward-rtsp", t, "camera-answer",
          "v=0\r\no=- 1700000000 1 IN IP4 192.0.2.10\r\ns=Session streamed by camera\r\nc=IN IP4 0.0.0.0\r\n"
          "t=0 0\r\na=control:*\r\na=range:npt=0-\r\nm=video 0 RTP/AVP 96\r\nb=AS:4000\r\n"
          "a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=4D0029;"
          f"sprop-parameter-sets={base64.b64encode(sps).decode()},{base64.b64encode(pps).decode()}\r\n"
          "a=control:trackID=1\r\nm=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=control:trackID=2\r\n")

    # camward-sign: sei_parse, verify_any, mp4_walk
    reset("camward-sign", "sei_parse")
    seis = [n for n in nals(signed) if n[0] & 0x1F == 6][:4]
    for i, n in enumerate(seis):
        write("camward-sign", "sei_parse", f"signing-sei-{i}", n)
    reset("camward-sign", "verify_any")
    write("camward-sign", "verify_any", "signed-2gops.h264", annexb(first_gops(signed, 2))[:MAX])
    reset("camward-sign", "mp4_walk")

    # camward-cenc: recipient_parser, sample_map, box_walker
    tmp = Path(tempfile.mkdtemp(prefix="camward-seeds-"))
    try:
        key = tmp / "viewer.key"
        out = subprocess.run([BIN, "keygen", "--out", str(key)], capture_output=True, text=True, timeout=30)
        recipient = next(w for w in (out.stdout + out.stderr).split() if w.startswith("cwr1"))
        reset("camward-cenc", "recipient_parser")
        write("camward-cenc", "recipient_parser", "recipient", recipient)
        write("camward-cenc", "recipient_parser", "recipient-upper", recipient.upper())
        write("camward-cenc", "recipient_parser", "identity-file", key.read_text())
        reset("camward-cenc", "sample_map")
        idr = next(n for n in gop1 if n[0] & 0x1F == 5)
        write("camward-cenc", "sample_map", "avcc-idr", struct.pack(">I", len(sps)) + sps +
              struct.pack(">I", len(pps)) + pps + struct.pack(">I", len(idr)) + idr[:4096])

        plain = record(tmp, "plain", {})
        enc = record(tmp, "enc", {"data_encryption": {"enabled": True, "recipients": [recipient]}})
        plain2, enc2 = cut_fragments(plain, 2), cut_fragments(enc, 2)
        reset("camward-record", "recording_scan")
        write("camward-record", "recording_scan", "recording-2-fragments.mp4", plain2[:MAX])
        write("camward-record", "recording_scan", "recording-torn-tail.mp4", plain2[:len(plain2) - 100][:MAX])
        write("camward-record", "recording_scan", "encrypted-2-fragments.mp4", enc2[:MAX])
        reset("camward-cenc", "box_walker")
        write("camward-cenc", "box_walker", "encrypted-2-fragments.mp4", enc2[:MAX])
        write("camward-cenc", "box_walker", "plain-2-fragments.mp4", plain2[:MAX])
        write("camward-sign", "mp4_walk", "fragmented.mp4", plain2[:MAX])
        write("camward-sign", "verify_any", "fragmented.mp4", cut_fragments(plain, 1)[:MAX])
        # A progressive MP4 (moov with sample tables), as a phone or a VMS export writes.
        h264 = tmp / "gop.h264"
        h264.write_bytes(annexb(first_gops(clip, 1)))
        mp4 = tmp / "progressive.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "h264", "-i", str(h264), "-frames:v", "3", "-c", "copy",
                        str(mp4)], check=True, timeout=60)
        write("camward-sign", "mp4_walk", "progressive.mp4", mp4.read_bytes()[:MAX])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # camward-config: config_patch, config_strings
    t = "config_patch"
    reset("camward-config", t)
    populated = (REPO / "crates" / "camward-config" / "testdata" / "populated.json").read_text()
    write("camward-config", t, "populated.json", populated)
    for name, patch in {
        "basic-and-guest": {"user_auth": {"method": "digest_or_basic", "guest": True, "password_change_days": 0}},
        "https": {"https": {"connection": "https", "port": 8443}},
        "host-filter": {"host_auth": {"enabled": True, "allow": ["127.0.0.1", "::1", "192.168.0.0/24"]}},
        "keep-and-clear-secrets": {"smtp": {"password": {"set": True}}, "ftp_client": {"password": {"set": False}}},
        "rtsp-source-object": {"source": {"url": "rtsp://cam@192.0.2.1/s1", "password": "pw"}},
        "null-restores-default": {"recording": None, "streams": {"stream1": {"fps": None}}},
        "alarm": {"alarm": {"vmd": {"enabled": True, "areas": [{"enabled": True, "x": 0, "y": 0, "width": 1,
                                                                  "height": 1, "sensitivity": 10, "threshold": 1}]}}},
    }.items():
        write("camward-config", t, name + ".json", json.dumps(patch))
    t = "config_strings"
    reset("camward-config", t)
    for i, s in enumerate(["192.168.0.100", "192.168.0.0/24", "::1", "2001:db8::/32", " 10.0.0.0/8 ",
                           recipient, "rtsp://user:pass@192.0.2.1:554/stream1", "rtsp://[2001:db8::1]/x",
                           "file:/var/lib/camward/clip.mp4", "v4l2:/dev/video0", "testsrc",
                           (REPO / "crates" / "camward-sign" / "testdata" / "ca.pem").read_text()]):
        write("camward-config", t, f"string-{i}", s)
    snmp_seeds()

    # NTP answers as chrony 4.3 sends them, a client request, the shape of an NTS answer
    # (Unique Identifier, authenticator) and an NTS-KE answer (RFC 8915 records).
    t = "ntp_packet"
    reset("camward-time", t)
    hdr = bytes([0x24, 8, 3, 0xe9]) + b"\0" * 8 + bytes([0x7f, 0x7f, 1, 0]) + struct.pack(
        ">QQQQ", 0xecd633a512345678, 0x0102030405060708, 0xecd633b080000000, 0xecd633b080001000)
    write("camward-time", t, "chrony-answer", hdr)
    write("camward-time", t, "client-request", bytes([0x23]) + b"\0" * 39 + struct.pack(">Q", 0xdeadbeef00000001))

    def ext(kind, v):
        v = v + b"\0" * (-len(v) % 4)
        n = max(16, 4 + len(v))
        return struct.pack(">HH", kind, n) + v + b"\0" * (n - 4 - len(v))
    auth = struct.pack(">HH", 16, 16) + b"\5" * 16 + b"\6" * 16
    write("camward-time", t, "nts-answer-shape", hdr + ext(0x0104, b"\7" * 32) + ext(0x0404, auth))

    def rec(critical, kind, body):
        return struct.pack(">HH", (0x8000 if critical else 0) | kind, len(body)) + body
    write("camward-time", t, "nts-ke-answer", rec(1, 1, b"\0\0") + rec(1, 4, b"\0\x0f") + rec(0, 5, b"C" * 100)
          + rec(0, 7, b"\x2b\x73") + rec(1, 0, b""))
    print("seeds written")


if __name__ == "__main__":
    main()
