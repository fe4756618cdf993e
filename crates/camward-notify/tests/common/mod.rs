//! Helpers shared by the real-peer tests: test certificates (rcgen), Python peers started and
//! stopped by the test, free loopback ports, bounded polling.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// A CA and a server certificate it issued for 127.0.0.1, ::1 and localhost, as PEM files in `dir`.
pub struct TestPki {
    pub ca_pem: String,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn pki(dir: &Path, name: &str) -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, format!("camward test CA {name}"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    leaf.subject_alt_names
        .push(SanType::IpAddress("::1".parse().unwrap()));
    leaf.distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let write = |f: &str, s: &str| {
        let p = dir.join(format!("{name}-{f}"));
        std::fs::write(&p, s).unwrap();
        p
    };
    TestPki {
        ca_pem: ca_cert.pem(),
        ca_file: write("ca.pem", &ca_cert.pem()),
        cert_file: write("cert.pem", &cert.pem()),
        key_file: write("key.pem", &key.serialize_pem()),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// Makes sure the Python peers are importable, installing them once from PyPI if missing.
pub fn python_peers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let ok = |_: ()| {
            Command::new("python3")
                .args(["-c", "import aiosmtpd, pyftpdlib, OpenSSL"])
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        if ok(()) {
            return;
        }
        let _ = Command::new("python3")
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(["aiosmtpd", "pyftpdlib", "pyopenssl"])
            .status();
        assert!(
            ok(()),
            "python3 with aiosmtpd, pyftpdlib and pyopenssl is needed: python3 -m pip install aiosmtpd pyftpdlib pyopenssl"
        );
    });
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
pub struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `python3 script args…` and waits (≤ 20 s) for it to print `READY`.
pub fn start_python(script: &str, args: &[String]) -> Peer {
    python_peers();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(script);
    let mut child = Command::new("python3")
        .arg(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim() == "READY" {
                let _ = tx.send(());
            }
        }
    });
    let peer = Peer(child);
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{script} did not start"));
    peer
}

/// Polls `f` every 50 ms until it returns `Some`, for at most `limit`.
pub async fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A small but real JPEG (SOI … EOI) with a marker so tests can tell images apart.
pub fn fake_jpeg(tag: u32) -> Vec<u8> {
    let mut v = vec![
        0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0,
    ];
    v.extend_from_slice(format!("camward-test-{tag}").as_bytes());
    v.extend(std::iter::repeat_n(0x42u8, 2000));
    v.extend_from_slice(&[0xff, 0xd9]);
    v
}
