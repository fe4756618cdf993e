//! Sign a real x264 clip, verify it, then damage it the ways an attacker or a broken copy would
//! (flip, drop, swap, remove a GOP, truncate, remux to MP4) and check each is caught and located.

// Needs ffmpeg/ffprobe (scripts/setup installs them).

use crate::cli;
use crate::format::{self, VendorInfo};
use crate::signer::{self, Signer, SignerOptions, SigningKey, split_access_units};
use crate::{MissingRun, Provenance, Report, Verdict, VerifyOptions, verify_annexb, verify_mp4};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use camward_h264::{NalType, annexb};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(super) struct TestKey {
    pair: EcdsaKeyPair,
    chain: String,
}

impl SigningKey for TestKey {
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&SystemRandom::new(), msg)
            .expect("ECDSA signing")
            .as_ref()
            .to_vec()
    }
    fn certificate_chain_pem(&self) -> String {
        self.chain.clone()
    }
}

fn p256() -> rcgen::KeyPair {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

fn test_key(kp: &rcgen::KeyPair, chain: String) -> Arc<TestKey> {
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &kp.serialize_der()).unwrap();
    Arc::new(TestKey { pair, chain })
}

fn self_signed_key() -> Arc<TestKey> {
    let kp = p256();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "camward test camera (self-signed)",
    );
    let cert = params.self_signed(&kp).unwrap();
    test_key(&kp, cert.pem())
}

/// A device key issued by a private root through an intermediate; returns (key, root PEM).
pub(super) fn ca_issued_key() -> (Arc<TestKey>, String) {
    let ca_params = |cn: &str| {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        p
    };
    let root = rcgen::CertifiedIssuer::self_signed(ca_params("camward test root"), p256()).unwrap();
    let inter =
        rcgen::CertifiedIssuer::signed_by(ca_params("camward test intermediate"), p256(), &root)
            .unwrap();
    let leaf_kp = p256();
    let mut lp = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    lp.distinguished_name
        .push(rcgen::DnType::CommonName, "camward test camera");
    let leaf = lp.signed_by(&leaf_kp, &inter).unwrap();
    (
        test_key(&leaf_kp, format!("{}{}", leaf.pem(), inter.pem())),
        root.pem(),
    )
}

pub(super) fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?} (is ffmpeg installed? scripts/setup): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// 8 s of testsrc at 25 fps, x264 with 1 s GOPs (200 frames, 8 GOPs), Annex-B.
fn clip(dir: &Path) -> Vec<u8> {
    clip_with_gop(dir, 25)
}

/// 8 s of testsrc at 25 fps, x264 (B-frames included) with an IDR every `gop` frames, Annex-B.
pub(super) fn clip_with_gop(dir: &Path, gop: u32) -> Vec<u8> {
    let p = dir.join(format!("clip-{gop}.h264"));
    let gop = gop.to_string();
    run(Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-t",
            "8",
        ])
        .args([
            "-c:v",
            "libx264",
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "h264",
        ])
        .arg(&p));
    std::fs::read(p).unwrap()
}

pub(super) fn sign(input: &[u8], key: Arc<TestKey>, opts: SignerOptions) -> Vec<u8> {
    let mut s = Signer::new(key, VendorInfo::camward("SN-TEST-1"), opts).unwrap();
    let start = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    signer::sign_annexb(input, &mut s, start, Duration::from_millis(40))
}

pub(super) fn opts(root: Option<&str>) -> VerifyOptions {
    VerifyOptions {
        trust_anchor_pem: root.map(str::to_string),
        at: None,
    }
}

pub(super) fn show(r: &Report) -> String {
    cli::render(r)
}

/// Rebuilds a stream from access units with `edit` applied to the list of AUs.
fn edit_aus(stream: &[u8], edit: impl FnOnce(&mut Vec<Vec<&[u8]>>)) -> Vec<u8> {
    let mut aus = split_access_units(stream);
    edit(&mut aus);
    let mut out = Vec::new();
    annexb::join(aus.iter().flatten().copied(), &mut out);
    out
}

