//! Where each recording lives once an object store is configured (paper §3.8, recordings kept
//! encrypted "on the card or in the cloud"): the `upload` table of the recording index, beside
//! `recording` and never altering it. A recording without an `upload` row lives on the card only.
//! The uploader (camward-objstore) writes it; retention and crash recovery read it so that a file
//! not yet confirmed in the bucket is never deleted while a store is configured, and a row whose
//! file was moved to the bucket is not taken for a lost file.

use crate::error::Result;
use crate::index::{Index, RecordingRow, row_of};
use rusqlite::{OptionalExtension, params};

/// Every column says why it exists. A table of its own (not columns of `recording`) so the
/// recording schema and its migrations stay the recorder's alone.
pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS upload (
    -- The recording (recording.id) this row is about; one row per recording, deleted with it.
    recording_id INTEGER PRIMARY KEY,
    -- Object key in the bucket (prefix + the file's relative path): where to fetch it back from.
    object_key TEXT NOT NULL,
    -- Endpoint and bucket the object went to ("https://host|bucket"): after the settings point
    -- to another store, the object is still found (or reported missing) where it really is.
    store TEXT NOT NULL,
    -- queued: waiting or failed (retried with back-off); confirmed: read back from the store with
    -- the same size and SHA-256 as the file, so the card's copy may go.
    status TEXT NOT NULL CHECK (status IN ('queued', 'confirmed')),
    -- Size and SHA-256 (hex) the object was confirmed with: checked again when fetched back.
    object_bytes INTEGER,
    sha256 TEXT,
    -- 1 while a copy is on the card (not yet removed, or fetched back for playback); 0 when the
    -- recording is in the bucket only. Retention's quota counts card copies only.
    local_copy INTEGER NOT NULL DEFAULT 1,
    -- Completed uploads of this recording: 1 normally; more only after a crash between the upload
    -- and this row's update (the object is then overwritten with identical bytes); 0 for a
    -- recording adopted from the bucket, which this index never put.
    puts INTEGER NOT NULL DEFAULT 0,
    -- Failed tries since the last success and the last error, for the status page and back-off.
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    -- When the object was confirmed (UTC ms): bucket retention by age counts from the recording's
    -- end, this is for the log and the status page.
    confirmed_ms INTEGER,
    -- When a copy was last fetched back for playback (UTC ms): the copy is removed again later.
    fetched_ms INTEGER
);
-- The hold: one row, set while an object store is configured. Retention then keeps every file
-- that is not confirmed in the bucket. Stored, not in memory, so retention honours it from the
-- first pass after a restart, before the uploader has started.
CREATE TABLE IF NOT EXISTS upload_hold (
    -- Always 1: a single-row table.
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- 1 = keep files until confirmed in the bucket.
    hold INTEGER NOT NULL
);
"#;

/// Where a recording is, as the index says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub recording_id: i64,
    pub object_key: String,
    pub store: String,
    pub confirmed: bool,
    pub object_bytes: Option<u64>,
    pub sha256: Option<String>,
    pub local_copy: bool,
    pub puts: u64,
    pub attempts: u64,
    pub last_error: Option<String>,
}

/// An object found in the bucket that the index did not know, as read back by the uploader: what
/// its `upload` row records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketObject {
    pub key: String,
    /// Endpoint and bucket (`endpoint|bucket`), as for an upload.
    pub store: String,
    /// Size and SHA-256 (hex) of the bytes read: checked again whenever it is fetched back.
    pub bytes: u64,
    pub sha256: String,
}

/// What the status page shows about the uploads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadCounts {
    /// Finished recordings on the card not yet confirmed in the bucket.
    pub queued: u64,
    pub queued_bytes: u64,
    /// Recordings confirmed in the bucket.
    pub in_bucket: u64,
    pub in_bucket_bytes: u64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

const UPLOAD_COLUMNS: &str = "recording_id, object_key, store, status, object_bytes, sha256, local_copy, puts, attempts, last_error";

fn upload_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Upload> {
    Ok(Upload {
        recording_id: r.get(0)?,
        object_key: r.get(1)?,
        store: r.get(2)?,
        confirmed: r.get::<_, String>(3)? == "confirmed",
        object_bytes: r.get::<_, Option<i64>>(4)?.map(|b| b as u64),
        sha256: r.get(5)?,
        local_copy: r.get(6)?,
        puts: r.get::<_, i64>(7)? as u64,
        attempts: r.get::<_, i64>(8)? as u64,
        last_error: r.get(9)?,
    })
}

