//! camward's RTSP 1.0 server (paper §4.4): DESCRIBE/SETUP/PLAY over RTP/UDP, RTP over the RTSP
//! connection (TCP or TLS), and Apple's RTSP-over-HTTP tunnel ("Internet mode"), all behind the Gate.
#![forbid(unsafe_code)]

mod conn;
mod fanout;
pub mod parse;
mod pipe;
pub mod rtp;
pub mod sdp;
mod session;
pub mod tunnel;
mod udp_batch;

use camward_auth::Gate;
use camward_auth::conn_limit::{AddressPermit, PerAddressLimit};
use camward_media::FrameBus;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use tunnel::{TunnelBody, tunnel, tunnel_socket};

/// Where the server finds the streams it serves. Implemented by the daemon over camward-media's
/// pipelines; the RTSP server depends only on the frame bus.
pub trait StreamSource: Send + Sync + 'static {
    /// The bus of `Stream(n)` (`n` = 1 for `/stream1`); `None` when that stream does not exist or
    /// is switched off ("Stream transmission: Off").
    fn bus(&self, n: u8) -> Option<Arc<FrameBus>>;

    /// "Internet mode (over HTTP)" of `Stream(n)`: when false, the stream is refused through the
    /// RTSP-over-HTTP tunnel (403) and served only over plain RTSP/RTSPS.
    fn internet_mode(&self, n: u8) -> bool {
        let _ = n;
        true
    }

    /// The bus of the upstream camera `name` this device re-serves at `/cameras/NAME`
    /// (recorder mode); `None` when there is no such camera or it is switched off.
    fn camera_bus(&self, name: &str) -> Option<Arc<FrameBus>> {
        let _ = name;
        None
    }

    /// Whether `viewer` may watch the upstream camera `name` (a Live-only user only when the
    /// camera is shared with them; higher levels always).
    fn camera_allowed(&self, name: &str, viewer: &camward_auth::Principal) -> bool {
        let _ = (name, viewer);
        true
    }
}

/// How the bytes of one RTSP connection travel; decides which RTP transports SETUP may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// Plain TCP. RTP over UDP is offered from `local`'s address, or interleaved on the connection.
    Tcp { local: SocketAddr },
    /// RTSPS. Only interleaved RTP: UDP would send the video in clear beside an encrypted channel.
    Tls,
    /// RTSP-over-HTTP(S) tunnel. Only interleaved RTP, and only for streams in Internet mode.
    Tunnel,
}

/// The carrier as the status page names it: `rtsp`, `rtsps` or `tunnel` (RTSP over HTTP(S)).
pub fn carrier_name(c: Carrier) -> &'static str {
    match c {
        Carrier::Tcp { .. } => "rtsp",
        Carrier::Tls => "rtsps",
        Carrier::Tunnel => "tunnel",
    }
}

/// Tunables; the defaults suit a camera with up to a couple of thousand viewers.
#[derive(Debug, Clone)]
pub struct Options {
    /// Largest RTP payload (see [`rtp::max_payload_for_packet_size`] for the paper's setting).
    pub max_payload: usize,
    /// Session timeout announced in `Session: id;timeout=N` and enforced.
    pub session_timeout: Duration,
    /// Simultaneous connections (RTSP, RTSPS and tunnels together).
    pub max_connections: usize,
    /// Simultaneous connections from one client address (an IPv6 /64); 0 = no limit.
    pub max_connections_per_address: usize,
    /// Simultaneous sessions.
    pub max_sessions: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_payload: rtp::DEFAULT_MAX_PAYLOAD,
            session_timeout: Duration::from_secs(60),
            // 2000 viewers at full rate fit in a few tens of MiB (docs/benchmarks.md, fan-out).
            max_connections: 2048,
            max_connections_per_address: camward_auth::conn_limit::DEFAULT_PER_ADDRESS,
            max_sessions: 2048,
        }
    }
}

/// Counters for status pages and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub connections: usize,
    pub sessions: usize,
    pub playing: usize,
    pub tunnels: usize,
}

/// The RTSP server. One per daemon; cheap to share as `Arc<RtspServer>` between the RTSP
/// listener, the RTSPS listener and the web server's tunnel hook.
pub struct RtspServer {
    gate: Arc<dyn Gate>,
    streams: Arc<dyn StreamSource>,
    opts: Options,
    max_payload: AtomicUsize,
    conn_slots: Arc<Semaphore>,
    per_address: Arc<PerAddressLimit>,
    sessions: session::Table,
    fanout: fanout::Groups,
    tunnels: tunnel::Broker,
    stop: CancellationToken,
}

impl std::fmt::Debug for RtspServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspServer")
            .field("opts", &self.opts)
            .field("stats", &self.stats())
            .finish()
    }
}

impl RtspServer {
    pub fn new(gate: Arc<dyn Gate>, streams: Arc<dyn StreamSource>) -> Self {
        Self::with_options(gate, streams, Options::default())
    }

