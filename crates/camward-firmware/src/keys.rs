//! Firmware signing keys (Ed25519, aws-lc-rs) and the set a device trusts (paper §3.11: only the
//! vendor can sign firmware).
//!
//! - Private key file: PKCS#8 v1 in PEM (`-----BEGIN PRIVATE KEY-----`), as `openssl genpkey
//!   -algorithm ed25519` writes it, mode 0600, never overwritten.
//! - Public key text: `ed25519:` + standard Base64 of the 32 raw bytes; its id is the first 8 bytes
//!   of its SHA-256 in hex (16 characters), the name the signature block and messages use.
//! - Trusted set: keys pinned in the binary (`vendor-keys.txt` or `CAMWARD_VENDOR_KEYS` at build
//!   time), owner keys installed from the console into `firmware/keys/`, and keys a committed
//!   manifest rotated in; minus keys a committed manifest retired.

use crate::error::{Error, Result};
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use zeroize::Zeroizing;

const PUBLIC_PREFIX: &str = "ed25519:";
/// Largest key file read (keys are a few hundred bytes).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

/// A key's short name: the first 8 bytes of SHA-256 of the raw key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl PublicKey {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        PublicKey(b)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub fn id(&self) -> KeyId {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.0);
        KeyId(d.as_ref()[..8].try_into().expect("8 bytes"))
    }
    /// Whether `sig` is this key's signature of `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(msg, sig)
            .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", B64.encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id())
    }
}

impl FromStr for PublicKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let b64 = s.strip_prefix(PUBLIC_PREFIX).ok_or_else(|| {
            Error::Key(format!(
                "`{}` is not a firmware public key: expected `ed25519:` and Base64",
                s.chars().take(24).collect::<String>()
            ))
        })?;
        let raw = B64
            .decode(b64)
            .map_err(|e| Error::Key(format!("public key Base64: {e}")))?;
        let arr: [u8; 32] = raw
            .try_into()
            .map_err(|v: Vec<u8>| Error::Key(format!("public key is {} bytes, not 32", v.len())))?;
        Ok(PublicKey(arr))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for KeyId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let v = hex::decode(s)
            .map_err(|_| Error::Key(format!("`{s}` is not a key id (16 hex digits)")))?;
        Ok(KeyId(v.try_into().map_err(|_| {
            Error::Key(format!("`{s}` is not a key id (16 hex digits)"))
        })?))
    }
}

/// A private signing key (the vendor's; kept off the cameras).
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl SigningKey {
    pub fn generate() -> Result<Self> {
        let pair =
            Ed25519KeyPair::generate().map_err(|_| Error::Key("key generation failed".into()))?;
        Ok(SigningKey { pair })
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(
            self.pair
                .public_key()
                .as_ref()
                .try_into()
                .expect("Ed25519 public keys are 32 bytes"),
        )
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.pair
            .sign(msg)
            .as_ref()
            .try_into()
            .expect("Ed25519 signatures are 64 bytes")
    }

    /// PKCS#8 v1 PEM (what OpenSSL writes and reads).
    pub fn to_pem(&self) -> Result<Zeroizing<String>> {
        let doc = self
            .pair
            .to_pkcs8v1()
            .map_err(|_| Error::Key("cannot encode the key".into()))?;
        Ok(Zeroizing::new(pem::encode(&pem::Pem::new(
            "PRIVATE KEY",
            doc.as_ref().to_vec(),
        ))))
    }

    pub fn from_pem(text: &str) -> Result<Self> {
        let p = pem::parse(text).map_err(|e| Error::Key(format!("not a PEM private key: {e}")))?;
        if p.tag() != "PRIVATE KEY" {
            return Err(Error::Key(format!(
                "a PEM `{}`, not an Ed25519 `PRIVATE KEY`",
                p.tag()
            )));
        }
        let der = Zeroizing::new(p.into_contents());
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
            .map_err(|e| Error::Key(format!("not an Ed25519 PKCS#8 key: {e}")))?;
        Ok(SigningKey { pair })
    }

    /// Reads a key file; refuses one that group or others can read, as ssh does.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_small(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| Error::io("cannot read", path, e))?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                return Err(Error::Key(format!(
                    "{} is readable or writable by others (mode {mode:04o}); run `chmod 600 {}`",
                    path.display(),
                    path.display()
                )));
            }
        }
        Self::from_pem(&text)
    }

    /// Writes the key with mode 0600; never overwrites.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_new(path, self.to_pem()?.as_bytes(), 0o600)
    }
}

/// Creates `path` with `mode` and `data`, fsynced; refuses to overwrite.
pub(crate) fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    let _ = mode;
    let mut f = opts
        .open(path)
        .map_err(|e| Error::io("cannot create", path, e))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io("cannot write", path, e))
}

