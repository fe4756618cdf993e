//! Recorder capacity and recorder-path encryption throughput (issues #5 and #6, "Measured, not
//! tested"); run through `scripts/bench-record`, which also makes the clip and runs `openssl speed`.
//!
//! For each N: N frame buses, each fed in real time (30 fps) with the clip's access units (pts and
//! wall clock rewritten so time keeps increasing), each signed by its own `camward_sign::Signer`
//! (the device identity of a throw-away data directory) before publishing, and one
//! `camward_record::Recorder` recording all N streams — in the clear, or with
//! `camward_record::Encrypt`, the CENC transform the daemon's recording service installs (one
//! `camward_cenc::FileEncryptor` per file). Process CPU (utime+stime of /proc/self/stat) is taken over a
//! fixed window after a warm-up; the publishing thread's own share (/proc/thread-self/stat:
//! cloning, signing, publishing) is reported beside it.
//!
//! Lives in the `camward` package because it needs camward-record, camward-sign, camward-cenc
//! and camward-tls together, and only the daemon package depends on all of them.
//!
//! `bench_capacity --clip clip.h264 --dir /dev/shm/x [--counts 1,10,25,50,100] [--window 10]
//!  [--warmup 3] [--modes clear,enc] [--enc-secs 3]`

use bytes::{BufMut, Bytes, BytesMut};
use camward_cenc::{FileEncryptor, Identity, Recipient};
use camward_config::RecordingConfig;
use camward_media::file::FileSource;
use camward_media::{AccessUnit, FrameBus, StreamInfo};
use camward_record::fmp4::TrackParams;
use camward_record::{Encrypt, ListFilter, Recorder, RecorderOptions, TransformFactory};
use camward_sign::{Signer, SignerOptions, SigningKey, VendorInfo};
use camward_tls::DeviceIdentity;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const FPS: u64 = 30;
const FRAME_90K: u64 = 90_000 / FPS;
/// Clock ticks per second of /proc/*/stat (USER_HZ; 100 on Linux x86_64).
const CLK_TCK: f64 = 100.0;
/// Bounds of the throughput loop, whatever --enc-secs says.
const MAX_ENC_PASSES: usize = 10_000;

struct Args {
    clip: PathBuf,
    dir: PathBuf,
    counts: Vec<usize>,
    window: u64,
    warmup: u64,
    modes: Vec<String>,
    enc_secs: f64,
}

