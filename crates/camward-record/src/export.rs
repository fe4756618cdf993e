//! Export of a time range as one fragmented MP4: whole GOPs copied from the recordings, cut at
//! key frames so every exported GOP keeps its ONVIF signature chain verifiable.

use crate::error::{Error, IoContext, Result};
use crate::fmp4::{TRACK_ID, child, ntp_timestamp};
use crate::index::{Index, ListFilter, Trigger};
use crate::scan::{FileScan, FragmentInfo, scan};
use crate::timeutil::{ms_of, rfc3339};
use bytes::Bytes;
use mp4_atom::{Decode, Encode, Moov, Prft, ReferenceTime};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// Picture size from an init segment (ftyp+moov), for the index.
pub fn track_size(init: &[u8]) -> Option<(u32, u32)> {
    let (s, e) = child(init, 0, init.len(), b"moov")?;
    let moov = Moov::decode(&mut &init[s..e]).ok()?;
    let tkhd = &moov.trak.first()?.tkhd;
    Some((tkhd.width.integer() as u32, tkhd.height.integer() as u32))
}

/// The sample description (`stsd`) of an init segment: two files can be joined in one export
/// only when theirs are identical.
fn stsd(init: &[u8]) -> Option<&[u8]> {
    let mut range = child(init, 0, init.len(), b"moov")?;
    for kind in [b"trak", b"mdia", b"minf", b"stbl", b"stsd"] {
        range = child(init, range.0 + 8, range.1, kind)?;
    }
    Some(&init[range.0..range.1])
}

#[derive(Debug)]
enum Part {
    Mem(Bytes),
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

/// An export being produced: implements `Read`; its length is known up front (Content-Length).
#[derive(Debug)]
pub struct Export {
    parts: Vec<Part>,
    len: u64,
    part: usize,
    part_pos: u64,
    open: Option<(usize, File)>,
    /// Wall-clock span actually exported (whole GOPs, so it may be wider than asked).
    pub start_ms: i64,
    pub end_ms: i64,
    pub frames: u64,
    /// Recordings the export was cut from, oldest first.
    pub recordings: Vec<i64>,
}

impl Export {
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Read for Export {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some(part) = self.parts.get(self.part) else {
                return Ok(0);
            };
            let (part_len, n) = match part {
                Part::Mem(b) => {
                    let rest = &b[self.part_pos as usize..];
                    let n = rest.len().min(buf.len());
                    buf[..n].copy_from_slice(&rest[..n]);
                    (b.len() as u64, n)
                }
                Part::File { path, offset, len } => {
                    if self.open.as_ref().map(|o| o.0) != Some(self.part) {
                        let mut f = File::open(path)?;
                        f.seek(SeekFrom::Start(offset + self.part_pos))?;
                        self.open = Some((self.part, f));
                    }
                    let f = &mut self.open.as_mut().expect("opened above").1;
                    let want = ((len - self.part_pos) as usize).min(buf.len());
                    let n = f.read(&mut buf[..want])?;
                    if n == 0 && want > 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!("{} shrank while being exported", path.display()),
                        ));
                    }
                    (*len, n)
                }
            };
            self.part_pos += n as u64;
            if self.part_pos >= part_len {
                self.part += 1;
                self.part_pos = 0;
                self.open = None;
            }
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
        }
    }
}

/// Rewrites a stored moof for its place in the export: new sequence number and decode time.
/// Both fields have fixed sizes (tfdt is always version 1), so no offset inside moves.
fn patch_moof(moof: &mut [u8], sequence: u32, decode_time: u64) -> Option<()> {
    let len = moof.len();
    let (mfhd, _) = child(moof, 8, len, b"mfhd")?;
    moof[mfhd + 12..mfhd + 16].copy_from_slice(&sequence.to_be_bytes());
    let (traf, traf_end) = child(moof, 8, len, b"traf")?;
    let (tfdt, _) = child(moof, traf + 8, traf_end, b"tfdt")?;
    if moof[tfdt + 8] != 1 {
        return None;
    }
    moof[tfdt + 12..tfdt + 20].copy_from_slice(&decode_time.to_be_bytes());
    Some(())
}

