//! The uploader against a real S3 server, s3s-fs (SigV4 checked), paper §3.8: a file larger than
//! one part goes up as a multipart upload and arrives byte-identical; the card copy goes only once
//! confirmed; bucket retention by age deletes an old recording's object and its index row; a
//! recording in the bucket only is fetched back with the same bytes; a single PUT is confirmed by
//! the CRC-64/NVME the store checked (`x-amz-checksum-crc64nvme`), and a body damaged on the way
//! is refused by it; a multipart upload is confirmed by the store's ETag; a store that does not
//! verify checksums (s3s-fs behind a relay that drops the echo) is read back once, then confirmed
//! by its ETag; an upload nothing confirmed is read back, which finds a damaged object; after the
//! index is lost, the recordings that live only in the bucket are listed back into a new one
//! (same listing, fetched back byte-identical), objects under the prefix that are not camward
//! recordings are skipped, counted and left as they are, and a store that cannot be reached makes
//! that walk wait instead of failing.

use camward_config::{ObjectStorageConfig, RecordingConfig, Secret};
use camward_objstore::store::SINGLE_PUT_BYTES;
use camward_objstore::{Checked, Handle, Input, Receipt, Store, StoreError, Uploaded, run};
use camward_record::{Index, State, Trigger};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const AK: &str = "crate-test-ak";
const SK: &str = "crate-test-SeCrEt-5q";
const BUCKET: &str = "cam";

struct S3(Child);

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One s3s-fs on a free port with its files under `tmp/s3`, a client for it and a card
/// (`tmp/card`) with its index: where every test against the store starts. `None` (the test
/// skips) without s3s-fs.
struct Peer {
    // Dropped first (fields drop in order): the server stops before its directory goes.
    _s3: S3,
    store: Store,
    index: Arc<Index>,
    port: u16,
    tmp: tempfile::TempDir,
}

impl Peer {
    fn start() -> Option<Peer> {
        if !camward_testkit::have("s3s-fs") {
            return None;
        }
        let tmp = tempfile::tempdir().unwrap();
        let port = free_port();
        let s3 = start_s3(&tmp.path().join("s3"), port);
        let store = Store::new(&config(port)).unwrap();
        let index = Arc::new(Index::open(&tmp.path().join("card")).unwrap());
        Some(Peer {
            _s3: s3,
            store,
            index,
            port,
            tmp,
        })
    }

    /// The bucket's directory on s3s-fs's side: an object is the file at its key.
    fn bucket(&self) -> PathBuf {
        self.tmp.path().join("s3").join(BUCKET)
    }
}

