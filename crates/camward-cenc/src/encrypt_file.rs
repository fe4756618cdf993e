//! Encrypting an existing clear fMP4 in memory: the reference rewrite the real-peer tests use to
//! prove the format with ffmpeg, and a way to protect a clear export after the fact.
//!
//! The recorder does not use this (it encrypts samples as it writes them through
//! `FileEncryptor`); both produce the same boxes.

use crate::bmff::{self, Bx, child, children, fourcc};
use crate::boxes::{self, write_box};
use crate::encryptor::FileEncryptor;
use crate::error::{Error, Result};
use crate::identity::Recipient;
use crate::sample::{IV_SIZE, SampleAux};
use std::collections::HashMap;

/// Encrypts every H.264 (avc1/avc3) track of a fragmented MP4 to `recipients`: sample entries
/// become `encv` + `sinf`, `moov` gets the camward `pssh`, every `traf` of a protected track gets
/// `saiz`/`saio`/`senc` after its `trun`s, and trun data offsets and `tfra` moof offsets are
/// moved by what the inserted boxes add.
pub fn encrypt_fmp4(clear: &[u8], recipients: &[Recipient]) -> Result<Vec<u8>> {
    let top = children(clear, 0)?;
    let moov = child(&top, b"moov").ok_or_else(|| Error::format(0, "no 'moov' box"))?;
    if let Some(sidx) = child(&top, b"sidx") {
        return Err(Error::format(
            sidx.offset,
            "'sidx' is not supported by this rewrite",
        ));
    }
    // Which tracks are H.264 and their NAL length size, before anything is rewritten.
    let mut avc_tracks: HashMap<u32, usize> = HashMap::new();
    let mut trex: HashMap<u32, u32> = HashMap::new();
    for k in children(moov.body(), moov.body_offset())? {
        if &k.typ == b"trak"
            && let Some((id, ls)) = avc_track(&k)?
        {
            avc_tracks.insert(id, ls);
        }
        if &k.typ == b"mvex" {
            for t in children(k.body(), k.body_offset())?
                .iter()
                .filter(|b| &b.typ == b"trex")
            {
                let (id, size) = bmff::trex(t)?;
                trex.insert(id, size);
            }
        }
    }
    let length_size = match avc_tracks.values().next() {
        Some(&ls) if avc_tracks.values().all(|&l| l == ls) => ls,
        Some(_) => {
            return Err(Error::format(
                moov.offset,
                "H.264 tracks with different NAL length sizes",
            ));
        }
        None => {
            return Err(Error::format(
                moov.offset,
                "no H.264 (avc1/avc3) track to encrypt",
            ));
        }
    };
    let mut enc = FileEncryptor::new(recipients)?.with_length_size(length_size);

    // Samples are encrypted in a copy of the input (same sizes), boxes rebuilt around them.
    let mut work = clear.to_vec();
    let mut out = Vec::with_capacity(clear.len() + 4096);
    let mut moof_moves: HashMap<u64, u64> = HashMap::new();
    for b in &top {
        let new_at = out.len() as u64;
        match &b.typ {
            b"moov" => out.extend(encrypt_moov(b, &enc)?),
            b"moof" => {
                moof_moves.insert(b.offset, new_at);
                out.extend(encrypt_moof(b, &avc_tracks, &trex, &mut enc, &mut work)?);
            }
            b"mfra" => out.extend(move_mfra(b, &moof_moves)?),
            _ => {
                let start = b.offset as usize;
                out.extend_from_slice(&work[start..start + b.raw.len()]);
            }
        }
    }
    Ok(out)
}

fn avc_track(trak: &Bx) -> Result<Option<(u32, usize)>> {
    let kids = children(trak.body(), trak.body_offset())?;
    let Some(tkhd) = child(&kids, b"tkhd") else {
        return Ok(None);
    };
    let id = bmff::tkhd_track_id(&tkhd)?;
    let Some(stsd) = find_path(&kids, &[*b"mdia", *b"minf", *b"stbl", *b"stsd"])? else {
        return Ok(None);
    };
    let entries = stsd_entries(&stsd)?;
    for e in &entries {
        if &e.typ == b"encv" {
            return Err(Error::format(e.offset, "already encrypted ('encv')"));
        }
        if &e.typ == b"avc1" || &e.typ == b"avc3" {
            let kids = children(&e.body()[78.min(e.body().len())..], e.body_offset() + 78)?;
            let avcc = child(&kids, b"avcC")
                .ok_or_else(|| Error::format(e.offset, "avc1 without 'avcC'"))?;
            return Ok(Some((id, bmff::avcc_length_size(&avcc)?)));
        }
    }
    Ok(None)
}

