//! One recording file being written, with the write/fsync order that makes it crash-safe:
//! row before file, init then fsync(file, dir), then per fragment write, fdatasync, index update.

use crate::error::{Error, IoContext, Result};
use crate::fmp4::{Sample, TrackParams, fragment, init_segment};
use crate::index::{Index, State, Trigger};
use crate::timeutil::ms_of;
use crate::transform::{SampleAux, SampleTransform};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// fsync of a directory: makes a created, renamed or removed entry survive power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("fsync directory", dir)
}

/// Whose stream a file records: this device's Stream(n) (`camera: None`) or an upstream
/// camera's (recorder mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    pub camera: Option<&'a str>,
    pub stream: u8,
}

/// A file being recorded. Everything before `bytes` is durable and indexed.
pub struct RecordingFile {
    pub id: i64,
    pub path: PathBuf,
    pub params: Arc<TrackParams>,
    index: Arc<Index>,
    file: File,
    transform: Box<dyn SampleTransform>,
    encrypted: bool,
    bytes: u64,
    frames: u64,
    skipped: u64,
    signed: bool,
    sequence: u32,
    /// pts of the first sample: decode time 0 of this file.
    first_pts: u64,
    /// pts just past the last written sample.
    end_pts: u64,
    end_ms: i64,
}

