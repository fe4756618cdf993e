//! Retention: deletes the oldest finished recordings until the quota and the filesystem's
//! minimum free space hold again; never a file being written, and recording goes on. While an
//! object store is configured (paper §3.8), never a file not yet confirmed in the bucket: a
//! confirmed one loses only its card copy, its row stays (see `upload`).

use crate::error::{Error, Result};
use crate::index::Index;
use camward_config::RecordingConfig;
use std::path::Path;

/// Space an unprivileged process may still use on the filesystem of `dir`.
pub fn free_bytes(dir: &Path) -> Result<u64> {
    let st = rustix::fs::statvfs(dir).map_err(|e| Error::Io {
        op: "statvfs",
        path: dir.to_owned(),
        source: e.into(),
    })?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// (free, total) bytes of the filesystem of `dir`, for the status page.
pub fn space(dir: &Path) -> Result<(u64, u64)> {
    let st = rustix::fs::statvfs(dir).map_err(|e| Error::Io {
        op: "statvfs",
        path: dir.to_owned(),
        source: e.into(),
    })?;
    Ok((
        st.f_bavail.saturating_mul(st.f_frsize),
        st.f_blocks.saturating_mul(st.f_frsize),
    ))
}

/// Deletes what the recorder wrote into `dir` — the recording files (`streamN/…mp4` and
/// `cameras/NAME/streamN/…mp4`, named as [`crate::index::file_name`] names them) and the index —
/// and nothing else, whatever else the directory holds (a factory reset that wipes recordings,
/// with the recorder stopped).
pub fn wipe(dir: &Path) -> Result<u64> {
    let io = |op: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { op, path, source }
    };
    let mut removed = 0;
    if !dir.exists() {
        return Ok(0);
    }
    for (prefix, path) in crate::recover::recording_dirs(dir)? {
        for f in std::fs::read_dir(&path)
            .map_err(io("read directory", &path))?
            .flatten()
        {
            let rel = format!("{prefix}/{}", f.file_name().to_string_lossy());
            if crate::index::parse_file_name(&rel).is_some() {
                std::fs::remove_file(f.path()).map_err(io("remove", &f.path()))?;
                removed += 1;
            }
        }
        // Only when empty: whatever else someone put there stays.
        let _ = std::fs::remove_dir(&path);
        if let Some(camera_dir) = path.parent().filter(|p| *p != dir) {
            let _ = std::fs::remove_dir(camera_dir);
        }
    }
    let _ = std::fs::remove_dir(dir.join(crate::index::CAMERAS_DIR));
    for name in [
        crate::index::INDEX_FILE.to_owned(),
        format!("{}-wal", crate::index::INDEX_FILE),
        format!("{}-shm", crate::index::INDEX_FILE),
    ] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove", &path)(e)),
        }
    }
    Ok(removed)
}

/// What one enforcement pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub deleted: Vec<i64>,
    pub freed_bytes: u64,
    /// Limits still exceeded because only files being written were left.
    pub still_over: bool,
}

