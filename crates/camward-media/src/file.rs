//! `source = file:PATH`: loops an H.264 Annex-B or MP4 file without re-encoding.
//! Reads incrementally (memory stays bounded whatever the file size) and keeps time increasing across loops.

use crate::avc::{self, AuAssembler};
use bytes::Bytes;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a usable MP4 file: {detail}")]
    Mp4 { path: PathBuf, detail: String },
    #[error("{path}: {detail}")]
    Bitstream { path: PathBuf, detail: String },
}

/// One picture read from the file, with presentation time on the 90 kHz clock.
#[derive(Debug, Clone)]
pub struct FileFrame {
    pub pts90k: u64,
    pub key: bool,
    /// Key frames start with SPS and PPS.
    pub nals: Vec<Bytes>,
}

/// A looping reader of one file.
pub struct FileSource {
    path: PathBuf,
    fps: f64,
    inner: Inner,
    /// Added to file times on every pass so presentation time never goes back.
    loop_offset90k: u64,
    loops: u64,
}

enum Inner {
    AnnexB(AnnexB),
    Mp4(Box<Mp4>),
}

impl FileSource {
    /// Opens `path`. `fallback_fps` paces Annex-B files whose SPS carries no timing information.
    pub fn open(path: &Path, fallback_fps: u32) -> Result<FileSource, FileError> {
        let lower = path.to_string_lossy().to_ascii_lowercase();
        let is_mp4 = [".mp4", ".m4v", ".mov"].iter().any(|e| lower.ends_with(e));
        let (inner, fps) = if is_mp4 {
            let m = Mp4::open(path)?;
            let fps = m.fps;
            (Inner::Mp4(Box::new(m)), fps)
        } else {
            let mut a = AnnexB::open(path)?;
            // The first picture tells the rate (VUI timing) and proves the file holds H.264.
            let first = a.next_au()?.ok_or_else(|| FileError::Bitstream {
                path: path.to_owned(),
                detail: "no H.264 picture found (is it an Annex-B .h264 file?)".into(),
            })?;
            let fps = avc::parameter_sets(&first)
                .and_then(|(sps, _)| avc::sps_frame_rate(&sps))
                .filter(|f| (1.0..=240.0).contains(f))
                .unwrap_or(fallback_fps.max(1) as f64);
            a.rewind()?;
            a.fps = fps;
            (Inner::AnnexB(a), fps)
        };
        Ok(FileSource {
            path: path.to_owned(),
            fps,
            inner,
            loop_offset90k: 0,
            loops: 0,
        })
    }

    /// Nominal frames per second: the pace at which `next_frame` should be called.
    pub fn fps(&self) -> f64 {
        self.fps
    }

    /// Completed passes over the file.
    pub fn loops(&self) -> u64 {
        self.loops
    }

    /// The next picture, wrapping to the start at the end of the file.
    pub fn next_frame(&mut self) -> Result<FileFrame, FileError> {
        for attempt in 0..2 {
            let got = match &mut self.inner {
                Inner::AnnexB(a) => a.next_frame()?,
                Inner::Mp4(m) => m.next_frame()?,
            };
            if let Some(mut f) = got {
                f.pts90k += self.loop_offset90k;
                return Ok(f);
            }
            if attempt == 1 {
                break;
            }
            let span = match &mut self.inner {
                Inner::AnnexB(a) => {
                    let s = a.span90k();
                    a.rewind()?;
                    s
                }
                Inner::Mp4(m) => {
                    let s = m.span90k();
                    m.rewind();
                    s
                }
            };
            self.loop_offset90k += span;
            self.loops += 1;
        }
        Err(FileError::Bitstream {
            path: self.path.clone(),
            detail: "no decodable picture (no IDR) in the file".into(),
        })
    }
}

/// Streaming Annex-B reader: 64 KiB reads, NAL units cut at start codes.
struct AnnexB {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    /// Start of unconsumed data in `buf`.
    pos: usize,
    eof: bool,
    asm: AuAssembler,
    pending: Option<Vec<Bytes>>,
    fps: f64,
    /// Pictures delivered in this pass; times are frame counts at the nominal rate since raw
    /// Annex-B carries no timestamps (pictures are paced in decoding order).
    count: u64,
    synced: bool,
    params: Option<(Bytes, Bytes)>,
}