/// Index (in the AU list) of the AU holding picture `frame`, and frame numbering used by reports.
fn au_of_frame(stream: &[u8], frame: usize) -> usize {
    let aus = split_access_units(stream);
    let mut n = 0;
    for (i, au) in aus.iter().enumerate() {
        if au.iter().any(|nal| NalType::of(nal).is_slice()) {
            if n == frame {
                return i;
            }
            n += 1;
        }
    }
    panic!("no frame {frame}");
}

fn signed_with_ca(dir: &Path) -> (Vec<u8>, String) {
    let (key, root) = ca_issued_key();
    (sign(&clip(dir), key, SignerOptions::default()), root)
}

#[test]
fn ca_signed_clip_is_authentic_and_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, root) = signed_with_ca(dir.path());
    let r = verify_annexb(&signed, &opts(Some(&root)));
    assert_eq!(r.verdict, Verdict::Authentic, "{}", show(&r));
    assert_eq!(r.provenance, Provenance::Trusted, "{}", show(&r));
    assert_eq!(r.counts.received_frames, 200);
    assert_eq!(
        (r.counts.validated_frames, r.counts.pending_frames),
        (200, 0),
        "{}",
        show(&r)
    );
    assert_eq!(r.gops.len(), 8);
    assert!(r.gops.iter().all(|g| g.verdict == Verdict::Authentic));
    let v = r.vendor.unwrap();
    assert_eq!(
        (v.manufacturer.as_str(), v.serial_number.as_str()),
        ("camward", "SN-TEST-1")
    );
    assert_eq!(v.firmware_version, env!("CARGO_PKG_VERSION"));
    assert!(r.signer.unwrap().subject.contains("camward test camera"));
    assert_eq!(r.first_timestamp.as_deref(), Some("2026-09-21T14:13:20Z"));
    // Another root does not vouch for it.
    let (_, other_root) = ca_issued_key();
    let r = verify_annexb(&signed, &opts(Some(&other_root)));
    assert!(matches!(r.provenance, Provenance::Untrusted(_)));
    assert_eq!(cli::exit_code(&r), cli::EXIT_UNSIGNED_OR_UNTRUSTED);
}

#[test]
fn self_signed_clip_is_authentic_but_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let signed = sign(
        &clip(dir.path()),
        self_signed_key(),
        SignerOptions::default(),
    );
    let r = verify_annexb(&signed, &opts(None));
    assert_eq!(r.verdict, Verdict::Authentic, "{}", show(&r));
    assert_eq!(r.provenance, Provenance::SelfSigned);
    assert_eq!(cli::exit_code(&r), cli::EXIT_UNSIGNED_OR_UNTRUSTED);
}

#[test]
fn unsigned_clip_is_reported_unsigned() {
    let dir = tempfile::tempdir().unwrap();
    let r = verify_annexb(&clip(dir.path()), &opts(None));
    assert_eq!(r.verdict, Verdict::Unsigned);
    assert_eq!(cli::exit_code(&r), cli::EXIT_UNSIGNED_OR_UNTRUSTED);
}

#[test]
fn signed_stream_still_decodes_in_ffprobe() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, _) = signed_with_ca(dir.path());
    let p = dir.path().join("signed.h264");
    std::fs::write(&p, &signed).unwrap();
    let out = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&p));
    assert_eq!(String::from_utf8_lossy(&out).trim(), "200");
}

#[test]
fn flipped_byte_in_p_slice_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, root) = signed_with_ca(dir.path());
    let target = au_of_frame(&signed, 60);
    let mut tampered = Vec::new();
    let mut aus = split_access_units(&signed);
    let slice_pos = aus[target]
        .iter()
        .position(|n| NalType::of(n) == NalType::Slice)
        .unwrap();
    let mut bad = aus[target][slice_pos].to_vec();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    aus[target][slice_pos] = &bad;
    annexb::join(aus.iter().flatten().copied(), &mut tampered);
    let r = verify_annexb(&tampered, &opts(Some(&root)));
    assert_eq!(r.verdict, Verdict::Altered, "{}", show(&r));
    let bad_gops: Vec<_> = r
        .gops
        .iter()
        .filter(|g| g.verdict != Verdict::Authentic)
        .collect();
    assert_eq!(bad_gops.len(), 1, "{}", show(&r));
    assert_eq!(bad_gops[0].altered_frames, vec![60], "{}", show(&r));
    assert!(bad_gops[0].missing.is_empty(), "{}", show(&r));
    assert_eq!(cli::exit_code(&r), cli::EXIT_ALTERED);
}

