//! camward-media against real tools: ffprobe decodes what the pipelines publish and the JPEGs
//! they serve; the file source loops the checked-in Annex-B clip and an MP4 that ffmpeg makes.

use bytes::Bytes;
use camward_config::{JpegConfig, JpegSize, JpegSizeConfig, Source, StreamConfig, StreamsConfig};
use camward_media::{AccessUnit, MediaError, MediaHub};
use futures::StreamExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::timeout;

fn have_ffmpeg() -> bool {
    camward_testkit::have_all(&["ffmpeg", "ffprobe"])
}

fn one_stream(w: u32, h: u32, fps: u32, gop: u32) -> StreamsConfig {
    StreamsConfig {
        stream1: StreamConfig {
            enabled: true,
            width: w,
            height: h,
            fps,
            bitrate_kbps: 1024,
            gop,
            internet_mode: false,
        },
        stream2: StreamConfig {
            enabled: false,
            ..StreamConfig::default_stream2()
        },
    }
}

/// Collects `n` access units from stream 1, starting at a key frame.
async fn collect(hub: &MediaHub, n: usize) -> Vec<Arc<AccessUnit>> {
    let mut sub = hub.stream(1).unwrap().subscribe();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let au = timeout(Duration::from_secs(20), sub.recv())
            .await
            .expect("stream keeps producing")
            .expect("bus alive");
        out.push(au);
    }
    out
}

fn write_annexb(path: &Path, aus: &[Arc<AccessUnit>]) {
    let mut buf = Vec::new();
    for au in aus {
        buf.extend_from_slice(&au.to_annexb());
    }
    std::fs::write(path, buf).unwrap();
}

/// (width, height, decoded frames) as ffprobe sees them.
fn ffprobe_video(path: &Path) -> (u32, u32, u64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=width,height,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.trim().split(',').collect();
    assert_eq!(f.len(), 3, "unexpected ffprobe output {text:?}");
    (
        f[0].parse().unwrap(),
        f[1].parse().unwrap(),
        f[2].parse().unwrap(),
    )
}

fn ffprobe_jpeg(jpg: &[u8]) -> (u32, u32) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("snap.jpg");
    std::fs::write(&p, jpg).unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe rejected the JPEG: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.trim().split(',').collect();
    assert_eq!(f[0], "mjpeg", "{text}");
    (f[1].parse().unwrap(), f[2].parse().unwrap())
}

