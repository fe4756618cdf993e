"""Helpers for the recording / signing / encryption tests: a CA-provisioned daemon, recording with
small streams, `camward verify`, ffprobe/ffmpeg, and Annex-B access-unit surgery for tamper tests."""
import ctypes
import json
import os
import re
import subprocess
import tempfile
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


# --- the ONVIF reference validator as the oracle (paper §3.9) ------------------------------------
# The `validator` example app of onvif/media-signing-framework r25.12.3, built by the shared script
# (scripts/test exports its path). Its batch summary gives the verdict; its continuous output (one
# `nalus`/`valid` pair per SEI, validated items dropped after each report) gives the status of
# every NAL unit it saw, folded here into one status per frame ('.' valid, 'N' not authentic,
# 'P' pending) plus the places it reports missing NAL units.

REPO = Path(__file__).resolve().parents[2]
VALIDATOR_BUILD = REPO.parent / "shared" / "tools" / "onvif-media-signing" / "build"
# The batch summary's second status line. Signed but no GOP validated (authenticity "not
# feasible") comes out as "PUBLIC KEY COULD NOT BE VALIDATED!" in that place.
REFERENCE_VIDEO = {"VIDEO IS VALID!": "valid", "VIDEO IS VALID, BUT HAS MISSING FRAMES!": "missing",
                   "VIDEO IS INVALID!": "invalid", "VIDEO IS NOT SIGNED!": "unsigned",
                   "PUBLIC KEY COULD NOT BE VALIDATED!": "pending"}
# camward's verdicts in the reference's classes (exit code 1 covers altered, reordered, missing).
CAMWARD_CLASS = {"authentic": "valid", "missing_frames": "missing", "altered": "invalid",
                 "reordered": "invalid", "unsigned": "unsigned", "pending": "pending",
                 "not_verifiable": "not_verifiable"}
_REPORT = re.compile(r"nalus : ([^\n]*)\n\w+\s*: ([^\n]*)")


def reference_validator():
    """Path of the reference `validator`: $ONVIF_MEDIA_SIGNING_VALIDATOR, else the shared build
    script's output (it builds once, then answers at once)."""
    path = os.environ.get("ONVIF_MEDIA_SIGNING_VALIDATOR")
    if not path:
        p = subprocess.run([str(VALIDATOR_BUILD)], capture_output=True, text=True, timeout=900)
        assert p.returncode == 0, f"building the ONVIF reference validator failed:\n{p.stderr[-3000:]}"
        path = p.stdout.strip().splitlines()[-1]
        os.environ["ONVIF_MEDIA_SIGNING_VALIDATOR"] = path
    return path


def _run_validator(path: Path, ca: Path, batch: bool):
    with tempfile.TemporaryDirectory(prefix="oms-") as d:
        args = [reference_validator(), *(["-b"] if batch else []), "-C", str(Path(ca).resolve()),
                "-c", "h264", str(Path(path).resolve())]
        p = subprocess.run(args, cwd=d, capture_output=True, text=True, timeout=300)
        res = Path(d) / "validation_results.txt"
        return (res.read_text() if res.exists() else ""), p.stdout + p.stderr


def _summary(text):
    out = {"lines": []}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("VIDEO", "PUBLIC", "NO COMPLETE")):
            out["lines"].append(line)
        m = re.match(r"Number of ([A-Za-z ]+?)\s*: (-?\d+)", line)
        if m:
            out[m.group(1).lower().replace(" ", "_")] = int(m.group(2))
    return out


def reference_report(path, ca):
    """The reference validator's view of a file: {'video': class ('valid', 'missing', 'invalid',
    'unsigned' or the raw line), 'key': provenance line, 'counts': batch counts, 'frames':
    per-frame status string, 'missing': {after_frame: count}, 'summary': batch text}."""
    batch, _ = _run_validator(path, ca, True)
    _, out = _run_validator(path, ca, False)
    s = _summary(batch)
    final, types, missing_before = {}, {}, []
    base = 0
    for nalus, valid in _REPORT.findall(out):
        k, deciding = 0, True
        for t, st in zip(nalus, valid):
            deciding = deciding and st != "P"
            if t == " ":  # a placeholder the validator inserted for missing NAL units
                if deciding:
                    missing_before.append(base + k)
                continue
            types[base + k] = t
            if deciding:
                final[base + k] = st
            k += 1
        cut = valid.index("P") if "P" in valid else len(valid)
        base += sum(1 for t in nalus[:cut] if t != " ")
    frame_of, f = {}, -1
    for i in sorted(types):
        if types[i] in "IP":  # primary slice: a new frame
            f += 1
        if types[i] in "IPip" and f >= 0:
            frame_of[i] = f
    per_frame = {}
    for i, fr in frame_of.items():
        per_frame.setdefault(fr, []).append(final.get(i, "P"))
    fold = lambda sts: next((c for c in "ENUP" if c in sts), ".")
    frames = [fold(per_frame[k]) for k in sorted(per_frame)]
    frames += ["P"] * (s.get("received_frames", len(frames)) - len(frames))
    missing = {}
    for nxt in missing_before:
        before = [fr for i, fr in frame_of.items() if i < nxt]
        after = max(before) if before else None
        missing[after] = missing.get(after, 0) + 1
    key, video = (s["lines"] + [None, None])[:2]
    return {"video": REFERENCE_VIDEO.get(video, video), "key": key,
            "counts": s, "frames": "".join(frames), "missing": missing, "summary": batch}


