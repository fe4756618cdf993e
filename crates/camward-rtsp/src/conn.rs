//! One RTSP connection: reads requests (and interleaved RTCP), authenticates each through the
//! Gate, drives the session state machine, and owns the bounded writer shared with its players.

use crate::parse::{self, Lower, Parsed, Request, Response, Version};
use crate::session::{self, PlayJob, Player, Session, Transport, UdpPair};
use crate::{Carrier, Io, RtspServer, rtp, sdp};
use bytes::Bytes;
use camward_auth::{Level, Outcome, Principal, Protocol};
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// A new connection must complete its first request within this time, counted from the accept and
/// not restarted by each byte (slow-loris guard; also how long an unpaired tunnel GET waits for
/// its POST).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Once a later request (or interleaved frame) has begun to arrive, all of it must arrive within
/// this time: a client dripping a byte every few seconds is dropped, however long it keeps going.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Largest copy made of an access unit for an io that cannot take vectored writes: packets
/// are coalesced into a temporary buffer of this size (freed after the access unit).
pub const COALESCE_BUF: usize = 16 * 1024;
/// Least free room in the receive buffer before a read: requests are a few hundred bytes, and
/// longer ones (up to the parser's limits) just take several reads.
const READ_CHUNK: usize = 1024;
/// How long one response may take to leave before the connection is considered dead.
const RESPONSE_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long DESCRIBE waits for a just-started stream to produce its parameter sets.
const DESCRIBE_WAIT: Duration = Duration::from_secs(5);
/// Sessions one connection may create.
const MAX_SESSIONS_PER_CONN: usize = 8;
/// Bytes of framing before each RTP payload: `$`, channel, length, RTP header, FU-A prefix.
const PACKET_HEAD_MAX: usize = 4 + rtp::HEADER_LEN + 2;

pub(crate) const PUBLIC: &str =
    "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER";

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

type BoxIo = Pin<Box<dyn Io>>;

/// The write side of a connection, shared by the request loop (responses) and whoever writes
/// the connection's RTP (the fan-out driver, or the session's own task). Whole responses and
/// whole access units are written under the lock, so they never interleave mid-frame.
///
/// An access unit leaves in one vectored write (more only when the socket is full or the
/// access unit has over 512 packets): per packet, the 16–18 bytes of interleaved and RTP header
/// are built for this viewer, and the payload is a slice of the shared frame, never copied in
/// user space. The writer keeps no buffer between writes, so an idle or slow viewer holds none.
pub struct Writer {
    inner: Arc<tokio::sync::Mutex<WriterInner>>,
    kill: CancellationToken,
}

pub(crate) struct WriterInner {
    io: WriteIo,
    /// Set while a write is in flight; if that write is abandoned (timeout), the byte stream
    /// may hold half a frame, so nothing more may be written.
    broken: bool,
}

impl WriterInner {
    pub(crate) fn io_mut(&mut self) -> &mut WriteIo {
        &mut self.io
    }
}

/// The write side of a connection's byte stream.
///
/// A plain TCP connection shares its socket between its reader ([`TcpRead`]) and writer: its
/// writes are `sendmsg` calls on the socket, tried first and waited for only when the socket is
/// full. Any other byte stream (TLS, a tunnel leg handed over by the web server) is one half of
/// `tokio::io::split`, which takes a lock around every call and reaches the socket through two
/// boxes: at 500 viewers × 30 access units/s those were ~3 % of the daemon's CPU
/// (docs/benchmarks.md). The socket closes when both sides are dropped, as a split stream's
/// does (tokio's owned write half would half-close it on drop: a tunnel's POST leg, whose
/// writer goes away when its reader is handed to the tunnel, must stay open).
pub(crate) enum WriteIo {
    Tcp(Arc<tokio::net::TcpStream>),
    Any(Pin<Box<dyn AsyncWrite + Send>>),
}

impl WriteIo {
    /// One vectored write: on TCP the `sendmsg` is tried at once, and the socket's readiness
    /// (with `cx`'s waker) is consulted only when it would block.
    fn poll_write_vectored(
        &mut self,
        cx: &mut std::task::Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        match self {
            WriteIo::Tcp(s) => loop {
                // `sendmsg` rather than `writev`: the socket layer directly, without the file
                // layer's position lock and iterator detour.
                let sent = s.try_io(tokio::io::Interest::WRITABLE, || {
                    socket2::SockRef::from(&**s).send_vectored(bufs)
                });
                match sent {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::task::ready!(s.poll_write_ready(cx))?
                    }
                    r => return std::task::Poll::Ready(r),
                }
            },
            WriteIo::Any(io) => io.as_mut().poll_write_vectored(cx, bufs),
        }
    }
}

/// The read side of a plain TCP connection (see [`WriteIo`]).
pub(crate) struct TcpRead(Arc<tokio::net::TcpStream>);

impl AsyncRead for TcpRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        loop {
            std::task::ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return std::task::Poll::Ready(Ok(()));
                }
                // Readiness was stale (now cleared): wait for the next.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return std::task::Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for WriteIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        match self.get_mut() {
            me @ WriteIo::Tcp(_) => me.poll_write_vectored(cx, &[IoSlice::new(buf)]),
            WriteIo::Any(io) => io.as_mut().poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        WriteIo::poll_write_vectored(self.get_mut(), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            WriteIo::Tcp(_) => true,
            WriteIo::Any(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            WriteIo::Tcp(_) => std::task::Poll::Ready(Ok(())),
            WriteIo::Any(io) => io.as_mut().poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self.get_mut() {
            WriteIo::Tcp(s) => std::task::Poll::Ready(
                socket2::SockRef::from(&**s).shutdown(std::net::Shutdown::Write),
            ),
            WriteIo::Any(io) => io.as_mut().poll_shutdown(cx),
        }
    }
}

