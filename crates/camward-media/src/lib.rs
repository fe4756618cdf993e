//! camward's camera core: sources (testsrc, file, RTSP pull, V4L2), the H.264 encoder,
//! the frame bus that fans each encoded stream out to every consumer, and JPEG/MJPEG.
#![forbid(unsafe_code)]

// The settings types stand alone (serde only) so camward-config can embed them with
// `default-features = false`; everything else is the `pipeline` feature (on by default).
pub mod config;

#[cfg(feature = "pipeline")]
pub mod avc;
#[cfg(feature = "pipeline")]
pub mod bus;
#[cfg(feature = "pipeline")]
pub mod encoder;
#[cfg(feature = "pipeline")]
pub mod error;
#[cfg(feature = "pipeline")]
pub mod file;
#[cfg(feature = "pipeline")]
pub mod frame;
#[cfg(feature = "pipeline")]
pub mod http;
#[cfg(feature = "pipeline")]
pub mod hub;
#[cfg(feature = "pipeline")]
pub mod jpeg;
#[cfg(feature = "pipeline")]
pub mod rtsp_pull;
#[cfg(feature = "pipeline")]
pub mod stage;
#[cfg(feature = "pipeline")]
pub mod testsrc;
#[cfg(feature = "pipeline")]
pub mod v4l2;

pub use config::{
    ConfigIssue, JpegConfig, JpegSize, JpegSizeConfig, Source, StreamConfig, StreamsConfig,
};

#[cfg(feature = "pipeline")]
pub use bus::{FrameBus, Subscriber, Ticks, TryNext};
#[cfg(feature = "pipeline")]
pub use camward_h264::{AccessUnit, StreamInfo};
#[cfg(feature = "pipeline")]
pub use error::{MediaError, SourceError};
#[cfg(feature = "pipeline")]
pub use hub::{MediaHub, StreamStatus};
#[cfg(feature = "pipeline")]
pub use stage::{AuStage, StageFactory};