def camward_frames(rep, n):
    """camward's report in the oracle's terms: per-frame status string ('.', 'N', 'P') and
    {after_frame: missing count}. Frames of a GOP whose signature is missing count as 'N'."""
    st = ["."] * max(n, rep["counts"]["received_frames"])
    missing = {}
    for g in rep["gops"]:
        if g["frames"] and g["verdict"] in ("pending", "unsigned"):
            lo, hi = g["frames"]
            for f in range(lo, hi + 1):
                st[f] = "P" if g["verdict"] == "pending" or rep["verdict"] == "unsigned" else "N"
        for f in g["altered_frames"]:
            st[f] = "N"
        for m in g["missing"]:
            missing[m["after_frame"]] = missing.get(m["after_frame"], 0) + m["count"]
    return "".join(st), missing


def signed_timestamps(annexb: Path, ca: Path):
    """(first, last) signed timestamps of an Annex-B file as the reference *library* reports them
    (accumulated first_timestamp / last_timestamp, 100 ns since 1601), converted to Unix seconds.
    Read through ctypes: the example app's summary prints these dates wrongly."""
    lib_dir = Path(reference_validator()).resolve().parent.parent
    so = sorted(lib_dir.glob("lib*/**/libmedia-signing-framework.so*")) + sorted(lib_dir.glob("lib*/libmedia-signing-framework.so*"))
    assert so, f"libmedia-signing-framework.so not found under {lib_dir}"
    lib = ctypes.CDLL(str(so[0]))

    class Vendor(ctypes.Structure):
        _fields_ = [("firmware_version", ctypes.c_char * 256), ("serial_number", ctypes.c_char * 256),
                    ("manufacturer", ctypes.c_char * 256)]

    class Latest(ctypes.Structure):
        _fields_ = [("authenticity_and_provenance", ctypes.c_int), ("provenance", ctypes.c_int),
                    ("public_key_has_changed", ctypes.c_bool), ("authenticity", ctypes.c_int),
                    ("expected", ctypes.c_int), ("received", ctypes.c_int), ("pending", ctypes.c_int),
                    ("validation_str", ctypes.c_char_p), ("nalu_str", ctypes.c_char_p),
                    ("start_timestamp", ctypes.c_int64), ("end_timestamp", ctypes.c_int64)]

    class Accumulated(ctypes.Structure):
        _fields_ = [("authenticity_and_provenance", ctypes.c_int), ("provenance", ctypes.c_int),
                    ("public_key_has_changed", ctypes.c_bool), ("authenticity", ctypes.c_int),
                    ("received_nalus", ctypes.c_uint), ("validated_nalus", ctypes.c_uint),
                    ("pending_nalus", ctypes.c_uint), ("received_frames", ctypes.c_uint),
                    ("validated_frames", ctypes.c_uint), ("pending_frames", ctypes.c_uint),
                    ("first_timestamp", ctypes.c_int64), ("last_timestamp", ctypes.c_int64)]

    class Authenticity(ctypes.Structure):
        _fields_ = [("version_on_signing_side", ctypes.c_char_p), ("this_version", ctypes.c_char_p),
                    ("vendor_info", Vendor), ("latest_validation", Latest),
                    ("accumulated_validation", Accumulated)]

    lib.onvif_media_signing_create.restype = ctypes.c_void_p
    lib.onvif_media_signing_create.argtypes = [ctypes.c_int]
    lib.onvif_media_signing_set_trusted_certificate.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.onvif_media_signing_add_nalu_and_authenticate.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                                                  ctypes.c_size_t, ctypes.c_void_p]
    lib.onvif_media_signing_get_authenticity_report.restype = ctypes.POINTER(Authenticity)
    lib.onvif_media_signing_get_authenticity_report.argtypes = [ctypes.c_void_p]
    lib.onvif_media_signing_authenticity_report_free.argtypes = [ctypes.POINTER(Authenticity)]
    lib.onvif_media_signing_free.argtypes = [ctypes.c_void_p]
    oms = lib.onvif_media_signing_create(0)  # OMS_CODEC_H264
    pem = Path(ca).read_bytes()
    try:
        assert lib.onvif_media_signing_set_trusted_certificate(oms, pem, len(pem)) == 0
        for sc, nal in split_nals(Path(annexb).read_bytes()):
            data = sc + nal
            lib.onvif_media_signing_add_nalu_and_authenticate(oms, data, len(data), None)
        rep = lib.onvif_media_signing_get_authenticity_report(oms)
        acc = rep.contents.accumulated_validation
        first, last = acc.first_timestamp, acc.last_timestamp
        lib.onvif_media_signing_authenticity_report_free(rep)
    finally:
        lib.onvif_media_signing_free(oms)
    to_unix = lambda ft: ft / 1e7 - 11_644_473_600
    return to_unix(first), to_unix(last)
