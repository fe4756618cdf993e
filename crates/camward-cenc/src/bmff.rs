//! A small, bounds-checked ISO BMFF (MP4) box walker and the few box parsers CENC needs
//! (tkhd, trex, stsd entries, sinf/schm/tenc, pssh, tfhd, trun, senc). Fuzzed: input is any file.

use crate::boxes::{CAMWARD_SYSTEM_ID, SCHEME_CENC};
use crate::error::{Error, Result};
use crate::key::Kid;
use crate::sample::{SampleAux, Subsample};

/// Box types whose body is a list of boxes and that the CENC rewrite walks into.
const VISUAL_ENTRY_FIELDS: usize = 78;
const AUDIO_ENTRY_FIELDS: usize = 28;

/// One box inside a byte slice. `offset` is absolute in the file (for messages and layout).
#[derive(Debug, Clone, Copy)]
pub struct Bx<'a> {
    pub typ: [u8; 4],
    /// Absolute file offset of the box's first byte.
    pub offset: u64,
    /// 8, or 16 with a 64-bit largesize.
    pub header_len: usize,
    /// The whole box, header included.
    pub raw: &'a [u8],
}

impl<'a> Bx<'a> {
    pub fn body(&self) -> &'a [u8] {
        &self.raw[self.header_len..]
    }
    /// Absolute offset of the body.
    pub fn body_offset(&self) -> u64 {
        self.offset + self.header_len as u64
    }
    pub fn name(&self) -> String {
        fourcc(&self.typ)
    }
}

/// Printable box type for messages.
pub fn fourcc(t: &[u8; 4]) -> String {
    t.iter()
        .map(|&c| if c.is_ascii_graphic() { c as char } else { '?' })
        .collect()
}

/// Header of a box starting at `data[0]`: (type, header length, total size). `size == None`
/// means "extends to the end of the enclosing space" (size field 0).
pub fn parse_header(data: &[u8], offset: u64) -> Result<([u8; 4], usize, Option<u64>)> {
    let h = data
        .get(..8)
        .ok_or_else(|| Error::format(offset, "box header truncated"))?;
    let size32 = u32::from_be_bytes(h[0..4].try_into().expect("4 bytes"));
    let typ: [u8; 4] = h[4..8].try_into().expect("4 bytes");
    match size32 {
        0 => Ok((typ, 8, None)),
        1 => {
            let l = data.get(8..16).ok_or_else(|| {
                Error::format(offset, format!("largesize of '{}' truncated", fourcc(&typ)))
            })?;
            let size = u64::from_be_bytes(l.try_into().expect("8 bytes"));
            if size < 16 {
                return Err(Error::format(
                    offset,
                    format!("'{}' has largesize {size} < 16", fourcc(&typ)),
                ));
            }
            Ok((typ, 16, Some(size)))
        }
        s if s < 8 => Err(Error::format(
            offset,
            format!("'{}' has size {s} < 8", fourcc(&typ)),
        )),
        s => Ok((typ, 8, Some(s as u64))),
    }
}

/// The boxes that make up `data` exactly (no trailing bytes tolerated: a rewrite must not
/// silently drop anything). `offset` is the absolute offset of `data[0]`.
pub fn children(data: &[u8], offset: u64) -> Result<Vec<Bx<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let at = offset + pos as u64;
        let rest = &data[pos..];
        if rest.len() < 8 {
            return Err(Error::format(
                at,
                format!("{} trailing bytes, too few for a box", rest.len()),
            ));
        }
        let (typ, header_len, size) = parse_header(rest, at)?;
        let size = size.unwrap_or(rest.len() as u64);
        if size > rest.len() as u64 {
            return Err(Error::format(
                at,
                format!(
                    "'{}' claims {size} bytes but only {} remain in its parent",
                    fourcc(&typ),
                    rest.len()
                ),
            ));
        }
        let size = size as usize;
        out.push(Bx {
            typ,
            offset: at,
            header_len,
            raw: &rest[..size],
        });
        pos += size;
    }
    Ok(out)
}

/// First child of the given type.
pub fn child<'a>(kids: &[Bx<'a>], typ: &[u8; 4]) -> Option<Bx<'a>> {
    kids.iter().find(|b| &b.typ == typ).copied()
}