#[test]
fn dropped_frame_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, root) = signed_with_ca(dir.path());
    let target = au_of_frame(&signed, 90);
    let dropped = edit_aus(&signed, |aus| {
        aus.remove(target);
    });
    let r = verify_annexb(&dropped, &opts(Some(&root)));
    assert_eq!(r.verdict, Verdict::MissingFrames, "{}", show(&r));
    let g = r
        .gops
        .iter()
        .find(|g| g.verdict == Verdict::MissingFrames)
        .unwrap();
    assert_eq!(g.missing.len(), 1);
    assert_eq!(g.missing[0].after_frame, Some(89), "{}", show(&r));
    assert_eq!(r.counts.received_frames, 199);
}

#[test]
fn swapped_frames_are_reported_reordered() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, root) = signed_with_ca(dir.path());
    let a = au_of_frame(&signed, 110);
    let swapped = edit_aus(&signed, |aus| aus.swap(a, a + 1));
    let r = verify_annexb(&swapped, &opts(Some(&root)));
    assert_eq!(r.verdict, Verdict::Reordered, "{}", show(&r));
    let g = r
        .gops
        .iter()
        .find(|g| g.verdict == Verdict::Reordered)
        .unwrap();
    // As the reference validator reads it: frame 111's slice matches list entry 111, so entry
    // 110 is missing before it; frame 111 (the old 110) then matches nothing after that.
    assert_eq!(g.reordered_frames, vec![111], "{}", show(&r));
    assert_eq!(g.altered_frames, vec![111], "{}", show(&r));
    assert_eq!(
        g.missing,
        vec![MissingRun {
            after_frame: Some(109),
            count: 1
        }],
        "{}",
        show(&r)
    );
}

#[test]
fn removed_gop_is_detected_and_located() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, root) = signed_with_ca(dir.path());
    // GOP 4 = frames 75..99 (1 s GOPs at 25 fps), including GOP 3's SEI in front of frame 76.
    let (from, to) = (au_of_frame(&signed, 75), au_of_frame(&signed, 100));
    let cut = edit_aus(&signed, |aus| {
        aus.drain(from..to);
    });
    let r = verify_annexb(&cut, &opts(Some(&root)));
    assert_eq!(r.verdict, Verdict::Altered, "{}", show(&r));
    // GOP 3 lost its SEI with the cut: unsigned, all its frames named, the counter jump said.
    let unsigned = r
        .gops
        .iter()
        .find(|g| g.verdict == Verdict::Unsigned)
        .expect("GOP 3 unsigned");
    assert_eq!(unsigned.frames, Some((50, 74)), "{}", show(&r));
    assert_eq!(unsigned.altered_frames, (50..75).collect::<Vec<u32>>());
    assert!(
        unsigned
            .reasons
            .iter()
            .any(|r| r.contains("GOP counter jumps")),
        "{}",
        show(&r)
    );
    // GOP 4's SEI signs frames that are gone: it decides nothing. GOP 5's linked hash names
    // GOP 4's anchor, so GOP 5's first frame (now 75) is not authentic, the rest is.
    let next = r
        .gops
        .iter()
        .find(|g| g.frames.is_some_and(|f| f.0 == 75))
        .expect("GOP 5");
    assert_eq!(next.altered_frames, vec![75], "{}", show(&r));
    assert!(next.missing.is_empty(), "{}", show(&r));
    assert!(r.gops.iter().all(|g| g.frames.is_some()), "{}", show(&r));
    assert_eq!(cli::exit_code(&r), cli::EXIT_ALTERED);
}