/// The writer's lock, held for one whole write (it may move to another task half-way).
pub(crate) type WriteGuard = tokio::sync::OwnedMutexGuard<WriterInner>;

fn broken() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "connection writer broken by an earlier failure",
    )
}

impl Writer {
    pub fn new(io: impl AsyncWrite + Send + 'static, kill: CancellationToken) -> Writer {
        Self::with(WriteIo::Any(Box::pin(io)), kill)
    }

    /// The writer of a plain TCP connection (see [`WriteIo`]).
    pub(crate) fn tcp(socket: Arc<tokio::net::TcpStream>, kill: CancellationToken) -> Writer {
        Self::with(WriteIo::Tcp(socket), kill)
    }

    fn with(io: WriteIo, kill: CancellationToken) -> Writer {
        Writer {
            inner: Arc::new(tokio::sync::Mutex::new(WriterInner { io, broken: false })),
            kill,
        }
    }

    /// The same byte stream, owned from now on by another connection (`kill` is that
    /// connection's): an RTSP-port connection that turned out to be a tunnel's GET leg hands its
    /// socket to the tunnel this way.
    pub(crate) fn rebind(&self, kill: CancellationToken) -> Writer {
        Writer {
            inner: self.inner.clone(),
            kill,
        }
    }

    /// Ends the connection this writer belongs to.
    pub fn kill(&self) {
        self.kill.cancel();
    }

    /// Takes the lock for one whole write. The `broken` flag stays set if the write is abandoned
    /// half-way (its future dropped on a timeout), poisoning the writer.
    pub(crate) async fn begin(&self) -> io::Result<WriteGuard> {
        let mut g = self.inner.clone().lock_owned().await;
        if g.broken {
            return Err(broken());
        }
        g.broken = true;
        Ok(g)
    }

    /// [`begin`](Self::begin) without waiting: `None` while another write holds the lock.
    pub(crate) fn try_begin(&self) -> Option<io::Result<WriteGuard>> {
        let mut g = self.inner.clone().try_lock_owned().ok()?;
        if g.broken {
            return Some(Err(broken()));
        }
        g.broken = true;
        Some(Ok(g))
    }

    pub(crate) fn finish(&self, mut g: WriteGuard, r: io::Result<()>) -> io::Result<()> {
        match r {
            Ok(()) => {
                g.broken = false;
                Ok(())
            }
            Err(e) => {
                self.kill.cancel();
                Err(e)
            }
        }
    }

    /// Writes raw bytes (a response, or HTTP tunnel bytes) and flushes.
    pub async fn send(&self, bytes: &[u8]) -> io::Result<()> {
        let mut g = self.begin().await?;
        let r = async {
            g.io.write_all(bytes).await?;
            g.io.flush().await
        }
        .await;
        self.finish(g, r)
    }

    /// Writes one `$`-framed packet (RTCP) and flushes.
    pub async fn send_frame(&self, channel: u8, payload: &[u8]) -> io::Result<()> {
        let len = u16::try_from(payload.len())
            .map_err(|_| io::Error::other("interleaved frame over 64 KiB"))?;
        let mut frame = Vec::with_capacity(4 + payload.len());
        frame.extend_from_slice(&[b'$', channel]);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(payload);
        self.send(&frame).await
    }

    /// Writes one access unit (see [`AuWrite`]) and flushes.
    pub(crate) async fn send_au(&self, w: &mut AuWrite) -> io::Result<()> {
        let g = self.begin().await?;
        self.resume(g, w).await
    }

    /// Goes on with an access unit whose write began under `g` (possibly in another task).
    pub(crate) async fn resume(&self, mut g: WriteGuard, w: &mut AuWrite) -> io::Result<()> {
        let r = std::future::poll_fn(|cx| w.poll_write(&mut g.io, cx)).await;
        self.finish(g, r)
    }
}

/// An access unit's RTP packetization: where each packet's payload lies in the NAL units, its
/// FU-A prefix and marker bit. The same for every viewer sent the same NAL units, so the fan-out
/// driver computes it once per access unit and shares it; each viewer adds only its own headers
/// (channel, sequence numbers, timestamp, SSRC).
pub(crate) struct Layout {
    nals: Vec<Bytes>,
    packets: Vec<Packet>,
    max_payload: usize,
}

struct Packet {
    nal: usize,
    start: usize,
    end: usize,
    prefix: rtp::FuPrefix,
    last: bool,
}

impl Layout {
    pub(crate) fn new(nals: Vec<Bytes>, max_payload: usize) -> Layout {
        let last_nal = nals.iter().rposition(|n| !n.is_empty());
        let mut packets = Vec::with_capacity(nals.len() + 16);
        for (i, nal) in nals.iter().enumerate() {
            // One NAL unit at a time, so that each payload's place in it is known; the marker
            // bit goes on the last packet of the last non-empty one, as `packetize` of the
            // whole list would put it.
            let one = [&nal[..]];
            for f in rtp::packetize(&one, max_payload) {
                let start = f.data.as_ptr() as usize - nal.as_ptr() as usize;
                packets.push(Packet {
                    nal: i,
                    start,
                    end: start + f.data.len(),
                    prefix: f.prefix,
                    last: f.last && Some(i) == last_nal,
                });
            }
        }
        Layout {
            nals,
            packets,
            max_payload,
        }
    }

    /// Whether this layout is the one of `nals` at `max_payload` (the same NAL units, not copies).
    pub(crate) fn fits(&self, nals: &[Bytes], max_payload: usize) -> bool {
        self.max_payload == max_payload
            && self.nals.len() == nals.len()
            && self
                .nals
                .iter()
                .zip(nals)
                .all(|(a, b)| a.as_ptr() == b.as_ptr() && a.len() == b.len())
    }
}