/// Bounds-checked big-endian reader over a box body.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    offset: u64,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], offset: u64, what: &'static str) -> Self {
        Reader {
            data,
            pos: 0,
            offset,
            what,
        }
    }
    pub fn pos(&self) -> usize {
        self.pos
    }
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                Error::format(
                    self.offset + self.pos as u64,
                    format!(
                        "'{}' truncated: needs {n} more bytes, {} left",
                        self.what,
                        self.remaining()
                    ),
                )
            })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into().expect("2")))
    }
    pub fn u24(&mut self) -> Result<u32> {
        let b = self.take(3)?;
        Ok(((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32)
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4")))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8")))
    }
    /// version and flags of a full box.
    pub fn full(&mut self) -> Result<(u8, u32)> {
        Ok((self.u8()?, self.u24()?))
    }
    pub fn err(&self, msg: impl Into<String>) -> Error {
        Error::format(
            self.offset + self.pos as u64,
            format!("'{}': {}", self.what, msg.into()),
        )
    }
}

/// `track_ID` from `tkhd`.
pub fn tkhd_track_id(b: &Bx) -> Result<u32> {
    let mut r = Reader::new(b.body(), b.body_offset(), "tkhd");
    let (v, _) = r.full()?;
    r.take(if v == 1 { 16 } else { 8 })?;
    r.u32()
}

/// `(track_ID, default_sample_size)` from `trex`.
pub fn trex(b: &Bx) -> Result<(u32, u32)> {
    let mut r = Reader::new(b.body(), b.body_offset(), "trex");
    r.full()?;
    let id = r.u32()?;
    r.u32()?; // default_sample_description_index
    r.u32()?; // default_sample_duration
    Ok((id, r.u32()?))
}

/// Protection of one track, from its `sinf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackProtection {
    /// Sample entry type before protection (`frma`), e.g. `avc1`.
    pub original_format: [u8; 4],
    pub kid: Kid,
    pub iv_size: u8,
    pub is_protected: bool,
}

/// Header length of a sample entry's fixed fields, by handler-independent type knowledge:
/// visual entries have 78 bytes of fields, v0 audio entries 28.
pub fn sample_entry_fields_len(entry: &Bx) -> Result<usize> {
    match &entry.typ {
        b"encv" | b"avc1" | b"avc3" | b"hvc1" | b"hev1" => Ok(VISUAL_ENTRY_FIELDS),
        b"enca" => {
            // Audio sample entry version sits after reserved(6) + data_reference_index(2).
            let v = entry
                .body()
                .get(8..10)
                .map(|b| u16::from_be_bytes([b[0], b[1]]));
            match v {
                Some(0) => Ok(AUDIO_ENTRY_FIELDS),
                _ => Err(Error::format(
                    entry.offset,
                    "'enca' sample entry other than version 0",
                )),
            }
        }
        t => Err(Error::format(
            entry.offset,
            format!("no field layout known for '{}'", fourcc(t)),
        )),
    }
}

/// Reads `sinf` (frma, schm, schi/tenc) and refuses schemes other than 'cenc'.
pub fn parse_sinf(sinf: &Bx) -> Result<TrackProtection> {
    let kids = children(sinf.body(), sinf.body_offset())?;
    let frma =
        child(&kids, b"frma").ok_or_else(|| Error::format(sinf.offset, "'sinf' without 'frma'"))?;
    let original_format: [u8; 4] = frma
        .body()
        .get(..4)
        .ok_or_else(|| Error::format(frma.offset, "'frma' truncated"))?
        .try_into()
        .expect("4 bytes");
    let schm =
        child(&kids, b"schm").ok_or_else(|| Error::format(sinf.offset, "'sinf' without 'schm'"))?;
    let mut r = Reader::new(schm.body(), schm.body_offset(), "schm");
    r.full()?;
    let scheme: [u8; 4] = r.take(4)?.try_into().expect("4");
    if scheme != SCHEME_CENC {
        return Err(Error::format(
            schm.offset,
            format!(
                "protection scheme '{}'; camward decrypts 'cenc' only",
                fourcc(&scheme)
            ),
        ));
    }
    let schi =
        child(&kids, b"schi").ok_or_else(|| Error::format(sinf.offset, "'sinf' without 'schi'"))?;
    let schi_kids = children(schi.body(), schi.body_offset())?;
    let tenc = child(&schi_kids, b"tenc")
        .ok_or_else(|| Error::format(schi.offset, "'schi' without 'tenc'"))?;
    let mut r = Reader::new(tenc.body(), tenc.body_offset(), "tenc");
    r.full()?;
    r.u8()?; // reserved
    r.u8()?; // reserved (v0) or pattern (v1, not used by 'cenc')
    let is_protected = r.u8()?;
    let iv_size = r.u8()?;
    let kid = Kid(r.take(16)?.try_into().expect("16"));
    if is_protected > 1 {
        return Err(r.err(format!("default_isProtected {is_protected}")));
    }
    if is_protected == 1 && iv_size != 8 && iv_size != 16 {
        // Size 0 means a constant IV, which 'cenc' (CTR) must never use.
        return Err(r.err(format!(
            "per-sample IV size {iv_size}; 'cenc' needs 8 or 16"
        )));
    }
    Ok(TrackProtection {
        original_format,
        kid,
        iv_size,
        is_protected: is_protected == 1,
    })
}

