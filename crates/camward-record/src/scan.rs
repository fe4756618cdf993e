//! Reads recordings back: walks the top-level boxes of a file and lists its complete fragments.
//! Recovery, index rebuild and export all trust this walk, never the index, for what a file holds.

use crate::error::{IoContext, Result};
use crate::fmp4::{SYNC_SAMPLE_FLAGS, from_ntp_timestamp};
use camward_h264::NalType;
use mp4_atom::{Decode, Moof, Prft};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The ONVIF Media Signing SEI's UUID (user data unregistered), see notes/media-signing.md.
pub const ONVIF_SIGNING_UUID: [u8; 16] = [
    0x00, 0x5b, 0xc9, 0x3f, 0x2d, 0x71, 0x5e, 0x95, 0xad, 0xa4, 0x79, 0x6f, 0x90, 0x87, 0x7a, 0x6f,
];

/// Largest moof we accept: ours are ~16 bytes per sample, so this is thousands of samples;
/// a bigger size field is corruption, and reading it would allocate whatever it claims.
const MAX_MOOF: u64 = 4 << 20;

/// True for an SEI NAL unit carrying an ONVIF Media Signing payload (type 5 + the UUID).
pub fn is_signing_sei(nal: &[u8]) -> bool {
    if NalType::of(nal) != NalType::Sei {
        return false;
    }
    // Skip payload type and size (each a run of 0xFF bytes then one byte) to the payload.
    let mut i = 1;
    let mut ptype = 0usize;
    while let Some(&b) = nal.get(i) {
        ptype += b as usize;
        i += 1;
        if b != 0xff {
            break;
        }
    }
    while let Some(&b) = nal.get(i) {
        i += 1;
        if b != 0xff {
            break;
        }
    }
    ptype == 5 && nal.get(i..i + 16) == Some(&ONVIF_SIGNING_UUID[..])
}

/// One complete fragment (prft? + moof + mdat) found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentInfo {
    /// Where the fragment starts (its prft, or its moof when there is none).
    pub offset: u64,
    pub moof_offset: u64,
    pub moof_len: u64,
    pub mdat_offset: u64,
    /// One past the mdat: everything before this is a playable file.
    pub end: u64,
    pub sequence: u32,
    pub base_decode_time: u64,
    /// Sum of the sample durations, in 90 kHz units.
    pub duration: u64,
    pub samples: u32,
    /// Starts at an IDR: exports may start here without breaking decoding or signatures.
    pub starts_with_sync: bool,
    /// Wall-clock time of the first sample, from prft.
    pub wallclock: Option<SystemTime>,
}

/// What a walk over a file found.
#[derive(Debug, Clone)]
pub struct FileScan {
    pub path: PathBuf,
    pub file_len: u64,
    /// ftyp + moov bytes, when both are complete.
    pub init: Option<Vec<u8>>,
    pub fragments: Vec<FragmentInfo>,
    /// Length of the valid prefix: end of the last complete fragment, or of the init segment.
    pub valid_len: u64,
    /// Why the walk stopped before the end of the file, if it did (crash tail, corruption).
    pub stopped: Option<String>,
    /// Some sample carried an ONVIF signing SEI (only known after a deep scan).
    pub signed: bool,
}

impl FileScan {
    pub fn frames(&self) -> u64 {
        self.fragments.iter().map(|f| f.samples as u64).sum()
    }
    /// Media duration covered by the complete fragments, in 90 kHz units.
    pub fn duration(&self) -> u64 {
        self.fragments.iter().map(|f| f.duration).sum()
    }
    /// Wall-clock span (start, end) of the complete fragments.
    pub fn span(&self) -> Option<(SystemTime, SystemTime)> {
        let first = self.fragments.first()?;
        let last = self.fragments.last()?;
        let start = first.wallclock?;
        let end = last.wallclock? + std::time::Duration::from_micros(last.duration * 100 / 9);
        Some((start, end))
    }
}

struct Moofinfo {
    sequence: u32,
    base_decode_time: u64,
    duration: u64,
    sizes: Vec<u32>,
    data_offset: Option<i32>,
    starts_with_sync: bool,
}

