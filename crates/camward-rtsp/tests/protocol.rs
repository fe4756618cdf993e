//! Protocol behaviour over raw sockets: host filter, auth refusals, the session state machine,
//! bad input, RTP/RTCP on an interleaved session, slow viewers, and tunnel pairing and garbage.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use camward_auth::Outcome;
use common::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const RUN: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Resp {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

struct Client {
    /// The RTSP connection, or a tunnel's GET leg.
    s: TcpStream,
    buf: Vec<u8>,
    cseq: u32,
    /// A tunnel's POST leg: requests go there, base64-encoded.
    post: Option<TcpStream>,
}

impl Client {
    async fn connect(port: u16) -> Client {
        Client {
            s: TcpStream::connect(local(port)).await.unwrap(),
            buf: Vec::new(),
            cseq: 0,
            post: None,
        }
    }

    /// An RTSP-over-HTTP tunnel on the RTSP port (legs on their own sockets, as the web server
    /// hands them over too), its GET leg connected through `get`.
    async fn tunnel(port: u16, get: tokio::net::TcpSocket, cookie: &str) -> Client {
        let mut s = get.connect(local(port)).await.unwrap();
        s.write_all(
            format!("GET /stream1 HTTP/1.0\r\nx-sessioncookie: {cookie}\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut c = Client {
            s,
            buf: Vec::new(),
            cseq: 0,
            post: None,
        };
        while !c.buf.windows(4).any(|w| w == b"\r\n\r\n") {
            assert!(c.fill().await, "GET leg closed");
        }
        assert!(c.buf.starts_with(b"HTTP/1.0 200"), "GET leg refused");
        let end = c.buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        c.buf.drain(..end + 4);
        c.post = Some(tunnel_post(port, cookie, b"").await);
        c
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        match timeout(Duration::from_secs(10), self.s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            _ => false,
        }
    }

    /// Next `$` frame, or `None` if a response or EOF comes first.
    async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 4 && self.buf[0] == b'$' {
                let len = u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
                if self.buf.len() >= 4 + len {
                    let ch = self.buf[1];
                    let payload = self.buf[4..4 + len].to_vec();
                    self.buf.drain(..4 + len);
                    return Some((ch, payload));
                }
            } else if !self.buf.is_empty() && self.buf[0] != b'$' {
                return None;
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// Next response, skipping interleaved frames.
    async fn response(&mut self) -> Option<Resp> {
        loop {
            while self.buf.first() == Some(&b'$') {
                self.frame().await?;
            }
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("Content-Length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                while self.buf.len() < end + 4 + len {
                    if !self.fill().await {
                        return None;
                    }
                }
                let body = self.buf[end + 4..end + 4 + len].to_vec();
                self.buf.drain(..end + 4 + len);
                let status = head.split(' ').nth(1)?.parse().ok()?;
                return Some(Resp { status, head, body });
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        match &mut self.post {
            Some(p) => p
                .write_all(STANDARD.encode(bytes).as_bytes())
                .await
                .unwrap(),
            None => self.s.write_all(bytes).await.unwrap(),
        }
    }

    async fn request(&mut self, method: &str, uri: &str, headers: &[(&str, &str)]) -> Resp {
        self.cseq += 1;
        let mut r = format!("{method} {uri} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        for (n, v) in headers {
            r.push_str(&format!("{n}: {v}\r\n"));
        }
        r.push_str("\r\n");
        self.send_raw(r.as_bytes()).await;
        let resp = self.response().await.expect("a response");
        assert_eq!(
            resp.header("CSeq"),
            Some(self.cseq.to_string().as_str()),
            "CSeq echoed: {resp:?}"
        );
        resp
    }

    async fn closed(&mut self) -> bool {
        let mut b = [0u8; 1024];
        loop {
            match timeout(Duration::from_secs(12), self.s.read(&mut b)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

fn session_of(r: &Resp) -> String {
    r.header("Session")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// SETUP of the stream's video track with `transport`, then PLAY; returns the session id.
async fn play_interleaved(c: &mut Client, u: &str, transport: &str) -> String {
    let r = c
        .request(
            "SETUP",
            &format!("{u}/trackID=0"),
            &[("Transport", transport)],
        )
        .await;
    let sid = session_of(&r);
    assert_eq!(c.request("PLAY", u, &[("Session", &sid)]).await.status, 200);
    sid
}

#[tokio::test]
async fn host_filter_closes_connection_before_reading_a_byte() {
    let s = start(Arc::new(NoHosts), [true, true], RUN).await;
    let mut c = Client::connect(s.port).await;
    assert!(
        c.closed().await,
        "refused host must be disconnected at once"
    );
}

#[tokio::test]
async fn missing_credentials_get_401_with_the_gates_challenge() {
    let s = start(Arc::new(DenyDigest), [true, true], RUN).await;
    let mut c = Client::connect(s.port).await;
    let r = c.request("DESCRIBE", &s.url("/stream1"), &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("WWW-Authenticate"), Some(CHALLENGE));
    // The connection stays usable for the retry with credentials.
    assert_eq!(c.request("OPTIONS", "*", &[]).await.status, 401);
}

#[tokio::test]
async fn device_without_administrator_refuses_with_a_reason() {
    let s = start(Arc::new(Fixed(Outcome::NeedsSetup)), [true, true], RUN).await;
    let r = Client::connect(s.port)
        .await
        .request("DESCRIBE", &s.url("/stream1"), &[])
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.head.lines().next().unwrap().contains("not set up"),
        "{}",
        r.head
    );
}

#[tokio::test]
async fn locked_out_peer_gets_503_with_retry_after() {
    let s = start(
        Arc::new(Fixed(Outcome::LockedOut {
            retry_after: Duration::from_millis(29_500),
        })),
        [true, true],
        RUN,
    )
    .await;
    let r = Client::connect(s.port)
        .await
        .request("OPTIONS", "*", &[])
        .await;
    assert_eq!((r.status, r.header("Retry-After")), (503, Some("30")));
}

#[tokio::test]
async fn out_of_order_and_unknown_requests_get_rtsp_errors() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let mut c = Client::connect(s.port).await;
    let u = s.url("/stream1");
    assert_eq!(
        c.request("PLAY", &u, &[]).await.status,
        454,
        "PLAY without a session"
    );
    assert_eq!(
        c.request("PLAY", &u, &[("Session", "DEADBEEF")])
            .await
            .status,
        454,
        "unknown session"
    );
    assert_eq!(
        c.request("PAUSE", &u, &[("Session", "0")]).await.status,
        454
    );
    assert_eq!(c.request("TEARDOWN", &u, &[]).await.status, 454);
    assert_eq!(
        c.request("DESCRIBE", &s.url("/nope"), &[]).await.status,
        404
    );
    assert_eq!(
        c.request("DESCRIBE", &s.url("/stream3"), &[]).await.status,
        404
    );
    assert_eq!(
        c.request(
            "SETUP",
            &format!("{u}/trackID=0"),
            &[("Transport", "RTP/AVP;multicast")]
        )
        .await
        .status,
        461
    );
    assert_eq!(
        c.request("SETUP", &format!("{u}/trackID=0"), &[])
            .await
            .status,
        461
    );
    assert_eq!(c.request("ANNOUNCE", &u, &[]).await.status, 405);
    assert_eq!(c.request("RECORDX", &u, &[]).await.status, 501);
    assert_eq!(
        c.request("OPTIONS", "*", &[("Require", "funky")])
            .await
            .status,
        551
    );
    assert_eq!(c.request("GET_PARAMETER", &u, &[]).await.status, 200);
    let r = c.request("OPTIONS", "*", &[]).await;
    assert!(r.header("Public").unwrap().contains("GET_PARAMETER"));
    // A session set up but not playing: PAUSE is fine, a SETUP for another stream is not.
    let r = c
        .request(
            "SETUP",
            &format!("{u}/trackID=0"),
            &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")],
        )
        .await;
    assert_eq!(r.status, 200);
    let sid = session_of(&r);
    assert_eq!(r.header("Session").unwrap(), format!("{sid};timeout=60"));
    let other = s.url("/stream2/trackID=0");
    assert_eq!(
        c.request(
            "SETUP",
            &other,
            &[("Transport", "RTP/AVP/TCP;unicast"), ("Session", &sid)]
        )
        .await
        .status,
        459
    );
    assert_eq!(
        c.request("PAUSE", &u, &[("Session", &sid)]).await.status,
        200
    );
    assert_eq!(
        c.request("TEARDOWN", &u, &[("Session", &sid)]).await.status,
        200
    );
    assert_eq!(
        c.request("PLAY", &u, &[("Session", &sid)]).await.status,
        454,
        "torn down"
    );
    // Versions and framing.
    c.send_raw(b"OPTIONS * RTSP/2.0\r\nCSeq: 99\r\n\r\n").await;
    assert_eq!(c.response().await.unwrap().status, 505);
    c.send_raw(b"OPTIONS * RTSP/1.0\r\n\r\n").await;
    assert_eq!(c.response().await.unwrap().status, 400, "missing CSeq");
}

#[tokio::test]
async fn another_connection_cannot_use_an_interleaved_session() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let mut a = Client::connect(s.port).await;
    let r = a
        .request(
            "SETUP",
            &s.url("/stream1/trackID=0"),
            &[("Transport", "RTP/AVP/TCP;unicast")],
        )
        .await;
    let sid = session_of(&r);
    let mut b = Client::connect(s.port).await;
    assert_eq!(
        b.request("PLAY", &s.url("/stream1"), &[("Session", &sid)])
            .await
            .status,
        454
    );
}

#[tokio::test]
async fn garbage_gets_400_and_a_clean_close() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let mut c = Client::connect(s.port).await;
    c.send_raw(b"\x00\x01\x02 hello\xff\r\n\r\n").await;
    assert_eq!(c.response().await.unwrap().status, 400);
    assert!(c.closed().await);
}

#[tokio::test]
async fn oversized_head_and_body_are_refused_and_closed() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let mut c = Client::connect(s.port).await;
    let mut big = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nX-Pad: ".to_vec();
    big.resize(64 * 1024, b'a');
    c.send_raw(&big).await;
    assert_eq!(c.response().await.unwrap().status, 400);
    assert!(c.closed().await);

    let mut c = Client::connect(s.port).await;
    c.send_raw(b"SET_PARAMETER * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 100000000\r\n\r\n")
        .await;
    assert_eq!(c.response().await.unwrap().status, 413);
    assert!(c.closed().await);
}

#[tokio::test]
async fn silent_connection_is_closed_after_the_handshake_timeout() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let mut c = Client::connect(s.port).await;
    c.send_raw(b"OPTIONS * RTSP/1.0\r\n").await; // never finished
    assert!(c.closed().await, "slow-loris connection must be dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_session_carries_rtp_and_rtcp_and_survives_pause() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let mut c = Client::connect(s.port).await;
    let u = s.url("/stream1");
    let d = c
        .request("DESCRIBE", &u, &[("Accept", "application/sdp")])
        .await;
    assert_eq!(d.status, 200);
    assert_eq!(d.header("Content-Base"), Some(format!("{u}/").as_str()));
    let sdp = String::from_utf8(d.body).unwrap();
    assert!(
        sdp.contains("sprop-parameter-sets=") && sdp.contains("a=control:trackID=0"),
        "{sdp}"
    );

    let track = format!("{u}/trackID=0");
    let r = c
        .request(
            "SETUP",
            &track,
            &[("Transport", "RTP/AVP/TCP;unicast;interleaved=4-5")],
        )
        .await;
    assert!(
        r.header("Transport")
            .unwrap()
            .starts_with("RTP/AVP/TCP;unicast;interleaved=4-5;ssrc=")
    );
    let sid = session_of(&r);
    let p = c
        .request("PLAY", &format!("{u}/"), &[("Session", &sid)])
        .await;
    assert_eq!(p.status, 200);
    let info = p.header("RTP-Info").unwrap().to_string();
    assert!(info.starts_with(&format!("url={track};seq=")), "{info}");
    let field = |k: &str| -> u32 {
        info.split(';')
            .find_map(|f| f.strip_prefix(k))
            .unwrap()
            .parse()
            .unwrap()
    };
    let (seq0, ts0) = (field("seq="), field("rtptime="));

    let (mut packets, mut markers, mut sr, mut last_seq) = (0, 0, 0, None::<u16>);
    while markers < 30 {
        let (ch, pkt) = c.frame().await.expect("rtp keeps coming");
        if ch == 5 {
            assert_eq!(
                pkt[1], 200,
                "RTCP on the odd channel starts with a sender report"
            );
            sr += 1;
            continue;
        }
        assert_eq!(ch, 4);
        assert_eq!(pkt[0] >> 6, 2, "RTP version 2");
        assert_eq!(pkt[1] & 0x7f, 96);
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let ts = u32::from_be_bytes(pkt[4..8].try_into().unwrap());
        if packets == 0 {
            assert_eq!(
                (seq as u32, ts),
                (seq0, ts0),
                "first packet matches RTP-Info"
            );
            let nal_type = pkt[12] & 0x1f;
            assert!(
                matches!(nal_type, 7 | 8 | 5 | 6 | 28),
                "starts with parameter sets or an IDR, got {nal_type}"
            );
        }
        if let Some(l) = last_seq {
            assert_eq!(seq, l.wrapping_add(1), "no gaps on TCP");
        }
        last_seq = Some(seq);
        packets += 1;
        if pkt[1] & 0x80 != 0 {
            markers += 1;
        }
    }
    assert!(sr >= 1, "a sender report follows the first frame");

    assert_eq!(
        c.request("PAUSE", &u, &[("Session", &sid)]).await.status,
        200
    );
    let p = c.request("PLAY", &u, &[("Session", &sid)]).await;
    let info = p.header("RTP-Info").unwrap();
    let seq1: u16 = info
        .split(';')
        .find_map(|f| f.strip_prefix("seq="))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        seq1,
        last_seq.unwrap().wrapping_add(1),
        "sequence continues after PAUSE/PLAY"
    );
    assert_eq!(
        c.request("GET_PARAMETER", &u, &[("Session", &sid)])
            .await
            .status,
        200
    );
    assert_eq!(
        c.request("TEARDOWN", &u, &[("Session", &sid)]).await.status,
        200
    );
    for _ in 0..50 {
        if s.rtsp.stats().sessions == 0 && s.rtsp.stats().playing == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((s.rtsp.stats().sessions, s.rtsp.stats().playing), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_never_reads_does_not_hold_back_another() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let u = s.url("/stream1");
    let mut stuck = Client::connect(s.port).await;
    let r = stuck
        .request(
            "SETUP",
            &format!("{u}/trackID=0"),
            &[("Transport", "RTP/AVP/TCP;unicast")],
        )
        .await;
    let sid = session_of(&r);
    stuck.cseq += 1;
    stuck
        .send_raw(
            format!(
                "PLAY {u} RTSP/1.0\r\nCSeq: {}\r\nSession: {sid}\r\n\r\n",
                stuck.cseq
            )
            .as_bytes(),
        )
        .await;
    // `stuck` never reads again.
    let mut live = Client::connect(s.port).await;
    play_interleaved(&mut live, &u, "RTP/AVP/TCP;unicast").await;
    let mut frames = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        let (ch, pkt) = live.frame().await.expect("live viewer keeps receiving");
        if ch == 0 && pkt[1] & 0x80 != 0 {
            frames += 1;
        }
    }
    assert!(frames >= 50, "live viewer got only {frames} frames in 3 s");
}

/// A server whose stream1 carries synthetic 100 KB access units at 25 fps (20 Mbit/s; a key
/// frame every 25), so that a viewer that stops reading fills its socket buffers in seconds.
async fn heavy_server(
    secs: u64,
) -> (
    Arc<camward_rtsp::RtspServer>,
    u16,
    Vec<tokio::task::JoinHandle<()>>,
) {
    use camward_h264::{AccessUnit, StreamInfo};
    use camward_media::FrameBus;
    let sps =
        bytes::Bytes::from_static(&[0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8]);
    let pps = bytes::Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80]);
    let bus = Arc::new(FrameBus::default());
    bus.set_info(Some(StreamInfo {
        width: 320,
        height: 240,
        fps: 25,
        sps: sps.clone(),
        pps: pps.clone(),
    }));
    let streams = Arc::new(Streams {
        buses: [bus.clone(), Arc::new(FrameBus::default())],
        internet: [true, true],
    });
    let publisher = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(40));
        for i in 0..secs * 25 {
            tick.tick().await;
            let key = i % 25 == 0;
            let mut slice = vec![(i % 251) as u8; 100_000];
            slice[0] = if key { 0x65 } else { 0x41 };
            let mut nals = Vec::new();
            if key {
                nals.extend([sps.clone(), pps.clone()]);
            }
            nals.push(bytes::Bytes::from(slice));
            bus.publish(Arc::new(AccessUnit {
                pts90k: i * 3600,
                wallclock: std::time::SystemTime::now(),
                key,
                nals,
            }));
        }
    });
    let rtsp = Arc::new(camward_rtsp::RtspServer::new(Arc::new(AllowAll), streams));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let srv = rtsp.clone();
    let server = tokio::spawn(async move {
        let _ = srv.serve(listener, std::future::pending()).await;
    });
    (rtsp, port, vec![publisher, server])
}

