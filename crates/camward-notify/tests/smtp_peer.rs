//! SMTP against a real server (aiosmtpd on loopback, started by each test): STARTTLS and
//! implicit TLS with AUTH, a command alarm mailed with its JPEG to two destinations, wrong
//! password reported, server down then up delivered once, and "SSL On" refusing no-TLS and
//! untrusted servers.

mod common;

use async_trait::async_trait;
use bytes::Bytes;
use camward_alarm::actions::{ActionDeps, ActionEngine, ActionSettings, SnapshotSource};
use camward_alarm::{AlarmHub, MemoryLog};
use camward_config::Secret;
use camward_config::smtp::Destination;
use camward_config::{SmtpConfig, SmtpSecurity, Trigger};
use camward_notify::{MailError, RetryPolicy, SmtpMailer};
use common::*;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const USER: &str = "camera";
const PASSWORD: &str = "Mail-Pass-2026";

fn server(dir: &Path, port: u16, mode: &str, pki: &TestPki) -> Peer {
    let out = dir.join("mail");
    std::fs::create_dir_all(&out).unwrap();
    start_python(
        "smtp_server.py",
        &[
            "--port".into(),
            port.to_string(),
            "--mode".into(),
            mode.into(),
            "--cert".into(),
            pki.cert_file.display().to_string(),
            "--key".into(),
            pki.key_file.display().to_string(),
            "--user".into(),
            USER.into(),
            "--password".into(),
            PASSWORD.into(),
            "--outdir".into(),
            out.display().to_string(),
        ],
    )
}

fn received(dir: &Path) -> Vec<Value> {
    let Ok(rd) = std::fs::read_dir(dir.join("mail")) else {
        return Vec::new();
    };
    let mut v: Vec<(String, Value)> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| {
            let s = std::fs::read_to_string(e.path()).unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                serde_json::from_str(&s).unwrap(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter().map(|(_, j)| j).collect()
}

fn config(port: u16, security: SmtpSecurity, ca: &str) -> SmtpConfig {
    SmtpConfig {
        enabled: true,
        server: "127.0.0.1".into(),
        port,
        security,
        username: USER.into(),
        password: Secret::new(PASSWORD),
        sender: "camera@example.com".into(),
        ca_certificate: ca.into(),
        attach_image: true,
        image_size: 2,
        destinations: vec![
            Destination {
                address: "ops@example.com".into(),
                alarms: vec![Trigger::Command, Trigger::Vmd],
            },
            Destination {
                address: "guard@example.com".into(),
                alarms: vec![Trigger::Command],
            },
            Destination {
                address: "nobody@example.com".into(),
                alarms: vec![Trigger::Terminal1],
            },
        ],
    }
}

struct Camera;

#[async_trait]
impl SnapshotSource for Camera {
    async fn jpeg(&self, _stream: u8, size: u8) -> Result<Bytes, String> {
        Ok(Bytes::from(fake_jpeg(size as u32)))
    }
}

fn sha256_hex(data: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(data)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// A command alarm through the hub and the action engine, mailed by the real mailer.
async fn command_alarm_mail(security: SmtpSecurity, mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "mail");
    let port = free_port();
    let _srv = server(dir.path(), port, mode, &pki);
    let log = MemoryLog::new();
    let cfg = config(port, security, &pki.ca_pem);
    let mailer = Arc::new(SmtpMailer::new(log.shared()).with_device_name("front-door"));
    mailer.apply(&cfg).unwrap();
    let mut settings = ActionSettings::default();
    settings.alarm.command.enabled = true;
    settings.smtp = cfg;
    let hub = AlarmHub::new(settings.alarm.clone(), log.shared());
    let _engine = ActionEngine::start(
        &hub,
        ActionDeps {
            snapshots: Arc::new(Camera),
            recorder: None,
            mail: Some(mailer),
            ftp: None,
        },
        settings,
    );
    hub.command().unwrap();
    let mails = wait_for(Duration::from_secs(20), || {
        let m = received(dir.path());
        (m.len() >= 2).then_some(m)
    })
    .await
    .unwrap_or_else(|| panic!("2 mails expected, log: {:?}", log.entries()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        received(dir.path()).len(),
        2,
        "exactly one mail per matching destination"
    );
    let mut rcpts: Vec<String> = mails
        .iter()
        .map(|m| m["rcpt_tos"][0].as_str().unwrap().to_owned())
        .collect();
    rcpts.sort();
    assert_eq!(rcpts, vec!["guard@example.com", "ops@example.com"]);
    let jpeg_sha = sha256_hex(&fake_jpeg(2));
    for m in &mails {
        assert_eq!(m["tls"], true, "{m}");
        assert_eq!(m["authenticated"], true, "{m}");
        assert_eq!(m["mail_from"], "camera@example.com");
        assert!(
            m["subject"].as_str().unwrap().contains("command alarm"),
            "{m}"
        );
        let att = &m["attachments"][0];
        assert_eq!(att["content_type"], "image/jpeg");
        assert_eq!(att["sha256"], jpeg_sha.as_str());
    }
    assert_eq!(log.of_kind("mail.sent").len(), 2);
    assert!(log.entries().iter().all(|e| !e.message.contains(PASSWORD)));
}

#[tokio::test]
async fn starttls_with_auth_mails_command_alarm_jpeg_to_each_destination() {
    command_alarm_mail(SmtpSecurity::Starttls, "starttls").await;
}

#[tokio::test]
async fn implicit_tls_with_auth_mails_command_alarm_jpeg_to_each_destination() {
    command_alarm_mail(SmtpSecurity::Tls, "tls").await;
}

#[tokio::test]
async fn wrong_password_is_reported_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "mail");
    let port = free_port();
    let _srv = server(dir.path(), port, "starttls", &pki);
    let log = MemoryLog::new();
    let mailer = SmtpMailer::new(log.shared()).with_retry(RetryPolicy {
        delays: vec![Duration::from_millis(100); 3],
    });
    let mut cfg = config(port, SmtpSecurity::Starttls, &pki.ca_pem);
    cfg.password = Secret::new("Wrong-Pass-2026");
    mailer.apply(&cfg).unwrap();
    let e = mailer
        .send("ops@example.com", "test", "body", None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            MailError::Smtp {
                permanent: true,
                ..
            }
        ),
        "{e:?}"
    );
    let failed = log.of_kind("mail.failed");
    assert_eq!(failed.len(), 1);
    assert!(failed[0].message.contains("535"), "{:?}", failed[0]);
    assert!(
        log.of_kind("mail.retry").is_empty(),
        "a wrong password is not retried"
    );
    assert!(
        log.entries()
            .iter()
            .all(|e| !e.message.contains("Wrong-Pass"))
    );
    assert!(received(dir.path()).is_empty());
}