impl AnnexB {
    fn open(path: &Path) -> Result<AnnexB, FileError> {
        let file = File::open(path).map_err(|source| FileError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(AnnexB {
            path: path.to_owned(),
            file,
            buf: Vec::with_capacity(128 * 1024),
            pos: 0,
            eof: false,
            asm: AuAssembler::default(),
            pending: None,
            fps: 25.0,
            count: 0,
            synced: false,
            params: None,
        })
    }

    fn rewind(&mut self) -> Result<(), FileError> {
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(|source| FileError::Read {
                path: self.path.clone(),
                source,
            })?;
        self.buf.clear();
        self.pos = 0;
        self.eof = false;
        self.asm = AuAssembler::default();
        self.pending = None;
        self.count = 0;
        self.synced = false;
        Ok(())
    }

    fn span90k(&self) -> u64 {
        (self.count as f64 * 90_000.0 / self.fps).round() as u64
    }

    fn fill(&mut self) -> Result<(), FileError> {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + 64 * 1024, 0);
        let n = self
            .file
            .read(&mut self.buf[old..])
            .map_err(|source| FileError::Read {
                path: self.path.clone(),
                source,
            })?;
        self.buf.truncate(old + n);
        if n == 0 {
            self.eof = true;
        }
        Ok(())
    }

    /// The next NAL unit (no start code, no trailing zeros), or `None` at end of file.
    fn next_nal(&mut self) -> Result<Option<Bytes>, FileError> {
        loop {
            let data = &self.buf[self.pos..];
            // Skip to the first start code; anything before it is not a NAL unit.
            let Some(start) = find_start_code(data, 0) else {
                if self.eof {
                    self.pos = self.buf.len();
                    return Ok(None);
                }
                // Keep the last two bytes: they may begin a start code split across reads.
                self.pos = self.buf.len().saturating_sub(2).max(self.pos);
                self.fill()?;
                continue;
            };
            let body = start + 3;
            match find_start_code(data, body) {
                Some(next) => {
                    let nal = trim_zeros(&data[body..next]);
                    let out = Bytes::copy_from_slice(nal);
                    self.pos += next;
                    if out.is_empty() {
                        continue;
                    }
                    return Ok(Some(out));
                }
                None if self.eof => {
                    let nal = trim_zeros(&data[body..]);
                    let out = Bytes::copy_from_slice(nal);
                    self.pos = self.buf.len();
                    if out.is_empty() {
                        return Ok(None);
                    }
                    return Ok(Some(out));
                }
                None => {
                    if data.len() - body > avc::MAX_NAL_BYTES {
                        return Err(FileError::Bitstream {
                            path: self.path.clone(),
                            detail: format!(
                                "NAL unit larger than {} bytes: not an H.264 Annex-B file?",
                                avc::MAX_NAL_BYTES
                            ),
                        });
                    }
                    self.fill()?;
                }
            }
        }
    }

    /// The next access unit in file order, or `None` at end of file.
    fn next_au(&mut self) -> Result<Option<Vec<Bytes>>, FileError> {
        if let Some(p) = self.pending.take() {
            return Ok(Some(p));
        }
        while let Some(nal) = self.next_nal()? {
            if let Some(au) = self.asm.push(nal) {
                return Ok(Some(au));
            }
        }
        Ok(self.asm.finish())
    }

    fn next_frame(&mut self) -> Result<Option<FileFrame>, FileError> {
        while let Some(nals) = self.next_au()? {
            if let Some(ps) = avc::parameter_sets(&nals) {
                self.params = Some(ps);
            }
            let key = avc::is_idr(&nals);
            // Each pass starts at an IDR so a consumer joining at the loop point can decode.
            if !self.synced && !key {
                continue;
            }
            let Some((sps, pps)) = &self.params else {
                continue;
            };
            self.synced = true;
            let nals = avc::with_parameter_sets(nals, key, sps, pps);
            let pts90k = (self.count as f64 * 90_000.0 / self.fps).round() as u64;
            self.count += 1;
            return Ok(Some(FileFrame { pts90k, key, nals }));
        }
        Ok(None)
    }
}

fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 3 <= data.len() {
        if data[i + 2] > 1 {
            i += 3;
        } else if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            return Some(i);
        } else {
            i += 1;
        }
    }
    None
}

fn trim_zeros(mut nal: &[u8]) -> &[u8] {
    while let [rest @ .., 0] = nal {
        nal = rest;
    }
    nal
}

