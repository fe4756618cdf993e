//! The unit of video that travels on the frame bus: one picture's NAL units plus timing.
//! NAL payloads are `Bytes`, so fanning a frame out to many consumers copies no video data.

use bytes::Bytes;
use std::time::SystemTime;

/// One coded picture (access unit) of one stream.
#[derive(Debug, Clone)]
pub struct AccessUnit {
    /// Presentation time on a 90 kHz clock, starting near 0 for each source run.
    pub pts90k: u64,
    /// Wall-clock capture time, for recordings, signatures and overlays.
    pub wallclock: SystemTime,
    /// An IDR picture: decoding can start here. SPS/PPS precede the slice in `nals`.
    pub key: bool,
    /// NAL units without start codes, in decoding order (SPS, PPS, SEI, slices...).
    pub nals: Vec<Bytes>,
}

impl AccessUnit {
    /// Total payload bytes (without start codes).
    pub fn len(&self) -> usize {
        self.nals.iter().map(|n| n.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.nals.is_empty()
    }

    /// Whether this unit holds a coded picture (a slice). On a camward frame bus, a unit
    /// without one is the end marker of a pipeline run, carrying the media stage's
    /// end-of-stream output (the signature of the last GOP) or nothing; consumers attach its
    /// NAL units to the picture before or after it instead of presenting it as a frame.
    pub fn has_picture(&self) -> bool {
        self.nals.iter().any(|n| crate::NalType::of(n).is_slice())
    }

    /// Annex-B rendering with 4-byte start codes (for files and tools).
    pub fn to_annexb(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() + 4 * self.nals.len());
        crate::annexb::join(self.nals.iter().map(|n| &n[..]), &mut out);
        out
    }
}

/// What a consumer needs to describe a stream before the first frame (SDP, MP4 init segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub width: u32,
    pub height: u32,
    /// Nominal frame rate (frames per second).
    pub fps: u32,
    /// Latest SPS and PPS NAL units (header byte included, no start code).
    pub sps: Bytes,
    pub pps: Bytes,
}

impl StreamInfo {
    /// `profile-level-id` for SDP: the three bytes after the SPS header, hex.
    pub fn profile_level_id(&self) -> String {
        self.sps
            .get(1..4)
            .map(|b| format!("{:02X}{:02X}{:02X}", b[0], b[1], b[2]))
            .unwrap_or_else(|| "42E01F".into())
    }
}