/// A parsed `pssh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pssh<'a> {
    pub system_id: [u8; 16],
    pub kids: Vec<Kid>,
    pub data: &'a [u8],
}

impl Pssh<'_> {
    pub fn is_camward(&self) -> bool {
        self.system_id == CAMWARD_SYSTEM_ID
    }
}

pub fn parse_pssh<'a>(b: &Bx<'a>) -> Result<Pssh<'a>> {
    let mut r = Reader::new(b.body(), b.body_offset(), "pssh");
    let (v, _) = r.full()?;
    let system_id: [u8; 16] = r.take(16)?.try_into().expect("16");
    let mut kids = Vec::new();
    if v > 0 {
        let n = r.u32()? as usize;
        if n > r.remaining() / 16 {
            return Err(r.err(format!("KID_count {n} exceeds the box")));
        }
        for _ in 0..n {
            kids.push(Kid(r.take(16)?.try_into().expect("16")));
        }
    }
    let len = r.u32()? as usize;
    let data = r.take(len)?;
    Ok(Pssh {
        system_id,
        kids,
        data,
    })
}

/// `tfhd` fields that locate samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tfhd {
    pub track_id: u32,
    pub flags: u32,
    pub base_data_offset: Option<u64>,
    pub default_sample_size: Option<u32>,
}

pub const TFHD_BASE_DATA_OFFSET: u32 = 0x1;
pub const TFHD_DEFAULT_SAMPLE_SIZE: u32 = 0x10;
pub const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x2_0000;

pub fn parse_tfhd(b: &Bx) -> Result<Tfhd> {
    let mut r = Reader::new(b.body(), b.body_offset(), "tfhd");
    let (_, flags) = r.full()?;
    let track_id = r.u32()?;
    let base_data_offset = if flags & TFHD_BASE_DATA_OFFSET != 0 {
        Some(r.u64()?)
    } else {
        None
    };
    if flags & 0x2 != 0 {
        r.u32()?; // sample_description_index
    }
    if flags & 0x8 != 0 {
        r.u32()?; // default_sample_duration
    }
    let default_sample_size = if flags & TFHD_DEFAULT_SAMPLE_SIZE != 0 {
        Some(r.u32()?)
    } else {
        None
    };
    Ok(Tfhd {
        track_id,
        flags,
        base_data_offset,
        default_sample_size,
    })
}

/// `trun` fields that locate samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trun {
    /// Signed offset from the traf's base, when present.
    pub data_offset: Option<i32>,
    /// Position of the data_offset field within the trun box (for rewriting it).
    pub data_offset_at: usize,
    /// Per-sample sizes; `None` where trun has no size and the default applies.
    pub sizes: Vec<Option<u32>>,
}

pub fn parse_trun(b: &Bx) -> Result<Trun> {
    let mut r = Reader::new(b.body(), b.body_offset(), "trun");
    let (_, flags) = r.full()?;
    let count = r.u32()? as usize;
    let data_offset_at = b.header_len + r.pos();
    let data_offset = if flags & 0x1 != 0 {
        Some(r.u32()? as i32)
    } else {
        None
    };
    if flags & 0x4 != 0 {
        r.u32()?; // first_sample_flags
    }
    let per = [0x100, 0x200, 0x400, 0x800]
        .iter()
        .filter(|&&f| flags & f != 0)
        .count()
        * 4;
    if per > 0 && count > r.remaining() / per {
        return Err(r.err(format!("sample_count {count} exceeds the box")));
    }
    // Without per-sample fields a tiny box can claim any count; a GOP never has a million frames.
    if per == 0 && count > 1 << 20 {
        return Err(r.err(format!("sample_count {count} is implausible")));
    }
    let mut sizes = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        if flags & 0x100 != 0 {
            r.u32()?;
        }
        let size = if flags & 0x200 != 0 {
            Some(r.u32()?)
        } else {
            None
        };
        if flags & 0x400 != 0 {
            r.u32()?;
        }
        if flags & 0x800 != 0 {
            r.u32()?;
        }
        sizes.push(size);
    }
    Ok(Trun {
        data_offset,
        data_offset_at,
        sizes,
    })
}