fn read_small(path: &Path) -> Result<Zeroizing<String>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("cannot read", path, e))?;
    if meta.len() > MAX_KEY_FILE {
        return Err(Error::Key(format!(
            "{} is too large to be a key",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    Ok(Zeroizing::new(text))
}

/// Parses key lines: one `ed25519:…` per line, `#` comments and blank lines ignored.
pub fn parse_key_lines(text: &str) -> Result<Vec<PublicKey>> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .flat_map(|l| l.split_whitespace())
        .map(PublicKey::from_str)
        .collect()
}

/// Reads a public key file (the first key in it).
pub fn load_public(path: &Path) -> Result<PublicKey> {
    let text = read_small(path)?;
    parse_key_lines(&text)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Key(format!("{} holds no `ed25519:` public key", path.display())))
}

/// Where a trusted key comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// Compiled into this binary.
    Pinned,
    /// Installed from the device console (`camward firmware trust add`).
    Owner,
    /// Named as the next key by a manifest that booted healthy.
    Rotated,
}

#[derive(Clone, Debug)]
pub struct TrustedKey {
    pub key: PublicKey,
    pub source: KeySource,
}

/// The keys a device accepts firmware signatures from.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    keys: Vec<TrustedKey>,
}

/// The keys pinned in this binary.
pub fn pinned() -> Vec<PublicKey> {
    let mut v = parse_key_lines(include_str!("../vendor-keys.txt"))
        .expect("vendor-keys.txt holds valid keys (unit test pinned_keys_parse)");
    if let Some(extra) = option_env!("CAMWARD_VENDOR_KEYS") {
        v.extend(parse_key_lines(extra).expect("CAMWARD_VENDOR_KEYS holds valid `ed25519:` keys"));
    }
    v
}

impl TrustStore {
    /// Pinned keys, the owner keys in `owner_dir` (`*.pub` files), and `rotated`, minus `retired`.
    pub fn load(owner_dir: &Path, rotated: &[String], retired: &[String]) -> Result<Self> {
        let mut t = TrustStore::default();
        for k in pinned() {
            t.add(k, KeySource::Pinned);
        }
        if let Ok(rd) = std::fs::read_dir(owner_dir) {
            let mut paths: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            paths.sort();
            for p in paths
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "pub"))
            {
                t.add(load_public(p)?, KeySource::Owner);
            }
        }
        for r in rotated {
            t.add(r.parse()?, KeySource::Rotated);
        }
        t.keys
            .retain(|k| !retired.iter().any(|r| *r == k.key.id().to_string()));
        Ok(t)
    }

    /// A store of exactly these keys (tests, `inspect --key`).
    pub fn of(keys: impl IntoIterator<Item = (PublicKey, KeySource)>) -> Self {
        let mut t = TrustStore::default();
        for (k, s) in keys {
            t.add(k, s);
        }
        t
    }

    pub fn add(&mut self, key: PublicKey, source: KeySource) {
        if !self.keys.iter().any(|k| k.key == key) {
            self.keys.push(TrustedKey { key, source });
        }
    }

    pub fn find(&self, id: &KeyId) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.key.id() == *id)
    }

    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// The ids, for messages ("none" when the device trusts no key).
    pub fn describe(&self) -> String {
        if self.keys.is_empty() {
            "none: this build pins no vendor key and no owner key is installed".into()
        } else {
            self.keys
                .iter()
                .map(|k| k.key.id().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_keys_parse() {
        let _ = pinned();
    }

    #[test]
    fn key_round_trips_through_pem_and_text() {
        let k = SigningKey::generate().unwrap();
        let k2 = SigningKey::from_pem(&k.to_pem().unwrap()).unwrap();
        assert_eq!(k.public(), k2.public());
        let text = k.public().to_string();
        assert!(text.starts_with("ed25519:"));
        assert_eq!(text.parse::<PublicKey>().unwrap(), k.public());
        assert_eq!(k.public().id().to_string().len(), 16);
    }

    #[test]
    fn signature_verifies_only_for_its_message_and_key() {
        let (a, b) = (
            SigningKey::generate().unwrap(),
            SigningKey::generate().unwrap(),
        );
        let sig = a.sign(b"manifest");
        assert!(a.public().verify(b"manifest", &sig));
        assert!(!a.public().verify(b"manifesT", &sig));
        assert!(!b.public().verify(b"manifest", &sig));
    }

    #[test]
    fn world_readable_private_key_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.key");
        SigningKey::generate().unwrap().save(&p).unwrap();
        assert!(SigningKey::load(&p).is_ok());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = SigningKey::load(&p).err().unwrap().to_string();
        assert!(e.contains("chmod 600"), "{e}");
    }

    #[test]
    fn retired_keys_leave_the_trusted_set() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            SigningKey::generate().unwrap(),
            SigningKey::generate().unwrap(),
        );
        std::fs::write(
            dir.path().join("a.pub"),
            format!("# owner\n{}\n", a.public()),
        )
        .unwrap();
        let t = TrustStore::load(dir.path(), &[b.public().to_string()], &[]).unwrap();
        assert_eq!(t.find(&a.public().id()).unwrap().source, KeySource::Owner);
        assert_eq!(t.find(&b.public().id()).unwrap().source, KeySource::Rotated);
        let t = TrustStore::load(
            dir.path(),
            &[b.public().to_string()],
            &[a.public().id().to_string()],
        )
        .unwrap();
        assert!(t.find(&a.public().id()).is_none());
    }
}
