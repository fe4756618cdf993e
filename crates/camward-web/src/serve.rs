//! The HTTP accept loop: host filter on accept before any byte is read, bounded connections (in
//! all and per client address), HTTP/1.1 with a total header deadline, long-lived streaming bodies
//! both ways (RTSP tunnel), graceful shutdown. RTSP-over-HTTP tunnel legs can be taken off hyper
//! right after their request head ([`TunnelTakeover`]), so that the RTSP server holds their
//! sockets itself.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use camward_auth::Gate;
use camward_auth::conn_limit::PerAddressLimit;
use camward_auth::host::canonical;
use camward_tls::tokio_rustls::TlsAcceptor;
use futures::future::BoxFuture;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
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
    /// Takes RTSP-over-HTTP tunnel legs (GET or POST carrying `x-sessioncookie` as a
    /// connection's first request) off hyper; `None`: they go to the application like any
    /// request (`WebState::with_tunnel`).
    pub tunnel: Option<Arc<dyn TunnelTakeover>>,
}

/// Takes RTSP-over-HTTP tunnel legs off the HTTP server once their request head is read, and
/// serves them on the raw connection (the RTSP server: `camward_rtsp::tunnel_socket`).
///
/// Why: served as a request, each tunnelled viewer kept hyper's buffers on both legs (a read
/// and a header/write buffer each), its tasks and middleware futures, and its video went through
/// an in-memory pipe into the GET body: ~43 KiB and 1.1–1.8× the CPU of an RTSP/TCP viewer
/// (docs/benchmarks.md). Taken over, a tunnelled viewer is an RTSP/TCP viewer plus a POST
/// socket. Only a connection's first request is looked at; a tunnel leg later on a keep-alive
/// connection, or one with a chunked body or `Expect`, still goes to the application.
pub trait TunnelTakeover: Send + Sync + std::fmt::Debug {
    /// Whether legs are taken now. When not (plain HTTP while it redirects to HTTPS), the
    /// request goes to the application, which answers it as it answers any request.
    fn active(&self) -> bool {
        true
    }

    /// Serves one leg to its end (a GET may return as soon as the socket has changed hands).
    fn take(&self, leg: TakenLeg) -> BoxFuture<'static, ()>;
}

/// A connection whose first request is a tunnel leg, as [`TunnelTakeover::take`] gets it.
pub struct TakenLeg {
    pub io: Box<dyn RawIo>,
    /// Every byte read from `io` so far: the request head, then whatever followed it.
    pub buffered: Vec<u8>,
    pub peer: SocketAddr,
    /// The connection's slots in this server's limits: keep it as long as the leg lives.
    pub hold: Box<dyn Send>,
    /// Header lines (each ending in CRLF) that every answer of this listener carries: the
    /// security headers, and HSTS on the HTTPS listener. The leg's own answer adds them, so a
    /// handed-off leg is answered like any request of the same listener.
    pub headers: String,
}

/// A connection's byte stream (TCP or TLS).
pub trait RawIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> RawIo for T {}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_connections: 2048,
            max_connections_per_address: camward_auth::conn_limit::DEFAULT_PER_ADDRESS,
            header_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(2),
            tunnel: None,
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
        let tunnel = opts.tunnel.clone().map(|to| Takeover { to, over_tls });
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let Some(tls) = tls else {
                return connection(stream, svc, header_timeout, tunnel, peer, permit, watcher)
                    .await;
            };
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
            connection(stream, svc, header_timeout, tunnel, peer, permit, watcher).await;
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

/// A listener's [`TunnelTakeover`] and whether the listener is the HTTPS one (its legs' answers
/// then carry HSTS).
struct Takeover {
    to: Arc<dyn TunnelTakeover>,
    over_tls: OverTls,
}

/// Serves one accepted (and, over TLS, handshaken) connection: hands it to `tunnel` when its
/// first request is a tunnel leg, else to hyper.
async fn connection<IO, S>(
    mut io: IO,
    svc: S,
    header_timeout: Duration,
    tunnel: Option<Takeover>,
    peer: SocketAddr,
    permit: impl Send + 'static,
    watcher: hyper_util::server::graceful::Watcher,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = Body> + Send,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut head = Vec::new();
    if let Some(Takeover { to, over_tls }) = tunnel.filter(|t| t.to.active()) {
        match tokio::time::timeout(header_timeout, first_head(&mut io, &mut head)).await {
            Ok(Ok(Head::TunnelLeg)) => {
                let leg = TakenLeg {
                    io: Box::new(io),
                    buffered: head,
                    peer,
                    hold: Box::new(permit),
                    headers: crate::front::raw_headers(over_tls.0),
                };
                // Its own task: this one, sized for hyper and TLS, ends here instead of
                // living as long as the leg.
                tokio::spawn(to.take(leg));
                return;
            }
            Ok(Ok(Head::Other)) => {}
            // Timed out (hyper's header timeout runs from the accept too), reset, or closed
            // before a byte: nothing to answer.
            Ok(Err(_)) | Err(_) => return,
        }
    }
    // Boxed: a taken leg's task then holds only a pointer for this branch.
    let conn = Box::pin(watcher.watch(http1_conn(
        Prefixed { head, at: 0, io },
        svc,
        header_timeout,
    )));
    if let Err(e) = conn.await {
        tracing::debug!(%peer, error = %e, "connection ended with error");
    }
    drop(permit);
}

/// Longest first request head looked at for a tunnel leg; a longer one goes to hyper as it is.
const TUNNEL_HEAD_MAX: usize = 8 * 1024;

enum Head {
    /// GET or POST with `x-sessioncookie`, no chunked body, no `Expect`, no `Upgrade`.
    TunnelLeg,
    /// Anything else, complete or not: hyper reads it again from `head`.
    Other,
}

/// Reads the connection's first request head into `head` (and whatever follows it in the same
/// reads). An error when the connection ends or fails before its first byte.
async fn first_head<IO: AsyncRead + Unpin>(
    io: &mut IO,
    head: &mut Vec<u8>,
) -> std::io::Result<Head> {
    head.reserve(1024);
    loop {
        if io.read_buf(head).await? == 0 {
            return if head.is_empty() {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            } else {
                Ok(Head::Other)
            };
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(head) {
            Ok(httparse::Status::Complete(_)) => {
                let has = |name: &str| {
                    req.headers
                        .iter()
                        .any(|h| h.name.eq_ignore_ascii_case(name))
                };
                let leg = matches!(req.method, Some("GET" | "POST"))
                    && has("x-sessioncookie")
                    && !has("transfer-encoding")
                    && !has("expect")
                    && !has("upgrade");
                return Ok(if leg { Head::TunnelLeg } else { Head::Other });
            }
            Ok(httparse::Status::Partial) if head.len() < TUNNEL_HEAD_MAX => {
                if head.capacity() - head.len() < 512 {
                    head.reserve(1024);
                }
            }
            _ => return Ok(Head::Other),
        }
    }
}

/// A connection whose first bytes were already read: they are read again first.
struct Prefixed<IO> {
    head: Vec<u8>,
    at: usize,
    io: IO,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Prefixed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.head.len() {
            let n = (this.head.len() - this.at).min(buf.remaining());
            buf.put_slice(&this.head[this.at..this.at + n]);
            this.at += n;
            if this.at == this.head.len() {
                this.head = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Prefixed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
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
