//! A small ISO BMFF (MP4) reader for the H.264 track: avcC parameter sets, then every sample of
//! the progressive index (stsz/stsc/stco) and of every fragment (moof/traf/trun), as NAL units.

// It only reads; bounds are checked everywhere because the input is whatever a user exported
// (and it is fuzzed). Signatures survive remuxing because samples keep the slices byte for byte.

use crate::error::Error;
use std::ops::Range;

/// The H.264 track of an MP4 as byte ranges into the file.
#[derive(Debug, Clone, Default)]
pub struct H264Track {
    pub track_id: u32,
    /// NAL length prefix size from avcC (1, 2 or 4).
    pub length_size: usize,
    /// SPS/PPS from avcC.
    pub parameter_sets: Vec<Range<usize>>,
    /// Every NAL unit of every sample, in decoding order.
    pub nals: Vec<Range<usize>>,
    /// The file ends inside its last box (a copy cut short, a recording a crash interrupted):
    /// what it says. The samples wholly inside the file are listed, as players play them.
    pub truncated: Option<String>,
}

#[derive(Debug, Clone)]
struct Bx {
    typ: [u8; 4],
    start: usize,
    body: Range<usize>,
}

fn be(data: &[u8], at: usize, n: usize) -> Option<u64> {
    let s = data.get(at..at.checked_add(n)?)?;
    Some(s.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
}

fn bad(msg: String) -> Error {
    Error::unreadable(msg)
}

/// Top-level boxes; the last one may run past the end of the file (returned clipped, with what
/// is missing said).
fn top_level(data: &[u8]) -> Result<(Vec<Bx>, Option<String>), Error> {
    match children(data, 0..data.len()) {
        Ok(b) => Ok((b, None)),
        Err(_) => {
            let mut out = Vec::new();
            let mut pos = 0;
            while data.len() - pos >= 8 {
                let size = be(data, pos, 4).expect("8 bytes left") as usize;
                let typ: [u8; 4] = data[pos + 4..pos + 8].try_into().expect("4 bytes");
                let (hdr, size) = match size {
                    1 => match be(data, pos + 8, 8) {
                        Some(s) => (16, s as usize),
                        None => break,
                    },
                    0 => (8, data.len() - pos),
                    s => (8, s),
                };
                if size < hdr {
                    break;
                }
                if size > data.len() - pos {
                    let what = format!(
                        "file truncated: box '{}' at byte {pos} has {size} bytes, the file ends {} bytes into it; \
                         the frames after the last complete sample are missing",
                        String::from_utf8_lossy(&typ),
                        data.len() - pos
                    );
                    out.push(Bx {
                        typ,
                        start: pos,
                        body: (pos + hdr).min(data.len())..data.len(),
                    });
                    return Ok((out, Some(what)));
                }
                out.push(Bx {
                    typ,
                    start: pos,
                    body: pos + hdr..pos + size,
                });
                pos += size;
            }
            // Not a box running past the end: report what is wrong where.
            children(data, 0..data.len()).map(|b| (b, None))
        }
    }
}

/// Children boxes of `range`.
fn children(data: &[u8], range: Range<usize>) -> Result<Vec<Bx>, Error> {
    let mut out = Vec::new();
    let mut pos = range.start;
    while pos < range.end {
        if range.end - pos < 8 {
            // Trailing padding shorter than a header: tolerated, as players do.
            break;
        }
        let size =
            be(data, pos, 4).ok_or_else(|| bad(format!("box header at byte {pos} truncated")))?;
        let typ: [u8; 4] = data[pos + 4..pos + 8].try_into().expect("4 bytes");
        let (hdr, size) = match size {
            1 => (
                16,
                be(data, pos + 8, 8)
                    .ok_or_else(|| bad(format!("largesize of box at byte {pos} truncated")))?,
            ),
            0 => (8, (range.end - pos) as u64),
            s => (8, s),
        };
        if size < hdr as u64 || size > (range.end - pos) as u64 {
            return Err(bad(format!(
                "box '{}' at byte {pos} has size {size}, outside its parent (ends at byte {})",
                String::from_utf8_lossy(&typ),
                range.end
            )));
        }
        let end = pos + size as usize;
        out.push(Bx {
            typ,
            start: pos,
            body: pos + hdr..end,
        });
        pos = end;
    }
    Ok(out)
}

fn child(data: &[u8], parent: &Bx, typ: &[u8; 4]) -> Result<Option<Bx>, Error> {
    Ok(children(data, parent.body.clone())?
        .into_iter()
        .find(|b| &b.typ == typ))
}

struct TrackInfo {
    id: u32,
    length_size: usize,
    parameter_sets: Vec<Range<usize>>,
    samples: Vec<(usize, usize)>,
    default_size: u32,
}

fn parse_avcc(data: &[u8], body: Range<usize>) -> Result<(usize, Vec<Range<usize>>), Error> {
    let p = body.start;
    let err = || bad(format!("avcC at byte {p} truncated"));
    let ls = (be(data, p + 4, 1).ok_or_else(err)? & 3) as usize + 1;
    let mut sets = Vec::new();
    let mut q = p + 5;
    let nsps = be(data, q, 1).ok_or_else(err)? & 0x1f;
    q += 1;
    for pass in 0..2 {
        let n = if pass == 0 {
            nsps
        } else {
            let n = be(data, q, 1).ok_or_else(err)?;
            q += 1;
            n
        };
        for _ in 0..n {
            let len = be(data, q, 2).ok_or_else(err)? as usize;
            let r = q + 2..q + 2 + len;
            if r.end > body.end {
                return Err(err());
            }
            sets.push(r);
            q += 2 + len;
        }
    }
    Ok((ls, sets))
}

fn parse_trak(data: &[u8], trak: &Bx, truncated: bool) -> Result<Option<TrackInfo>, Error> {
    let Some(tkhd) = child(data, trak, b"tkhd")? else {
        return Ok(None);
    };
    let v = be(data, tkhd.body.start, 1).unwrap_or(0);
    let id_at = tkhd.body.start + if v == 1 { 20 } else { 12 };
    let id = be(data, id_at, 4)
        .ok_or_else(|| bad(format!("tkhd at byte {} truncated", tkhd.start)))? as u32;
    let Some(mdia) = child(data, trak, b"mdia")? else {
        return Ok(None);
    };
    let is_video = child(data, &mdia, b"hdlr")?
        .and_then(|h| data.get(h.body.start + 8..h.body.start + 12))
        == Some(b"vide");
    if !is_video {
        return Ok(None);
    }
    let Some(minf) = child(data, &mdia, b"minf")? else {
        return Ok(None);
    };
    let Some(stbl) = child(data, &minf, b"stbl")? else {
        return Ok(None);
    };
    let Some(stsd) = child(data, &stbl, b"stsd")? else {
        return Ok(None);
    };
    let entries = children(data, stsd.body.start + 8..stsd.body.end)?;
    let Some(avc) = entries
        .iter()
        .find(|b| &b.typ == b"avc1" || &b.typ == b"avc3")
    else {
        return Ok(None);
    };
    // VisualSampleEntry: 8 bytes SampleEntry + 70 bytes of picture fields before child boxes.
    let kids_from = avc.body.start + 78;
    if kids_from > avc.body.end {
        return Err(bad(format!(
            "avc1 sample entry at byte {} truncated",
            avc.start
        )));
    }
    let avcc = children(data, kids_from..avc.body.end)?
        .into_iter()
        .find(|b| &b.typ == b"avcC")
        .ok_or_else(|| {
            bad(format!(
                "avc1 sample entry at byte {} has no avcC",
                avc.start
            ))
        })?;
    let (length_size, parameter_sets) = parse_avcc(data, avcc.body.clone())?;

    let mut samples = Vec::new();
    let kids = children(data, stbl.body.clone())?;
    let find = |t: &[u8; 4]| kids.iter().find(|b| &b.typ == t).cloned();
    if let (Some(stsz), Some(stsc)) = (find(b"stsz"), find(b"stsc")) {
        let (co, wide) = match (find(b"stco"), find(b"co64")) {
            (Some(b), _) => (b, false),
            (None, Some(b)) => (b, true),
            _ => {
                return Err(bad(format!(
                    "stbl at byte {} has no chunk offsets",
                    stbl.start
                )));
            }
        };
        let e = |b: &Bx| {
            bad(format!(
                "'{}' at byte {} truncated",
                String::from_utf8_lossy(&b.typ),
                b.start
            ))
        };
        let fixed = be(data, stsz.body.start + 4, 4).ok_or_else(|| e(&stsz))?;
        let count = be(data, stsz.body.start + 8, 4).ok_or_else(|| e(&stsz))? as usize;
        // Every sample holds at least a length prefix: more samples than bytes is a lie that
        // would otherwise make us loop billions of times.
        if count > data.len() {
            return Err(bad(format!(
                "stsz at byte {} claims {count} samples in a {} byte file",
                stsz.start,
                data.len()
            )));
        }
        let size_of = |i: usize| -> Result<usize, Error> {
            if fixed != 0 {
                return Ok(fixed as usize);
            }
            Ok(be(data, stsz.body.start + 12 + 4 * i, 4).ok_or_else(|| e(&stsz))? as usize)
        };
        let nchunks = be(data, co.body.start + 4, 4).ok_or_else(|| e(&co))? as usize;
        let chunk = |i: usize| -> Result<usize, Error> {
            let w = if wide { 8 } else { 4 };
            Ok(be(data, co.body.start + 8 + w * i, w).ok_or_else(|| e(&co))? as usize)
        };
        let nstsc = be(data, stsc.body.start + 4, 4).ok_or_else(|| e(&stsc))? as usize;
        let stsc_at = |i: usize, f: usize| {
            be(data, stsc.body.start + 8 + 12 * i + 4 * f, 4).ok_or_else(|| e(&stsc))
        };
        let mut sample = 0usize;
        for k in 0..nstsc {
            let first = stsc_at(k, 0)? as usize;
            let per = stsc_at(k, 1)? as usize;
            let last = if k + 1 < nstsc {
                stsc_at(k + 1, 0)? as usize
            } else {
                nchunks + 1
            };
            for c in first..last.min(nchunks + 1) {
                let mut off = chunk(c.checked_sub(1).ok_or_else(|| e(&stsc))?)?;
                for _ in 0..per {
                    if sample >= count {
                        break;
                    }
                    let sz = size_of(sample)?;
                    if off.checked_add(sz).is_none_or(|end| end > data.len()) {
                        if truncated {
                            break;
                        }
                        return Err(bad(format!(
                            "sample {sample} at byte {off} ({sz} bytes) lies beyond the end of the file"
                        )));
                    }
                    samples.push((off, sz));
                    off = off.saturating_add(sz);
                    sample += 1;
                }
            }
        }
    }
    Ok(Some(TrackInfo {
        id,
        length_size,
        parameter_sets,
        samples,
        default_size: 0,
    }))
}

/// Samples of `track` in one fragment. `data[0]` is byte `origin` of the file (an absolute
/// base_data_offset is translated by it).
fn parse_moof(
    data: &[u8],
    origin: usize,
    moof: &Bx,
    track: &TrackInfo,
    truncated: bool,
    out: &mut Vec<(usize, usize)>,
) -> Result<(), Error> {
    let e = |b: &Bx| {
        bad(format!(
            "'{}' at byte {} truncated",
            String::from_utf8_lossy(&b.typ),
            b.start
        ))
    };
    for traf in children(data, moof.body.clone())?
        .into_iter()
        .filter(|b| &b.typ == b"traf")
    {
        let Some(tfhd) = child(data, &traf, b"tfhd")? else {
            continue;
        };
        let flags = be(data, tfhd.body.start, 4).ok_or_else(|| e(&tfhd))? & 0xff_ffff;
        let id = be(data, tfhd.body.start + 4, 4).ok_or_else(|| e(&tfhd))? as u32;
        if id != track.id {
            continue;
        }
        let mut p = tfhd.body.start + 8;
        let mut base = moof.start;
        if flags & 0x1 != 0 {
            base = (be(data, p, 8).ok_or_else(|| e(&tfhd))? as usize)
                .checked_sub(origin)
                .ok_or_else(|| e(&tfhd))?;
            p += 8;
        }
        if flags & 0x2 != 0 {
            p += 4;
        }
        if flags & 0x8 != 0 {
            p += 4;
        }
        let mut default_size = track.default_size as usize;
        if flags & 0x10 != 0 {
            default_size = be(data, p, 4).ok_or_else(|| e(&tfhd))? as usize;
        }
        let mut cursor = base;
        for trun in children(data, traf.body.clone())?
            .into_iter()
            .filter(|b| &b.typ == b"trun")
        {
            let tf = be(data, trun.body.start, 4).ok_or_else(|| e(&trun))? & 0xff_ffff;
            let n = be(data, trun.body.start + 4, 4).ok_or_else(|| e(&trun))? as usize;
            let mut q = trun.body.start + 8;
            if tf & 0x1 != 0 {
                let off = be(data, q, 4).ok_or_else(|| e(&trun))? as u32 as i32;
                cursor = (base as i64 + off as i64).max(0) as usize;
                q += 4;
            }
            if tf & 0x4 != 0 {
                q += 4;
            }
            let per = [0x100, 0x200, 0x400, 0x800]
                .iter()
                .filter(|f| tf & **f != 0)
                .count()
                * 4;
            if n > data.len() || n.saturating_mul(per) > trun.body.end.saturating_sub(q) {
                return Err(e(&trun));
            }
            for i in 0..n {
                let mut f = q + i * per;
                if tf & 0x100 != 0 {
                    f += 4;
                }
                let size = if tf & 0x200 != 0 {
                    be(data, f, 4).ok_or_else(|| e(&trun))? as usize
                } else {
                    default_size
                };
                if cursor.checked_add(size).is_none_or(|end| end > data.len()) {
                    if truncated {
                        return Ok(());
                    }
                    return Err(bad(format!(
                        "trun at byte {}: sample {i} at byte {cursor} ({size} bytes) lies beyond the file end",
                        trun.start
                    )));
                }
                out.push((cursor, size));
                cursor = cursor.saturating_add(size);
            }
        }
    }
    Ok(())
}

/// The H.264 track of a fragmented MP4 whose fragments are read one at a time
/// ([`Fragmented::fragment`]), so a recording is verified without holding it in memory.
pub struct Fragmented {
    track: TrackInfo,
}

impl Fragmented {
    /// From the boxes before the first fragment (ftyp, moov...). `None` when they hold no
    /// fragmented H.264 track (no `mvex`) or progressive samples, which need the whole file.
    pub fn from_head(head: &[u8]) -> Result<Option<Fragmented>, Error> {
        let (top, truncated) = top_level(head)?;
        let Some(moov) = top.iter().find(|b| &b.typ == b"moov") else {
            return Ok(None);
        };
        if truncated.is_some()
            || !children(head, moov.body.clone())?
                .iter()
                .any(|b| &b.typ == b"mvex")
        {
            return Ok(None);
        }
        let track = moov_track(head, moov, false)?;
        if !track.samples.is_empty() {
            return Ok(None);
        }
        Ok(Some(Fragmented { track }))
    }

    /// NAL length prefix size.
    pub fn length_size(&self) -> usize {
        self.track.length_size
    }

    /// SPS/PPS of the track's avcC, as ranges into the `head` given to [`Self::from_head`].
    pub fn parameter_sets(&self) -> &[Range<usize>] {
        &self.track.parameter_sets
    }

    /// The NAL units of one fragment: `data` holds the `moof` box (first) and the bytes after
    /// it (its `mdat`) and starts at byte `origin` of the file. Ranges are into `data`; with
    /// `truncated`, samples running past its end are left out instead of refused.
    pub fn fragment(
        &self,
        data: &[u8],
        origin: usize,
        truncated: bool,
    ) -> Result<Vec<Range<usize>>, Error> {
        let (top, _) = top_level(data)?;
        let Some(moof) = top.first().filter(|b| &b.typ == b"moof") else {
            return Err(bad(format!("no 'moof' box at byte {origin}")));
        };
        let mut samples = Vec::new();
        parse_moof(data, origin, moof, &self.track, truncated, &mut samples)?;
        sample_nals(data, samples, self.track.length_size, truncated)
    }
}

fn moov_track(data: &[u8], moov: &Bx, truncated: bool) -> Result<TrackInfo, Error> {
    let mut track = None;
    let moov_kids = children(data, moov.body.clone())?;
    for trak in moov_kids.iter().filter(|b| &b.typ == b"trak") {
        if let Some(t) = parse_trak(data, trak, truncated)? {
            track = Some(t);
            break;
        }
    }
    let mut track =
        track.ok_or_else(|| bad("no H.264 (avc1/avc3) video track in 'moov'".into()))?;
    if let Some(mvex) = moov_kids.iter().find(|b| &b.typ == b"mvex") {
        for trex in children(data, mvex.body.clone())?
            .into_iter()
            .filter(|b| &b.typ == b"trex")
        {
            if be(data, trex.body.start + 4, 4) == Some(track.id as u64) {
                track.default_size = be(data, trex.body.start + 16, 4).unwrap_or(0) as u32;
            }
        }
    }
    Ok(track)
}

/// Finds the first H.264 video track and lists its NAL units.
pub fn read_h264(data: &[u8]) -> Result<H264Track, Error> {
    let (top, truncated) = top_level(data)?;
    let moov = top
        .iter()
        .find(|b| &b.typ == b"moov")
        .ok_or_else(|| bad("no 'moov' box: not a playable MP4".into()))?;
    if let Some(t) = truncated.as_ref().filter(|_| moov.body.end == data.len()) {
        // Without the whole index there is nothing to read samples by.
        return Err(bad(t.clone()));
    }
    let mut track = moov_track(data, moov, truncated.is_some())?;
    let mut samples = std::mem::take(&mut track.samples);
    for moof in top.iter().filter(|b| &b.typ == b"moof") {
        if moof.body.end == data.len() && truncated.is_some() {
            break; // a fragment header cut short describes nothing that is here
        }
        parse_moof(data, 0, moof, &track, truncated.is_some(), &mut samples)?;
    }
    let nals = sample_nals(data, samples, track.length_size, false)?;
    Ok(H264Track {
        track_id: track.id,
        length_size: track.length_size,
        parameter_sets: track.parameter_sets,
        nals,
        truncated,
    })
}

/// The NAL units of samples (offset, size) in `data`.
fn sample_nals(
    data: &[u8],
    samples: Vec<(usize, usize)>,
    ls: usize,
    truncated: bool,
) -> Result<Vec<Range<usize>>, Error> {
    let mut nals = Vec::with_capacity(samples.len() * 2);
    for (k, (off, size)) in samples.into_iter().enumerate() {
        let Some(end) = off.checked_add(size).filter(|&e| e <= data.len()) else {
            if truncated {
                break;
            }
            return Err(bad(format!(
                "sample {k} at byte {off} ({size} bytes) lies beyond the end of the file ({} bytes)",
                data.len()
            )));
        };
        let mut p = off;
        while p < end {
            let len = be(data, p, ls).filter(|_| p + ls <= end).ok_or_else(|| {
                bad(format!(
                    "sample {k}: NAL length prefix at byte {p} crosses the sample end (byte {end})"
                ))
            })? as usize;
            let r = p + ls..p + ls + len;
            if r.end > end {
                return Err(bad(format!(
                    "sample {k}: NAL at byte {p} claims {len} bytes, sample ends {} bytes later",
                    end - r.start
                )));
            }
            if len > 0 {
                nals.push(r);
            }
            p += ls + len;
        }
    }
    Ok(nals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(typ: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(typ);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn box_outside_parent_is_an_error_with_offset() {
        let mut data = bx(b"ftyp", b"isom");
        data.extend_from_slice(&[0, 0, 1, 0, b'm', b'o', b'o', b'v']);
        let e = read_h264(&data).unwrap_err().to_string();
        assert!(e.contains("byte 12"), "{e}");
    }

    #[test]
    fn file_without_moov_is_unreadable() {
        let data = bx(b"ftyp", b"isom");
        assert!(matches!(read_h264(&data), Err(Error::Unreadable(_))));
    }
}
