//! Errors of the recorder: every variant names the file, box offset or setting at fault.
//! Callers log them or map them to HTTP statuses; none is fatal to the camera.

use std::path::PathBuf;

/// Everything that can go wrong while recording, recovering, indexing or exporting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("index {path}: {source}")]
    Index {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: malformed MP4 at offset {offset}: {reason}")]
    Malformed {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("encoding {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: mp4_atom::Error,
    },
    #[error("recording {0} is not in the index")]
    NotFound(i64),
    #[error("nothing recorded for stream {stream} between {from} and {to}")]
    NothingToExport {
        stream: u8,
        from: String,
        to: String,
    },
    #[error(
        "export spans a change of stream format at {at} ({path}); export the two sides separately"
    )]
    FormatChange { at: String, path: PathBuf },
    #[error("sample transform: {0}")]
    Transform(String),
    #[error("stream {0} is not recorded")]
    UnknownStream(u8),
    #[error("the recorder has stopped")]
    Stopped,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches the operation and path to an `io::Error`, the context every file error needs.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            op,
            path: path.into(),
            source,
        })
    }
}