/// MP4 reader over the first H.264 video track; samples are read one at a time.
struct Mp4 {
    path: PathBuf,
    reader: mp4::Mp4Reader<BufReader<File>>,
    track: u32,
    timescale: u32,
    samples: u32,
    next: u32,
    length_size: usize,
    sps: Bytes,
    pps: Bytes,
    fps: f64,
    /// Decode time + duration of the last sample: the length of one pass.
    end_time: u64,
    synced: bool,
}

impl Mp4 {
    fn open(path: &Path) -> Result<Mp4, FileError> {
        let bad = |detail: String| FileError::Mp4 {
            path: path.to_owned(),
            detail,
        };
        let file = File::open(path).map_err(|source| FileError::Open {
            path: path.to_owned(),
            source,
        })?;
        let size = file
            .metadata()
            .map_err(|source| FileError::Read {
                path: path.to_owned(),
                source,
            })?
            .len();
        let reader = mp4::Mp4Reader::read_header(BufReader::new(file), size)
            .map_err(|e| bad(e.to_string()))?;
        let (track, t) = reader
            .tracks()
            .iter()
            .filter(|(_, t)| t.trak.mdia.minf.stbl.stsd.avc1.is_some())
            .min_by_key(|(id, _)| **id)
            .ok_or_else(|| bad("no H.264 (avc1) video track".into()))?;
        let avcc = &t
            .trak
            .mdia
            .minf
            .stbl
            .stsd
            .avc1
            .as_ref()
            .expect("filtered on avc1")
            .avcc;
        let sps = avcc
            .sequence_parameter_sets
            .first()
            .ok_or_else(|| bad("avcC has no SPS".into()))?;
        let pps = avcc
            .picture_parameter_sets
            .first()
            .ok_or_else(|| bad("avcC has no PPS".into()))?;
        let samples = t.sample_count();
        let timescale = t.timescale().max(1);
        if samples == 0 {
            return Err(bad(
                "the video track has no samples (fragmented MP4 is not supported)".into(),
            ));
        }
        let duration_s = t.duration().as_secs_f64();
        let fps = if duration_s > 0.0 {
            samples as f64 / duration_s
        } else {
            25.0
        };
        Ok(Mp4 {
            path: path.to_owned(),
            track: *track,
            timescale,
            samples,
            next: 1,
            length_size: avcc.length_size_minus_one as usize % 4 + 1,
            sps: Bytes::copy_from_slice(&sps.bytes),
            pps: Bytes::copy_from_slice(&pps.bytes),
            fps: fps.clamp(1.0, 240.0),
            end_time: 0,
            synced: false,
            reader,
        })
    }

    fn to90k(&self, t: i64) -> i64 {
        (t as i128 * 90_000 / self.timescale as i128) as i64
    }

    fn rewind(&mut self) {
        self.next = 1;
        self.synced = false;
    }

    fn span90k(&self) -> u64 {
        self.to90k(self.end_time as i64).max(0) as u64
    }

    fn next_frame(&mut self) -> Result<Option<FileFrame>, FileError> {
        while self.next <= self.samples {
            let id = self.next;
            self.next += 1;
            let s = self
                .reader
                .read_sample(self.track, id)
                .map_err(|e| FileError::Mp4 {
                    path: self.path.clone(),
                    detail: format!("sample {id}: {e}"),
                })?;
            let Some(s) = s else { continue };
            self.end_time = self.end_time.max(s.start_time + s.duration as u64);
            if !self.synced && !s.is_sync {
                continue;
            }
            self.synced = true;
            let nals = avc::split_length_prefixed(&s.bytes, self.length_size).map_err(|e| {
                FileError::Bitstream {
                    path: self.path.clone(),
                    detail: format!("sample {id}: {e}"),
                }
            })?;
            let key = s.is_sync || avc::is_idr(&nals);
            let nals = avc::with_parameter_sets(nals, key, &self.sps, &self.pps);
            // Presentation time = decode time + composition offset (B-frames), as RTP wants.
            let pts = self
                .to90k(s.start_time as i64 + s.rendering_offset as i64)
                .max(0) as u64;
            return Ok(Some(FileFrame {
                pts90k: pts,
                key,
                nals,
            }));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::{EncoderParams, H264Encoder};
    use crate::testsrc::TestScene;
    use std::io::Write;
    use std::time::UNIX_EPOCH;

    /// An Annex-B file of `n` testsrc pictures (no VUI timing: openh264 writes none).
    fn write_h264(n: u64, gop: u32) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".h264").tempfile().unwrap();
        let scene = TestScene::new(160, 90, 10);
        let mut enc = H264Encoder::new(EncoderParams {
            width: 160,
            height: 90,
            fps: 10,
            bitrate_kbps: 128,
            gop,
        })
        .unwrap();
        for i in 0..n {
            let au = enc
                .encode(&scene.render(i, UNIX_EPOCH), i * 100)
                .unwrap()
                .unwrap();
            let mut out = Vec::new();
            camward_h264::annexb::join(au.nals.iter().map(|n| &n[..]), &mut out);
            f.write_all(&out).unwrap();
        }
        f.flush().unwrap();
        f
    }

