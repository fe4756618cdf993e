//! Real-peer proof of the format: ffmpeg (mov demuxer, `-decryption_key`) decrypts what
//! camward-cenc encrypts, frame for frame, and camward's own decryptor restores the samples.
//! Skipped (with a message) where ffmpeg is not installed; failed under CI=true.

use camward_cenc::bmff::{self, children};
use camward_cenc::{Error, Identity, content_key, decrypt_file, decrypt_to_vec, encrypt_fmp4};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn have_ffmpeg() -> bool {
    camward_testkit::have("ffmpeg")
}

/// ffmpeg bounded in time: a hung decoder must fail the test, not the CI run.
fn ffmpeg(args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("120")
        .arg("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error"])
        .args(args)
        .output()
        .expect("running ffmpeg")
}

fn ok(o: Output, what: &str) -> Vec<u8> {
    assert!(
        o.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// The per-frame lines of `-f framemd5` (comments dropped: they only describe the stream).
///
/// Encrypted multi-fragment files are read with `-seekable 0`: ffmpeg 5.1 (Debian 12) parses
/// every `moof` up front on a seekable file and then applies the *last* fragment's `senc` to
/// every packet (`cenc_filter` uses `frag_index.current`); reading sequentially avoids that bug.
/// `single_fragment_file_decrypts_with_plain_ffmpeg` shows the plain command on a file it handles.
fn framemd5(file: &Path, key: Option<&str>) -> Result<Vec<String>, String> {
    framemd5_with(file, key, &["-seekable", "0"])
}

fn framemd5_with(
    file: &Path,
    key: Option<&str>,
    input_opts: &[&str],
) -> Result<Vec<String>, String> {
    let mut args: Vec<&str> = input_opts.to_vec();
    if let Some(k) = key {
        args.extend(["-decryption_key", k]);
    }
    let f = file.to_str().unwrap();
    args.extend(["-i", f, "-f", "framemd5", "-"]);
    let o = ffmpeg(&args);
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// Every sample of every fragment, in order, via the crate's own box walker.
fn samples(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for moof in children(data, 0)
        .unwrap()
        .iter()
        .filter(|b| &b.typ == b"moof")
    {
        let mut implicit = moof.offset;
        for traf in children(moof.body(), moof.body_offset())
            .unwrap()
            .iter()
            .filter(|b| &b.typ == b"traf")
        {
            let kids = children(traf.body(), traf.body_offset()).unwrap();
            let l = bmff::traf_layout(&kids, moof.offset, implicit, None).unwrap();
            implicit = l.data_end;
            for (off, len) in l.samples {
                out.push(data[off as usize..(off + len) as usize].to_vec());
            }
        }
    }
    out
}

struct Clip {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    annexb: Vec<u8>,
    clear: PathBuf,
}

fn make_clip() -> Clip {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let x264 = d.join("x.264");
    let clear = d.join("clear.mp4");
    // The first 3 s of the checked-in clip (testdata/README.md).
    std::fs::write(&x264, camward_testkit::clip(3)).unwrap();
    ok(
        ffmpeg(&[
            "-i",
            x264.to_str().unwrap(),
            "-c",
            "copy",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            "-y",
            clear.to_str().unwrap(),
        ]),
        "muxing clear.mp4",
    );
    Clip {
        annexb: std::fs::read(&x264).unwrap(),
        _dir: dir,
        dir: d,
        clear,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn ffmpeg_decrypts_camward_cenc_frame_for_frame() {
    if !have_ffmpeg() {
        return;
    }
    let clip = make_clip();
    let clear_bytes = std::fs::read(&clip.clear).unwrap();
    let (a, b, stranger) = (
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
    );
    let enc_bytes = encrypt_fmp4(&clear_bytes, &[a.recipient(), b.recipient()]).unwrap();
    let enc = clip.dir.join("enc.mp4");
    std::fs::write(&enc, &enc_bytes).unwrap();

    // Both viewers get the same content key; a third identity gets a clear refusal.
    let key = content_key(&enc, &a).unwrap();
    assert_eq!(key, content_key(&enc, &b).unwrap());
    let e = content_key(&enc, &stranger).unwrap_err();
    assert!(matches!(e, Error::WrongIdentity { .. }), "{e}");
    let hex = key.to_hex();

    // ffmpeg with the key: identical decoded frames.
    let want = framemd5(&clip.clear, None).unwrap();
    assert!(want.len() >= 70, "3 s at 25 fps, got {} frames", want.len());
    let got = framemd5(&enc, Some(hex.as_str())).expect("ffmpeg -decryption_key on enc.mp4");
    assert_eq!(
        got, want,
        "ffmpeg -decryption_key frames differ from the clear file"
    );

    // Without the key: decoding fails or gives different pictures.
    match framemd5(&enc, None) {
        Err(_) => {}
        Ok(frames) => assert_ne!(frames, want, "encrypted file decodes without the key"),
    }
    // With a wrong key likewise.
    let wrong = "00112233445566778899aabbccddeeff";
    if let Ok(frames) = framemd5(&enc, Some(wrong)) {
        assert_ne!(frames, want);
    }

    // Neither the content key nor any long run of a known slice payload is in the file.
    assert!(!contains(&enc_bytes, key.as_bytes()));
    let mut checked = 0;
    for nal in camward_h264::annexb::split(&clip.annexb) {
        let t = nal[0] & 0x1f;
        // ≥ 48 bytes: the payload has at least two whole AES blocks, so the last 32 are protected.
        if (t == 1 || t == 5) && nal.len() >= 48 {
            let tail = &nal[nal.len() - 32..];
            assert!(
                contains(&clear_bytes, tail),
                "sanity: slice bytes are in the clear file"
            );
            assert!(
                !contains(&enc_bytes, tail),
                "clear slice payload found in enc.mp4"
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} slices checked");
    // SPS/PPS and SEIs stay readable: ffmpeg's x264 SEI (user data) is byte-identical.
    let sei = camward_h264::annexb::split(&clip.annexb)
        .find(|n| n[0] & 0x1f == 6)
        .expect("x264 writes an SEI");
    assert!(contains(&enc_bytes, sei), "SEI must stay clear");

    // camward's decryptor restores every sample byte for byte, and ffmpeg plays the result.
    let dec = clip.dir.join("dec.mp4");
    let mut calls = 0u32;
    let summary = decrypt_file(&enc, &b, &dec, &mut |done, total| {
        assert!(done <= total);
        calls += 1;
    })
    .unwrap();
    assert!(calls > 0);
    assert_eq!(summary.samples, 75);
    let dec_bytes = std::fs::read(&dec).unwrap();
    assert_eq!(dec_bytes.len(), enc_bytes.len(), "offsets are kept");
    assert_eq!(samples(&dec_bytes), samples(&clear_bytes));
    assert_eq!(framemd5(&dec, None).unwrap(), want);
    assert_eq!(decrypt_to_vec(&enc_bytes, &a).unwrap(), dec_bytes);
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,codec_tag_string",
            "-of",
            "csv=p=0",
        ])
        .arg(&dec)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "h264,avc1");
    assert!(!camward_cenc::is_encrypted(&dec_bytes));
    assert!(camward_cenc::is_encrypted(&enc_bytes));
}

#[test]
fn wrong_identity_leaves_no_output_behind() {
    if !have_ffmpeg() {
        return;
    }
    let clip = make_clip();
    let clear = std::fs::read(&clip.clear).unwrap();
    let viewer = Identity::generate();
    let enc = clip.dir.join("enc.mp4");
    std::fs::write(&enc, encrypt_fmp4(&clear, &[viewer.recipient()]).unwrap()).unwrap();
    let out_dir = clip.dir.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("dec.mp4");
    let e = decrypt_file(&enc, &Identity::generate(), &out, &mut |_, _| {}).unwrap_err();
    assert!(e.is_wrong_identity(), "{e}");
    assert_eq!(
        std::fs::read_dir(&out_dir).unwrap().count(),
        0,
        "partial output left behind"
    );

    // A damaged file fails midway: still nothing left behind.
    let mut bytes = std::fs::read(&enc).unwrap();
    let n = bytes.len();
    bytes.truncate(n - 1000);
    let cut = clip.dir.join("cut.mp4");
    std::fs::write(&cut, &bytes).unwrap();
    assert!(decrypt_file(&cut, &viewer, &out, &mut |_, _| {}).is_err());
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0);
}

#[test]
fn flipped_ciphertext_byte_changes_exactly_that_clear_byte() {
    // CTR has no integrity: a flipped bit decrypts to a flipped bit. Catching it is the job of
    // the ONVIF signatures verified after decryption (camward verify), which hash these bytes.
    if !have_ffmpeg() {
        return;
    }
    let clip = make_clip();
    let clear = std::fs::read(&clip.clear).unwrap();
    let viewer = Identity::generate();
    let mut enc = encrypt_fmp4(&clear, &[viewer.recipient()]).unwrap();
    let clear_samples = samples(&clear);
    // Flip a byte near the end of the first sample of the second fragment (protected slice tail).
    let top = children(&enc, 0).unwrap();
    let moof = top.iter().filter(|b| &b.typ == b"moof").nth(1).unwrap();
    let kids = children(moof.body(), moof.body_offset()).unwrap();
    let traf = kids.iter().find(|b| &b.typ == b"traf").unwrap();
    let l = bmff::traf_layout(
        &children(traf.body(), traf.body_offset()).unwrap(),
        moof.offset,
        moof.offset,
        None,
    )
    .unwrap();
    let (off, len) = l.samples[0];
    let at = (off + len - 5) as usize;
    enc[at] ^= 0x01;
    let dec = decrypt_to_vec(&enc, &viewer).unwrap();
    let dec_samples = samples(&dec);
    let diffs: usize = dec_samples
        .iter()
        .zip(&clear_samples)
        .map(|(d, c)| d.iter().zip(c).filter(|(x, y)| x != y).count())
        .sum();
    assert_eq!(diffs, 1);
}

#[test]
fn single_fragment_file_decrypts_with_plain_ffmpeg() {
    // The exact command `camward keys` suggests, on a seekable file, without workarounds.
    if !have_ffmpeg() {
        return;
    }
    let clip = make_clip();
    let clear = std::fs::read(&clip.clear).unwrap();
    // Keep ftyp, moov and the first moof+mdat: a valid one-fragment recording.
    let top = children(&clear, 0).unwrap();
    let second_moof = top
        .iter()
        .filter(|b| &b.typ == b"moof")
        .nth(1)
        .unwrap()
        .offset as usize;
    let one = clip.dir.join("one.mp4");
    std::fs::write(&one, &clear[..second_moof]).unwrap();
    let viewer = Identity::generate();
    let enc = clip.dir.join("one-enc.mp4");
    std::fs::write(
        &enc,
        encrypt_fmp4(&clear[..second_moof], &[viewer.recipient()]).unwrap(),
    )
    .unwrap();
    let key = content_key(&enc, &viewer).unwrap();
    let want = framemd5_with(&one, None, &[]).unwrap();
    assert!(want.len() >= 20);
    assert_eq!(
        framemd5_with(&enc, Some(key.to_hex().as_str()), &[]).unwrap(),
        want
    );
}