#[test]
fn truncated_file_leaves_an_unsigned_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, root) = signed_with_ca(dir.path());
    let cut_at = au_of_frame(&signed, 163);
    let truncated = edit_aus(&signed, |aus| aus.truncate(cut_at));
    let r = verify_annexb(&truncated, &opts(Some(&root)));
    let tail = r.gops.last().unwrap();
    assert_eq!(tail.verdict, Verdict::Pending, "{}", show(&r));
    assert_eq!(tail.frames, Some((150, 162)), "{}", show(&r));
    assert_eq!(r.counts.pending_frames, 13);
    assert!(
        r.gops[..r.gops.len() - 1]
            .iter()
            .all(|g| g.verdict == Verdict::Authentic),
        "{}",
        show(&r)
    );
    // Cutting bytes mid-NAL corrupts the last slice: that is reported too, not a crash.
    let r = verify_annexb(&signed[..signed.len() * 2 / 3], &opts(Some(&root)));
    assert!(r.counts.pending_frames > 0, "{}", show(&r));
}

#[test]
fn remuxed_mp4_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, root) = signed_with_ca(dir.path());
    let src = dir.path().join("signed.h264");
    std::fs::write(&src, &signed).unwrap();
    for (name, extra) in [
        ("plain.mp4", vec![]),
        (
            "frag.mp4",
            vec!["-movflags", "frag_keyframe+empty_moov+default_base_moof"],
        ),
    ] {
        let out = dir.path().join(name);
        run(Command::new("ffmpeg")
            .args(["-v", "error", "-r", "25", "-i"])
            .arg(&src)
            .args(["-c", "copy"])
            .args(&extra)
            .arg(&out));
        let bytes = std::fs::read(&out).unwrap();
        let r = verify_mp4(&bytes, &opts(Some(&root))).unwrap();
        assert_eq!(r.verdict, Verdict::Authentic, "{name}: {}", show(&r));
        assert_eq!(r.provenance, Provenance::Trusted);
        assert_eq!(r.counts.received_frames, 200, "{name}: {}", show(&r));
        // The CLI detects MP4 by content, whatever the extension.
        let renamed = dir.path().join(format!("{name}.h264"));
        std::fs::copy(&out, &renamed).unwrap();
        let code = cli::run(cli::VerifyArgs {
            file: renamed,
            ca: Some({
                let p = dir.path().join("root.pem");
                std::fs::write(&p, &root).unwrap();
                p
            }),
            at: None,
            json: true,
        });
        assert_eq!(code, cli::EXIT_AUTHENTIC, "{name}");
    }
}

/// `camward verify` reads a fragmented MP4 fragment by fragment; it must say exactly what the
/// whole-file reader says, also for a file cut anywhere (verified up to its last whole sample).
#[test]
fn streamed_mp4_matches_in_memory_at_any_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, root) = signed_with_ca(dir.path());
    let src = dir.path().join("signed.h264");
    std::fs::write(&src, &signed).unwrap();
    let summary = |r: &Report| {
        (
            r.verdict,
            r.counts.received_frames,
            r.counts.validated_frames,
            r.counts.pending_frames,
            r.counts.received_nalus,
            r.gops
                .iter()
                .map(|g| (g.frames, g.verdict))
                .collect::<Vec<_>>(),
            r.errors.len(),
        )
    };
    for (name, extra) in [
        ("plain.mp4", vec![]),
        (
            "frag.mp4",
            vec!["-movflags", "frag_keyframe+empty_moov+default_base_moof"],
        ),
    ] {
        let out = dir.path().join(name);
        run(Command::new("ffmpeg")
            .args(["-v", "error", "-r", "25", "-i"])
            .arg(&src)
            .args(["-c", "copy"])
            .args(&extra)
            .arg(&out));
        let bytes = std::fs::read(&out).unwrap();
        for cut in [
            bytes.len(),
            bytes.len() * 9 / 10,
            bytes.len() * 2 / 3,
            bytes.len() / 3,
        ] {
            let part = &bytes[..cut];
            let whole = verify_mp4(part, &opts(Some(&root)));
            let streamed =
                crate::verify::verify_mp4_reader(&mut &part[..], &opts(Some(&root)), &mut |_| {});
            match (whole, streamed) {
                (Ok(w), Ok(s)) => {
                    assert_eq!(
                        summary(&s),
                        summary(&w),
                        "{name} cut at {cut}: {}",
                        show(&s)
                    );
                    if cut < bytes.len() && name == "frag.mp4" {
                        assert!(s.counts.received_frames < 200, "{name} cut at {cut}");
                        assert_eq!(s.verdict, Verdict::Authentic, "{}", show(&s));
                    }
                }
                (Err(_), Err(_)) => assert!(name == "plain.mp4" && cut < bytes.len()),
                (w, s) => panic!("{name} cut at {cut}: whole {w:?} streamed {s:?}"),
            }
        }
    }
}

