//! ISO/IEC 23001-7 'cenc' encryption of camward's fMP4 recordings (paper §3.8), with each file's
//! content key wrapped by HPKE to the viewers' X25519 keys, and the tools that undo it.
//!
//! Camera side (the recorder): [`FileEncryptor`] per file gives the `sinf`, `pssh` and index
//! bytes and encrypts each sample, returning the `senc` entry for it.
//! Viewer side: [`Identity`], [`decrypt_file`], [`decrypt_to_vec`], [`content_key`], and the
//! clap argument structs in [`cli`]. The layout and its reasons: docs/design/encryption.md.
#![forbid(unsafe_code)]

pub mod bmff;
pub mod boxes;
pub mod cli;
pub mod decrypt;
pub mod encrypt_file;
pub mod encryptor;
mod error;
pub mod identity;
pub mod key;
pub mod sample;
pub mod wrap;

pub use boxes::{CAMWARD_SYSTEM_ID, encv_from_avc1, moov_boxes, traf_boxes, traf_boxes_len};
pub use cli::{DecryptArgs, KeygenArgs, KeysArgs};
pub use decrypt::{
    DecryptSummary, Keying, content_key, content_key_from_bytes, decrypt_file, decrypt_stream,
    decrypt_to_vec, decrypt_to_vec_with_key, is_encrypted,
};
pub use encrypt_file::encrypt_fmp4;
pub use encryptor::FileEncryptor;
pub use error::{Error, Result};
pub use identity::{Identity, Recipient};
pub use key::{ContentKey, Kid};
pub use sample::{
    IV_SIZE, IvSequence, SampleAux, SampleCipher, Subsample, decrypt_in_place, decrypt_sample,
    encrypt_in_place, encrypt_sample, encrypt_sample_with, subsample_map,
};
pub use wrap::{KeyBundle, WrappedKey, unwrap, wrap};
