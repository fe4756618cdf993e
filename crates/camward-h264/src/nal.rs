//! NAL unit header fields (H.264 §7.3.1) and the types camward cares about.
//! Consumers decide key frames, parameter sets and signable slices from here.

/// The NAL unit types camward treats specially; everything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NalType {
    /// Non-IDR coded slice (P/B frames).
    Slice,
    /// IDR coded slice: a random-access point.
    Idr,
    Sei,
    Sps,
    Pps,
    Aud,
    Other(u8),
}

impl NalType {
    pub fn of(nal: &[u8]) -> NalType {
        match nal.first().map(|b| b & 0x1f) {
            Some(1) => NalType::Slice,
            Some(5) => NalType::Idr,
            Some(6) => NalType::Sei,
            Some(7) => NalType::Sps,
            Some(8) => NalType::Pps,
            Some(9) => NalType::Aud,
            Some(t) => NalType::Other(t),
            None => NalType::Other(0),
        }
    }

    pub fn is_slice(self) -> bool {
        matches!(self, NalType::Slice | NalType::Idr)
    }
}

/// `nal_ref_idc` (0 = disposable).
pub fn ref_idc(nal: &[u8]) -> u8 {
    nal.first().map(|b| (b >> 5) & 3).unwrap_or(0)
}

/// True when this slice NAL starts a new picture (`first_mb_in_slice == 0`), i.e. its
/// slice header's first exp-Golomb code is `1` — the first payload bit is set.
pub fn is_first_slice_of_picture(nal: &[u8]) -> bool {
    NalType::of(nal).is_slice() && nal.get(1).is_some_and(|b| b & 0x80 != 0)
}
