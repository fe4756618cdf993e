//! "FTP access to camera" (paper §4.2): a libunftp server over the recordings and images,
//! read-only, administrators only, host-filtered on connect, FTPS offered or required.
//!
//! The daemon calls [`FtpServer::start`] when `ftp_server.enabled` turns on and
//! [`FtpServer::stop`] when it turns off, so no port is open while FTP access is forbidden.
//! Connections are accepted here, not by libunftp, so the host filter runs before a single
//! byte is answered; each accepted socket is then handed to libunftp's `Server::service`.
//!
//! Like HTTP and RTSP (paper §4.2 and §3.1: one client must not lock out the others), each
//! client address holds a bounded share of the sessions. The slot is taken in the accept loop,
//! in accept order, before the session is spawned, so a burst of connections cannot race past
//! the limit. Only control connections count: a passive data connection belongs to a session
//! that already holds its slot, and libunftp accepts it on the passive port itself.

use crate::error::NotifyError;
use crate::ftp_storage::ReadOnlyRoots;
use async_trait::async_trait;
use camward_alarm::log::{LogEntry, SharedLog};
use camward_auth::conn_limit::PerAddressLimit;
use camward_auth::{Gate, Level};
use camward_tls::rustls::ServerConfig;
use libunftp::ServerBuilder;
use libunftp::options::FtpsRequired;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use unftp_core::auth::{
    AuthenticationError, Authenticator, Credentials, Principal, UserDetail, UserDetailError,
    UserDetailProvider,
};

/// Password check against camward's accounts, implemented by the daemon (e.g. over
/// `camward_auth::AccountService`): returns the account's level when `user`/`password` are
/// right. It should count failures for the lockout and write the audit log like every
/// other login; it is called on a blocking thread (password hashing is slow on purpose).
pub trait FtpAuthenticator: Send + Sync + 'static {
    fn login(&self, user: &str, password: &str, peer: IpAddr) -> Option<Level>;
}

/// Simultaneous FTP sessions. A camera serves an occasional download, not a crowd; beyond this
/// new connections are closed at once (and logged) so they cannot exhaust memory or ports.
pub const MAX_SESSIONS: usize = 8;

/// The most sessions one client address may hold, whatever larger per-address limit the daemon
/// runs with: half of [`MAX_SESSIONS`], so one client (a mirroring script, a reconnect loop)
/// always leaves sessions for the others. The HTTP/RTSP default of 64 would never bite here.
pub const MAX_SESSIONS_PER_ADDRESS: usize = MAX_SESSIONS / 2;

/// The per-address limit FTP applies for a daemon-wide `--max-connections-per-address` of
/// `requested`: the smaller of it and [`MAX_SESSIONS_PER_ADDRESS`]; `0` (no per-address limit,
/// for load tests) leaves only [`MAX_SESSIONS`].
pub fn sessions_per_address(requested: usize) -> usize {
    if requested == 0 {
        0
    } else {
        requested.min(MAX_SESSIONS_PER_ADDRESS)
    }
}

/// How the server runs.
#[derive(Clone)]
pub struct FtpServerOptions {
    /// Address and port to listen on (only this address: no wildcard unless given).
    pub bind: SocketAddr,
    /// Passive data ports (bound on the address the client connected to).
    pub passive_ports: RangeInclusive<u16>,
    /// The device certificate's server config (`camward_tls::server_config(identity, &[])`);
    /// `None` offers no FTPS (refused when `ftps_required`).
    pub tls: Option<Arc<ServerConfig>>,
    /// Refuse every command but AUTH TLS until the control connection is protected, and
    /// refuse unprotected data connections.
    pub ftps_required: bool,
    /// Top-level directories shown to clients: (name, directory), e.g.
    /// `("recordings", DATA/recordings)`, `("images", DATA/images)`.
    pub roots: Vec<(String, PathBuf)>,
    /// A session idle this long is closed.
    pub idle_timeout: Duration,
    /// The daemon's connections per client address (`--max-connections-per-address`); FTP
    /// applies [`sessions_per_address`] of it.
    pub max_connections_per_address: usize,
}

impl std::fmt::Debug for FtpServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpServerOptions")
            .field("bind", &self.bind)
            .field("passive_ports", &self.passive_ports)
            .field("tls", &self.tls.is_some())
            .field("ftps_required", &self.ftps_required)
            .field("roots", &self.roots)
            .field(
                "max_connections_per_address",
                &self.max_connections_per_address,
            )
            .finish()
    }
}

impl FtpServerOptions {
    pub fn new(bind: SocketAddr, roots: Vec<(String, PathBuf)>) -> Self {
        FtpServerOptions {
            bind,
            passive_ports: 50_000..=50_019,
            tls: None,
            ftps_required: false,
            roots,
            idle_timeout: Duration::from_secs(300),
            max_connections_per_address: camward_auth::conn_limit::DEFAULT_PER_ADDRESS,
        }
    }
}

