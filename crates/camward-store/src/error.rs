//! Errors of the store, worded for the person reading the start-up failure or the API answer.
//! Each names the database file, so a headless device's log says exactly what to move or restore.

use camward_config::FieldError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read the database {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a camward database ({detail}); it was left untouched: move it away to start with an empty device, or restore a backup"
    )]
    NotCamward { path: PathBuf, detail: String },
    #[error(
        "the database {path} is corrupt ({detail}); it was left untouched: restore a backup, or move it away to start with an empty device"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the database {path} has schema version {found}, newer than this camward supports ({supported}); it was left untouched: run a newer camward"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database error on {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the stored configuration in {path} is invalid: {}", .errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    BadStoredConfig {
        path: PathBuf,
        errors: Vec<FieldError>,
    },
    #[error("the secrets key {path}: {detail}")]
    SecretsKey { path: PathBuf, detail: String },
    #[error(
        "the {what} in {path} does not open with this device's secrets key (was identity/secrets.key replaced?); {remedy}"
    )]
    Unsealable {
        path: PathBuf,
        what: String,
        remedy: String,
    },
    /// The name is taken, compared ignoring case: holds the existing account's name.
    #[error("an account named `{0}` already exists (user names are compared ignoring case)")]
    AccountExists(String),
    #[error("no account named `{0}`")]
    NoSuchAccount(String),
    #[error("an administrator already exists: first-access setup is closed")]
    AlreadySetUp,
    #[error("`{0}` is the last administrator: create another administrator first")]
    LastAdmin(String),
}
