//! Turning foreign H.264 framings into camward access units: AVC length-prefixed samples
//! (MP4, RTSP pull), Annex-B NAL streams grouped into pictures, and parameter-set placement.

use bytes::Bytes;
use camward_h264::NalType;
use camward_h264::nal::is_first_slice_of_picture;

/// A NAL unit larger than this is treated as corrupt input rather than buffered.
pub const MAX_NAL_BYTES: usize = 16 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AvcError {
    #[error(
        "length-prefixed sample truncated at byte {at}: NAL of {len} bytes announced, {left} left"
    )]
    Truncated { at: usize, len: usize, left: usize },
    #[error("NAL length size {0} is not 1, 2 or 4")]
    LengthSize(usize),
    #[error("NAL unit of {0} bytes exceeds the {MAX_NAL_BYTES}-byte limit")]
    TooLarge(usize),
}

/// Splits an AVC sample (`length_size`-byte big-endian lengths) into zero-copy NAL slices.
pub fn split_length_prefixed(sample: &Bytes, length_size: usize) -> Result<Vec<Bytes>, AvcError> {
    if !matches!(length_size, 1 | 2 | 4) {
        return Err(AvcError::LengthSize(length_size));
    }
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < sample.len() {
        if sample.len() - pos < length_size {
            return Err(AvcError::Truncated {
                at: pos,
                len: length_size,
                left: sample.len() - pos,
            });
        }
        let len = sample[pos..pos + length_size]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        pos += length_size;
        if len > MAX_NAL_BYTES {
            return Err(AvcError::TooLarge(len));
        }
        if len > sample.len() - pos {
            return Err(AvcError::Truncated {
                at: pos,
                len,
                left: sample.len() - pos,
            });
        }
        if len > 0 {
            out.push(sample.slice(pos..pos + len));
        }
        pos += len;
    }
    Ok(out)
}

/// Rewrites a picture's NAL list so a key frame starts with exactly the given SPS and PPS
/// (dropping in-band copies and access unit delimiters), as camward consumers expect.
pub fn with_parameter_sets(nals: Vec<Bytes>, key: bool, sps: &Bytes, pps: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(nals.len() + 2);
    if key {
        out.push(sps.clone());
        out.push(pps.clone());
    }
    out.extend(nals.into_iter().filter(|n| {
        let t = NalType::of(n);
        !(t == NalType::Aud || (key && matches!(t, NalType::Sps | NalType::Pps)))
    }));
    out
}

/// Groups a stream of NAL units (decoding order) into pictures, following H.264 §7.4.1.2.3:
/// an AUD, SPS, PPS or SEI after a slice, or a slice starting a new picture, begins a new access unit.
#[derive(Default)]
pub struct AuAssembler {
    cur: Vec<Bytes>,
    has_slice: bool,
}

impl AuAssembler {
    /// Feeds one NAL; returns the previous access unit when this NAL begins a new one.
    pub fn push(&mut self, nal: Bytes) -> Option<Vec<Bytes>> {
        let t = NalType::of(&nal);
        let starts_new = self.has_slice
            && (matches!(t, NalType::Aud | NalType::Sps | NalType::Pps | NalType::Sei)
                || is_first_slice_of_picture(&nal));
        let done = if starts_new { self.take() } else { None };
        if t.is_slice() {
            self.has_slice = true;
        }
        self.cur.push(nal);
        done
    }

    /// The last access unit at end of stream, if it holds a picture.
    pub fn finish(&mut self) -> Option<Vec<Bytes>> {
        self.take()
    }

    fn take(&mut self) -> Option<Vec<Bytes>> {
        let had = std::mem::take(&mut self.has_slice);
        let au = std::mem::take(&mut self.cur);
        had.then_some(au)
    }
}

/// True when the picture contains an IDR slice.
pub fn is_idr(nals: &[Bytes]) -> bool {
    nals.iter().any(|n| NalType::of(n) == NalType::Idr)
}

/// SPS and PPS found in a picture, if both are present.
pub fn parameter_sets(nals: &[Bytes]) -> Option<(Bytes, Bytes)> {
    let sps = nals.iter().find(|n| NalType::of(n) == NalType::Sps)?;
    let pps = nals.iter().find(|n| NalType::of(n) == NalType::Pps)?;
    Some((sps.clone(), pps.clone()))
}