/// The account behind an FTP session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpUser {
    pub name: String,
}

impl std::fmt::Display for FtpUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl UserDetail for FtpUser {}

#[derive(Debug)]
struct Users;

#[async_trait]
impl UserDetailProvider for Users {
    type User = FtpUser;
    async fn provide_user_detail(&self, p: &Principal) -> Result<FtpUser, UserDetailError> {
        Ok(FtpUser {
            name: p.username.clone(),
        })
    }
}

/// libunftp's authenticator over the daemon's: admins only, host filter re-checked.
struct AdminOnly {
    accounts: Arc<dyn FtpAuthenticator>,
    gate: Arc<dyn Gate>,
    log: SharedLog,
}

impl std::fmt::Debug for AdminOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminOnly")
    }
}

#[async_trait]
impl Authenticator for AdminOnly {
    async fn authenticate(
        &self,
        username: &str,
        creds: &Credentials,
    ) -> Result<Principal, AuthenticationError> {
        let ip = canonical(creds.source_ip);
        // Checked on connect already; again here because the allow-list may have changed
        // during a session that was idle before logging in.
        if !self.gate.host_allowed(ip) {
            return Err(AuthenticationError::IpDisallowed);
        }
        let Some(password) = creds.password.clone() else {
            return Err(AuthenticationError::BadPassword);
        };
        let accounts = self.accounts.clone();
        let user = username.to_owned();
        let level = tokio::task::spawn_blocking(move || accounts.login(&user, &password, ip))
            .await
            .map_err(|e| AuthenticationError::new(format!("login task: {e}")))?;
        match level {
            Some(Level::Admin) => {
                self.log.log(&LogEntry::info(
                    "ftp_server.login",
                    format!("FTP login by {username:?} from {ip}"),
                ));
                Ok(Principal {
                    username: username.to_owned(),
                })
            }
            Some(other) => {
                self.log.log(&LogEntry::warning(
                    "ftp_server.denied",
                    format!(
                        "FTP login by {username:?} from {ip} refused: level {} (FTP access needs admin)",
                        other.as_str()
                    ),
                ));
                Err(AuthenticationError::BadUser)
            }
            None => {
                self.log.log(&LogEntry::warning(
                    "ftp_server.denied",
                    format!(
                        "FTP login by {username:?} from {ip} refused: wrong user name or password"
                    ),
                ));
                Err(AuthenticationError::BadPassword)
            }
        }
    }
}

