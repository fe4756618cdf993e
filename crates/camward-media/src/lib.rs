//! camward's camera core: sources (testsrc, file, RTSP pull, V4L2), the H.264 encoder,
//! the frame bus that fans each encoded stream out to every consumer, and JPEG/MJPEG.
#![forbid(unsafe_code)]

pub mod bus;

pub use bus::{FrameBus, Subscriber};
pub use camward_h264::{AccessUnit, StreamInfo};
