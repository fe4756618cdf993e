//! FTP(S) image upload with suppaftp: every image goes through the on-disk queue first, one
//! worker uploads in order, retries with back-off up to the retry limit, and logs each drop.
//!
//! TLS policy: `tls = "explicit"` sends AUTH TLS before the user name and protects the data
//! connections (PBSZ 0, PROT P); a server that refuses is an error, never a fall-back to plain
//! FTP. The certificate is verified like SMTP's (system roots or the uploaded CA).

use crate::error::NotifyError;
use crate::queue::{DiskQueue, QueueLimits, QueuedItem, Refusal};
use async_trait::async_trait;
use bytes::Bytes;
use camward_alarm::actions::{ImageSink, ImageUpload};
use camward_alarm::log::{LogEntry, SharedLog};
use camward_config::{FtpClientConfig, FtpTls};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
use suppaftp::types::FileType;
use suppaftp::{FtpError, Mode};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// Tunables of the uploader; the defaults are the documented behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploaderOptions {
    pub limits: QueueLimits,
    /// First wait after a failed try; doubles per consecutive failure up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Limit for connecting, logging in, and each upload.
    pub op_timeout: Duration,
}

impl Default for UploaderOptions {
    fn default() -> Self {
        UploaderOptions {
            limits: QueueLimits::default(),
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(60),
            op_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a session or an upload failed; `per_item`: the server refused this file (5xx on STOR)
/// while the session stays usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpFailure {
    pub message: String,
    pub per_item: bool,
}

impl std::fmt::Display for FtpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn fail(context: &str, e: impl std::fmt::Display) -> FtpFailure {
    FtpFailure {
        message: format!("{context}: {e}"),
        per_item: false,
    }
}

struct Shared {
    queue: Mutex<DiskQueue>,
    config: watch::Sender<FtpClientConfig>,
    wake: Notify,
    log: SharedLog,
    opts: UploaderOptions,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The FTP client of the camera. Dropping it stops the worker; queued images stay on disk.
pub struct FtpUploader {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FtpUploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (files, bytes) = self.queued();
        let cfg = self.shared.config.borrow();
        f.debug_struct("FtpUploader")
            .field("server", &cfg.server)
            .field("tls", &cfg.tls)
            .field("queued_files", &files)
            .field("queued_bytes", &bytes)
            .finish()
    }
}

impl FtpUploader {
    /// Opens the queue in `queue_dir` (`DATA/ftp-queue`) and starts the worker (needs a tokio
    /// runtime). Images left by a previous run are uploaded once the client is enabled.
    pub fn start(
        queue_dir: PathBuf,
        config: FtpClientConfig,
        opts: UploaderOptions,
        log: SharedLog,
    ) -> Result<Self, NotifyError> {
        let (queue, dropped) = DiskQueue::open(&queue_dir, opts.limits)?;
        for d in dropped {
            log.log(&LogEntry::error(
                "ftp.dropped",
                format!(
                    "image {}/{} dropped at start: the queue limits were lowered",
                    d.directory, d.name
                ),
            ));
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(queue),
            config: watch::channel(config).0,
            wake: Notify::new(),
            log,
            opts,
        });
        let task = tokio::spawn(worker(shared.clone()));
        Ok(FtpUploader { shared, task })
    }

    /// Takes a new `ftp_client` section; the worker uses it from its next connection.
    pub fn apply(&self, config: &FtpClientConfig) {
        self.shared.config.send_replace(config.clone());
    }

    /// Images and bytes waiting.
    pub fn queued(&self) -> (usize, u64) {
        let q = lock(&self.shared.queue);
        (q.len(), q.bytes())
    }

    /// Connects, logs in and enters the alarm directory, then quits: for a "test" button.
    pub async fn check(&self) -> Result<(), FtpFailure> {
        let cfg = self.shared.config.borrow().clone();
        let mut s = Session::open(&cfg, self.shared.opts.op_timeout).await?;
        s.enter(&cfg.alarm.directory).await?;
        s.quit().await;
        Ok(())
    }
}

impl Drop for FtpUploader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[async_trait]
impl ImageSink for FtpUploader {
    async fn enqueue(&self, upload: ImageUpload) -> Result<(), String> {
        let shared = self.shared.clone();
        let r = tokio::task::spawn_blocking(move || {
            lock(&shared.queue).push(&upload.directory, &upload.name, &upload.data)
        })
        .await
        .map_err(|e| format!("FTP queue task: {e}"))?;
        match r {
            Ok(replaced) => {
                if let Some(old) = replaced {
                    self.shared.log.log(&LogEntry::info(
                        "ftp.replaced",
                        format!(
                            "queued image {}/{} replaced by a newer one of the same name",
                            old.directory, old.name
                        ),
                    ));
                }
                self.shared.wake.notify_one();
                Ok(())
            }
            Err(r @ (Refusal::Full { .. } | Refusal::Io(_))) => Err(r.to_string()),
        }
    }
}

async fn worker(shared: Arc<Shared>) {
    let mut config = shared.config.subscribe();
    let mut failures = 0u32;
    loop {
        let cfg = config.borrow_and_update().clone();
        let empty = lock(&shared.queue).is_empty();
        if !cfg.enabled || empty {
            tokio::select! {
                _ = shared.wake.notified() => {}
                r = config.changed() => if r.is_err() { return },
            }
            continue;
        }
        if run_batch(&shared, &cfg).await {
            failures = 0;
            continue;
        }
        failures = failures.saturating_add(1);
        let wait = shared
            .opts
            .backoff_base
            .saturating_mul(1u32 << failures.min(16).saturating_sub(1))
            .min(shared.opts.backoff_max);
        // New images do not cut the wait short (the server is down for them too); new settings do.
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            r = config.changed() => if r.is_err() { return },
        }
    }
}