#[test]
fn epb_after_hashing_and_certificate_sei_modes_verify() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let (key, root) = ca_issued_key();
    for o in [
        SignerOptions {
            epb_before_hashing: false,
            ..Default::default()
        },
        SignerOptions {
            certificate_sei: true,
            ..Default::default()
        },
        SignerOptions {
            low_bitrate: true,
            ..Default::default()
        },
    ] {
        let signed = sign(&input, key.clone(), o.clone());
        let r = verify_annexb(&signed, &opts(Some(&root)));
        assert_eq!(r.verdict, Verdict::Authentic, "{o:?}: {}", show(&r));
        assert_eq!(r.provenance, Provenance::Trusted, "{o:?}");
        let first = annexb::split(&signed)
            .find_map(|n| format::parse_oms_sei(n).ok().flatten())
            .unwrap();
        assert_eq!(first.is_certificate_sei(), o.certificate_sei);
        assert_eq!(first.epb_before_hashing(), o.epb_before_hashing);
    }
}

#[test]
fn emitted_seis_contain_no_start_code_emulation() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, _) = signed_with_ca(dir.path());
    let mut seis = 0;
    for nal in annexb::split(&signed).filter(|n| format::is_oms_sei(n)) {
        seis += 1;
        assert!(
            !nal.windows(3)
                .any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 3 && w[2] != 3),
            "unescaped 00 00 0x"
        );
        assert_eq!(*nal.last().unwrap(), format::STOP_BYTE);
    }
    assert_eq!(seis, 8);
}

/// Interop without the reference validator binary: re-sign the pictures of the reference vector
/// with our signer at the vector's timestamps, vendor info and certificate chain, and compare the
/// signed documents byte for byte. Only the signatures (different key) may differ.
#[test]
fn documents_match_the_reference_signer_byte_for_byte() {
    let vec_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    for (file, epb) in [("signed.h264", false), ("signed_sei_epb.h264", true)] {
        let reference = std::fs::read(vec_dir.join(file)).unwrap();
        let ref_seis: Vec<_> = annexb::split(&reference)
            .filter_map(|n| format::parse_oms_sei(n).unwrap())
            .collect();
        let (_, pem) = ref_seis[0].certificates.clone().unwrap();
        let vendor = ref_seis[0].vendor.clone().unwrap();
        let kp = p256();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &kp.serialize_der()).unwrap();
        let key = Arc::new(TestKey { pair, chain: pem });
        let mut s = Signer::new(
            key,
            vendor,
            SignerOptions {
                epb_before_hashing: epb,
                ..Default::default()
            },
        )
        .unwrap();
        // The vector's frame n is stamped 2025-01-01T00:00:00Z + (n + 1) / 30 s (in 100 ns units).
        let base = UNIX_EPOCH + Duration::from_secs(1_735_689_600);
        let ours = {
            let mut out = Vec::new();
            let mut frame = 0u64;
            for nals in split_access_units(&reference) {
                let has_pic = nals.iter().any(|n| NalType::of(n).is_slice());
                let wallclock: SystemTime = base + Duration::from_nanos((frame + 1) * 33_333_300);
                let mut au = camward_h264::AccessUnit {
                    pts90k: 0,
                    wallclock,
                    key: false,
                    nals: nals
                        .into_iter()
                        .map(bytes::Bytes::copy_from_slice)
                        .collect(),
                };
                s.process(&mut au);
                frame += u64::from(has_pic);
                annexb::join(au.nals.iter().map(|b| &b[..]), &mut out);
            }
            out
        };
        let our_seis: Vec<_> = annexb::split(&ours)
            .filter_map(|n| format::parse_oms_sei(n).unwrap())
            .collect();
        // GOPs 1-4 end at an I-frame; the reference's 5th (end-of-stream) SEI repeats GOP 4's
        // GENERAL fields (a quirk of its set_end_of_stream), which we do not copy.
        assert_eq!(our_seis.len(), 4, "{file}");
        for (i, (a, b)) in our_seis.iter().zip(&ref_seis).enumerate() {
            assert_eq!(a.reserved, b.reserved, "{file} SEI {i}: reserved byte");
            assert_eq!(a.general, b.general, "{file} SEI {i}: GENERAL");
            assert_eq!(a.hash_list, b.hash_list, "{file} SEI {i}: HASH_LIST");
            assert_eq!(a.crypto, b.crypto, "{file} SEI {i}: CRYPTO_INFO");
            assert_eq!(a.document, b.document, "{file} SEI {i}: signed document");
        }
        // Signed by a key that is not the one in the certificate: every GOP must fail.
        let r = verify_annexb(&ours, &opts(None));
        assert_eq!(r.verdict, Verdict::Altered, "{}", show(&r));
        assert!(
            r.gops
                .iter()
                .filter(|g| g.counter.is_some())
                .all(|g| g.reasons.iter().any(|w| w.contains("signature")))
        );
    }
}