/// One access unit on its way to one viewer: `$`-framed RTP packets (the viewer's own headers,
/// payloads sliced from the shared NAL units), then a sender report when one is due. Owns all it
/// needs, so a write that the socket cuts short can be finished later by another task.
pub(crate) struct AuWrite {
    layout: Arc<Layout>,
    heads: Vec<u8>,
    sr: Option<([u8; 4], Vec<u8>)>,
    /// Bytes already accepted by the io.
    written: usize,
}

impl AuWrite {
    /// Packetizes `nals` for channel `channel` with RTP timestamp `ts`, advancing `rtp_state`'s
    /// sequence number and counters; `sr` = (RTCP channel, NTP time of the unit's capture) adds
    /// a sender report after the packets (built after them, so its counts include them).
    pub(crate) fn new(
        channel: u8,
        nals: Vec<Bytes>,
        ts: u32,
        rtp_state: &mut session::RtpState,
        max_payload: usize,
        sr: Option<(u8, u64)>,
    ) -> AuWrite {
        Self::with_layout(
            channel,
            Arc::new(Layout::new(nals, max_payload)),
            ts,
            rtp_state,
            sr,
        )
    }

    /// [`AuWrite::new`] with the packetization already done (shared by the viewers of a unit).
    pub(crate) fn with_layout(
        channel: u8,
        layout: Arc<Layout>,
        ts: u32,
        rtp_state: &mut session::RtpState,
        sr: Option<(u8, u64)>,
    ) -> AuWrite {
        let mut heads: Vec<u8> = Vec::with_capacity(PACKET_HEAD_MAX * layout.packets.len());
        for p in &layout.packets {
            let payload_len = p.prefix.as_slice().len() + (p.end - p.start);
            let len = rtp::HEADER_LEN + payload_len;
            heads.extend_from_slice(&[b'$', channel]);
            heads.extend_from_slice(&(len as u16).to_be_bytes());
            heads.extend_from_slice(&rtp::header(p.last, rtp_state.seq, ts, rtp_state.ssrc));
            heads.extend_from_slice(p.prefix.as_slice());
            rtp_state.seq = rtp_state.seq.wrapping_add(1);
            rtp_state.packets = rtp_state.packets.wrapping_add(1);
            rtp_state.octets = rtp_state.octets.wrapping_add(payload_len as u32);
        }
        let sr = sr.map(|(ch, ntp)| {
            let p =
                rtp::sender_report(rtp_state.ssrc, ntp, ts, rtp_state.packets, rtp_state.octets);
            let l = (p.len() as u16).to_be_bytes();
            ([b'$', ch, l[0], l[1]], p)
        });
        AuWrite {
            layout,
            heads,
            sr,
            written: 0,
        }
    }

    /// Writes what is left, then flushes. Pending leaves the position recorded, so the write can
    /// be resumed with another context (another task) later.
    pub(crate) fn poll_write(
        &mut self,
        io: &mut WriteIo,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let l = &*self.layout;
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(2 * l.packets.len() + 2);
        let mut at = 0;
        for p in &l.packets {
            let h = 4 + rtp::HEADER_LEN + p.prefix.as_slice().len();
            slices.push(IoSlice::new(&self.heads[at..at + h]));
            slices.push(IoSlice::new(&l.nals[p.nal][p.start..p.end]));
            at += h;
        }
        if let Some((h, p)) = &self.sr {
            slices.push(IoSlice::new(h));
            slices.push(IoSlice::new(p));
        }
        let mut rest: &mut [IoSlice<'_>] = &mut slices;
        IoSlice::advance_slices(&mut rest, self.written);
        let vectored = io.is_write_vectored();
        while !rest.is_empty() {
            let n = if vectored {
                std::task::ready!(io.poll_write_vectored(cx, rest))?
            } else {
                // Not vectored (a plain `poll_write` io): coalesce into a temporary buffer so
                // that each write is still up to 16 KiB rather than one slice.
                let mut buf = Vec::with_capacity(COALESCE_BUF);
                for s in rest.iter() {
                    let k = s.len().min(COALESCE_BUF - buf.len());
                    buf.extend_from_slice(&s[..k]);
                    if buf.len() == COALESCE_BUF {
                        break;
                    }
                }
                std::task::ready!(Pin::new(&mut *io).poll_write(cx, &buf))?
            };
            if n == 0 {
                return std::task::Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
            IoSlice::advance_slices(&mut rest, n);
        }
        Pin::new(io).poll_flush(cx)
    }
}

/// Per-connection state.
struct Conn {
    server: Arc<RtspServer>,
    id: u64,
    peer: SocketAddr,
    carrier: Carrier,
    writer: Arc<Writer>,
    kill: CancellationToken,
    /// Sessions created here (ids), for keep-alive on read and cleanup on close.
    sessions: Vec<Arc<Session>>,
    /// Interleaved channel pairs in use (RTP channel numbers).
    channels: Vec<u8>,
    /// Its interleaved viewers are written by their bus's fan-out driver: false only when the
    /// writer is an in-memory pipe (a tunnel served through the HTTP server's body).
    driven: bool,
}

/// What the first message turned out to be on a plain RTSP port.
pub(crate) enum Diverted {
    /// An HTTP tunnel leg arrived on the RTSP port: head, bytes read after it.
    Http(Request, Vec<u8>),
}

/// Runs a connection to completion.
pub async fn run(
    server: Arc<RtspServer>,
    io: BoxIo,
    peer: SocketAddr,
    carrier: Carrier,
    permit: crate::ConnPermit,
    parent: &CancellationToken,
) {
    let (rd, wr) = tokio::io::split(io);
    // Cancelled by close_all(), by a tunnel whose GET leg went away, or by this connection itself.
    let kill = parent.child_token();
    let writer = Arc::new(Writer::new(wr, kill.clone()));
    run_with(server, rd, writer, kill, peer, carrier, permit).await;
}

/// [`run`] for a plain TCP connection: its socket shared by reader and writer, no lock between
/// them (see [`WriteIo`]).
pub async fn run_tcp(
    server: Arc<RtspServer>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    carrier: Carrier,
    permit: crate::ConnPermit,
    parent: &CancellationToken,
) {
    let socket = Arc::new(stream);
    let kill = parent.child_token();
    let writer = Arc::new(Writer::tcp(socket.clone(), kill.clone()));
    run_with(server, TcpRead(socket), writer, kill, peer, carrier, permit).await;
}

async fn run_with<R: AsyncRead + Unpin + Send + 'static>(
    server: Arc<RtspServer>,
    mut rd: R,
    writer: Arc<Writer>,
    kill: CancellationToken,
    peer: SocketAddr,
    carrier: Carrier,
    permit: crate::ConnPermit,
) {
    let diverted = serve(
        server.clone(),
        &mut rd,
        writer.clone(),
        kill,
        peer,
        carrier,
        true,
    )
    .await;
    if let Some(Diverted::Http(head, rest)) = diverted {
        crate::tunnel::raw_leg(server, writer, Box::pin(rd), head, rest, peer).await;
    }
    drop(permit);
    tracing::debug!(%peer, "rtsp connection closed");
}

/// Serves RTSP requests read from `rd`, answering through `writer` (whose kill token is `kill`),
/// until the peer closes, a timeout, or `kill`. `driven`: see [`Conn::driven`].
pub(crate) async fn serve<R: AsyncRead + Unpin>(
    server: Arc<RtspServer>,
    rd: &mut R,
    writer: Arc<Writer>,
    kill: CancellationToken,
    peer: SocketAddr,
    carrier: Carrier,
    driven: bool,
) -> Option<Diverted> {
    let mut conn = Conn {
        server,
        id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed),
        peer,
        carrier,
        writer,
        kill,
        sessions: Vec::new(),
        channels: Vec::new(),
        driven,
    };
    tracing::debug!(conn = conn.id, %peer, ?carrier, "rtsp connection opened");
    let diverted = conn.read_loop(rd).await;
    conn.close().await;
    diverted
}

