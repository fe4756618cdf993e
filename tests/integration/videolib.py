"""Video clients for the integration tests (camera core, paper §4.4): time-bound ffmpeg/ffprobe runs,
RSS readings, snapshots, and a minimal raw RTSP client (Digest MD5) for checks ffmpeg can't make.
Daemons, URLs and waits come from conftest.py."""
import hashlib
import os
import socket
import subprocess
import time
from pathlib import Path

import requests


def decode(url, transport="tcp", frames=10, timeout=40):
    """Decodes `frames` frames with ffmpeg; returns (exit code, frames decoded, stderr)."""
    p = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", transport, "-i", url,
         "-frames:v", str(frames), "-f", "framecrc", "-"],
        capture_output=True, text=True, timeout=timeout)
    n = sum(1 for line in p.stdout.splitlines() if line and not line.startswith("#"))
    return p.returncode, n, p.stderr


def probe_size(url, transport="tcp", timeout=40):
    """(exit code, (width, height) or None, output) of the first video stream, by ffprobe."""
    p = subprocess.run(
        ["ffprobe", "-v", "error", "-rtsp_transport", transport, "-select_streams", "v:0",
         "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", url],
        capture_output=True, text=True, timeout=timeout)
    out = p.stdout + p.stderr
    size = None
    if p.returncode == 0 and p.stdout.startswith("h264,"):
        _, w, h = p.stdout.strip().split(",")[:3]
        size = (int(w), int(h))
    return p.returncode, size, out


def jpeg_size(data: bytes, tmp: Path):
    """Decodes a JPEG with ffmpeg (fails the test if it does not decode) and returns (w, h)."""
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9", "not a complete JPEG"
    f = tmp / f"probe-{time.monotonic_ns()}.jpg"
    f.write_bytes(data)
    p = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(f), "-f", "null", "-"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0 and not p.stderr.strip(), p.stderr
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height",
                        "-of", "csv=p=0", str(f)], capture_output=True, text=True, timeout=20)
    codec, w, h = p.stdout.strip().split(",")[:3]
    assert codec == "mjpeg", p.stdout
    return int(w), int(h)


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def snapshot(cam, query, auth=None, timeout=15):
    """GET the snapshot, retrying while the stream is still starting (503 not_ready)."""
    deadline = time.monotonic() + 15
    while True:
        r = requests.get(cam.url(f"/api/v1/snapshot.jpg?{query}"), auth=auth or cam.admin(), timeout=timeout)
        if r.status_code != 503 or time.monotonic() > deadline:
            return r
        time.sleep(0.3)


def read_parts(resp, count, limit=8 << 20):
    """The first `count` parts of a multipart/x-mixed-replace body, each by its Content-Length."""
    boundary = resp.headers["content-type"].split("boundary=")[1].encode()
    buf = b""
    it = resp.iter_content(chunk_size=16384)
    parts = []
    while len(parts) < count:
        while b"\r\n\r\n" not in buf:
            buf += next(it)
            assert len(buf) < limit
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        assert lines[0].lstrip(b"\r\n") == b"--" + boundary, lines[0]
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
        assert headers[b"content-type"] == b"image/jpeg"
        n = int(headers[b"content-length"])
        while len(buf) < n + 2:
            buf += next(it)
            assert len(buf) < limit
        parts.append(buf[:n])
        assert buf[n:n + 2] == b"\r\n"
        buf = buf[n + 2:]
    return parts


class RawRtsp:
    """One RTSP/TCP connection speaking just enough RTSP (Digest MD5, qop=auth) for tests and the bench."""

    def __init__(self, host, port, source=None, timeout=10):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.host, self.port = host, port
        self.cseq = 0
        self.buf = b""
        self.nc = 0
        self.challenge = None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _read_response(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by server")
            self.buf += chunk
            # Interleaved RTP may precede a response once playing: skip `$` frames.
            while self.buf[:1] == b"$" and len(self.buf) >= 4:
                n = int.from_bytes(self.buf[2:4], "big")
                if len(self.buf) < 4 + n:
                    break
                self.buf = self.buf[4 + n:]
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.setdefault(k.strip().lower(), []).append(v.strip())
        n = int(headers.get("content-length", ["0"])[0])
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by server")
            self.buf += chunk
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def _authorization(self, method, uri, user, password):
        if not self.challenge:
            return None
        params = {}
        for part in self.challenge[len("Digest "):].split(","):
            k, _, v = part.strip().partition("=")
            params[k] = v.strip('"')
        self.nc += 1
        nc = f"{self.nc:08x}"
        cnonce = os.urandom(8).hex()
        md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
        ha1 = md5(f"{user}:{params['realm']}:{password}")
        ha2 = md5(f"{method}:{uri}")
        resp = md5(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}")
        return (f'Digest username="{user}", realm="{params["realm"]}", nonce="{params["nonce"]}", uri="{uri}", '
                f'algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}", response="{resp}"')

    def request(self, method, uri, user=None, password=None, headers=None):
        """Sends one request, answering one 401 with Digest MD5; returns (status, headers, body)."""
        for _ in range(2):
            self.cseq += 1
            lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self.cseq}"]
            auth = self._authorization(method, uri, user, password) if user else None
            if auth:
                lines.append(f"Authorization: {auth}")
            for k, v in (headers or {}).items():
                lines.append(f"{k}: {v}")
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            status, h, body = self._read_response()
            if status == 401 and user and not auth:
                md5 = [c for c in h.get("www-authenticate", []) if "MD5" in c]
                self.challenge = md5[0] if md5 else None
                self.nc = 0
                continue
            return status, h, body
        return status, h, body

    def play_interleaved(self, path, user, password):
        """DESCRIBE, SETUP (interleaved 0-1), PLAY; returns the session id."""
        uri = f"rtsp://{self.host}:{self.port}{path}"
        st, h, body = self.request("DESCRIBE", uri, user, password, {"Accept": "application/sdp"})
        if st != 200:
            raise ConnectionError(f"DESCRIBE {st}")
        base = h.get("content-base", [uri + "/"])[0]
        # The media-level control (the last a=control) is the track to set up.
        controls = [ln.split(":", 1)[1].strip() for ln in body.decode().splitlines() if ln.startswith("a=control:")]
        control = controls[-1] if controls else "*"
        track = control if control.startswith("rtsp://") else base.rstrip("/") + "/" + control
        if control == "*":
            track = uri
        st, h, _ = self.request("SETUP", track, user, password,
                                {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
        if st != 200:
            raise ConnectionError(f"SETUP {st}")
        session = h["session"][0].split(";")[0]
        st, _, _ = self.request("PLAY", uri, user, password, {"Session": session, "Range": "npt=0.000-"})
        if st != 200:
            raise ConnectionError(f"PLAY {st}")
        return session