#[test]
fn key_change_mid_stream_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    // Same pictures signed by two keys, spliced at frame 100 (the AU carrying GOP 4's SEI).
    let splice = |a: &[u8], b: &[u8]| {
        let at = au_of_frame(a, 100);
        let (aa, bb) = (split_access_units(a), split_access_units(b));
        let mut out = Vec::new();
        annexb::join(
            aa[..at].iter().chain(&bb[at..]).flatten().copied(),
            &mut out,
        );
        out
    };
    let (a, b) = (self_signed_key(), self_signed_key());
    let spliced = splice(
        &sign(&input, a, SignerOptions::default()),
        &sign(&input, b, SignerOptions::default()),
    );
    let r = verify_annexb(&spliced, &opts(None));
    assert_eq!(r.public_key_changes.len(), 1, "{}", show(&r));
    assert_eq!(
        r.verdict,
        Verdict::Altered,
        "untrusted new key must not pass: {}",
        show(&r)
    );
}

#[test]
fn signer_can_move_to_the_pipeline_thread() {
    fn is_send<T: Send>() {}
    is_send::<Signer>();
}

/// A bounded, deterministic stand-in for the cargo-fuzz targets: mutated SEIs and MP4 boxes must
/// give reports or errors, never panics.
#[test]
fn parsers_survive_mutated_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let vec_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let src = vec_dir.join("signed_sei_epb.h264");
    let mp4 = dir.path().join("v.mp4");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-r", "30", "-i"])
        .arg(&src)
        .args(["-c", "copy"])
        .arg(&mp4));
    let mp4 = std::fs::read(&mp4).unwrap();
    let frag = dir.path().join("f.mp4");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-r", "30", "-i"])
        .arg(&src)
        .args([
            "-c",
            "copy",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
        ])
        .arg(&frag));
    let frag = std::fs::read(&frag).unwrap();
    let annexb_bytes = std::fs::read(&src).unwrap();
    let sei: Vec<u8> = annexb::split(&annexb_bytes)
        .find(|n| format::is_oms_sei(n))
        .unwrap()
        .to_vec();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..400 {
        let mut s = sei.clone();
        for _ in 0..1 + rnd() % 4 {
            let at = (rnd() as usize) % s.len();
            s[at] = rnd() as u8;
        }
        if i % 3 == 0 {
            s.truncate((rnd() as usize) % s.len());
        }
        let _ = format::parse_oms_sei(&s);
        let mut m = mp4.clone();
        // Mutate the box headers and tables (the first few KB), where the walker does arithmetic.
        for _ in 0..1 + rnd() % 3 {
            let at = (rnd() as usize) % m.len().min(4096);
            m[at] = rnd() as u8;
        }
        let _ = verify_mp4(&m, &opts(None));
        // The streaming reader walks fragments as they come: mutate anywhere, cut anywhere.
        let mut f = frag.clone();
        for _ in 0..1 + rnd() % 3 {
            let at = (rnd() as usize) % f.len();
            f[at] = rnd() as u8;
        }
        f.truncate(f.len() - (rnd() as usize) % (f.len() / 4));
        let _ = crate::verify::verify_mp4_reader(&mut &f[..], &opts(None), &mut |_| {});
        let mut a = annexb_bytes[..(rnd() as usize) % annexb_bytes.len()].to_vec();
        let at = (rnd() as usize) % a.len().max(1);
        if let Some(b) = a.get_mut(at) {
            *b ^= 0xff;
        }
        let _ = verify_annexb(&a, &opts(None));
    }
}

