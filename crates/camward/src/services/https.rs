//! The TLS listeners (HTTPS web app, RTSPS) that open and close with `https.connection`, and the
//! device certificate's upkeep: pick up console installs, audit an expiring certificate daily
//! (paper §3.7).

use super::listen::bind;
use axum::Router;
use camward_auth::Gate;
use camward_config::Config;
use camward_rtsp::{Carrier, RtspServer};
use camward_store::{AuditEvent, ConfigHandle, Store};
use camward_tls::DeviceIdentity;
use camward_web::ServeOptions;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Default RTSPS port (the registered `rtsps` port).
pub const RTSPS_PORT: u16 = 322;

/// A TLS handshake must finish within this (slowloris guard for RTSPS; HTTPS uses the
/// web server's header timeout).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The port plain HTTP redirects to while Connection = HTTPS: the bound HTTPS port once the
/// listener is up, else the configured one.
#[derive(Default)]
pub struct HttpsPort(AtomicU16);

impl HttpsPort {
    pub fn redirect_target(
        self: &Arc<Self>,
        config: ConfigHandle,
        flag: Option<SocketAddr>,
    ) -> camward_web::https::RedirectTarget {
        let port = self.clone();
        Arc::new(move || {
            let c = config.current();
            if !c.https.enabled() {
                return None;
            }
            let bound = port.0.load(Ordering::Relaxed);
            Some(if bound != 0 {
                bound
            } else {
                flag.map_or(c.https.port, |a| a.port())
            })
        })
    }
}

/// What a TLS listener needs: where it may bind, the identity it serves, the gate, and the
/// configuration it follows.
pub struct Listener {
    /// `--https` / `--rtsps`: overrides the configured address.
    pub flag: Option<SocketAddr>,
    pub identity: Arc<DeviceIdentity>,
    pub gate: Arc<dyn Gate>,
    pub config: ConfigHandle,
    /// For `service.bind_failed` entries.
    pub store: Store,
    /// Where the open listener is announced (status page).
    pub listeners: super::device::Listeners,
    pub shutdown: CancellationToken,
    /// The web server's limits (connections per address).
    pub serve: ServeOptions,
}

/// Serves `app` (the same application as plain HTTP, with the RTSP tunnel) over TLS with HSTS,
/// while Connection = HTTPS, on `--https` or `[::]:{https.port}`.
pub fn web(l: Listener, app: Router, port: Arc<HttpsPort>) -> JoinHandle<()> {
    let app = camward_web::https::with_hsts(app);
    let acceptor = camward_tls::tls_acceptor(l.identity.clone(), &[b"http/1.1"]);
    let gate = l.gate.clone();
    let flag = l.flag;
    let opts = l.serve.clone();
    follow_config(
        &l,
        "HTTPS",
        "--https",
        move |c| {
            c.https
                .enabled()
                .then(|| flag.map_or((None, c.https.port), |a| (Some(a), a.port())))
        },
        move |listener, stop| {
            let (app, gate, acceptor, port, opts) = (
                app.clone(),
                gate.clone(),
                acceptor.clone(),
                port.clone(),
                opts.clone(),
            );
            async move {
                if let Ok(a) = listener.local_addr() {
                    port.0.store(a.port(), Ordering::Relaxed);
                }
                let r = camward_web::serve_tls(
                    listener,
                    acceptor,
                    app,
                    gate,
                    opts,
                    stop.cancelled_owned(),
                )
                .await;
                port.0.store(0, Ordering::Relaxed);
                if let Err(e) = r {
                    tracing::error!(error = %e, "HTTPS service failed");
                }
            }
        },
    )
}

/// RTSPS while Connection = HTTPS, on `--rtsps` or `[::]:322`: the same RTSP server (streams,
/// Digest, host filter) over TLS. It follows Connection because an installer who asks for HTTPS
/// asks for encrypted video too, and the default stays "only HTTP and RTSP listen" (§3.5).
pub fn rtsps(l: Listener, server: Arc<RtspServer>) -> JoinHandle<()> {
    let acceptor = camward_tls::tls_acceptor(l.identity.clone(), &[]);
    let gate = l.gate.clone();
    let flag = l.flag;
    follow_config(
        &l,
        "RTSPS",
        "--rtsps",
        move |c| {
            c.https
                .enabled()
                .then(|| flag.map_or((None, RTSPS_PORT), |a| (Some(a), a.port())))
        },
        move |listener, stop| {
            let (server, gate, acceptor) = (server.clone(), gate.clone(), acceptor.clone());
            async move {
                loop {
                    let (stream, peer) = tokio::select! {
                        _ = stop.cancelled() => return,
                        r = listener.accept() => match r {
                            Ok(x) => x,
                            Err(e) => {
                                tracing::warn!(error = %e, "rtsps accept failed");
                                tokio::time::sleep(Duration::from_millis(100)).await;
                                continue;
                            }
                        },
                    };
                    let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
                    // Before the handshake: a refused host gets neither a certificate nor a signature.
                    if !gate.host_allowed(peer.ip()) {
                        tracing::info!(%peer, "rtsps connection refused by host filter");
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let (server, acceptor, stop) = (server.clone(), acceptor.clone(), stop.clone());
                    tokio::spawn(async move {
                        let tls =
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => {
                                    tracing::debug!(%peer, error = %e, "rtsps handshake failed");
                                    return;
                                }
                                Err(_) => return,
                            };
                        // Switching HTTPS off ends RTSPS sessions too, not just the listener.
                        tokio::select! {
                            _ = stop.cancelled() => {}
                            _ = server.serve_connection(tls, peer, Carrier::Tls) => {}
                        }
                    });
                }
            }
        },
    )
}

