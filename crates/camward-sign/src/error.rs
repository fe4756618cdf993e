//! Errors of the signing crate: malformed SEIs, unreadable containers and bad certificates.
//! Messages carry the location (NAL index, byte offset, box path) so a report points at the input.

/// What went wrong, with enough context to find the offending bytes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An ONVIF SEI or TLV does not follow the format.
    #[error("malformed media signing data: {0}")]
    Format(String),
    /// The input is neither Annex-B H.264 nor a readable MP4 with an H.264 track.
    #[error("unreadable input: {0}")]
    Unreadable(String),
    /// A certificate or key could not be parsed or used.
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn format(msg: impl Into<String>) -> Self {
        Error::Format(msg.into())
    }
    pub(crate) fn unreadable(msg: impl Into<String>) -> Self {
        Error::Unreadable(msg.into())
    }
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
