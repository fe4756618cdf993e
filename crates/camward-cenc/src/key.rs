//! Content keys and key identifiers: one fresh random AES-128 key and KID per recording file.
//! Keys zeroize on drop and never print; only `camward keys` asks for the hex on purpose.

use rand_core::{OsRng, TryRngCore};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Length of a 'cenc' content key (AES-128).
pub const KEY_LEN: usize = 16;

/// Fills `buf` from the operating system's generator.
///
/// Panics if the OS generator fails: there is no safe way to go on encrypting without
/// randomness, and the failure is a broken system, not bad input.
pub(crate) fn fill_random(buf: &mut [u8]) {
    OsRng
        .try_fill_bytes(buf)
        .expect("the operating system's random generator failed");
}

/// The AES-128 key that encrypts one file's samples.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ContentKey([u8; KEY_LEN]);

impl ContentKey {
    /// A fresh random key (one per recording file).
    pub fn generate() -> Self {
        let mut k = [0u8; KEY_LEN];
        fill_random(&mut k);
        let key = ContentKey(k);
        k.zeroize();
        key
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        ContentKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Lower-case hex, as `ffmpeg -decryption_key` takes it. Only for the viewer's own console.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0))
    }

    /// Parses 32 hex digits (tests and tools that got the key from `camward keys`).
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut k = [0u8; KEY_LEN];
        hex::decode_to_slice(s.trim(), &mut k).ok()?;
        Some(ContentKey(k))
    }
}

impl fmt::Debug for ContentKey {
    // Keys must never reach a log through a stray `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContentKey(<redacted>)")
    }
}

/// Key identifier (`default_KID` in `tenc`, the KID in `pssh`): random, public, 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kid(pub [u8; 16]);

impl Kid {
    pub fn generate() -> Self {
        let mut k = [0u8; 16];
        fill_random(&mut k);
        Kid(k)
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_key() {
        let k = ContentKey::from_bytes([0xab; 16]);
        let s = format!("{k:?}");
        assert!(!s.contains("ab"), "{s}");
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(ContentKey::generate(), ContentKey::generate());
        assert_ne!(Kid::generate(), Kid::generate());
    }

    #[test]
    fn hex_roundtrip() {
        let k = ContentKey::generate();
        assert_eq!(ContentKey::from_hex(&k.to_hex()).unwrap(), k);
        assert!(ContentKey::from_hex("00").is_none());
    }
}
