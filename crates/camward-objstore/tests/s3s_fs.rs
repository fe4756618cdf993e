//! The uploader against a real S3 server, s3s-fs (SigV4 checked), paper §3.8: a file larger than
//! one part goes up as a multipart upload and arrives byte-identical; the card copy goes only once
//! confirmed; bucket retention by age deletes an old recording's object and its index row; a
//! recording in the bucket only is fetched back with the same bytes; a single PUT is confirmed by
//! the CRC-64/NVME the store checked (`x-amz-checksum-crc64nvme`), and a body damaged on the way
//! is refused by it; a multipart upload is confirmed by the store's ETag; a store that does not
//! verify checksums (s3s-fs behind a relay that drops the echo) is read back once, then confirmed
//! by its ETag; and an upload nothing confirmed is read back, which finds a damaged object.

use camward_config::{ObjectStorageConfig, RecordingConfig, Secret};
use camward_objstore::store::SINGLE_PUT_BYTES;
use camward_objstore::{Checked, Handle, Input, Receipt, Store, StoreError, Uploaded, run};
use camward_record::{Index, State, Trigger};
use std::net::TcpListener;
use std::path::Path;
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
    if !camward_testkit::have("s3s-fs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _s3 = start_s3(&tmp.path().join("s3"), port);
    let index = Arc::new(Index::open(&tmp.path().join("card")).unwrap());
    let day = 86_400_000;
    // Old and small; new and larger than one PUT takes (multipart).
    let (old, _) = recording(&index, 0, 3 * day, 100_000, 1);
    let (new, body) = recording(&index, 1000, 0, SINGLE_PUT_BYTES as usize + 123, 2);
    let cfg = ObjectStorageConfig {
        enabled: true,
        endpoint: format!("http://127.0.0.1:{port}"),
        bucket: BUCKET.into(),
        prefix: "site/cam".into(),
        access_key_id: Secret::new(AK),
        secret_access_key: Secret::new(SK),
        path_style: true,
        retention_days: 2,
        ..ObjectStorageConfig::default()
    };
    let handle = Handle::default();
    let shutdown = CancellationToken::new();
    let ix = index.clone();
    let task = tokio::spawn(run(Input {
        config: cfg.clone(),
        recording: RecordingConfig::default(),
        index: Arc::new(move || Some(ix.clone())),
        handle: handle.clone(),
        shutdown: shutdown.clone(),
    }));
    let new_row = index.get(new).unwrap().unwrap();
    let key = cfg.key_of(&new_row.path);
    let object = tmp.path().join("s3").join(BUCKET).join(&key);
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
    let old_key =
        tmp.path()
            .join("s3")
            .join(BUCKET)
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
    assert!(handle.ensure_local(&index, new).await.unwrap());
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
    let handle = Handle::default();
    let shutdown = CancellationToken::new();
    let ix = index.clone();
    let task = tokio::spawn(run(Input {
        config: ObjectStorageConfig {
            enabled: true,
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: BUCKET.into(),
            access_key_id: Secret::new(AK),
            secret_access_key: Secret::new(SK),
            path_style: true,
            ..ObjectStorageConfig::default()
        },
        recording: rec.clone(),
        index: Arc::new(move || Some(ix.clone())),
        handle: handle.clone(),
        shutdown: shutdown.clone(),
    }));
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
    if !camward_testkit::have("s3s-fs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let root = tmp.path().join("s3");
    let _s3 = start_s3(&root, port);
    let store = Store::new(&config(port)).unwrap();
    let index = Index::open(&tmp.path().join("card")).unwrap();
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
        let (id, body) = recording(&index, i64::from(n) * 1000, 0, bytes, n);
        let row = index.get(id).unwrap().unwrap();
        let file = index.dir().join(&row.path);
        let key = format!("t/{id}.mp4");
        let up = store.upload(&file, &key).await.unwrap();
        assert_eq!(up.receipt, receipt, "{bytes} bytes");
        assert_eq!(up.confirmed.bytes, bytes as u64);
        assert_eq!(store.check(&key, &up).await.unwrap(), checked);
        let object = root.join(BUCKET).join(&key);
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
    if !camward_testkit::have("s3s-fs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _s3 = start_s3(&tmp.path().join("s3"), port);
    let index = Index::open(&tmp.path().join("card")).unwrap();
    let (id, _) = recording(&index, 1000, 0, 100_000, 7);
    let file = index.dir().join(&index.get(id).unwrap().unwrap().path);
    // A new client: the PUT is the first request of its first connection, the one altered.
    let store = Store::new(&config(relay(port, Alter::FlipBodyBit).await)).unwrap();
    let res = store.upload(&file, "t/damaged.mp4").await;
    assert!(
        matches!(res, Err(StoreError::Mismatch(ref m)) if m.contains("BadDigest")),
        "one bit changed on the way: the store refuses the body ({res:?})"
    );
    // The same file straight to the store: accepted and confirmed by the checksum.
    let store = Store::new(&config(port)).unwrap();
    let up = store.upload(&file, "t/damaged.mp4").await.unwrap();
    assert_eq!(
        store.check("t/damaged.mp4", &up).await.unwrap(),
        Checked::Checksum
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_does_not_verify_checksums_is_read_back_once_then_confirmed_by_its_etag() {
    if !camward_testkit::have("s3s-fs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let root = tmp.path().join("s3");
    let _s3 = start_s3(&root, port);
    let index = Index::open(&tmp.path().join("card")).unwrap();
    let store = Store::new(&config(relay(port, Alter::DropChecksumEcho).await)).unwrap();
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
        let (id, body) = recording(&index, i64::from(n) * 1000, 0, bytes, n);
        let file = index.dir().join(&index.get(id).unwrap().unwrap().path);
        let key = format!("t/{id}.mp4");
        let up = store.upload(&file, &key).await.unwrap();
        assert_eq!(up.receipt, receipt, "upload {n}");
        assert_eq!(store.check(&key, &up).await.unwrap(), checked, "upload {n}");
        assert!(std::fs::read(root.join(BUCKET).join(&key)).unwrap() == body);
    }
}