#[test]
fn swapped_gops_are_not_authentic() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, root) = signed_with_ca(dir.path());
    // Swap GOP 3 (frames 50-74) and GOP 4 (frames 75-99), each carrying the previous GOP's SEI.
    let (g3, g4, g5) = (
        au_of_frame(&signed, 50),
        au_of_frame(&signed, 75),
        au_of_frame(&signed, 100),
    );
    let swapped = edit_aus(&signed, |aus| aus[g3..g5].rotate_left(g4 - g3));
    let r = verify_annexb(&swapped, &opts(Some(&root)));
    assert_eq!(r.verdict, Verdict::Altered, "{}", show(&r));
    assert_eq!(cli::exit_code(&r), cli::EXIT_ALTERED);
    // Every frame from GOP 2 (whose SEI moved away) to the first frame after the swap is named.
    let named: Vec<u32> = r
        .gops
        .iter()
        .flat_map(|g| g.altered_frames.iter().copied())
        .collect();
    assert_eq!(named, (25..101).collect::<Vec<u32>>(), "{}", show(&r));
}

/// The spec allows an SEI to be sent twice for redundancy; a copy signs nothing new. (The
/// reference validator r25.12.3 reports the copy as an old SEI; camward never sends one.)
#[test]
fn repeated_sei_is_not_a_missing_gop() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, root) = signed_with_ca(dir.path());
    let at = au_of_frame(&signed, 51);
    let doubled = edit_aus(&signed, |aus| {
        let sei = *aus[at].iter().find(|n| format::is_oms_sei(n)).unwrap();
        let pos = aus[at].iter().position(|n| format::is_oms_sei(n)).unwrap();
        aus[at].insert(pos, sei);
    });
    let r = verify_annexb(&doubled, &opts(Some(&root)));
    assert_eq!(r.verdict, Verdict::Authentic, "{}", show(&r));
}

#[test]
fn stripped_sei_mid_stream_is_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, root) = signed_with_ca(dir.path());
    let at = au_of_frame(&signed, 126);
    let stripped = edit_aus(&signed, |aus| aus[at].retain(|n| !format::is_oms_sei(n)));
    let r = verify_annexb(&stripped, &opts(Some(&root)));
    assert_eq!(r.verdict, Verdict::Altered, "{}", show(&r));
    let g = r
        .gops
        .iter()
        .find(|g| g.verdict == Verdict::Unsigned)
        .expect("GOP 5 unsigned");
    assert_eq!(g.frames, Some((100, 124)), "{}", show(&r));
}

/// Moves (or, with `keep`, copies) each GOP SEI from in front of the picture after GOP n+1's IDR
/// to the end of the access unit before that IDR, after GOP n's last slice: where a recorder
/// that rotates files puts the signature of a file's last GOP. (Re-splitting the joined stream
/// would hand a trailing SEI to the next AU again, so cuts are made on this list, not on the
/// joined bytes.)
fn trail_seis(aus: &mut [Vec<&[u8]>], keep: bool) {
    for i in 2..aus.len() {
        let seis: Vec<&[u8]> = aus[i]
            .iter()
            .copied()
            .filter(|n| format::is_oms_sei(n))
            .collect();
        if seis.is_empty() || !aus[i - 1].iter().any(|n| NalType::of(n) == NalType::Idr) {
            continue;
        }
        if !keep {
            aus[i].retain(|n| !format::is_oms_sei(n));
        }
        aus[i - 2].extend(seis);
    }
}

