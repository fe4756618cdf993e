//! The ONVIF reference validator (onvif/media-signing-framework r25.12.3, built by the shared
//! script) on what this signer writes, in every layout option: the certificate SEI on and off,
//! emulation prevention before or after hashing, 1 s and 2 s GOPs, as Annex-B and remuxed to MP4.
//! Every frame must validate and `camward verify` must count the same frames.

// Needs ffmpeg and the validator's build dependencies (scripts/setup installs them). The validator
// comes from $ONVIF_MEDIA_SIGNING_VALIDATOR (scripts/test sets it) or the shared build script.

use super::roundtrip::{ca_issued_key, clip_with_gop, opts, run, show, sign};
use crate::signer::SignerOptions;
use crate::{Verdict, verify_annexb, verify_mp4};
use std::path::{Path, PathBuf};
use std::process::Command;

fn validator() -> PathBuf {
    if let Some(p) = std::env::var_os("ONVIF_MEDIA_SIGNING_VALIDATOR") {
        return p.into();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/tools/onvif-media-signing/build");
    let out = run(&mut Command::new(&script));
    let path = String::from_utf8(out).unwrap();
    PathBuf::from(
        path.lines()
            .last()
            .expect("the build script prints the path")
            .trim(),
    )
}

/// The batch summary `validation_results.txt` of one run.
fn reference(file: &Path, root_pem: &Path) -> String {
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(validator())
        .args(["-b", "-C"])
        .arg(root_pem)
        .args(["-c", "h264"])
        .arg(file)
        .current_dir(work.path())
        .output()
        .expect("running the reference validator");
    std::fs::read_to_string(work.path().join("validation_results.txt")).unwrap_or_else(|_| {
        panic!(
            "no validation_results.txt: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn count(summary: &str, what: &str) -> u32 {
    summary
        .lines()
        .find_map(|l| l.strip_prefix(what))
        .and_then(|v| v.trim_start_matches([' ', ':']).trim().parse().ok())
        .unwrap_or_else(|| panic!("no '{what}' in\n{summary}"))
}

#[test]
fn reference_validator_accepts_every_signer_layout() {
    let dir = tempfile::tempdir().unwrap();
    let (key, root) = ca_issued_key();
    let root_pem = dir.path().join("root.pem");
    std::fs::write(&root_pem, &root).unwrap();
    for gop in [25, 50] {
        let clip = clip_with_gop(dir.path(), gop);
        for (certificate_sei, epb_before_hashing) in [(false, true), (true, true), (true, false)] {
            let o = SignerOptions {
                certificate_sei,
                epb_before_hashing,
                low_bitrate: false,
            };
            let signed = sign(&clip, key.clone(), o);
            let name = format!("gop{gop}-cert{certificate_sei}-epb{epb_before_hashing}");
            let h264 = dir.path().join(format!("{name}.h264"));
            std::fs::write(&h264, &signed).unwrap();
            let mp4 = dir.path().join(format!("{name}.mp4"));
            // Without an edit list: for a stream with B-frames ffmpeg writes one that starts
            // after the first two frames, and the validator app's GStreamer demuxer (qtdemux)
            // drops those before the library sees them ("INVALID", 198 of 200 frames), with
            // any signer. camward's encoder sends no B-frames; x264's do here.
            run(Command::new("ffmpeg")
                .args(["-v", "error", "-r", "25", "-i"])
                .arg(&h264)
                .args(["-c", "copy", "-use_editlist", "0"])
                .arg(&mp4));
            for file in [&h264, &mp4] {
                let summary = reference(file, &root_pem);
                let ctx = format!("{}:\n{summary}", file.display());
                assert!(summary.contains("PUBLIC KEY IS VALID!"), "{ctx}");
                assert!(summary.contains("VIDEO IS VALID!"), "{ctx}");
                // The signer ends with the SEI of the last GOP: nothing is left pending.
                assert_eq!(count(&summary, "Number of received frames"), 200, "{ctx}");
                assert_eq!(count(&summary, "Number of validated frames"), 200, "{ctx}");
                let bytes = std::fs::read(file).unwrap();
                let r = if file.extension().is_some_and(|e| e == "mp4") {
                    verify_mp4(&bytes, &opts(Some(&root))).unwrap()
                } else {
                    verify_annexb(&bytes, &opts(Some(&root)))
                };
                assert_eq!(r.verdict, Verdict::Authentic, "{ctx}{}", show(&r));
                assert_eq!(
                    (r.counts.validated_frames, r.counts.pending_frames),
                    (200, 0),
                    "{ctx}{}",
                    show(&r)
                );
            }
        }
    }
}

/// The framework's own signed sample (`examples/test-files/test_signed_h264.mp4`, made by an older
/// library, v0.0.4): both validators call it valid. One of its SEIs holds a literal `00 00 03`
/// that its signer did not escape; it is read raw, as the reference reads it, not unescaped.
/// The reference app sees 255 of its 256 frames and leaves 7 pending: GStreamer's demuxer applies
/// the file's edit list, which ends before the last frame and the end-of-stream SEI; camward reads
/// every sample (as ffprobe counts them) and validates all 256.
#[test]
fn framework_sample_verifies_as_the_reference_reads_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/tools/onvif-media-signing/src/examples/test-files");
    let (mp4, ca) = (dir.join("test_signed_h264.mp4"), dir.join("ca.pem"));
    let summary = reference(&mp4, &ca);
    assert!(summary.contains("VIDEO IS VALID!"), "{summary}");
    assert_eq!(
        count(&summary, "Number of received frames"),
        255,
        "{summary}"
    );
    assert_eq!(count(&summary, "Number of pending frames"), 7, "{summary}");
    let root = std::fs::read_to_string(&ca).unwrap();
    let r = verify_mp4(&std::fs::read(&mp4).unwrap(), &opts(Some(&root))).unwrap();
    assert_eq!(r.verdict, Verdict::Authentic, "{}", show(&r));
    assert!(r.errors.is_empty(), "{}", show(&r));
    assert_eq!(
        (r.counts.received_frames, r.counts.validated_frames),
        (256, 256),
        "{}",
        show(&r)
    );
}