    pub fn with_options(
        gate: Arc<dyn Gate>,
        streams: Arc<dyn StreamSource>,
        opts: Options,
    ) -> Self {
        RtspServer {
            gate,
            streams,
            max_payload: AtomicUsize::new(opts.max_payload.max(rtp::MIN_MAX_PAYLOAD)),
            conn_slots: Arc::new(Semaphore::new(opts.max_connections)),
            per_address: PerAddressLimit::new(opts.max_connections_per_address),
            sessions: session::Table::default(),
            fanout: fanout::Groups::default(),
            tunnels: tunnel::Broker::default(),
            stop: CancellationToken::new(),
            opts,
        }
    }

    /// Changes the RTP payload size for sessions that start playing from now on.
    pub fn set_max_payload(&self, bytes: usize) {
        self.max_payload
            .store(bytes.max(rtp::MIN_MAX_PAYLOAD), Ordering::Relaxed);
    }

    pub fn stats(&self) -> Stats {
        let (sessions, playing) = self.sessions.counts();
        Stats {
            connections: self.opts.max_connections - self.conn_slots.available_permits(),
            sessions,
            playing,
            tunnels: self.tunnels.len(),
        }
    }

    /// Viewers (sessions) per stream and carrier name ([`carrier_name`]), for the status page.
    pub fn viewers(&self) -> Vec<(u8, &'static str, usize)> {
        self.sessions
            .per_stream()
            .into_iter()
            .map(|(s, c, n)| (s, carrier_name(c), n))
            .collect()
    }

    /// Viewers (sessions) per upstream camera and carrier name, for the cameras' status.
    pub fn camera_viewers(&self) -> Vec<(String, &'static str, usize)> {
        self.sessions
            .per_camera()
            .into_iter()
            .map(|(name, c, n)| (name, carrier_name(c), n))
            .collect()
    }

    /// Viewers of `stream` now: RTSP, RTSPS and tunnelled sessions that are playing it (the
    /// SNMP agent's camwardStreamViewers, paper §4.7).
    pub fn playing_viewers(&self, stream: u8) -> usize {
        self.sessions.playing_for(stream)
    }

    /// Accepts plain RTSP connections until `shutdown` resolves. The host filter runs on accept,
    /// before a byte is read: refused peers are closed at once. Connections already open keep
    /// running after shutdown (use [`RtspServer::close_all`] to end them too).
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = self.stop.cancelled() => return Ok(()),
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "rtsp accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let peer = canonical(peer);
            if !self.gate.host_allowed(peer.ip()) {
                tracing::info!(%peer, "rtsp connection refused by host filter");
                drop(stream);
                continue;
            }
            let local = match stream.local_addr() {
                Ok(a) => canonical(a),
                Err(_) => continue,
            };
            // The slot is taken here, in accept order, not in the spawned task: tasks start in
            // any order, and a later connection must never take the slot of an earlier one.
            let Some(permit) = self.conn_permit(peer.ip()) else {
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let server = self.clone();
            tokio::spawn(async move {
                let stop = server.stop.clone();
                conn::run_tcp(server, stream, peer, Carrier::Tcp { local }, permit, &stop).await;
            });
        }
    }

    /// Runs one RTSP connection over any byte stream (plain TCP, or TLS from camward-tls) until
    /// the peer closes it, it times out, or [`RtspServer::close_all`]. The caller has already
    /// applied the host filter. Use `Carrier::Tls` for RTSPS.
    pub async fn serve_connection<IO>(self: Arc<Self>, io: IO, peer: SocketAddr, carrier: Carrier)
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let Some(permit) = self.conn_permit(peer.ip()) else {
            return;
        };
        let stop = self.stop.clone();
        conn::run(self, Box::pin(io), canonical(peer), carrier, permit, &stop).await;
    }

    /// A connection slot for `peer`: one of `max_connections`, and one of its client's
    /// `max_connections_per_address`. `None` (logged) when either is exhausted.
    pub(crate) fn conn_permit(&self, peer: std::net::IpAddr) -> Option<ConnPermit> {
        let Some(address) = self.per_address.try_acquire(peer) else {
            tracing::warn!(%peer, "rtsp connection refused: {} connections open from this address", self.per_address.max());
            return None;
        };
        let Ok(global) = self.conn_slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "rtsp connection refused: {} connections open", self.opts.max_connections);
            return None;
        };
        Some(ConnPermit {
            _global: global,
            _address: address,
        })
    }

    /// Ends every connection, session and tunnel (daemon shutdown or RTSP switched off).
    pub fn close_all(&self) {
        self.stop.cancel();
    }

    fn max_payload(&self) -> usize {
        self.max_payload.load(Ordering::Relaxed)
    }
}

/// A connection's slots, given back when the connection ends.
pub(crate) struct ConnPermit {
    _global: tokio::sync::OwnedSemaphorePermit,
    _address: AddressPermit,
}

/// IPv4-mapped IPv6 addresses become IPv4, so host filters, UDP binds and logs see one form.
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// Anything a connection can run over: TCP, TLS, or the two legs of an HTTP tunnel.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send> Io for T {}