#[test]
fn sei_trailing_the_gop_it_signs_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, root) = signed_with_ca(dir.path());
    for keep in [false, true] {
        let trailed = edit_aus(&signed, |aus| trail_seis(aus, keep));
        assert_ne!(trailed, signed);
        let r = verify_annexb(&trailed, &opts(Some(&root)));
        assert_eq!(r.verdict, Verdict::Authentic, "keep {keep}: {}", show(&r));
        assert_eq!(r.gops.len(), 8, "{}", show(&r));
        assert!(
            r.gops.iter().all(|g| g.verdict == Verdict::Authentic),
            "{}",
            show(&r)
        );
        assert_eq!(r.counts.pending_frames, 0, "{}", show(&r));
        assert_eq!(r.counts.validated_frames, 200, "{}", show(&r));
        assert_eq!(cli::exit_code(&r), cli::EXIT_AUTHENTIC);
        assert!(!show(&r).contains("last GOP pending"), "{}", show(&r));
    }
    // One file of a rotated recording: GOPs 3-5 (frames 50-124), the first SEI signing GOP 2
    // (before the file), GOP 5's SEI trailing its last frame. Everything verifies, nothing waits.
    let (a, b) = (au_of_frame(&signed, 50), au_of_frame(&signed, 125));
    let file = edit_aus(&signed, |aus| {
        trail_seis(aus, true);
        aus.truncate(b);
        aus.drain(..a);
    });
    let r = verify_annexb(&file, &opts(Some(&root)));
    assert_eq!(r.verdict, Verdict::Authentic, "{}", show(&r));
    assert!(
        r.gops.iter().all(|g| g.verdict == Verdict::Authentic),
        "{}",
        show(&r)
    );
    assert_eq!(
        (r.counts.validated_frames, r.counts.pending_frames),
        (75, 0),
        "{}",
        show(&r)
    );
}

#[test]
fn exit_code_needs_at_least_one_verified_gop() {
    let dir = tempfile::tempdir().unwrap();
    let (signed, root) = signed_with_ca(dir.path());
    // A one-GOP file whose signature is in the following file: signed, but nothing proven.
    let (a, b) = (au_of_frame(&signed, 50), au_of_frame(&signed, 75));
    let one_gop = edit_aus(&signed, |aus| {
        aus.truncate(b);
        aus.drain(..a);
    });
    let r = verify_annexb(&one_gop, &opts(Some(&root)));
    assert_eq!(r.verdict, Verdict::Pending, "{}", show(&r));
    assert_eq!(r.counts.validated_frames, 0, "{}", show(&r));
    assert_eq!(cli::exit_code(&r), cli::EXIT_UNSIGNED_OR_UNTRUSTED);
    assert!(show(&r).contains("NOT VERIFIABLE"), "{}", show(&r));
    // Authentic GOPs and a trailing pending one: still 0, and the output says why it waits.
    let b = au_of_frame(&signed, 100);
    let two_gops = edit_aus(&signed, |aus| {
        aus.truncate(b);
        aus.drain(..a);
    });
    let r = verify_annexb(&two_gops, &opts(Some(&root)));
    assert_eq!(r.verdict, Verdict::Authentic, "{}", show(&r));
    assert_eq!(
        r.gops.iter().map(|g| g.verdict).collect::<Vec<_>>(),
        [Verdict::Authentic, Verdict::Pending],
        "{}",
        show(&r)
    );
    assert_eq!(cli::exit_code(&r), cli::EXIT_AUTHENTIC);
    assert!(
        show(&r).contains("last GOP pending (its signature is in the following file)"),
        "{}",
        show(&r)
    );
}
