//! Errors of camward-notify, each carrying what it was doing and on which input.
//! Messages never contain a password: they reach logs and the API.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A setting that validated but cannot be used (e.g. a sender address lettre refuses).
    #[error("invalid {what}: {detail}")]
    Config { what: &'static str, detail: String },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("FTP server on {addr}: {detail}")]
    FtpServer { addr: String, detail: String },
}

impl NotifyError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        NotifyError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
