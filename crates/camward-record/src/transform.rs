//! The seam for at-rest encryption (ISO/IEC 23001-7 'cenc'): a per-sample transform the writer calls.
//! The clear transform is the identity; the CENC engineer implements `SampleTransform` without touching the writer.

use crate::fmp4::TrackParams;
use bytes::Bytes;

/// What a transform adds to one file when the file is opened (each file gets its own content key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileProtection {
    /// Complete boxes placed inside the sample entry after `avcC`, normally one `sinf`
    /// (`frma` = avc1, `schm` = cenc, `schi`/`tenc`). When non-empty the writer renames the
    /// entry `encv`, as ISO/IEC 14496-12 §8.12 requires for protected tracks.
    pub sample_entry_boxes: Vec<u8>,
    /// Complete boxes appended to `moov`, e.g. `pssh` carrying the wrapped content keys.
    pub moov_boxes: Vec<u8>,
    /// Opaque bytes stored in the index row (`key_info`), e.g. the key wrapped to each viewer,
    /// so keys can be listed without opening files.
    pub key_info: Option<Vec<u8>>,
}

impl FileProtection {
    /// True when samples are encrypted (the index's `encrypted` column).
    pub fn is_encrypted(&self) -> bool {
        !self.sample_entry_boxes.is_empty()
    }
}

/// One subsample of a protected sample: `clear` bytes then `protected` bytes (CENC §7.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subsample {
    pub clear: u16,
    pub protected: u32,
}

/// Per-sample auxiliary information (the sample's IV and subsample map), written to `senc`
/// and located by `saiz`/`saio` in the same `traf`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SampleAux {
    /// Per-sample IV (8 or 16 bytes; every sample of a file uses the same size).
    pub iv: Vec<u8>,
    /// Empty = the whole sample is protected.
    pub subsamples: Vec<Subsample>,
}

impl SampleAux {
    /// Size of this entry in `senc`, which `saiz` records.
    pub fn encoded_len(&self, with_subsamples: bool) -> usize {
        self.iv.len()
            + if with_subsamples {
                2 + 6 * self.subsamples.len()
            } else {
                0
            }
    }
}

/// A failure inside a transform (e.g. a recipient key could not be used).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TransformError(pub String);

/// Applied to every sample before it is written. One instance per file being written;
/// `start_file` is called once before the first sample of each file.
pub trait SampleTransform: Send {
    /// Called when a file is opened; returns the boxes that describe this file's protection.
    fn start_file(&mut self, params: &TrackParams) -> Result<FileProtection, TransformError>;

    /// `sample` is AVC length-prefixed (4-byte lengths), all NAL units of one access unit.
    /// Returns the bytes to store and, for protected samples, their auxiliary information.
    /// Either every sample of a file has auxiliary information or none has.
    fn transform(&mut self, sample: Bytes) -> Result<(Bytes, Option<SampleAux>), TransformError>;
}

/// Makes a transform for each recorded file stream; the recorder holds one factory.
pub trait TransformFactory: Send + Sync {
    fn make(&self, stream: u8) -> Box<dyn SampleTransform>;
}

/// Recording in the clear: samples are stored exactly as they came off the bus.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clear;

impl SampleTransform for Clear {
    fn start_file(&mut self, _: &TrackParams) -> Result<FileProtection, TransformError> {
        Ok(FileProtection::default())
    }
    fn transform(&mut self, sample: Bytes) -> Result<(Bytes, Option<SampleAux>), TransformError> {
        Ok((sample, None))
    }
}

impl TransformFactory for Clear {
    fn make(&self, _: u8) -> Box<dyn SampleTransform> {
        Box::new(Clear)
    }
}