/// `senc` entries, with the track's per-sample IV size.
pub fn parse_senc(b: &Bx, iv_size: u8) -> Result<Vec<SampleAux>> {
    let mut r = Reader::new(b.body(), b.body_offset(), "senc");
    let (_, flags) = r.full()?;
    if flags & 0x1 != 0 {
        // The PIFF-era override of algorithm and IV size; nobody writes it into 'cenc' files.
        return Err(r.err("override flag 0x1 is not supported"));
    }
    let with_subsamples = flags & 0x2 != 0;
    let count = r.u32()? as usize;
    let min_entry = iv_size as usize + if with_subsamples { 2 } else { 0 };
    if min_entry == 0 || count > r.remaining() / min_entry {
        return Err(r.err(format!("sample_count {count} exceeds the box")));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let iv = r.take(iv_size as usize)?.to_vec();
        let mut subsamples = Vec::new();
        if with_subsamples {
            let n = r.u16()? as usize;
            if n > r.remaining() / 6 {
                return Err(r.err(format!("subsample_count {n} exceeds the box")));
            }
            for _ in 0..n {
                subsamples.push(Subsample {
                    clear: r.u16()?,
                    protected: r.u32()?,
                });
            }
        }
        out.push(SampleAux { iv, subsamples });
    }
    if r.remaining() != 0 {
        return Err(r.err(format!("{} bytes after the last entry", r.remaining())));
    }
    Ok(out)
}

/// avcC `lengthSizeMinusOne + 1`.
pub fn avcc_length_size(b: &Bx) -> Result<usize> {
    let v = b
        .body()
        .get(4)
        .ok_or_else(|| Error::format(b.offset, "'avcC' truncated"))?;
    Ok((v & 3) as usize + 1)
}

/// Where one traf's samples are in the file.
#[derive(Debug, Clone)]
pub struct TrafLayout {
    pub tfhd: Tfhd,
    /// (absolute offset, size) of every sample, in trun order.
    pub samples: Vec<(u64, u64)>,
    /// Where the next traf's implicit base would be (end of this traf's data).
    pub data_end: u64,
}

/// Locates the samples of one `traf` (ISO/IEC 14496-12 §8.8.7, §8.8.8): explicit
/// base_data_offset, default-base-is-moof, or the implicit base (moof start for the first traf,
/// the end of the previous traf's data after that).
pub fn traf_layout(
    kids: &[Bx],
    moof_start: u64,
    implicit_base: u64,
    trex_default_size: Option<u32>,
) -> Result<TrafLayout> {
    let tfhd_box = kids
        .iter()
        .find(|b| &b.typ == b"tfhd")
        .ok_or_else(|| Error::format(moof_start, "'traf' without 'tfhd'"))?;
    let tfhd = parse_tfhd(tfhd_box)?;
    let base = match tfhd.base_data_offset {
        Some(b) => b,
        None if tfhd.flags & TFHD_DEFAULT_BASE_IS_MOOF != 0 => moof_start,
        None => implicit_base,
    };
    let mut samples = Vec::new();
    let mut next = base;
    for (i, trun_box) in kids.iter().filter(|b| &b.typ == b"trun").enumerate() {
        let trun = parse_trun(trun_box)?;
        let mut pos = match trun.data_offset {
            Some(off) => base.checked_add_signed(off as i64).ok_or_else(|| {
                Error::format(
                    trun_box.offset,
                    format!("data_offset {off} points before the file start"),
                )
            })?,
            // The first trun without an offset starts at the base; later ones continue.
            None if i == 0 => base,
            None => next,
        };
        for (k, size) in trun.sizes.iter().enumerate() {
            let size = size
                .or(tfhd.default_sample_size)
                .or(trex_default_size)
                .ok_or_else(|| {
                    Error::format(
                        trun_box.offset,
                        format!("sample {k} has no size (trun, tfhd, trex)"),
                    )
                })? as u64;
            samples.push((pos, size));
            pos = pos
                .checked_add(size)
                .ok_or_else(|| Error::format(trun_box.offset, "sample offsets overflow"))?;
        }
        next = pos;
    }
    Ok(TrafLayout {
        tfhd,
        samples,
        data_end: next,
    })
}

