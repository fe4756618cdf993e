//! The one error type of camward-cenc: each variant says which input was wrong and where,
//! so a viewer (or the recorder's log) can act on it without a debugger.

use std::path::PathBuf;

/// Everything that can go wrong while wrapping keys, encrypting samples or decrypting files.
/// Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A recipient string (a viewer's public key) is malformed.
    #[error("invalid recipient `{input}`: {reason}")]
    Recipient { input: String, reason: String },

    /// An identity file could not be created, read or parsed.
    #[error("identity file {}: {reason}", path.display())]
    Identity { path: PathBuf, reason: String },

    /// The identity is not one of the recipients the file was encrypted to.
    #[error(
        "this recording is encrypted to {recipients} and identity {identity} is not one of them: \
         use the identity file of one of those viewers"
    )]
    WrongIdentity {
        /// The recipient string of the identity that was tried.
        identity: String,
        /// The recipients named in the file, comma-separated.
        recipients: String,
    },

    /// Wrapping the content key to a recipient failed.
    #[error("wrapping the content key to {recipient}: {reason}")]
    Wrap { recipient: String, reason: String },

    /// The wrapped key for this identity does not open: the key bundle was damaged or altered.
    #[error(
        "the content key wrapped to {identity} does not open: the file's key bundle is damaged or was altered"
    )]
    Unwrap { identity: String },

    /// The key bundle (pssh data, index `key_info`) is malformed.
    #[error("key bundle: {0}")]
    Bundle(String),

    /// A sample cannot be encrypted or decrypted as given.
    #[error("sample: {0}")]
    Sample(String),

    /// The MP4 is not one this crate can decrypt (or encrypt); the message names the box and byte offset.
    #[error("MP4 at byte {offset}: {message}")]
    Format { offset: u64, message: String },

    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn format(offset: u64, message: impl Into<String>) -> Self {
        Error::Format {
            offset,
            message: message.into(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the failure means "this identity cannot open this file" (the CLI's exit code 2).
    pub fn is_wrong_identity(&self) -> bool {
        matches!(self, Error::WrongIdentity { .. } | Error::Unwrap { .. })
    }
}

/// Result with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
