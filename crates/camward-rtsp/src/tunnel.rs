//! Apple's RTSP-over-HTTP tunnel ("Internet mode"): a GET leg carries server→client bytes, a POST
//! leg carries base64 RTSP requests; paired by `x-sessioncookie` and run as one RTSP connection.

use crate::conn::{self, Writer};
use crate::pipe::{self, PipeReader};
use crate::{Carrier, RtspServer, canonical};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_util::sync::CancellationToken;

/// Body type of the responses [`tunnel`] returns.
pub type TunnelBody = BoxBody<Bytes, io::Error>;

/// Tunnels whose GET has arrived but whose POST has not. Each holds a connection slot for at
/// most `conn::HANDSHAKE_TIMEOUT` (10 s), after which the GET is answered with end-of-body.
pub const MAX_UNPAIRED: usize = 64;
/// Longest accepted `x-sessioncookie` (clients use 22–32 random characters).
pub const MAX_COOKIE: usize = 128;
/// Server→client bytes one tunnel may hold, from the RTSP connection's write until the HTTP server
/// has written them to the socket (its queue included): a stalled viewer costs at most this, and
/// its player then waits (and is dropped after `session::STALL_LIMIT`) while the bus goes on.
/// 16 KiB is about one access unit of a 4 Mbit/s 30 fps stream; the socket buffer below
/// absorbs bursts, so a viewer that keeps up never waits on it for long.
const OUT_BUDGET: usize = 16 * 1024;
/// Size of the chunks handed to the GET body: half the budget, so the next one fills while the
/// HTTP server writes the previous one.
const OUT_CHUNK: usize = 8 * 1024;

/// Incremental base64 decoder for the POST leg: input may split anywhere (even inside a
/// quantum), may contain whitespace, and each RTSP message is encoded separately, so `=`
/// padding can appear in mid-stream.
#[derive(Debug, Default, Clone)]
pub struct Base64Decoder {
    quad: [u8; 4],
    n: usize,
    offset: u64,
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("byte 0x{byte:02x} at offset {offset} of the tunnel POST body is not base64")]
    InvalidByte { byte: u8, offset: u64 },
    #[error("misplaced '=' padding at offset {offset} of the tunnel POST body")]
    BadPadding { offset: u64 },
}

impl Base64Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes what `input` completes, appending to `out`. At most 3 input characters stay
    /// buffered between calls. After an error the decoder must not be used again.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        for &c in input {
            let offset = self.offset;
            self.offset += 1;
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' => 64,
                b' ' | b'\t' | b'\r' | b'\n' => continue,
                _ => return Err(DecodeError::InvalidByte { byte: c, offset }),
            };
            self.quad[self.n] = v;
            self.n += 1;
            if self.n < 4 {
                continue;
            }
            self.n = 0;
            let [a, b, c2, d] = self.quad;
            if a == 64 || b == 64 || (c2 == 64 && d != 64) {
                return Err(DecodeError::BadPadding { offset });
            }
            out.push((a << 2) | (b >> 4));
            if c2 != 64 {
                out.push((b << 4) | (c2 >> 2));
                if d != 64 {
                    out.push((c2 << 6) | d);
                }
            }
        }
        Ok(())
    }

    /// Characters waiting for the rest of their quantum.
    pub fn pending(&self) -> usize {
        self.n
    }
}

/// Why a tunnel leg was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("missing or malformed x-sessioncookie")]
    BadCookie,
    #[error("x-sessioncookie {0:?} is already in use")]
    Duplicate(String),
    #[error("too many tunnels or connections open")]
    Busy,
    #[error("no GET leg with x-sessioncookie {0:?} from this address")]
    Unknown(String),
    #[error("another POST leg is feeding x-sessioncookie {0:?}")]
    InUse(String),
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::BadCookie => StatusCode::BAD_REQUEST,
            Refusal::Duplicate(_) | Refusal::InUse(_) => StatusCode::CONFLICT,
            Refusal::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Unknown(_) => StatusCode::NOT_FOUND,
        }
    }
}