impl Conn {
    async fn read_loop<R: AsyncRead + Unpin>(&mut self, rd: &mut R) -> Option<Diverted> {
        let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
        let mut first = true;
        let idle = self.server.opts.session_timeout + Duration::from_secs(15);
        // When the message being read must be complete: the first request's from the accept,
        // later ones' from their first byte. `None` while idle between messages.
        let mut deadline = Some(tokio::time::Instant::now() + HANDSHAKE_TIMEOUT);
        loop {
            loop {
                match parse::parse(&buf) {
                    Ok(Parsed::Incomplete) => break,
                    Ok(Parsed::Request(req, n)) => {
                        buf.drain(..n);
                        first = false;
                        deadline = None;
                        let cseq = req.cseq().map(str::to_owned);
                        let resp = self.handle(req).await;
                        if self.respond(&resp, cseq.as_deref()).await.is_err() || resp.close {
                            return None;
                        }
                    }
                    Ok(Parsed::Interleaved { consumed, .. }) => {
                        // RTCP receiver reports: only liveness matters to us.
                        buf.drain(..consumed);
                        if !first {
                            deadline = None;
                        }
                    }
                    Ok(Parsed::Http(req, n)) => {
                        let tunnel_leg = first
                            && matches!(self.carrier, Carrier::Tcp { .. })
                            && matches!(req.method.as_str(), "GET" | "POST")
                            && req.header("x-sessioncookie").is_some();
                        if tunnel_leg {
                            let rest = buf.split_off(n);
                            return Some(Diverted::Http(req, rest));
                        }
                        let _ = self.writer.send(b"HTTP/1.0 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").await;
                        return None;
                    }
                    Err(e) => {
                        tracing::info!(conn = self.id, peer = %self.peer, error = %e, "rtsp: bad request; closing");
                        let resp = Response::new(e.status())
                            .reason(format!("{} ({e})", parse::reason(e.status())))
                            .closing();
                        let _ = self.respond(&resp, None).await;
                        return None;
                    }
                }
            }
            if buf.capacity() > 4 * parse::MAX_HEAD && buf.is_empty() {
                buf = Vec::with_capacity(READ_CHUNK);
            }
            // Read straight into the receive buffer: a separate read array lived in every
            // connection's task (4 KiB per viewer) for requests of a few hundred bytes.
            if buf.capacity() - buf.len() < READ_CHUNK / 2 {
                buf.reserve(READ_CHUNK);
            }
            if deadline.is_none() && !buf.is_empty() {
                deadline = Some(tokio::time::Instant::now() + REQUEST_DEADLINE);
            }
            let until = deadline.unwrap_or_else(|| tokio::time::Instant::now() + idle);
            tokio::select! {
                _ = self.kill.cancelled() => return None,
                r = tokio::time::timeout_at(until, rd.read_buf(&mut buf)) => match r {
                    Ok(Ok(0)) | Ok(Err(_)) => return None,
                    Ok(Ok(_)) => {}
                    Err(_) if deadline.is_some() => {
                        tracing::info!(conn = self.id, peer = %self.peer, "rtsp request not complete in time; closing");
                        return None;
                    }
                    Err(_) => {
                        tracing::debug!(conn = self.id, "rtsp connection idle for {idle:?}; closing");
                        return None;
                    }
                },
            }
            for s in &self.sessions {
                s.touch();
            }
        }
    }

