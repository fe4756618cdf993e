//! Test fixtures: an in-process RTSP server with fake gates and a synthetic frame bus fed from
//! an Annex-B file made by ffmpeg, plus a minimal hyper server that routes tunnel legs.
#![allow(dead_code)]

use bytes::Bytes;
use camward_auth::{Gate, Level, Outcome, Principal, Request};
use camward_h264::{AccessUnit, NalType, StreamInfo, annexb, nal, sps};
use camward_media::FrameBus;
use camward_rtsp::{RtspServer, StreamSource};
use md5::{Digest as _, Md5};
use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Grants everything (user `viewer`, level Live).
pub struct AllowAll;
impl Gate for AllowAll {
    fn host_allowed(&self, _: IpAddr) -> bool {
        true
    }
    fn authenticate(&self, _: &Request<'_>) -> Outcome {
        Outcome::Granted(Principal {
            user: Some("viewer".into()),
            level: Level::Live,
        })
    }
}

/// Always answers with a Digest challenge.
pub struct DenyDigest;
pub const CHALLENGE: &str =
    r#"Digest realm="camward", nonce="testnonce", algorithm=MD5, qop="auth""#;
impl Gate for DenyDigest {
    fn host_allowed(&self, _: IpAddr) -> bool {
        true
    }
    fn authenticate(&self, _: &Request<'_>) -> Outcome {
        Outcome::Challenge {
            www_authenticate: vec![CHALLENGE.into()],
        }
    }
}

/// Refuses every host.
pub struct NoHosts;
impl Gate for NoHosts {
    fn host_allowed(&self, _: IpAddr) -> bool {
        false
    }
    fn authenticate(&self, _: &Request<'_>) -> Outcome {
        panic!("authenticate must not be reached when the host filter refuses");
    }
}

/// Fixed outcome (NeedsSetup, LockedOut...).
pub struct Fixed(pub Outcome);
impl Gate for Fixed {
    fn host_allowed(&self, _: IpAddr) -> bool {
        true
    }
    fn authenticate(&self, _: &Request<'_>) -> Outcome {
        self.0.clone()
    }
}

/// A real (if minimal) MD5 Digest check for `viewer`/`pw`: fixed nonce, qop=auth or RFC 2069
/// style, and the `uri=` parameter must equal the request-URI as sent.
pub struct DigestGate;
pub const USER: &str = "viewer";
pub const PASSWORD: &str = "pw";

fn md5_hex(s: &str) -> String {
    format!("{:x}", Md5::digest(s.as_bytes()))
}

fn param<'a>(h: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = h;
    while let Some(i) = rest.find(name) {
        let before_ok = i == 0 || matches!(rest.as_bytes()[i - 1], b' ' | b',');
        let after = &rest[i + name.len()..];
        if before_ok && let Some(v) = after.trim_start().strip_prefix('=') {
            let v = v.trim_start();
            return Some(match v.strip_prefix('"') {
                Some(q) => &q[..q.find('"')?],
                None => v.split(',').next()?.trim(),
            });
        }
        rest = after;
    }
    None
}

impl Gate for DigestGate {
    fn host_allowed(&self, _: IpAddr) -> bool {
        true
    }
    fn authenticate(&self, req: &Request<'_>) -> Outcome {
        let challenge = Outcome::Challenge {
            www_authenticate: vec![CHALLENGE.into()],
        };
        let Some(h) = req.authorization.and_then(|a| a.strip_prefix("Digest ")) else {
            return challenge;
        };
        let (Some(user), Some(uri), Some(resp)) =
            (param(h, "username"), param(h, "uri"), param(h, "response"))
        else {
            return challenge;
        };
        if user != USER || uri != req.uri {
            return challenge;
        }
        let ha1 = md5_hex(&format!("{USER}:camward:{PASSWORD}"));
        let ha2 = md5_hex(&format!("{}:{}", req.method, uri));
        let expected = match (param(h, "qop"), param(h, "nc"), param(h, "cnonce")) {
            (Some(qop), Some(nc), Some(cnonce)) => {
                md5_hex(&format!("{ha1}:testnonce:{nc}:{cnonce}:{qop}:{ha2}"))
            }
            _ => md5_hex(&format!("{ha1}:testnonce:{ha2}")),
        };
        if resp == expected {
            Outcome::Granted(Principal {
                user: Some(USER.into()),
                level: Level::Live,
            })
        } else {
            challenge
        }
    }
}

