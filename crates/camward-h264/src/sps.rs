//! Minimal sequence parameter set parsing: profile/level and the coded picture size.
//! Enough for SDP (`profile-level-id`) and for reporting stream resolution.

use crate::annexb::unescape;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    pub profile_idc: u8,
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub width: u32,
    pub height: u32,
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let b = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Some(b as u32)
    }
    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Some(v)
    }
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }
    fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        Some(if k % 2 == 1 {
            k.div_ceil(2) as i32
        } else {
            -((k / 2) as i32)
        })
    }
}

/// Largest picture side in macroblocks that any H.264 level allows.
const MAX_SIDE_MBS: u32 = 1056;

/// Parses an SPS NAL unit (header byte included). Returns `None` on a truncated or odd SPS.
pub fn parse(nal: &[u8]) -> Option<SpsInfo> {
    if nal.len() < 4 || nal[0] & 0x1f != 7 {
        return None;
    }
    let rbsp = unescape(&nal[1..]);
    let mut r = Bits {
        data: &rbsp,
        pos: 0,
    };
    let profile_idc = r.bits(8)? as u8;
    let constraint_flags = r.bits(8)? as u8;
    let level_idc = r.bits(8)? as u8;
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            r.bit()?;
        }
        r.ue()?;
        r.ue()?;
        r.bit()?;
        if r.bit()? == 1 {
            let lists = if chroma_format_idc != 3 { 8 } else { 12 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            // delta_scale is coded as any 32-bit value; only its value mod 256 counts.
                            next = (i64::from(last) + i64::from(r.se()?)).rem_euclid(256) as i32;
                        }
                        last = if next == 0 { last } else { next };
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    let poc_type = r.ue()?;
    if poc_type == 0 {
        r.ue()?;
    } else if poc_type == 1 {
        r.bit()?;
        r.se()?;
        r.se()?;
        let n = r.ue()?;
        for _ in 0..n.min(256) {
            r.se()?;
        }
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?;
    let w_mbs = r.ue()? + 1;
    let h_map = r.ue()? + 1;
    // Level 6.2 allows at most sqrt(8 × 139264) ≈ 1055 macroblocks on a side (Annex A.3.1): a
    // larger size is no real stream, and refusing it keeps the arithmetic below from overflowing.
    if w_mbs > MAX_SIDE_MBS || h_map > MAX_SIDE_MBS {
        return None;
    }
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.bit()?;
    }
    r.bit()?; // direct_8x8_inference
    let (mut cl, mut cr, mut ct, mut cb) = (0, 0, 0, 0);
    if r.bit()? == 1 {
        cl = r.ue()?;
        cr = r.ue()?;
        ct = r.ue()?;
        cb = r.ue()?;
    }
    let (sub_w, sub_h) = match chroma_format_idc {
        0 | 3 => (1, 1),
        2 => (2, 1),
        _ => (2, 2),
    };
    let crop_x = sub_w;
    let crop_y = sub_h * (2 - frame_mbs_only);
    // Crop offsets are attacker-sized (up to 2^32 - 2 each): checked, a crop beyond the picture is refused.
    let crop = |a: u32, b: u32, unit: u32| a.checked_add(b)?.checked_mul(unit);
    let width = (w_mbs * 16).checked_sub(crop(cl, cr, crop_x)?)?;
    let height = (h_map * 16 * (2 - frame_mbs_only)).checked_sub(crop(ct, cb, crop_y)?)?;
    Some(SpsInfo {
        profile_idc,
        constraint_flags,
        level_idc,
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_1280x720_high_profile_sps_from_x264() {
        // SPS of `ffmpeg -f lavfi -i testsrc=size=1280x720 -c:v libx264`.
        let sps = [
            0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00,
            0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x19, 0x60,
        ];
        let info = parse(&sps).expect("parses");
        assert_eq!((info.width, info.height), (1280, 720));
        assert_eq!((info.profile_idc, info.level_idc), (100, 31));
    }

    #[test]
    fn absurd_picture_sizes_and_crops_are_refused_without_overflow() {
        // Found by the `annexb` fuzz target: a width of 2^32 - 1 macroblocks overflowed `* 16`.
        let sps = [
            0x67, 0x00, 0x00, 0x03, 0xef, 0x00, 0x00, 0x10, 0x20, 0x00, 0x00, 0x03, 0x00, 0x10,
            0x00, 0x20, 0xf1, 0x42, 0xaa,
        ];
        assert_eq!(parse(&sps), None);
        // A 1280x720 baseline SPS whose crop offsets (2^31 each) overflowed their sum.
        let mut w = BitWriter::default();
        w.bits(66, 8); // profile_idc: baseline
        w.bits(0, 8);
        w.bits(31, 8);
        for v in [0, 0, 2, 1] {
            w.ue(v); // sps id, log2_max_frame_num, poc type 2, max_num_ref_frames
        }
        w.bits(0, 1); // gaps_in_frame_num_allowed
        w.ue(79); // 80 macroblocks wide
        w.ue(44); // 45 high
        w.bits(0b111, 3); // frame_mbs_only, direct_8x8, frame_cropping
        let mut sps = w.finish(&[1 << 31, 1 << 31, 0, 0]);
        assert_eq!(parse(&sps), None);
        // The same SPS without the absurd crop gives its size back.
        sps = {
            let mut w = BitWriter::default();
            w.bits(66, 8);
            w.bits(0, 8);
            w.bits(31, 8);
            for v in [0, 0, 2, 1] {
                w.ue(v);
            }
            w.bits(0, 1);
            w.ue(79);
            w.ue(44);
            w.bits(0b111, 3);
            w.finish(&[0, 0, 0, 0])
        };
        assert_eq!(parse(&sps).map(|i| (i.width, i.height)), Some((1280, 720)));
    }

    #[test]
    fn scaling_list_deltas_of_any_size_do_not_overflow() {
        let mut w = BitWriter::default();
        w.bits(100, 8); // high profile: chroma format and scaling lists follow
        w.bits(0, 8);
        w.bits(31, 8);
        w.ue(0); // sps id
        w.ue(1); // chroma_format_idc
        w.ue(0);
        w.ue(0);
        w.bits(0, 1);
        w.bits(1, 1); // seq_scaling_matrix_present
        w.bits(1, 1); // list 0 present
        w.ue((1u64 << 32) - 3); // delta_scale = +(2^31 - 1)
        let mut nal = w.bytes;
        nal.extend_from_slice(&[0xff; 16]);
        let _ = parse(&nal);
    }

    /// Writes SPS fields MSB first, as an encoder does.
    #[derive(Default)]
    struct BitWriter {
        bytes: Vec<u8>,
        bit: u32,
    }

    impl BitWriter {
        fn bits(&mut self, v: u64, n: u32) {
            if self.bytes.is_empty() {
                self.bytes.push(0x67);
            }
            for i in (0..n).rev() {
                if self.bit.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                let last = self.bytes.last_mut().unwrap();
                *last |= (((v >> i) & 1) as u8) << (7 - self.bit % 8);
                self.bit += 1;
            }
        }
        fn ue(&mut self, v: u64) {
            let n = 64 - (v + 1).leading_zeros();
            self.bits(0, n - 1);
            self.bits(v + 1, n);
        }
        fn finish(mut self, crops: &[u64; 4]) -> Vec<u8> {
            for c in crops {
                self.ue(*c);
            }
            self.bits(0, 1); // vui_parameters_present
            self.bits(1, 1); // rbsp stop bit
            self.bytes
        }
    }
}
