//! The `rtsp://` source against a real RTSP server (GStreamer's, with Digest auth): frames are
//! relayed without re-encoding, decode in ffprobe, and the source reconnects by itself.

use camward_config::{JpegConfig, JpegSize, StreamConfig, StreamsConfig};
use camward_media::{AccessUnit, MediaHub};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::time::timeout;

/// The upstream camera of the integration tests (tests/integration/gst_rtsp_camera.py: GStreamer's
/// RTSP server behind Digest, user `cam`, password `pw`), stopped when dropped.
struct Camera {
    child: Child,
    port: u16,
}

impl Camera {
    /// `None` (with the reason printed) when python3-gi or the GStreamer RTSP server is missing.
    fn start(port: u16) -> Option<Camera> {
        let python = if Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3"
        } else {
            "python3"
        };
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/integration/gst_rtsp_camera.py"
        );
        let mut child = Command::new(python)
            .arg(script)
            .args(["--port", &port.to_string(), "--fps", "15", "--gop", "15"])
            .args(["--user", "cam", "--password", "pw", "--exit-with-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take()?)
            .read_line(&mut line)
            .ok()?;
        // `{"ready": true, "port": N, "wall_ms": T}`
        let port = line
            .contains("\"ready\": true")
            .then(|| line.split("\"port\": ").nth(1))
            .flatten()
            .and_then(|rest| rest.split([',', '}']).next())
            .and_then(|p| p.trim().parse().ok());
        match port {
            Some(port) => Some(Camera { child, port }),
            None => {
                let _ = child.kill();
                let err = child
                    .wait_with_output()
                    .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                    .unwrap_or_default();
                println!(
                    "SKIPPED: GStreamer RTSP server unavailable (apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-bad): {}",
                    err.lines().last().unwrap_or("")
                );
                None
            }
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn one_stream() -> StreamsConfig {
    StreamsConfig {
        stream1: StreamConfig::default_stream1(),
        stream2: StreamConfig {
            enabled: false,
            ..StreamConfig::default_stream2()
        },
    }
}

async fn collect(sub: &mut camward_media::Subscriber, n: usize) -> Vec<Arc<AccessUnit>> {
    let mut out = Vec::new();
    while out.len() < n {
        out.push(
            timeout(Duration::from_secs(20), sub.recv())
                .await
                .expect("frames arrive")
                .expect("bus alive"),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtsp_source_relays_a_digest_protected_camera_and_reconnects() {
    let Some(cam) = Camera::start(0) else { return };
    let port = cam.port;
    let hub = MediaHub::new(
        format!("rtsp://cam:pw@127.0.0.1:{port}/cam")
            .parse()
            .unwrap(),
        one_stream(),
        JpegConfig::default(),
    );
    hub.start().unwrap();
    let bus = hub.stream(1).unwrap();
    let mut sub = bus.subscribe();
    let aus = collect(&mut sub, 30).await;
    assert!(aus[0].key, "relay starts at a key frame");
    let info = bus.info().expect("described from the camera's SPS");
    assert_eq!(
        (info.width, info.height),
        (320, 240),
        "camera's size, not the stream settings"
    );

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pulled.h264");
    std::fs::write(
        &p,
        aus.iter().flat_map(|a| a.to_annexb()).collect::<Vec<u8>>(),
    )
    .unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=width,height,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&p)
        .output();
    match out {
        Ok(o) => assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "320,240,30"),
        Err(_) => println!("ffprobe missing: decode check skipped"),
    }
    let jpg = hub
        .snapshot_jpeg(1, JpegSize::Three)
        .await
        .expect("pulled stream decodes for snapshots");
    let img = image::load_from_memory_with_format(&jpg, image::ImageFormat::Jpeg).unwrap();
    assert_eq!((img.width(), img.height()), (320, 180));

    // The camera goes away and comes back on the same port: the source reconnects by itself,
    // on the same bus, and time keeps going forward.
    let last_pts = aus.last().unwrap().pts90k;
    drop(cam);
    let deadline = Instant::now() + Duration::from_secs(20);
    while hub.status(1).unwrap().last_error.is_none() {
        assert!(Instant::now() < deadline, "the loss is reported");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _cam = Camera::start(port).expect("restart on the same port");
    let mut sub2 = bus.subscribe();
    let again = collect(&mut sub2, 5).await;
    assert!(
        again[0].key && again[0].pts90k > last_pts,
        "resumed at a key frame, later in time"
    );
    assert!(hub.status(1).unwrap().starts >= 2);
    hub.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtsp_source_with_wrong_password_reports_unauthorized() {
    let Some(cam) = Camera::start(0) else { return };
    let hub = MediaHub::new(
        format!("rtsp://cam:wrong@127.0.0.1:{}/cam", cam.port)
            .parse()
            .unwrap(),
        one_stream(),
        JpegConfig::default(),
    );
    hub.start().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let err = loop {
        if let Some(e) = hub.status(1).unwrap().last_error {
            break e;
        }
        assert!(Instant::now() < deadline, "no error reported");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(err.contains("401") && !err.contains("wrong"), "{err}");
    hub.stop();
}
