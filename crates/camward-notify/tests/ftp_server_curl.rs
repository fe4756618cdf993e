//! The camera's FTP server against a real client (curl): an admin lists and downloads a
//! recording over FTPS; a live-only user, a wrong password and anonymous are refused; plain FTP
//! is refused when FTPS is required; a filtered address is refused; stop closes the port.

mod common;

use camward_alarm::MemoryLog;
use camward_auth::{Gate, Level, Outcome, Protocol, Request};
use camward_notify::{FtpAuthenticator, FtpServer, FtpServerOptions};
use camward_tls::rustls::ServerConfig;
use camward_tls::rustls::pki_types::pem::PemObject;
use camward_tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use common::*;
use std::net::IpAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

struct Filter(AtomicBool);

impl Gate for Filter {
    fn host_allowed(&self, _peer: IpAddr) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    fn authenticate(&self, _req: &Request<'_>) -> Outcome {
        Outcome::NeedsSetup
    }
    fn challenge(&self, _p: Protocol) -> Vec<String> {
        Vec::new()
    }
}

struct Accounts;

impl FtpAuthenticator for Accounts {
    fn login(&self, user: &str, password: &str, _peer: IpAddr) -> Option<Level> {
        match (user, password) {
            ("installer", "Adm1n-Pass-2026") => Some(Level::Admin),
            ("viewer", "View-Pass-2026") => Some(Level::Live),
            _ => None,
        }
    }
}

fn tls_config(pki: &TestPki) -> Arc<ServerConfig> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(pki.key_pem.as_bytes()).unwrap();
    Arc::new(
        ServerConfig::builder_with_provider(camward_tls::crypto_provider())
            .with_protocol_versions(camward_tls::policy::PROTOCOL_VERSIONS)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    )
}

struct Fixture {
    dir: tempfile::TempDir,
    pki: TestPki,
    server: Option<FtpServer>,
    filter: Arc<Filter>,
    log: MemoryLog,
    recording: Vec<u8>,
}

async fn start(ftps_required: bool) -> Fixture {
    start_on("127.0.0.1:0", ftps_required).await
}

async fn start_on(bind: &str, ftps_required: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "dev");
    let rec = dir.path().join("recordings/2026-01-02");
    std::fs::create_dir_all(&rec).unwrap();
    let recording: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(rec.join("clip-0001.mp4"), &recording).unwrap();
    std::fs::create_dir_all(dir.path().join("images")).unwrap();
    let filter = Arc::new(Filter(AtomicBool::new(true)));
    let log = MemoryLog::new();
    let base = 20_000 + (free_port() % 20_000);
    let mut opts = FtpServerOptions::new(
        bind.parse().unwrap(),
        vec![
            ("recordings".into(), dir.path().join("recordings")),
            ("images".into(), dir.path().join("images")),
        ],
    );
    opts.passive_ports = base..=base + 20;
    opts.tls = Some(tls_config(&pki));
    opts.ftps_required = ftps_required;
    let server = FtpServer::start(opts, filter.clone(), Arc::new(Accounts), log.shared())
        .await
        .unwrap();
    Fixture {
        dir,
        pki,
        server: Some(server),
        filter,
        log,
        recording,
    }
}

impl Fixture {
    fn url(&self, path: &str) -> String {
        format!(
            "ftp://127.0.0.1:{}{path}",
            self.server.as_ref().unwrap().local_addr().port()
        )
    }

    /// Runs curl off the runtime thread (the server runs on it); returns (exit code, stdout).
    async fn curl(&self, args: Vec<String>) -> (i32, Vec<u8>) {
        tokio::task::spawn_blocking(move || {
            let out = Command::new("curl")
                .args(["-s", "-S", "--max-time", "20"])
                .args(&args)
                .output()
                .expect("curl runs");
            (out.status.code().unwrap_or(-1), out.stdout)
        })
        .await
        .unwrap()
    }

