//! camward's SD-card recorder (paper §3.8–3.9): fragmented MP4 files per stream, a SQLite index
//! beside them, retention, crash recovery and export. camward-web serves them over HTTP.
#![forbid(unsafe_code)]

pub mod cenc;
pub mod error;
pub mod export;
pub mod fmp4;
pub mod index;
pub mod recorder;
pub mod recover;
pub mod retention;
pub mod scan;
#[cfg(test)]
mod testutil;
pub mod timeutil;
pub mod transform;
pub mod upload;
pub mod writer;

pub use cenc::Encrypt;
pub use error::{Error, Result};
pub use export::{Export, export};
pub use index::{CameraFilter, Index, ListFilter, RecordingRow, State, Trigger};
pub use recorder::{Recorder, RecorderHandle, RecorderOptions};
pub use recover::{RecoveryReport, adopt_from_bucket, rebuild_index, recover};
pub use transform::{
    Clear, FileProtection, SampleAux, SampleTransform, Subsample, TransformFactory,
};
pub use upload::{BucketObject, Upload, UploadCounts};
