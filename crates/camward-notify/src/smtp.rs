//! Alarm mail over SMTP with lettre and rustls: STARTTLS required or implicit TLS, the server
//! certificate verified, AUTH PLAIN/LOGIN, bounded retries, outcomes to the alarm log.
//!
//! POP-before-SMTP (the paper's third authentication type) is not offered: it sends the POP
//! password in clear on port 110 and authorises by IP address for a while, which lets anyone
//! behind the same NAT relay mail; SMTP AUTH over TLS replaces it everywhere.

use crate::error::NotifyError;
use async_trait::async_trait;
use bytes::Bytes;
use camward_alarm::actions::{AlarmMail, MailSink};
use camward_alarm::log::{LogEntry, SharedLog};
use camward_alarm::naming;
use camward_config::{SmtpConfig, SmtpSecurity};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// How often a mail is tried while the server is unreachable or answers 4xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Waits between tries; tries = `delays.len() + 1`.
    pub delays: Vec<Duration>,
}

impl Default for RetryPolicy {
    /// 5 tries over 2 minutes: long enough to ride out a mail server restart, short enough that
    /// an alarm mail is still worth reading when it arrives.
    fn default() -> Self {
        RetryPolicy {
            delays: [10, 20, 30, 60].map(Duration::from_secs).to_vec(),
        }
    }
}

/// Time allowed for one SMTP conversation step (lettre's per-command timeout).
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a mail was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("e-mail notification is off or not configured")]
    Disabled,
    #[error("invalid address {address:?}: {detail}")]
    Address { address: String, detail: String },
    #[error("building the message: {0}")]
    Build(String),
    /// `permanent`: retrying cannot help (5xx such as 535 wrong password, TLS refused or
    /// certificate not trusted, STARTTLS missing).
    #[error("SMTP {server}: {detail}")]
    Smtp {
        server: String,
        detail: String,
        permanent: bool,
    },
}

struct Transport {
    config: SmtpConfig,
    smtp: AsyncSmtpTransport<Tokio1Executor>,
    sender: Mailbox,
}