/// Uploads the queue in order on one connection. True when the queue was emptied (or only
/// per-item refusals happened), false after a connection-level failure.
async fn run_batch(shared: &Shared, cfg: &FtpClientConfig) -> bool {
    let max_tries = cfg.max_attempts();
    let target = format!("{}:{}", cfg.server, cfg.port);
    let mut session = match Session::open(cfg, shared.opts.op_timeout).await {
        Ok(s) => s,
        Err(e) => {
            let head = lock(&shared.queue).front().cloned();
            if let Some(item) = head {
                count_failure(shared, &item, max_tries, &target, &e);
            }
            return false;
        }
    };
    loop {
        let item = {
            let q = lock(&shared.queue);
            q.front().cloned().map(|i| {
                let data = q.read(&i);
                (i, data)
            })
        };
        let Some((item, data)) = item else {
            session.quit().await;
            return true;
        };
        let data = match data {
            Ok(d) => d,
            Err(e) => {
                // Unreadable on disk: no try can ever succeed.
                lock(&shared.queue).complete(item.seq);
                shared.log.log(&LogEntry::error(
                    "ftp.dropped",
                    format!("image {}/{} dropped: {e}", item.directory, item.name),
                ));
                continue;
            }
        };
        let r = tokio::time::timeout(
            shared.opts.op_timeout,
            session.upload(&item.directory, &item.name, data),
        )
        .await
        .unwrap_or_else(|_| Err(fail("upload", "timed out")));
        match r {
            Ok(()) => {
                lock(&shared.queue).complete(item.seq);
                shared.log.log(&LogEntry::info(
                    "ftp.sent",
                    format!("image {} sent to {target}", remote_path(&item)),
                ));
            }
            Err(e) => {
                count_failure(shared, &item, max_tries, &target, &e);
                if !e.per_item {
                    session.quit().await;
                    return false;
                }
            }
        }
    }
}

fn remote_path(item: &QueuedItem) -> String {
    if item.directory.is_empty() {
        item.name.clone()
    } else {
        format!("{}/{}", item.directory.trim_end_matches('/'), item.name)
    }
}

fn count_failure(shared: &Shared, item: &QueuedItem, max_tries: u32, target: &str, e: &FtpFailure) {
    let dropped = lock(&shared.queue).failed(item.seq, max_tries);
    let tries = item.tries + 1;
    match dropped {
        Some(_) => shared.log.log(&LogEntry::error(
            "ftp.dropped",
            format!(
                "image {} dropped after {tries} tries to {target}: {e}",
                remote_path(item)
            ),
        )),
        None => shared.log.log(&LogEntry::warning(
            "ftp.retry",
            format!(
                "image {} not sent to {target} (try {tries} of {max_tries}): {e}",
                remote_path(item)
            ),
        )),
    }
}

