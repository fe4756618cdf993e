"""GET /api/v1/recordings/{id}/verification: the camera's own check of a recording's signatures
(paper §3.9), as the Recordings page shows it, agreeing with `camward verify` on the same file:
authentic, altered at a frame once a byte of a picture changes on disk, unsigned with alteration
detection off, and "encrypted" — never decrypted on the camera (§3.8) — with encryption on."""
import json
from pathlib import Path

from conftest import needs, start_cam, wait_for
from recording_util import SMALL, cw, download, recordings, start_recording, wait_for_files


def verification(cam, rec_id):
    r = cam.get(f"/api/v1/recordings/{rec_id}/verification", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def stored_file(cam, rec_id) -> Path:
    return next((cam.data_dir / "recordings").glob(f"stream*/*_{rec_id:06d}*.mp4"))


@needs("ffprobe")
def test_verdicts_follow_the_file_and_agree_with_camward_verify(tmp_path):
    cam = start_cam(tmp_path / "data", SMALL)
    try:
        start_recording(cam)
        first = wait_for_files(cam, 1)[0]
        v = verification(cam, first["id"])
        assert v["verdict"] == "authentic" and not v["partial"], v
        assert v["signer"]["this_camera"] and v["signer"]["trust"] == "self_signed"
        assert v["frames"] == first["frames"]
        clean = download(cam, first["id"], tmp_path / "clean.mp4")
        assert json.loads(cw("verify", "--json", clean).stdout)["verdict"] == "authentic", "camward verify agrees"

        # One byte of a picture changed on the card: the camera checks the file again.
        path = stored_file(cam, first["id"])
        data = bytearray(path.read_bytes())
        at = data.find(b"mdat", len(data) // 2)
        data[at + 200] ^= 0xFF
        path.write_bytes(bytes(data))
        v = verification(cam, first["id"])
        assert v["verdict"] == "altered" and v["first_altered_frame"] >= 1, v
        assert f"frame {v['first_altered_frame']}" in v["message"]
        altered = download(cam, first["id"], tmp_path / "altered.mp4")
        assert cw("verify", altered).returncode == 1, "camward verify agrees: altered"
        assert json.loads(cw("verify", "--json", altered).stdout)["verdict"] == "altered"

        # A file being written is authentic so far.
        current = wait_for(lambda: next((r for r in recordings(cam) if r["state"] == "recording" and r["frames"]), None),
                           30, step=0.25, what="a file being written")
        v = verification(cam, current["id"])
        assert v["partial"] and v["verdict"] in ("authentic", "pending"), v

        # Alteration detection off: the next file is unsigned.
        assert cam.patch_config({"alteration_detection": {"enabled": False}}).status_code == 200
        unsigned = wait_for(lambda: next((r for r in recordings(cam) if not r["signed"] and r["state"] != "recording"),
                                         None), 90, step=0.5, what="an unsigned finished recording")
        assert verification(cam, unsigned["id"])["verdict"] == "unsigned"

        # Encryption on: the camera does not open the file to check it.
        out = cw("keygen", "--data", cam.data_dir, "--out", tmp_path / "viewer.key", check=True)
        recipient = next(w for w in (out.stdout + out.stderr).split() if w.startswith("cwr1"))
        assert cam.patch_config({"alteration_detection": {"enabled": True},
                                 "data_encryption": {"enabled": True, "recipients": [recipient]}}).status_code == 200
        enc = wait_for(lambda: next((r for r in recordings(cam) if r["encrypted"]), None), 60, step=0.5,
                       what="an encrypted recording")
        v = verification(cam, enc["id"])
        assert v["verdict"] == "encrypted" and "camward decrypt" in v["message"], v
        assert cam.get("/api/v1/recordings/999999/verification").status_code == 404
    finally:
        cam.stop()