/// Frame rate from an SPS's VUI timing information, when the encoder wrote it.
pub fn sps_frame_rate(sps: &[u8]) -> Option<f64> {
    let rbsp = camward_h264::annexb::unescape(sps.get(1..)?);
    let mut r = Bits {
        data: &rbsp,
        pos: 0,
    };
    let profile_idc = r.bits(8)?;
    r.bits(16)?;
    r.ue()?;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        let chroma = r.ue()?;
        if chroma == 3 {
            r.bits(1)?;
        }
        r.ue()?;
        r.ue()?;
        r.bits(1)?;
        if r.bits(1)? == 1 {
            for i in 0..if chroma != 3 { 8 } else { 12 } {
                if r.bits(1)? == 1 {
                    let (mut last, mut next) = (8i64, 8i64);
                    for _ in 0..if i < 6 { 16 } else { 64 } {
                        if next != 0 {
                            next = (last + r.se()? + 256) % 256;
                        }
                        last = if next == 0 { last } else { next };
                    }
                }
            }
        }
    }
    r.ue()?;
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bits(1)?;
            r.se()?;
            r.se()?;
            for _ in 0..r.ue()?.min(256) {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?;
    r.bits(1)?;
    r.ue()?;
    r.ue()?;
    if r.bits(1)? == 0 {
        r.bits(1)?;
    }
    r.bits(1)?;
    if r.bits(1)? == 1 {
        for _ in 0..4 {
            r.ue()?;
        }
    }
    if r.bits(1)? == 0 {
        return None; // no VUI
    }
    if r.bits(1)? == 1 && r.bits(8)? == 255 {
        r.bits(32)?; // aspect_ratio_idc == Extended_SAR
    }
    if r.bits(1)? == 1 {
        r.bits(1)?;
    }
    if r.bits(1)? == 1 {
        r.bits(4)?;
        if r.bits(1)? == 1 {
            r.bits(24)?;
        }
    }
    if r.bits(1)? == 1 {
        r.ue()?;
        r.ue()?;
    }
    if r.bits(1)? == 0 {
        return None; // no timing info
    }
    let num_units_in_tick = r.bits(32)?;
    let time_scale = r.bits(32)?;
    if num_units_in_tick == 0 || time_scale == 0 {
        return None;
    }
    // One frame is two field ticks.
    Some(time_scale as f64 / (2.0 * num_units_in_tick as f64))
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bits(&mut self, n: u32) -> Option<u64> {
        let mut v = 0u64;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            v = (v << 1) | ((byte >> (7 - self.pos % 8)) & 1) as u64;
            self.pos += 1;
        }
        Some(v)
    }
    fn ue(&mut self) -> Option<u64> {
        let mut zeros = 0;
        while self.bits(1)? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u64 << zeros) - 1 + self.bits(zeros)?)
    }
    fn se(&mut self) -> Option<i64> {
        let k = self.ue()? as i64;
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefixed_samples_split_into_nals() {
        let s = Bytes::from_static(&[0, 0, 0, 2, 0x65, 1, 0, 0, 0, 3, 0x41, 2, 3]);
        assert_eq!(
            split_length_prefixed(&s, 4).unwrap(),
            vec![
                Bytes::from_static(&[0x65, 1]),
                Bytes::from_static(&[0x41, 2, 3])
            ]
        );
        let s2 = Bytes::from_static(&[0, 2, 0x65, 1]);
        assert_eq!(split_length_prefixed(&s2, 2).unwrap().len(), 1);
        let bad = Bytes::from_static(&[0, 0, 0, 9, 0x65]);
        assert!(matches!(
            split_length_prefixed(&bad, 4),
            Err(AvcError::Truncated { .. })
        ));
        assert_eq!(split_length_prefixed(&s, 3), Err(AvcError::LengthSize(3)));
    }

    #[test]
    fn key_frames_get_exactly_one_sps_pps_pair_first() {
        let sps = Bytes::from_static(&[0x67, 1]);
        let pps = Bytes::from_static(&[0x68, 2]);
        let old_sps = Bytes::from_static(&[0x67, 9]);
        let nals = vec![
            Bytes::from_static(&[0x09, 0x10]),
            old_sps,
            Bytes::from_static(&[0x06, 5]),
            Bytes::from_static(&[0x65, 0x88]),
        ];
        let out = with_parameter_sets(nals, true, &sps, &pps);
        let types: Vec<_> = out.iter().map(|n| NalType::of(n)).collect();
        assert_eq!(
            types,
            vec![NalType::Sps, NalType::Pps, NalType::Sei, NalType::Idr]
        );
        assert_eq!(out[0], sps);
        let p = with_parameter_sets(vec![Bytes::from_static(&[0x41, 0x80])], false, &sps, &pps);
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn assembler_groups_nals_into_pictures() {
        let mut a = AuAssembler::default();
        let nal = |b: &'static [u8]| Bytes::from_static(b);
        let mut aus = Vec::new();
        for n in [
            nal(&[0x67, 1]),
            nal(&[0x68, 1]),
            nal(&[0x65, 0x80]), // IDR, first slice
            nal(&[0x65, 0x40]), // IDR, second slice of the same picture
            nal(&[0x41, 0x80]), // P, new picture
            nal(&[0x06, 0x01]), // SEI: starts the next picture
            nal(&[0x41, 0x80]),
        ] {
            aus.extend(a.push(n));
        }
        aus.extend(a.finish());
        let sizes: Vec<_> = aus.iter().map(|a| a.len()).collect();
        assert_eq!(sizes, vec![4, 1, 2]);
        assert!(is_idr(&aus[0]) && !is_idr(&aus[1]));
        assert!(parameter_sets(&aus[0]).is_some() && parameter_sets(&aus[1]).is_none());
    }

    #[test]
    fn frame_rate_comes_from_vui_timing() {
        // x264 SPS for 320x240 @ 25 fps (VUI timing 1/50).
        let sps = [
            0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03,
            0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60,
        ];
        assert_eq!(
            camward_h264::sps::parse(&sps).map(|s| (s.width, s.height)),
            Some((320, 240))
        );
        assert_eq!(sps_frame_rate(&sps), Some(25.0));
    }
}