struct Entry {
    generation: u64,
    peer: IpAddr,
    /// Where POST legs hand their bodies to the RTSP connection, one at a time.
    input: Arc<PostSlot>,
    paired: bool,
}

/// A GET leg's entry in the cookie table, before its RTSP connection starts.
struct Registered {
    cookie: String,
    generation: u64,
    permit: crate::ConnPermit,
    /// What POST legs send, as the tunnel's RTSP connection reads it.
    sess_in: PostInput,
    /// Cancelled when the tunnel ends.
    closed: CancellationToken,
}

/// The answer to a GET leg whose socket the RTSP server holds, with `headers` (the listener's
/// own lines, each ending in CRLF: security headers, HSTS over HTTPS): no length, no chunking,
/// the body ends when the connection does (HTTP/1.0 framing, which every tunnelling client reads).
fn get_ok(headers: &str) -> Vec<u8> {
    format!(
        "HTTP/1.0 200 OK\r\nServer: camward\r\nContent-Type: application/x-rtsp-tunnelled\r\n\
         Cache-Control: no-store\r\nPragma: no-cache\r\n{headers}Connection: close\r\n\r\n"
    )
    .into_bytes()
}

/// A leg refused on its own socket, with the listener's `headers` like [`get_ok`].
fn refusal(status: StatusCode, headers: &str) -> Vec<u8> {
    format!(
        "HTTP/1.0 {} {}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .into_bytes()
}

/// Read size of a POST leg on its own socket: the requests are a few hundred bytes of base64.
const POST_READ: usize = 512;

/// The cookie table pairing GET and POST legs.
#[derive(Default)]
pub(crate) struct Broker {
    map: Mutex<HashMap<String, Entry>>,
    generation: AtomicU64,
}

fn valid_cookie(c: &str) -> bool {
    !c.is_empty() && c.len() <= MAX_COOKIE && c.bytes().all(|b| b.is_ascii_graphic())
}

impl Broker {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Registers a GET leg's cookie and takes the tunnel's connection slot: the tunnel's entry
    /// and the read side of its RTSP connection's input (what POST legs write).
    fn register(
        server: &Arc<RtspServer>,
        cookie: &str,
        peer: SocketAddr,
    ) -> Result<Registered, Refusal> {
        if !valid_cookie(cookie) {
            return Err(Refusal::BadCookie);
        }
        let permit = server.conn_permit(peer.ip()).ok_or(Refusal::Busy)?;
        let slot = Arc::new(PostSlot::default());
        let generation = server.tunnels.generation.fetch_add(1, Ordering::Relaxed);
        let closed = server.stop.child_token();
        let mut map = server.tunnels.lock();
        if map.contains_key(cookie) {
            return Err(Refusal::Duplicate(cookie.to_string()));
        }
        if map.values().filter(|e| !e.paired).count() >= MAX_UNPAIRED {
            return Err(Refusal::Busy);
        }
        map.insert(
            cookie.to_string(),
            Entry {
                generation,
                peer: peer.ip(),
                input: slot.clone(),
                paired: false,
            },
        );
        Ok(Registered {
            cookie: cookie.to_string(),
            generation,
            permit,
            sess_in: PostInput::new(slot),
            closed,
        })
    }

    /// GET leg through an HTTP server's response body: starts the tunnel's RTSP connection and
    /// returns what it writes (the GET body) and the tunnel's lifetime token: cancel it when the
    /// GET leg goes away, and the whole tunnel ends. The connection gives up, and the entry
    /// goes, if no request arrives in 10 s.
    fn open(
        server: &Arc<RtspServer>,
        cookie: &str,
        peer: SocketAddr,
    ) -> Result<(PipeReader, CancellationToken), Refusal> {
        let reg = Self::register(server, cookie, peer)?;
        let (sess_out, get_body) = pipe::pipe(OUT_BUDGET, OUT_CHUNK);
        let server = server.clone();
        let lifetime = reg.closed.clone();
        tokio::spawn(async move {
            let Registered {
                cookie,
                generation,
                permit,
                sess_in,
                closed,
            } = reg;
            let io = Box::pin(tokio::io::join(sess_in, sess_out));
            conn::run(server.clone(), io, peer, Carrier::Tunnel, permit, &closed).await;
            server.tunnels.remove(&cookie, generation);
            closed.cancel();
        });
        Ok((get_body, lifetime))
    }

    /// GET leg on its own socket (taken off the HTTP server, or on the RTSP port): the tunnel's
    /// RTSP connection writes the answer's head and then everything straight to that socket
    /// through `writer`, like an RTSP/TCP connection (its viewers are driven by the fan-out
    /// driver), and `rd`, the socket's read side, is only watched for the client leaving.
    /// `hold` (the HTTP server's connection slot) lives as long as the tunnel.
    fn open_socket(
        server: &Arc<RtspServer>,
        cookie: &str,
        peer: SocketAddr,
        writer: &Writer,
        mut rd: Pin<Box<dyn AsyncRead + Send>>,
        hold: Box<dyn Send>,
        headers: &str,
    ) -> Result<(), Refusal> {
        let answer = get_ok(headers);
        let reg = Self::register(server, cookie, peer)?;
        let server = server.clone();
        let kill = reg.closed.child_token();
        let writer = Arc::new(writer.rebind(kill.clone()));
        tokio::spawn(async move {
            let Registered {
                cookie,
                generation,
                permit,
                mut sess_in,
                closed,
            } = reg;
            let answered = writer.send(&answer).await.is_ok();
            // Freed now rather than with the task: with the listener's security headers the
            // answer is most of a kilobyte, held by every tunnelled viewer for its whole visit.
            drop(answer);
            if answered {
                // Nothing is expected from the client on the GET leg; EOF means it left.
                let gone = async {
                    let mut probe = [0u8; 32];
                    while matches!(rd.read(&mut probe).await, Ok(n) if n > 0) {}
                    closed.cancel();
                    std::future::pending::<()>().await
                };
                let run = conn::serve(
                    server.clone(),
                    &mut sess_in,
                    writer,
                    kill,
                    peer,
                    Carrier::Tunnel,
                    true,
                );
                tokio::select! {
                    _ = run => {}
                    _ = gone => {}
                }
            }
            server.tunnels.remove(&cookie, generation);
            closed.cancel();
            drop((permit, hold));
        });
        Ok(())
    }

    /// POST leg: the input of the tunnel its cookie names. The POST must come from the GET's
    /// address, so a guessed cookie can't inject requests from elsewhere; one POST at a time.
    fn post(&self, cookie: &str, peer: SocketAddr) -> Result<PostTo, Refusal> {
        if !valid_cookie(cookie) {
            return Err(Refusal::BadCookie);
        }
        let mut map = self.lock();
        let e = map
            .get_mut(cookie)
            .filter(|e| e.peer == peer.ip())
            .ok_or_else(|| Refusal::Unknown(cookie.to_string()))?;
        {
            let mut slot = e.input.lock();
            if slot.busy {
                return Err(Refusal::InUse(cookie.to_string()));
            }
            slot.busy = true;
        }
        e.paired = true;
        Ok(PostTo {
            slot: Some(e.input.clone()),
        })
    }

    fn remove(&self, cookie: &str, generation: u64) {
        let mut map = self.lock();
        if map.get(cookie).is_some_and(|e| e.generation == generation) {
            map.remove(cookie);
        }
    }
}

/// Where a tunnel's POST legs hand their bodies to its RTSP connection, one leg at a time.
#[derive(Default)]
pub(crate) struct PostSlot {
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    /// A leg given and not yet taken by the connection.
    next: Option<PostSource>,
    /// A leg is given or being read: another one is refused (409).
    busy: bool,
    /// The connection waiting for a leg.
    waker: Option<Waker>,
}

impl PostSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One POST leg's body as the tunnel's connection reads it: base64, `first` before `rd`.
pub(crate) struct PostSource {
    first: Vec<u8>,
    rd: Pin<Box<dyn AsyncRead + Send>>,
    /// Told how the leg ended (the HTTP server's POST answer waits for it); dropped with the leg.
    done: Option<tokio::sync::oneshot::Sender<Result<(), DecodeError>>>,
    /// Kept as long as the leg is read (the web server's connection slot).
    _hold: Box<dyn Send>,
}

impl PostSource {
    fn end(mut self, r: Result<(), DecodeError>) {
        if let Some(d) = self.done.take() {
            let _ = d.send(r);
        }
    }
}

/// A POST leg's right to feed its tunnel (the slot was free); given up if dropped unused.
pub(crate) struct PostTo {
    slot: Option<Arc<PostSlot>>,
}

impl PostTo {
    /// Hands the leg to the tunnel's connection, which reads it from now on.
    fn give(mut self, source: PostSource) {
        let Some(slot) = self.slot.take() else { return };
        let waker = {
            let mut s = slot.lock();
            s.next = Some(source);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Drop for PostTo {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.lock().busy = false;
        }
    }
}

/// What a tunnel's RTSP connection reads: its POST legs' bodies, base64-decoded, one leg after
/// the other. Read in the connection's own task, straight from the legs (no pipe, no task per
/// leg); a leg waits while the connection does not read (TCP back-pressure).
pub(crate) struct PostInput {
    slot: Arc<PostSlot>,
    current: Option<PostSource>,
    decoder: Base64Decoder,
    /// Decoded and not yet read; empty (unallocated) between requests.
    pending: Vec<u8>,
    at: usize,
}

impl PostInput {
    fn new(slot: Arc<PostSlot>) -> PostInput {
        PostInput {
            slot,
            current: None,
            decoder: Base64Decoder::new(),
            pending: Vec::new(),
            at: 0,
        }
    }

    /// The current leg is over: the next one may come.
    fn finish(&mut self, r: Result<(), DecodeError>) {
        if let Some(c) = self.current.take() {
            c.end(r);
        }
        self.slot.lock().busy = false;
    }
}

impl Drop for PostInput {
    fn drop(&mut self) {
        if let Some(c) = self.current.take() {
            c.end(Ok(()));
        }
    }
}

impl AsyncRead for PostInput {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.at < this.pending.len() {
                let n = (this.pending.len() - this.at).min(buf.remaining());
                buf.put_slice(&this.pending[this.at..this.at + n]);
                this.at += n;
                if this.at == this.pending.len() {
                    this.pending = Vec::new();
                    this.at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let Some(cur) = this.current.as_mut() else {
                let mut s = this.slot.lock();
                match s.next.take() {
                    Some(next) => {
                        drop(s);
                        this.decoder = Base64Decoder::new();
                        this.current = Some(next);
                        continue;
                    }
                    None => {
                        s.waker = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                }
            };
            let mut decoded = Vec::new();
            let r = if !cur.first.is_empty() {
                let first = std::mem::take(&mut cur.first);
                decoded.reserve(first.len() / 4 * 3 + 3);
                this.decoder.push(&first, &mut decoded)
            } else {
                // A stack buffer: the requests are a few hundred bytes now and then.
                let mut raw = [0u8; POST_READ];
                let mut rb = tokio::io::ReadBuf::new(&mut raw);
                match cur.rd.as_mut().poll_read(cx, &mut rb) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(())) if !rb.filled().is_empty() => {
                        decoded.reserve(rb.filled().len() / 4 * 3 + 3);
                        this.decoder.push(rb.filled(), &mut decoded)
                    }
                    // End of the leg's body (or its connection): the next leg may come.
                    Poll::Ready(_) => {
                        this.finish(Ok(()));
                        continue;
                    }
                }
            };
            if let Err(e) = r {
                // The request framing is lost: the tunnel ends.
                this.finish(Err(e.clone()));
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
            }
            this.pending = decoded;
            this.at = 0;
        }
    }
}

/// A POST request's body (through the HTTP server) as the byte stream its tunnel reads.
struct BodyReader<B> {
    body: B,
    chunk: Bytes,
}

impl<B> AsyncRead for BodyReader<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.chunk.is_empty() {
                let n = this.chunk.len().min(buf.remaining());
                buf.put_slice(&this.chunk.split_to(n));
                return Poll::Ready(Ok(()));
            }
            match std::task::ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                None => return Poll::Ready(Ok(())),
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e.to_string()))),
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        this.chunk = d;
                    }
                }
            }
        }
    }
}

