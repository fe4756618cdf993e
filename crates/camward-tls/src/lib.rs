//! camward-tls: the device identity and TLS policy of the camera (white paper §3.7, §3.10).
//! Device key and certificates, private CA for factory provisioning, CSR, rustls server configs.
#![forbid(unsafe_code)]

pub mod ca;
mod certinfo;
pub mod cli;
mod error;
mod fsutil;
pub mod identity;
pub mod policy;
pub mod seal;

pub use certinfo::{CertInfo, CertKind};
pub use error::{CertError, Result};
pub use identity::DeviceIdentity;
pub use policy::{crypto_provider, install_process_default, server_config, tls_acceptor};

// Re-exported so that every crate of the workspace builds its TLS on the very same rustls
// (and therefore the one aws-lc-rs provider) instead of pulling its own version.
pub use rustls;
pub use rustls::pki_types::CertificateDer;
pub use tokio_rustls;
