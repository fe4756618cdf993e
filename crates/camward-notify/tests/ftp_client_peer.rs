//! FTP client against a real server (pyftpdlib on loopback, started by each test): FTPS with TLS
//! required on control and data receives the alarm and periodic images with the configured
//! names and counts; explicit TLS never falls back to plain; untrusted certificates are refused.

mod common;

use async_trait::async_trait;
use bytes::Bytes;
use camward_alarm::actions::{ActionDeps, ActionEngine, ActionSettings, SnapshotSource};
use camward_alarm::{AlarmHub, ImageSink, ImageUpload, MemoryLog};
use camward_config::Secret;
use camward_config::ftp_client::ImageSeries;
use camward_config::{FtpClientConfig, FtpTls, Trigger};
use camward_notify::{FtpUploader, UploaderOptions};
use common::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const USER: &str = "camftp";
const PASSWORD: &str = "Ftp-Pass-2026";

fn server(root: &Path, port: u16, mode: &str, pki: &TestPki) -> Peer {
    std::fs::create_dir_all(root).unwrap();
    start_python(
        "ftp_server.py",
        &[
            "--port".into(),
            port.to_string(),
            "--dir".into(),
            root.display().to_string(),
            "--user".into(),
            USER.into(),
            "--password".into(),
            PASSWORD.into(),
            "--mode".into(),
            mode.into(),
            "--cert".into(),
            pki.cert_file.display().to_string(),
            "--key".into(),
            pki.key_file.display().to_string(),
        ],
    )
}

fn config(port: u16, ca: &str) -> FtpClientConfig {
    FtpClientConfig {
        enabled: true,
        server: "127.0.0.1".into(),
        port,
        username: USER.into(),
        password: Secret::new(PASSWORD),
        tls: FtpTls::Explicit,
        ca_certificate: ca.into(),
        passive: true,
        retry: true,
        retry_limit: 3,
        ..FtpClientConfig::default()
    }
}

fn fast() -> UploaderOptions {
    UploaderOptions {
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(300),
        op_timeout: Duration::from_secs(10),
        ..UploaderOptions::default()
    }
}

/// Sorted file names in `dir` (empty when it does not exist).
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A camera whose every picture is a distinct JPEG.
#[derive(Default)]
struct Camera(AtomicU32);

#[async_trait]
impl SnapshotSource for Camera {
    async fn jpeg(&self, _stream: u8, _size: u8) -> Result<Bytes, String> {
        Ok(Bytes::from(fake_jpeg(
            self.0.fetch_add(1, Ordering::Relaxed),
        )))
    }
}

#[tokio::test]
async fn ftps_receives_alarm_and_periodic_images_with_configured_names_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "ftp");
    let root: PathBuf = dir.path().join("srv");
    let port = free_port();
    let _srv = server(&root, port, "ftps", &pki);
    let log = MemoryLog::new();

    let mut ftp = config(port, &pki.ca_pem);
    ftp.alarm.enabled = true;
    ftp.alarm.directory = "cam1/alarm".into();
    ftp.alarm.file_name = "door".into();
    ftp.alarm.alarms = vec![Trigger::Command];
    ftp.alarm.pre_alarm = ImageSeries {
        interval_ms: 200,
        images: 2,
    };
    ftp.alarm.post_alarm = ImageSeries {
        interval_ms: 200,
        images: 3,
    };
    ftp.periodic.enabled = true;
    ftp.periodic.directory = "/cam1/periodic".into();
    ftp.periodic.file_name = "gate".into();
    ftp.periodic.interval_seconds = 1;
    ftp.periodic.with_date_time = true;

    let uploader = Arc::new(
        FtpUploader::start(
            dir.path().join("ftp-queue"),
            ftp.clone(),
            fast(),
            log.shared(),
        )
        .unwrap(),
    );
    let mut settings = ActionSettings::default();
    settings.alarm.command.enabled = true;
    settings.ftp = ftp.clone();
    let hub = AlarmHub::new(settings.alarm.clone(), log.shared());
    let engine = ActionEngine::start(
        &hub,
        ActionDeps {
            snapshots: Arc::new(Camera::default()),
            recorder: None,
            mail: None,
            ftp: Some(uploader.clone()),
        },
        settings.clone(),
    );
    // Let the pre-alarm ring fill.
    tokio::time::sleep(Duration::from_millis(700)).await;
    hub.command().unwrap();

    let alarm_dir = root.join("cam1/alarm");
    // The server lists a file as soon as its STOR begins: wait until every image is whole.
    let whole = |n: &String| {
        std::fs::read(alarm_dir.join(n)).is_ok_and(|d| d.len() >= 4 && d.ends_with(&[0xff, 0xd9]))
    };
    let got = wait_for(Duration::from_secs(30), || {
        let f = files(&alarm_dir);
        (f.len() >= 5 && f.iter().all(whole)).then_some(f)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "alarm images: {:?}; log {:?}",
            files(&alarm_dir),
            log.entries()
        )
    });
    let pre: Vec<&String> = got.iter().filter(|n| n.contains("_command_pre")).collect();
    let post: Vec<&String> = got.iter().filter(|n| n.contains("_command_post")).collect();
    assert_eq!((pre.len(), post.len()), (2, 3), "{got:?}");
    for n in &got {
        assert!(n.starts_with("door_") && n.ends_with(".jpg"), "{n}");
        let data = std::fs::read(alarm_dir.join(n)).unwrap();
        assert_eq!(&data[..2], &[0xff, 0xd8], "a JPEG arrived whole: {n}");
        assert_eq!(&data[data.len() - 2..], &[0xff, 0xd9], "{n}");
    }

    let periodic_dir = root.join("cam1/periodic");
    let p = wait_for(Duration::from_secs(20), || {
        let f = files(&periodic_dir);
        (f.len() >= 2).then_some(f)
    })
    .await
    .expect("periodic images arrive");
    assert!(
        p.iter()
            .all(|n| n.starts_with("gate_") && n.len() == "gate_YYYYMMDD_HHMMSS_mmm.jpg".len()),
        "{p:?}"
    );

    // "Name w/o time&date": one remote file, replaced each time.
    settings.ftp.periodic.with_date_time = false;
    engine.apply(settings.clone());
    wait_for(Duration::from_secs(20), || {
        files(&periodic_dir)
            .contains(&"gate.jpg".to_string())
            .then_some(())
    })
    .await
    .expect("gate.jpg arrives");
    settings.ftp.periodic.enabled = false;
    engine.apply(settings);
    assert!(log.of_kind("ftp.dropped").is_empty(), "{:?}", log.entries());
    assert!(log.of_kind("ftp.sent").len() >= 8);
    assert!(log.entries().iter().all(|e| !e.message.contains(PASSWORD)));
}