/// The GET leg's body: whatever the tunnel's RTSP connection writes (responses, `$` RTP), in the
/// pipe's chunks; hyper queues them without copying and drops each once it is on the socket,
/// which is when its bytes leave the tunnel's budget.
struct PipeBody {
    rd: PipeReader,
    /// The HTTP server drops the body when the client goes away: end the tunnel then, rather
    /// than when its RTSP connection next tries to write.
    _tunnel: tokio_util::sync::DropGuard,
}

impl Body for PipeBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.get_mut()
            .rd
            .poll_chunk(cx)
            .map(|c| c.map(|b| Ok(Frame::data(b))))
    }
}

fn plain(status: StatusCode, text: String) -> http::Response<TunnelBody> {
    let mut r = http::Response::new(
        Full::new(Bytes::from(text))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Serves one leg of an RTSP-over-HTTP tunnel. The web server (HTTP or HTTPS) routes every
/// request carrying `x-sessioncookie` here, after its host filter.
///
/// * GET: answers `200`, `Content-Type: application/x-rtsp-tunnelled`, and streams the tunnel's
///   RTSP responses and interleaved RTP as the body until the tunnel ends.
/// * POST: decodes the body (base64 RTSP requests, bogus Content-Length) into the tunnel; the
///   future completes when the client stops sending. Its response is never read by clients.
///
/// Refusals: 400 (no/bad cookie), 403 (host filter), 404 (POST without GET), 409 (cookie in
/// use), 503 (too many tunnels), 405 (other methods).
pub async fn tunnel<B>(
    server: Arc<RtspServer>,
    req: http::Request<B>,
    peer: SocketAddr,
) -> http::Response<TunnelBody>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    let peer = canonical(peer);
    if !server.gate.host_allowed(peer.ip()) {
        return plain(StatusCode::FORBIDDEN, "host not allowed\n".into());
    }
    let Some(cookie) = req
        .headers()
        .get("x-sessioncookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return plain(StatusCode::BAD_REQUEST, "x-sessioncookie required\n".into());
    };
    match *req.method() {
        Method::GET => match Broker::open(&server, &cookie, peer) {
            Ok((rd, lifetime)) => {
                tracing::info!(%peer, "rtsp tunnel GET leg opened");
                let mut r = http::Response::new(
                    PipeBody {
                        rd,
                        _tunnel: lifetime.drop_guard(),
                    }
                    .boxed(),
                );
                let h = r.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-rtsp-tunnelled"),
                );
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
                r
            }
            Err(e) => {
                tracing::info!(%peer, error = %e, "rtsp tunnel GET refused");
                plain(e.status(), format!("{e}\n"))
            }
        },
        Method::POST => {
            let to = match server.tunnels.post(&cookie, peer) {
                Ok(t) => t,
                Err(e) => {
                    tracing::info!(%peer, error = %e, "rtsp tunnel POST refused");
                    return plain(e.status(), format!("{e}\n"));
                }
            };
            // The tunnel's connection reads the body itself; the answer waits for the leg's end.
            let (done, ended) = tokio::sync::oneshot::channel();
            to.give(PostSource {
                first: Vec::new(),
                rd: Box::pin(BodyReader {
                    body: req.into_body(),
                    chunk: Bytes::new(),
                }),
                done: Some(done),
                _hold: Box::new(()),
            });
            if let Ok(Err(e)) = ended.await {
                tracing::info!(%peer, error = %e, "rtsp tunnel POST leg closed");
                return plain(StatusCode::BAD_REQUEST, format!("{e}\n"));
            }
            let mut r = http::Response::new(Empty::new().map_err(|never| match never {}).boxed());
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        _ => plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "tunnel legs are GET and POST\n".into(),
        ),
    }
}

