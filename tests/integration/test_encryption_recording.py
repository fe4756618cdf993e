"""Encrypted recording (paper §3.8) against the built daemon: viewer keys from `camward keygen`
set through PATCH, recordings written as CENC fMP4 wrapped to two viewers; ffmpeg with the key gives the
same frames as `camward decrypt`; no key, no picture; neither the key nor clear slice bytes are in the
file; a third identity is refused without leftovers; a flipped ciphertext byte fails verification."""
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Camward, needs
from recording_util import (access_units, cw, download, ffprobe_frames, framemd5, nal_type, provision_ca,
                            recordings, start_recording, to_annexb, verify, wait_for_files)

pytestmark = needs("ffmpeg", "ffprobe")


def keygen(path: Path) -> str:
    p = cw("keygen", "--out", path, check=True)
    rec = p.stdout.strip()
    assert rec.startswith("cwr1"), p.stdout
    return rec


@pytest.fixture(scope="module")
def enc(tmp_path_factory):
    """A CA-provisioned camera recording Stream(1) encrypted to viewers v1 and v2 (v3 is not one)."""
    tmp = tmp_path_factory.mktemp("enc")
    data = tmp / "data"
    root = provision_ca(tmp, data)
    keys = {n: tmp / f"{n}.key" for n in ("v1", "v2", "v3")}
    recips = {n: keygen(p) for n, p in keys.items()}
    cam = Camward(data).start()
    try:
        cam.setup_admin()
        start_recording(cam, extra={"data_encryption": {"enabled": True, "recipients": [recips["v1"], recips["v2"]]}})
        rows = wait_for_files(cam, 1)
        row = rows[0]
        f = download(cam, row["id"], tmp / "enc.mp4")
        clear = tmp / "clear.mp4"
        cw("decrypt", f, "--identity", keys["v1"], "-o", clear, check=True)
        yield {"cam": cam, "tmp": tmp, "root": root, "keys": keys, "recips": recips, "row": row,
               "enc": f, "clear": clear}
    finally:
        cam.stop()


def test_invalid_recipient_is_refused_with_its_field(enc):
    cam = enc["cam"]
    r = cam.patch_config({"data_encryption": {"enabled": True, "recipients": [enc["recips"]["v1"], "cwr1notakey"]}})
    assert r.status_code == 422, r.text
    assert "data_encryption.recipients[1]" in r.text, r.text
    r = cam.patch_config({"data_encryption": {"enabled": True, "recipients": []}})
    assert r.status_code == 422 and "data_encryption.recipients" in r.text, r.text


def test_recording_is_indexed_encrypted_and_signed(enc):
    assert enc["row"]["encrypted"] and enc["row"]["signed"], enc["row"]
    head = enc["enc"].read_bytes()[:4096]
    assert b"encv" in head and b"pssh" in head and b"tenc" in head


def test_ffmpeg_with_the_key_matches_camward_decrypt(enc):
    key = cw("keys", enc["enc"], "--identity", enc["keys"]["v1"], check=True).stdout.strip()
    assert len(key) == 32 and int(key, 16) >= 0, key
    # -seekable 0: ffmpeg 5.1 misapplies senc on seekable multi-fragment input (encryption.md).
    rc, direct, err = framemd5(["-seekable", "0", "-decryption_key", key, "-i", str(enc["enc"])])
    assert rc == 0 and len(direct) == enc["row"]["frames"], err
    rc, viaclear, err = framemd5(["-i", str(enc["clear"])])
    assert rc == 0 and viaclear == direct, err
    # Without the key the pictures do not decode to the same frames (or do not decode at all).
    rc, nokey, err = framemd5(["-i", str(enc["enc"])])
    assert rc != 0 or nokey != direct
    # A wrong key is no better.
    rc, wrong, err = framemd5(["-seekable", "0", "-decryption_key", "00" * 16, "-i", str(enc["enc"])])
    assert rc != 0 or wrong != direct


