//! The signed manifest of a firmware bundle (paper §3.11): what the bundle is (product, version,
//! security version for anti-rollback, the oldest version it may replace), when it was made and
//! until when it may be installed, and every payload's name, size and SHA-256, plus the wrapped
//! content key when the payloads are encrypted and an optional key rotation.
//!
//! It is JSON (UTF-8), parsed only after its signature verified (`bundle::SignedManifest::verify`),
//! strictly (`deny_unknown_fields`): a field this version does not know is refused, not ignored, so
//! a newer bundle cannot carry a restriction an older device silently skips.

use crate::error::{Error, Result};
use crate::keys::{KeyId, PublicKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const FORMAT: u32 = 1;
/// The payload the launcher executes.
pub const MAIN_PAYLOAD: &str = "camward";
pub const MAX_PAYLOADS: usize = 64;
/// Largest single payload (the bundle as a whole is capped by the device's upload limit).
pub const MAX_PAYLOAD_SIZE: u64 = 4 << 30;
pub const ENCRYPTION_SCHEME: &str = "aes-256-gcm-chunked-v1";
pub const DEFAULT_CHUNK: u32 = 64 * 1024;
const MAX_RECIPIENTS: usize = 16;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format, 1.
    pub format: u32,
    /// The product this firmware is for (`camward`); another product's bundle is refused.
    pub product: String,
    /// Semantic version of this firmware: what the device reports while it runs.
    pub version: String,
    /// Anti-rollback counter: raised by the vendor when a release fixes a vulnerability. A device
    /// refuses bundles below its floor, which rises when a version boots healthy.
    pub security_version: u32,
    /// The oldest running version this bundle may replace (a migration step the vendor requires).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    /// RFC 3339.
    pub created: String,
    /// RFC 3339: a device refuses the bundle after this (a stale bundle replayed from a spoofed site).
    pub expires: String,
    /// 16 random bytes in hex: binds the encrypted chunks and the wrapped key to this bundle.
    pub bundle_id: String,
    pub payloads: Vec<Payload>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// Key rotation: a key to trust from now on (the bundle must also be signed by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key: Option<String>,
    /// Key ids to stop trusting once this version booted healthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retire_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// File name in the slot: `[A-Za-z0-9._-]`, 1–64 characters, not starting with `.`.
    pub name: String,
    /// Size of the clear payload, bytes.
    pub size: u64,
    /// SHA-256 of the clear payload, lower-case hex: `sha256sum` of the installed file.
    pub sha256: String,
    /// Installed executable (0755) rather than 0644.
    #[serde(default)]
    pub exec: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// `aes-256-gcm-chunked-v1`.
    pub scheme: String,
    /// Clear bytes per chunk; each chunk is followed by its 16-byte tag.
    pub chunk_size: u32,
    /// The AES-256 content key, HPKE-wrapped to each device-class key.
    pub keys: Vec<WrappedKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrappedKey {
    /// `cwr1…`: the device-class X25519 public key.
    pub recipient: String,
    /// HPKE encapsulated key, Base64.
    pub enc: String,
    /// HPKE ciphertext of the 32-byte key (with its tag), Base64.
    pub ciphertext: String,
}

impl Manifest {
    /// Strict structural checks on a parsed manifest (after the signature verified).
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Manifest(m));
        if self.format != FORMAT {
            return bad(format!(
                "format {}; this camward reads format {FORMAT}",
                self.format
            ));
        }
        if self.product.is_empty() || self.product.len() > 64 {
            return bad("product must be 1–64 characters".into());
        }
        parse_version(&self.version, "version")?;
        if let Some(m) = &self.min_version {
            parse_version(m, "min_version")?;
        }
        let created = parse_time(&self.created, "created")?;
        let expires = parse_time(&self.expires, "expires")?;
        if expires <= created {
            return bad("expires is not after created".into());
        }
        if self.bundle_id().is_none() {
            return bad("bundle_id must be 32 hex digits".into());
        }
        if self.payloads.is_empty() || self.payloads.len() > MAX_PAYLOADS {
            return bad(format!(
                "1 to {MAX_PAYLOADS} payloads, not {}",
                self.payloads.len()
            ));
        }
        for (i, p) in self.payloads.iter().enumerate() {
            check_name(&p.name)?;
            if self.payloads[..i].iter().any(|q| q.name == p.name) {
                return bad(format!("payload `{}` is listed twice", p.name));
            }
            if p.size > MAX_PAYLOAD_SIZE {
                return bad(format!(
                    "payload `{}` is larger than {MAX_PAYLOAD_SIZE} bytes",
                    p.name
                ));
            }
            if p.sha256.len() != 64
                || !p
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return bad(format!(
                    "payload `{}`: sha256 must be 64 lower-case hex digits",
                    p.name
                ));
            }
        }
        match self.payloads.iter().find(|p| p.name == MAIN_PAYLOAD) {
            Some(p) if p.exec => {}
            Some(_) => return bad(format!("payload `{MAIN_PAYLOAD}` must be executable")),
            None => {
                return bad(format!(
                    "no payload named `{MAIN_PAYLOAD}`: nothing to boot"
                ));
            }
        }
        if let Some(e) = &self.encryption {
            if e.scheme != ENCRYPTION_SCHEME {
                return bad(format!("encryption scheme `{}` is not supported", e.scheme));
            }
            if !(4096..=(16 << 20)).contains(&e.chunk_size) {
                return bad("chunk_size must be 4 KiB to 16 MiB".into());
            }
            if e.keys.is_empty() || e.keys.len() > MAX_RECIPIENTS {
                return bad(format!("1 to {MAX_RECIPIENTS} wrapped keys"));
            }
            for k in &e.keys {
                k.recipient
                    .parse::<camward_cenc::Recipient>()
                    .map_err(|err| Error::Manifest(format!("wrapped key recipient: {err}")))?;
                if k.enc.len() > 128 || k.ciphertext.len() > 128 {
                    return bad("wrapped key fields are too long".into());
                }
            }
        }
        if let Some(k) = &self.next_key {
            k.parse::<PublicKey>()
                .map_err(|e| Error::Manifest(format!("next_key: {e}")))?;
        }
        if self.retire_keys.len() > 16 {
            return bad("at most 16 retire_keys".into());
        }
        for r in &self.retire_keys {
            r.parse::<KeyId>()
                .map_err(|e| Error::Manifest(format!("retire_keys: {e}")))?;
        }
        Ok(())
    }

    pub fn bundle_id(&self) -> Option<[u8; 16]> {
        hex::decode(&self.bundle_id).ok()?.try_into().ok()
    }

    pub fn semver(&self) -> semver::Version {
        semver::Version::parse(&self.version).unwrap_or(semver::Version::new(0, 0, 0))
    }

    pub fn expires_at(&self) -> Result<OffsetDateTime> {
        parse_time(&self.expires, "expires")
    }

    /// Bytes the payload occupies in the bundle (clear size, plus a tag per chunk when encrypted).
    pub fn stored_size(&self, p: &Payload) -> u64 {
        match &self.encryption {
            None => p.size,
            Some(e) => p.size + 16 * chunks(p.size, e.chunk_size),
        }
    }

    /// Bytes all payloads occupy in the bundle.
    pub fn payload_bytes(&self) -> u64 {
        self.payloads.iter().map(|p| self.stored_size(p)).sum()
    }
}