/// Rejects sample groups that would change keys or protection per sample ('seig'), which camward
/// neither writes nor decrypts: better an error than a silently wrong "clear" file.
pub fn refuse_key_rotation(kids: &[Bx]) -> Result<()> {
    for b in kids
        .iter()
        .filter(|b| &b.typ == b"sbgp" || &b.typ == b"sgpd")
    {
        if b.body().get(4..8) == Some(b"seig") {
            return Err(Error::format(
                b.offset,
                "'seig' sample groups (key rotation) are not supported",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boxes::{full_box, senc, sinf, write_box};

    #[test]
    fn children_reject_overlong_and_trailing_bytes() {
        let mut d = write_box(b"free", &[0; 4]);
        assert_eq!(children(&d, 0).unwrap().len(), 1);
        d.extend([0, 0, 0]);
        assert!(
            children(&d, 100)
                .unwrap_err()
                .to_string()
                .contains("byte 112")
        );
        let bad = [0, 0, 0, 20, b'm', b'o', b'o', b'v', 0, 0];
        assert!(
            children(&bad, 0)
                .unwrap_err()
                .to_string()
                .contains("claims 20")
        );
        let tiny = [0, 0, 0, 4, b'm', b'o', b'o', b'v'];
        assert!(children(&tiny, 0).is_err());
    }

    #[test]
    fn largesize_and_size_zero_headers() {
        let mut d = vec![0, 0, 0, 1, b'm', b'd', b'a', b't'];
        d.extend(20u64.to_be_bytes());
        d.extend([7; 4]);
        let k = children(&d, 0).unwrap();
        assert_eq!(k[0].header_len, 16);
        assert_eq!(k[0].body(), &[7; 4]);
        let z = [0, 0, 0, 0, b'm', b'd', b'a', b't', 1, 2, 3];
        assert_eq!(children(&z, 0).unwrap()[0].body(), &[1, 2, 3]);
    }

    #[test]
    fn sinf_roundtrips_through_the_parser() {
        let kid = Kid([3; 16]);
        let s = sinf(*b"avc1", &kid, 8);
        let b = children(&s, 0).unwrap()[0];
        let p = parse_sinf(&b).unwrap();
        assert_eq!(
            p,
            TrackProtection {
                original_format: *b"avc1",
                kid,
                iv_size: 8,
                is_protected: true
            }
        );
    }

    #[test]
    fn cbcs_and_constant_iv_are_refused() {
        let mut s = sinf(*b"avc1", &Kid([3; 16]), 8);
        let at = s.windows(4).position(|w| w == b"cenc").unwrap();
        s[at..at + 4].copy_from_slice(b"cbcs");
        let b = children(&s, 0).unwrap()[0];
        assert!(parse_sinf(&b).unwrap_err().to_string().contains("'cbcs'"));
        let s = sinf(*b"avc1", &Kid([3; 16]), 0);
        let b = children(&s, 0).unwrap()[0];
        assert!(
            parse_sinf(&b)
                .unwrap_err()
                .to_string()
                .contains("IV size 0")
        );
    }

    #[test]
    fn senc_parses_what_the_writer_wrote() {
        let aux = vec![
            SampleAux {
                iv: vec![1; 8],
                subsamples: vec![Subsample {
                    clear: 5,
                    protected: 32,
                }],
            },
            SampleAux {
                iv: vec![2; 8],
                subsamples: vec![],
            },
        ];
        let s = senc(&aux);
        let b = children(&s, 0).unwrap()[0];
        assert_eq!(parse_senc(&b, 8).unwrap(), aux);
        assert!(parse_senc(&b, 16).is_err());
        // A count far beyond the box is refused before allocating.
        let huge = full_box(b"senc", 0, 2, &u32::MAX.to_be_bytes());
        let b = children(&huge, 0).unwrap()[0];
        assert!(parse_senc(&b, 8).is_err());
    }

    #[test]
    fn traf_layout_follows_base_rules() {
        // tfhd: default-base-is-moof, default size 10; trun with data_offset 100 and 3 samples.
        let tfhd = full_box(
            b"tfhd",
            0,
            TFHD_DEFAULT_BASE_IS_MOOF | TFHD_DEFAULT_SAMPLE_SIZE,
            &[0, 0, 0, 1, 0, 0, 0, 10],
        );
        let mut trun_body = 3u32.to_be_bytes().to_vec();
        trun_body.extend(100u32.to_be_bytes());
        let trun = full_box(b"trun", 0, 1, &trun_body);
        let traf = [tfhd, trun].concat();
        let kids = children(&traf, 0).unwrap();
        let l = traf_layout(&kids, 1000, 0, None).unwrap();
        assert_eq!(l.samples, vec![(1100, 10), (1110, 10), (1120, 10)]);
        assert_eq!(l.data_end, 1130);
    }
}