/// IPv4-mapped IPv6 peers are matched as IPv4 (the host filter's rule).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// A running FTP server. [`FtpServer::stop`] (or dropping it) closes the port and every session.
pub struct FtpServer {
    local_addr: SocketAddr,
    local_addrs: Vec<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpServer")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl FtpServer {
    /// Binds `opts.bind` and starts serving (needs a tokio runtime).
    pub async fn start(
        opts: FtpServerOptions,
        gate: Arc<dyn Gate>,
        accounts: Arc<dyn FtpAuthenticator>,
        log: SharedLog,
    ) -> Result<FtpServer, NotifyError> {
        let addr = opts.bind.to_string();
        if opts.ftps_required && opts.tls.is_none() {
            return Err(NotifyError::FtpServer {
                addr,
                detail: "FTPS is required but no TLS configuration was given".into(),
            });
        }
        if opts.roots.is_empty() {
            return Err(NotifyError::FtpServer {
                addr,
                detail: "nothing to serve: no directories given".into(),
            });
        }
        let listeners = bind_listeners(opts.bind).map_err(|e| NotifyError::FtpServer {
            addr: addr.clone(),
            detail: format!("cannot listen: {e}"),
        })?;
        let local_addrs: Vec<SocketAddr> = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<std::io::Result<_>>()
            .map_err(|e| NotifyError::FtpServer {
                addr,
                detail: e.to_string(),
            })?;
        let local_addr = local_addrs[0];
        let auth: Arc<dyn Authenticator> = Arc::new(AdminOnly {
            accounts,
            gate: gate.clone(),
            log: log.clone(),
        });
        let storage = ReadOnlyRoots::new(opts.roots.clone());
        let (stop_tx, stop_rx) = oneshot::channel();
        log.log(&LogEntry::info(
            "ftp_server.start",
            format!(
                "FTP access open on {} ({})",
                local_addrs
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(" and "),
                if opts.ftps_required {
                    "FTPS required"
                } else if opts.tls.is_some() {
                    "FTPS offered, plain FTP accepted"
                } else {
                    "plain FTP only"
                }
            ),
        ));
        let task = tokio::spawn(accept_loop(
            listeners, opts, gate, auth, storage, log, stop_rx,
        ));
        Ok(FtpServer {
            local_addr,
            local_addrs,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }

    /// The (first) listening address, with the port actually bound when `bind` asked for 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Every listening address: `[::]` is served as `0.0.0.0` plus IPv6-only `[::]`.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Closes the listening port and ends every session; returns when the port is closed.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

fn build_server(
    opts: &FtpServerOptions,
    auth: Arc<dyn Authenticator>,
    storage: ReadOnlyRoots,
) -> Result<libunftp::Server<ReadOnlyRoots, FtpUser>, libunftp::ServerError> {
    let mut b = ServerBuilder::with_authenticator(Box::new(move || storage.clone()), auth)
        .user_detail_provider(Arc::new(Users))
        .greeting("camward FTP access (read-only)")
        .passive_ports(opts.passive_ports.clone())
        .idle_session_timeout(opts.idle_timeout.as_secs().max(1));
    if let Some(tls) = &opts.tls {
        b = b.ftps_manual::<PathBuf>(tls.clone());
    }
    let req = if opts.ftps_required {
        FtpsRequired::All
    } else {
        FtpsRequired::None
    };
    b.ftps_required(req, req).build()
}

/// Listeners for `bind`. The IPv6 wildcard becomes two sockets, `0.0.0.0` and IPv6-only `[::]`
/// on the same port: libunftp answers PASV only on an IPv4 control connection, and IPv4
/// clients reaching a dual-stack socket would appear as `::ffff:a.b.c.d` and get no PASV.
fn bind_listeners(bind: SocketAddr) -> std::io::Result<Vec<TcpListener>> {
    use socket2::{Domain, Socket, Type};
    let listen = |addr: SocketAddr| -> std::io::Result<TcpListener> {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        if addr.is_ipv6() {
            s.set_only_v6(true)?;
        }
        s.set_reuse_address(true)?;
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        s.listen(64)?;
        TcpListener::from_std(s.into())
    };
    match bind {
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => {
            let v4 = listen(SocketAddr::from(([0, 0, 0, 0], bind.port())))?;
            let port = v4.local_addr()?.port();
            match listen(SocketAddr::from(([0u16; 8], port))) {
                Ok(v6) => Ok(vec![v4, v6]),
                // A host without IPv6 still serves IPv4.
                Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => Ok(vec![v4]),
                Err(e) => Err(e),
            }
        }
        other => Ok(vec![listen(other)?]),
    }
}

/// The next connection on any of `listeners` (accept is cancel-safe: losing the race is fine).
async fn accept_any(
    listeners: &[TcpListener],
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    let accepts = listeners.iter().map(|l| Box::pin(l.accept()));
    futures_util::future::select_all(accepts).await.0
}

async fn accept_loop(
    listeners: Vec<TcpListener>,
    opts: FtpServerOptions,
    gate: Arc<dyn Gate>,
    auth: Arc<dyn Authenticator>,
    storage: ReadOnlyRoots,
    log: SharedLog,
    mut stop: oneshot::Receiver<()>,
) {
    let mut sessions = JoinSet::new();
    let per_address = PerAddressLimit::new(sessions_per_address(opts.max_connections_per_address));
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            a = accept_any(&listeners) => a,
        };
        while sessions.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: pause rather than spin.
                tracing::warn!("FTP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ip = canonical(peer.ip());
        if !gate.host_allowed(ip) {
            log.log(&LogEntry::warning(
                "ftp_server.refused",
                format!("FTP connection from {ip} refused by the host filter"),
            ));
            drop(stream);
            continue;
        }
        if sessions.len() >= MAX_SESSIONS {
            log.log(&LogEntry::warning(
                "ftp_server.busy",
                format!("FTP connection from {ip} refused: {MAX_SESSIONS} sessions already open"),
            ));
            drop(stream);
            continue;
        }
        let Some(slot) = per_address.try_acquire(ip) else {
            log.log(&LogEntry::warning(
                "ftp_server.busy",
                format!(
                    "FTP connection from {ip} refused: {} sessions already open from this address",
                    per_address.max()
                ),
            ));
            drop(stream);
            continue;
        };
        match build_server(&opts, auth.clone(), storage.clone()) {
            Ok(server) => {
                sessions.spawn(async move {
                    let _ = server.service(stream).await;
                    drop(slot);
                });
            }
            Err(e) => log.log(&LogEntry::error(
                "ftp_server.error",
                format!("FTP session for {ip} not started: {e}"),
            )),
        }
    }
    // Dropping a session's future drops libunftp's shutdown notifier, which ends its control
    // loop: stopping the server really closes every session.
    sessions.shutdown().await;
    drop(listeners);
    log.log(&LogEntry::info(
        "ftp_server.stop",
        "FTP access closed".to_string(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_never_holds_more_than_half_the_sessions() {
        assert_eq!(
            sessions_per_address(camward_auth::conn_limit::DEFAULT_PER_ADDRESS),
            MAX_SESSIONS / 2
        );
        assert_eq!(sessions_per_address(2), 2);
        assert_eq!(sessions_per_address(0), 0);
    }
}
