"""Helpers for the recording / signing / encryption tests: a CA-provisioned daemon, recording with
small streams, `camward verify`, ffprobe/ffmpeg, and Annex-B access-unit surgery for tamper tests."""
import json
import subprocess
import time
from pathlib import Path

from conftest import BIN, Camward

# Small, fast streams: the tests are about files and signatures, not picture quality.
SMALL = {"streams": {"stream1": {"width": 320, "height": 180, "fps": 10, "gop": 10},
                     "stream2": {"width": 320, "height": 180, "fps": 10, "gop": 10}}}
FILE_SECONDS = 10  # camward-record's minimum file period


def cw(*args, check=False, timeout=120, **kw):
    """Runs the camward binary; returns the CompletedProcess (text)."""
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return p


def provision_ca(tmp: Path, data_dir: Path) -> Path:
    """Does the factory's job before first start: a private CA issues the device certificate.
    Returns the root certificate (the trust anchor `camward verify --ca` takes)."""
    ca = tmp / "ca"
    cw("ca", "init", ca, check=True)
    csr = tmp / "device.csr"
    chain = tmp / "chain.pem"
    cw("identity", "csr", "--data", data_dir, "--out", csr, check=True)
    cw("ca", "issue", ca, "--csr", csr, "--out", chain, check=True)
    cw("identity", "install", "--data", data_dir, chain, check=True)
    return ca / "root.pem"


def start_recording(cam: Camward, extra=None, streams=(1,)):
    patch = json.loads(json.dumps(SMALL))
    patch["recording"] = {"enabled": True, "streams": list(streams), "file_seconds": FILE_SECONDS}
    for k, v in (extra or {}).items():
        if isinstance(v, dict) and isinstance(patch.get(k), dict):
            patch[k].update(v)
        else:
            patch[k] = v
    r = cam.patch_config(patch)
    assert r.status_code == 200, r.text


def recordings(cam: Camward, query="", timeout=30):
    """The recordings list; right after a start the storage may still be checking its files
    (503 with Retry-After), which a client waits out, bounded."""
    deadline = time.monotonic() + timeout
    r = cam.get("/api/v1/recordings" + query)
    while r.status_code == 503 and "Retry-After" in r.headers and time.monotonic() < deadline:
        time.sleep(float(r.headers["Retry-After"]) / 4)
        r = cam.get("/api/v1/recordings" + query)
    assert r.status_code == 200, r.text
    return r.json()


def wait_for_files(cam: Camward, n_finished, timeout=90, stream=None):
    """Waits until at least `n_finished` recordings are finished (bounded)."""
    deadline = time.monotonic() + timeout
    rows = []
    while time.monotonic() < deadline:
        rows = [r for r in recordings(cam) if r["state"] != "recording" and (stream is None or r["stream"] == stream)]
        if len(rows) >= n_finished:
            return rows
        time.sleep(0.5)
    raise AssertionError(f"only {len(rows)} finished recordings after {timeout} s: {rows}")


def download(cam: Camward, rec_id, dest: Path) -> Path:
    r = cam.get(f"/api/v1/recordings/{rec_id}.mp4", timeout=60)
    assert r.status_code == 200, r.text
    dest.write_bytes(r.content)
    return dest


def verify(path, ca=None, identity=None, at=None):
    """`camward verify --json`; returns (exit code, report dict or None, stderr)."""
    args = ["verify", path, "--json"]
    if ca:
        args += ["--ca", ca]
    if identity:
        args += ["--identity", identity]
    if at:
        args += ["--at", at]
    p = cw(*args)
    report = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, report, p.stderr


def verify_text(path, ca=None):
    args = ["verify", path] + (["--ca", ca] if ca else [])
    p = cw(*args)
    return p.returncode, p.stdout + p.stderr


def ffprobe_frames(path, extra=()):
    """Decodes every frame; returns (exit code, decoded frame count, stderr)."""
    p = subprocess.run(["ffprobe", "-v", "error", *extra, "-count_frames", "-select_streams", "v:0",
                        "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
                       capture_output=True, text=True, timeout=120)
    try:
        n = int(p.stdout.strip().split(",")[0])
    except ValueError:
        n = 0
    return p.returncode, n, p.stderr


def to_annexb(mp4: Path, out: Path) -> Path:
    p = subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(mp4), "-c", "copy", "-f", "h264", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return out


def framemd5(args):
    """`ffmpeg ARGS -f framemd5 -`: per-frame hashes only (header lines dropped)."""
    p = subprocess.run(["ffmpeg", "-v", "error", *args, "-an", "-f", "framemd5", "-"],
                       capture_output=True, text=True, timeout=180)
    lines = [ln.split(",")[-1].strip() for ln in p.stdout.splitlines() if ln and not ln.startswith("#")]
    return p.returncode, lines, p.stderr


# --- Annex-B access units ---------------------------------------------------------------------

def split_nals(data: bytes):
    """NAL units with their start codes, in order."""
    starts = []
    i, n = 0, len(data)
    while i + 3 <= n:
        if data[i] == 0 and data[i + 1] == 0 and data[i + 2] == 1:
            s = i - 1 if i > 0 and data[i - 1] == 0 else i
            starts.append((s, i + 3))
            i += 3
        else:
            i += 1
    out = []
    for k, (s, h) in enumerate(starts):
        e = starts[k + 1][0] if k + 1 < len(starts) else n
        out.append((data[s:h], data[h:e]))
    return out


def nal_type(nal: bytes):
    return nal[0] & 0x1F


def first_mb_zero(nal: bytes):
    # first_mb_in_slice is the first ue(v) after the 1-byte header: 0 is coded as a single 1 bit.
    return len(nal) > 1 and (nal[1] & 0x80) != 0


def access_units(data: bytes):
    """Groups NALs into access units: each picture's first slice starts a new unit, and the
    non-VCL NALs (SPS, PPS, SEI, AUD) right before it belong to it."""
    aus, cur, seen_slice = [], [], False
    for sc, nal in split_nals(data):
        t = nal_type(nal)
        vcl = t in (1, 5)
        starts_new = (vcl and first_mb_zero(nal) and seen_slice) or (not vcl and t in (6, 7, 8, 9) and seen_slice)
        if starts_new:
            aus.append(cur)
            cur, seen_slice = [], False
        cur.append((sc, nal))
        if vcl:
            seen_slice = True
    if cur:
        aus.append(cur)
    return aus


def is_idr(au):
    return any(nal_type(n) == 5 for _, n in au)


def join_aus(aus):
    return b"".join(sc + nal for au in aus for sc, nal in au)


def slice_of(au):
    """Index (within the AU) of its first slice NAL."""
    return next(i for i, (_, n) in enumerate(au) if nal_type(n) in (1, 5))


def gops_of(aus):
    """Frame index ranges [start, end) per GOP (each starting at an IDR)."""
    starts = [i for i, au in enumerate(aus) if is_idr(au)]
    return [(s, starts[k + 1] if k + 1 < len(starts) else len(aus)) for k, s in enumerate(starts)]
