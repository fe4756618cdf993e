//! camward's camera core: sources (testsrc, file, RTSP pull, V4L2), the H.264 encoder,
//! the frame bus that fans each encoded stream out to every consumer, and JPEG/MJPEG.
//! Its settings (`source`, `streams`, `jpeg`) are camward-config's.
#![forbid(unsafe_code)]

pub mod avc;
pub mod bus;
pub mod encoder;
pub mod error;
pub mod file;
pub mod frame;
pub mod hub;
pub mod jpeg;
pub mod rtsp_pull;
pub mod stage;
pub mod testsrc;
pub mod v4l2;

pub use bus::{FrameBus, Subscriber, Ticks, TryNext};
pub use camward_h264::{AccessUnit, StreamInfo};
pub use error::{MediaError, SourceError};
pub use hub::{MediaHub, Reconnect, SnapshotSize, StreamStatus};
pub use stage::{AuStage, StageFactory};
