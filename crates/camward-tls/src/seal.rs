//! Sealing small secrets for a configuration backup (paper §3.2: nothing secret leaves the
//! camera in clear): AES-256-GCM with a key derived from the device key (only a camera holding the
//! same identity key can open it) or from a passphrase with argon2id (any camera, given the
//! passphrase). The device key itself never leaves [`DeviceIdentity`].

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// Argon2id cost of a passphrase key: OWASP's recommended minimum (19 MiB, 2 passes), the cost
/// camward-auth uses for passwords; written into the backup so it can be raised later.
pub const PASSPHRASE_M_KIB: u32 = 19_456;
pub const PASSPHRASE_T: u32 = 2;
pub const PASSPHRASE_P: u32 = 1;

/// A 256-bit sealing key.
pub struct SealKey([u8; 32]);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(…)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Wrong key or passphrase, or the sealed text was changed.
    #[error("cannot open: wrong key or passphrase, or the data was changed")]
    Open,
    #[error("sealed text is not valid base64")]
    Encoding,
    #[error("passphrase key: {0}")]
    Kdf(String),
}

impl SealKey {
    pub(crate) fn from_bytes(b: [u8; 32]) -> SealKey {
        SealKey(b)
    }
}

/// A key from a passphrase and a 16-byte salt (argon2id at the costs above).
pub fn passphrase_key(
    passphrase: &str,
    salt: &[u8],
    m_kib: u32,
    t: u32,
    p: u32,
) -> Result<SealKey, SealError> {
    let params =
        argon2::Params::new(m_kib, t, p, Some(32)).map_err(|e| SealError::Kdf(e.to_string()))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; 32];
    a.hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|e| SealError::Kdf(e.to_string()))?;
    Ok(SealKey(out))
}

/// `n` random bytes from the system's generator.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut v)
        .expect("the system random generator works");
    v
}

/// Base64 for the sealed texts and salts of a backup file.
pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn unb64(text: &str) -> Result<Vec<u8>, SealError> {
    B64.decode(text).map_err(|_| SealError::Encoding)
}

fn aead(key: &SealKey) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key.0).expect("32-byte AES-256 key"))
}

/// Seals `plaintext` bound to `aad` (where it belongs, so a sealed value cannot be moved to
/// another setting): base64 of a random 96-bit nonce, the ciphertext and the tag.
pub fn seal(key: &SealKey, aad: &str, plaintext: &[u8]) -> String {
    let nonce_bytes: [u8; NONCE_LEN] = random_bytes(NONCE_LEN).try_into().expect("NONCE_LEN bytes");
    let mut buf = plaintext.to_vec();
    aead(key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(aad.as_bytes()),
            &mut buf,
        )
        .expect("AES-GCM sealing of a small buffer cannot fail");
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&buf);
    b64(&out)
}

/// Opens what [`seal`] made with the same key and `aad`.
pub fn open(key: &SealKey, aad: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
    let raw = unb64(sealed)?;
    if raw.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        return Err(SealError::Open);
    }
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
    let mut buf = ct.to_vec();
    let plain = aead(key)
        .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
        .map_err(|_| SealError::Open)?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceIdentity;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_place() {
        let dir = tempfile::tempdir().unwrap();
        let id = DeviceIdentity::load_or_create(dir.path()).unwrap();
        let k = id.derive_key("backup");
        let s = seal(&k, "smtp.password", b"hunter2-secret");
        assert!(!s.contains("hunter2"));
        assert_eq!(open(&k, "smtp.password", &s).unwrap(), b"hunter2-secret");
        assert_eq!(open(&k, "ftp_client.password", &s), Err(SealError::Open));
        // The same device key gives the same key again; another purpose or device does not.
        let again = DeviceIdentity::load_or_create(dir.path()).unwrap();
        assert_eq!(
            open(&again.derive_key("backup"), "smtp.password", &s).unwrap(),
            b"hunter2-secret"
        );
        assert_eq!(
            open(&id.derive_key("other"), "smtp.password", &s),
            Err(SealError::Open)
        );
        let other = tempfile::tempdir().unwrap();
        let other = DeviceIdentity::load_or_create(other.path()).unwrap();
        assert_eq!(
            open(&other.derive_key("backup"), "smtp.password", &s),
            Err(SealError::Open)
        );
    }

    #[test]
    fn passphrase_keys_need_the_passphrase() {
        let salt = random_bytes(16);
        // Small costs keep the test quick; the cost is a parameter of the file.
        let k = passphrase_key("correct horse", &salt, 64, 1, 1).unwrap();
        let s = seal(&k, "x", b"v");
        let k2 = passphrase_key("correct horse", &salt, 64, 1, 1).unwrap();
        assert_eq!(open(&k2, "x", &s).unwrap(), b"v");
        let wrong = passphrase_key("wrong horse", &salt, 64, 1, 1).unwrap();
        assert_eq!(open(&wrong, "x", &s), Err(SealError::Open));
        assert_eq!(open(&k, "x", "not base64!"), Err(SealError::Encoding));
    }
}
