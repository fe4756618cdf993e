//! Crash recovery and index rebuild (paper §3.8, recordings kept "on the card or in the cloud"):
//! files are the truth. Interrupted files are cut back to their last complete fragment; files
//! without one are removed; the index is made to match. Objects found in the bucket that the
//! index does not know (a lost index) become rows the same way, from a copy read back.

use crate::error::{IoContext, Result};
use crate::index::{Index, RecordingRow, State, parse_file_name};
use crate::scan::{FileScan, scan};
use crate::timeutil::ms_of;
use crate::upload::BucketObject;
use crate::writer::sync_dir;
use std::fs::OpenOptions;
use std::path::Path;

/// What recovery did, for the log and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Interrupted files kept, with the bytes cut from their tails.
    pub recovered: Vec<(i64, u64)>,
    /// Files removed because they held no complete fragment.
    pub removed: Vec<i64>,
    /// Rows dropped because their file was gone (retention interrupted, card swapped).
    pub dropped_rows: Vec<i64>,
    /// Files found on disk without a row, now indexed.
    pub adopted: Vec<i64>,
    /// Partial copies of interrupted fetches from the object store, removed.
    pub removed_parts: usize,
}

/// Cuts a file back to the end of its last complete fragment and makes that durable.
fn truncate_to_valid(path: &Path, s: &FileScan) -> Result<u64> {
    let cut = s.file_len - s.valid_len;
    if cut > 0 {
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .ctx("open for truncation", path)?;
        f.set_len(s.valid_len).ctx("truncate", path)?;
        f.sync_all().ctx("fsync", path)?;
        tracing::warn!(
            path = %path.display(),
            kept = s.valid_len,
            cut,
            reason = s.stopped.as_deref().unwrap_or("-"),
            "recovery cut an incomplete tail"
        );
    }
    Ok(cut)
}

/// The row a scanned file deserves (times from its prft boxes).
fn row_from_scan(
    id: i64,
    camera: Option<String>,
    stream: u8,
    rel: &str,
    trigger: crate::index::Trigger,
    s: &FileScan,
    state: State,
) -> RecordingRow {
    let (start_ms, end_ms) = s
        .span()
        .map(|(a, b)| (ms_of(a), ms_of(b)))
        .unwrap_or((0, 0));
    let (width, height) = s
        .init
        .as_deref()
        .and_then(crate::export::track_size)
        .unwrap_or((0, 0));
    RecordingRow {
        id,
        camera,
        stream,
        start_ms,
        end_ms,
        bytes: s.valid_len,
        frames: s.frames(),
        skipped_frames: 0,
        signed: s.signed,
        encrypted: s
            .init
            .as_deref()
            .is_some_and(|i| i.windows(4).any(|w| w == b"encv")),
        state,
        trigger,
        width,
        height,
        path: rel.to_owned(),
        key_info: None,
    }
}

/// Closes one interrupted file: returns the bytes cut, or `None` when the file was removed.
fn close_interrupted(
    dir: &Path,
    index: &Index,
    row: &RecordingRow,
    report: &mut RecoveryReport,
) -> Result<()> {
    let path = dir.join(&row.path);
    if !path.exists() {
        // The row is durable before the file is created, so a crash in between leaves this.
        tracing::warn!(id = row.id, path = %path.display(), "recovery: recording has no file; row dropped");
        index.delete(row.id)?;
        report.dropped_rows.push(row.id);
        return Ok(());
    }
    let s = scan(&path, true)?;
    if s.fragments.is_empty() {
        tracing::warn!(
            id = row.id,
            path = %path.display(),
            reason = s.stopped.as_deref().unwrap_or("no fragment"),
            "recovery: file holds no complete fragment; removed"
        );
        std::fs::remove_file(&path).ctx("remove", &path)?;
        if let Some(parent) = path.parent() {
            sync_dir(parent)?;
        }
        index.delete(row.id)?;
        report.removed.push(row.id);
        return Ok(());
    }
    let cut = truncate_to_valid(&path, &s)?;
    let fixed = RecordingRow {
        skipped_frames: row.skipped_frames,
        key_info: row.key_info.clone(),
        encrypted: row.encrypted,
        ..row_from_scan(
            row.id,
            row.camera.clone(),
            row.stream,
            &row.path,
            row.trigger,
            &s,
            State::Recovered,
        )
    };
    index.update_progress(
        row.id,
        fixed.end_ms,
        fixed.bytes,
        fixed.frames,
        fixed.skipped_frames,
        fixed.signed,
    )?;
    index.set_state(row.id, State::Recovered)?;
    tracing::info!(id = row.id, path = %path.display(), frames = fixed.frames, cut, "recovery: recording closed");
    report.recovered.push((row.id, cut));
    Ok(())
}