/// Sends alarm mail. Cheap to share; [`SmtpMailer::apply`] swaps the settings at any time.
pub struct SmtpMailer {
    transport: Mutex<Option<Arc<Transport>>>,
    log: SharedLog,
    retry: RetryPolicy,
    device_name: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the credentials: show only what is safe.
        let t = self.current();
        f.debug_struct("SmtpMailer")
            .field("server", &t.as_ref().map(|t| t.config.server.clone()))
            .field("security", &t.as_ref().map(|t| t.config.security))
            .field("retry", &self.retry)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SmtpMailer {
    /// A mailer with no settings yet (sends nothing until [`SmtpMailer::apply`]). Installs
    /// camward-tls's crypto provider as the process default if none is (lettre builds its
    /// rustls configs from the default provider).
    pub fn new(log: SharedLog) -> Self {
        camward_tls::install_process_default();
        SmtpMailer {
            transport: Mutex::new(None),
            log,
            retry: RetryPolicy::default(),
            device_name: "camward".into(),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The camera's name in subjects (`[name] Alarm: …`).
    pub fn with_device_name(mut self, name: impl Into<String>) -> Self {
        self.device_name = name.into();
        self
    }

    /// Takes a validated `smtp` section. Off (or no server) means no mail is sent.
    pub fn apply(&self, config: &SmtpConfig) -> Result<(), NotifyError> {
        let t = if config.enabled && !config.server.is_empty() {
            Some(Arc::new(build_transport(config)?))
        } else {
            None
        };
        *lock(&self.transport) = t;
        Ok(())
    }

    fn current(&self) -> Option<Arc<Transport>> {
        lock(&self.transport).clone()
    }

    /// One try, no retry: for a "send test mail" button and for the retry loop.
    pub async fn send_once(
        &self,
        to: &str,
        subject: &str,
        body: &str,
        image: Option<(&str, &Bytes)>,
    ) -> Result<(), MailError> {
        let t = self.current().ok_or(MailError::Disabled)?;
        let to_box: Mailbox =
            to.parse()
                .map_err(|e: lettre::address::AddressError| MailError::Address {
                    address: to.to_owned(),
                    detail: e.to_string(),
                })?;
        let builder = Message::builder()
            .from(t.sender.clone())
            .to(to_box)
            .subject(subject)
            .date(SystemTime::now());
        let text = SinglePart::plain(body.to_owned());
        let msg = match image {
            Some((name, jpeg)) => {
                builder.multipart(MultiPart::mixed().singlepart(text).singlepart(
                    Attachment::new(name.to_owned()).body(
                        jpeg.to_vec(),
                        ContentType::parse("image/jpeg").expect("valid"),
                    ),
                ))
            }
            None => builder.singlepart(text),
        }
        .map_err(|e| MailError::Build(e.to_string()))?;
        t.smtp
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Smtp {
                server: format!("{}:{}", t.config.server, t.config.port),
                permanent: e.is_permanent() || e.is_client() || is_tls_failure(&e),
                detail: describe(&e),
            })
    }

    /// Delivers one mail, retrying transient failures per the [`RetryPolicy`]; every outcome
    /// goes to the log (`mail.sent`, `mail.retry`, `mail.failed`).
    pub async fn send(
        &self,
        to: &str,
        subject: &str,
        body: &str,
        image: Option<(&str, &Bytes)>,
    ) -> Result<(), MailError> {
        let tries = self.retry.delays.len() + 1;
        for attempt in 1..=tries {
            match self.send_once(to, subject, body, image).await {
                Ok(()) => {
                    self.log.log(&LogEntry::info(
                        "mail.sent",
                        format!("mail \"{subject}\" delivered for {to}"),
                    ));
                    return Ok(());
                }
                Err(e) => {
                    let retryable = matches!(
                        e,
                        MailError::Smtp {
                            permanent: false,
                            ..
                        }
                    );
                    if retryable && attempt < tries {
                        let wait = self.retry.delays[attempt - 1];
                        self.log.log(&LogEntry::warning(
                            "mail.retry",
                            format!(
                                "mail for {to} not delivered (try {attempt} of {tries}): {e}; next try in {} s",
                                wait.as_secs_f32()
                            ),
                        ));
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    self.log.log(&LogEntry::error(
                        "mail.failed",
                        format!("mail for {to} given up after {attempt} tries: {e}"),
                    ));
                    return Err(e);
                }
            }
        }
        unreachable!("the loop returns on its last try")
    }
}

#[async_trait]
impl MailSink for SmtpMailer {
    async fn send_alarm(&self, mail: AlarmMail) {
        let e = &mail.event;
        let when = naming::rfc3339(e.time);
        let subject = format!("[{}] Alarm: {} at {when}", self.device_name, e.source);
        let body = format!(
            "Alarm #{} on {}\r\nSource: {}\r\nTime: {when}\r\n{}",
            e.id,
            self.device_name,
            e.source,
            if mail.image.is_some() {
                "The picture taken at the alarm is attached.\r\n"
            } else {
                ""
            }
        );
        let name = format!("alarm_{}.jpg", naming::stamp(e.time));
        // Each destination gets its own mail: addresses stay private to each other and one
        // refused recipient does not stop the others.
        let sends = mail.recipients.iter().map(|to| {
            self.send(
                to,
                &subject,
                &body,
                mail.image.as_ref().map(|j| (name.as_str(), j)),
            )
        });
        for r in futures_util::future::join_all(sends).await {
            // Already logged by `send`.
            let _ = r;
        }
    }
}

/// Whether TLS itself failed (certificate not trusted, server not speaking TLS, ...): lettre
/// reports some of these as connection errors, but retrying cannot fix them.
fn is_tls_failure(e: &lettre::transport::smtp::Error) -> bool {
    use camward_tls::rustls;
    if e.is_tls() {
        return true;
    }
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        if c.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|i| i.downcast_ref::<rustls::Error>().is_some())
        {
            return true;
        }
        src = c.source();
    }
    false
}

/// lettre's error text plus the chain of causes (the certificate or TLS reason is in the
/// source), without anything from the request: no password can appear.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

fn build_transport(c: &SmtpConfig) -> Result<Transport, NotifyError> {
    let sender: Mailbox = c
        .sender
        .parse()
        .map_err(|e: lettre::address::AddressError| NotifyError::Config {
            what: "smtp.sender",
            detail: e.to_string(),
        })?;
    let tls = match c.security {
        SmtpSecurity::None => Tls::None,
        SmtpSecurity::Starttls => Tls::Required(tls_parameters(c)?),
        SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(c)?),
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.server.clone())
        .port(c.port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT));
    if !c.username.is_empty() {
        b = b
            .credentials(Credentials::new(
                c.username.clone(),
                c.password.expose().unwrap_or_default().to_owned(),
            ))
            // PLAIN first (one round trip), LOGIN for old servers; both only ever go over the
            // protected channel when security is starttls/tls.
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    Ok(Transport {
        config: c.clone(),
        smtp: b.build(),
        sender,
    })
}