fn find_path<'a>(kids: &[Bx<'a>], path: &[[u8; 4]]) -> Result<Option<Bx<'a>>> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(None);
    };
    let Some(b) = child(kids, first) else {
        return Ok(None);
    };
    if rest.is_empty() {
        return Ok(Some(b));
    }
    find_path(&children(b.body(), b.body_offset())?, rest)
}

fn stsd_entries<'a>(stsd: &Bx<'a>) -> Result<Vec<Bx<'a>>> {
    if stsd.body().len() < 8 {
        return Err(Error::format(stsd.offset, "'stsd' truncated"));
    }
    children(&stsd.body()[8..], stsd.body_offset() + 8)
}

/// Rebuilds `b` with each child passed through `f` (None = copy unchanged).
fn map_children(
    b: &Bx,
    skip: usize,
    f: &mut dyn FnMut(&Bx) -> Result<Option<Vec<u8>>>,
) -> Result<Vec<u8>> {
    let body = b.body();
    let mut nb = body[..skip].to_vec();
    for k in children(&body[skip..], b.body_offset() + skip as u64)? {
        match f(&k)? {
            Some(v) => nb.extend(v),
            None => nb.extend_from_slice(k.raw),
        }
    }
    Ok(write_box(&b.typ, &nb))
}

fn encrypt_moov(moov: &Bx, enc: &FileEncryptor) -> Result<Vec<u8>> {
    let kid = enc.kid();
    let mut rebuilt = map_children(moov, 0, &mut |trak| {
        if &trak.typ != b"trak" {
            return Ok(None);
        }
        map_children(trak, 0, &mut |mdia| {
            if &mdia.typ != b"mdia" {
                return Ok(None);
            }
            map_children(mdia, 0, &mut |minf| {
                if &minf.typ != b"minf" {
                    return Ok(None);
                }
                map_children(minf, 0, &mut |stbl| {
                    if &stbl.typ != b"stbl" {
                        return Ok(None);
                    }
                    map_children(stbl, 0, &mut |stsd| {
                        if &stsd.typ != b"stsd" {
                            return Ok(None);
                        }
                        map_children(stsd, 8, &mut |entry| {
                            if &entry.typ == b"avc1" || &entry.typ == b"avc3" {
                                boxes::encv_from_avc1(entry.raw, &kid, IV_SIZE as u8).map(Some)
                            } else {
                                Ok(None)
                            }
                        })
                        .map(Some)
                    })
                    .map(Some)
                })
                .map(Some)
            })
            .map(Some)
        })
        .map(Some)
    })?;
    // Append pssh to moov's body and fix moov's size.
    rebuilt.extend(enc.moov_boxes());
    let len = rebuilt.len() as u32;
    rebuilt[0..4].copy_from_slice(&len.to_be_bytes());
    Ok(rebuilt)
}

