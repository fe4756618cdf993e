//! The HTTP accept loop: host filter on accept before any byte is read, bounded connections (in
//! all and per client address), HTTP/1.1 with a total header deadline, long-lived streaming bodies
//! both ways (RTSP tunnel), graceful shutdown.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use camward_auth::Gate;
use camward_auth::conn_limit::PerAddressLimit;
use camward_auth::host::canonical;
use camward_tls::tokio_rustls::TlsAcceptor;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Connections served at once; more are closed on accept. Default 2048: each RTSP-over-HTTP
    /// tunnel holds two connections (GET + POST legs), so this lets in as many tunnelled viewers as
    /// the RTSP server has sessions (1024, `camward_rtsp::Options::max_connections`), ≥ 500 being
    /// the fan-out goal. It stays a bound: an idle connection costs a task and small buffers; a
    /// playing tunnelled viewer measured ~50 KiB RSS at N = 500 (docs/benchmarks.md, fan-out),
    /// so 2048 connections (1024 viewers) is ~50 MiB, and well under the fd limit.
    pub max_connections: usize,
    /// Connections served at once to one client address (an IPv6 /64); 0 = no limit. Each RTSP
    /// tunnel takes two.
    pub max_connections_per_address: usize,
    /// Time a client has to send complete request headers, counted from their first byte and
    /// not restarted by later ones (hyper's header read timer; slowloris guard).
    pub header_timeout: Duration,
    /// On shutdown, how long in-flight requests may finish before streams (MJPEG, tunnel) are cut.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_connections: 2048,
            max_connections_per_address: camward_auth::conn_limit::DEFAULT_PER_ADDRESS,
            header_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

/// Put in every request's extensions by the accept loop: whether the request came over TLS
/// (the audit log records HTTPS logins as `https`; pages learn how they are reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverTls(pub bool);

const REFUSAL: &[u8] =
    b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 18\r\nConnection: close\r\n\r\nhost not allowed\r\n";

/// Serves `app` on `listener` until `shutdown` completes. Every accepted connection is checked with
/// `gate.host_allowed` first; refused peers get a fixed 403 and are closed without their bytes being parsed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    gate: Arc<dyn Gate>,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_inner(listener, None, app, gate, opts, shutdown).await
}

/// [`serve`] over TLS: the host filter still runs on accept, before the handshake (a refused peer
/// gets no certificate and costs no signature); the handshake must finish within `header_timeout`.
pub async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    gate: Arc<dyn Gate>,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_inner(listener, Some(acceptor), app, gate, opts, shutdown).await
}

async fn serve_inner(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    gate: Arc<dyn Gate>,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(opts.max_connections));
    let per_address = PerAddressLimit::new(opts.max_connections_per_address);
    // Refusals are cheap but each lingers briefly to drain; bound them separately.
    let refusals = Arc::new(Semaphore::new(64));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let peer = SocketAddr::new(canonical(peer.ip()), peer.port());
        if !gate.host_allowed(peer.ip()) {
            tracing::debug!(%peer, "refused by host authentication");
            if let Ok(permit) = refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(permit);
                });
            }
            continue;
        }
        let Some(address_permit) = per_address.try_acquire(peer.ip()) else {
            tracing::warn!(%peer, "too many connections from this address; closing");
            continue;
        };
        let Ok(global_permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many connections; closing");
            continue;
        };
        let permit = (global_permit, address_permit);
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let over_tls = OverTls(tls.is_some());
        let svc = service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(over_tls);
            app.clone().oneshot(req.map(Body::new))
        });
        let header_timeout = opts.header_timeout;
        let Some(tls) = tls.clone() else {
            let conn = http1_conn(stream, svc, header_timeout);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "connection ended with error");
                }
                drop(permit);
            });
            continue;
        };
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // The handshake counts against the same slowloris budget as the request headers.
            let stream = match tokio::time::timeout(header_timeout, tls.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let conn = watcher.watch(http1_conn(stream, svc, header_timeout));
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(opts.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("HTTP shutdown: closing connections that are still streaming");
    }
    Ok(())
}

fn http1_conn<IO, S>(
    io: IO,
    svc: S,
    header_timeout: Duration,
) -> hyper::server::conn::http1::Connection<TokioIo<IO>, S>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = Body>,
{
    http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // Queue body chunks without copying (what "auto" picks for TCP and TLS; pinned so it
        // cannot change under us): the RTSP tunnel's GET leg counts queued chunks against its
        // budget until hyper drops them, whereas copies into hyper's flat write buffer could add
        // up to `max_buf_size` (~400 KiB) per stalled viewer.
        .writev(true)
        .serve_connection(TokioIo::new(io), svc)
}

/// Writes the fixed 403 and closes. Incoming bytes are discarded unread (never parsed) for a moment,
/// so closing does not reset the connection before the client has read the answer.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(REFUSAL).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut total = 0;
        while total < 64 * 1024 {
            match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut sink)).await {
                Ok(Ok(n)) if n > 0 => total += n,
                _ => break,
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}