/// Two streams with buses; Internet mode per stream.
pub struct Streams {
    pub buses: [Arc<FrameBus>; 2],
    pub internet: [bool; 2],
}

impl StreamSource for Streams {
    fn bus(&self, n: u8) -> Option<Arc<FrameBus>> {
        self.buses.get(usize::from(n).checked_sub(1)?).cloned()
    }
    fn internet_mode(&self, n: u8) -> bool {
        self.internet
            .get(usize::from(n).wrapping_sub(1))
            .copied()
            .unwrap_or(false)
    }
}

/// True when `tool` runs; skips with a message naming it otherwise (fails under `CI=true`).
pub fn have(tool: &str) -> bool {
    camward_testkit::have(tool)
}

/// Access units of a clip: (key frame, NAL units).
pub type Frames = Vec<(bool, Vec<Bytes>)>;
/// A clip: its stream description and access units.
pub type Clip = (StreamInfo, Frames);

/// The first 4 s of the checked-in 320x240 25 fps clip (testdata/README.md) as access units.
pub fn clip() -> &'static Clip {
    static CLIP: OnceLock<Clip> = OnceLock::new();
    CLIP.get_or_init(|| split_clip(camward_testkit::clip(4)))
}

/// Groups an Annex-B stream into access units and finds the stream's parameter sets.
pub fn split_clip(data: &[u8]) -> Clip {
    let mut aus: Frames = Vec::new();
    let mut cur: Vec<Bytes> = Vec::new();
    let mut has_vcl = false;
    let (mut sps_nal, mut pps_nal) = (None, None);
    for n in annexb::split(data) {
        let t = NalType::of(n);
        let starts_new = has_vcl
            && (matches!(t, NalType::Sps | NalType::Pps | NalType::Sei | NalType::Aud)
                || nal::is_first_slice_of_picture(n));
        if starts_new {
            let key = cur.iter().any(|n| NalType::of(n) == NalType::Idr);
            aus.push((key, std::mem::take(&mut cur)));
            has_vcl = false;
        }
        has_vcl |= t.is_slice();
        match t {
            NalType::Sps => sps_nal = sps_nal.or(Some(Bytes::copy_from_slice(n))),
            NalType::Pps => pps_nal = pps_nal.or(Some(Bytes::copy_from_slice(n))),
            _ => {}
        }
        cur.push(Bytes::copy_from_slice(n));
    }
    if !cur.is_empty() {
        let key = cur.iter().any(|n| NalType::of(n) == NalType::Idr);
        aus.push((key, cur));
    }
    let sps = sps_nal.expect("clip has an SPS");
    let parsed = sps::parse(&sps).expect("SPS parses");
    let info = StreamInfo {
        width: parsed.width,
        height: parsed.height,
        fps: 25,
        sps,
        pps: pps_nal.expect("clip has a PPS"),
    };
    (info, aus)
}

/// Publishes the clip on `bus` in a loop at 25 fps, for at most `max` (bounded).
pub fn publish(bus: Arc<FrameBus>, max: Duration) -> JoinHandle<()> {
    let (info, aus) = clip().clone();
    bus.set_info(Some(info));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(40));
        let frames = (max.as_millis() / 40) as u64;
        for i in 0..frames {
            tick.tick().await;
            let (key, nals) = &aus[(i as usize) % aus.len()];
            bus.publish(Arc::new(AccessUnit {
                pts90k: i * 3600,
                wallclock: SystemTime::now(),
                key: *key,
                nals: nals.clone(),
            }));
        }
    })
}

/// A running in-process server.
pub struct Server {
    pub rtsp: Arc<RtspServer>,
    pub port: u16,
    pub streams: Arc<Streams>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.rtsp.close_all();
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("rtsp://127.0.0.1:{}{path}", self.port)
    }
}

