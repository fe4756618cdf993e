//! Recording an ONVIF-signed stream: every file a rotation closes carries the signature of its
//! last GOP (which the signer puts in front of the picture after the next GOP's IDR, i.e. into
//! the next file, from where the recorder moves it), and a
//! file ended by its pipeline carries the pipeline's end-of-stream signature, so a file taken off
//! the card verifies on its own.

mod common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use camward_h264::AccessUnit;
use camward_record::{ListFilter, Recorder};
use camward_sign::{Signer, SignerOptions, SigningKey, VendorInfo, Verdict, VerifyOptions};
use common::*;
use std::sync::Arc;

/// A throwaway self-signed device key, as camward-sign's own tests make one.
struct TestKey {
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

fn test_key() -> Arc<TestKey> {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "camward record test camera");
    let cert = params.self_signed(&kp).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &kp.serialize_der()).unwrap();
    Arc::new(TestKey {
        pair,
        chain: cert.pem(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_file_carries_its_last_gop_signature() {
    let dir = tempfile::tempdir().unwrap();
    // 18 s of 1 s GOPs, signed as the media pipeline does before the frame bus.
    let mut aus = looped(3);
    let mut signer = Signer::new(
        test_key(),
        VendorInfo::camward("SN-RECORD-TEST"),
        SignerOptions::default(),
    )
    .unwrap();
    for au in &mut aus {
        signer.process(au);
    }
    let bus = bus_for(&aus);
    // Two GOPs per file (the config's lower bound of 10 s is the daemon's, not the recorder's).
    let cfg = camward_record::RecordingConfig {
        file_seconds: 2,
        ..config()
    };
    let handle = Recorder::start(dir.path(), cfg, vec![(1, bus.clone())]).unwrap();
    let index = handle.index();
    for au in &aus {
        bus.publish(Arc::new(au.clone()));
    }
    handle.shutdown().await;

    let mut rows = index.list(&ListFilter::default()).unwrap();
    rows.sort_by_key(|r| r.id);
    assert!(
        rows.len() >= 5,
        "file_seconds rotates: {} files",
        rows.len()
    );
    assert_eq!(
        rows.iter().map(|r| r.frames).sum::<u64>(),
        aus.len() as u64,
        "no frame lost"
    );
    let opts = VerifyOptions::default();
    for (k, r) in rows.iter().enumerate() {
        let path = index.path_of(r.id).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let rep = camward_sign::verify_bytes(&bytes, &opts, &mut |_| {}).unwrap();
        let verdicts: Vec<Verdict> = rep.gops.iter().map(|g| g.verdict).collect();
        let show = || {
            format!(
                "file {k} ({}): {}",
                path.display(),
                camward_sign::cli::render(&rep)
            )
        };
        assert!(r.signed, "{}", show());
        assert_eq!(rep.verdict, Verdict::Authentic, "{}", show());
        assert_eq!(rep.counts.received_frames as u64, r.frames, "{}", show());
        if k + 1 < rows.len() {
            // Closed by rotation: every GOP, the last included, proves itself.
            assert!(
                verdicts.iter().all(|v| *v == Verdict::Authentic),
                "{}",
                show()
            );
            assert_eq!(
                (
                    rep.counts.validated_frames as u64,
                    rep.counts.pending_frames
                ),
                (r.frames, 0),
                "{}",
                show()
            );
        } else {
            // Closed at stop without the pipeline's end-of-stream signature (this feed has
            // none; the daemon's pipeline sends it, see the next test), so only that GOP waits.
            let (last, rest) = verdicts.split_last().unwrap();
            assert_eq!(*last, Verdict::Pending, "{}", show());
            assert!(rest.iter().all(|v| *v == Verdict::Authentic), "{}", show());
        }
        // The recording still decodes frame for frame with the trailing SEI in its last sample.
        assert_eq!(ffprobe_frames(&path), r.frames, "{}", path.display());
    }
    // Each SEI is stored once: the copy in front of the new file's second picture was moved into
    // the old file, not repeated (the reference validator reads a repeat as an old SEI), so a new
    // file starts with its IDR and whole files joined carry every signature once.
    let mut seen = std::collections::HashSet::new();
    for r in &rows {
        let stream = nals(&ffmpeg_annexb(&index.path_of(r.id).unwrap()));
        for n in stream
            .iter()
            .filter(|n| camward_sign::format::is_oms_sei(n))
        {
            assert!(seen.insert(n.clone()), "SEI repeated in file {}", r.id);
        }
    }
    let signed: std::collections::HashSet<Vec<u8>> = au_nals(&aus)
        .into_iter()
        .filter(|n| camward_sign::format::is_oms_sei(n))
        .collect();
    assert_eq!(
        seen, signed,
        "every SEI the signer made is in exactly one file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_ending_right_after_an_idr_signs_every_gop_in_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = test_key();
    // The pipeline stops one frame after an IDR: the GOP that IDR closed has its SEI still
    // waiting for the next picture, so the end marker carries two SEIs (that one, then the one
    // signing the IDR's own one-frame GOP).
    let aus = access_units(clip(), 0);
    let idr = aus
        .iter()
        .enumerate()
        .filter(|(_, a)| a.key)
        .map(|(i, _)| i)
        .nth(2)
        .expect("three GOPs in the clip");
    let (run, trailer) = signed_run(aus[..=idr].to_vec(), &key);
    assert_eq!(trailer.nals.len(), 2, "queued SEI plus the open GOP's");
    let mut all = run.clone();
    all.push(trailer);
    let (index, rows) = record_all(dir.path(), &all).await;
    assert_eq!(rows.iter().map(|r| r.frames).sum::<u64>(), run.len() as u64);
    for r in &rows {
        let path = index.path_of(r.id).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let rep =
            camward_sign::verify_bytes(&bytes, &VerifyOptions::default(), &mut |_| {}).unwrap();
        let show = || format!("{}: {}", path.display(), camward_sign::cli::render(&rep));
        assert_eq!(rep.verdict, Verdict::Authentic, "{}", show());
        assert_eq!(
            (
                rep.counts.validated_frames as u64,
                rep.counts.pending_frames
            ),
            (r.frames, 0),
            "{}",
            show()
        );
    }
}

/// One media pipeline run as the hub publishes it: the frames through a fresh signer, then the
/// signer's end-of-stream SEI as a unit without a picture, timed like the last frame.
/// Publishes `all` on one stream's bus into a recorder with the default config, stops it, and
/// returns the index with its files in recording order.
async fn record_all(
    dir: &std::path::Path,
    all: &[AccessUnit],
) -> (
    Arc<camward_record::Index>,
    Vec<camward_record::RecordingRow>,
) {
    let bus = bus_for(all);
    let handle = Recorder::start(dir, config(), vec![(1, bus.clone())]).unwrap();
    let index = handle.index();
    for au in all {
        bus.publish(Arc::new(au.clone()));
    }
    handle.shutdown().await;
    let mut rows = index.list(&ListFilter::default()).unwrap();
    rows.sort_by_key(|r| r.id);
    (index, rows)
}

fn signed_run(aus: Vec<AccessUnit>, key: &Arc<TestKey>) -> (Vec<AccessUnit>, AccessUnit) {
    let mut signer = Signer::new(
        key.clone(),
        VendorInfo::camward("SN-RECORD-TEST"),
        SignerOptions::default(),
    )
    .unwrap();
    let mut aus = aus;
    for au in &mut aus {
        signer.process(au);
    }
    let last = aus.last().unwrap();
    let trailer = AccessUnit {
        pts90k: last.pts90k,
        wallclock: last.wallclock,
        key: false,
        nals: signer.finish(),
    };
    (aus, trailer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_end_signature_lands_in_the_last_sample_and_every_file_verifies_fully() {
    let dir = tempfile::tempdir().unwrap();
    let key = test_key();
    // Two runs of the pipeline (a restart in between, then a stop), each 6 s of 1 s GOPs with
    // its own signer, times continuing as the hub makes them.
    let per = access_units(clip(), 0).len() as u64;
    let runs = [
        signed_run(access_units(clip(), 0), &key),
        signed_run(access_units(clip(), per), &key),
    ];
    let all: Vec<AccessUnit> = runs
        .iter()
        .flat_map(|(aus, t)| aus.iter().cloned().chain([t.clone()]))
        .collect();
    let (index, rows) = record_all(dir.path(), &all).await;
    assert_eq!(rows.len(), 2, "one file per pipeline run: {rows:?}");
    let opts = VerifyOptions::default();
    for ((aus, trailer), r) in runs.iter().zip(&rows) {
        let path = index.path_of(r.id).unwrap();
        assert_eq!(
            r.frames,
            aus.len() as u64,
            "no sample of its own for the trailer"
        );
        let bytes = std::fs::read(&path).unwrap();
        let rep = camward_sign::verify_bytes(&bytes, &opts, &mut |_| {}).unwrap();
        let show = || format!("{}: {}", path.display(), camward_sign::cli::render(&rep));
        assert!(r.signed, "{}", show());
        assert_eq!(rep.verdict, Verdict::Authentic, "{}", show());
        assert_eq!(rep.gops.len(), 6, "{}", show());
        assert!(
            rep.gops.iter().all(|g| g.verdict == Verdict::Authentic),
            "{}",
            show()
        );
        assert_eq!(
            (
                rep.counts.validated_frames as u64,
                rep.counts.pending_frames
            ),
            (r.frames, 0),
            "{}",
            show()
        );
        // The SEI is the last NAL unit of the file, after the last picture's slices: it went
        // into the last sample, which still decodes frame for frame.
        let stream = nals(&ffmpeg_annexb(&path));
        assert_eq!(stream.last().unwrap()[..], trailer.nals[0][..]);
        assert_eq!(ffprobe_frames(&path), r.frames, "{}", path.display());
    }
}

/// The end marker of a run without a stage: no NAL units, timed like the run's last frame.
fn empty_marker(aus: &[AccessUnit]) -> AccessUnit {
    let last = aus.last().unwrap();
    AccessUnit {
        pts90k: last.pts90k,
        wallclock: last.wallclock,
        key: false,
        nals: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_end_marker_closes_the_file_and_the_next_sample_starts_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let key = test_key();
    // Signing switched on, then off again, while recording: an unsigned run ended by an empty
    // marker, a signed run ended by its signature, an unsigned run ended by the stop.
    let per = access_units(clip(), 0).len() as u64;
    let unsigned1 = access_units(clip(), 0);
    let (signed, trailer) = signed_run(access_units(clip(), per), &key);
    let unsigned2 = access_units(clip(), 2 * per);
    let mut all = unsigned1.clone();
    all.push(empty_marker(&unsigned1));
    all.extend(signed.iter().cloned());
    all.push(trailer);
    all.extend(unsigned2.iter().cloned());
    let (index, rows) = record_all(dir.path(), &all).await;
    assert_eq!(rows.len(), 3, "one file per pipeline run: {rows:?}");
    let opts = VerifyOptions::default();
    for (k, (r, run)) in rows
        .iter()
        .zip([&unsigned1, &signed, &unsigned2])
        .enumerate()
    {
        let path = index.path_of(r.id).unwrap();
        // Exactly its run's frames: the marker added no sample and the next run's first frame
        // opened the next file.
        assert_eq!(r.frames, run.len() as u64, "file {k}: {rows:?}");
        let bytes = std::fs::read(&path).unwrap();
        let rep = camward_sign::verify_bytes(&bytes, &opts, &mut |_| {}).unwrap();
        let show = || format!("file {k}: {}", camward_sign::cli::render(&rep));
        if k == 1 {
            assert!(r.signed, "{}", show());
            assert_eq!(rep.verdict, Verdict::Authentic, "{}", show());
            assert_eq!(
                (
                    rep.counts.validated_frames as u64,
                    rep.counts.pending_frames
                ),
                (r.frames, 0),
                "{}",
                show()
            );
        } else {
            // Wholly unsigned: reported as such, never as altered.
            assert!(!r.signed, "{}", show());
            assert_eq!(rep.verdict, Verdict::Unsigned, "{}", show());
            assert_eq!(rep.counts.validated_frames, 0, "{}", show());
        }
        assert_eq!(ffprobe_frames(&path), r.frames, "{}", path.display());
    }
}
