//! Opening the database: a read-only health check of an existing file, then migrations.
//! A file that fails the check is never opened for writing, so no WAL/journal is created beside it.
//! The data directory is made 0700 and the database 0600 (SQLite gives its `-wal`/`-shm` the
//! database's mode), also on an install made before these modes were set.

use crate::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Name of the database file inside the data directory.
pub const DB_FILE: &str = "camward.db";

/// `PRAGMA application_id` of camward databases ('cwrd').
pub(crate) const APPLICATION_ID: i64 = 0x6377_7264;

/// Migrations in order; `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_initial.sql")];

/// The schema version this build writes (number of migrations).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

pub(crate) fn open(data_dir: &Path) -> Result<(Connection, PathBuf), StoreError> {
    create_data_dir(data_dir)?;
    let path = data_dir.join(DB_FILE);
    let sql_err = |source| StoreError::Sqlite {
        path: path.clone(),
        source,
    };
    let exists = match std::fs::metadata(&path) {
        Ok(m) => m.len() > 0,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(source) => return Err(StoreError::Unreadable { path, source }),
    };
    if exists {
        check_existing(&path)?;
    } else {
        create_private(&path)?;
    }
    for p in [path.clone(), sibling(&path, "-wal"), sibling(&path, "-shm")] {
        tighten(&p, 0o600)?;
    }
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_err)?;
    // WAL: readers (the console tools) never block the daemon and a crash cannot tear a transaction.
    // NORMAL sync is durable across application crashes, and power loss can lose only the last commit.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sql_err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql_err)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(sql_err)?;
    // Deleted and overwritten content is zeroed, so a secret that was once stored in clear (by an
    // older version, before sealing) does not linger in free pages of the file.
    conn.pragma_update(None, "secure_delete", true)
        .map_err(sql_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sql_err)?;
    migrate(&conn).map_err(sql_err)?;
    Ok((conn, path))
}

fn create_data_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    let data_err = |source| StoreError::DataDir {
        path: dir.to_owned(),
        source,
    };
    // The directory holds password hashes, keys and the device configuration: owner only.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(data_err)?;
    tighten(dir, 0o700)
}

/// `camward.db-wal` beside `camward.db`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(suffix);
    path.with_file_name(name)
}

/// Creates the empty database file owner-only before SQLite opens it (SQLite would use 0644).
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Unreadable {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Takes group and other rights away from an existing path (missing is fine).
pub(crate) fn tighten(path: &Path, mode: u32) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(StoreError::Unreadable {
                path: path.to_owned(),
                source,
            });
        }
    };
    if meta.file_type().is_symlink() || meta.permissions().mode() & 0o7777 == mode {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        StoreError::DataDir {
            path: path.to_owned(),
            source,
        }
    })
}