fn parse_moof(buf: &[u8]) -> std::result::Result<Moofinfo, String> {
    let moof = Moof::decode(&mut &buf[..]).map_err(|e| format!("moof does not decode: {e}"))?;
    let traf = moof.traf.first().ok_or("moof without traf")?;
    let base_decode_time = traf
        .tfdt
        .as_ref()
        .map(|t| t.base_media_decode_time)
        .ok_or("traf without tfdt")?;
    let trun = traf.trun.first().ok_or("traf without trun")?;
    let mut duration = 0u64;
    let mut sizes = Vec::with_capacity(trun.samples.len());
    let mut first_flags = None;
    for (i, e) in trun.samples.iter().enumerate() {
        duration += e
            .duration
            .or(traf.tfhd.default_sample_duration)
            .unwrap_or(0) as u64;
        sizes.push(
            e.size
                .or(traf.tfhd.default_sample_size)
                .ok_or("sample without size")?,
        );
        if i == 0 {
            first_flags = e.flags.or(traf.tfhd.default_sample_flags);
        }
    }
    Ok(Moofinfo {
        sequence: moof.mfhd.sequence_number,
        base_decode_time,
        duration,
        sizes,
        data_offset: trun.data_offset,
        starts_with_sync: first_flags == Some(SYNC_SAMPLE_FLAGS)
            || first_flags.is_some_and(|f| f & 0x0001_0000 == 0 && f & 0x0300_0000 == 0x0200_0000),
    })
}

/// Checks that a sample is a sequence of non-empty length-prefixed NAL units filling it exactly
/// (catches zero-filled or half-written tails); reports an ONVIF signing SEI inside.
fn check_sample(sample: &[u8]) -> std::result::Result<bool, String> {
    let mut pos = 0;
    let mut signed = false;
    while pos < sample.len() {
        let Some(len) = sample.get(pos..pos + 4) else {
            return Err("NAL length prefix cut short".into());
        };
        let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
        if len == 0 || pos + 4 + len > sample.len() {
            return Err(format!("NAL length {len} does not fit the sample"));
        }
        let nal = &sample[pos + 4..pos + 4 + len];
        if nal[0] & 0x80 != 0 {
            return Err("NAL forbidden_zero_bit set".into());
        }
        signed |= is_signing_sei(nal);
        pos += 4 + len;
    }
    if sample.is_empty() {
        return Err("empty sample".into());
    }
    Ok(signed)
}

/// Walks `path`. With `deep`, also reads every sample to check its NAL framing and look for
/// signing SEIs (recovery and rebuild); without, reads only headers and moofs (export).
pub fn scan(path: &Path, deep: bool) -> Result<FileScan> {
    let file = File::open(path).ctx("open", path)?;
    let file_len = file.metadata().ctx("stat", path)?.len();
    scan_from(
        BufReader::with_capacity(256 * 1024, file),
        file_len,
        path,
        deep,
    )
}

