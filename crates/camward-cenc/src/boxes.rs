//! Byte-exact writers for the protection boxes of ISO/IEC 23001-7 and ISO/IEC 14496-12:
//! `sinf` (`frma`, `schm`, `schi`/`tenc`), `pssh`, and per-fragment `saiz`, `saio`, `senc`.

use crate::error::{Error, Result};
use crate::key::Kid;
use crate::sample::SampleAux;
use crate::wrap::KeyBundle;

/// `pssh` SystemID of camward's key system: its data is a `KeyBundle` (the content key wrapped
/// to each viewer). A UUID of our own so DRM clients skip it and ffmpeg ignores it.
/// 67fb992a-9969-4676-81bf-3820a1bda725
pub const CAMWARD_SYSTEM_ID: [u8; 16] = [
    0x67, 0xfb, 0x99, 0x2a, 0x99, 0x69, 0x46, 0x76, 0x81, 0xbf, 0x38, 0x20, 0xa1, 0xbd, 0xa7, 0x25,
];

/// 'cenc' scheme, version 1.0 (`schm` scheme_version 0x00010000).
pub const SCHEME_CENC: [u8; 4] = *b"cenc";
const SCHEME_VERSION: u32 = 0x0001_0000;
/// `senc` flag: entries carry subsample maps.
pub const SENC_USE_SUBSAMPLES: u32 = 0x2;

/// A plain box: 32-bit size, type, body.
pub fn write_box(typ: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + body.len());
    v.extend_from_slice(&((8 + body.len()) as u32).to_be_bytes());
    v.extend_from_slice(typ);
    v.extend_from_slice(body);
    v
}

/// A full box: version and 24-bit flags before the body.
pub fn full_box(typ: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(4 + body.len());
    b.push(version);
    b.extend_from_slice(&flags.to_be_bytes()[1..]);
    b.extend_from_slice(body);
    write_box(typ, &b)
}

/// `frma`: the sample entry type before protection (`avc1`).
pub fn frma(original_format: [u8; 4]) -> Vec<u8> {
    write_box(b"frma", &original_format)
}

/// `schm`: scheme 'cenc' version 1.0, no URI.
pub fn schm() -> Vec<u8> {
    let mut b = SCHEME_CENC.to_vec();
    b.extend_from_slice(&SCHEME_VERSION.to_be_bytes());
    full_box(b"schm", 0, 0, &b)
}

/// `tenc` version 0: protected by default, per-sample IVs of `iv_size` bytes, `default_KID`.
pub fn tenc(kid: &Kid, iv_size: u8) -> Vec<u8> {
    let mut b = vec![0, 0, 1, iv_size];
    b.extend_from_slice(&kid.0);
    full_box(b"tenc", 0, 0, &b)
}

/// `sinf` for a 'cenc' track: `frma`, `schm`, `schi` holding `tenc`.
pub fn sinf(original_format: [u8; 4], kid: &Kid, iv_size: u8) -> Vec<u8> {
    let mut b = frma(original_format);
    b.extend(schm());
    b.extend(write_box(b"schi", &tenc(kid, iv_size)));
    write_box(b"sinf", &b)
}

/// `pssh` version 1 with camward's SystemID, the file's KID, and the key bundle as data.
pub fn pssh(bundle: &KeyBundle) -> Vec<u8> {
    let data = bundle.to_bytes();
    let mut b = CAMWARD_SYSTEM_ID.to_vec();
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(&bundle.kid.0);
    b.extend_from_slice(&(data.len() as u32).to_be_bytes());
    b.extend_from_slice(&data);
    full_box(b"pssh", 1, 0, &b)
}

/// The boxes to append to `moov`: the camward `pssh`. (A top-level `uuid` box would be a second,
/// non-standard place for the same bytes; `pssh` is where CENC readers look, so it is the only one.)
pub fn moov_boxes(bundle: &KeyBundle) -> Vec<u8> {
    pssh(bundle)
}

/// `senc` version 0 with subsamples (flags 0x2), one entry per sample of the fragment.
pub fn senc(aux: &[SampleAux]) -> Vec<u8> {
    let mut b = Vec::with_capacity(4 + aux.iter().map(SampleAux::encoded_len).sum::<usize>());
    b.extend_from_slice(&(aux.len() as u32).to_be_bytes());
    for a in aux {
        b.extend_from_slice(&a.iv);
        b.extend_from_slice(&(a.subsamples.len() as u16).to_be_bytes());
        for s in &a.subsamples {
            b.extend_from_slice(&s.clear.to_be_bytes());
            b.extend_from_slice(&s.protected.to_be_bytes());
        }
    }
    full_box(b"senc", 0, SENC_USE_SUBSAMPLES, &b)
}