/// Checks an existing file without writing anything: header, read-only open, quick_check, identity
/// and version. Runs before any read-write open so a damaged file stays byte-identical.
fn check_existing(path: &Path) -> Result<(), StoreError> {
    let mut header = [0u8; 100];
    let mut f = std::fs::File::open(path).map_err(|source| StoreError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let n = read_up_to(&mut f, &mut header).map_err(|source| StoreError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    drop(f);
    if n < 100 || &header[..16] != SQLITE_MAGIC {
        return Err(StoreError::NotCamward {
            path: path.to_owned(),
            detail: "it is not an SQLite file".into(),
        });
    }
    let corrupt = |detail: String| StoreError::Corrupt {
        path: path.to_owned(),
        detail,
    };
    // Without a WAL file beside it (clean shutdown, or a file copied in), the database is opened
    // `immutable`: SQLite then creates no -wal/-shm either, so a bad file gets no companions. With a WAL
    // left by a crash, its content is part of the database and must be read, so open normally read-only.
    let wal = sibling(path, "-wal");
    let ro = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if wal.exists() {
        Connection::open_with_flags(path, ro)
    } else {
        Connection::open_with_flags(
            format!("file:{}?immutable=1", uri_path(path)),
            ro | OpenFlags::SQLITE_OPEN_URI,
        )
    }
    .map_err(|e| corrupt(e.to_string()))?;
    let mut stmt = conn
        .prepare("PRAGMA quick_check")
        .map_err(|e| corrupt(e.to_string()))?;
    let problems: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| corrupt(e.to_string()))?;
    drop(stmt);
    if problems.first().map(String::as_str) != Some("ok") {
        let mut detail = problems.into_iter().take(3).collect::<Vec<_>>().join("; ");
        if detail.is_empty() {
            detail = "quick_check returned nothing".into();
        }
        return Err(corrupt(format!("quick_check: {detail}")));
    }
    let app_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| corrupt(e.to_string()))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| corrupt(e.to_string()))?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(|e| corrupt(e.to_string()))?;
    if app_id != APPLICATION_ID && tables > 0 {
        return Err(StoreError::NotCamward {
            path: path.to_owned(),
            detail: format!("an SQLite file of another application (application_id {app_id})"),
        });
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Percent-encodes a path for an SQLite `file:` URI (RFC 3986 unreserved characters and `/` kept).
fn uri_path(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut out = String::new();
    for b in abs.as_os_str().as_encoded_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(*b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Applies the missing migrations, each with its version bump in one transaction.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let target = i as i64 + 1;
        tracing::info!(from = i, to = target, "migrating database schema");
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {target};\nCOMMIT;"
        ))
        .inspect_err(|_| {
            let _ = conn.execute_batch("ROLLBACK");
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn sha(path: &Path) -> Vec<u8> {
        std::fs::read(path).unwrap()
    }

    fn siblings(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn fresh_directory_gets_current_schema() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let v: i64 = store
            .conn()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        drop(store);
        // Reopening an up-to-date file is a no-op.
        Store::open(dir.path()).unwrap();
    }

    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn data_directory_and_database_files_are_owner_only_also_on_an_old_install() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = Store::open(&data).unwrap();
        store.audit(&crate::AuditEvent::new("test.write")).unwrap();
        assert_eq!(mode(&data), 0o700);
        for f in [DB_FILE, "camward.db-wal", "camward.db-shm"] {
            assert_eq!(mode(&data.join(f)), 0o600, "{f}");
        }
        drop(store);
        // An install from before: everything world-readable.
        let loose = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(&data, loose).unwrap();
        std::fs::set_permissions(data.join(DB_FILE), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let _store = Store::open(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join(DB_FILE)), 0o600);
    }

    #[test]
    fn non_sqlite_file_is_refused_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        std::fs::write(
            &path,
            b"this is not a database, just some text that is long enough to fill a header.....",
        )
        .unwrap();
        let before = sha(&path);
        let err = Store::open(dir.path()).err().unwrap();
        assert!(matches!(err, StoreError::NotCamward { .. }), "{err}");
        assert!(err.to_string().contains(&path.display().to_string()));
        assert_eq!(sha(&path), before);
        assert_eq!(siblings(dir.path()), vec![DB_FILE.to_string()]);
    }

    #[test]
    fn corrupt_pages_are_refused_and_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            // Enough rows to span several pages.
            for i in 0..200 {
                store
                    .audit(
                        &crate::AuditEvent::new("test.fill")
                            .target(format!("row {i} {}", "x".repeat(200))),
                    )
                    .unwrap();
            }
        }
        let path = dir.path().join(DB_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 4096 * 4);
        // Scribble over the second half of the file, keeping the header intact.
        let half = bytes.len() / 2;
        for b in &mut bytes[4096..half] {
            *b = 0xA5;
        }
        std::fs::write(&path, &bytes).unwrap();
        let before = siblings(dir.path());
        let err = Store::open(dir.path()).err().unwrap();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(sha(&path), bytes);
        assert_eq!(
            siblings(dir.path()),
            before,
            "no WAL or journal created beside a corrupt file"
        );
    }

    #[test]
    fn foreign_sqlite_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let c = Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE other (x)").unwrap();
        drop(c);
        let before = sha(&path);
        let err = Store::open(dir.path()).err().unwrap();
        assert!(matches!(err, StoreError::NotCamward { .. }), "{err}");
        assert_eq!(sha(&path), before);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let path = dir.path().join(DB_FILE);
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(c);
        let err = Store::open(dir.path()).err().unwrap();
        assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
    }
}