fn start_s3(root: &Path, port: u16) -> S3 {
    std::fs::create_dir_all(root.join(BUCKET)).unwrap();
    // Owned by the guard at once: killed and waited for on every path, a failed start included.
    let s3 = S3(Command::new("s3s-fs")
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", AK, "--secret-key", SK])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("s3s-fs runs"));
    // Bounded: 10 s for the port to open.
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return s3;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("s3s-fs did not listen on {port}");
}

/// A closed recording with `bytes` of pseudo-random content that ended `age_ms` ago.
fn recording(index: &Index, start_ms: i64, age_ms: i64, bytes: usize, seed: u8) -> (i64, Vec<u8>) {
    let (id, rel) = index
        .create_recording(None, 1, Trigger::Continuous, start_ms, 320, 180)
        .unwrap();
    let path = index.dir().join(&rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut x = u32::from(seed) | 1;
    let body: Vec<u8> = (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    std::fs::write(&path, &body).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    index
        .update_progress(id, now - age_ms, bytes as u64, 1, 0, false)
        .unwrap();
    index.set_state(id, State::Finished).unwrap();
    (id, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_bucket_retention_and_fetch_back() {
    let Some(peer) = Peer::start() else { return };
    let index = &peer.index;
    let day = 86_400_000;
    // Old and small; new and larger than one PUT takes (multipart).
    let (old, _) = recording(index, 0, 3 * day, 100_000, 1);
    let (new, body) = recording(index, 1000, 0, SINGLE_PUT_BYTES as usize + 123, 2);
    let cfg = ObjectStorageConfig {
        prefix: "site/cam".into(),
        retention_days: 2,
        ..config(peer.port)
    };
    let (handle, shutdown, task) = uploader(&cfg, card_config(), index);
    let new_row = index.get(new).unwrap().unwrap();
    let key = cfg.key_of(&new_row.path);
    let object = peer.bucket().join(&key);
    // Bounded: 60 s for both uploads and the retention pass.
    let mut done = false;
    for _ in 0..600 {
        let up = index.upload_of(new).unwrap();
        if up.is_some_and(|u| u.confirmed && !u.local_copy) && index.get(old).unwrap().is_none() {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(done, "status {:?}", handle.status());
    assert_eq!(std::fs::read(&object).unwrap(), body, "object differs");
    assert!(
        !index.dir().join(&new_row.path).exists(),
        "card copy removed"
    );
    let old_key = peer
        .bucket()
        .join(cfg.key_of(&camward_record::index::file_name(
            None,
            1,
            0,
            old,
            Trigger::Continuous,
        )));
    assert!(!old_key.exists(), "bucket retention deleted the old object");
    let up = index.upload_of(new).unwrap().unwrap();
    assert_eq!(up.puts, 1);
    assert_eq!(up.object_bytes, Some(body.len() as u64));
    // Played back: fetched to the card, checked, same bytes.
    assert!(handle.ensure_local(index, new).await.unwrap());
    assert_eq!(
        std::fs::read(index.dir().join(&new_row.path)).unwrap(),
        body
    );
    assert!(index.upload_of(new).unwrap().unwrap().local_copy);
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_store_keeps_every_file_and_reports_a_full_card() {
    let tmp = tempfile::tempdir().unwrap();
    // Nothing listens there: every upload fails to connect.
    let port = free_port();
    let index = Arc::new(Index::open(&tmp.path().join("card")).unwrap());
    let (a, _) = recording(&index, 0, 0, 50_000, 3);
    let (b, _) = recording(&index, 1000, 0, 50_000, 4);
    let rec = RecordingConfig {
        quota_bytes: 1,
        min_free_bytes: 0,
        ..RecordingConfig::default()
    };
    let (handle, shutdown, task) = uploader(&config(port), rec.clone(), &index);
    // Bounded: 30 s for the first failed pass.
    let mut st = handle.status();
    for _ in 0..300 {
        st = handle.status();
        if st.state == camward_objstore::State::Unavailable && st.card_full {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(st.state, camward_objstore::State::Unavailable, "{st:?}");
    assert!(
        st.card_full && st.message.contains("card is full"),
        "{st:?}"
    );
    // Over quota, yet retention deletes nothing that has not reached the store.
    let r = camward_record::retention::enforce(&index, &rec, 0).unwrap();
    assert!(r.deleted.is_empty() && r.still_over);
    for id in [a, b] {
        let row = index.get(id).unwrap().unwrap();
        assert!(index.dir().join(&row.path).exists());
        assert!(!index.upload_of(id).unwrap().is_some_and(|u| u.confirmed));
    }
    shutdown.cancel();
    task.await.unwrap();
    // Adoption over the same store: the listing fails, and the walk waits (it is not over, and
    // it is not tried again at once) instead of failing the uploader.
    let mut walk = camward_objstore::adopt::Walk::new(&config(port), 0);
    let store = Store::new(&config(port)).unwrap();
    walk.step(&index, &store, &CancellationToken::new()).await;
    assert!(!walk.done() && !walk.ready());
    assert_eq!(walk.counts().listed, 0);
}

/// The uploader over `index`, started: its handle, its shutdown and its task.
fn uploader(
    cfg: &ObjectStorageConfig,
    recording: RecordingConfig,
    index: &Arc<Index>,
) -> (Handle, CancellationToken, tokio::task::JoinHandle<()>) {
    let handle = Handle::default();
    let shutdown = CancellationToken::new();
    let ix = index.clone();
    let task = tokio::spawn(run(Input {
        config: cfg.clone(),
        recording,
        index: Arc::new(move || Some(ix.clone())),
        handle: handle.clone(),
        shutdown: shutdown.clone(),
    }));
    (handle, shutdown, task)
}

/// Retention's settings of a test card: no free-space floor (the machine's disk may be full-ish).
fn card_config() -> RecordingConfig {
    RecordingConfig {
        min_free_bytes: 0,
        ..RecordingConfig::default()
    }
}

fn config(port: u16) -> ObjectStorageConfig {
    ObjectStorageConfig {
        enabled: true,
        endpoint: format!("http://127.0.0.1:{port}"),
        bucket: BUCKET.into(),
        access_key_id: Secret::new(AK),
        secret_access_key: Secret::new(SK),
        path_style: true,
        ..ObjectStorageConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_confirms_an_upload_by_checksum_or_etag_and_otherwise_a_read_back_finds_damage() {
    let Some(peer) = Peer::start() else { return };
    let (store, index) = (&peer.store, &peer.index);
    // One PUT (the checksum s3s-fs checked); multipart (whole parts, then a few bytes: ETag).
    for (n, bytes, receipt, checked) in [
        (1u8, 100_000usize, Receipt::Checksum, Checked::Checksum),
        (
            2,
            SINGLE_PUT_BYTES as usize + 5,
            Receipt::Etag,
            Checked::Etag,
        ),
    ] {
        let (id, body) = recording(index, i64::from(n) * 1000, 0, bytes, n);
        let row = index.get(id).unwrap().unwrap();
        let file = index.dir().join(&row.path);
        let key = format!("t/{id}.mp4");
        let up = store.upload(&file, &key).await.unwrap();
        assert_eq!(up.receipt, receipt, "{bytes} bytes");
        assert_eq!(up.confirmed.bytes, bytes as u64);
        assert_eq!(store.check(&key, &up).await.unwrap(), checked);
        let object = peer.bucket().join(&key);
        assert!(std::fs::read(&object).unwrap() == body, "byte-identical");
        // An upload nothing confirmed is read back: intact, then damaged on the store's disk.
        let opaque = Uploaded {
            receipt: Receipt::Nothing,
            ..up.clone()
        };
        assert_eq!(store.check(&key, &opaque).await.unwrap(), Checked::ReadBack);
        let mut damaged = body.clone();
        damaged[bytes / 2] ^= 0x40;
        std::fs::write(&object, &damaged).unwrap();
        assert!(matches!(
            store.check(&key, &opaque).await,
            Err(StoreError::Mismatch(_))
        ));
    }
}

/// How [`relay`] alters the first request or answer of each connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Alter {
    /// One bit of the request body, 1000 bytes in: what a faulty link, NIC or proxy does.
    FlipBodyBit,
    /// The answer's `x-amz-checksum-crc64nvme` header dropped: a store that ignores checksums.
    DropChecksumEcho,
}

/// A TCP relay on loopback to `to` that alters the first request (client to store) or the first
/// answer (store to client) of each connection, and passes everything else through.
async fn relay(to: u16, alter: Alter) -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        // Ends with the test's runtime.
        while let Ok((client, _)) = l.accept().await {
            tokio::spawn(async move {
                let Ok(store) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await else {
                    return;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = store.into_split();
                let up = pipe(cr, sw, (alter == Alter::FlipBodyBit).then_some(alter));
                let down = pipe(sr, cw, (alter == Alter::DropChecksumEcho).then_some(alter));
                tokio::join!(up, down);
            });
        }
    });
    port
}

/// Copies `r` to `w`, the first message altered by `alter`.
async fn pipe(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    mut alter: Option<Alter>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut held = Vec::new();
    // Bounded by the connection: it ends when either side closes.
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let Some(a) = alter else {
            if w.write_all(&buf[..n]).await.is_err() {
                break;
            }
            continue;
        };
        held.extend_from_slice(&buf[..n]);
        let Some(end) = held.windows(4).position(|x| x == b"\r\n\r\n") else {
            continue;
        };
        match a {
            Alter::FlipBodyBit => {
                let at = end + 4 + 1000;
                if held.len() <= at {
                    continue;
                }
                held[at] ^= 0x01;
            }
            Alter::DropChecksumEcho => {
                let head = String::from_utf8_lossy(&held[..end]).into_owned();
                let kept: Vec<&str> = head
                    .split("\r\n")
                    .filter(|l| {
                        !l.to_ascii_lowercase()
                            .starts_with("x-amz-checksum-crc64nvme:")
                    })
                    .collect();
                let mut out = kept.join("\r\n").into_bytes();
                out.extend_from_slice(&held[end..]);
                held = out;
            }
        }
        alter = None;
        if w.write_all(&held).await.is_err() {
            break;
        }
        held.clear();
    }
    let _ = w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_damaged_on_the_way_is_refused_by_the_stores_checksum() {
    let Some(peer) = Peer::start() else { return };
    let index = &peer.index;
    let (id, _) = recording(index, 1000, 0, 100_000, 7);
    let file = index.dir().join(&index.get(id).unwrap().unwrap().path);
    // A new client: the PUT is the first request of its first connection, the one altered.
    let relayed = Store::new(&config(relay(peer.port, Alter::FlipBodyBit).await)).unwrap();
    let res = relayed.upload(&file, "t/damaged.mp4").await;
    assert!(
        matches!(res, Err(StoreError::Mismatch(ref m)) if m.contains("BadDigest")),
        "one bit changed on the way: the store refuses the body ({res:?})"
    );
    // The same file straight to the store: accepted and confirmed by the checksum.
    let up = peer.store.upload(&file, "t/damaged.mp4").await.unwrap();
    assert_eq!(
        peer.store.check("t/damaged.mp4", &up).await.unwrap(),
        Checked::Checksum
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_does_not_verify_checksums_is_read_back_once_then_confirmed_by_its_etag() {
    let Some(peer) = Peer::start() else { return };
    let index = &peer.index;
    let store = Store::new(&config(relay(peer.port, Alter::DropChecksumEcho).await)).unwrap();
    // First upload: no checksum echoed, so nothing proves the body yet: read back.
    // Then the ETag path (MD5 while reading), for a single PUT and a multipart upload.
    for (n, bytes, receipt, checked) in [
        (1u8, 100_000usize, Receipt::Nothing, Checked::ReadBack),
        (2, 200_000, Receipt::Etag, Checked::Etag),
        (
            3,
            SINGLE_PUT_BYTES as usize + 5,
            Receipt::Etag,
            Checked::Etag,
        ),
    ] {
        let (id, body) = recording(index, i64::from(n) * 1000, 0, bytes, n);
        let file = index.dir().join(&index.get(id).unwrap().unwrap().path);
        let key = format!("t/{id}.mp4");
        let up = store.upload(&file, &key).await.unwrap();
        assert_eq!(up.receipt, receipt, "upload {n}");
        assert_eq!(store.check(&key, &up).await.unwrap(), checked, "upload {n}");
        assert!(std::fs::read(peer.bucket().join(&key)).unwrap() == body);
    }
}

/// A real recording, as the recorder writes it (fMP4, one fragment per one-second GOP of 25
/// frames), `seconds` long from `start_ms`: the clip's parameter sets, made-up slices; encrypted
/// to a viewer or clear, its key frames carrying an ONVIF signing SEI or not. Returns the id and
/// the file's bytes.
fn fmp4(
    index: &Arc<Index>,
    camera: Option<&str>,
    start_ms: u64,
    seconds: u64,
    encrypted: bool,
    signed: bool,
) -> (i64, Vec<u8>) {
    use camward_h264::{AccessUnit, NalType, annexb};
    use camward_record::fmp4::{Sample, TrackParams, sample_data};
    use camward_record::writer::{Origin, RecordingFile};
    use std::time::UNIX_EPOCH;
    let nal = |t: NalType| {
        annexb::split(camward_testkit::CLIP)
            .find(|n| NalType::of(n) == t)
            .map(bytes::Bytes::copy_from_slice)
            .unwrap()
    };
    let (sps, pps) = (nal(NalType::Sps), nal(NalType::Pps));
    let params = Arc::new(TrackParams {
        width: 320,
        height: 240,
        sps: sps.clone(),
        pps: pps.clone(),
    });
    // Type 6, payload type 5 (user data unregistered), 20 bytes: the ONVIF UUID and a stub.
    let mut sei = vec![0x06, 0x05, 20];
    sei.extend_from_slice(&camward_record::scan::ONVIF_SIGNING_UUID);
    sei.extend_from_slice(&[1, 2, 3, 4, 0x80]);
    let transform: Box<dyn camward_record::SampleTransform> = if encrypted {
        let viewer = camward_cenc::Identity::generate();
        use camward_record::TransformFactory as _;
        camward_record::Encrypt::new(vec![viewer.recipient()]).make(1)
    } else {
        Box::new(camward_record::Clear)
    };
    let at = |frame: u64| UNIX_EPOCH + Duration::from_millis(start_ms + frame * 40);
    let mut f = RecordingFile::create(
        index,
        Origin { camera, stream: 1 },
        Trigger::Continuous,
        params,
        0,
        at(0),
        transform,
    )
    .unwrap();
    for gop in 0..seconds {
        let samples = (gop * 25..gop * 25 + 25)
            .map(|i| {
                let key = i % 25 == 0;
                let mut slice = vec![if key { 0x65 } else { 0x41 }, 0x9a];
                slice.extend((0..300 + i % 11).map(|b| (b as u8) | 1));
                let mut nals = Vec::new();
                if key {
                    nals.extend([sps.clone(), pps.clone()]);
                    if signed {
                        nals.push(bytes::Bytes::from(sei.clone()));
                    }
                }
                nals.push(bytes::Bytes::from(slice));
                let au = AccessUnit {
                    pts90k: i * 3600,
                    wallclock: at(i),
                    key,
                    nals,
                };
                Sample {
                    data: sample_data(&au),
                    duration: 3600,
                    sync: key,
                }
            })
            .collect();
        f.append(samples, gop * 25 * 3600, at(gop * 25), signed)
            .unwrap();
    }
    let (id, path) = (f.id, f.path.clone());
    f.finish().unwrap();
    (id, std::fs::read(path).unwrap())
}

/// What a listing says of a recording, ids aside (a rebuilt index may give others).
type Listing = (Option<String>, u8, i64, i64, u64, u64, bool, bool, String);

fn listing(index: &Index) -> Vec<Listing> {
    let mut rows: Vec<Listing> = index
        .list(&Default::default())
        .unwrap()
        .into_iter()
        .map(|r| {
            let c = r.camera.clone();
            (
                c,
                r.stream,
                r.start_ms,
                r.end_ms,
                r.frames,
                r.bytes,
                r.encrypted,
                r.signed,
                r.path,
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Waits (60 s at most) until every recording of `index` is confirmed in the bucket with no card
/// copy left.
async fn all_in_the_bucket_only(index: &Index, handle: &Handle, want: usize) {
    for _ in 0..600 {
        let rows = index.list(&Default::default()).unwrap();
        let moved = rows.iter().all(|r| {
            index
                .upload_of(r.id)
                .unwrap()
                .is_some_and(|u| u.confirmed && !u.local_copy)
        });
        if rows.len() == want && moved {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "not all {want} recordings in the bucket only: {:?}, status {:?}",
        listing(index),
        handle.status()
    );
}

/// Files under `dir`, recursively, with their bytes: what s3s-fs holds, or what the card holds.
fn files(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_index_gets_back_the_recordings_that_live_only_in_the_bucket() {
    let Some(peer) = Peer::start() else { return };
    let index = &peer.index;
    let t0 = 1_795_319_100_000;
    // This device's clear recording, an encrypted and signed one, an upstream camera's.
    let (_, clear) = fmp4(index, None, t0, 2, false, false);
    let (_, sealed) = fmp4(index, None, t0 + 2000, 3, true, true);
    fmp4(index, Some("door"), t0 + 1000, 2, false, true);
    let before = listing(index);
    let cfg = ObjectStorageConfig {
        prefix: "site/cam".into(),
        ..config(peer.port)
    };
    let (handle, shutdown, task) = uploader(&cfg, card_config(), index);
    all_in_the_bucket_only(index, &handle, 3).await;
    shutdown.cancel();
    task.await.unwrap();
    let bucket = files(&peer.bucket());
    // The index is lost: the card holds no recording and no index any more (the old handle
    // stays open on the removed file and is not used again).
    let card = index.dir().to_owned();
    for f in ["index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm"] {
        let _ = std::fs::remove_file(card.join(f));
    }
    assert!(files(&card).is_empty(), "{:?}", files(&card).keys());
    // Start again: recovery, then the recorder (whose first recording takes id 1 again), then the
    // uploader.
    camward_record::recover(&card).unwrap();
    let index = Arc::new(Index::open(&card).unwrap());
    let (new, _) = fmp4(&index, None, t0 + 60_000, 1, false, false);
    let mut want = before.clone();
    want.extend(listing(&index));
    want.sort();
    let (handle, shutdown, task) = uploader(&cfg, card_config(), &index);
    all_in_the_bucket_only(&index, &handle, 4).await;
    shutdown.cancel();
    task.await.unwrap();
    assert_eq!(listing(&index), want);
    assert!(index.get(new).unwrap().is_some());
    // Adoption wrote nothing to the bucket (the new recording's upload aside) and left nothing on
    // the card.
    let mut after = files(&peer.bucket());
    after.retain(|k, _| bucket.contains_key(k));
    assert!(after == bucket, "the bucket's objects are unchanged");
    assert!(files(&card).keys().all(|f| f.ends_with("index.sqlite3")
        || f.to_string_lossy().contains("index.sqlite3-")));
    // Played back: fetched, checked against the SHA-256 taken at adoption, the same bytes.
    for (body, start) in [(&sealed, t0 + 2000), (&clear, t0)] {
        let row = index
            .list(&Default::default())
            .unwrap()
            .into_iter()
            .find(|r| r.start_ms == start as i64 && r.camera.is_none())
            .unwrap();
        assert!(handle.ensure_local(&index, row.id).await.unwrap());
        assert!(
            std::fs::read(card.join(&row.path)).unwrap() == *body,
            "byte-identical"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_under_the_prefix_that_are_not_camward_recordings_are_skipped_and_not_touched() {
    let Some(peer) = Peer::start() else { return };
    let cfg = ObjectStorageConfig {
        prefix: "site/cam".into(),
        ..config(peer.port)
    };
    let index = &peer.index;
    let (id, body) = fmp4(index, None, 1_795_319_100_000, 1, false, false);
    let rel = index.get(id).unwrap().unwrap().path;
    let put = |key: &str, bytes: &[u8]| {
        let f = peer.bucket().join(key);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, bytes).unwrap();
    };
    // One recording the index does not know; beside it, more than a listing page of objects
    // that are not camward's (someone's notes, a recording's name with other bytes) and a
    // recording outside the prefix.
    put(&cfg.key_of(&rel), &body);
    for n in 0..1100 {
        put(&format!("site/cam/notes/{n:04}.txt"), b"not a recording");
    }
    put(
        "site/cam/stream1/20261122T034500Z_000042.mp4",
        b"a recording's name, other bytes",
    );
    put(&format!("elsewhere/{rel}"), &body);
    let bucket = files(&peer.bucket());
    let known = Index::open(&peer.tmp.path().join("other-card")).unwrap();
    let index = Arc::new(known);
    let mut walk = camward_objstore::adopt::Walk::new(&cfg, 0);
    let token = CancellationToken::new();
    // Bounded: each step lists a page or reads objects back.
    for _ in 0..100 {
        if walk.done() {
            break;
        }
        walk.step(&index, &peer.store, &token).await;
    }
    assert!(walk.done());
    let c = walk.counts();
    assert_eq!(
        (c.listed, c.adopted, c.skipped, c.failed, c.known),
        (1102, 1, 1100, 1, 0),
        "{c:?}"
    );
    assert_eq!(
        files(&peer.bucket()),
        bucket,
        "nothing in the bucket changed"
    );
    let rows = index.list(&Default::default()).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].path, rel);
    let stream1 = index.dir().join("stream1");
    let parts: Vec<_> = std::fs::read_dir(&stream1)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(parts.is_empty(), "no copy left on the card: {parts:?}");
    // A second walk over the same bucket finds it known and reads nothing back.
    let mut again = camward_objstore::adopt::Walk::new(&cfg, 0);
    while !again.done() {
        again.step(&index, &peer.store, &token).await;
    }
    let c = again.counts();
    assert_eq!((c.adopted, c.known, c.failed), (0, 1, 1), "{c:?}");
}