def test_file_holds_neither_key_nor_clear_slices(enc):
    data = enc["enc"].read_bytes()
    key = cw("keys", enc["enc"], "--identity", enc["keys"]["v1"], check=True).stdout.strip()
    assert bytes.fromhex(key) not in data and key.encode() not in data and key.upper().encode() not in data
    aus = access_units(to_annexb(enc["clear"], enc["tmp"] / "clear.h264").read_bytes())
    slices = [nal for au in aus for _, nal in au if nal_type(nal) in (1, 5) and len(nal) > 80]
    assert len(slices) >= 10
    for nal in slices:
        tail = nal[-32:]  # protected: CENC leaves only the header and the first (len mod 16) bytes clear
        assert tail not in data, "a clear slice payload is in the encrypted file"
    # The signature SEIs stay readable without a key (ONVIF UUID).
    assert bytes.fromhex("005bc93f2d715e95ada4796f90877a6f") in data


def test_decrypted_file_verifies_and_plays(enc):
    rc, rep, err = verify(enc["clear"], ca=enc["root"])
    assert rc == 0 and rep["verdict"] == "authentic", (err, rep and rep["gops"])
    rc, n, err = ffprobe_frames(enc["clear"])
    assert rc == 0 and n == enc["row"]["frames"], err
    # The encrypted file itself verifies with a viewer identity (decrypted in memory).
    rc, rep, err = verify(enc["enc"], ca=enc["root"], identity=enc["keys"]["v2"])
    assert rc == 0 and rep["verdict"] == "authentic", (err, rep and rep["gops"])


def test_either_recipient_decrypts_a_third_does_not(enc):
    tmp = enc["tmp"]
    out2 = tmp / "clear-v2.mp4"
    cw("decrypt", enc["enc"], "--identity", enc["keys"]["v2"], "-o", out2, check=True)
    assert out2.read_bytes() == enc["clear"].read_bytes()
    out3 = tmp / "clear-v3.mp4"
    p = cw("decrypt", enc["enc"], "--identity", enc["keys"]["v3"], "-o", out3)
    assert p.returncode != 0 and "identity" in p.stderr, p.stderr
    assert not out3.exists()
    assert not [x for x in tmp.iterdir() if x.name.startswith("clear-v3") or ".tmp" in x.name]
    assert cw("keys", enc["enc"], "--identity", enc["keys"]["v3"]).returncode != 0
    rc, rep, err = verify(enc["enc"], identity=enc["keys"]["v3"])
    assert rc == 3, (rc, err)


def test_flipped_ciphertext_byte_is_caught_by_verify(enc):
    tmp = enc["tmp"]
    clear = enc["clear"].read_bytes()
    aus = access_units(to_annexb(enc["clear"], tmp / "clear2.h264").read_bytes())
    # A P slice of the second GOP; decryption keeps every byte offset, so its place in the clear
    # file is its place in the encrypted one.
    nal = [n for _, n in aus[15] if nal_type(n) == 1][0]
    at = clear.find(nal[-40:])
    assert at > 0
    data = bytearray(enc["enc"].read_bytes())
    data[at + 20] ^= 0x01
    bad = tmp / "flipped.mp4"
    bad.write_bytes(bytes(data))
    rc, rep, err = verify(bad, ca=enc["root"], identity=enc["keys"]["v1"])
    assert rc == 1 and rep["verdict"] == "altered", (rc, err, rep and rep["gops"])
    altered = [g for g in rep["gops"] if g["verdict"] == "altered"]
    assert altered and altered[0]["altered_frames"] == [15], altered


def test_encryption_off_records_clear_again(enc):
    cam = enc["cam"]
    before = {r["id"] for r in recordings(cam)}
    r = cam.patch_config({"data_encryption": {"enabled": False}})
    assert r.status_code == 200, r.text
    # The file open at the PATCH finishes encrypted, and so may one the recorder rotated into just
    # before the change reached it; after those, files are recorded in clear.
    deadline = time.monotonic() + 60
    new = []
    while time.monotonic() < deadline and not any(not x["encrypted"] for x in new):
        new = [x for x in recordings(cam) if x["id"] not in before and x["state"] != "recording"]
        time.sleep(0.5)
    clear = [x for x in new if not x["encrypted"]]
    assert clear, new
    assert all(x["encrypted"] for x in new if x["id"] < clear[0]["id"]) and all(
        not x["encrypted"] for x in new if x["id"] > clear[0]["id"]), new
    new = clear
    f = download(cam, new[-1]["id"], enc["tmp"] / "after.mp4")
    assert ffprobe_frames(f)[0] == 0
    assert subprocess.run(["ffprobe", "-v", "error", str(f)]).returncode == 0
