//! camward firmware updates (paper §3.11: firmware swapped for a malicious one on a spoofed
//! download site, and firmware analysed for weaknesses): bundles that only the vendor key can sign
//! ([`bundle`], [`keys`]), optionally encrypted to a device-class key, refused below an
//! anti-rollback floor, and installed into the inactive of two slots ([`slots`]) that the launcher
//! in `camward run` tries and rolls back by itself. docs/design/firmware.md has the byte layout and
//! the reasons.
#![forbid(unsafe_code)]

pub mod bundle;
pub mod cli;
pub mod error;
pub mod keys;
pub mod manifest;
pub mod slots;

pub use bundle::{PackInput, PackOptions, Policy, SignedManifest, Verified};
pub use error::{Error, Result};
pub use keys::{KeyId, KeySource, PublicKey, SigningKey, TrustStore};
pub use manifest::Manifest;
pub use slots::{Installed, Layout, Running, Slot, State};

/// The product name bundles must carry to install on camward.
pub const PRODUCT: &str = "camward";

/// The security version of this build, for when it runs as the base version (outside a slot).
/// Raised with every release that fixes a vulnerability; a slot's comes from its manifest.
pub const SECURITY_VERSION: u32 = 1;
