//! Tunnelled viewers, through a hyper server and on sockets handed to the RTSP server after their
//! request head (camward-web's hand-off): one whose GET leg stops taking bytes stalls only itself
//! (its bounded pipe, or its own socket in the fan-out's slow lane), never the bus or another
//! tunnelled viewer, and is dropped after the stall limit.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

/// A server-side socket whose writes stop (stay pending) once `stalled` is set: a viewer whose
/// TCP window stays shut, without depending on how much the kernel's buffers absorb first.
struct Stallable {
    inner: TcpStream,
    stalled: Option<Arc<AtomicBool>>,
}

impl Stallable {
    fn is_stalled(&self) -> bool {
        self.stalled
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst))
    }
}

impl AsyncRead for Stallable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stallable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_stalled() {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    // Vectored like the daemon's sockets (TCP, TLS), so hyper queues the body's chunks as they
    // are instead of copying them into its own buffer.
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.is_stalled() {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Like `common::start_http_tunnel` (hyper, default options), except that the first connection
/// accepted stops writing when `stall` is set.
async fn start_http_tunnel_stalling_first(
    rtsp: Arc<camward_rtsp::RtspServer>,
    stall: Arc<AtomicBool>,
) -> (u16, tokio::task::JoinHandle<()>) {
    use hyper::service::service_fn;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = AtomicUsize::new(0);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let first = accepted.fetch_add(1, Ordering::SeqCst) == 0;
            let io = Stallable {
                inner: stream,
                stalled: first.then(|| stall.clone()),
            };
            let rtsp = rtsp.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let rtsp = rtsp.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            camward_rtsp::tunnel(rtsp, req, peer).await,
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(io), svc)
                    .await;
            });
        }
    });
    (port, task)
}

/// A raw tunnel client: GET leg (read), POST leg (base64 requests).
struct Tunnel {
    get: TcpStream,
    post: TcpStream,
    buf: Vec<u8>,
    cseq: u32,
}

impl Tunnel {
    async fn open(http_port: u16, cookie: &str) -> Tunnel {
        let mut get = TcpStream::connect(local(http_port)).await.unwrap();
        get.write_all(
            format!("GET /stream1 HTTP/1.0\r\nx-sessioncookie: {cookie}\r\nAccept: application/x-rtsp-tunnelled\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut buf = Vec::new();
        let mut b = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = timeout(Duration::from_secs(5), get.read(&mut b))
                .await
                .expect("GET leg answered")
                .unwrap();
            assert!(n > 0, "GET leg closed");
            buf.extend_from_slice(&b[..n]);
        }
        assert!(buf.starts_with(b"HTTP/1.0 200"), "GET leg refused");
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        buf.drain(..end + 4);
        // Connected once the GET leg is answered, so the server accepts the GET leg first.
        let mut post = TcpStream::connect(local(http_port)).await.unwrap();
        post.write_all(
            format!("POST /stream1 HTTP/1.0\r\nx-sessioncookie: {cookie}\r\nContent-Type: application/x-rtsp-tunnelled\r\nContent-Length: 32767\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        Tunnel {
            get,
            post,
            buf,
            cseq: 0,
        }
    }

    /// Reads up to and including the next blank line on the GET leg, skipping `$` frames.
    async fn read_head(&mut self) -> String {
        loop {
            if self.buf.first() == Some(&b'$') && self.buf.len() >= 4 {
                let n = 4 + u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
                if self.buf.len() >= n {
                    self.buf.drain(..n);
                    continue;
                }
            } else if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end + 4]).to_string();
                self.buf.drain(..end + 4);
                return head;
            }
            self.fill().await;
        }
    }

    async fn fill(&mut self) {
        let mut b = [0u8; 16 * 1024];
        let n = timeout(Duration::from_secs(5), self.get.read(&mut b))
            .await
            .expect("GET leg silent for 5 s")
            .unwrap();
        assert!(n > 0, "GET leg closed");
        self.buf.extend_from_slice(&b[..n]);
    }

    async fn request(&mut self, line: &str, headers: &str) -> String {
        self.cseq += 1;
        let req = format!("{line} RTSP/1.0\r\nCSeq: {}\r\n{headers}\r\n", self.cseq);
        self.post
            .write_all(STANDARD.encode(req).as_bytes())
            .await
            .unwrap();
        let resp = self.read_head().await;
        assert!(resp.starts_with("RTSP/1.0 200"), "{line}: {resp}");
        resp
    }

    /// SETUP (interleaved) and PLAY; returns once PLAY is answered.
    async fn play(&mut self, rtsp_url: &str) {
        let r = self
            .request(
                &format!("SETUP {rtsp_url}/trackID=0"),
                "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n",
            )
            .await;
        let sid = r
            .lines()
            .find_map(|l| l.strip_prefix("Session: "))
            .and_then(|v| v.split(';').next())
            .expect("Session header")
            .to_string();
        self.request(&format!("PLAY {rtsp_url}"), &format!("Session: {sid}\r\n"))
            .await;
    }

    /// Next `$` frame (channel, payload).
    async fn frame(&mut self) -> (u8, Vec<u8>) {
        loop {
            if self.buf.len() >= 4 && self.buf[0] == b'$' {
                let n = u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
                if self.buf.len() >= 4 + n {
                    let ch = self.buf[1];
                    let payload = self.buf[4..4 + n].to_vec();
                    self.buf.drain(..4 + n);
                    return (ch, payload);
                }
            } else if !self.buf.is_empty() && self.buf[0] != b'$' {
                self.read_head().await;
                continue;
            }
            self.fill().await;
        }
    }
}

