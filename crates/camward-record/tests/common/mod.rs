//! Shared helpers of the real-peer tests: the checked-in x264 clip, its access units on a frame
//! bus, and ffprobe/ffmpeg as the independent judges of what the recorder wrote.

#![allow(dead_code)]

use bytes::Bytes;
use camward_config::RecordingConfig;
use camward_h264::{AccessUnit, NalType, StreamInfo, annexb, nal};
use camward_media::FrameBus;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const FPS: u64 = 25;
pub const FRAME_90K: u64 = 90_000 / FPS;

/// 2026-11-22T03:45:00Z
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_319_100)
}

/// ffmpeg and ffprobe, the judges of what the recorder wrote: a test without them skips with a
/// message naming them (fails under `CI=true`).
pub fn judges() -> bool {
    camward_testkit::have_all(&["ffmpeg", "ffprobe"])
}

/// The first 6 s of the checked-in 25 fps, GOP 25 x264 clip (testdata/README.md).
pub fn clip() -> &'static [u8] {
    camward_testkit::clip(6)
}

/// Splits an Annex-B stream into access units (a new one at AUD/SPS/PPS/SEI after a slice,
/// or at a slice with first_mb_in_slice = 0), timed at 25 fps from `first` frames after t0.
pub fn access_units(stream: &[u8], first: u64) -> Vec<AccessUnit> {
    let mut out: Vec<AccessUnit> = Vec::new();
    let mut cur: Vec<Bytes> = Vec::new();
    let mut has_slice = false;
    let flush = |cur: &mut Vec<Bytes>, out: &mut Vec<AccessUnit>| {
        if cur.is_empty() {
            return;
        }
        let i = first + out.len() as u64;
        let key = cur.iter().any(|n| NalType::of(n) == NalType::Idr);
        out.push(AccessUnit {
            pts90k: i * FRAME_90K,
            wallclock: t0() + Duration::from_millis(i * 1000 / FPS),
            key,
            nals: std::mem::take(cur),
        });
    };
    for n in annexb::split(stream) {
        let t = NalType::of(n);
        let starts = match t {
            NalType::Aud | NalType::Sps | NalType::Pps | NalType::Sei => has_slice,
            _ if t.is_slice() => has_slice && nal::is_first_slice_of_picture(n),
            _ => false,
        };
        if starts {
            flush(&mut cur, &mut out);
            has_slice = false;
        }
        has_slice |= t.is_slice();
        cur.push(Bytes::copy_from_slice(n));
    }
    flush(&mut cur, &mut out);
    out
}

/// The clip played `loops` times back to back, timestamps continuing.
pub fn looped(loops: u64) -> Vec<AccessUnit> {
    let per = access_units(clip(), 0).len() as u64;
    (0..loops)
        .flat_map(|l| access_units(clip(), l * per))
        .collect()
}

/// A bus large enough that publishing a whole test feed at once loses nothing.
pub fn bus_for(aus: &[AccessUnit]) -> Arc<FrameBus> {
    let bus = Arc::new(FrameBus::new(aus.len() + 16));
    let sps = aus[0]
        .nals
        .iter()
        .find(|n| NalType::of(n) == NalType::Sps)
        .unwrap()
        .clone();
    let pps = aus[0]
        .nals
        .iter()
        .find(|n| NalType::of(n) == NalType::Pps)
        .unwrap()
        .clone();
    bus.set_info(Some(StreamInfo {
        width: 320,
        height: 240,
        fps: FPS as u32,
        sps,
        pps,
    }));
    bus
}

pub fn config() -> RecordingConfig {
    RecordingConfig {
        enabled: true,
        min_free_bytes: 0,
        ..Default::default()
    }
}

/// Frames ffprobe decodes in a file (`-count_frames`), the brief's check.
pub fn ffprobe_frames(path: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
        ])
        .args(["-of", "default=nokey=1:noprint_wrappers=1"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "ffprobe complained about {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("frame count of {}", path.display()))
}

/// `ffmpeg -i f.mp4 -c copy -f h264 -`: the Annex-B stream back out of a recording.
pub fn ffmpeg_annexb(path: &Path) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-c", "copy", "-f", "h264", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// NAL units of an Annex-B stream, for comparing streams regardless of start-code lengths.
pub fn nals(annexb_stream: &[u8]) -> Vec<Vec<u8>> {
    annexb::split(annexb_stream).map(<[u8]>::to_vec).collect()
}

pub fn au_nals(aus: &[AccessUnit]) -> Vec<Vec<u8>> {
    aus.iter()
        .flat_map(|a| a.nals.iter().map(|n| n.to_vec()))
        .collect()
}

/// Copies a directory tree (recordings + index) to try destructive things on the copy.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst: PathBuf = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}
