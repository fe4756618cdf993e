//! Synthetic H.264-shaped access units and recordings for unit tests (no encoder needed).
//! The NAL payloads are fake, but framing, timing and parameter sets are what the recorder sees.

use crate::fmp4::TrackParams;
use crate::fmp4::{Sample, sample_data};
use crate::index::{Index, Trigger};
use crate::transform::Clear;
use crate::writer::RecordingFile;
use bytes::Bytes;
use camward_h264::AccessUnit;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// SPS of `ffmpeg -f lavfi -i testsrc=size=1280x720 -c:v libx264` (from camward-h264's tests).
pub const SPS: [u8; 26] = [
    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
    0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x19, 0x60,
];
pub const PPS: [u8; 6] = [0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];

pub fn params() -> Arc<TrackParams> {
    Arc::new(TrackParams {
        width: 1280,
        height: 720,
        sps: Bytes::from_static(&SPS),
        pps: Bytes::from_static(&PPS),
    })
}

/// 2026-11-22T03:45:00Z
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_319_100)
}

/// Frame `i` of a 25 fps stream whose GOPs are `gop` frames long.
pub fn au(i: u64, gop: u64) -> AccessUnit {
    let key = i.is_multiple_of(gop);
    let mut slice = vec![if key { 0x65 } else { 0x41 }, 0x88];
    slice.extend_from_slice(&i.to_be_bytes());
    slice.extend(std::iter::repeat_n(0x5a, 200 + (i % 7) as usize));
    let nals = if key {
        vec![
            Bytes::from_static(&SPS),
            Bytes::from_static(&PPS),
            Bytes::from(slice),
        ]
    } else {
        vec![Bytes::from(slice)]
    };
    AccessUnit {
        pts90k: i * 3600,
        wallclock: t0() + Duration::from_millis(i * 40),
        key,
        nals,
    }
}

/// Samples of frames `range`, each lasting one frame (3600).
pub fn samples(range: std::ops::Range<u64>, gop: u64) -> Vec<Sample> {
    range
        .map(|i| au(i, gop))
        .map(|a| Sample {
            data: sample_data(&a),
            duration: 3600,
            sync: a.key,
        })
        .collect()
}

/// Writes a finished recording of `gops` GOPs of `gop` frames starting at frame `first`.
pub fn record(index: &Arc<Index>, stream: u8, first: u64, gops: u64, gop: u64) -> RecordingFile {
    let origin = crate::writer::Origin {
        camera: None,
        stream,
    };
    record_from(index, origin, first, gops, gop)
}

/// [`record`] for any origin (an upstream camera's stream).
pub fn record_from(
    index: &Arc<Index>,
    origin: crate::writer::Origin<'_>,
    first: u64,
    gops: u64,
    gop: u64,
) -> RecordingFile {
    let a = au(first, gop);
    let mut f = RecordingFile::create(
        index,
        origin,
        Trigger::Continuous,
        params(),
        a.pts90k,
        a.wallclock,
        Box::new(Clear),
    )
    .expect("create recording");
    for g in 0..gops {
        let s = first + g * gop;
        let b = au(s, gop);
        f.append(samples(s..s + gop, gop), b.pts90k, b.wallclock, false)
            .expect("append");
    }
    f
}