#[tokio::test]
async fn a_tunnelled_viewer_that_stops_reading_holds_back_no_one_and_is_dropped() {
    let s = start(Arc::new(AllowAll), [true, true], Duration::from_secs(60)).await;
    let stall = Arc::new(AtomicBool::new(false));
    let (http_port, _t) = start_http_tunnel_stalling_first(s.rtsp.clone(), stall.clone()).await;
    stalled_tunnel_holds_back_no_one(&s, http_port, &stall).await;
}

#[tokio::test]
async fn a_tunnelled_viewer_on_a_handed_off_socket_that_stops_reading_holds_back_no_one_and_is_dropped()
 {
    let s = start(Arc::new(AllowAll), [true, true], Duration::from_secs(60)).await;
    let stall = Arc::new(AtomicBool::new(false));
    let flag = stall.clone();
    let (http_port, _t) = start_socket_tunnel_with(s.rtsp.clone(), move |inner, i| Stallable {
        inner,
        stalled: (i == 0).then(|| flag.clone()),
    })
    .await;
    stalled_tunnel_holds_back_no_one(&s, http_port, &stall).await;
}

/// The first connection accepted on `http_port` (the first viewer's GET leg) stops taking bytes
/// once `stall` is set; a second viewer still gets every frame, and the first is dropped.
async fn stalled_tunnel_holds_back_no_one(s: &Server, http_port: u16, stall: &AtomicBool) {
    // The client's URL names the HTTP port; the server only looks at the path.
    let url = format!("rtsp://127.0.0.1:{http_port}/stream1");
    let mut stuck = Tunnel::open(http_port, "stuckCookie1").await;
    stuck.play(&url).await;
    // From now on the stuck viewer's GET leg takes nothing: hyper's queue keeps the chunks it
    // took, the pipe's budget runs out, and that viewer's player waits, alone.
    stall.store(true, Ordering::SeqCst);
    let mut live = Tunnel::open(http_port, "liveCookie22").await;
    live.play(&url).await;
    let mut frames = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let (ch, pkt) = live.frame().await;
        if ch == 0 && pkt[1] & 0x80 != 0 {
            frames += 1;
        }
    }
    assert!(frames >= 50, "live viewer got only {frames} frames in 3 s");
    // After the stall limit (one access unit not written for 10 s) the stuck tunnel is ended,
    // while the live one plays on.
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.rtsp.stats().tunnels > 1 && Instant::now() < deadline {
        let (ch, _) = live.frame().await;
        assert!(ch <= 1, "unexpected interleaved channel {ch}");
    }
    assert_eq!(
        s.rtsp.stats().tunnels,
        1,
        "stalled tunnel not dropped: {:?}",
        s.rtsp.stats()
    );
    drop(stuck);
}