/// Builds the export of `stream` over [from_ms, to_ms). Continuous recordings are used, or alarm
/// recordings where nothing continuous exists (they would duplicate each other otherwise).
/// Starts at the last key frame at or before `from_ms` and ends at the first key frame at or
/// after `to_ms`; for signed streams one more GOP is included, because the signature of a GOP
/// travels in the next one (notes/media-signing.md).
/// `camera` names an upstream camera (recorder mode); `None` exports this device's own stream.
pub fn export(
    index: &Index,
    camera: Option<&str>,
    stream: u8,
    from_ms: i64,
    to_ms: i64,
) -> Result<Export> {
    let nothing = || Error::NothingToExport {
        stream,
        from: rfc3339(from_ms),
        to: rfc3339(to_ms),
    };
    let rows = index.list(&ListFilter {
        camera: match camera {
            Some(c) => crate::index::CameraFilter::Named(c.to_owned()),
            None => crate::index::CameraFilter::Local,
        },
        stream: Some(stream),
        from_ms: Some(from_ms),
        to_ms: Some(to_ms),
    })?;
    let continuous: Vec<_> = rows
        .iter()
        .filter(|r| r.trigger == Trigger::Continuous)
        .cloned()
        .collect();
    let rows = if continuous.is_empty() {
        rows
    } else {
        continuous
    };
    let signed = rows.iter().any(|r| r.signed);
    let mut files: Vec<(i64, FileScan)> = Vec::new();
    for r in &rows {
        let s = scan(&index.dir().join(&r.path), false)?;
        if s.init.is_some() && !s.fragments.is_empty() {
            files.push((r.id, s));
        }
    }
    // (file index, fragment) in time order.
    let all: Vec<(usize, &FragmentInfo)> = files
        .iter()
        .enumerate()
        .flat_map(|(i, (_, s))| s.fragments.iter().map(move |f| (i, f)))
        .collect();
    let wall = |f: &FragmentInfo| f.wallclock.map(ms_of).unwrap_or(i64::MIN);
    let first = all
        .iter()
        .rposition(|(_, f)| f.starts_with_sync && wall(f) <= from_ms)
        .or_else(|| all.iter().position(|(_, f)| f.starts_with_sync))
        .ok_or_else(nothing)?;
    let mut last = first; // exclusive end
    let mut extra_gops = if signed { 1 } else { 0 };
    while last < all.len() {
        let f = all[last].1;
        if last > first && f.starts_with_sync && wall(f) >= to_ms {
            if extra_gops == 0 {
                break;
            }
            extra_gops -= 1;
        }
        last += 1;
    }
    let chosen = &all[first..last];
    let first_file = &files[chosen[0].0].1;
    let init = first_file.init.clone().expect("filtered on init");
    let init_stsd = stsd(&init).map(<[u8]>::to_vec);

    let mut parts = vec![Part::Mem(Bytes::from(init))];
    let mut recordings = Vec::new();
    let mut frames = 0u64;
    let mut sequence = 0u32;
    let mut out_end = 0u64; // decode time just past the last exported sample
    let mut file_base: Option<(usize, u64, u64)> = None; // (file, its first bdt, its output base)
    let export_start_ms = chosen[0].1.wallclock.map(ms_of).unwrap_or(0);
    let mut end_ms = export_start_ms;
    let mut opened: Option<(usize, File)> = None;
    for &(fi, f) in chosen {
        let (id, s) = &files[fi];
        if file_base.map(|b| b.0) != Some(fi) {
            if s.init.as_deref().and_then(stsd) != init_stsd.as_deref() {
                return Err(Error::FormatChange {
                    at: rfc3339(wall(f)),
                    path: s.path.clone(),
                });
            }
            // A file's media time restarts at 0: place it by wall clock after the previous one,
            // never overlapping it (decode times must increase).
            let by_wall = ((wall(f) - export_start_ms).max(0) as u64) * 90;
            let base = if file_base.is_none() {
                0
            } else {
                by_wall.max(out_end)
            };
            file_base = Some((fi, f.base_decode_time, base));
            recordings.push(*id);
        }
        let (_, file_first, base) = file_base.expect("set above");
        let dt = base + f.base_decode_time.saturating_sub(file_first);
        if opened.as_ref().map(|o| o.0) != Some(fi) {
            opened = Some((fi, File::open(&s.path).ctx("open", &s.path)?));
        }
        let file = &mut opened.as_mut().expect("opened above").1;
        let mut moof = vec![0u8; f.moof_len as usize];
        file.seek(SeekFrom::Start(f.moof_offset))
            .ctx("seek", &s.path)?;
        file.read_exact(&mut moof).ctx("read", &s.path)?;
        sequence += 1;
        patch_moof(&mut moof, sequence, dt).ok_or_else(|| Error::Malformed {
            path: s.path.clone(),
            offset: f.moof_offset,
            reason: "moof without mfhd/tfdt v1".into(),
        })?;
        if let Some(w) = f.wallclock {
            let mut prft = Vec::new();
            Prft {
                reference_track_id: TRACK_ID,
                ntp_timestamp: ntp_timestamp(w),
                media_time: dt,
                utc_time_semantics: ReferenceTime::Input,
            }
            .encode(&mut prft)
            .map_err(|source| Error::Encode {
                what: "prft",
                source,
            })?;
            parts.push(Part::Mem(prft.into()));
            end_ms = ms_of(w) + (f.duration / 90) as i64;
        }
        parts.push(Part::Mem(moof.into()));
        parts.push(Part::File {
            path: s.path.clone(),
            offset: f.mdat_offset,
            len: f.end - f.mdat_offset,
        });
        frames += f.samples as u64;
        out_end = dt + f.duration;
    }
    let len = parts
        .iter()
        .map(|p| match p {
            Part::Mem(b) => b.len() as u64,
            Part::File { len, .. } => *len,
        })
        .sum();
    Ok(Export {
        parts,
        len,
        part: 0,
        part_pos: 0,
        open: None,
        start_ms: export_start_ms,
        end_ms,
        frames,
        recordings,
    })
}