    async fn respond(&self, resp: &Response, cseq: Option<&str>) -> io::Result<()> {
        let bytes = resp.serialize(cseq);
        match tokio::time::timeout(RESPONSE_WRITE_TIMEOUT, self.writer.send(&bytes)).await {
            Ok(r) => r,
            Err(_) => {
                self.writer.kill();
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "response write timed out",
                ))
            }
        }
    }

    /// Connection gone: interleaved sessions die with it; UDP sessions live on until TEARDOWN
    /// or timeout (RFC 2326 lets another connection control them).
    async fn close(&mut self) {
        self.kill.cancel();
        for s in std::mem::take(&mut self.sessions) {
            let interleaved = matches!(
                s.lock().transport,
                Some(Transport::Interleaved { .. }) | None
            );
            if interleaved {
                self.server.sessions.remove(&s.id);
                s.stop.cancel();
                let player = s.lock().player.take();
                if let Some(p) = player {
                    // The byte stream is dead; half-written frames no longer matter.
                    p.task.abort();
                }
                s.lock().transport = None;
            }
        }
    }

    async fn handle(&mut self, req: Request) -> Response {
        if req.cseq().is_none() {
            return Response::new(400).reason("Bad Request (missing CSeq)");
        }
        if let Version::RtspOther(v) = &req.version {
            return Response::new(505)
                .reason(format!("RTSP Version Not Supported ({v}; use RTSP/1.0)"));
        }
        if let Some(r) = req.header("Require").or(req.header("Proxy-Require")) {
            return Response::new(551)
                .reason("Option not supported")
                .header("Unsupported", r.to_string());
        }
        let principal = match self.authorize(&req) {
            Ok(p) => p,
            Err(resp) => return resp,
        };
        let result = match req.method.as_str() {
            "OPTIONS" => Ok(self.options(&req, &principal)),
            "DESCRIBE" => self.describe(&req, &principal).await,
            "SETUP" => self.setup(&req, &principal).await,
            "PLAY" => self.play(&req, &principal).await,
            "PAUSE" => self.pause(&req, &principal).await,
            "TEARDOWN" => self.teardown(&req, &principal).await,
            "GET_PARAMETER" | "SET_PARAMETER" => self.parameter(&req, &principal),
            "ANNOUNCE" | "RECORD" | "REDIRECT" => Err(Response::new(405).header("Allow", PUBLIC)),
            _ => Err(Response::new(501).header("Public", PUBLIC)),
        };
        let resp = result.unwrap_or_else(|e| e);
        if resp.status == 401 {
            // Every Digest client's first request is a 401: not worth more than a debug line.
            tracing::debug!(conn = self.id, peer = %self.peer, method = %req.method, "rtsp challenge sent");
        } else if resp.status >= 400 {
            tracing::info!(conn = self.id, peer = %self.peer, method = %req.method, uri = %req.uri, status = resp.status, "rtsp request refused");
        }
        resp
    }

    fn authorize(&self, req: &Request) -> Result<Principal, Response> {
        let outcome = self.server.gate.authenticate(&camward_auth::Request {
            protocol: if self.carrier == Carrier::Tls {
                Protocol::Rtsps
            } else {
                Protocol::Rtsp
            },
            method: &req.method,
            uri: &req.uri,
            authorization: req.header("Authorization"),
            peer: self.peer.ip(),
        });
        match outcome {
            Outcome::Granted(p) if p.level >= Level::Live => Ok(p),
            Outcome::Granted(_) => Err(Response::new(403)),
            Outcome::Challenge { www_authenticate } => {
                let mut r = Response::new(401);
                for v in www_authenticate {
                    r = r.header("WWW-Authenticate", v);
                }
                Err(r)
            }
            Outcome::NeedsSetup => Err(Response::new(403).reason(
                "Forbidden (camera not set up: register the administrator on its web page first)",
            )),
            Outcome::LockedOut { retry_after } => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Err(Response::new(503)
                    .reason("Service Unavailable (too many failed logins from this address)")
                    .header("Retry-After", secs.max(1).to_string()))
            }
        }
    }

    fn options(&self, req: &Request, principal: &Principal) -> Response {
        if req.session_id().is_some() {
            // Keep-alive through OPTIONS (older clients); an unknown id is not an error here.
            let _ = self.session_for(req, principal);
        }
        Response::new(200).header("Public", PUBLIC)
    }

    /// The target of a request-URI, refused (404/403) when absent, not allowed on this carrier,
    /// or an upstream camera not shared with this viewer.
    fn target(&self, uri: &str, viewer: &Principal) -> Result<parse::Target, Response> {
        let t = parse::target(uri).ok_or_else(|| {
            Response::new(404)
                .reason("Not Found (streams are /stream1, /stream2 and /cameras/NAME)")
        })?;
        if self.carrier == Carrier::Tunnel
            && t.camera.is_none()
            && !self.server.streams.internet_mode(t.stream)
        {
            return Err(Response::new(403).reason(format!(
                "Forbidden (Internet mode (over HTTP) is off for stream{})",
                t.stream
            )));
        }
        if let Some(c) = &t.camera
            && !self.server.streams.camera_allowed(c, viewer)
        {
            return Err(Response::new(403).reason(format!(
                "Forbidden (camera {c} is not shared with this user)"
            )));
        }
        Ok(t)
    }

    /// The bus of Stream(`n`), or of the upstream camera `camera`.
    fn bus(&self, n: u8, camera: Option<&str>) -> Result<Arc<camward_media::FrameBus>, Response> {
        match camera {
            Some(c) => self.server.streams.camera_bus(c).ok_or_else(|| {
                Response::new(404).reason(format!("Not Found (no camera {c} is on)"))
            }),
            None => {
                self.server.streams.bus(n).ok_or_else(|| {
                    Response::new(404).reason(format!("Not Found (stream{n} is off)"))
                })
            }
        }
    }

    async fn describe(&self, req: &Request, principal: &Principal) -> Result<Response, Response> {
        let t = self.target(&req.uri, principal)?;
        let bus = self.bus(t.stream, t.camera.as_deref())?;
        let name = match &t.camera {
            Some(c) => format!("cameras/{c}"),
            None => format!("stream{}", t.stream),
        };
        let info = match bus.info() {
            Some(i) => i,
            None => {
                let mut rx = bus.watch_info();
                match tokio::time::timeout(DESCRIBE_WAIT, rx.wait_for(|i| i.is_some())).await {
                    Ok(Ok(i)) => i.clone().expect("wait_for returned Some"),
                    _ => {
                        return Err(Response::new(503)
                            .reason(format!("Service Unavailable ({name} has no video yet)"))
                            .header("Retry-After", "5"));
                    }
                }
            }
        };
        let origin = match self.carrier {
            Carrier::Tcp { local } => Some(local.ip()),
            _ => None,
        };
        let version = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let body = sdp::describe(&name, &info, origin, version);
        Ok(Response::new(200)
            .header("Content-Base", content_base(&req.uri))
            .body("application/sdp", body.into_bytes()))
    }

    /// Looks up the session a request names, checking who may use it.
    fn session_for(&self, req: &Request, principal: &Principal) -> Result<Arc<Session>, Response> {
        let not_found = || Response::new(454);
        let id = req.session_id().ok_or_else(not_found)?;
        let s = self.server.sessions.get(id).ok_or_else(not_found)?;
        // Another user's session id is treated as unknown rather than revealing it exists.
        if s.owner != principal.user {
            return Err(not_found());
        }
        let bound_here = !matches!(s.lock().transport, Some(Transport::Interleaved { .. }))
            || s.conn_id == self.id;
        if !bound_here {
            return Err(not_found());
        }
        s.touch();
        Ok(s)
    }

    fn session_header(&self, s: &Session) -> String {
        format!(
            "{};timeout={}",
            s.id,
            self.server.opts.session_timeout.as_secs()
        )
    }

    /// PLAY/PAUSE/TEARDOWN may name the presentation, the track, or `*`, but only of the
    /// session's own stream.
    fn check_stream(&self, req: &Request, s: &Session) -> Result<(), Response> {
        if req.uri == "*" {
            return Ok(());
        }
        match parse::target(&req.uri) {
            Some(t) if t.stream == s.stream && t.camera == s.camera => Ok(()),
            Some(_) => Err(Response::new(459)),
            None => Err(Response::new(404)),
        }
    }

    async fn setup(&mut self, req: &Request, principal: &Principal) -> Result<Response, Response> {
        let t = self.target(&req.uri, principal)?;
        self.bus(t.stream, t.camera.as_deref())?;
        let specs = parse::transports(req.header("Transport").unwrap_or(""));
        let udp_ok = matches!(self.carrier, Carrier::Tcp { .. });
        let spec = specs
            .iter()
            .find(|s| udp_ok || matches!(s.lower, Lower::Tcp { .. }))
            .ok_or_else(|| {
                Response::new(461).reason(if udp_ok {
                    "Unsupported Transport (use RTP/AVP unicast over UDP or RTP/AVP/TCP interleaved)"
                } else {
                    "Unsupported Transport (only RTP/AVP/TCP interleaved on this connection)"
                })
            })?;

        let (session, new) = match req.session_id() {
            Some(_) => {
                let s = self.session_for(req, principal)?;
                if s.stream != t.stream || s.camera != t.camera {
                    return Err(Response::new(459)
                        .reason("Aggregate Operation Not Allowed (one stream per session)"));
                }
                if s.is_playing() {
                    return Err(Response::new(455)
                        .reason("Method Not Valid in This State (PAUSE before SETUP)"));
                }
                (s, false)
            }
            None => {
                if self.sessions.len() >= MAX_SESSIONS_PER_CONN {
                    return Err(Response::new(453)
                        .reason("Not Enough Bandwidth (too many sessions on this connection)"));
                }
                let s = Session::new(
                    t.stream,
                    t.camera.clone(),
                    self.carrier,
                    principal.user.clone(),
                    self.id,
                    self.server.stop.child_token(),
                );
                (s, true)
            }
        };

        let transport = match spec.lower {
            Lower::Udp { rtp, rtcp } => {
                let Carrier::Tcp { local } = self.carrier else {
                    unreachable!("udp_ok checked")
                };
                let pair = UdpPair::bind(local.ip(), self.peer.ip(), rtp, rtcp)
                    .await
                    .map_err(|e| {
                        tracing::warn!(conn = self.id, error = %e, "rtsp: cannot bind UDP pair");
                        Response::new(453).reason("Not Enough Bandwidth (no UDP ports free)")
                    })?;
                Transport::Udp(Arc::new(pair))
            }
            Lower::Tcp { channels } => {
                // On a re-SETUP the session's own pair counts as free.
                let own = match &session.lock().transport {
                    Some(Transport::Interleaved { rtp_ch, .. }) => Some(*rtp_ch),
                    _ => None,
                };
                let taken = |c: &u8| self.channels.contains(c) && Some(*c) != own;
                let ch = match channels {
                    Some((a, b)) if !taken(&a) && b == a.wrapping_add(1) => a,
                    _ => (0..=254u8)
                        .step_by(2)
                        .find(|c| !taken(c))
                        .ok_or_else(|| Response::new(461))?,
                };
                if !self.channels.contains(&ch) {
                    self.channels.push(ch);
                }
                Transport::Interleaved {
                    writer: self.writer.clone(),
                    rtp_ch: ch,
                    rtcp_ch: ch + 1,
                }
            }
        };

        let transport_stop = session.stop.child_token();
        let (ssrc, old) = {
            let mut st = session.lock();
            let ssrc = st.rtp.as_ref().map(|r| r.ssrc).unwrap_or(0);
            st.track_url = req.uri.clone();
            if let Some(t) = st.transport_stop.replace(transport_stop.clone()) {
                t.cancel();
            }
            (ssrc, st.transport.replace(transport.clone()))
        };
        // A re-SETUP gives back the previous interleaved channel pair.
        let new_ch = match &transport {
            Transport::Interleaved { rtp_ch, .. } => Some(*rtp_ch),
            Transport::Udp(_) => None,
        };
        if let Some(Transport::Interleaved { rtp_ch, .. }) = old
            && Some(rtp_ch) != new_ch
        {
            self.channels.retain(|c| *c != rtp_ch);
        }
        if new {
            if !self
                .server
                .sessions
                .insert(session.clone(), self.server.opts.max_sessions)
            {
                if let Transport::Interleaved { rtp_ch, .. } = &transport {
                    self.channels.retain(|c| c != rtp_ch);
                }
                return Err(
                    Response::new(453).reason("Not Enough Bandwidth (session limit reached)")
                );
            }
            self.sessions.push(session.clone());
            session::spawn_watchdog(
                self.server.clone(),
                session.clone(),
                self.server.opts.session_timeout,
            );
            tracing::info!(conn = self.id, peer = %self.peer, session = %session.id, stream = t.stream,
                user = principal.user.as_deref().unwrap_or("(guest)"), transport = %transport.describe(ssrc), "rtsp session set up");
        }
        if let Transport::Udp(pair) = &transport {
            session::spawn_udp_reader(session.clone(), pair.clone(), transport_stop);
        }
        Ok(Response::new(200)
            .header("Transport", transport.describe(ssrc))
            .header("Session", self.session_header(&session)))
    }

    async fn play(&mut self, req: &Request, principal: &Principal) -> Result<Response, Response> {
        let s = self.session_for(req, principal)?;
        self.check_stream(req, &s)?;
        if s.is_playing() {
            return Ok(Response::new(200)
                .header("Session", self.session_header(&s))
                .header("Range", "npt=now-"));
        }
        reclaim(&s).await;
        let bus = self.bus(s.stream, s.camera.as_deref())?;
        let mut st = s.lock();
        let Some(transport) = st.transport.clone() else {
            return Err(Response::new(455).reason("Method Not Valid in This State (SETUP first)"));
        };
        let mut rtp = st.rtp.take().unwrap_or_default();
        rtp.resume();
        let rtp_info = format!(
            "url={};seq={};rtptime={}",
            st.track_url, rtp.seq, rtp.next_ts
        );
        let stop = s.stop.child_token();
        let job = PlayJob {
            session: s.clone(),
            sub: bus.subscribe(),
            bus,
            transport,
            rtp,
            stop: stop.clone(),
            max_payload: self.server.max_payload(),
            table: self.server.clone(),
        };
        // Interleaved viewers are written to by their bus's fan-out driver (RTSP/TCP, RTSPS,
        // and tunnels whose GET socket the RTSP server holds); UDP ones, and tunnels served
        // through the HTTP server's body, by their own task. (That body is an in-memory pipe:
        // written all at once by the driver, every tunnel's chunks were in flight at the same
        // moment, 45 → 77 KiB per tunnelled viewer at N = 500, for no CPU gain.)
        let driven = matches!(job.transport, Transport::Interleaved { .. }) && self.driven;
        let task = if driven {
            tokio::spawn(crate::fanout::play(job))
        } else {
            tokio::spawn(session::play(job))
        };
        st.player = Some(Player { stop, task });
        drop(st);
        Ok(Response::new(200)
            .header("Session", self.session_header(&s))
            .header("Range", "npt=now-")
            .header("RTP-Info", rtp_info))
    }

    async fn pause(&mut self, req: &Request, principal: &Principal) -> Result<Response, Response> {
        let s = self.session_for(req, principal)?;
        self.check_stream(req, &s)?;
        if s.lock().transport.is_none() {
            return Err(Response::new(455));
        }
        reclaim(&s).await;
        Ok(Response::new(200).header("Session", self.session_header(&s)))
    }

    async fn teardown(
        &mut self,
        req: &Request,
        principal: &Principal,
    ) -> Result<Response, Response> {
        let s = self.session_for(req, principal)?;
        self.check_stream(req, &s)?;
        let channel = match &s.lock().transport {
            Some(Transport::Interleaved { rtp_ch, .. }) => Some(*rtp_ch),
            _ => None,
        };
        session::teardown(&self.server, &s).await;
        self.channels.retain(|c| Some(*c) != channel);
        self.sessions.retain(|x| x.id != s.id);
        tracing::info!(conn = self.id, session = %s.id, "rtsp session torn down");
        Ok(Response::new(200))
    }

    fn parameter(&self, req: &Request, principal: &Principal) -> Result<Response, Response> {
        let mut r = Response::new(200);
        if req.session_id().is_some() {
            let s = self.session_for(req, principal)?;
            r = r.header("Session", self.session_header(&s));
        }
        if req.body.iter().any(|b| !b.is_ascii_whitespace()) {
            // We expose no parameters; an empty body is the usual keep-alive.
            return Err(Response::new(451));
        }
        Ok(r)
    }
}