impl std::fmt::Debug for RecordingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingFile")
            .field("id", &self.id)
            .field("path", &self.path)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl RecordingFile {
    /// Creates the row, then the file with its init segment, durably (see docs/design/recording.md).
    pub fn create(
        index: &Arc<Index>,
        origin: Origin<'_>,
        trigger: Trigger,
        params: Arc<TrackParams>,
        first_pts: u64,
        start: SystemTime,
        mut transform: Box<dyn SampleTransform>,
    ) -> Result<RecordingFile> {
        let start_ms = ms_of(start);
        // 1. The row first, durable: a file on disk always has a row and a unique id.
        let (id, rel) = index.create_recording(
            origin.camera,
            origin.stream,
            trigger,
            start_ms,
            params.width,
            params.height,
        )?;
        let path = index.dir().join(&rel);
        let undo = |e: Error| {
            let _ = std::fs::remove_file(&path);
            let _ = index.delete(id);
            e
        };
        let stream_dir = path
            .parent()
            .expect("recording path has a directory")
            .to_owned();
        if !stream_dir.exists() {
            std::fs::create_dir_all(&stream_dir)
                .ctx("create directory", &stream_dir)
                .map_err(undo)?;
            // Every directory that may have gained an entry: an upstream camera's
            // `cameras/NAME/streamN` can create three levels at once.
            let mut at = stream_dir.parent();
            while let Some(d) = at {
                sync_dir(d).map_err(undo)?;
                if d == index.dir() {
                    break;
                }
                at = d.parent();
            }
        }
        // 2. The file, exclusively: an existing file with this name would be another recording.
        // Owner-only: recordings are video of people (and the index names them).
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .ctx("create", &path)
            .map_err(undo)?;
        let protection = transform
            .start_file(&params)
            .map_err(|e| undo(Error::Transform(e.0)))?;
        let init = init_segment(&params, &protection, start).map_err(undo)?;
        // 3. Init segment, fdatasync, then the directory entry: the file exists and is parseable.
        file.write_all(&init).ctx("write", &path).map_err(undo)?;
        file.sync_data().ctx("fdatasync", &path).map_err(undo)?;
        sync_dir(&stream_dir).map_err(undo)?;
        let encrypted = protection.is_encrypted();
        if encrypted || protection.key_info.is_some() {
            index
                .set_protection(id, encrypted, protection.key_info.as_deref())
                .map_err(undo)?;
        }
        index
            .update_progress(id, start_ms, init.len() as u64, 0, 0, false)
            .map_err(undo)?;
        tracing::info!(id, path = %path.display(), "recording started");
        Ok(RecordingFile {
            id,
            path,
            params,
            index: index.clone(),
            file,
            transform,
            encrypted,
            bytes: init.len() as u64,
            frames: 0,
            skipped: 0,
            signed: false,
            sequence: 0,
            first_pts,
            end_pts: first_pts,
            end_ms: start_ms,
        })
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
    pub fn frames(&self) -> u64 {
        self.frames
    }
    /// pts just past the last sample written.
    pub fn end_pts(&self) -> u64 {
        self.end_pts
    }
    /// Media time covered so far, in 90 kHz units.
    pub fn media_duration(&self) -> u64 {
        self.end_pts - self.first_pts
    }
    /// Media time the file would cover if its samples ended at `end_pts`.
    pub fn media_duration_until(&self, end_pts: u64) -> u64 {
        end_pts.saturating_sub(self.first_pts)
    }

    /// Notes access units lost before they reached this file (counted in the index).
    pub fn add_skipped(&mut self, n: u64) {
        self.skipped += n;
    }

    /// Appends one fragment and makes it durable; only then does the index learn of it.
    /// On failure the file is cut back to its last durable fragment, so it stays playable.
    pub fn append(
        &mut self,
        samples: Vec<Sample>,
        first_pts: u64,
        wallclock: SystemTime,
        signed: bool,
    ) -> Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        let frames = samples.len() as u64;
        let duration: u64 = samples.iter().map(|s| s.duration as u64).sum();
        let mut stored = Vec::with_capacity(samples.len());
        let mut aux: Vec<SampleAux> = Vec::new();
        for s in samples {
            let (data, a) = self
                .transform
                .transform(s.data)
                .map_err(|e| Error::Transform(e.0))?;
            if let Some(a) = a {
                aux.push(a);
            }
            stored.push(Sample { data, ..s });
        }
        if self.encrypted && aux.len() != stored.len() {
            return Err(Error::Transform(format!(
                "{} of {} samples came back without auxiliary information",
                stored.len() - aux.len(),
                stored.len()
            )));
        }
        let base = first_pts.saturating_sub(self.first_pts);
        self.sequence += 1;
        let buf = fragment(
            self.sequence,
            base,
            wallclock,
            &stored,
            (!aux.is_empty()).then_some(&aux[..]),
        )?;
        let durable = self.bytes;
        let res = self
            .file
            .write_all(&buf)
            .ctx("write", &self.path)
            .and_then(|_| self.file.sync_data().ctx("fdatasync", &self.path));
        if let Err(e) = res {
            // After a failed write or fsync the tail is unknown: cut it so the file ends on a
            // complete fragment, and let the caller close this file.
            let _ = self.file.set_len(durable);
            let _ = self.file.sync_all();
            return Err(e);
        }
        self.bytes += buf.len() as u64;
        self.frames += frames;
        self.signed |= signed;
        self.end_pts = first_pts + duration;
        self.end_ms = ms_of(wallclock + Duration::from_micros(duration * 100 / 9));
        self.index.update_progress(
            self.id,
            self.end_ms,
            self.bytes,
            self.frames,
            self.skipped,
            self.signed,
        )?;
        Ok(())
    }

    /// Closes the file: a file without any fragment is removed, as it holds no video.
    pub fn finish(self) -> Result<()> {
        if self.frames == 0 {
            let _ = std::fs::remove_file(&self.path);
            self.index.delete(self.id)?;
            tracing::info!(id = self.id, path = %self.path.display(), "empty recording removed");
            return Ok(());
        }
        // Progress may be behind if the last index update failed; write it once more.
        self.index.update_progress(
            self.id,
            self.end_ms,
            self.bytes,
            self.frames,
            self.skipped,
            self.signed,
        )?;
        self.index.set_state(self.id, State::Finished)?;
        tracing::info!(id = self.id, path = %self.path.display(), bytes = self.bytes, frames = self.frames, "recording finished");
        Ok(())
    }
}