fn encrypt_moof(
    moof: &Bx,
    avc_tracks: &HashMap<u32, usize>,
    trex: &HashMap<u32, u32>,
    enc: &mut FileEncryptor,
    work: &mut [u8],
) -> Result<Vec<u8>> {
    // Built as one buffer starting at moof's first byte, so positions in it are moof-relative.
    let mut out = vec![0u8; 8];
    out[4..8].copy_from_slice(b"moof");
    let mut data_offset_fields = Vec::new();
    let mut implicit_base = moof.offset;
    let mut first_traf = true;
    for k in children(moof.body(), moof.body_offset())? {
        if &k.typ != b"traf" {
            out.extend_from_slice(k.raw);
            continue;
        }
        let kids = children(k.body(), k.body_offset())?;
        let tfhd = child(&kids, b"tfhd")
            .map(|t| bmff::parse_tfhd(&t))
            .transpose()?
            .ok_or_else(|| Error::format(k.offset, "'traf' without 'tfhd'"))?;
        let moof_relative = tfhd.flags & bmff::TFHD_DEFAULT_BASE_IS_MOOF != 0 || first_traf;
        first_traf = false;
        if tfhd.base_data_offset.is_some() || !moof_relative {
            // Inserting boxes moves data relative to such bases in ways this rewrite does not track.
            return Err(Error::format(
                k.offset,
                "only moof-relative sample data offsets are supported",
            ));
        }
        let layout = bmff::traf_layout(
            &kids,
            moof.offset,
            implicit_base,
            trex.get(&tfhd.track_id).copied(),
        )?;
        implicit_base = layout.data_end;
        let traf_start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(b"traf");
        for c in &kids {
            if &c.typ == b"trun" {
                let t = bmff::parse_trun(c)?;
                if t.data_offset.is_none() {
                    return Err(Error::format(c.offset, "'trun' without data_offset"));
                }
                data_offset_fields.push(out.len() + t.data_offset_at);
            }
            out.extend_from_slice(c.raw);
        }
        if avc_tracks.contains_key(&tfhd.track_id) && !layout.samples.is_empty() {
            let mut aux: Vec<SampleAux> = Vec::with_capacity(layout.samples.len());
            for &(off, len) in &layout.samples {
                let range = usize::try_from(off)
                    .ok()
                    .and_then(|s| Some(s..s.checked_add(usize::try_from(len).ok()?)?))
                    .filter(|r| r.end <= work.len())
                    .ok_or_else(|| Error::format(off, "sample lies beyond the end of the file"))?;
                let a = enc
                    .encrypt_in_place(&mut work[range])
                    .map_err(|e| Error::format(off, e.to_string()))?;
                aux.push(a);
            }
            let at = u32::try_from(out.len())
                .map_err(|_| Error::format(moof.offset, "moof larger than 4 GiB"))?;
            out.extend(boxes::traf_boxes(&aux, at)?);
        }
        let traf_len = (out.len() - traf_start) as u32;
        out[traf_start..traf_start + 4].copy_from_slice(&traf_len.to_be_bytes());
    }
    let len = u32::try_from(out.len())
        .map_err(|_| Error::format(moof.offset, "moof larger than 4 GiB"))?;
    out[0..4].copy_from_slice(&len.to_be_bytes());
    // Sample data now sits `grown` bytes further from the moof start.
    let grown = out.len() as i64 - moof.raw.len() as i64;
    for at in data_offset_fields {
        let old = i32::from_be_bytes(out[at..at + 4].try_into().expect("4")) as i64;
        let new = i32::try_from(old + grown)
            .map_err(|_| Error::format(moof.offset, "data_offset overflows"))?;
        out[at..at + 4].copy_from_slice(&new.to_be_bytes());
    }
    Ok(out)
}

/// `mfra` with every `tfra` moof offset moved to where that moof now is.
fn move_mfra(mfra: &Bx, moves: &HashMap<u64, u64>) -> Result<Vec<u8>> {
    map_children(mfra, 0, &mut |k| {
        if &k.typ != b"tfra" {
            return Ok(None);
        }
        let mut raw = k.raw.to_vec();
        let mut r = bmff::Reader::new(k.body(), k.body_offset(), "tfra");
        let (v, _) = r.full()?;
        r.u32()?; // track_ID
        let sizes = r.u32()?;
        let extra = (((sizes >> 4) & 3) + ((sizes >> 2) & 3) + (sizes & 3) + 3) as usize;
        let count = r.u32()? as usize;
        let w = if v == 1 { 8 } else { 4 };
        if count > r.remaining() / (2 * w + extra) {
            return Err(r.err(format!("number_of_entry {count} exceeds the box")));
        }
        for _ in 0..count {
            r.take(w)?; // time
            let at = k.header_len + r.pos();
            let old = if v == 1 { r.u64()? } else { r.u32()? as u64 };
            let new = *moves.get(&old).ok_or_else(|| {
                Error::format(
                    k.offset,
                    format!("'tfra' points at byte {old}, which is no 'moof'"),
                )
            })?;
            if v == 1 {
                raw[at..at + 8].copy_from_slice(&new.to_be_bytes());
            } else {
                let new = u32::try_from(new)
                    .map_err(|_| Error::format(k.offset, "moof offset overflows 'tfra' v0"))?;
                raw[at..at + 4].copy_from_slice(&new.to_be_bytes());
            }
            r.take(extra)?;
        }
        Ok(Some(raw))
    })
    .map_err(|e| match e {
        Error::Format { offset, message } => Error::Format {
            offset,
            message: format!("in '{}': {message}", fourcc(&mfra.typ)),
        },
        e => e,
    })
}