/// Stops a session's player (if any) and puts its RTP state back for the next PLAY.
async fn reclaim(s: &Arc<Session>) {
    let player = s.lock().player.take();
    if let Some(p) = player {
        p.stop.cancel();
        let rtp = match tokio::time::timeout(session::STALL_LIMIT + Duration::from_secs(1), p.task)
            .await
        {
            Ok(Ok(rtp)) => rtp,
            _ => session::RtpState::new(),
        };
        s.lock().rtp = Some(rtp);
    }
}

/// `Content-Base` for a DESCRIBE request-URI: the URI without query, ending in `/`, so the
/// relative track control `trackID=0` resolves under the stream.
fn content_base(uri: &str) -> String {
    let base = uri.split(['?', '#']).next().unwrap_or(uri);
    if base.ends_with('/') {
        base.to_string()
    } else {
        format!("{base}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_base_ends_with_slash_and_drops_query() {
        assert_eq!(
            content_base("rtsp://h:554/stream1"),
            "rtsp://h:554/stream1/"
        );
        assert_eq!(content_base("rtsp://h/stream1/?a=b"), "rtsp://h/stream1/");
    }

    /// Everything `w` writes, through an io that takes at most `step` bytes per call (so the
    /// write is resumed many times, like one the socket cuts short).
    fn written(mut w: AuWrite, step: usize) -> Vec<u8> {
        type Sink = Arc<std::sync::Mutex<Vec<u8>>>;
        struct Trickle(Sink, usize);
        impl AsyncWrite for Trickle {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<io::Result<usize>> {
                self.poll_write_vectored(cx, &[IoSlice::new(buf)])
            }
            fn poll_write_vectored(
                self: Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> std::task::Poll<io::Result<usize>> {
                let mut out = self.0.lock().unwrap();
                let mut n = 0;
                for b in bufs {
                    let k = b.len().min(self.1 - n);
                    out.extend_from_slice(&b[..k]);
                    n += k;
                    if n == self.1 {
                        break;
                    }
                }
                std::task::Poll::Ready(Ok(n))
            }
            fn is_write_vectored(&self) -> bool {
                true
            }
            fn poll_flush(
                self: Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }
            fn poll_shutdown(
                self: Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }
        }
        let sink = Sink::default();
        let mut io = WriteIo::Any(Box::pin(Trickle(sink.clone(), step)));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let done = (0..100_000).any(|_| w.poll_write(&mut io, &mut cx).is_ready());
        assert!(done, "the write completes");
        std::mem::take(&mut *sink.lock().unwrap())
    }

    #[test]
    fn a_shared_packetization_gives_every_viewer_the_bytes_of_its_own_in_order() {
        let nal = |t: u8, len: usize| {
            let mut v = vec![t];
            v.extend((1..len).map(|i| (i * 13 % 251) as u8));
            Bytes::from(v)
        };
        // Parameter sets, an empty NAL unit (skipped), a fragmented IDR whose last fragment is
        // shorter, and a small trailing SEI that must carry the marker bit.
        let nals = vec![
            nal(0x67, 12),
            nal(0x68, 4),
            Bytes::new(),
            nal(0x65, 5_003),
            nal(0x06, 30),
        ];
        let layout = Arc::new(Layout::new(nals.clone(), 1_200));
        assert!(layout.fits(&nals, 1_200));
        assert!(!layout.fits(&nals, 1_400), "another packet size");
        let copies: Vec<Bytes> = nals.iter().map(|b| Bytes::copy_from_slice(b)).collect();
        assert!(
            !layout.fits(&copies, 1_200),
            "equal bytes elsewhere are not the same units"
        );
        for (k, step) in [(0u32, usize::MAX), (1, 7), (2, 1_000)] {
            let viewer = || {
                let mut r = session::RtpState::new();
                r.ssrc = 0xABCD_0000 + k;
                r.seq = 65_533; // wraps inside the unit
                r
            };
            let (mut own_rtp, mut shared_rtp) = (viewer(), viewer());
            let sr = Some((1 + 2 * k as u8, 0x1122_3344_5566_7788));
            let own = AuWrite::new(2 * k as u8, nals.clone(), 90_000, &mut own_rtp, 1_200, sr);
            let shared =
                AuWrite::with_layout(2 * k as u8, layout.clone(), 90_000, &mut shared_rtp, sr);
            let (a, b) = (written(own, step), written(shared, step));
            assert_eq!(a, b, "byte-identical, viewer {k}");
            assert_eq!(
                (own_rtp.seq, own_rtp.packets, own_rtp.octets),
                (shared_rtp.seq, shared_rtp.packets, shared_rtp.octets)
            );
            // Walk the `$` frames: RTP packets in sequence, one marker on the last, then the SR.
            let (mut at, mut seqs, mut markers, mut frames) = (0, Vec::new(), Vec::new(), 0);
            while at < b.len() {
                assert_eq!(b[at], b'$');
                let len = u16::from_be_bytes([b[at + 2], b[at + 3]]) as usize;
                let pkt = &b[at + 4..at + 4 + len];
                if b[at + 1] == 2 * k as u8 {
                    seqs.push(u16::from_be_bytes([pkt[2], pkt[3]]));
                    markers.push(pkt[1] & 0x80 != 0);
                } else {
                    assert_eq!(pkt[1], 200, "the sender report after the packets");
                }
                at += 4 + len;
                frames += 1;
            }
            // SPS, PPS, 5 IDR fragments, SEI; then the SR.
            assert_eq!(seqs.len(), 8);
            assert_eq!(frames, 9);
            assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
            assert_eq!(markers.iter().filter(|m| **m).count(), 1);
            assert!(markers[7]);
        }
    }
}
