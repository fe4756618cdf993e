//! The recording index: one SQLite row per file, stored beside the files (`index.sqlite3`)
//! so the card describes itself and the index can always be rebuilt from the files.

use crate::error::{Error, Result};
use crate::timeutil::{file_stamp, rfc3339};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Serialize, Serializer};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// File name of the index inside the recording directory.
pub const INDEX_FILE: &str = "index.sqlite3";

/// Every column says why it exists; `user_version` lets later versions migrate.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS recording (
    -- Stable handle for the API (/recordings/{id}.mp4) and part of the file name, so a
    -- rebuilt index gets the same ids back. AUTOINCREMENT: ids are never reused after retention.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Which camera stream (1 = Stream(1), 2 = Stream(2)); listing filters on it.
    stream INTEGER NOT NULL,
    -- File path relative to the recording directory, so the card can be mounted anywhere.
    path TEXT NOT NULL UNIQUE,
    -- Wall-clock span in UTC milliseconds since 1970: time-range listing and export.
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    -- File size: retention's quota sums it without stat-ing every file.
    bytes INTEGER NOT NULL,
    -- Access units stored; with skipped_frames, tells gaps from a slow disk apart from a quiet stream.
    frames INTEGER NOT NULL,
    -- Access units the recorder could not take (bus lag, writer queue full) while writing this file.
    skipped_frames INTEGER NOT NULL DEFAULT 0,
    -- The stream carried ONVIF Media Signing SEIs: the file can be verified (paper §3.9).
    signed INTEGER NOT NULL DEFAULT 0,
    -- Samples are CENC-encrypted (paper §3.8); false until encryption is configured.
    encrypted INTEGER NOT NULL DEFAULT 0,
    -- Opaque protection data from the sample transform (e.g. wrapped content keys); NULL in the clear.
    key_info BLOB,
    -- recording: being written (or interrupted by a crash); finished: closed normally;
    -- recovered: closed by crash recovery after cutting an incomplete tail.
    state TEXT NOT NULL CHECK (state IN ('recording', 'finished', 'recovered')),
    -- continuous: scheduled recording; alarm: written because an alarm fired (kept apart in lists).
    trigger TEXT NOT NULL CHECK (trigger IN ('continuous', 'alarm')),
    -- Picture size at the start of the file (a size change starts a new file): shown in lists.
    width INTEGER NOT NULL DEFAULT 0,
    height INTEGER NOT NULL DEFAULT 0
);
-- Listing and export look up a stream's rows by time.
CREATE INDEX IF NOT EXISTS recording_stream_start ON recording (stream, start_ms);
"#;

/// Version 2: recorder mode (the `cameras` section) records upstream cameras into the same
/// directory, quota and retention as this device's own streams.
const MIGRATION_2: &str = r#"
-- The upstream camera (its name in the `cameras` section) a file was pulled from; NULL for
-- this device's own Stream(1)/(2). Listing filters on it, and export of the own streams must
-- never mix in a camera's files, whose stream numbers are the camera's.
ALTER TABLE recording ADD COLUMN camera TEXT;
-- Listing and export of one camera's stream by time.
CREATE INDEX IF NOT EXISTS recording_camera_stream_start ON recording (camera, stream, start_ms);
"#;

/// The schema version [`Index::open`] leaves the file at.
pub const SCHEMA_VERSION: i64 = 2;

/// Why a recording was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Continuous,
    Alarm,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Continuous => "continuous",
            Trigger::Alarm => "alarm",
        }
    }
    fn parse(s: &str) -> Trigger {
        if s == "alarm" {
            Trigger::Alarm
        } else {
            Trigger::Continuous
        }
    }
}

/// Where a file is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Recording,
    Finished,
    Recovered,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Recording => "recording",
            State::Finished => "finished",
            State::Recovered => "recovered",
        }
    }
    fn parse(s: &str) -> State {
        match s {
            "recording" => State::Recording,
            "recovered" => State::Recovered,
            _ => State::Finished,
        }
    }
}

fn ser_time<S: Serializer>(ms: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*ms))
}

/// One recording as the API lists it (`start`/`end` as RFC 3339 UTC).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordingRow {
    pub id: i64,
    /// The upstream camera (recorder mode); `None` for this device's own streams.
    pub camera: Option<String>,
    pub stream: u8,
    #[serde(rename = "start", serialize_with = "ser_time")]
    pub start_ms: i64,
    #[serde(rename = "end", serialize_with = "ser_time")]
    pub end_ms: i64,
    pub bytes: u64,
    pub frames: u64,
    pub skipped_frames: u64,
    pub signed: bool,
    pub encrypted: bool,
    pub state: State,
    pub trigger: Trigger,
    pub width: u32,
    pub height: u32,
    /// Relative to the recording directory; internal, the API hands out ids.
    #[serde(skip)]
    pub path: String,
    #[serde(skip)]
    pub key_info: Option<Vec<u8>>,
}

