//! Real clients against an in-process server: ffmpeg/ffprobe over UDP, TCP and the HTTP tunnel,
//! GStreamer's rtspsrc over TCP and rtsph://, and Digest bound to the request-URI.

mod common;

use common::*;
use std::sync::Arc;
use std::time::Duration;

const RUN: Duration = Duration::from_secs(90);
const LIMIT: Duration = Duration::from_secs(45);

async fn ffmpeg_decodes(url: &str, transport: &str, frames: u32) -> (bool, String) {
    let n = frames.to_string();
    run_tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-rtsp_transport",
            transport,
            "-i",
            url,
            "-frames:v",
            &n,
            "-f",
            "null",
            "-",
        ],
        LIMIT,
    )
    .await
}

async fn wait_no_sessions(s: &Server) {
    for _ in 0..100 {
        if s.rtsp.stats().sessions == 0 && s.rtsp.stats().playing == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("sessions left behind: {:?}", s.rtsp.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_decodes_over_udp() {
    if !have("ffmpeg") {
        return;
    }
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let (ok, log) = ffmpeg_decodes(&s.url("/stream1"), "udp", 20).await;
    assert!(ok, "ffmpeg over UDP failed:\n{log}");
    wait_no_sessions(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_decodes_over_tcp_both_streams() {
    if !have("ffmpeg") {
        return;
    }
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    for path in ["/stream1", "/stream2/"] {
        let (ok, log) = ffmpeg_decodes(&s.url(path), "tcp", 20).await;
        assert!(ok, "ffmpeg over TCP {path} failed:\n{log}");
    }
    wait_no_sessions(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffprobe_sees_h264_320x240_from_the_sdp_and_stream() {
    if !have("ffprobe") {
        return;
    }
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let url = s.url("/stream1");
    let (ok, out) = run_tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
            &url,
        ],
        LIMIT,
    )
    .await;
    assert!(ok, "ffprobe failed:\n{out}");
    assert!(out.contains("h264,320,240"), "unexpected probe: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_decodes_through_http_tunnel_on_a_hyper_server() {
    if !have("ffmpeg") {
        return;
    }
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let (http_port, _t) = start_http_tunnel(s.rtsp.clone()).await;
    let url = format!("rtsp://127.0.0.1:{http_port}/stream1");
    let (ok, log) = ffmpeg_decodes(&url, "http", 20).await;
    assert!(ok, "ffmpeg through the HTTP tunnel failed:\n{log}");
    wait_no_sessions(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_decodes_through_http_tunnel_on_handed_off_sockets() {
    if !have("ffmpeg") {
        return;
    }
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let (http_port, _t) = start_socket_tunnel(s.rtsp.clone()).await;
    let url = format!("rtsp://127.0.0.1:{http_port}/stream1");
    let (ok, log) = ffmpeg_decodes(&url, "http", 20).await;
    assert!(ok, "ffmpeg through the handed-off tunnel failed:\n{log}");
    wait_no_sessions(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_decodes_through_http_tunnel_on_the_rtsp_port() {
    if !have("ffmpeg") {
        return;
    }
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let (ok, log) = ffmpeg_decodes(&s.url("/stream2"), "http", 20).await;
    assert!(
        ok,
        "ffmpeg through the tunnel on the RTSP port failed:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnel_refuses_stream_with_internet_mode_off() {
    if !have("ffmpeg") {
        return;
    }
    let s = start(Arc::new(AllowAll), [true, false], RUN).await;
    let (http_port, _t) = start_http_tunnel(s.rtsp.clone()).await;
    let (ok, log) =
        ffmpeg_decodes(&format!("rtsp://127.0.0.1:{http_port}/stream2"), "http", 5).await;
    assert!(
        !ok && log.contains("403"),
        "stream2 must be refused through the tunnel:\n{log}"
    );
    // Plain RTSP still serves it.
    let (ok, log) = ffmpeg_decodes(&s.url("/stream2"), "tcp", 5).await;
    assert!(ok, "plain RTSP must still serve stream2:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_digest_right_password_plays_wrong_password_gets_401() {
    if !have("ffmpeg") {
        return;
    }
    let s = start(Arc::new(DigestGate), [true, true], RUN).await;
    let good = format!("rtsp://{USER}:{PASSWORD}@127.0.0.1:{}/stream1", s.port);
    for transport in ["tcp", "udp"] {
        let (ok, log) = ffmpeg_decodes(&good, transport, 10).await;
        assert!(ok, "ffmpeg with Digest over {transport} failed:\n{log}");
    }
    let (http_port, _t) = start_http_tunnel(s.rtsp.clone()).await;
    let (ok, log) = ffmpeg_decodes(
        &format!("rtsp://{USER}:{PASSWORD}@127.0.0.1:{http_port}/stream1"),
        "http",
        10,
    )
    .await;
    assert!(ok, "ffmpeg with Digest through the tunnel failed:\n{log}");
    let bad = format!("rtsp://{USER}:wrong@127.0.0.1:{}/stream1", s.port);
    let (ok, log) = ffmpeg_decodes(&bad, "tcp", 5).await;
    assert!(
        !ok && log.contains("401"),
        "wrong password must end in 401:\n{log}"
    );
}

/// Plays until `identity eos-after=20` ends the pipeline. Success is EOS reaching the bus with no
/// error before it: on shutdown rtspsrc sends PAUSE and TEARDOWN from two threads, and the PAUSE
/// sometimes finds the connection it has just closed itself ("Received end-of-file" after EOS),
/// which makes gst-launch exit 1 although the stream played.
async fn gst_plays(location: &str, extra: &[&str]) -> (bool, String) {
    let (ok, out) = gst_launch(location, extra).await;
    let played = out
        .find("Got EOS from element")
        .is_some_and(|eos| !out[..eos].contains("ERROR"));
    (ok || played, out)
}

async fn gst_launch(location: &str, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["rtspsrc"];
    let loc = format!("location={location}");
    args.push(&loc);
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "!",
        "rtph264depay",
        "!",
        "avdec_h264",
        "!",
        "identity",
        "eos-after=20",
        "!",
        "fakesink",
    ]);
    run_tool("gst-launch-1.0", &args, LIMIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstreamer_rtspsrc_plays_over_tcp_and_udp() {
    if !have("gst-launch-1.0") {
        return;
    }
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let (ok, log) = gst_plays(&s.url("/stream1"), &["protocols=tcp"]).await;
    assert!(ok, "gst rtspsrc over TCP failed:\n{log}");
    let (ok, log) = gst_plays(&s.url("/stream1"), &["protocols=udp"]).await;
    assert!(ok, "gst rtspsrc over UDP failed:\n{log}");
    wait_no_sessions(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstreamer_rtspsrc_plays_with_digest_credentials() {
    if !have("gst-launch-1.0") {
        return;
    }
    let s = start(Arc::new(DigestGate), [true, true], RUN).await;
    let (ok, log) = gst_plays(
        &s.url("/stream1"),
        &["protocols=tcp", "user-id=viewer", "user-pw=pw"],
    )
    .await;
    assert!(ok, "gst rtspsrc with Digest failed:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstreamer_rtsph_plays_through_the_http_tunnel() {
    if !have("gst-launch-1.0") {
        return;
    }
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let (http_port, _t) = start_http_tunnel(s.rtsp.clone()).await;
    let (ok, log) = gst_plays(&format!("rtsph://127.0.0.1:{http_port}/stream1"), &[]).await;
    assert!(ok, "gst rtsph:// through hyper failed:\n{log}");
    let (socket_port, _t2) = start_socket_tunnel(s.rtsp.clone()).await;
    let (ok, log) = gst_plays(&format!("rtsph://127.0.0.1:{socket_port}/stream1"), &[]).await;
    assert!(ok, "gst rtsph:// on handed-off sockets failed:\n{log}");
    let (ok, log) = gst_plays(&format!("rtsph://127.0.0.1:{}/stream2", s.port), &[]).await;
    assert!(ok, "gst rtsph:// on the RTSP port failed:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_ffmpeg_viewers_at_once_and_all_sessions_end() {
    if !have("ffmpeg") {
        return;
    }
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let (http_port, _t) = start_http_tunnel(s.rtsp.clone()).await;
    let mut jobs = Vec::new();
    for i in 0..6 {
        let (url, transport) = match i % 3 {
            0 => (s.url("/stream1"), "tcp"),
            1 => (s.url("/stream2"), "udp"),
            _ => (format!("rtsp://127.0.0.1:{http_port}/stream1"), "http"),
        };
        jobs.push(tokio::spawn(async move {
            (transport, ffmpeg_decodes(&url, transport, 50).await)
        }));
    }
    for j in jobs {
        let (transport, (ok, log)) = j.await.unwrap();
        assert!(ok, "viewer over {transport} failed:\n{log}");
    }
    wait_no_sessions(&s).await;
    for _ in 0..50 {
        if s.rtsp.stats().connections == 0 && s.rtsp.stats().tunnels == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.rtsp.stats().connections, 0, "{:?}", s.rtsp.stats());
    assert_eq!(s.rtsp.stats().tunnels, 0, "{:?}", s.rtsp.stats());
}

/// Manual debugging aid: `cargo test -p camward-rtsp --test peers serve_for_manual_tests -- --ignored --nocapture`
/// runs a server with both streams for 60 s and prints its port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn serve_for_manual_tests() {
    let s = start(Arc::new(AllowAll), [true, true], RUN).await;
    let (http_port, _t) = start_http_tunnel(s.rtsp.clone()).await;
    println!("rtsp port {} http port {http_port}", s.port);
    tokio::time::sleep(Duration::from_secs(60)).await;
}