fn ffmpeg_testsrc(path: &Path, extra_out: &[&str]) {
    let st = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-t",
            "2",
        ])
        .args(["-c:v", "libx264", "-g", "25"])
        .args(extra_out)
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "ffmpeg could not make {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testsrc_stream_decodes_in_ffprobe_at_configured_size() {
    if !have_ffmpeg() {
        return;
    }
    let hub = MediaHub::new(
        Source::TestSrc,
        one_stream(640, 360, 30, 30),
        JpegConfig::default(),
    );
    hub.start().unwrap();
    let aus = collect(&hub, 60).await;
    hub.stop();
    assert!(
        aus[0].key && aus[30].key && !aus[1].key,
        "IDR every 30 frames"
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("testsrc.h264");
    write_annexb(&p, &aus);
    assert_eq!(ffprobe_video(&p), (640, 360, 60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_and_mjpeg_decode_in_ffprobe_at_jpeg_sizes() {
    if !have_ffmpeg() {
        return;
    }
    let jpeg = JpegConfig {
        jpeg1: JpegSizeConfig {
            width: 1920,
            height: 1080,
            quality: 5,
        },
        jpeg2: JpegSizeConfig {
            width: 640,
            height: 360,
            quality: 0,
        },
        jpeg3: JpegSizeConfig {
            width: 320,
            height: 180,
            quality: 9,
        },
        refresh_fps: 5,
    };
    let hub = MediaHub::new(Source::TestSrc, one_stream(1280, 720, 15, 30), jpeg);
    hub.start().unwrap();
    timeout(
        Duration::from_secs(10),
        hub.stream(1)
            .unwrap()
            .watch_info()
            .wait_for(|i| i.is_some()),
    )
    .await
    .unwrap()
    .unwrap();
    for (size, want) in [
        (JpegSize::One, (1920, 1080)),
        (JpegSize::Two, (640, 360)),
        (JpegSize::Three, (320, 180)),
    ] {
        let jpg = hub.snapshot_jpeg(1, size).await.unwrap();
        assert_eq!(ffprobe_jpeg(&jpg), want, "{size:?}");
    }
    // Stream 2 is off: an error the web layer answers with 503, not a stale picture.
    assert!(matches!(
        hub.snapshot_jpeg(2, JpegSize::Two).await,
        Err(MediaError::StreamOff(2))
    ));

    // MJPEG: each part is a whole JPEG of JPEG(3)'s size (camward-web frames them as multipart).
    let mut parts = Box::pin(hub.mjpeg(1, JpegSize::Three, 5));
    for _ in 0..3 {
        let jpg = timeout(Duration::from_secs(10), parts.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ffprobe_jpeg(&jpg), (320, 180));
    }
    hub.stop();
}

/// Runs the file source on `path` and checks what it publishes against ffprobe.
async fn check_file_source(path: &Path, size: (u32, u32)) -> Vec<Arc<AccessUnit>> {
    let source: Source = format!("file:{}", path.display()).parse().unwrap();
    let hub = MediaHub::new(source, one_stream(640, 360, 10, 30), JpegConfig::default());
    hub.start().unwrap();
    // 2 s at 25 fps = 50 frames per pass: 75 frames cross the loop point.
    let aus = collect(&hub, 75).await;
    let info = hub.stream(1).unwrap().info().expect("described");
    assert_eq!(
        (info.width, info.height, info.fps),
        (size.0, size.1, 25),
        "file's own size and rate, not the stream settings"
    );
    hub.stop();
    let keys: Vec<usize> = aus
        .iter()
        .enumerate()
        .filter(|(_, a)| a.key)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        keys,
        vec![0, 25, 50],
        "IDR every 25 frames, loop restarts at an IDR"
    );
    let mut pts: Vec<u64> = aus.iter().map(|a| a.pts90k).collect();
    pts.sort_unstable();
    pts.dedup();
    assert_eq!(pts.len(), 75, "no time repeats across the loop");
    assert!(aus[50].pts90k > aus[49].pts90k && aus[74].pts90k > aus[0].pts90k + 70 * 3600 - 1);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("relayed.h264");
    write_annexb(&out, &aus);
    assert_eq!(
        ffprobe_video(&out),
        (size.0, size.1, 75),
        "every relayed frame decodes"
    );
    aus
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_source_relays_ffmpeg_annexb_without_reencoding() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x264.h264");
    // x264's 4:4:4 High profile (the checked-in clip's first 2 s): relayed untouched, never decoded.
    std::fs::write(&p, camward_testkit::clip(2)).unwrap();
    let aus = check_file_source(&p, (320, 240)).await;
    // Without re-encoding, the slices are byte-identical to the file's.
    let file = std::fs::read(&p).unwrap();
    let slice = aus[1].nals.iter().find(|n| n[0] & 0x1f == 1).unwrap();
    assert!(
        file.windows(slice.len()).any(|w| w == &slice[..]),
        "slice bytes come from the file"
    );

    // openh264 cannot decode 4:4:4: a snapshot is a clear error, never a panic or a bad JPEG.
    let source: Source = format!("file:{}", p.display()).parse().unwrap();
    let hub = MediaHub::new(source, one_stream(640, 360, 10, 30), JpegConfig::default());
    hub.start().unwrap();
    timeout(
        Duration::from_secs(10),
        hub.stream(1)
            .unwrap()
            .watch_info()
            .wait_for(|i| i.is_some()),
    )
    .await
    .unwrap()
    .unwrap();
    let err = hub.snapshot_jpeg(1, JpegSize::Three).await.unwrap_err();
    println!("4:4:4 snapshot answer: {err}");
    // Every error but a bad stream number is answered 5xx by the web layer.
    assert!(!matches!(err, MediaError::NoSuchStream(_)), "{err}");
    hub.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_source_relays_ffmpeg_mp4_and_snapshots_it() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x264.mp4");
    // 4:2:0 so that openh264 can decode it for snapshots.
    ffmpeg_testsrc(&p, &["-pix_fmt", "yuv420p", "-f", "mp4"]);
    check_file_source(&p, (320, 240)).await;

    let source: Source = format!("file:{}", p.display()).parse().unwrap();
    let hub = MediaHub::new(source, one_stream(640, 360, 10, 30), JpegConfig::default());
    hub.start().unwrap();
    timeout(
        Duration::from_secs(10),
        hub.stream(1)
            .unwrap()
            .watch_info()
            .wait_for(|i| i.is_some()),
    )
    .await
    .unwrap()
    .unwrap();
    let mut jpg = Bytes::new();
    for _ in 0..50 {
        match hub.snapshot_jpeg(1, JpegSize::Three).await {
            Ok(j) => {
                jpg = j;
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(
        !jpg.is_empty(),
        "pass-through stream decodes for a snapshot"
    );
    assert_eq!(ffprobe_jpeg(&jpg), (320, 180));
    hub.stop();
}
