//! ONVIF Media Signing for H.264 (white paper §3.9, alteration detection): an in-band signer that
//! adds signed SEIs to the stream, and a verifier for Annex-B and MP4 that locates tampering.
#![forbid(unsafe_code)]

pub mod cert;
pub mod cli;
mod error;
pub mod format;
pub mod mp4;
pub mod signer;
pub mod verify;

#[cfg(test)]
mod tests;

pub use cert::{Provenance, SignerInfo};
pub use error::Error;
pub use format::VendorInfo;
pub use signer::{
    ChainState, Signer, SignerOptions, SignerStats, SigningKey, sign_annexb, sign_annexb_file,
};
pub use verify::{
    Container, Counts, GopReport, MissingRun, Report, Verdict, Verifier, VerifyOptions,
    verify_annexb, verify_bytes, verify_mp4,
};