/// Starts a server on 127.0.0.1 with both streams publishing the clip for `run` (if ffmpeg
/// is there to make it; otherwise the buses stay silent).
pub async fn start(gate: Arc<dyn Gate>, internet: [bool; 2], run: Duration) -> Server {
    // Server logs appear with a failing test's output (CAMWARD_LOG=debug for more).
    let filter = std::env::var("CAMWARD_LOG").unwrap_or_else(|_| "camward_rtsp=debug".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_test_writer()
        .try_init();
    let streams = Arc::new(Streams {
        buses: [Arc::new(FrameBus::default()), Arc::new(FrameBus::default())],
        internet,
    });
    let mut tasks = Vec::new();
    for b in &streams.buses {
        tasks.push(publish(b.clone(), run));
    }
    let rtsp = Arc::new(RtspServer::new(gate, streams.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let srv = rtsp.clone();
    tasks.push(tokio::spawn(async move {
        let _ = srv.serve(listener, std::future::pending()).await;
    }));
    Server {
        rtsp,
        port,
        streams,
        tasks,
    }
}

/// A minimal hyper HTTP/1 server that sends every `x-sessioncookie` request to the tunnel,
/// like the web server's hook will. Returns its port.
pub async fn start_http_tunnel(rtsp: Arc<RtspServer>) -> (u16, JoinHandle<()>) {
    use hyper::service::service_fn;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let rtsp = rtsp.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let rtsp = rtsp.clone();
                    async move {
                        if req.headers().contains_key("x-sessioncookie") {
                            Ok::<_, std::convert::Infallible>(
                                camward_rtsp::tunnel(rtsp, req, peer).await,
                            )
                        } else {
                            let mut r = hyper::Response::new(http_body_util::BodyExt::boxed(
                                http_body_util::BodyExt::map_err(
                                    http_body_util::Empty::<Bytes>::new(),
                                    |never| match never {},
                                ),
                            ));
                            *r.status_mut() = hyper::StatusCode::NOT_FOUND;
                            Ok(r)
                        }
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (port, task)
}

/// A web server in the shape of camward-web's accept loop with its tunnel hand-off: reads each
/// connection's first request head and gives the raw socket to `camward_rtsp::tunnel_socket`
/// (every request here is a tunnel leg).
pub async fn start_socket_tunnel(rtsp: Arc<RtspServer>) -> (u16, JoinHandle<()>) {
    start_socket_tunnel_with(rtsp, |s, _| s).await
}

/// [`start_socket_tunnel`] with each accepted socket wrapped by `wrap(socket, accept index)`.
pub async fn start_socket_tunnel_with<IO, F>(
    rtsp: Arc<RtspServer>,
    wrap: F,
) -> (u16, JoinHandle<()>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    F: Fn(tokio::net::TcpStream, usize) -> IO + Send + 'static,
{
    use tokio::io::AsyncReadExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut accepted = 0;
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let mut io = wrap(stream, accepted);
            accepted += 1;
            let rtsp = rtsp.clone();
            tokio::spawn(async move {
                let mut head = Vec::with_capacity(1024);
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tokio::time::timeout(Duration::from_secs(10), io.read_buf(&mut head))
                        .await
                    {
                        Ok(Ok(n)) if n > 0 && head.len() < 8192 => {}
                        _ => return,
                    }
                }
                camward_rtsp::tunnel_socket(rtsp, io, head, peer, Box::new(()), String::new())
                    .await;
            });
        }
    });
    (port, task)
}

/// Runs a client tool with a hard time limit; returns (success, stderr).
pub async fn run_tool(cmd: &str, args: &[&str], limit: Duration) -> (bool, String) {
    let child = tokio::process::Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd}: {e}"));
    match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (out.status.success(), text)
        }
        Ok(Err(e)) => (false, format!("{cmd} failed: {e}")),
        Err(_) => (
            false,
            format!("{cmd} {args:?} did not finish within {limit:?}"),
        ),
    }
}

pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
