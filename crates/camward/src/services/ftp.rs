//! "FTP access to camera" (paper §4.2): Forbid by default, so no port is open; `ftp_server.enabled`
//! opens a read-only FTP(S) server over the recordings for administrators, and closing it closes the port.

use camward_alarm::SharedLog;
use camward_auth::{AccountService, Gate, Level, Outcome, Protocol};
use camward_config::{Config, Connection};
use camward_notify::{FtpAuthenticator, FtpServer, FtpServerOptions};
use camward_store::ConfigHandle;
use camward_tls::DeviceIdentity;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// camward's accounts as the FTP server's password check (lockout and audit included).
struct Accounts(Arc<AccountService>);

impl FtpAuthenticator for Accounts {
    fn login(&self, user: &str, password: &str, peer: IpAddr) -> Option<Level> {
        match self.0.check_password(Protocol::Ftp, user, password, peer) {
            // Guest access never reaches here (a password was given), but stay explicit.
            Outcome::Granted(p) if p.user.is_some() => Some(p.level),
            _ => None,
        }
    }
}

/// What the running server was started with; any change restarts it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    bind: SocketAddr,
    ftps_required: bool,
    passive: (u16, u16),
    recordings: PathBuf,
}

fn wanted(c: &Config, flag: Option<SocketAddr>, data_dir: &std::path::Path) -> Option<Wanted> {
    let s = &c.ftp_server;
    s.enabled.then(|| Wanted {
        // [::] is dual-stack on Linux, so IPv4 clients reach it too.
        bind: flag.unwrap_or_else(|| SocketAddr::from(([0u16; 8], s.port))),
        ftps_required: s.ftps_required_with(c.https.connection == Connection::Https),
        passive: (s.passive_port_min, s.passive_port_max),
        recordings: c.recording.resolve_directory(data_dir),
    })
}

pub struct Input {
    /// `--ftp`: overrides the configured address.
    pub flag: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub config: ConfigHandle,
    pub accounts: Arc<AccountService>,
    pub gate: Arc<dyn Gate>,
    /// `--max-connections-per-address`, shared with HTTP and RTSP (FTP caps it further).
    pub max_connections_per_address: usize,
    pub identity: Arc<DeviceIdentity>,
    /// Where FTP sessions are logged (the alarm log: audit log and daemon log).
    pub log: SharedLog,
    /// Where the open listener is announced (status page).
    pub listeners: super::device::Listeners,
    pub shutdown: CancellationToken,
}

pub fn start(input: Input) -> JoinHandle<()> {
    let Input {
        flag,
        data_dir,
        config,
        accounts,
        gate,
        max_connections_per_address,
        identity,
        log,
        listeners,
        shutdown,
    } = input;
    tokio::spawn(async move {
        let mut rx = config.subscribe();
        let mut running: Option<(Wanted, FtpServer)> = None;
        loop {
            let cfg = rx.borrow_and_update().clone();
            let want = wanted(&cfg, flag, &data_dir);
            if running.as_ref().map(|(w, _)| w) != want.as_ref() {
                if let Some((_, server)) = running.take() {
                    server.stop().await;
                    listeners.close("FTP");
                    tracing::info!("FTP access closed");
                }
                if let Some(w) = want {
                    let mut opts = FtpServerOptions::new(
                        w.bind,
                        vec![("recordings".into(), w.recordings.clone())],
                    );
                    opts.passive_ports = w.passive.0..=w.passive.1;
                    opts.tls = Some(camward_tls::server_config(identity.clone(), &[]));
                    opts.ftps_required = w.ftps_required;
                    opts.max_connections_per_address = max_connections_per_address;
                    match FtpServer::start(
                        opts,
                        gate.clone(),
                        Arc::new(Accounts(accounts.clone())),
                        log.clone(),
                    )
                    .await
                    {
                        Ok(server) => {
                            listeners.open("FTP", w.bind);
                            running = Some((w, server));
                        }
                        Err(e) => tracing::error!(
                            error = %e,
                            "FTP access is allowed but cannot start; choose another address with --ftp ADDR:PORT"
                        ),
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = rx.changed() => if r.is_err() { break },
            }
        }
        if let Some((_, server)) = running {
            server.stop().await;
        }
    })
}
