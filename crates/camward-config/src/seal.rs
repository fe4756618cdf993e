//! Secrets at rest (paper §3.2: nothing secret is stored in clear): AES-256-GCM (aws-lc-rs) under
//! the device's secrets key, which lives in the 0700 identity directory beside the device key.
//!
//! A sealed value is text, `cw1:` followed by base64url(nonce ‖ ciphertext ‖ tag), so it fits the
//! database's TEXT columns and the JSON document. Each value is sealed with a fresh random 96-bit
//! nonce and bound to a *context* (the additional data: the JSON path of a configuration secret,
//! the account and algorithm of a Digest HA1), so a value copied to another place of the database
//! does not open there. The key never leaves the process; a stolen database alone reveals nothing.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

/// Length of the secrets key in bytes (AES-256).
pub const KEY_LEN: usize = 32;
/// Marks a sealed value and its format version. Hex HA1 values and base64 never contain `:`, so a
/// legacy clear HA1 is never mistaken for a sealed one.
const PREFIX: &str = "cw1:";
const TAG_LEN: usize = 16;

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the secrets key must be {KEY_LEN} bytes, got {0}")]
    KeyLength(usize),
    #[error("not a sealed value")]
    NotSealed,
    #[error("the sealed value is malformed")]
    Malformed,
    /// Wrong key (the key file was replaced), wrong context (the value was moved), or tampering.
    #[error("the sealed value does not open with this device's secrets key")]
    Unopenable,
    #[error("the random generator failed")]
    Random,
}

/// The device's secrets key. `Debug` never prints it.
pub struct SealKey {
    key: RandomizedNonceKey,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl SealKey {
    /// A key from its 32 bytes (as read from the key file).
    pub fn from_bytes(bytes: &[u8]) -> Result<SealKey, SealError> {
        if bytes.len() != KEY_LEN {
            return Err(SealError::KeyLength(bytes.len()));
        }
        let key = RandomizedNonceKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::Malformed)?;
        Ok(SealKey { key })
    }

    /// Fresh key material from the system generator, for a device's first start.
    pub fn generate() -> Result<Zeroizing<[u8; KEY_LEN]>, SealError> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        aws_lc_rs::rand::fill(&mut k[..]).map_err(|_| SealError::Random)?;
        Ok(k)
    }

    /// Seals `plaintext` for `context`.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let mut buf = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
        buf.extend_from_slice(plaintext);
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut *buf)
            .expect("AES-GCM sealing of a small value cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&buf);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a value made by [`seal`](Self::seal) with the same key and context.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealError::NotSealed)?;
        let raw = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(body)
                .map_err(|_| SealError::Malformed)?,
        );
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed);
        }
        let nonce = Nonce::try_assume_unique_for_key(&raw[..NONCE_LEN])
            .map_err(|_| SealError::Malformed)?;
        let mut buf = Zeroizing::new(raw[NONCE_LEN..].to_vec());
        let n = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| SealError::Unopenable)?
            .len();
        buf.truncate(n);
        Ok(buf)
    }

    /// [`open`](Self::open) for values that were text.
    pub fn open_str(&self, sealed: &str, context: &str) -> Result<Zeroizing<String>, SealError> {
        let bytes = self.open(sealed, context)?;
        let s = std::str::from_utf8(&bytes).map_err(|_| SealError::Malformed)?;
        Ok(Zeroizing::new(s.to_owned()))
    }

    /// Whether `s` has the form of a sealed value (it may still fail to open).
    pub fn is_sealed(s: &str) -> bool {
        s.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SealKey {
        SealKey::from_bytes(&SealKey::generate().unwrap()[..]).unwrap()
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let k = key();
        let s = k.seal(b"hunter22", "smtp.password");
        assert!(SealKey::is_sealed(&s));
        assert!(!s.contains("hunter22"));
        assert_eq!(&k.open(&s, "smtp.password").unwrap()[..], b"hunter22");
        assert_eq!(
            k.open(&s, "ftp_client.password"),
            Err(SealError::Unopenable)
        );
        assert_eq!(key().open(&s, "smtp.password"), Err(SealError::Unopenable));
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let k = key();
        assert_ne!(k.seal(b"same", "c"), k.seal(b"same", "c"));
    }

    #[test]
    fn tampering_and_garbage_are_refused_without_panics() {
        let k = key();
        let s = k.seal(b"value", "c");
        let mut b = s.into_bytes();
        let last = b.len() - 2;
        b[last] = if b[last] == b'A' { b'B' } else { b'A' };
        let s = String::from_utf8(b).unwrap();
        assert_eq!(k.open(&s, "c"), Err(SealError::Unopenable));
        assert_eq!(k.open("cw1:", "c"), Err(SealError::Malformed));
        assert_eq!(k.open("cw1:!!", "c"), Err(SealError::Malformed));
        assert_eq!(
            k.open("5f4dcc3b5aa765d61d8327deb882cf99", "c"),
            Err(SealError::NotSealed)
        );
        assert!(!SealKey::is_sealed("5f4dcc3b5aa765d61d8327deb882cf99"));
    }

    #[test]
    fn key_length_is_checked_and_debug_hides_it() {
        assert_eq!(
            SealKey::from_bytes(&[0u8; 16]).unwrap_err(),
            SealError::KeyLength(16)
        );
        assert_eq!(format!("{:?}", key()), "SealKey(..)");
    }
}