fn tls_parameters(c: &SmtpConfig) -> Result<TlsParameters, NotifyError> {
    let mut b = TlsParameters::builder(c.server.clone());
    if !c.ca_certificate.trim().is_empty() {
        // Only the uploaded CA: see crate::tls::root_store.
        let cert = Certificate::from_pem(c.ca_certificate.as_bytes()).map_err(|e| {
            NotifyError::Config {
                what: "smtp.ca_certificate",
                detail: e.to_string(),
            }
        })?;
        b = b
            .certificate_store(CertificateStore::None)
            .add_root_certificate(cert);
    } else {
        // Fail early with a clear message when the system has no roots at all.
        crate::tls::root_store("")?;
    }
    b.build_rustls()
        .map_err(|e| NotifyError::Tls(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use camward_alarm::MemoryLog;
    use camward_config::Secret;
    use camward_config::smtp::Destination;

    fn config() -> SmtpConfig {
        SmtpConfig {
            enabled: true,
            server: "127.0.0.1".into(),
            port: 1,
            security: SmtpSecurity::None,
            username: "camera".into(),
            password: Secret::new("s3cret-Passw0rd"),
            sender: "cam@example.com".into(),
            destinations: vec![Destination {
                address: "ops@example.com".into(),
                alarms: vec![],
            }],
            ..SmtpConfig::default()
        }
    }

    #[test]
    fn password_never_in_debug_output() {
        let m = SmtpMailer::new(MemoryLog::new().shared());
        m.apply(&config()).unwrap();
        let dbg = format!("{m:?} {:?}", config());
        assert!(!dbg.contains("s3cret"), "{dbg}");
    }

    #[tokio::test]
    async fn unreachable_server_is_retried_then_reported_without_the_password() {
        let log = MemoryLog::new();
        let m = SmtpMailer::new(log.shared()).with_retry(RetryPolicy {
            delays: vec![Duration::from_millis(10); 2],
        });
        m.apply(&config()).unwrap();
        let e = m.send("ops@example.com", "s", "b", None).await.unwrap_err();
        assert!(
            matches!(
                e,
                MailError::Smtp {
                    permanent: false,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(log.of_kind("mail.retry").len(), 2);
        assert_eq!(log.of_kind("mail.failed").len(), 1);
        assert!(log.entries().iter().all(|e| !e.message.contains("s3cret")));
    }

    #[tokio::test]
    async fn disabled_mailer_sends_nothing() {
        let m = SmtpMailer::new(MemoryLog::new().shared());
        m.apply(&SmtpConfig::default()).unwrap();
        assert_eq!(
            m.send_once("a@b.c", "s", "b", None).await,
            Err(MailError::Disabled)
        );
    }

    #[test]
    fn default_retry_is_five_tries_over_two_minutes() {
        let r = RetryPolicy::default();
        assert_eq!(r.delays.len() + 1, 5);
        assert_eq!(r.delays.iter().sum::<Duration>(), Duration::from_secs(120));
    }
}
