//! Writes a few seconds of the testsrc stream (Annex-B) and a JPEG(1) snapshot, to look at
//! the scene with any player: `cargo run -p camward-media --example testsrc_dump -- OUT.h264 OUT.jpg`.

use camward_config::{JpegConfig, JpegSize, Source, StreamsConfig};
use camward_media::MediaHub;
use std::time::Duration;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let h264 = args.next().unwrap_or_else(|| "testsrc.h264".into());
    let jpg = args.next().unwrap_or_else(|| "testsrc.jpg".into());
    let hub = MediaHub::new(
        Source::TestSrc,
        StreamsConfig::default(),
        JpegConfig::default(),
    );
    hub.start().expect("inside a runtime");
    let mut sub = hub.stream(1).expect("stream 1").subscribe();
    let mut out = Vec::new();
    for _ in 0..45 {
        let au = tokio::time::timeout(Duration::from_secs(10), sub.recv())
            .await
            .expect("frames")
            .expect("bus");
        out.extend_from_slice(&au.to_annexb());
    }
    std::fs::write(&h264, out).expect("write stream");
    let snap = hub.snapshot_jpeg(1, JpegSize::One).await.expect("snapshot");
    std::fs::write(&jpg, snap).expect("write JPEG");
    println!("wrote {h264} and {jpg}");
    hub.stop();
}