/// Whose recordings a listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CameraFilter {
    /// This device's and every upstream camera's.
    #[default]
    Any,
    /// Only this device's own streams.
    Local,
    /// Only the upstream camera of this name.
    Named(String),
}

/// `list` filter: rows overlapping [from, to) of one stream; `None` = unbounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub camera: CameraFilter,
    pub stream: Option<u8>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

/// Directory of the upstream cameras' recordings: `cameras/NAME/streamN/…`.
pub const CAMERAS_DIR: &str = "cameras";

/// The file name a recording gets: stream directory (under `cameras/NAME/` for an upstream
/// camera), UTC start, id, and `_alarm` for alarms.
pub fn file_name(
    camera: Option<&str>,
    stream: u8,
    start_ms: i64,
    id: i64,
    trigger: Trigger,
) -> String {
    let suffix = if trigger == Trigger::Alarm {
        "_alarm"
    } else {
        ""
    };
    let prefix = camera
        .map(|c| format!("{CAMERAS_DIR}/{c}/"))
        .unwrap_or_default();
    format!(
        "{prefix}stream{stream}/{}_{id:06}{suffix}.mp4",
        file_stamp(start_ms)
    )
}

/// Whether a camera name can be a directory of [`CAMERAS_DIR`] (the configuration allows
/// letters, digits, `-` and `_`; anything else found on a card is not camward's).
fn camera_dir_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Inverse of [`file_name`] on a relative path: (camera, stream, id, trigger).
pub fn parse_file_name(rel: &str) -> Option<(Option<String>, u8, i64, Trigger)> {
    let (camera, rel) = match rel
        .strip_prefix(CAMERAS_DIR)
        .and_then(|r| r.strip_prefix('/'))
    {
        Some(r) => {
            let (cam, rest) = r.split_once('/')?;
            if !camera_dir_name(cam) {
                return None;
            }
            (Some(cam.to_owned()), rest)
        }
        None => (None, rel),
    };
    let (dir, name) = rel.split_once('/')?;
    let stream: u8 = dir.strip_prefix("stream")?.parse().ok()?;
    let stem = name.strip_suffix(".mp4")?;
    let (stem, trigger) = match stem.strip_suffix("_alarm") {
        Some(s) => (s, Trigger::Alarm),
        None => (stem, Trigger::Continuous),
    };
    let (stamp, id) = stem.split_once('_')?;
    // `YYYYMMDDTHHMMSSZ` exactly, as `file_stamp` writes it: a name from the bucket (adoption)
    // may be anyone's, and `..` or `/` in it would reach outside the recording directory.
    let stamp_ok = stamp.len() == 16
        && stamp.bytes().enumerate().all(|(i, b)| match i {
            8 => b == b'T',
            15 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    if !stamp_ok {
        return None;
    }
    Some((camera, stream, id.parse().ok()?, trigger))
}

/// The index of one recording directory. Cheap to share behind an `Arc`.
pub struct Index {
    dir: PathBuf,
    db: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").field("db", &self.db).finish()
    }
}

const COLUMNS: &str = "id, stream, path, start_ms, end_ms, bytes, frames, skipped_frames, signed, encrypted, state, trigger, width, height, key_info, camera";

/// Number of [`COLUMNS`]: queries joining other tables read theirs after these. Counted, not
/// written down, so a column added to `recording` moves the joined ones along.
pub(crate) fn column_count() -> usize {
    COLUMNS.split(", ").count()
}

/// [`COLUMNS`] qualified with a table alias, for queries that join the `upload` table.
pub(crate) fn qualified_columns(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inserts `r` under `id` (`None`: the next free id) on `c` (a connection or a transaction);
/// returns the id.
pub(crate) fn insert_recording(
    c: &Connection,
    r: &RecordingRow,
    id: Option<i64>,
) -> rusqlite::Result<i64> {
    c.execute(
        &format!("INSERT INTO recording ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"),
        params![
            id,
            r.stream,
            r.path,
            r.start_ms,
            r.end_ms,
            r.bytes as i64,
            r.frames as i64,
            r.skipped_frames as i64,
            r.signed,
            r.encrypted,
            r.state.as_str(),
            r.trigger.as_str(),
            r.width,
            r.height,
            r.key_info,
            r.camera
        ],
    )?;
    Ok(c.last_insert_rowid())
}

pub(crate) fn row_of(r: &Row<'_>) -> rusqlite::Result<RecordingRow> {
    row(r)
}

fn row(r: &Row<'_>) -> rusqlite::Result<RecordingRow> {
    Ok(RecordingRow {
        id: r.get(0)?,
        stream: r.get(1)?,
        path: r.get(2)?,
        start_ms: r.get(3)?,
        end_ms: r.get(4)?,
        bytes: r.get::<_, i64>(5)? as u64,
        frames: r.get::<_, i64>(6)? as u64,
        skipped_frames: r.get::<_, i64>(7)? as u64,
        signed: r.get(8)?,
        encrypted: r.get(9)?,
        state: State::parse(&r.get::<_, String>(10)?),
        trigger: Trigger::parse(&r.get::<_, String>(11)?),
        width: r.get(12)?,
        height: r.get(13)?,
        key_info: r.get(14)?,
        camera: r.get(15)?,
    })
}

impl Index {
    /// Opens (creating if needed) `dir/index.sqlite3`.
    pub fn open(dir: &Path) -> Result<Index> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            op: "create directory",
            path: dir.to_owned(),
            source,
        })?;
        let db = dir.join(INDEX_FILE);
        let e = |source| Error::Index {
            path: db.clone(),
            source,
        };
        let conn = Connection::open(&db).map_err(e)?;
        // WAL: readers (the web API) never wait for the writers. synchronous=NORMAL: a commit
        // costs no fsync; the newest progress updates may be lost on power loss, which recovery
        // repairs from the files themselves. Row creation switches to FULL (see create_recording).
        conn.pragma_update(None, "journal_mode", "WAL").map_err(e)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(e)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(e)?;
        conn.execute_batch(SCHEMA).map_err(e)?;
        conn.execute_batch(crate::upload::SCHEMA).map_err(e)?;
        migrate(&conn).map_err(e)?;
        Ok(Index {
            dir: dir.to_owned(),
            db,
            conn: Mutex::new(conn),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The schema version of the open file (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64> {
        self.with(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
    }

    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back), so
        // a poisoned mutex is still usable.
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|source| Error::Index {
            path: self.db.clone(),
            source,
        })
    }

    /// Inserts the row of a file about to be created and returns (id, relative path).
    /// Durable before the file exists (synchronous=FULL for this commit), so after any crash a
    /// file always has its row and its id is never handed out twice.
    pub fn create_recording(
        &self,
        camera: Option<&str>,
        stream: u8,
        trigger: Trigger,
        start_ms: i64,
        width: u32,
        height: u32,
    ) -> Result<(i64, String)> {
        self.with(|c| {
            c.pragma_update(None, "synchronous", "FULL")?;
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO recording (stream, path, start_ms, end_ms, bytes, frames, state, trigger, width, height, camera)
                 VALUES (?1, '', ?2, ?2, 0, 0, 'recording', ?3, ?4, ?5, ?6)",
                params![stream, start_ms, trigger.as_str(), width, height, camera],
            )?;
            let id = tx.last_insert_rowid();
            let rel = file_name(camera, stream, start_ms, id, trigger);
            tx.execute("UPDATE recording SET path = ?1 WHERE id = ?2", params![rel, id])?;
            tx.commit()?;
            c.pragma_update(None, "synchronous", "NORMAL")?;
            Ok((id, rel))
        })
    }

    /// Records progress after a fragment is durable on disk.
    pub fn update_progress(
        &self,
        id: i64,
        end_ms: i64,
        bytes: u64,
        frames: u64,
        skipped: u64,
        signed: bool,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE recording SET end_ms = ?2, bytes = ?3, frames = ?4, skipped_frames = ?5, signed = ?6 WHERE id = ?1",
                params![id, end_ms, bytes as i64, frames as i64, skipped as i64, signed],
            )
            .map(|_| ())
        })
    }

    /// Notes the protection a transform chose for a file.
    pub fn set_protection(&self, id: i64, encrypted: bool, key_info: Option<&[u8]>) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE recording SET encrypted = ?2, key_info = ?3 WHERE id = ?1",
                params![id, encrypted, key_info],
            )
            .map(|_| ())
        })
    }

    pub fn set_state(&self, id: i64, state: State) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE recording SET state = ?2 WHERE id = ?1",
                params![id, state.as_str()],
            )
            .map(|_| ())
        })
    }

    pub fn delete(&self, id: i64) -> Result<()> {
        self.with(|c| {
            // The upload row goes with it: the recording no longer exists anywhere.
            c.execute("DELETE FROM upload WHERE recording_id = ?1", params![id])?;
            c.execute("DELETE FROM recording WHERE id = ?1", params![id])
                .map(|_| ())
        })
    }

    pub fn get(&self, id: i64) -> Result<Option<RecordingRow>> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM recording WHERE id = ?1"),
                params![id],
                row,
            )
            .optional()
        })
    }

    /// Rows overlapping the filter's range, oldest first.
    pub fn list(&self, f: &ListFilter) -> Result<Vec<RecordingRow>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM recording
                 WHERE (?1 IS NULL OR stream = ?1) AND (?2 IS NULL OR end_ms > ?2) AND (?3 IS NULL OR start_ms < ?3)
                   AND (?4 = 0 OR (?4 = 1 AND camera IS NULL) OR (?4 = 2 AND camera = ?5))
                 ORDER BY start_ms, id"
            ))?;
            let (kind, name) = match &f.camera {
                CameraFilter::Any => (0, None),
                CameraFilter::Local => (1, None),
                CameraFilter::Named(n) => (2, Some(n.as_str())),
            };
            st.query_map(params![f.stream, f.from_ms, f.to_ms, kind, name], row)?
                .collect()
        })
    }

    /// Absolute path of a recording's file.
    pub fn path_of(&self, id: i64) -> Result<PathBuf> {
        let r = self.get(id)?.ok_or(Error::NotFound(id))?;
        Ok(self.dir.join(r.path))
    }

    /// (recordings, start of the oldest, start of the newest) in milliseconds, for the status page.
    pub fn summary(&self) -> Result<(u64, Option<i64>, Option<i64>)> {
        self.with(|c| {
            c.query_row(
                "SELECT COUNT(*), MIN(start_ms), MAX(start_ms) FROM recording",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?)),
            )
        })
    }

    /// Bytes of all recordings on the card, including those being written (the quota's
    /// measure); recordings moved to the object store take no space here.
    pub fn total_bytes(&self) -> Result<u64> {
        self.with(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(r.bytes), 0) FROM recording r LEFT JOIN upload u ON u.recording_id = r.id
                 WHERE COALESCE(u.local_copy, 1) = 1",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|b| b as u64)
    }

    pub fn in_state(&self, state: State) -> Result<Vec<RecordingRow>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM recording WHERE state = ?1 ORDER BY id"
            ))?;
            st.query_map(params![state.as_str()], row)?.collect()
        })
    }

    /// Inserts a row with a known id (rebuild and adoption of files found on disk).
    pub(crate) fn insert_row(&self, r: &RecordingRow) -> Result<()> {
        self.with(|c| insert_recording(c, r, Some(r.id)).map(|_| ()))
    }

    /// Empties the index for a rebuild from the files, except recordings confirmed in an object
    /// store: their rows (recording and upload) describe objects the card no longer holds, and
    /// were checked against the object's size and SHA-256 when they were confirmed. Unconfirmed
    /// upload rows go: what is on the card is uploaded again (same bytes, same keys).
    pub(crate) fn clear(&self) -> Result<()> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            tx.execute("DELETE FROM upload WHERE status != 'confirmed'", [])?;
            tx.execute(
                "DELETE FROM recording WHERE id NOT IN (SELECT recording_id FROM upload)",
                [],
            )?;
            tx.commit()
        })
    }

    /// Whether a row has this relative path: an object listed in the bucket under it is a
    /// recording the index already describes (one indexed lookup per listed object).
    pub fn knows_path(&self, rel: &str) -> Result<bool> {
        self.with(|c| {
            c.query_row(
                "SELECT 1 FROM recording WHERE path = ?1",
                params![rel],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
        })
    }

    /// Relative paths of every row, to find files the index does not know.
    pub(crate) fn known_paths(&self) -> Result<HashSet<String>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT path FROM recording")?;
            st.query_map([], |r| r.get(0))?.collect()
        })
    }
}