/// One access unit as a viewer received it: RTP timestamp, packets, whether it holds an IDR.
struct Received {
    ts: u32,
    first_seq: u16,
    last_seq: u16,
    idr: bool,
}

/// Reads whole access units (up to the marker) from an interleaved RTP stream on channel 0.
async fn next_au(c: &mut Client) -> Received {
    let mut au: Option<Received> = None;
    loop {
        let (ch, pkt) = c.frame().await.expect("interleaved framing stays intact");
        if ch != 0 {
            continue;
        }
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let ts = u32::from_be_bytes(pkt[4..8].try_into().unwrap());
        let nal = pkt[12] & 0x1f;
        let idr = nal == 5 || (nal == 28 && pkt[13] & 0x1f == 5);
        let a = au.get_or_insert(Received {
            ts,
            first_seq: seq,
            last_seq: seq.wrapping_sub(1),
            idr: false,
        });
        assert_eq!(
            ts, a.ts,
            "a new timestamp before the marker: a frame was cut"
        );
        assert_eq!(
            seq,
            a.last_seq.wrapping_add(1),
            "packets of a frame are consecutive"
        );
        a.last_seq = seq;
        a.idr |= idr;
        if pkt[1] & 0x80 != 0 {
            return au.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_viewer_resyncs_at_a_key_frame_with_whole_frame_writes_and_delays_no_other() {
    slow_viewer_resyncs_and_delays_no_other(false).await;
}

/// The same through tunnels whose GET sockets the RTSP server holds (their viewers are batched by
/// the fan-out driver like RTSP/TCP ones).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_tunnelled_viewer_resyncs_at_a_key_frame_and_delays_no_other() {
    slow_viewer_resyncs_and_delays_no_other(true).await;
}

async fn slow_viewer_resyncs_and_delays_no_other(tunnel: bool) {
    let (_rtsp, port, tasks) = heavy_server(20).await;
    let u = format!("rtsp://127.0.0.1:{port}/stream1");
    // The slow viewer's receive window is tiny, so the server's socket buffer is all that
    // absorbs its backlog: at 20 Mbit/s that fills in about a second.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let (mut slow, mut live) = if tunnel {
        (
            Client::tunnel(port, sock, "slowCookie").await,
            Client::tunnel(port, tokio::net::TcpSocket::new_v4().unwrap(), "liveCookie").await,
        )
    } else {
        let slow = Client {
            s: sock.connect(local(port)).await.unwrap(),
            buf: Vec::new(),
            cseq: 0,
            post: None,
        };
        (slow, Client::connect(port).await)
    };
    play_interleaved(&mut slow, &u, "RTP/AVP/TCP;unicast;interleaved=0-1").await;
    play_interleaved(&mut live, &u, "RTP/AVP/TCP;unicast;interleaved=0-1").await;

    // While `slow` reads nothing for 4 s, `live` gets every frame: whole, in order, no skip.
    let mut prev = next_au(&mut live).await;
    let mut frames = 1;
    let until = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < until {
        let au = next_au(&mut live).await;
        assert_eq!(
            au.ts.wrapping_sub(prev.ts),
            3600,
            "the live viewer skipped a frame"
        );
        assert_eq!(
            au.first_seq,
            prev.last_seq.wrapping_add(1),
            "RTP gap for the live viewer"
        );
        prev = au;
        frames += 1;
    }
    // A live viewer held back by the slow one would have fallen behind and skipped (above).
    assert!(frames > 1, "live viewer got {frames} frames");

    // `slow` drains its backlog: every frame it gets is whole (no frame cut by a stalled
    // write), sequence numbers have no gap, and where it skipped ahead it resumed at a key frame.
    let mut prev = next_au(&mut slow).await;
    let mut resynced = None;
    let until = tokio::time::Instant::now() + Duration::from_secs(6);
    while tokio::time::Instant::now() < until && resynced.is_none() {
        let au = next_au(&mut slow).await;
        assert_eq!(
            au.first_seq,
            prev.last_seq.wrapping_add(1),
            "RTP gap for the slow viewer"
        );
        let step = au.ts.wrapping_sub(prev.ts);
        if step != 3600 {
            assert!(
                au.idr,
                "after skipping {} frames the slow viewer resumed on a non-key frame",
                step / 3600 - 1
            );
            resynced = Some(step / 3600 - 1);
        }
        prev = au;
    }
    let skipped =
        resynced.expect("the slow viewer never skipped ahead: it fell behind by more than 1 s");
    assert!(skipped >= 1);
    for t in tasks {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn picture_less_access_unit_rides_with_the_next_picture() {
    let (_, aus) = clip();
    // The fixture publishes nothing (zero run time) but describes the stream; frames come below.
    let s = start(Arc::new(AllowAll), [true, true], Duration::ZERO).await;
    let u = s.url("/stream1");
    let mut c = Client::connect(s.port).await;
    play_interleaved(&mut c, &u, "RTP/AVP/TCP;unicast;interleaved=0-1").await;

    // A pipeline's end: its last frame, then its end-of-stream SEI with that frame's time, then
    // the next pipeline's IDR.
    let trailer = bytes::Bytes::from_static(&[0x06, 0x05, 0x02, 0xca, 0xfe, 0x80]);
    let bus = &s.streams.buses[0];
    let au = |pts: u64, key: bool, nals: Vec<bytes::Bytes>| {
        Arc::new(camward_h264::AccessUnit {
            pts90k: pts,
            wallclock: std::time::SystemTime::now(),
            key,
            nals,
        })
    };
    assert!(
        aus[0].0 && !aus[1].0,
        "the clip starts with an IDR and a P frame"
    );
    bus.publish(au(0, true, aus[0].1.clone()));
    bus.publish(au(3600, false, aus[1].1.clone()));
    bus.publish(au(3600, false, vec![trailer.clone()]));
    bus.publish(au(7200, true, aus[0].1.clone()));

    // (timestamp, marker, NAL type (inside FU-A too), single-NAL payload) per RTP packet.
    let mut packets: Vec<(u32, bool, u8, Vec<u8>)> = Vec::new();
    while packets.iter().filter(|p| p.1).count() < 3 {
        let (ch, pkt) = c.frame().await.expect("rtp keeps coming");
        if ch != 0 {
            continue;
        }
        let ts = u32::from_be_bytes(pkt[4..8].try_into().unwrap());
        let t = match pkt[12] & 0x1f {
            28 => pkt[13] & 0x1f,
            t => t,
        };
        packets.push((ts, pkt[1] & 0x80 != 0, t, pkt[12..].to_vec()));
    }
    let ts: Vec<u32> = packets.iter().filter(|p| p.1).map(|p| p.0).collect();
    assert_eq!(
        (ts[1].wrapping_sub(ts[0]), ts[2].wrapping_sub(ts[1])),
        (3600, 3600),
        "three pictures, no packet group of its own for the trailer"
    );
    let sei_at = packets
        .iter()
        .position(|p| p.3 == trailer[..])
        .expect("the SEI is sent");
    let slice_at = packets
        .iter()
        .position(|p| p.0 == ts[2] && matches!(p.2, 1 | 5))
        .expect("the third picture's slices");
    assert_eq!(packets[sei_at].0, ts[2], "sent with the next picture");
    assert!(sei_at < slice_at, "ahead of that picture's slices");
    assert!(!packets[sei_at].1, "not the end of an access unit");
}

/// Opens a tunnel GET leg on `port` and returns the socket after the 200 head.
async fn tunnel_get(port: u16, cookie: &str) -> (TcpStream, String) {
    let mut g = TcpStream::connect(local(port)).await.unwrap();
    g.write_all(format!("GET /stream1 HTTP/1.0\r\nx-sessioncookie: {cookie}\r\nAccept: application/x-rtsp-tunnelled\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if timeout(Duration::from_secs(5), g.read(&mut b))
            .await
            .unwrap()
            .unwrap()
            == 0
        {
            break;
        }
        head.push(b[0]);
    }
    (g, String::from_utf8_lossy(&head).to_string())
}

async fn tunnel_post(port: u16, cookie: &str, body: &[u8]) -> TcpStream {
    let mut p = TcpStream::connect(local(port)).await.unwrap();
    let mut req = format!("POST /stream1 HTTP/1.0\r\nx-sessioncookie: {cookie}\r\nContent-Type: application/x-rtsp-tunnelled\r\nContent-Length: 32767\r\n\r\n").into_bytes();
    req.extend_from_slice(body);
    p.write_all(&req).await.unwrap();
    p
}

async fn read_until_eof(s: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut all = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        match timeout(limit, s.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&all).to_string()),
            Ok(Ok(n)) => all.extend_from_slice(&b[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn tunnel_pairs_legs_by_cookie_and_refuses_udp_inside() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let (mut g, head) = tunnel_get(s.port, "cookieA1").await;
    assert!(
        head.starts_with("HTTP/1.0 200 OK\r\n") && head.contains("application/x-rtsp-tunnelled"),
        "{head}"
    );
    let (_, dup) = tunnel_get(s.port, "cookieA1").await;
    assert!(dup.starts_with("HTTP/1.0 409"), "duplicate cookie: {dup}");
    let reqs = [
        format!("OPTIONS {} RTSP/1.0\r\nCSeq: 1\r\n\r\n", s.url("/stream1")),
        format!(
            "SETUP {}/trackID=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP;unicast;client_port=5000-5001\r\n\r\n",
            s.url("/stream1")
        ),
    ];
    // Each request encoded separately (mid-stream padding) and split across two writes.
    let enc: String = reqs.iter().map(|r| STANDARD.encode(r)).collect();
    let (a, b) = enc.split_at(enc.len() / 2 + 1);
    let mut p = tunnel_post(s.port, "cookieA1", a.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    p.write_all(b.as_bytes()).await.unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while !got.contains("CSeq: 2") {
        let n = timeout(Duration::from_secs(5), g.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "tunnel closed early: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.starts_with("RTSP/1.0 200 OK\r\nCSeq: 1\r\n"), "{got}");
    assert!(
        got.contains("RTSP/1.0 461"),
        "UDP must be refused inside the tunnel: {got}"
    );
}

/// Reads the GET leg until `needle` has arrived (5 s at most per read).
async fn read_get_until(g: &mut TcpStream, needle: &str) -> String {
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while !got.contains(needle) {
        let n = timeout(Duration::from_secs(5), g.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "tunnel closed early: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    got
}

#[tokio::test]
async fn tunnel_takes_post_legs_one_after_another_and_refuses_a_second_at_once() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let (mut g, _) = tunnel_get(s.port, "cookieP").await;
    let options = |n: u32| {
        STANDARD.encode(format!(
            "OPTIONS {} RTSP/1.0\r\nCSeq: {n}\r\n\r\n",
            s.url("/stream1")
        ))
    };
    let first = tunnel_post(s.port, "cookieP", options(1).as_bytes()).await;
    read_get_until(&mut g, "CSeq: 1\r\n").await;
    let mut second = tunnel_post(s.port, "cookieP", options(2).as_bytes()).await;
    let out = read_until_eof(&mut second, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(out.starts_with("HTTP/1.0 409"), "{out}");
    // The client closes its first POST leg and opens another: the same tunnel reads it.
    drop(first);
    let mut accepted = None;
    for _ in 0..50 {
        let mut p = tunnel_post(s.port, "cookieP", options(3).as_bytes()).await;
        let mut b = [0u8; 64];
        match timeout(Duration::from_millis(300), p.read(&mut b)).await {
            // Refused while the server had not yet seen the first leg end: try again.
            Ok(_) => continue,
            // Nothing is answered on a POST leg that is read.
            Err(_) => {
                accepted = Some(p);
                break;
            }
        }
    }
    assert!(accepted.is_some(), "no later POST leg was taken");
    let got = read_get_until(&mut g, "CSeq: 3\r\n").await;
    assert!(
        !got.contains("CSeq: 2\r\n"),
        "the refused leg fed the tunnel: {got}"
    );
}

#[tokio::test]
async fn tunnel_post_without_get_is_404() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let mut p = tunnel_post(s.port, "nobody", b"T1BU").await;
    let out = read_until_eof(&mut p, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(out.starts_with("HTTP/1.0 404"), "{out}");
}

#[tokio::test]
async fn tunnel_garbage_ends_the_tunnel() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let (mut g, _) = tunnel_get(s.port, "cookieG").await;
    let _p = tunnel_post(s.port, "cookieG", b"T1BU!!!! not base64 at all \x00\x01").await;
    assert!(
        read_until_eof(&mut g, Duration::from_secs(5))
            .await
            .is_some(),
        "GET leg must end"
    );
    for _ in 0..50 {
        if s.rtsp.stats().tunnels == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(s.rtsp.stats().tunnels, 0);
}

#[tokio::test]
async fn unpaired_tunnel_get_expires() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let (mut g, _) = tunnel_get(s.port, "lonely").await;
    assert_eq!(s.rtsp.stats().tunnels, 1);
    assert!(
        read_until_eof(&mut g, Duration::from_secs(15))
            .await
            .is_some(),
        "unpaired GET must end"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.rtsp.stats().tunnels, 0);
}

#[tokio::test]
async fn plain_http_on_the_rtsp_port_is_refused() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let mut c = TcpStream::connect(local(s.port)).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let out = read_until_eof(&mut c, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(out.starts_with("HTTP/1.0 400"), "{out}");
}

#[tokio::test]
async fn closing_the_get_leg_ends_the_tunnel_and_its_post_leg() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let (mut g, _) = tunnel_get(s.port, "cookieC").await;
    let opts = STANDARD.encode(format!(
        "OPTIONS {} RTSP/1.0\r\nCSeq: 1\r\n\r\n",
        s.url("/stream1")
    ));
    let mut p = tunnel_post(s.port, "cookieC", opts.as_bytes()).await;
    let mut buf = [0u8; 1024];
    let n = timeout(Duration::from_secs(5), g.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].starts_with(b"RTSP/1.0 200 OK"));
    drop(g);
    assert!(
        read_until_eof(&mut p, Duration::from_secs(5))
            .await
            .is_some(),
        "POST leg must end with its tunnel"
    );
    assert_eq!(s.rtsp.stats().tunnels, 0);
}

#[tokio::test]
async fn re_setup_replaces_the_transport_and_frees_its_channels() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let mut c = Client::connect(s.port).await;
    let track = s.url("/stream1/trackID=0");
    let r = c
        .request(
            "SETUP",
            &track,
            &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")],
        )
        .await;
    let sid = session_of(&r);
    let r = c
        .request(
            "SETUP",
            &track,
            &[
                ("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"),
                ("Session", &sid),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(session_of(&r), sid);
    assert!(
        r.header("Transport").unwrap().contains("interleaved=0-1"),
        "{r:?}"
    );
    let r = c
        .request(
            "SETUP",
            &track,
            &[
                ("Transport", "RTP/AVP;unicast;client_port=40000-40001"),
                ("Session", &sid),
            ],
        )
        .await;
    assert!(
        r.header("Transport").unwrap().contains("server_port="),
        "{r:?}"
    );
    assert_eq!(s.rtsp.stats().sessions, 1);
}