/// `saiz` version 0 without aux_info_type (it defaults to the scheme, 'cenc'): one size for all
/// samples when they agree (the common case: same slice count per frame), else a table.
pub fn saiz(aux: &[SampleAux]) -> Result<Vec<u8>> {
    let sizes = aux
        .iter()
        .enumerate()
        .map(|(i, a)| {
            u8::try_from(a.encoded_len()).map_err(|_| {
                Error::Sample(format!(
                    "sample {i}: auxiliary information of {} bytes does not fit saiz (255 max)",
                    a.encoded_len()
                ))
            })
        })
        .collect::<Result<Vec<u8>>>()?;
    let uniform = sizes.first().filter(|&&f| sizes.iter().all(|&s| s == f));
    let mut b = Vec::with_capacity(5 + sizes.len());
    match uniform {
        Some(&size) => {
            b.push(size);
            b.extend_from_slice(&(sizes.len() as u32).to_be_bytes());
        }
        None => {
            b.push(0);
            b.extend_from_slice(&(sizes.len() as u32).to_be_bytes());
            b.extend_from_slice(&sizes);
        }
    }
    Ok(full_box(b"saiz", 0, 0, &b))
}

/// `saio` version 0 with one offset: where the first `senc` entry is, relative to the base
/// offset of the `traf` (the `moof` start when `tfhd` has default-base-is-moof, as camward writes).
pub fn saio(offset: u32) -> Vec<u8> {
    let mut b = 1u32.to_be_bytes().to_vec();
    b.extend_from_slice(&offset.to_be_bytes());
    full_box(b"saio", 0, 0, &b)
}

/// Size of what `traf_boxes` returns, so a writer can compute `moof`'s size (and `trun`'s
/// data_offset) before it knows where the boxes land.
pub fn traf_boxes_len(aux: &[SampleAux]) -> Result<usize> {
    Ok(saiz(aux)?.len() + 20 + senc(aux).len())
}

/// `saiz`, `saio`, `senc` for one `traf`, in that order, to append after `trun`.
///
/// `moof_relative_offset` is where the first returned byte will sit, counted from the first
/// byte of the enclosing `moof` (its size field). The writer knows it once every box before
/// these in the `moof` is laid out: mfhd, the traf header, tfhd, tfdt, trun. Their sizes do not
/// depend on this offset, so no second pass is needed; only `trun`'s data_offset must count
/// the `traf_boxes_len` bytes added to `moof`. The order puts `saio` first so a reader that
/// follows `saio` (ffmpeg does when `saiz`/`saio` precede `senc`) checks the offset is right.
pub fn traf_boxes(aux: &[SampleAux], moof_relative_offset: u32) -> Result<Vec<u8>> {
    let saiz = saiz(aux)?;
    // senc entries start after senc's header (8), version/flags (4) and sample_count (4).
    let first_entry = moof_relative_offset as u64 + saiz.len() as u64 + 20 + 16;
    let first_entry =
        u32::try_from(first_entry).map_err(|_| Error::Sample("moof larger than 4 GiB".into()))?;
    let mut v = saiz;
    v.extend(saio(first_entry));
    v.extend(senc(aux));
    Ok(v)
}