/// Relative paths (`streamN/...mp4`, `cameras/NAME/streamN/...mp4`) of every recording file
/// under `dir`.
fn files_on_disk(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (prefix, sub) in recording_dirs(dir)? {
        for f in std::fs::read_dir(&sub).ctx("list", &sub)? {
            let f = f.ctx("list", &sub)?;
            let rel = format!("{prefix}/{}", f.file_name().to_string_lossy());
            if parse_file_name(&rel).is_some() {
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The stream directories the recorder writes under `dir`, as (relative path, path): this
/// device's `streamN` and each upstream camera's `cameras/NAME/streamN`.
pub(crate) fn recording_dirs(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    fn streams(at: &Path, prefix: &str, out: &mut Vec<(String, std::path::PathBuf)>) -> Result<()> {
        let entries = match std::fs::read_dir(at) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(crate::Error::Io {
                    op: "list",
                    path: at.to_owned(),
                    source,
                });
            }
        };
        for e in entries {
            let e = e.ctx("list", at)?;
            let name = e.file_name().to_string_lossy().into_owned();
            let is_stream = name
                .strip_prefix("stream")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if is_stream && e.path().is_dir() {
                out.push((format!("{prefix}{name}"), e.path()));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    streams(dir, "", &mut out)?;
    let cams = dir.join(crate::index::CAMERAS_DIR);
    if cams.is_dir() {
        for e in std::fs::read_dir(&cams).ctx("list", &cams)? {
            let e = e.ctx("list", &cams)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() {
                let prefix = format!("{}/{name}/", crate::index::CAMERAS_DIR);
                streams(&e.path(), &prefix, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// Indexes a file found on disk with no row; returns false when it had to be left alone.
fn adopt(dir: &Path, index: &Index, rel: &str, report: &mut RecoveryReport) -> Result<bool> {
    let Some((camera, stream, id, trigger)) = parse_file_name(rel) else {
        return Ok(false);
    };
    let path = dir.join(rel);
    if index.get(id)?.is_some() {
        tracing::warn!(path = %path.display(), id, "file's id belongs to another recording; left untouched");
        return Ok(false);
    }
    let s = scan(&path, true)?;
    if s.fragments.is_empty() {
        tracing::warn!(path = %path.display(), "unindexed file holds no complete fragment; removed");
        std::fs::remove_file(&path).ctx("remove", &path)?;
        report.removed.push(id);
        return Ok(true);
    }
    let cut = truncate_to_valid(&path, &s)?;
    let state = if cut > 0 {
        State::Recovered
    } else {
        State::Finished
    };
    index.insert_row(&row_from_scan(id, camera, stream, rel, trigger, &s, state))?;
    tracing::info!(path = %path.display(), id, "unindexed recording adopted");
    report.adopted.push(id);
    Ok(true)
}

/// Indexes a recording that lives in the bucket only, from `copy`, the object read back to a
/// temporary file by the uploader (which removes it): the row is what [`adopt`] would make of the
/// file at `rel`, with the object's size, and an upload row confirmed with the object's size and
/// SHA-256 and no card copy. `Ok(None)`: `rel` is not a recording's name, or the copy holds no
/// complete fragment (not a recording; nothing is indexed). The caller checks first that the
/// index does not know `rel` ([`Index::knows_path`]).
pub fn adopt_from_bucket(
    index: &Index,
    rel: &str,
    copy: &Path,
    object: &BucketObject,
) -> Result<Option<i64>> {
    let Some((camera, stream, id, trigger)) = parse_file_name(rel) else {
        return Ok(None);
    };
    let s = scan(copy, true)?;
    if s.fragments.is_empty() {
        return Ok(None);
    }
    // The object is never rewritten: a tail the scan cannot read stays in it, and the row counts
    // the object's bytes (what a fetch brings back), as a recovered file.
    let state = if s.valid_len < s.file_len {
        State::Recovered
    } else {
        State::Finished
    };
    let row = RecordingRow {
        bytes: object.bytes,
        ..row_from_scan(id, camera, stream, rel, trigger, &s, state)
    };
    let id = index.insert_from_bucket(&row, object)?;
    tracing::debug!(
        id,
        key = object.key,
        "recording adopted from the object store"
    );
    Ok(Some(id))
}

/// Run at start, before recording: closes every file left `recording` by a crash, drops rows
/// whose file is gone, and indexes files that have no row. Finished files are only read
/// (their rows are checked by path), never modified.
pub fn recover(dir: &Path) -> Result<RecoveryReport> {
    let index = Index::open(dir)?;
    recover_with(&index)
}

pub(crate) fn recover_with(index: &Index) -> Result<RecoveryReport> {
    let dir = index.dir().to_owned();
    let mut report = RecoveryReport::default();
    for row in index.in_state(State::Recording)? {
        close_interrupted(&dir, index, &row, &mut report)?;
    }
    let known = index.known_paths()?;
    for rel in files_on_disk(&dir)? {
        if !known.contains(&rel) {
            adopt(&dir, index, &rel, &mut report)?;
        }
    }
    report.removed_parts = remove_stale_parts(&dir)?;
    // Recordings moved to the object store have no file here by design; a confirmed one whose
    // removal was cut short by a crash (file gone, row not yet updated) is noted as moved.
    let bucket_only = index.bucket_only_ids()?;
    let confirmed = index.confirmed_ids()?;
    for row in index.list(&Default::default())? {
        if bucket_only.contains(&row.id) {
            continue;
        }
        if !dir.join(&row.path).exists() && confirmed.contains(&row.id) {
            index.local_copy_removed(row.id)?;
            continue;
        }
        if !dir.join(&row.path).exists() {
            tracing::warn!(
                id = row.id,
                path = row.path,
                "recording file missing; row dropped"
            );
            index.delete(row.id)?;
            report.dropped_rows.push(row.id);
        }
    }
    Ok(report)
}

/// Rebuilds the index from the files (a damaged `recording` table, a card moved from another
/// camera). Recordings confirmed in an object store keep their rows: the card does not hold
/// them, and without the rows they would vanish from the listing while their objects stay in the
/// bucket. Must not run while the recorder writes to `dir`.
pub fn rebuild_index(dir: &Path) -> Result<RecoveryReport> {
    let index = Index::open(dir)?;
    index.clear()?;
    let mut report = RecoveryReport::default();
    // Kept rows: the card copy is whatever the card holds now.
    for row in index.list(&Default::default())? {
        if dir.join(&row.path).exists() {
            index.local_copy_found(row.id)?;
        } else {
            index.local_copy_removed(row.id)?;
        }
    }
    let known = index.known_paths()?;
    for rel in files_on_disk(dir)? {
        if !known.contains(&rel) {
            adopt(dir, &index, &rel, &mut report)?;
        }
    }
    Ok(report)
}

/// A `.part` file left by a fetch from the object store that a crash cut short (a finished fetch
/// renames it): removed at recovery unless written to this recently, which only a fetch still
/// running does (recovery also runs when the recorder restarts for new settings).
const PART_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// Removes stale `.part` files under the recording directories; returns how many.
fn remove_stale_parts(dir: &Path) -> Result<usize> {
    let mut n = 0;
    for (_, sub) in recording_dirs(dir)? {
        for f in std::fs::read_dir(&sub).ctx("list", &sub)? {
            let f = f.ctx("list", &sub)?;
            let path = f.path();
            if path.extension().is_none_or(|e| e != "part") {
                continue;
            }
            let idle = f
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|age| age >= PART_IDLE);
            if !idle {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::warn!(path = %path.display(), "recovery: removed the partial copy of an interrupted fetch from the object store");
                    n += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(crate::Error::Io {
                        op: "remove",
                        path,
                        source,
                    });
                }
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::record;
    use std::sync::Arc;

    fn setup() -> (tempfile::TempDir, Arc<Index>) {
        let dir = tempfile::tempdir().unwrap();
        let index = Arc::new(Index::open(dir.path()).unwrap());
        (dir, index)
    }

    /// Simulates kill -9: the file stays as written and its row says `recording`.
    fn crash(f: crate::writer::RecordingFile) -> (i64, PathBuf) {
        let r = (f.id, f.path.clone());
        drop(f);
        r
    }
    use std::path::PathBuf;

    #[test]
    fn recover_truncates_to_last_complete_fragment() {
        let (_d, index) = setup();
        let (id, path) = crash(record(&index, 1, 0, 3, 25));
        let good = std::fs::metadata(&path).unwrap().len();
        // A torn fourth fragment: half its bytes reached the disk.
        let mut f = record(&index, 1, 100, 1, 25);
        f.append(
            crate::testutil::samples(125..150, 25),
            125 * 3600,
            crate::testutil::au(125, 25).wallclock,
            false,
        )
        .unwrap();
        let second = std::fs::read(&f.path).unwrap();
        drop(f);
        let init_len = second.windows(4).position(|w| w == b"prft").unwrap() - 4;
        let tail = &second[init_len..init_len + (second.len() - init_len) / 3];
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut h| std::io::Write::write_all(&mut h, tail))
            .unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > good);

        let report = recover_with(&index).unwrap();
        assert!(
            report.recovered.iter().any(|(i, cut)| *i == id && *cut > 0),
            "{report:?}"
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good);
        let row = index.get(id).unwrap().unwrap();
        assert_eq!(row.state, State::Recovered);
        assert_eq!((row.bytes, row.frames), (good, 75));
        assert_eq!(scan(&path, true).unwrap().stopped, None);
    }

    #[test]
    fn recover_removes_file_without_complete_fragment() {
        let (_d, index) = setup();
        let f = record(&index, 1, 0, 0, 25);
        let (id, path) = crash(f);
        let report = recover_with(&index).unwrap();
        assert_eq!(report.removed, vec![id]);
        assert!(!path.exists());
        assert!(index.get(id).unwrap().is_none());
    }

    #[test]
    fn earlier_files_untouched_by_recovery() {
        let (_d, index) = setup();
        let a = record(&index, 1, 0, 2, 25);
        let (a_id, a_path) = (a.id, a.path.clone());
        a.finish().unwrap();
        let before = std::fs::read(&a_path).unwrap();
        let mtime = std::fs::metadata(&a_path).unwrap().modified().unwrap();
        let (b_id, b_path) = crash(record(&index, 1, 50, 2, 25));
        // Garbage after the last fragment, as a power cut during a write may leave.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&b_path)
            .and_then(|mut h| std::io::Write::write_all(&mut h, &[0u8; 999]))
            .unwrap();
        let report = recover_with(&index).unwrap();
        assert_eq!(report.recovered, vec![(b_id, 999)]);
        assert_eq!(std::fs::read(&a_path).unwrap(), before);
        assert_eq!(
            std::fs::metadata(&a_path).unwrap().modified().unwrap(),
            mtime
        );
        assert_eq!(index.get(a_id).unwrap().unwrap().state, State::Finished);
    }

    #[test]
    fn recover_drops_rows_without_files_and_adopts_files_without_rows() {
        let (d, index) = setup();
        let gone = record(&index, 1, 0, 1, 25);
        std::fs::remove_file(&gone.path).unwrap();
        let gone_id = gone.id;
        drop(gone);
        let orphan = record(&index, 2, 0, 2, 25);
        let orphan_id = orphan.id;
        orphan.finish().unwrap();
        index.delete(orphan_id).unwrap();
        let report = recover_with(&index).unwrap();
        assert_eq!(report.dropped_rows, vec![gone_id]);
        assert_eq!(report.adopted, vec![orphan_id]);
        let row = index.get(orphan_id).unwrap().unwrap();
        assert_eq!(
            (row.stream, row.frames, row.state),
            (2, 50, State::Finished)
        );
        assert_eq!(row.start_ms, crate::timeutil::ms_of(crate::testutil::t0()));
        assert_eq!(row.end_ms, row.start_ms + 2000);
        drop(d);
    }

    #[test]
    fn an_upstream_cameras_files_are_adopted_with_its_name_and_wiped_with_the_rest() {
        let (d, index) = setup();
        let door = crate::writer::Origin {
            camera: Some("door"),
            stream: 2,
        };
        let (id, path) = crash(crate::testutil::record_from(&index, door, 0, 2, 25));
        record(&index, 1, 0, 2, 25).finish().unwrap();
        assert!(
            path.starts_with(d.path().join("cameras/door/stream2")),
            "{path:?}"
        );
        // Recovery closes the camera's interrupted file and keeps its camera.
        let report = recover_with(&index).unwrap();
        assert_eq!(report.recovered.len(), 1, "{report:?}");
        let row = index.get(id).unwrap().unwrap();
        assert_eq!((row.camera.as_deref(), row.stream), (Some("door"), 2));
        // Rebuilt from the files alone, the row names the camera again.
        drop(index);
        std::fs::remove_file(d.path().join(crate::index::INDEX_FILE)).unwrap();
        let report = rebuild_index(d.path()).unwrap();
        assert_eq!(report.adopted.len(), 2, "{report:?}");
        let index = Index::open(d.path()).unwrap();
        let row = index.get(id).unwrap().unwrap();
        assert_eq!((row.camera.as_deref(), row.stream), (Some("door"), 2));
        let local = crate::index::ListFilter {
            camera: crate::index::CameraFilter::Local,
            ..Default::default()
        };
        assert_eq!(index.list(&local).unwrap().len(), 1);
        drop(index);
        assert_eq!(crate::retention::wipe(d.path()).unwrap(), 2);
        assert!(!d.path().join("cameras").exists());
    }

    #[test]
    fn rebuild_index_restores_rows_from_files() {
        let (d, index) = setup();
        let mut want = Vec::new();
        for (i, s) in [(0u64, 1u8), (100, 1), (0, 2)] {
            let f = record(&index, s, i, 2, 25);
            f.finish().unwrap();
        }
        for r in index.list(&Default::default()).unwrap() {
            want.push((
                r.id,
                r.stream,
                r.path.clone(),
                r.start_ms,
                r.end_ms,
                r.bytes,
                r.frames,
            ));
        }
        drop(index);
        std::fs::remove_file(d.path().join(crate::index::INDEX_FILE)).unwrap();
        let report = rebuild_index(d.path()).unwrap();
        assert_eq!(report.adopted.len(), 3);
        let index = Index::open(d.path()).unwrap();
        let got: Vec<_> = index
            .list(&Default::default())
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.id,
                    r.stream,
                    r.path.clone(),
                    r.start_ms,
                    r.end_ms,
                    r.bytes,
                    r.frames,
                )
            })
            .collect();
        assert_eq!(got, want);
    }

    fn summary(index: &Index) -> Vec<(i64, u8, String, i64, i64, u64, u64)> {
        index
            .list(&Default::default())
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.id, r.stream, r.path, r.start_ms, r.end_ms, r.bytes, r.frames,
                )
            })
            .collect()
    }

    #[test]
    fn rebuild_keeps_recordings_that_live_in_the_bucket_only() {
        let (d, index) = setup();
        let mut files = Vec::new();
        for i in 0..3u64 {
            let f = record(&index, 1, i * 100, 1, 25);
            files.push((f.id, f.path.clone()));
            f.finish().unwrap();
        }
        // 0: in the bucket only; 1: confirmed with its card copy still there; 2: on the card
        // only, its upload failed once.
        for &(id, _) in &files[..2] {
            let b = index.get(id).unwrap().unwrap().bytes;
            index
                .upload_confirmed(id, &format!("k/{id}"), "s", b, "ab")
                .unwrap();
        }
        std::fs::remove_file(&files[0].1).unwrap();
        index.local_copy_removed(files[0].0).unwrap();
        index
            .upload_failed(files[2].0, "k/2", "s", "refused")
            .unwrap();
        let before = summary(&index);
        drop(index);
        let report = rebuild_index(d.path()).unwrap();
        assert_eq!(report.adopted, vec![files[2].0], "{report:?}");
        let index = Index::open(d.path()).unwrap();
        assert_eq!(summary(&index), before);
        let up = index.upload_of(files[0].0).unwrap().unwrap();
        assert!(up.confirmed && !up.local_copy, "{up:?}");
        assert_eq!(up.object_key, format!("k/{}", files[0].0));
        assert!(index.upload_of(files[1].0).unwrap().unwrap().local_copy);
        // The failed try is forgotten: the card's file waits in the queue again.
        assert!(index.upload_of(files[2].0).unwrap().is_none());
        let queue: Vec<i64> = index
            .upload_queue(10)
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(queue, vec![files[2].0]);
        // The next start's recovery keeps the bucket-only row as well.
        assert!(recover_with(&index).unwrap().dropped_rows.is_empty());
        assert_eq!(summary(&index), before);
    }

    #[test]
    fn recovery_removes_stale_part_files_of_interrupted_fetches() {
        let (_d, index) = setup();
        let f = record(&index, 1, 0, 1, 25);
        let dir = f.path.parent().unwrap().to_owned();
        f.finish().unwrap();
        let stale = dir.join("20261204T100000Z_7.mp4.part");
        let fresh = dir.join("20261204T100100Z_8.mp4.part");
        std::fs::write(&stale, b"half a recording").unwrap();
        std::fs::write(&fresh, b"a fetch still running").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let report = recover_with(&index).unwrap();
        assert_eq!(report.removed_parts, 1, "{report:?}");
        assert!(!stale.exists() && fresh.exists());
        assert!(report.dropped_rows.is_empty() && report.adopted.is_empty());
        assert_eq!(index.list(&Default::default()).unwrap().len(), 1);
    }

    #[test]
    fn an_object_read_back_from_the_bucket_becomes_the_row_its_file_had() {
        let (d, index) = setup();
        let f = crate::testutil::record_from(
            &index,
            crate::writer::Origin {
                camera: Some("door"),
                stream: 2,
            },
            0,
            2,
            25,
        );
        let (id, path) = (f.id, f.path.clone());
        f.finish().unwrap();
        let want = index.get(id).unwrap().unwrap();
        // The object, read back beside where its file was; then the index is lost.
        let copy = d.path().join("read-back.part");
        std::fs::rename(&path, &copy).unwrap();
        drop(index);
        std::fs::remove_file(d.path().join(crate::index::INDEX_FILE)).unwrap();
        let index = Arc::new(Index::open(d.path()).unwrap());
        // The recorder, started on the empty index, handed the same id out again.
        let mine = record(&index, 1, 1000, 1, 25);
        assert_eq!(mine.id, id);
        mine.finish().unwrap();
        assert!(!index.knows_path(&want.path).unwrap());
        let object = BucketObject {
            key: format!("site/{}", want.path),
            store: "http://s3|cam".into(),
            bytes: want.bytes,
            sha256: "ab".repeat(32),
        };
        let got = adopt_from_bucket(&index, &want.path, &copy, &object)
            .unwrap()
            .unwrap();
        assert_ne!(got, id, "the id is taken: a new one");
        assert!(index.knows_path(&want.path).unwrap());
        let row = index.get(got).unwrap().unwrap();
        assert_eq!(
            RecordingRow {
                id,
                key_info: None,
                ..row
            },
            RecordingRow {
                key_info: None,
                ..want.clone()
            }
        );
        let up = index.upload_of(got).unwrap().unwrap();
        assert!(up.confirmed && !up.local_copy, "{up:?}");
        assert_eq!(
            (up.object_key, up.object_bytes, up.sha256),
            (
                object.key.clone(),
                Some(want.bytes),
                Some(object.sha256.clone())
            )
        );
        // Recovery keeps it (it lives in the bucket only); the card's quota does not count it.
        assert!(recover_with(&index).unwrap().dropped_rows.is_empty());
        assert_eq!(
            index.total_bytes().unwrap(),
            index.get(id).unwrap().unwrap().bytes
        );
        // Something else under a recording's name indexes nothing.
        std::fs::write(&copy, b"not a recording").unwrap();
        let other = "stream1/20261122T034500Z_000099.mp4";
        assert_eq!(
            adopt_from_bucket(&index, other, &copy, &object).unwrap(),
            None
        );
        assert!(!index.knows_path(other).unwrap());
    }
}
