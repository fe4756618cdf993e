//! Errors callers of the media hub see (snapshots, MJPEG) and the ones pipelines record.
//! Each says which stream and what to do, since they end up in HTTP responses and the status API.

use crate::{file::FileError, jpeg::DecodeError, jpeg::JpegError, rtsp_pull::PullError};

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("there is no stream {0} (streams are 1 and 2)")]
    NoSuchStream(u8),
    #[error("stream {0} is switched off")]
    StreamOff(u8),
    #[error("stream {0} has no picture yet (starting, or its source is failing: {1})")]
    NotReady(u8, String),
    #[error("stream {stream}: cannot decode the picture for a snapshot: {source}")]
    Decode { stream: u8, source: DecodeError },
    #[error("stream {stream}: {source}")]
    Jpeg { stream: u8, source: JpegError },
    #[error("the media hub is shut down")]
    Shutdown,
    #[error("MediaHub::start must be called within a tokio runtime")]
    NoRuntime,
}

/// Why a stream's pipeline stopped; recorded in the stream status and retried with back-off.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Rtsp(#[from] PullError),
    #[error(transparent)]
    Encode(#[from] crate::encoder::EncodeError),
    #[error(transparent)]
    V4l2(#[from] crate::v4l2::V4l2Error),
    #[error("the {0} thread of the pipeline ended unexpectedly")]
    ThreadGone(&'static str),
    #[error("cannot start the pipeline thread: {0}")]
    Spawn(std::io::Error),
}