#[tokio::test]
async fn explicit_tls_never_falls_back_to_plain_ftp() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "ftp");
    let root = dir.path().join("srv");
    let port = free_port();
    let _srv = server(&root, port, "plain", &pki);
    let log = MemoryLog::new();
    let up = FtpUploader::start(
        dir.path().join("q"),
        config(port, &pki.ca_pem),
        fast(),
        log.shared(),
    )
    .unwrap();
    up.enqueue(ImageUpload {
        directory: "x".into(),
        name: "a.jpg".into(),
        data: Bytes::from(fake_jpeg(1)),
    })
    .await
    .unwrap();
    wait_for(Duration::from_secs(20), || {
        (up.queued().0 == 0).then_some(())
    })
    .await
    .expect("given up after the retry limit");
    let dropped = log.of_kind("ftp.dropped");
    assert_eq!(dropped.len(), 1, "{:?}", log.entries());
    assert!(
        dropped[0].message.contains("AUTH TLS"),
        "{}",
        dropped[0].message
    );
    assert!(files(&root).is_empty(), "nothing was uploaded in clear");

    // With FTPS switched off on purpose, the same server receives it.
    let mut plain = config(port, &pki.ca_pem);
    plain.tls = FtpTls::None;
    up.apply(&plain);
    up.enqueue(ImageUpload {
        directory: "x".into(),
        name: "b.jpg".into(),
        data: Bytes::from(fake_jpeg(2)),
    })
    .await
    .unwrap();
    wait_for(Duration::from_secs(20), || {
        files(&root.join("x"))
            .contains(&"b.jpg".to_string())
            .then_some(())
    })
    .await
    .expect("plain upload when tls = none");
}

#[tokio::test]
async fn certificate_from_an_untrusted_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "ftp");
    let other = common::pki(dir.path(), "other");
    let root = dir.path().join("srv");
    let port = free_port();
    let _srv = server(&root, port, "ftps", &pki);
    let log = MemoryLog::new();
    let up = FtpUploader::start(
        dir.path().join("q"),
        config(port, &other.ca_pem),
        fast(),
        log.shared(),
    )
    .unwrap();
    up.enqueue(ImageUpload {
        directory: String::new(),
        name: "a.jpg".into(),
        data: Bytes::from(fake_jpeg(1)),
    })
    .await
    .unwrap();
    wait_for(Duration::from_secs(20), || {
        (up.queued().0 == 0).then_some(())
    })
    .await
    .expect("given up");
    let dropped = log.of_kind("ftp.dropped");
    assert_eq!(dropped.len(), 1);
    assert!(
        dropped[0].message.contains("certificate"),
        "{}",
        dropped[0].message
    );
    assert!(files(&root).is_empty());
}

#[tokio::test]
async fn queued_images_survive_an_outage_and_arrive_once_the_server_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "ftp");
    let root = dir.path().join("srv");
    let port = free_port();
    let log = MemoryLog::new();
    let mut cfg = config(port, &pki.ca_pem);
    cfg.retry_limit = 50;
    let up = FtpUploader::start(dir.path().join("q"), cfg, fast(), log.shared()).unwrap();
    for i in 0..3 {
        up.enqueue(ImageUpload {
            directory: "late".into(),
            name: format!("{i}.jpg"),
            data: Bytes::from(fake_jpeg(i)),
        })
        .await
        .unwrap();
    }
    wait_for(Duration::from_secs(10), || {
        (!log.of_kind("ftp.retry").is_empty()).then_some(())
    })
    .await
    .expect("a failed try is logged");
    let _srv = server(&root, port, "ftps", &pki);
    wait_for(Duration::from_secs(30), || {
        (up.queued().0 == 0).then_some(())
    })
    .await
    .expect("queue drained");
    assert_eq!(files(&root.join("late")), vec!["0.jpg", "1.jpg", "2.jpg"]);
    assert!(log.of_kind("ftp.dropped").is_empty());
}