/// Turns a complete `avc1` (or `avc3`) sample entry box into the protected `encv` entry:
/// same fields and children, `sinf` appended, type and size rewritten (ISO/IEC 14496-12 §8.12).
pub fn encv_from_avc1(avc1: &[u8], kid: &Kid, iv_size: u8) -> Result<Vec<u8>> {
    let bad = |m: String| Error::format(0, m);
    if avc1.len() < 8 + 78 {
        return Err(bad(format!(
            "sample entry of {} bytes is too short",
            avc1.len()
        )));
    }
    let size = u32::from_be_bytes(avc1[0..4].try_into().expect("4 bytes")) as usize;
    if size != avc1.len() {
        return Err(bad(format!(
            "sample entry size field {size} does not match its {} bytes",
            avc1.len()
        )));
    }
    let typ: [u8; 4] = avc1[4..8].try_into().expect("4 bytes");
    if &typ != b"avc1" && &typ != b"avc3" {
        return Err(bad(format!(
            "sample entry '{}' is not avc1/avc3",
            String::from_utf8_lossy(&typ)
        )));
    }
    let mut body = avc1[8..].to_vec();
    body.extend(sinf(typ, kid, iv_size));
    Ok(write_box(b"encv", &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Subsample;

    fn kid() -> Kid {
        Kid(*b"0123456789abcdef")
    }

    #[test]
    fn sinf_is_byte_exact() {
        let s = sinf(*b"avc1", &kid(), 8);
        let mut want = Vec::new();
        want.extend(hex::decode("00000050 73696e66".replace(' ', "")).unwrap()); // sinf, 80 bytes
        want.extend(hex::decode("0000000c 66726d61 61766331".replace(' ', "")).unwrap()); // frma avc1
        want.extend(
            hex::decode("00000014 7363686d 00000000 63656e63 00010000".replace(' ', "")).unwrap(),
        );
        want.extend(hex::decode("00000028 73636869".replace(' ', "")).unwrap()); // schi
        want.extend(hex::decode("00000020 74656e63 00000000 0000 01 08".replace(' ', "")).unwrap());
        want.extend_from_slice(b"0123456789abcdef");
        assert_eq!(hex::encode(&s), hex::encode(&want));
    }

    #[test]
    fn senc_saiz_saio_layout() {
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
                subsamples: vec![
                    Subsample {
                        clear: 40,
                        protected: 16,
                    },
                    Subsample {
                        clear: 5,
                        protected: 64,
                    },
                ],
            },
        ];
        let s = senc(&aux);
        assert_eq!(&s[4..8], b"senc");
        assert_eq!(&s[8..12], &[0, 0, 0, 2]); // version 0, flags 0x000002
        assert_eq!(&s[12..16], &[0, 0, 0, 2]); // sample_count
        assert_eq!(&s[16..24], &[1; 8]);
        assert_eq!(&s[24..26], &[0, 1]);
        assert_eq!(&s[26..32], &[0, 5, 0, 0, 0, 32]);
        assert_eq!(s.len(), 16 + 16 + 22);
        // Differing sizes: a table.
        let z = saiz(&aux).unwrap();
        assert_eq!(hex::encode(&z), "000000137361697a0000000000000000021016");
        // Same sizes: default size only.
        let z = saiz(&aux[..1]).unwrap();
        assert_eq!(hex::encode(&z), "000000117361697a000000001000000001");
        assert_eq!(
            hex::encode(saio(0x1234)),
            "000000147361696f000000000000000100001234"
        );
    }

    #[test]
    fn saio_points_at_first_senc_entry() {
        let aux = vec![SampleAux {
            iv: vec![9; 8],
            subsamples: vec![Subsample {
                clear: 5,
                protected: 16,
            }],
        }];
        let at = 100u32;
        let b = traf_boxes(&aux, at).unwrap();
        assert_eq!(b.len(), traf_boxes_len(&aux).unwrap());
        // Locate saio's offset field and senc's first entry within the returned bytes.
        let saiz_len = u32::from_be_bytes(b[0..4].try_into().unwrap()) as usize;
        assert_eq!(&b[saiz_len + 4..saiz_len + 8], b"saio");
        let off = u32::from_be_bytes(b[saiz_len + 16..saiz_len + 20].try_into().unwrap());
        let senc_at = saiz_len + 20;
        assert_eq!(&b[senc_at + 4..senc_at + 8], b"senc");
        assert_eq!(off as usize, at as usize + senc_at + 16);
        assert_eq!(&b[off as usize - at as usize..][..8], &[9; 8]);
    }

    #[test]
    fn encv_keeps_avc1_body_and_appends_sinf() {
        let mut body = vec![0u8; 78];
        body.extend(write_box(b"avcC", &[1, 2, 3]));
        let avc1 = write_box(b"avc1", &body);
        let e = encv_from_avc1(&avc1, &kid(), 8).unwrap();
        assert_eq!(&e[4..8], b"encv");
        assert_eq!(
            u32::from_be_bytes(e[0..4].try_into().unwrap()) as usize,
            e.len()
        );
        assert_eq!(&e[8..avc1.len()], &avc1[8..]);
        assert_eq!(&e[avc1.len()..], sinf(*b"avc1", &kid(), 8).as_slice());
        assert!(encv_from_avc1(&write_box(b"mp4a", &[0; 78]), &kid(), 8).is_err());
    }
}