/// Where a listener should bind: the flag's address if given, and the port (default or flag's).
type Where = (Option<SocketAddr>, u16);

/// Keeps one listener in line with the configuration: `want` says where it should listen
/// (`None`: closed); on a change the old listener stops and the new one binds. A failed bind is
/// logged and retried on the next configuration change (the daemon keeps serving the rest).
fn follow_config<W, S, F>(
    l: &Listener,
    what: &'static str,
    flag: &'static str,
    want: W,
    serve: S,
) -> JoinHandle<()>
where
    W: Fn(&Config) -> Option<Where> + Send + 'static,
    S: Fn(TcpListener, CancellationToken) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let mut rx = l.config.subscribe();
    let shutdown = l.shutdown.clone();
    let store = l.store.clone();
    let registry = l.listeners.clone();
    tokio::spawn(async move {
        let mut running: Option<(Where, CancellationToken, JoinHandle<()>)> = None;
        loop {
            let desired = want(&rx.borrow_and_update());
            if running.as_ref().map(|r| r.0) != desired {
                if let Some((_, stop, task)) = running.take() {
                    stop.cancel();
                    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
                    registry.close(what);
                    tracing::info!("{what} listener closed");
                }
                if let Some(d) = desired {
                    match bind(d.0, d.1, what, flag).await {
                        Ok((listener, addr)) => {
                            tracing::info!(%addr, "{what} listening");
                            registry.open(what, listener.local_addr().unwrap_or(addr));
                            let stop = shutdown.child_token();
                            let task = tokio::spawn(serve(listener, stop.clone()));
                            running = Some((d, stop, task));
                        }
                        Err(e) => {
                            tracing::error!("{e:#}");
                            let _ = store.audit(&AuditEvent::new("service.bind_failed").detail(
                                serde_json::json!({"service": what, "error": format!("{e:#}")}),
                            ));
                        }
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = rx.changed() => if r.is_err() { break },
            }
        }
        if let Some((_, stop, task)) = running {
            stop.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
            registry.close(what);
        }
    })
}

/// How often the identity files are checked for changes made by the console tools.
const IDENTITY_POLL: Duration = Duration::from_secs(2);
const DAY: Duration = Duration::from_secs(24 * 3600);

pub struct Upkeep {
    pub identity: Arc<DeviceIdentity>,
    pub store: Store,
    pub shutdown: CancellationToken,
}

/// Reloads the identity when `camward identity install`/`delete-ca` changed its files (so the
/// console's install is served without a restart), and writes `certificate.expiring` to the
/// audit log at start and then daily while the certificate is within 30 days of expiry.
pub fn upkeep(u: Upkeep) -> JoinHandle<()> {
    let Upkeep {
        identity,
        store,
        shutdown,
    } = u;
    tokio::spawn(async move {
        let mut seen = files_stamp(&identity);
        let mut next_audit = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_audit {
                next_audit += DAY;
                let info = identity.info();
                if let Some(w) = camward_web::expiry_warning(&info) {
                    tracing::warn!("{w}");
                    let _ = store.audit(&AuditEvent::new("certificate.expiring").detail(
                        serde_json::json!({
                            "subject": info.subject, "not_after": info.not_after,
                            "days_left": info.days_left, "expired": info.expired,
                            "fingerprint_sha256": info.fingerprint_sha256,
                        }),
                    ));
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(IDENTITY_POLL) => {}
            }
            let now = files_stamp(&identity);
            if now != seen {
                seen = now;
                let id = identity.clone();
                match tokio::task::spawn_blocking(move || id.reload()).await {
                    Ok(Ok(info)) => tracing::info!(
                        kind = %info.kind, fingerprint = %info.fingerprint_sha256,
                        "device certificate reloaded"
                    ),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "cannot reload the device certificate")
                    }
                    Err(_) => {}
                }
            }
        }
    })
}

fn files_stamp(identity: &DeviceIdentity) -> Vec<Option<(SystemTime, u64)>> {
    use camward_tls::identity::{CA_CHAIN_FILE, SELF_SIGNED_FILE};
    [CA_CHAIN_FILE, SELF_SIGNED_FILE]
        .iter()
        .map(|f| {
            std::fs::metadata(identity.dir().join(f))
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}