/// Deletes oldest-first until `used + headroom <= quota` and `free >= min_free + headroom`.
/// `headroom` is the size of the file about to be opened (0 for the periodic pass).
pub fn enforce(index: &Index, cfg: &RecordingConfig, headroom: u64) -> Result<RetentionReport> {
    let mut report = RetentionReport::default();
    // Bounded: each pass deletes one row or stops.
    loop {
        let used = index.total_bytes()?;
        let free = free_bytes(index.dir())?;
        let over_quota = cfg.quota_bytes != 0 && used.saturating_add(headroom) > cfg.quota_bytes;
        let low_space = free < cfg.min_free_bytes.saturating_add(headroom);
        if !over_quota && !low_space {
            return Ok(report);
        }
        let Some((victim, in_bucket)) = index.retention_victim()? else {
            if index.upload_hold()? {
                // Said loudly: recording goes on, but the card fills with files that wait for
                // the object store (the status page and the audit say so too).
                tracing::error!(
                    used,
                    free,
                    quota = cfg.quota_bytes,
                    "retention: the card is full and every closed recording still waits for the object store; nothing is deleted before it is confirmed in the bucket"
                );
            } else {
                tracing::warn!(
                    used,
                    free,
                    quota = cfg.quota_bytes,
                    "retention: limits exceeded but only files being written remain"
                );
            }
            report.still_over = true;
            return Ok(report);
        };
        let path = index.dir().join(&victim.path);
        // File first, then row: a crash in between leaves a row without file, which recovery
        // drops; the reverse would leave an unaccounted file eating the quota.
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    op: "remove",
                    path,
                    source,
                });
            }
        }
        if in_bucket {
            // The object in the bucket stays, and so does its row: only the card copy went.
            index.local_copy_removed(victim.id)?;
        } else {
            index.delete(victim.id)?;
        }
        tracing::info!(
            in_bucket,
            id = victim.id,
            path = %path.display(),
            bytes = victim.bytes,
            reason = if over_quota { "quota" } else { "free space" },
            "retention deleted the oldest recording"
        );
        report.deleted.push(victim.id);
        report.freed_bytes += victim.bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::State;
    use crate::testutil::record;
    use std::sync::Arc;

    #[test]
    fn retention_deletes_oldest_finished_file_first() {
        let dir = tempfile::tempdir().unwrap();
        let index = Arc::new(Index::open(dir.path()).unwrap());
        let mut files = Vec::new();
        for i in 0..4 {
            let f = record(&index, 1, i * 100, 1, 25);
            files.push((f.id, f.path.clone(), f.bytes()));
            f.finish().unwrap();
        }
        let writing = record(&index, 1, 1000, 1, 25);
        let total = index.total_bytes().unwrap();
        // Room for all but about two files.
        let cfg = RecordingConfig {
            quota_bytes: total - files[0].2 - files[1].2 / 2,
            min_free_bytes: 0,
            ..Default::default()
        };
        let r = enforce(&index, &cfg, 0).unwrap();
        assert_eq!(r.deleted, vec![files[0].0, files[1].0]);
        assert!(!files[0].1.exists() && !files[1].1.exists() && files[2].1.exists());
        assert!(index.total_bytes().unwrap() <= cfg.quota_bytes);
        assert!(!r.still_over);

        // Only the file being written would be left: it is never deleted, recording goes on.
        let tiny = RecordingConfig {
            quota_bytes: 1,
            ..cfg
        };
        let r = enforce(&index, &tiny, 0).unwrap();
        assert!(r.still_over);
        assert!(writing.path.exists());
        assert_eq!(
            index.get(writing.id).unwrap().unwrap().state,
            State::Recording
        );
    }

    #[test]
    fn wipe_removes_recordings_and_index_only() {
        let d = tempfile::tempdir().unwrap();
        let index = Index::open(d.path()).unwrap();
        let (_, rel) = index
            .create_recording(
                None,
                1,
                crate::index::Trigger::Continuous,
                1_700_000_000_000,
                64,
                64,
            )
            .unwrap();
        std::fs::create_dir_all(d.path().join("stream1")).unwrap();
        std::fs::write(d.path().join(&rel), b"x").unwrap();
        std::fs::write(d.path().join("stream1/notes.txt"), b"keep").unwrap();
        std::fs::write(d.path().join("camward.db"), b"keep").unwrap();
        drop(index);
        assert_eq!(wipe(d.path()).unwrap(), 1);
        assert!(!d.path().join(&rel).exists());
        assert!(!d.path().join(crate::index::INDEX_FILE).exists());
        assert!(d.path().join("stream1/notes.txt").exists());
        assert!(d.path().join("camward.db").exists());
        let (free, total) = space(d.path()).unwrap();
        assert!(free <= total && total > 0);
    }

    #[test]
    fn free_space_is_measured() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).unwrap() > 0);
    }
}