    #[test]
    fn file_source_loops_with_monotonic_pts() {
        let f = write_h264(12, 5);
        let mut src = FileSource::open(f.path(), 10).unwrap();
        assert_eq!(
            src.fps(),
            10.0,
            "no VUI timing: falls back to the stream's rate"
        );
        let frames: Vec<FileFrame> = (0..30).map(|_| src.next_frame().unwrap()).collect();
        assert!(src.loops() >= 2);
        let pts: Vec<u64> = frames.iter().map(|f| f.pts90k).collect();
        assert!(
            pts.windows(2).all(|w| w[1] > w[0]),
            "pts must keep increasing across loops: {pts:?}"
        );
        assert_eq!(pts[1] - pts[0], 9000);
        assert_eq!(
            pts[12],
            12 * 9000,
            "the second pass continues where the first ended"
        );
        let keys: Vec<usize> = frames
            .iter()
            .enumerate()
            .filter(|(_, f)| f.key)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(keys, vec![0, 5, 10, 12, 17, 22, 24, 29]);
        for f in frames.iter().filter(|f| f.key) {
            assert_eq!(
                camward_h264::NalType::of(&f.nals[0]),
                camward_h264::NalType::Sps
            );
            assert_eq!(
                camward_h264::NalType::of(&f.nals[1]),
                camward_h264::NalType::Pps
            );
        }
    }

    #[test]
    fn annexb_reader_handles_nals_split_across_reads() {
        // Pictures larger than one 64 KiB read: a high bit rate keyframe-only stream.
        let mut f = tempfile::Builder::new().suffix(".264").tempfile().unwrap();
        let scene = TestScene::new(640, 360, 10);
        let mut enc = H264Encoder::new(EncoderParams {
            width: 640,
            height: 360,
            fps: 10,
            bitrate_kbps: 16000,
            gop: 1,
        })
        .unwrap();
        let mut sizes = Vec::new();
        for i in 0..6 {
            let au = enc
                .encode(&scene.render(i, UNIX_EPOCH), i * 100)
                .unwrap()
                .unwrap();
            let mut out = Vec::new();
            camward_h264::annexb::join(au.nals.iter().map(|n| &n[..]), &mut out);
            sizes.push(au.nals.iter().map(|n| n.len()).sum::<usize>());
            f.write_all(&out).unwrap();
        }
        f.flush().unwrap();
        let mut src = FileSource::open(f.path(), 10).unwrap();
        for (i, want) in sizes.iter().enumerate() {
            let fr = src.next_frame().unwrap();
            assert_eq!(
                fr.nals.iter().map(|n| n.len()).sum::<usize>(),
                *want,
                "picture {i}"
            );
        }
    }

    #[test]
    fn missing_or_bogus_files_are_clear_errors() {
        let e = FileSource::open(Path::new("/nonexistent/clip.h264"), 10)
            .err()
            .unwrap();
        assert!(e.to_string().contains("/nonexistent/clip.h264"), "{e}");
        let mut junk = tempfile::Builder::new().suffix(".h264").tempfile().unwrap();
        junk.write_all(&[0x42; 5000]).unwrap();
        let e = FileSource::open(junk.path(), 10).err().unwrap();
        assert!(e.to_string().contains("no H.264 picture"), "{e}");
        let mut junk = tempfile::Builder::new().suffix(".mp4").tempfile().unwrap();
        junk.write_all(&[0x42; 5000]).unwrap();
        assert!(matches!(
            FileSource::open(junk.path(), 10),
            Err(FileError::Mp4 { .. })
        ));
    }
}