impl Index {
    /// Sets or lifts the hold (an object store is configured or not).
    pub fn set_upload_hold(&self, hold: bool) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO upload_hold (id, hold) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET hold = ?1",
                params![hold],
            )
            .map(|_| ())
        })
    }

    pub fn upload_hold(&self) -> Result<bool> {
        self.with(|c| {
            c.query_row("SELECT hold FROM upload_hold WHERE id = 1", [], |r| {
                r.get::<_, bool>(0)
            })
            .optional()
            .map(|h| h.unwrap_or(false))
        })
    }

    /// Closed recordings on the card that are not confirmed in the bucket, oldest first.
    pub fn upload_queue(&self, limit: usize) -> Result<Vec<RecordingRow>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {} FROM recording r LEFT JOIN upload u ON u.recording_id = r.id
                 WHERE r.state != 'recording' AND (u.status IS NULL OR u.status = 'queued')
                 ORDER BY r.start_ms, r.id LIMIT ?1",
                crate::index::qualified_columns("r")
            ))?;
            st.query_map(params![limit as i64], row_of)?.collect()
        })
    }

    pub fn upload_of(&self, id: i64) -> Result<Option<Upload>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {UPLOAD_COLUMNS} FROM upload WHERE recording_id = ?1"),
                params![id],
                upload_row,
            )
            .optional()
        })
    }

    /// A try failed: counted, with its error, for the back-off and the status page.
    pub fn upload_failed(&self, id: i64, key: &str, store: &str, error: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO upload (recording_id, object_key, store, status, attempts, last_error)
                 VALUES (?1, ?2, ?3, 'queued', 1, ?4)
                 ON CONFLICT(recording_id) DO UPDATE SET object_key = ?2, store = ?3,
                   attempts = attempts + 1, last_error = ?4",
                params![id, key, store, error],
            )
            .map(|_| ())
        })
    }

    /// The object was read back with the file's size and SHA-256. Committed with
    /// `synchronous = FULL` before the card's copy is removed.
    pub fn upload_confirmed(
        &self,
        id: i64,
        key: &str,
        store: &str,
        bytes: u64,
        sha256: &str,
    ) -> Result<()> {
        let now = now_ms();
        self.with(|c| {
            c.pragma_update(None, "synchronous", "FULL")?;
            let r = c.execute(
                "INSERT INTO upload (recording_id, object_key, store, status, object_bytes, sha256, local_copy, puts, confirmed_ms)
                 VALUES (?1, ?2, ?3, 'confirmed', ?4, ?5, 1, 1, ?6)
                 ON CONFLICT(recording_id) DO UPDATE SET object_key = ?2, store = ?3, status = 'confirmed',
                   object_bytes = ?4, sha256 = ?5, local_copy = 1, puts = puts + 1, attempts = 0,
                   last_error = NULL, confirmed_ms = ?6",
                params![id, key, store, bytes as i64, sha256, now],
            );
            c.pragma_update(None, "synchronous", "NORMAL")?;
            r.map(|_| ())
        })
    }

    /// The card's copy of a confirmed recording is gone (removed after the upload or by
    /// retention): it lives in the bucket only.
    pub fn local_copy_removed(&self, id: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE upload SET local_copy = 0 WHERE recording_id = ?1",
                params![id],
            )
            .map(|_| ())
        })
    }

    /// A rebuild found the card copy of a confirmed recording: the uploader removes it as it
    /// removes any copy of a confirmed recording (no `fetched_ms`: nobody is using it).
    pub(crate) fn local_copy_found(&self, id: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE upload SET local_copy = 1 WHERE recording_id = ?1",
                params![id],
            )
            .map(|_| ())
        })
    }

    /// A copy was fetched back from the bucket for playback.
    pub fn local_copy_fetched(&self, id: i64) -> Result<()> {
        let now = now_ms();
        self.with(|c| {
            c.execute(
                "UPDATE upload SET local_copy = 1, fetched_ms = ?2 WHERE recording_id = ?1",
                params![id, now],
            )
            .map(|_| ())
        })
    }

    /// Confirmed recordings that still have a card copy not fetched since `before_ms`: the
    /// uploader removes those copies.
    pub fn removable_local_copies(&self, before_ms: i64) -> Result<Vec<RecordingRow>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {} FROM recording r JOIN upload u ON u.recording_id = r.id
                 WHERE u.status = 'confirmed' AND u.local_copy = 1
                   AND (u.fetched_ms IS NULL OR u.fetched_ms < ?1)
                 ORDER BY r.start_ms, r.id",
                crate::index::qualified_columns("r")
            ))?;
            st.query_map(params![before_ms], row_of)?.collect()
        })
    }

    /// Confirmed recordings that ended before `before_ms` (bucket retention by age), with where
    /// they are.
    pub fn bucket_expired(&self, before_ms: i64) -> Result<Vec<(RecordingRow, Upload)>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {}, {} FROM recording r JOIN upload u ON u.recording_id = r.id
                 WHERE u.status = 'confirmed' AND r.end_ms < ?1 ORDER BY r.start_ms, r.id",
                crate::index::qualified_columns("r"),
                UPLOAD_COLUMNS
                    .split(", ")
                    .map(|c| format!("u.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))?;
            let n = crate::index::column_count();
            st.query_map(params![before_ms], |r| {
                let rec = row_of(r)?;
                let up = Upload {
                    recording_id: r.get(n)?,
                    object_key: r.get(n + 1)?,
                    store: r.get(n + 2)?,
                    confirmed: r.get::<_, String>(n + 3)? == "confirmed",
                    object_bytes: r.get::<_, Option<i64>>(n + 4)?.map(|b| b as u64),
                    sha256: r.get(n + 5)?,
                    local_copy: r.get(n + 6)?,
                    puts: r.get::<_, i64>(n + 7)? as u64,
                    attempts: r.get::<_, i64>(n + 8)? as u64,
                    last_error: r.get(n + 9)?,
                };
                Ok((rec, up))
            })?
            .collect()
        })
    }

    /// Queue and bucket totals for the status page.
    pub fn upload_counts(&self) -> Result<UploadCounts> {
        self.with(|c| {
            let (queued, queued_bytes) = c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(r.bytes), 0) FROM recording r LEFT JOIN upload u ON u.recording_id = r.id
                 WHERE r.state != 'recording' AND (u.status IS NULL OR u.status = 'queued')",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )?;
            let (in_bucket, in_bucket_bytes) = c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(object_bytes), 0) FROM upload WHERE status = 'confirmed'",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )?;
            Ok(UploadCounts {
                queued,
                queued_bytes,
                in_bucket,
                in_bucket_bytes,
            })
        })
    }

    /// The oldest closed recording retention may take off the card, and whether it is confirmed
    /// in the bucket (then only the card copy goes; the row stays). While the hold is on, files
    /// not confirmed in the bucket are never chosen; recordings in the bucket only have no copy.
    pub(crate) fn retention_victim(&self) -> Result<Option<(RecordingRow, bool)>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {}, u.status = 'confirmed' FROM recording r LEFT JOIN upload u ON u.recording_id = r.id
                 WHERE r.state != 'recording' AND COALESCE(u.local_copy, 1) = 1
                   AND (u.status = 'confirmed'
                        OR NOT EXISTS (SELECT 1 FROM upload_hold WHERE hold = 1))
                 ORDER BY r.start_ms, r.id LIMIT 1",
                crate::index::qualified_columns("r")
            ))?;
            st.query_row([], |r| {
                Ok((
                    row_of(r)?,
                    r.get::<_, Option<bool>>(crate::index::column_count())?
                        .unwrap_or(false),
                ))
            })
            .optional()
        })
    }

    /// Inserts the rows of a recording adopted from the bucket, in one transaction (no recording
    /// row without the upload row that says where it lives): the recording row under the id of
    /// its file name when that id is free, else under a new one (a recorder that started on an
    /// empty index hands ids out again from 1); the upload row confirmed, with no card copy.
    /// Returns the id.
    pub(crate) fn insert_from_bucket(&self, r: &RecordingRow, o: &BucketObject) -> Result<i64> {
        let now = now_ms();
        self.with(|c| {
            let tx = c.transaction()?;
            let taken = tx
                .query_row("SELECT 1 FROM recording WHERE id = ?1", params![r.id], |_| {
                    Ok(())
                })
                .optional()?
                .is_some();
            let id = crate::index::insert_recording(&tx, r, (!taken).then_some(r.id))?;
            tx.execute(
                "INSERT INTO upload (recording_id, object_key, store, status, object_bytes, sha256, local_copy, puts, confirmed_ms)
                 VALUES (?1, ?2, ?3, 'confirmed', ?4, ?5, 0, 0, ?6)",
                params![id, o.key, o.store, o.bytes as i64, o.sha256, now],
            )?;
            tx.commit()?;
            Ok(id)
        })
    }

    /// Ids of recordings that live in the bucket only (recovery must not drop their rows).
    pub(crate) fn bucket_only_ids(&self) -> Result<std::collections::HashSet<i64>> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT recording_id FROM upload WHERE status = 'confirmed' AND local_copy = 0",
            )?;
            st.query_map([], |r| r.get(0))?.collect()
        })
    }

    /// Ids of recordings confirmed in the bucket (their card copy may be missing).
    pub(crate) fn confirmed_ids(&self) -> Result<std::collections::HashSet<i64>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT recording_id FROM upload WHERE status = 'confirmed'")?;
            st.query_map([], |r| r.get(0))?.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Trigger;
    use crate::testutil::record;
    use std::sync::Arc;

    #[test]
    fn queue_holds_closed_unconfirmed_files_and_counts_follow() {
        let dir = tempfile::tempdir().unwrap();
        let index = Arc::new(Index::open(dir.path()).unwrap());
        let a = record(&index, 1, 0, 1, 25);
        let a_id = a.id;
        a.finish().unwrap();
        let writing = record(&index, 1, 1000, 1, 25);
        let q = index.upload_queue(10).unwrap();
        assert_eq!(q.iter().map(|r| r.id).collect::<Vec<_>>(), vec![a_id]);
        index
            .upload_failed(a_id, "k", "s", "connection refused")
            .unwrap();
        let u = index.upload_of(a_id).unwrap().unwrap();
        assert!(!u.confirmed && u.attempts == 1 && u.local_copy);
        assert_eq!(index.upload_queue(10).unwrap().len(), 1);
        let bytes = index.get(a_id).unwrap().unwrap().bytes;
        index.upload_confirmed(a_id, "k", "s", bytes, "ab").unwrap();
        assert!(index.upload_queue(10).unwrap().is_empty());
        let c = index.upload_counts().unwrap();
        assert_eq!((c.queued, c.in_bucket, c.in_bucket_bytes), (0, 1, bytes));
        // The card copy goes: the quota no longer counts it, recovery keeps the row.
        let before = index.total_bytes().unwrap();
        std::fs::remove_file(index.dir().join(&index.get(a_id).unwrap().unwrap().path)).unwrap();
        index.local_copy_removed(a_id).unwrap();
        assert_eq!(index.total_bytes().unwrap(), before - bytes);
        let report = crate::recover::recover_with(&index).unwrap();
        assert!(report.dropped_rows.is_empty(), "{report:?}");
        assert!(index.get(a_id).unwrap().is_some());
        drop(writing);
        let _ = Trigger::Continuous;
    }

    #[test]
    fn retention_keeps_unconfirmed_files_while_the_hold_is_on() {
        let dir = tempfile::tempdir().unwrap();
        let index = Arc::new(Index::open(dir.path()).unwrap());
        let mut ids = Vec::new();
        for i in 0..3 {
            let f = record(&index, 1, i * 100, 1, 25);
            ids.push((f.id, f.path.clone()));
            f.finish().unwrap();
        }
        index.set_upload_hold(true).unwrap();
        let cfg = camward_config::RecordingConfig {
            quota_bytes: 1,
            min_free_bytes: 0,
            ..Default::default()
        };
        let r = crate::retention::enforce(&index, &cfg, 0).unwrap();
        assert!(r.deleted.is_empty() && r.still_over);
        assert!(ids.iter().all(|(_, p)| p.exists()));
        // Confirmed in the bucket: only the card copy goes, the row (the bucket's object) stays.
        let b = index.get(ids[1].0).unwrap().unwrap().bytes;
        index.upload_confirmed(ids[1].0, "k", "s", b, "ab").unwrap();
        let r = crate::retention::enforce(&index, &cfg, 0).unwrap();
        assert_eq!(r.deleted, vec![ids[1].0]);
        assert!(!ids[1].1.exists() && ids[0].1.exists());
        assert!(index.get(ids[1].0).unwrap().is_some());
        assert!(!index.upload_of(ids[1].0).unwrap().unwrap().local_copy);
        // Hold lifted (store switched off): the oldest files go as before.
        index.set_upload_hold(false).unwrap();
        let r = crate::retention::enforce(&index, &cfg, 0).unwrap();
        assert_eq!(r.deleted, vec![ids[0].0, ids[2].0]);
        assert!(index.get(ids[0].0).unwrap().is_none());
    }
}