/// A tunnel leg that arrived on the RTSP port itself (ffmpeg's `-rtsp_transport http` uses the
/// RTSP URL's port). Same broker as the web hook; HTTP/1.0 framing, no chunking.
pub(crate) async fn raw_leg(
    server: Arc<RtspServer>,
    writer: Arc<Writer>,
    rd: Pin<Box<dyn AsyncRead + Send>>,
    head: crate::parse::Request,
    rest: Vec<u8>,
    peer: SocketAddr,
) {
    // The RTSP port is no web listener: none of its headers apply.
    socket_leg(server, &writer, rd, (head, rest), peer, Box::new(()), "").await;
}

/// Serves a tunnel leg on its own socket: GET hands the socket to the tunnel's RTSP connection
/// and returns; POST feeds the tunnel until the client stops sending. Content-Length of the POST
/// is ignored (clients send 32767 and go on past it).
async fn socket_leg(
    server: Arc<RtspServer>,
    writer: &Writer,
    rd: Pin<Box<dyn AsyncRead + Send>>,
    (head, rest): (crate::parse::Request, Vec<u8>),
    peer: SocketAddr,
    hold: Box<dyn Send>,
    headers: &str,
) {
    let cookie = head.header("x-sessioncookie").unwrap_or("").to_owned();
    let get = head.method == "GET";
    drop(head);
    if get {
        match Broker::open_socket(&server, &cookie, peer, writer, rd, hold, headers) {
            Ok(()) => tracing::info!(%peer, "rtsp tunnel GET leg opened"),
            Err(e) => {
                tracing::info!(%peer, error = %e, "rtsp tunnel GET refused");
                let _ = writer.send(&refusal(e.status(), headers)).await;
            }
        }
        return;
    }
    let to = match server.tunnels.post(&cookie, peer) {
        Ok(t) => t,
        Err(e) => {
            tracing::info!(%peer, error = %e, "rtsp tunnel POST refused");
            let _ = writer.send(&refusal(e.status(), headers)).await;
            return;
        }
    };
    // From now on the tunnel's connection reads the leg in its own task: no task, buffer or
    // pipe of the leg's own. Nothing is ever answered on it.
    to.give(PostSource {
        first: rest,
        rd,
        done: None,
        _hold: hold,
    });
}

