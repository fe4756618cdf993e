//! The SNTP and NTS clients against a real NTP server: chrony from Debian on loopback ports,
//! started with `-x` so it never touches the machine's clock, serving NTS-KE with a certificate
//! this test makes with openssl. Both report an offset near zero (chrony and the test read the
//! same clock) and only the NTS answer counts as authenticated.

use camward_config::NtpServer;
use camward_time::nts::Sessions;
use camward_time::sntp;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Chrony {
    child: Child,
    dir: std::path::PathBuf,
    port: u16,
    nts_port: u16,
    cert: String,
}

impl Drop for Chrony {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    // A port free for both UDP (NTP) and TCP (NTS-KE) on loopback.
    for _ in 0..50 {
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = t.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
    panic!("no free loopback port");
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start_chrony() -> Option<Chrony> {
    if !camward_testkit::have_all(&["chronyd", "openssl"]) {
        return None;
    }
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("camward-chrony-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = |f: &str| dir.join(f).display().to_string();
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-keyout",
        &d("key.pem"),
        "-out",
        &d("cert.pem"),
    ]));
    // chronyd drops privileges to _chrony: it must be able to read the key and write here.
    use std::os::unix::fs::PermissionsExt;
    for f in ["key.pem", "cert.pem"] {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (port, nts_port) = (free_port(), free_port());
    let conf = format!(
        "port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\ncmdport 0\n\
         pidfile {}\nntsserverkey {}\nntsservercert {}\nntsport {nts_port}\nntsdumpdir {}\nntsprocesses 0\n",
        d("chronyd.pid"),
        d("key.pem"),
        d("cert.pem"),
        d("nts"),
    );
    std::fs::write(dir.join("chrony.conf"), conf).unwrap();
    let child = Command::new("chronyd")
        .args(["-x", "-d", "-f", &d("chrony.conf")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chronyd starts");
    // Bounded wait for the NTS-KE port (the NTP socket is bound before it).
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", nts_port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let cert = std::fs::read_to_string(dir.join("cert.pem")).unwrap();
    Some(Chrony {
        child,
        dir,
        port,
        nts_port,
        cert,
    })
}

#[tokio::test]
async fn sntp_and_nts_against_chrony_agree_with_the_local_clock() {
    let Some(c) = start_chrony() else { return };
    let addr = SocketAddr::from(([127, 0, 0, 1], c.port));
    let s = sntp::query(addr, Duration::from_secs(3))
        .await
        .expect("chrony answers SNTP");
    assert_eq!(s.stratum, 8, "chrony's `local stratum 8`: {s:?}");
    assert!(s.offset.abs() < 0.05, "offset {} s", s.offset);
    assert!(!s.authenticated);

    let server = NtpServer {
        host: "127.0.0.1".into(),
        port: c.port,
        nts: true,
        nts_ke_port: c.nts_port,
        ca_certificate: c.cert.clone(),
    };
    let jar = Sessions::default();
    for round in 0..3 {
        let s = jar
            .query(&server, Duration::from_secs(3))
            .await
            .unwrap_or_else(|e| panic!("NTS round {round}: {e}"));
        assert!(s.authenticated);
        assert!(s.offset.abs() < 0.05, "offset {} s", s.offset);
    }
}

#[tokio::test]
async fn nts_refuses_a_server_whose_certificate_is_not_trusted() {
    let Some(c) = start_chrony() else { return };
    let server = NtpServer {
        host: "127.0.0.1".into(),
        port: c.port,
        nts: true,
        nts_ke_port: c.nts_port,
        // The system roots do not include the test's self-made certificate.
        ca_certificate: String::new(),
    };
    let e = Sessions::default()
        .query(&server, Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("TLS") || e.to_string().contains("CA"),
        "{e}"
    );
}
