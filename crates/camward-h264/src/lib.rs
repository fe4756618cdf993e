//! H.264 bitstream basics: Annex-B framing, NAL unit types, emulation prevention, SPS fields,
//! and the `AccessUnit` that flows from a source through the frame bus to every consumer.
#![forbid(unsafe_code)]

pub mod annexb;
pub mod au;
pub mod nal;
pub mod sps;

pub use au::{AccessUnit, StreamInfo};
pub use nal::NalType;
