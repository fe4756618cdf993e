//! The ONVIF reference vectors (testdata/, made and checked with media-signing-framework r25.12.3):
//! our verifier must reach the reference validator's verdict on each and say where the damage is.

use crate::cli::{self, VerifyArgs};
use crate::{Provenance, Report, Verdict, VerifyOptions, verify_annexb};
use std::path::PathBuf;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

fn verify(name: &str) -> Report {
    let bytes = std::fs::read(testdata(name)).unwrap();
    let ca = std::fs::read_to_string(testdata("ca.pem")).unwrap();
    let r = verify_annexb(
        &bytes,
        &VerifyOptions {
            trust_anchor_pem: Some(ca),
            at: None,
        },
    );
    eprintln!("{name}:\n{}", cli::render(&r));
    r
}

#[test]
fn signed_vector_is_valid_with_trusted_key() {
    let r = verify("signed.h264");
    assert_eq!(r.verdict, Verdict::Authentic);
    assert_eq!(r.provenance, Provenance::Trusted);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // 519 NAL units are in the file; the reference summary says 520 because it was produced from
    // a file 6 bytes longer (259624 B vs 259618 B: one more 4-byte-start-code AUD).
    assert_eq!(r.counts.received_nalus, 519);
    assert_eq!(r.counts.pending_nalus, 0);
    assert_eq!(r.counts.validated_nalus, 519);
    assert_eq!(
        (
            r.counts.received_frames,
            r.counts.validated_frames,
            r.counts.pending_frames
        ),
        (256, 256, 0)
    );
    assert_eq!(r.counts.media_signing_bytes, 12262);
    assert_eq!(r.gops.len(), 5);
    assert!(r.gops.iter().all(|g| g.verdict == Verdict::Authentic));
    let v = r.vendor.as_ref().unwrap();
    assert_eq!(
        (
            v.manufacturer.as_str(),
            v.firmware_version.as_str(),
            v.serial_number.as_str()
        ),
        ("scratch", "harness", "0000")
    );
    let s = r.signer.as_ref().unwrap();
    assert!(s.subject.contains("CN=Test camera"), "{}", s.subject);
    assert_eq!(
        s.serial,
        "6e:40:e6:a7:63:79:0c:b9:4b:ba:4a:a9:21:92:af:e9:ed:b0:f9:65"
    );
    assert_eq!(
        r.first_timestamp.as_deref(),
        Some("2025-01-01T00:00:00.0333333Z")
    );
    assert_eq!(r.signer_version.as_deref(), Some("r25.12.3"));
}

#[test]
fn sei_epb_vector_is_valid() {
    let r = verify("signed_sei_epb.h264");
    assert_eq!(r.verdict, Verdict::Authentic);
    assert_eq!(r.provenance, Provenance::Trusted);
    assert_eq!(r.counts.validated_frames, 256);
}

#[test]
fn tampered_vector_is_invalid_and_names_the_frame() {
    let r = verify("tampered_byte.h264");
    assert_eq!(r.verdict, Verdict::Altered);
    // As the reference: 516 received, 502 validated, 14 pending; 255 / 248 / 7 frames.
    let c = &r.counts;
    assert_eq!(
        (c.received_nalus, c.validated_nalus, c.pending_nalus),
        (516, 502, 14)
    );
    assert_eq!(
        (c.received_frames, c.validated_frames, c.pending_frames),
        (255, 248, 7)
    );
    let bad: Vec<_> = r
        .gops
        .iter()
        .filter(|g| g.verdict == Verdict::Altered)
        .collect();
    assert_eq!(bad.len(), 1, "{:#?}", r.gops);
    assert_eq!(bad[0].altered_frames.len(), 1);
    assert!(bad[0].missing.is_empty());
}

#[test]
fn dropped_frame_vector_is_valid_but_missing_a_frame() {
    let r = verify("dropped_frame.h264");
    assert_eq!(r.verdict, Verdict::MissingFrames);
    let c = &r.counts;
    assert_eq!(
        (c.received_nalus, c.validated_nalus, c.pending_nalus),
        (515, 501, 14)
    );
    assert_eq!(
        (c.received_frames, c.validated_frames, c.pending_frames),
        (254, 247, 7)
    );
    let gaps: Vec<_> = r
        .gops
        .iter()
        .filter(|g| g.verdict == Verdict::MissingFrames)
        .collect();
    assert_eq!(gaps.len(), 1, "{:#?}", r.gops);
    assert_eq!(gaps[0].missing.len(), 1);
    assert_eq!(gaps[0].missing[0].count, 1);
    assert!(gaps[0].altered_frames.is_empty());
}

#[test]
fn vectors_without_anchor_are_untrusted_and_exit_2() {
    let bytes = std::fs::read(testdata("signed.h264")).unwrap();
    let r = verify_annexb(&bytes, &VerifyOptions::default());
    assert_eq!(r.verdict, Verdict::Authentic);
    assert!(matches!(r.provenance, Provenance::Untrusted(_)));
    assert_eq!(cli::exit_code(&r), cli::EXIT_UNSIGNED_OR_UNTRUSTED);
}

#[test]
fn certificate_not_yet_valid_at_pinned_time_is_untrusted() {
    let bytes = std::fs::read(testdata("signed.h264")).unwrap();
    let ca = std::fs::read_to_string(testdata("ca.pem")).unwrap();
    // The leaf is valid from 2026-03-24: pinning 2025 must fail the chain, not the video.
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_735_689_600);
    let r = verify_annexb(
        &bytes,
        &VerifyOptions {
            trust_anchor_pem: Some(ca),
            at: Some(at),
        },
    );
    assert_eq!(r.verdict, Verdict::Authentic);
    match &r.provenance {
        Provenance::Untrusted(why) => assert!(why.contains("not valid at"), "{why}"),
        p => panic!("expected untrusted, got {p:?}"),
    }
}

#[test]
fn cli_exit_codes_match_the_vectors() {
    let run = |name: &str| {
        cli::run(VerifyArgs {
            file: testdata(name),
            ca: Some(testdata("ca.pem")),
            at: None,
            json: true,
        })
    };
    assert_eq!(run("signed.h264"), cli::EXIT_AUTHENTIC);
    assert_eq!(run("signed_sei_epb.h264"), cli::EXIT_AUTHENTIC);
    assert_eq!(run("tampered_byte.h264"), cli::EXIT_ALTERED);
    assert_eq!(run("dropped_frame.h264"), cli::EXIT_ALTERED);
}