/// Chunks of a payload: at least one (an empty payload still gets a tag, so it cannot be cut off).
pub fn chunks(size: u64, chunk: u32) -> u64 {
    size.div_ceil(u64::from(chunk)).max(1)
}

pub fn parse_version(s: &str, what: &str) -> Result<semver::Version> {
    semver::Version::parse(s).map_err(|e| {
        Error::Manifest(format!(
            "{what} `{s}` is not a semantic version (X.Y.Z): {e}"
        ))
    })
}

pub fn parse_time(s: &str, what: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| Error::Manifest(format!("{what} `{s}` is not an RFC 3339 time: {e}")))
}

pub fn format_time(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Payload names become file names in a slot: no separators, no `..`, no hidden files.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        && name != crate::slots::MANIFEST_FILE;
    if ok {
        Ok(())
    } else {
        Err(Error::Manifest(format!(
            "payload name `{}` is not allowed: 1–64 of [A-Za-z0-9._-], not starting with `.`",
            name.chars().take(80).collect::<String>()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_names_cannot_leave_the_slot() {
        for bad in [
            "",
            "../x",
            "a/b",
            ".hidden",
            "..",
            "a\0b",
            crate::slots::MANIFEST_FILE,
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in ["camward", "ui-assets.tar", "LICENSE_1.txt"] {
            check_name(good).unwrap();
        }
    }

    #[test]
    fn empty_payload_still_has_one_chunk() {
        assert_eq!(chunks(0, 65536), 1);
        assert_eq!(chunks(65536, 65536), 1);
        assert_eq!(chunks(65537, 65536), 2);
    }
}
