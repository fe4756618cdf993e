//! Why a bundle is refused or an install failed. Every refusal names what was wrong and has a
//! stable rule id (`signature.unknown_key`, `payload.altered`, …) that the API returns and tests
//! switch on (paper §3.11: a spoofed or altered firmware must be refused with a clear reason).

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not a camward bundle, or a structure this version does not read.
    #[error("not a camward firmware bundle: {0}")]
    Format(String),
    /// Signed by a key this device does not trust.
    #[error(
        "signed by key {key_id}, which this device does not trust (trusted: {trusted}): refused as a possibly spoofed firmware"
    )]
    UnknownKey { key_id: String, trusted: String },
    /// A trusted key's signature does not verify: the manifest was altered after signing.
    #[error("the signature by key {key_id} does not verify: the manifest was altered")]
    BadSignature { key_id: String },
    /// The manifest names a next key but is not signed by it (key rotation needs proof of possession).
    #[error(
        "the manifest rotates to key {key_id} but carries no valid signature by it (pack with --next-key)"
    )]
    NextKeyUnproven { key_id: String },
    /// The signed manifest is malformed.
    #[error("the manifest is invalid: {0}")]
    Manifest(String),
    #[error(
        "the manifest expired at {expires} (device time {now}): ask the vendor for a current bundle"
    )]
    Expired { expires: String, now: String },
    #[error("the bundle is for product `{found}`, this device is `{expected}`")]
    Product { found: String, expected: String },
    #[error(
        "security version {found} is below this device's floor {floor}: installing it would bring back fixed vulnerabilities"
    )]
    BelowFloor { found: u32, floor: u32 },
    #[error("the bundle may only replace version {min} or newer; this device runs {running}")]
    TooOld { running: String, min: String },
    /// Encrypted, and this device holds no (or another) device-class key.
    #[error("{0}")]
    NoClassKey(String),
    #[error("the bundle ends inside payload `{payload}` at byte {offset}: truncated")]
    Truncated { payload: String, offset: u64 },
    #[error("payload `{payload}` was altered: {reason}")]
    Altered { payload: String, reason: String },
    #[error("{0} bytes follow the last payload: the bundle was altered")]
    Trailing(u64),
    #[error("the bundle is larger than the {limit} bytes this device accepts")]
    TooLarge { limit: u64 },
    /// Another install or a trial boot is in progress.
    #[error("{0}")]
    Busy(String),
    /// A slot's files do not match its manifest (checked before every boot).
    #[error("slot {slot} is not bootable: {reason}")]
    Slot { slot: String, reason: String },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Reading the bundle itself failed (the client went away, a disk error).
    #[error("cannot read the bundle: {0}")]
    Read(#[source] std::io::Error),
    #[error("key: {0}")]
    Key(String),
}

impl Error {
    /// Stable id of the rule the bundle broke (the API's `errors[0].rule`).
    pub fn rule(&self) -> &'static str {
        match self {
            Error::Format(_) => "format",
            Error::UnknownKey { .. } => "signature.unknown_key",
            Error::BadSignature { .. } => "signature.invalid",
            Error::NextKeyUnproven { .. } => "signature.next_key",
            Error::Manifest(_) => "manifest.invalid",
            Error::Expired { .. } => "manifest.expired",
            Error::Product { .. } => "manifest.product",
            Error::BelowFloor { .. } => "security_version.below_floor",
            Error::TooOld { .. } => "version.min_version",
            Error::NoClassKey(_) => "encryption.no_key",
            Error::Truncated { .. } => "payload.truncated",
            Error::Altered { .. } => "payload.altered",
            Error::Trailing(_) => "format.trailing",
            Error::TooLarge { .. } => "size_limit",
            Error::Busy(_) => "busy",
            Error::Slot { .. } => "slot",
            Error::Io { .. } | Error::Read(_) => "io",
            Error::Key(_) => "key",
        }
    }

    /// True when the bundle (not the device) is at fault: the client gets the reason.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            Error::Io { .. } | Error::Read(_) | Error::Busy(_) | Error::Slot { .. } | Error::Key(_)
        )
    }

    pub(crate) fn io(what: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}
