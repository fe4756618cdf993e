//! Errors of the identity, CA and TLS policy code.
//! Each variant names the file or the chain position at fault so an operator can act on it.

use std::path::PathBuf;

/// Result with [`CertError`].
pub type Result<T, E = CertError> = std::result::Result<T, E>;

/// Everything that can go wrong with keys, certificates and the private CA.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file-system operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file exists but its content is not what it should be.
    #[error("{}: {reason}", path.display())]
    BadFile { path: PathBuf, reason: String },
    /// The PEM input holds no certificate at all.
    #[error("no certificate in the input (expected PEM blocks \"-----BEGIN CERTIFICATE-----\")")]
    NoCertificate,
    /// The PEM input is not well-formed PEM.
    #[error("the input is not valid PEM: {0}")]
    Pem(String),
    /// The input carries a private key: keys are generated on the device and never imported.
    #[error(
        "the input contains a private key ({tag}); the device key is generated on the camera and \
         is never imported: send only the certificate chain, and treat that key as compromised"
    )]
    PrivateKeyInInput { tag: String },
    /// A certificate of the chain cannot be parsed.
    #[error("certificate #{index} of the chain cannot be parsed: {reason}")]
    Parse { index: usize, reason: String },
    /// The leaf certificate certifies another public key than the device key.
    #[error(
        "the certificate ({subject}) is for another key: its public key does not match this \
         device's key (was the CSR made on another camera?)"
    )]
    KeyMismatch { subject: String },
    /// Certificate `index` is not signed by certificate `index + 1`.
    #[error(
        "certificate #{index} ({subject}) is not signed by the next certificate #{next} \
         ({next_subject}): {reason}"
    )]
    ChainBroken {
        index: usize,
        next: usize,
        subject: String,
        next_subject: String,
        reason: String,
    },
    /// A certificate that signs another one is not a CA certificate.
    #[error(
        "certificate #{index} ({subject}) signs the previous certificate but is not a CA (basicConstraints CA:TRUE missing)"
    )]
    NotCa { index: usize, subject: String },
    /// A certificate of the chain is past its notAfter date.
    #[error("certificate #{index} ({subject}) expired on {not_after}")]
    Expired {
        index: usize,
        subject: String,
        not_after: String,
    },
    /// Only one self-signed certificate was given where a CA-issued chain is expected.
    #[error(
        "the certificate ({subject}) is self-signed, not issued by a CA; the device makes its \
         own self-signed certificate (regenerate it instead)"
    )]
    SelfSignedLeaf { subject: String },
    /// The leaf restricts its use and TLS server authentication is not among its uses.
    #[error(
        "the certificate ({subject}) is not valid for TLS servers: its extendedKeyUsage lacks serverAuth"
    )]
    NotServerAuth { subject: String },
    /// A CSR is malformed, badly signed or asks for something the CA does not issue.
    #[error("CSR refused: {0}")]
    Csr(String),
    /// Invalid argument (common name, SAN, validity...).
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    /// The private CA directory is missing files or already initialised.
    #[error("CA directory {}: {reason}", path.display())]
    Ca { path: PathBuf, reason: String },
    /// Certificate generation failed inside rcgen.
    #[error("{what}: {source}")]
    Rcgen {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    /// rustls refused a key or configuration.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// The system random generator or a signature primitive failed.
    #[error("crypto failure: {0}")]
    Crypto(&'static str),
}

impl CertError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CertError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn rcgen(what: &'static str) -> impl FnOnce(rcgen::Error) -> Self {
        move |source| CertError::Rcgen { what, source }
    }
}