/// [`scan`] over any reader of `file_len` bytes; `path` only names the file in the result and in
/// errors. Reads never go past `file_len`: every length is checked against it first.
pub fn scan_from<R: Read + Seek>(
    mut r: R,
    file_len: u64,
    path: &Path,
    deep: bool,
) -> Result<FileScan> {
    let mut out = FileScan {
        path: path.to_owned(),
        file_len,
        init: None,
        fragments: Vec::new(),
        valid_len: 0,
        stopped: None,
        signed: false,
    };
    let mut init = Vec::new();
    let mut pos = 0u64;
    let mut prft: Option<(u64, SystemTime)> = None;
    let mut moof: Option<(u64, u64, Moofinfo)> = None;
    let mut index = 0;
    let stop = |out: &mut FileScan, at: u64, why: String| {
        out.stopped = Some(format!("offset {at}: {why}"));
    };
    loop {
        if pos == file_len {
            break;
        }
        if pos + 8 > file_len {
            stop(&mut out, pos, "box header cut short".into());
            break;
        }
        r.seek(SeekFrom::Start(pos)).ctx("seek", path)?;
        let mut hdr = [0u8; 8];
        r.read_exact(&mut hdr).ctx("read", path)?;
        let mut size = u32::from_be_bytes(hdr[..4].try_into().expect("4")) as u64;
        let kind: [u8; 4] = hdr[4..].try_into().expect("4");
        let mut hdr_len = 8;
        if size == 1 {
            if pos + 16 > file_len {
                stop(&mut out, pos, "large box header cut short".into());
                break;
            }
            let mut big = [0u8; 8];
            r.read_exact(&mut big).ctx("read", path)?;
            size = u64::from_be_bytes(big);
            hdr_len = 16;
        }
        if size < hdr_len || size == 0 {
            stop(
                &mut out,
                pos,
                format!("box size {size} is invalid (zeroed or torn write)"),
            );
            break;
        }
        // `size > file_len - pos`, not `pos + size > file_len`: a 64-bit size field can be anything.
        if size > file_len - pos {
            stop(
                &mut out,
                pos,
                format!(
                    "{} box of {size} bytes cut short",
                    String::from_utf8_lossy(&kind)
                ),
            );
            break;
        }
        let body_len = size - hdr_len;
        let expected_init = match index {
            0 => Some(*b"ftyp"),
            1 => Some(*b"moov"),
            _ => None,
        };
        if let Some(exp) = expected_init {
            if kind != exp {
                let why = format!(
                    "expected {} box, found {:?}",
                    String::from_utf8_lossy(&exp),
                    String::from_utf8_lossy(&kind)
                );
                stop(&mut out, pos, why);
                break;
            }
            if body_len > MAX_MOOF {
                stop(&mut out, pos, "init segment too large".into());
                break;
            }
            init.extend_from_slice(&hdr[..8]);
            let mut body = vec![0u8; (size - 8) as usize];
            r.read_exact(&mut body).ctx("read", path)?;
            init.extend_from_slice(&body);
            if index == 1 {
                out.init = Some(std::mem::take(&mut init));
                out.valid_len = pos + size;
            }
        } else {
            match &kind {
                b"prft" => {
                    let mut buf = hdr[..8].to_vec();
                    buf.resize(size as usize, 0);
                    r.read_exact(&mut buf[8..]).ctx("read", path)?;
                    match Prft::decode(&mut &buf[..]) {
                        Ok(p) => prft = Some((pos, from_ntp_timestamp(p.ntp_timestamp))),
                        Err(e) => {
                            stop(&mut out, pos, format!("prft does not decode: {e}"));
                            break;
                        }
                    }
                }
                b"moof" => {
                    if size > MAX_MOOF {
                        stop(
                            &mut out,
                            pos,
                            format!("moof of {size} bytes is implausible"),
                        );
                        break;
                    }
                    let mut buf = hdr[..8].to_vec();
                    buf.resize(size as usize, 0);
                    r.read_exact(&mut buf[8..]).ctx("read", path)?;
                    match parse_moof(&buf) {
                        Ok(m) => moof = Some((pos, size, m)),
                        Err(e) => {
                            stop(&mut out, pos, e);
                            break;
                        }
                    }
                }
                b"mdat" => {
                    let Some((moof_off, moof_len, m)) = moof.take() else {
                        stop(&mut out, pos, "mdat without moof".into());
                        break;
                    };
                    let total: u64 = m.sizes.iter().map(|s| *s as u64).sum();
                    let data_start = pos + hdr_len;
                    if total != body_len
                        || m.data_offset.map(|d| moof_off + d as u64) != Some(data_start)
                    {
                        stop(
                            &mut out,
                            pos,
                            format!(
                                "mdat of {body_len} bytes does not match its moof ({total} bytes of samples)"
                            ),
                        );
                        break;
                    }
                    if deep {
                        let mut bad = None;
                        let mut sample = Vec::new();
                        for (i, s) in m.sizes.iter().enumerate() {
                            sample.resize(*s as usize, 0);
                            r.read_exact(&mut sample).ctx("read", path)?;
                            match check_sample(&sample) {
                                Ok(signed) => out.signed |= signed,
                                Err(e) => {
                                    bad = Some(format!("sample {i}: {e}"));
                                    break;
                                }
                            }
                        }
                        if let Some(e) = bad {
                            stop(&mut out, pos, e);
                            break;
                        }
                    }
                    let (offset, wallclock) = match prft.take() {
                        Some((o, w)) if o < moof_off => (o, Some(w)),
                        _ => (moof_off, None),
                    };
                    out.fragments.push(FragmentInfo {
                        offset,
                        moof_offset: moof_off,
                        moof_len,
                        mdat_offset: pos,
                        end: pos + size,
                        sequence: m.sequence,
                        base_decode_time: m.base_decode_time,
                        duration: m.duration,
                        samples: m.sizes.len() as u32,
                        starts_with_sync: m.starts_with_sync,
                        wallclock,
                    });
                    out.valid_len = pos + size;
                }
                _ => {
                    // Only our own three fragment boxes are expected; anything else is damage.
                    stop(
                        &mut out,
                        pos,
                        format!("unexpected {:?} box", String::from_utf8_lossy(&kind)),
                    );
                    break;
                }
            }
        }
        index += 1;
        pos += size;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((8 + body.len()) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn a_64_bit_box_size_beyond_the_file_stops_the_walk_instead_of_wrapping() {
        let mut file = bx(b"ftyp", b"isom\0\0\0\0");
        file.extend(bx(b"moov", &[]));
        let init_end = file.len() as u64;
        // A large-size prft claiming almost 2^64 bytes: `pos + size` used to wrap and pass the
        // bounds check, then the walk tried to allocate the claimed size.
        file.extend_from_slice(&1u32.to_be_bytes());
        file.extend_from_slice(b"prft");
        file.extend_from_slice(&(u64::MAX - 8).to_be_bytes());
        file.extend_from_slice(&[0; 32]);
        let s = scan_from(
            Cursor::new(&file),
            file.len() as u64,
            Path::new("t.mp4"),
            true,
        )
        .unwrap();
        assert_eq!(s.valid_len, init_end);
        assert!(s.fragments.is_empty());
        assert!(s.stopped.unwrap().contains("cut short"));
    }
}