/// One logged-in FTP connection.
struct Session {
    ftp: AsyncRustlsFtpStream,
    /// Directory after login, and the directory we are in (to skip needless CWDs).
    home: String,
    cwd: String,
    op_timeout: Duration,
}

impl Session {
    async fn open(cfg: &FtpClientConfig, op_timeout: Duration) -> Result<Session, FtpFailure> {
        let t = op_timeout;
        let addr: SocketAddr = tokio::net::lookup_host((cfg.server.as_str(), cfg.port))
            .await
            .map_err(|e| fail("resolving the FTP server", e))?
            .next()
            .ok_or_else(|| fail("resolving the FTP server", "no address"))?;
        let mut ftp = AsyncRustlsFtpStream::connect_timeout(addr, t)
            .await
            .map_err(|e| fail("connecting", e))?;
        if cfg.tls == FtpTls::Explicit {
            let tls =
                crate::tls::client_config(&cfg.ca_certificate).map_err(|e| fail("FTPS", e))?;
            let connector =
                AsyncRustlsConnector::from(camward_tls::tokio_rustls::TlsConnector::from(tls));
            ftp = tokio::time::timeout(t, ftp.into_secure(connector, &cfg.server))
                .await
                .map_err(|_| fail("AUTH TLS", "timed out"))?
                .map_err(|e| match e {
                    FtpError::UnexpectedResponse(r) => fail(
                        "the server refused AUTH TLS (FTPS is required by ftp_client.tls = explicit; not falling back to plain FTP)",
                        r,
                    ),
                    other => fail("TLS handshake", other),
                })?;
        }
        if !cfg.passive {
            ftp = ftp.active_mode(t);
        } else if addr.is_ipv6() {
            ftp.set_mode(Mode::ExtendedPassive);
        }
        // Connect data channels to the control peer, whatever address the PASV reply names: a
        // hostile or NATed server cannot point the camera's uploads at a third host.
        ftp.set_passive_nat_workaround(true);
        let (user, pass) = if cfg.username.is_empty() {
            ("anonymous", "camward@")
        } else {
            (cfg.username.as_str(), cfg.password.expose().unwrap_or(""))
        };
        tokio::time::timeout(t, ftp.login(user, pass))
            .await
            .map_err(|_| fail("login", "timed out"))?
            .map_err(|e| fail(&format!("login as {user:?}"), e))?;
        ftp.transfer_type(FileType::Binary)
            .await
            .map_err(|e| fail("TYPE I", e))?;
        let home = ftp.pwd().await.unwrap_or_else(|_| "/".into());
        Ok(Session {
            ftp,
            cwd: home.clone(),
            home,
            op_timeout: t,
        })
    }

    /// Changes to `dir` (relative to the login directory unless it starts with `/`), creating
    /// missing directories.
    async fn enter(&mut self, dir: &str) -> Result<(), FtpFailure> {
        let wanted = if dir.is_empty() {
            self.home.clone()
        } else if dir.starts_with('/') {
            dir.trim_end_matches('/').to_owned()
        } else {
            format!(
                "{}/{}",
                self.home.trim_end_matches('/'),
                dir.trim_end_matches('/')
            )
        };
        if wanted == self.cwd {
            return Ok(());
        }
        let base = if dir.starts_with('/') {
            "/"
        } else {
            self.home.as_str()
        };
        self.ftp
            .cwd(base)
            .await
            .map_err(|e| fail(&format!("CWD {base}"), e))?;
        self.cwd = base.to_owned();
        for seg in dir.split('/').filter(|s| !s.is_empty()) {
            if self.ftp.cwd(seg).await.is_err() {
                // Missing: create it. An error here may just mean another client made it.
                let _ = self.ftp.mkdir(seg).await;
                self.ftp
                    .cwd(seg)
                    .await
                    .map_err(|e| fail(&format!("entering directory {seg:?}"), e))?;
            }
        }
        self.cwd = wanted;
        Ok(())
    }