/// Serves one tunnel leg taken off an HTTP server right after its request head (camward-web's
/// `TunnelTakeover`): `buffered` holds every byte read from `io` so far, the head first. The
/// tunnel then reads and writes the socket itself, like an RTSP/TCP connection, instead of
/// going through the HTTP server's request and response bodies (no HTTP buffers, no in-memory
/// pipe, no chunk copies). GET returns once the tunnel has taken the socket; POST when the
/// client stops sending. `hold` is kept as long as the leg lives.
///
/// Same rules as [`tunnel`]: host filter, cookie pairing (a POST from the GET's address only),
/// RTSP authentication inside; a head that is not a GET or POST carrying `x-sessioncookie` is
/// answered 400. Every answer carries `headers`, the HTTP listener's own header lines (each
/// ending in CRLF), so a leg is answered as that listener answers any request.
pub async fn tunnel_socket<IO>(
    server: Arc<RtspServer>,
    io: IO,
    mut buffered: Vec<u8>,
    peer: SocketAddr,
    hold: Box<dyn Send>,
    headers: String,
) where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let peer = canonical(peer);
    let (rd, wr) = tokio::io::split(io);
    // The tunnel's connection rebinds the writer to its own token; this one only ends here.
    let writer = Writer::new(wr, CancellationToken::new());
    if !server.gate.host_allowed(peer.ip()) {
        let _ = writer.send(&refusal(StatusCode::FORBIDDEN, &headers)).await;
        return;
    }
    let head = match crate::parse::parse(&buffered) {
        Ok(crate::parse::Parsed::Http(head, n))
            if matches!(head.method.as_str(), "GET" | "POST")
                && head.header("x-sessioncookie").is_some() =>
        {
            buffered.drain(..n);
            head
        }
        _ => {
            let _ = writer
                .send(&refusal(StatusCode::BAD_REQUEST, &headers))
                .await;
            return;
        }
    };
    socket_leg(
        server,
        &writer,
        Box::pin(rd),
        (head, buffered),
        peer,
        hold,
        &headers,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    fn decode_all(chunks: &[&[u8]]) -> Result<Vec<u8>, DecodeError> {
        let mut d = Base64Decoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.push(c, &mut out)?;
        }
        Ok(out)
    }

    #[test]
    fn tunnel_decoder_handles_every_chunk_boundary() {
        let msg = b"OPTIONS rtsp://127.0.0.1/stream1 RTSP/1.0\r\nCSeq: 1\r\n\r\n";
        let enc = STANDARD.encode(msg);
        for cut in 0..=enc.len() {
            let (a, b) = enc.as_bytes().split_at(cut);
            assert_eq!(decode_all(&[a, b]).unwrap(), msg, "split at {cut}");
        }
        let bytewise: Vec<&[u8]> = enc.as_bytes().chunks(1).collect();
        assert_eq!(decode_all(&bytewise).unwrap(), msg);
    }

    #[test]
    fn tunnel_decoder_accepts_separately_padded_messages_back_to_back() {
        let (a, b) = (
            b"DESCRIBE x RTSP/1.0\r\nCSeq: 2\r\n\r\n".to_vec(),
            b"SETUP y RTSP/1.0\r\nCSeq: 33\r\n\r\n".to_vec(),
        );
        let stream = format!("{}{}", STANDARD.encode(&a), STANDARD.encode(&b));
        assert!(
            stream[..stream.len() - 2].contains('='),
            "test needs mid-stream padding"
        );
        assert_eq!(decode_all(&[stream.as_bytes()]).unwrap(), [a, b].concat());
    }

    #[test]
    fn tunnel_decoder_skips_whitespace_and_line_breaks() {
        let enc = STANDARD.encode(b"PLAY * RTSP/1.0\r\n\r\n");
        let spaced: String = enc.chars().flat_map(|c| [c, '\n']).collect();
        assert_eq!(
            decode_all(&[b" \r\n", spaced.as_bytes(), b"\t"]).unwrap(),
            b"PLAY * RTSP/1.0\r\n\r\n"
        );
    }

    #[test]
    fn tunnel_decoder_keeps_at_most_three_pending_characters() {
        let mut d = Base64Decoder::new();
        let mut out = Vec::new();
        d.push(b"T1BU", &mut out).unwrap();
        d.push(b"SU9", &mut out).unwrap();
        assert_eq!((out.as_slice(), d.pending()), (&b"OPT"[..], 3));
    }

    #[test]
    fn tunnel_decoder_rejects_garbage_and_misplaced_padding() {
        assert_eq!(
            decode_all(&[b"T1B", b"U*"]),
            Err(DecodeError::InvalidByte {
                byte: b'*',
                offset: 4
            })
        );
        assert!(matches!(
            decode_all(&[b"T=BU"]),
            Err(DecodeError::BadPadding { .. })
        ));
        assert!(matches!(
            decode_all(&[b"T1=U"]),
            Err(DecodeError::BadPadding { .. })
        ));
        assert!(matches!(
            decode_all(&[b"GET / HTTP/1.1\r\n"]),
            Err(DecodeError::InvalidByte { .. })
        ));
    }

    #[test]
    fn cookies_must_be_short_visible_ascii() {
        assert!(valid_cookie("aBcD1234efgh5678ijkl90"));
        assert!(!valid_cookie(""));
        assert!(!valid_cookie("a b"));
        assert!(!valid_cookie(&"x".repeat(MAX_COOKIE + 1)));
    }
}