/// Brings an index file to [`SCHEMA_VERSION`]: a new file gets version 1's table, then each
/// migration runs once, in one transaction with its version bump, so a crash leaves either
/// version, never half of one.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if v < 1 {
        conn.pragma_update(None, "user_version", 1)?;
    }
    if v < 2 {
        conn.execute_batch(&format!(
            "BEGIN; {MIGRATION_2} PRAGMA user_version = 2; COMMIT;"
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_parse_back() {
        let n = file_name(None, 1, 1_795_000_000_000, 123, Trigger::Continuous);
        assert!(
            n.starts_with("stream1/") && n.ends_with("_000123.mp4"),
            "{n}"
        );
        assert_eq!(
            parse_file_name(&n),
            Some((None, 1, 123, Trigger::Continuous))
        );
        let a = file_name(None, 2, 0, 7, Trigger::Alarm);
        assert_eq!(parse_file_name(&a), Some((None, 2, 7, Trigger::Alarm)));
        assert_eq!(parse_file_name("stream1/notes.txt"), None);
        let c = file_name(Some("door-1"), 2, 0, 8, Trigger::Continuous);
        assert!(c.starts_with("cameras/door-1/stream2/"), "{c}");
        assert_eq!(
            parse_file_name(&c),
            Some((Some("door-1".into()), 2, 8, Trigger::Continuous))
        );
        assert_eq!(
            parse_file_name("cameras/../stream1/19700101T000000Z_000001.mp4"),
            None
        );
        // Sixteen characters ending in Z are not yet a time stamp.
        assert_eq!(parse_file_name("stream1/../../../../../Z_000001.mp4"), None);
        assert_eq!(parse_file_name("stream1/2026112xT034500Z_000001.mp4"), None);
    }

    #[test]
    fn list_filters_by_stream_and_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let ix = Index::open(dir.path()).unwrap();
        let (a, _) = ix
            .create_recording(None, 1, Trigger::Continuous, 1000, 320, 240)
            .unwrap();
        ix.update_progress(a, 2000, 10, 1, 0, true).unwrap();
        let (b, _) = ix
            .create_recording(None, 1, Trigger::Continuous, 2000, 320, 240)
            .unwrap();
        ix.update_progress(b, 3000, 10, 1, 0, false).unwrap();
        let (c, _) = ix
            .create_recording(None, 2, Trigger::Alarm, 1500, 320, 240)
            .unwrap();
        ix.update_progress(c, 2500, 10, 1, 0, false).unwrap();
        let ids = |f| {
            ix.list(&f)
                .unwrap()
                .iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(ListFilter::default()), vec![a, c, b]);
        assert_eq!(
            ids(ListFilter {
                stream: Some(1),
                from_ms: Some(2000),
                ..ListFilter::default()
            }),
            vec![b]
        );
        assert_eq!(
            ids(ListFilter {
                from_ms: Some(1800),
                to_ms: Some(2100),
                ..ListFilter::default()
            }),
            vec![a, c, b]
        );
        let json = serde_json::to_value(ix.get(a).unwrap().unwrap()).unwrap();
        assert_eq!(json["start"], "1970-01-01T00:00:01Z");
        assert_eq!(json["signed"], true);
        assert_eq!(json["encrypted"], false);
        assert_eq!(json["state"], "recording");
        assert!(json.get("path").is_none());
        assert_eq!(json["camera"], serde_json::Value::Null);
        // A camera's rows are listed with everything, apart with Named, and never as Local.
        let (d, rel) = ix
            .create_recording(Some("door"), 1, Trigger::Continuous, 1200, 640, 360)
            .unwrap();
        assert!(rel.starts_with("cameras/door/stream1/"), "{rel}");
        assert_eq!(ids(ListFilter::default()), vec![a, d, c, b]);
        let local = ListFilter {
            camera: CameraFilter::Local,
            stream: Some(1),
            ..ListFilter::default()
        };
        assert_eq!(ids(local), vec![a, b]);
        let door = ListFilter {
            camera: CameraFilter::Named("door".into()),
            ..ListFilter::default()
        };
        assert_eq!(ids(door), vec![d]);
        assert_eq!(ix.get(d).unwrap().unwrap().camera.as_deref(), Some("door"));
    }

    #[test]
    fn a_version_1_index_gains_the_camera_column_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        {
            // The index as version 1 wrote it.
            let c = Connection::open(dir.path().join(INDEX_FILE)).unwrap();
            c.execute_batch(SCHEMA).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
            c.execute(
                "INSERT INTO recording (stream, path, start_ms, end_ms, bytes, frames, state, trigger)
                 VALUES (1, 'stream1/19700101T000001Z_000001.mp4', 1000, 2000, 10, 1, 'finished', 'continuous')",
                [],
            )
            .unwrap();
        }
        let ix = Index::open(dir.path()).unwrap();
        assert_eq!(ix.schema_version().unwrap(), SCHEMA_VERSION);
        let rows = ix.list(&ListFilter::default()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].camera, None);
        drop(ix);
        // Opening again runs no migration twice.
        let ix = Index::open(dir.path()).unwrap();
        assert_eq!(ix.schema_version().unwrap(), 2);
        assert_eq!(ix.list(&ListFilter::default()).unwrap().len(), 1);
    }
}