#[tokio::test]
async fn server_down_then_up_is_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "mail");
    let port = free_port();
    let log = MemoryLog::new();
    let mailer = Arc::new(SmtpMailer::new(log.shared()).with_retry(RetryPolicy {
        delays: vec![Duration::from_secs(1); 8],
    }));
    mailer
        .apply(&config(port, SmtpSecurity::Starttls, &pki.ca_pem))
        .unwrap();
    let m = mailer.clone();
    let jpeg = Bytes::from(fake_jpeg(7));
    let send = tokio::spawn(async move {
        m.send("ops@example.com", "late", "body", Some(("a.jpg", &jpeg)))
            .await
    });
    // Let at least one try fail against the closed port, then start the server.
    wait_for(Duration::from_secs(10), || {
        (!log.of_kind("mail.retry").is_empty()).then_some(())
    })
    .await
    .expect("a failed try is logged");
    let _srv = server(dir.path(), port, "starttls", &pki);
    tokio::time::timeout(Duration::from_secs(30), send)
        .await
        .expect("delivered within the retries")
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mails = received(dir.path());
    assert_eq!(mails.len(), 1, "delivered exactly once");
    assert_eq!(
        mails[0]["attachments"][0]["sha256"],
        sha256_hex(&fake_jpeg(7)).as_str()
    );
    assert_eq!(log.of_kind("mail.sent").len(), 1);
}

#[tokio::test]
async fn ssl_on_refuses_a_server_without_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "mail");
    let port = free_port();
    let _srv = server(dir.path(), port, "plain", &pki);
    for security in [SmtpSecurity::Starttls, SmtpSecurity::Tls] {
        let log = MemoryLog::new();
        let mailer = SmtpMailer::new(log.shared()).with_retry(RetryPolicy {
            delays: vec![Duration::from_millis(100); 2],
        });
        mailer.apply(&config(port, security, &pki.ca_pem)).unwrap();
        let e = tokio::time::timeout(
            Duration::from_secs(60),
            mailer.send("ops@example.com", "t", "b", None),
        )
        .await
        .expect("fails in bounded time")
        .unwrap_err();
        assert!(matches!(e, MailError::Smtp { .. }), "{security:?}: {e:?}");
        assert_eq!(log.of_kind("mail.failed").len(), 1, "{security:?}");
    }
    assert!(received(dir.path()).is_empty(), "nothing went out in clear");
    // The same server is usable when SSL is explicitly off (the config warns about it).
    let log = MemoryLog::new();
    let mailer = SmtpMailer::new(log.shared());
    mailer
        .apply(&config(port, SmtpSecurity::None, &pki.ca_pem))
        .unwrap();
    mailer
        .send("ops@example.com", "t", "b", None)
        .await
        .unwrap();
    assert_eq!(received(dir.path()).len(), 1);
    assert_eq!(received(dir.path())[0]["tls"], false);
}

#[tokio::test]
async fn certificate_from_an_untrusted_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "mail");
    let other = common::pki(dir.path(), "other");
    for (mode, security) in [
        ("starttls", SmtpSecurity::Starttls),
        ("tls", SmtpSecurity::Tls),
    ] {
        let port = free_port();
        let _srv = server(dir.path(), port, mode, &pki);
        // Another CA uploaded, and the system roots: neither trusts the test CA.
        for ca in [other.ca_pem.as_str(), ""] {
            let log = MemoryLog::new();
            let mailer = SmtpMailer::new(log.shared());
            mailer.apply(&config(port, security, ca)).unwrap();
            let e = mailer
                .send("ops@example.com", "t", "b", None)
                .await
                .unwrap_err();
            let MailError::Smtp {
                permanent, detail, ..
            } = &e
            else {
                panic!("{e:?}")
            };
            assert!(*permanent, "an untrusted certificate is not retried: {e:?}");
            assert!(
                detail.to_lowercase().contains("certificate") || detail.contains("UnknownIssuer"),
                "{detail}"
            );
        }
    }
    assert!(received(dir.path()).is_empty());
}
