//! camward's persistent state in one SQLite file: accounts, the configuration document, the audit log.
//! Refuses to start on a corrupt or foreign file and never writes to it; every write is one transaction.
//! Nothing secret is in it in clear (paper §3.2): configuration passwords and Digest HA1 values are
//! sealed with the device's secrets key (`DATA/identity/secrets.key`), and the file is 0600 in a
//! 0700 directory.
#![forbid(unsafe_code)]

mod accounts;
mod audit;
mod config_handle;
mod error;
mod open;
pub mod secrets_key;

pub use accounts::{Account, AccountSummary, Secrets};
pub use audit::{Actor, AuditEntry, AuditEvent, AuditQuery, MAX_AUDIT_ROWS};
pub use config_handle::{ConfigHandle, PatchError};
pub use error::StoreError;
pub use open::{DB_FILE, SCHEMA_VERSION};

use camward_config::SealKey;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Handle on the database; cheap to clone, shared by every service of the daemon.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    // One connection behind a mutex: the device's write rate is tiny and SQLite serialises writers
    // anyway; this keeps transactions simple and avoids SQLITE_BUSY between our own threads.
    conn: Mutex<Connection>,
    path: PathBuf,
    // Seals the configuration's secrets and the accounts' HA1 values; never leaves the process.
    key: SealKey,
}

impl Store {
    /// Opens (or creates) `data_dir/camward.db`, checking an existing file read-only first, and the
    /// device's secrets key (created on first start). Digest secrets an older version stored in
    /// clear are sealed now.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let (conn, path) = open::open(data_dir)?;
        let key = secrets_key::load_or_create(data_dir)?;
        let store = Store {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                path,
                key,
            }),
        };
        store.seal_clear_accounts()?;
        Ok(store)
    }

    pub(crate) fn key(&self) -> &SealKey {
        &self.inner.key
    }

    /// The database file, for messages.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable (transactions roll back on drop).
        self.inner.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sql_err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.inner.path.clone(),
            source,
        }
    }

    /// Changes whenever another connection (the console tools) committed to the file.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        self.conn()
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(|e| self.sql_err(e))
    }
}

/// Unix time in seconds.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Unix time in milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