    async fn upload(&mut self, dir: &str, name: &str, data: Bytes) -> Result<(), FtpFailure> {
        self.enter(dir).await?;
        let mut reader = std::io::Cursor::new(data);
        match self.ftp.put_file(name, &mut reader).await {
            Ok(_) => Ok(()),
            Err(FtpError::UnexpectedResponse(r)) if r.status.code() >= 500 => Err(FtpFailure {
                message: format!("STOR {name}: {r}"),
                per_item: true,
            }),
            Err(e) => Err(fail(&format!("STOR {name}"), e)),
        }
    }

    async fn quit(mut self) {
        let _ = tokio::time::timeout(self.op_timeout.min(Duration::from_secs(5)), self.ftp.quit())
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camward_alarm::MemoryLog;
    use camward_config::Secret;

    fn config(port: u16) -> FtpClientConfig {
        FtpClientConfig {
            enabled: true,
            server: "127.0.0.1".into(),
            port,
            username: "cam".into(),
            password: Secret::new("ftp-s3cret"),
            retry_limit: 3,
            ..FtpClientConfig::default()
        }
    }

    fn opts() -> UploaderOptions {
        UploaderOptions {
            backoff_base: Duration::from_millis(20),
            backoff_max: Duration::from_millis(50),
            op_timeout: Duration::from_secs(2),
            ..UploaderOptions::default()
        }
    }

    #[tokio::test]
    async fn unreachable_server_drops_after_the_retry_limit_with_a_log_line() {
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let log = MemoryLog::new();
        let up = FtpUploader::start(dir.path().into(), config(port), opts(), log.shared()).unwrap();
        up.enqueue(ImageUpload {
            directory: "d".into(),
            name: "a.jpg".into(),
            data: Bytes::from_static(b"jpeg"),
        })
        .await
        .unwrap();
        for _ in 0..100 {
            if up.queued().0 == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(up.queued(), (0, 0));
        assert_eq!(log.of_kind("ftp.retry").len(), 2);
        let dropped = log.of_kind("ftp.dropped");
        assert_eq!(dropped.len(), 1, "{:?}", log.entries());
        assert!(dropped[0].message.contains("d/a.jpg") && dropped[0].message.contains("3 tries"));
        assert!(log.entries().iter().all(|e| !e.message.contains("s3cret")));
    }

    #[tokio::test]
    async fn disabled_client_keeps_images_queued() {
        let dir = tempfile::tempdir().unwrap();
        let log = MemoryLog::new();
        let cfg = FtpClientConfig {
            enabled: false,
            ..config(1)
        };
        let up = FtpUploader::start(dir.path().into(), cfg, opts(), log.shared()).unwrap();
        up.enqueue(ImageUpload {
            directory: String::new(),
            name: "a.jpg".into(),
            data: Bytes::from_static(b"jpeg"),
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(up.queued().0, 1);
        assert!(log.entries().is_empty());
    }

    #[tokio::test]
    async fn full_queue_refuses_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = FtpClientConfig {
            enabled: false,
            ..config(1)
        };
        let o = UploaderOptions {
            limits: QueueLimits {
                max_files: 2,
                max_bytes: 1 << 20,
            },
            ..opts()
        };
        let up = FtpUploader::start(dir.path().into(), cfg, o, MemoryLog::new().shared()).unwrap();
        for i in 0..2 {
            up.enqueue(ImageUpload {
                directory: String::new(),
                name: format!("{i}.jpg"),
                data: Bytes::from_static(b"jpeg"),
            })
            .await
            .unwrap();
        }
        let e = up
            .enqueue(ImageUpload {
                directory: String::new(),
                name: "2.jpg".into(),
                data: Bytes::from_static(b"jpeg"),
            })
            .await
            .unwrap_err();
        assert!(e.contains("queue full"), "{e}");
    }

    #[test]
    fn password_never_in_debug_output() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let up = FtpUploader::start(
                dir.path().into(),
                config(21),
                opts(),
                MemoryLog::new().shared(),
            )
            .unwrap();
            let dbg = format!("{up:?}");
            assert!(!dbg.contains("s3cret"), "{dbg}");
        });
    }
}