fn parse_args() -> Args {
    let mut a = Args {
        clip: PathBuf::from("clip.h264"),
        dir: std::env::temp_dir().join("camward-bench-record"),
        counts: vec![1, 10, 25, 50, 100],
        window: 10,
        warmup: 3,
        modes: vec!["clear".into(), "enc".into()],
        enc_secs: 3.0,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--clip" => a.clip = val.into(),
            "--dir" => a.dir = val.into(),
            "--counts" => {
                a.counts = val
                    .split(',')
                    .map(|s| s.parse().expect("--counts: numbers"))
                    .collect()
            }
            "--window" => a.window = val.parse().expect("--window: seconds"),
            "--warmup" => a.warmup = val.parse().expect("--warmup: seconds"),
            "--modes" => a.modes = val.split(',').map(str::to_owned).collect(),
            "--enc-secs" => a.enc_secs = val.parse().expect("--enc-secs: seconds"),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    assert!(
        a.counts.iter().all(|&n| (1..=255).contains(&n)),
        "N must fit a stream number (1..=255)"
    );
    a.window = a.window.clamp(1, 120);
    a.warmup = a.warmup.clamp(1, 60);
    a.enc_secs = a.enc_secs.clamp(0.1, 30.0);
    a
}

/// utime + stime in seconds from a /proc stat file (fields 14 and 15, after the `(comm)`).
fn cpu_secs(stat: &str) -> f64 {
    let s = std::fs::read_to_string(stat).expect("read /proc stat");
    let rest = &s[s.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14 → index 11.
    let ut: f64 = f[11].parse().expect("utime");
    let st: f64 = f[12].parse().expect("stime");
    (ut + st) / CLK_TCK
}

// ---- the clip --------------------------------------------------------------------------------

fn load_clip(path: &Path) -> Vec<AccessUnit> {
    let mut src = FileSource::open(path, FPS as u32).expect("open clip");
    let mut out = Vec::new();
    let t0 = SystemTime::now();
    while src.loops() == 0 && out.len() < 100_000 {
        let f = src.next_frame().expect("clip frame");
        if src.loops() > 0 {
            break;
        }
        out.push(AccessUnit {
            pts90k: f.pts90k,
            wallclock: t0,
            key: f.key,
            nals: f.nals,
        });
    }
    assert!(
        out.first().is_some_and(|a| a.key),
        "clip starts with an IDR"
    );
    out
}

fn info_of(clip: &[AccessUnit]) -> StreamInfo {
    let find = |t: u8| {
        clip[0]
            .nals
            .iter()
            .find(|n| n.first().map(|b| b & 0x1f) == Some(t))
            .cloned()
            .expect("SPS/PPS in the first access unit")
    };
    StreamInfo {
        width: 1280,
        height: 720,
        fps: FPS as u32,
        sps: find(7),
        pps: find(8),
    }
}

/// AVC length-prefixed (4-byte) samples, as the recorder hands them to its transform.
fn samples(clip: &[AccessUnit]) -> Vec<Bytes> {
    clip.iter()
        .map(|au| {
            let mut b = BytesMut::with_capacity(au.len() + 4 * au.nals.len());
            for n in &au.nals {
                b.put_u32(n.len() as u32);
                b.put_slice(n);
            }
            b.freeze()
        })
        .collect()
}

// ---- signing key (as the daemon's media service installs it) -----------------------------------

struct DeviceKey(Arc<DeviceIdentity>);

impl SigningKey for DeviceKey {
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.0.sign_p256_sha256(msg)
    }
    fn certificate_chain_pem(&self) -> String {
        self.0.certificate_chain_pem()
    }
}

// ---- one capacity run ------------------------------------------------------------------------

struct RunResult {
    n: usize,
    cpu_core_pct: f64,
    publisher_core_pct: f64,
    late_ticks: u64,
    frames_published: u64,
    frames_recorded: u64,
    skipped: u64,
    files: usize,
    encrypted_files: usize,
    written_mbit_s: f64,
}

struct Timing {
    window: u64,
    warmup: u64,
}

fn run(
    n: usize,
    encrypt: Option<Encrypt>,
    clip: &Arc<Vec<AccessUnit>>,
    key: &Arc<DeviceKey>,
    dir: &Path,
    t: &Timing,
) -> RunResult {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("recording dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let info = info_of(clip);
    let buses: Vec<(u8, Arc<FrameBus>)> = (1..=n)
        .map(|s| {
            let bus = Arc::new(FrameBus::new(2 * FPS as usize));
            bus.set_info(Some(info.clone()));
            (s as u8, bus)
        })
        .collect();
    let cfg = RecordingConfig {
        enabled: true,
        directory: dir.to_owned(),
        streams: (1..=n as u8).collect(),
        continuous: true,
        min_free_bytes: 0,
        ..Default::default()
    };
    let mut opts = RecorderOptions::default();
    if let Some(e) = encrypt {
        opts.transform = Arc::new(e);
    }
    let handle = {
        let _g = rt.enter();
        Recorder::start_with(dir, cfg, buses.clone(), opts).expect("recorder starts")
    };
    let index = handle.index();

    // The publisher: real time at 30 fps, one signer per stream, measuring around the window.
    let warm_frames = t.warmup * FPS;
    let end_frames = (t.warmup + t.window) * FPS;
    let total_frames = end_frames + FPS; // one more second so the window's frames reach disk
    let clip2 = clip.clone();
    let key2 = key.clone();
    let publisher = std::thread::spawn(move || {
        let mut signers: Vec<Signer> = (0..n)
            .map(|s| {
                Signer::new(
                    key2.clone() as Arc<dyn SigningKey>,
                    VendorInfo::camward(format!("BENCH-{s}")),
                    SignerOptions::default(),
                )
                .expect("signer")
            })
            .collect();
        let start = Instant::now();
        let wall0 = SystemTime::now();
        let mut late = 0u64;
        let (mut p0, mut p1, mut th0, mut th1, mut w0, mut w1) = (0.0, 0.0, 0.0, 0.0, start, start);
        for k in 0..total_frames {
            let due = start + Duration::from_micros(k * 1_000_000 / FPS);
            let now = Instant::now();
            if now < due {
                std::thread::sleep(due - now);
            } else if now - due > Duration::from_micros(1_000_000 / FPS) && k >= warm_frames {
                late += 1;
            }
            if k == warm_frames {
                p0 = cpu_secs("/proc/self/stat");
                th0 = cpu_secs("/proc/thread-self/stat");
                w0 = Instant::now();
            }
            if k == end_frames {
                p1 = cpu_secs("/proc/self/stat");
                th1 = cpu_secs("/proc/thread-self/stat");
                w1 = Instant::now();
            }
            let src = &clip2[(k as usize) % clip2.len()];
            for (s, (_, bus)) in buses.iter().enumerate() {
                let mut au = src.clone();
                au.pts90k = k * FRAME_90K;
                au.wallclock = wall0 + Duration::from_micros(k * 1_000_000 / FPS);
                signers[s].process(&mut au);
                bus.publish(Arc::new(au));
            }
        }
        let wall = (w1 - w0).as_secs_f64();
        ((p1 - p0) / wall, (th1 - th0) / wall, late, total_frames)
    });
    let (cpu, pub_cpu, late, published) = publisher.join().expect("publisher");
    rt.block_on(handle.shutdown());
    let rows = index.list(&ListFilter::default()).expect("index list");
    let span_s = total_frames as f64 / FPS as f64;
    let r = RunResult {
        n,
        cpu_core_pct: cpu * 100.0,
        publisher_core_pct: pub_cpu * 100.0,
        late_ticks: late,
        frames_published: published * n as u64,
        frames_recorded: rows.iter().map(|r| r.frames).sum(),
        skipped: rows.iter().map(|r| r.skipped_frames).sum(),
        files: rows.len(),
        encrypted_files: rows.iter().filter(|r| r.encrypted).count(),
        written_mbit_s: rows.iter().map(|r| r.bytes).sum::<u64>() as f64 * 8.0 / 1e6 / span_s,
    };
    drop(index);
    rt.shutdown_timeout(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(dir);
    r
}

// ---- encryption throughput -------------------------------------------------------------------

/// The recorder's CENC transform (`camward_record::Encrypt`, what the daemon installs) over the
/// clip's samples, 1 thread. The recorder hands it each sample as the only handle on a buffer it
/// just built (`fmp4::sample_data`, also done when recording in the clear), so the transform
/// encrypts in place; the loop keeps that true by feeding each output back in as the next pass's
/// input (encrypting ciphertext is the same work). Returns MB/s, bytes and passes.
fn enc_throughput(clip: &[AccessUnit], encrypt: &Encrypt, secs: f64) -> (f64, u64, usize) {
    let mut t = encrypt.make(1);
    t.start_file(&TrackParams::from_info(&info_of(clip)))
        .expect("start_file");
    let mut bufs = samples(clip);
    // The measured path must be the in-place one: a copy here would mean a second handle.
    let first = bufs[0].as_ptr();
    let (out, _) = t.transform(std::mem::take(&mut bufs[0])).expect("encrypt");
    assert_eq!(
        out.as_ptr(),
        first,
        "the transform copied a sample it solely owned"
    );
    bufs[0] = out;
    let start = Instant::now();
    let mut bytes = 0u64;
    let mut passes = 0;
    while passes < MAX_ENC_PASSES && start.elapsed().as_secs_f64() < secs {
        for b in bufs.iter_mut() {
            let (out, aux) = t.transform(std::mem::take(b)).expect("encrypt");
            std::hint::black_box(&aux);
            bytes += out.len() as u64;
            *b = out;
        }
        passes += 1;
    }
    let el = start.elapsed().as_secs_f64();
    std::hint::black_box(&bufs);
    (bytes as f64 / el / 1e6, bytes, passes)
}

/// `FileEncryptor::encrypt`, which copies each sample first: what the transform falls back to
/// when a sample is still shared, shown beside the in-place figure for comparison.
fn enc_throughput_copying(samples: &[Bytes], recipients: &[Recipient], secs: f64) -> f64 {
    let mut enc = FileEncryptor::new(recipients).expect("encryptor");
    let start = Instant::now();
    let mut bytes = 0u64;
    let mut passes = 0;
    while passes < MAX_ENC_PASSES && start.elapsed().as_secs_f64() < secs {
        for s in samples {
            let (ct, aux) = enc.encrypt(s).expect("encrypt");
            std::hint::black_box((&ct, &aux));
            bytes += s.len() as u64;
        }
        passes += 1;
    }
    bytes as f64 / start.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let a = parse_args();
    let clip = Arc::new(load_clip(&a.clip));
    let samples = samples(&clip);
    let clip_bytes: usize = samples.iter().map(|s| s.len()).sum();
    println!(
        "clip: {} access units, {:.1} s at {FPS} fps, {:.2} Mbit/s, {} key frames",
        clip.len(),
        clip.len() as f64 / FPS as f64,
        clip_bytes as f64 * 8.0 / 1e6 / (clip.len() as f64 / FPS as f64),
        clip.iter().filter(|a| a.key).count()
    );
    let recipients = vec![Identity::generate().recipient()];
    let encrypt = Encrypt::new(recipients.clone());

    // Encryption throughput first, on an idle machine.
    let (mbs, bytes, passes) = enc_throughput(&clip, &encrypt, a.enc_secs);
    println!(
        "ENC_THROUGHPUT mb_s={mbs:.1} bytes={bytes} passes={passes} (the recorder's CENC transform, in place, over the clip's samples, 1 thread)"
    );
    let copying = enc_throughput_copying(&samples, &recipients, a.enc_secs);
    println!(
        "ENC_THROUGHPUT_COPYING mb_s={copying:.1} (FileEncryptor::encrypt, copying each sample, 1 thread)"
    );

    let keydir = a.dir.join("identity");
    let _ = std::fs::remove_dir_all(&keydir);
    std::fs::create_dir_all(&keydir).expect("identity dir");
    let key = Arc::new(DeviceKey(Arc::new(
        DeviceIdentity::load_or_create(&keydir).expect("throw-away device identity"),
    )));
    let timing = Timing {
        window: a.window,
        warmup: a.warmup,
    };
    let rec_dir = a.dir.join("rec");
    for mode in &a.modes {
        let enc = match mode.as_str() {
            "clear" => None,
            "enc" => Some(encrypt.clone()),
            m => panic!("unknown mode {m}"),
        };
        let mut anchor: Option<(f64, f64)> = None;
        for &n in &a.counts {
            let r = run(n, enc.clone(), &clip, &key, &rec_dir, &timing);
            let (c1, b1) = *anchor.get_or_insert((r.cpu_core_pct, r.written_mbit_s));
            println!(
                "RESULT mode={mode} n={} cpu_core_pct={:.1} cpu_of_2cores_pct={:.1} per_stream_core_pct={:.2} publisher_core_pct={:.1} cpu_x_n1={:.2} written_mbit_s={:.1} bits_x_n1={:.1} frames_published={} frames_recorded={} skipped={} late_ticks={} files={} encrypted_files={}",
                r.n,
                r.cpu_core_pct,
                r.cpu_core_pct / 2.0,
                r.cpu_core_pct / r.n as f64,
                r.publisher_core_pct,
                r.cpu_core_pct / c1.max(0.1),
                r.written_mbit_s,
                r.written_mbit_s / b1.max(1e-9),
                r.frames_published,
                r.frames_recorded,
                r.skipped,
                r.late_ticks,
                r.files,
                r.encrypted_files
            );
            if r.cpu_core_pct > 100.0 {
                println!("STOP mode={mode}: above one core (50 % of the 2 cores) at N={n}");
                break;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&a.dir);
}