    fn ftps(&self, user: &str, path: &str) -> Vec<String> {
        vec![
            "--ssl-reqd".into(),
            "--cacert".into(),
            self.pki.ca_file.display().to_string(),
            "-u".into(),
            user.into(),
            self.url(path),
        ]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_lists_and_downloads_a_recording_over_ftps() {
    let f = start(true).await;
    let (code, out) = f.curl(f.ftps("installer:Adm1n-Pass-2026", "/")).await;
    assert_eq!(code, 0);
    let top = String::from_utf8_lossy(&out);
    assert!(
        top.contains("recordings") && top.contains("images"),
        "{top}"
    );
    let (code, out) = f
        .curl(f.ftps("installer:Adm1n-Pass-2026", "/recordings/2026-01-02/"))
        .await;
    assert_eq!(code, 0);
    assert!(String::from_utf8_lossy(&out).contains("clip-0001.mp4"));
    let (code, out) = f
        .curl(f.ftps(
            "installer:Adm1n-Pass-2026",
            "/recordings/2026-01-02/clip-0001.mp4",
        ))
        .await;
    assert_eq!(code, 0);
    assert!(out == f.recording, "downloaded bytes equal the recording");
    // A resumed download (REST) gets the rest of the file.
    let mut args = f.ftps(
        "installer:Adm1n-Pass-2026",
        "/recordings/2026-01-02/clip-0001.mp4",
    );
    args.splice(0..0, ["-C".to_string(), "150000".to_string()]);
    let (code, out) = f.curl(args).await;
    assert_eq!(code, 0);
    assert!(out == f.recording[150_000..], "resumed at the offset");
    assert!(!f.log.of_kind("ftp_server.login").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_bind_serves_ipv4_pasv_and_ipv6_epsv() {
    let f = start_on("[::]:0", true).await;
    let addrs = f.server.as_ref().unwrap().local_addrs().to_vec();
    assert!(addrs[0].is_ipv4(), "{addrs:?}");
    let path = "/recordings/2026-01-02/clip-0001.mp4";
    // IPv4 with PASV (not EPSV): needs an IPv4 control connection on the server side.
    let mut args = f.ftps("installer:Adm1n-Pass-2026", path);
    args.insert(0, "--disable-epsv".into());
    let (code, out) = f.curl(args).await;
    assert_eq!(code, 0);
    assert!(out == f.recording);
    // Hosts without IPv6 serve IPv4 only; where ::1 exists, the IPv6 listener must be there.
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        assert_eq!(addrs.len(), 2, "{addrs:?}");
        let mut args = f.ftps("installer:Adm1n-Pass-2026", path);
        let last = args.len() - 1;
        args[last] = format!("ftp://[::1]:{}{path}", addrs[1].port());
        let (code, out) = f.curl(args).await;
        assert_eq!(code, 0, "IPv6 with EPSV");
        assert!(out == f.recording);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_only_user_wrong_password_and_anonymous_are_refused() {
    let f = start(true).await;
    for user in [
        "viewer:View-Pass-2026",
        "installer:wrong-password",
        "anonymous:guest@example.com",
    ] {
        let (code, out) = f.curl(f.ftps(user, "/recordings/")).await;
        // 67: "the user name, password, or similar was not accepted".
        assert_eq!(code, 67, "{user} must be refused");
        assert!(out.is_empty());
    }
    let denied = f.log.of_kind("ftp_server.denied");
    assert_eq!(denied.len(), 3, "{denied:?}");
    assert!(denied[0].message.contains("needs admin"), "{denied:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_ftp_is_refused_when_ftps_is_required() {
    let f = start(true).await;
    let (code, out) = f
        .curl(vec![
            "-u".into(),
            "installer:Adm1n-Pass-2026".into(),
            f.url("/recordings/"),
        ])
        .await;
    assert_ne!(code, 0, "plain FTP must not log in");
    assert!(out.is_empty());
    // Offered but not required: plain works (the config then carries a warning).
    let f = start(false).await;
    let (code, _) = f
        .curl(vec![
            "-u".into(),
            "installer:Adm1n-Pass-2026".into(),
            f.url("/recordings/"),
        ])
        .await;
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_address_is_refused_on_connect() {
    let f = start(true).await;
    f.filter.0.store(false, Ordering::Relaxed);
    let (code, out) = f.curl(f.ftps("installer:Adm1n-Pass-2026", "/")).await;
    assert_ne!(code, 0);
    assert!(out.is_empty());
    assert_eq!(f.log.of_kind("ftp_server.refused").len(), 1);
    assert!(f.log.of_kind("ftp_server.login").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_deletes_are_refused() {
    let f = start(true).await;
    let src = f.dir.path().join("upload.bin");
    std::fs::write(&src, b"evil").unwrap();
    let mut args = f.ftps("installer:Adm1n-Pass-2026", "/images/upload.bin");
    args.splice(0..0, ["-T".to_string(), src.display().to_string()]);
    let (code, _) = f.curl(args).await;
    assert_ne!(code, 0);
    assert!(!f.dir.path().join("images/upload.bin").exists());
    let mut args = f.ftps("installer:Adm1n-Pass-2026", "/");
    args.splice(
        0..0,
        [
            "-Q".to_string(),
            "DELE recordings/2026-01-02/clip-0001.mp4".to_string(),
        ],
    );
    let (code, _) = f.curl(args).await;
    assert_ne!(code, 0);
    assert!(
        f.dir
            .path()
            .join("recordings/2026-01-02/clip-0001.mp4")
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_closes_the_port_and_open_sessions() {
    use tokio::io::AsyncReadExt;
    let mut f = start(true).await;
    let addr = f.server.as_ref().unwrap().local_addr();
    let mut session = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 256];
    let n = session.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"220"), "greeting");
    tokio::time::timeout(Duration::from_secs(10), f.server.take().unwrap().stop())
        .await
        .expect("stop returns");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no port open after stop"
    );
    assert_eq!(f.log.of_kind("ftp_server.stop").len(), 1);
    // The session that was open is closed too (EOF or reset, not a hang).
    let r = tokio::time::timeout(Duration::from_secs(10), session.read(&mut buf))
        .await
        .expect("the open session ends");
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
}
