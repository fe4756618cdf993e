//! Measures testsrc render + openh264 encode speed and JPEG snapshot cost on this machine.
//! Run: `cargo run -p camward-media --example encode_bench [WIDTHxHEIGHT] [frames]`.

use camward_media::encoder::{EncoderParams, H264Encoder};
use camward_media::jpeg;
use camward_media::testsrc::TestScene;
use std::time::{Instant, SystemTime};

fn main() {
    let mut args = std::env::args().skip(1);
    let size = args.next().unwrap_or_else(|| "1280x720".into());
    let frames: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(150);
    let (w, h) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .expect("WIDTHxHEIGHT");
    let scene = TestScene::new(w, h, 15);
    let mut enc = H264Encoder::new(EncoderParams {
        width: w,
        height: h,
        fps: 15,
        bitrate_kbps: 2048,
        gop: 30,
    })
    .unwrap();
    // NOISE=1 adds per-frame noise: a worst case closer to a real sensor than the flat scene.
    let noise = std::env::var_os("NOISE").is_some();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let pics: Vec<_> = (0..30)
        .map(|n| {
            let mut p = scene.render(n, SystemTime::now());
            if noise {
                for px in p.data.iter_mut() {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    *px = px.saturating_add((seed % 24) as u8);
                }
            }
            p
        })
        .collect();

    let t = Instant::now();
    for n in 0..frames {
        std::hint::black_box(scene.render(n, SystemTime::now()));
    }
    let render = t.elapsed().as_secs_f64() / frames as f64;

    let (mut bytes, mut skipped) = (0usize, 0u64);
    let t = Instant::now();
    for n in 0..frames {
        match enc.encode(&pics[n as usize % pics.len()], n * 66).unwrap() {
            Some(au) => bytes += au.nals.iter().map(|n| n.len()).sum::<usize>(),
            None => skipped += 1,
        }
    }
    let encode = t.elapsed().as_secs_f64() / frames as f64;

    let t = Instant::now();
    let jpg = jpeg::encode(&pics[0], 60).unwrap();
    let jpeg_full = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let small = pics[0].scaled(640, 360);
    let jpg2 = jpeg::encode(&small, 60).unwrap();
    let jpeg_small = t.elapsed().as_secs_f64();

    println!(
        "{w}x{h}: render {:.1} ms/frame, encode {:.1} ms/frame = {:.0} fps on one thread",
        render * 1e3,
        encode * 1e3,
        1.0 / encode
    );
    println!(
        "  {:.0} kbit/s at 15 fps, {skipped} of {frames} frames skipped by rate control",
        bytes as f64 * 8.0 / frames as f64 * 15.0 / 1000.0
    );
    println!(
        "  JPEG {w}x{h}: {:.1} ms ({} KiB); scale to 640x360 + JPEG: {:.1} ms ({} KiB)",
        jpeg_full * 1e3,
        jpg.len() / 1024,
        jpeg_small * 1e3,
        jpg2.len() / 1024
    );
}
