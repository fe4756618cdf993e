//! Wrapping each file's content key to the viewers' X25519 keys with HPKE (RFC 9180, base mode,
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM), and the key bundle that carries them.

use crate::error::{Error, Result};
use crate::identity::{Identity, Recipient};
use crate::key::{ContentKey, KEY_LEN, Kid};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use rand_core::{OsRng, TryRngCore};
use zeroize::Zeroizing;

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::AesGcm128;

/// RFC 9180 identifiers of the suite, written into every bundle so a reader knows what it holds.
pub const KEM_ID: u16 = 0x0020;
pub const KDF_ID: u16 = 0x0001;
pub const AEAD_ID: u16 = 0x0001;

/// Most viewers one file is wrapped to. Each costs 98 bytes per file and one X25519 per file open.
pub use camward_config::data_encryption::MAX_RECIPIENTS;

/// HPKE `info`: names the purpose and binds the wrap to the file's KID, so a wrapped key copied
/// into another file does not open there.
const INFO_PREFIX: &[u8] = b"camward cenc content key v1";
const BUNDLE_MAGIC: &[u8; 4] = b"CWKB";
const BUNDLE_VERSION: u8 = 1;
/// AES-128-GCM ciphertext of a 16-byte key: the key plus the 16-byte tag.
const WRAPPED_LEN: usize = KEY_LEN + 16;

fn info(kid: &Kid) -> Vec<u8> {
    let mut v = INFO_PREFIX.to_vec();
    v.extend_from_slice(&kid.0);
    v
}

/// The content key encrypted to one viewer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WrappedKey {
    /// Whom this is for. Stored so `camward decrypt` can say which viewers a file is for and
    /// does not have to try every entry (see docs/design/encryption.md on this trade-off).
    pub recipient: Recipient,
    /// HPKE encapsulated key (the sender's ephemeral X25519 public key).
    pub enc: [u8; 32],
    /// AES-128-GCM ciphertext of the content key, tag included.
    pub ciphertext: Vec<u8>,
}

/// Wraps `key` to every recipient. Each wrap uses a fresh ephemeral key (HPKE base mode).
pub fn wrap(key: &ContentKey, kid: &Kid, recipients: &[Recipient]) -> Result<Vec<WrappedKey>> {
    if recipients.is_empty() {
        return Err(Error::Wrap {
            recipient: "(none)".into(),
            reason: "no recipients: nobody could ever decrypt this file".into(),
        });
    }
    if recipients.len() > MAX_RECIPIENTS {
        return Err(Error::Wrap {
            recipient: "(list)".into(),
            reason: format!("{} recipients; at most {MAX_RECIPIENTS}", recipients.len()),
        });
    }
    let info = info(kid);
    let mut rng = OsRng.unwrap_err();
    let mut out = Vec::with_capacity(recipients.len());
    for (i, r) in recipients.iter().enumerate() {
        if recipients[..i].contains(r) {
            return Err(Error::Wrap {
                recipient: r.to_string(),
                reason: "listed twice".into(),
            });
        }
        let werr = |reason: String| Error::Wrap {
            recipient: r.to_string(),
            reason,
        };
        let (enc, ciphertext) = seal_with(&mut rng, r, &info, key.as_bytes()).map_err(werr)?;
        out.push(WrappedKey {
            recipient: *r,
            enc,
            ciphertext,
        });
    }
    Ok(out)
}

/// Opens the entry meant for `identity`. A missing entry is `WrongIdentity` (naming who the file
/// is for); an entry that does not open is `Unwrap` (the bundle was damaged or altered).
pub fn unwrap(wrapped: &[WrappedKey], kid: &Kid, identity: &Identity) -> Result<ContentKey> {
    let me = identity.recipient();
    let Some(entry) = wrapped.iter().find(|w| w.recipient == me) else {
        let recipients = if wrapped.is_empty() {
            "nobody".to_string()
        } else {
            wrapped
                .iter()
                .map(|w| w.recipient.short())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(Error::WrongIdentity {
            identity: me.short(),
            recipients,
        });
    };
    let unwrap_err = || Error::Unwrap {
        identity: me.short(),
    };
    let plain =
        open(identity, &info(kid), &entry.enc, &entry.ciphertext).map_err(|_| unwrap_err())?;
    let arr: [u8; KEY_LEN] = plain.as_slice().try_into().map_err(|_| unwrap_err())?;
    Ok(ContentKey::from_bytes(arr))
}

/// HPKE single-shot seal of a short secret to `recipient` (the suite above, base mode, empty
/// AAD), with `info` naming its purpose. The recordings' key wrap is built on it, and firmware
/// bundles (paper §3.11) wrap their AES-256 content key to a device-class key with it: one audited
/// wrap for both. Returns the encapsulated key and the ciphertext (plaintext + 16-byte tag).
pub fn seal(recipient: &Recipient, info: &[u8], plaintext: &[u8]) -> Result<([u8; 32], Vec<u8>)> {
    seal_with(&mut OsRng.unwrap_err(), recipient, info, plaintext).map_err(|reason| Error::Wrap {
        recipient: recipient.to_string(),
        reason,
    })
}

fn seal_with(
    rng: &mut impl rand_core::CryptoRng,
    recipient: &Recipient,
    info: &[u8],
    plaintext: &[u8],
) -> std::result::Result<([u8; 32], Vec<u8>), String> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(recipient.as_bytes())
        .map_err(|e| format!("unusable public key: {e}"))?;
    let (enc, ciphertext) =
        hpke::single_shot_seal::<Aead, Kdf, Kem, _>(&OpModeS::Base, &pk, info, plaintext, &[], rng)
            .map_err(|e| format!("HPKE seal failed: {e}"))?;
    let enc: [u8; 32] = enc
        .to_bytes()
        .as_slice()
        .try_into()
        .map_err(|_| "HPKE encapsulated key is not 32 bytes".to_string())?;
    Ok((enc, ciphertext))
}

/// Opens what [`seal`] made for `identity` with the same `info`; `Unwrap` when it does not open
/// (another recipient, another `info`, or altered bytes).
pub fn open(
    identity: &Identity,
    info: &[u8],
    enc: &[u8; 32],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let err = || Error::Unwrap {
        identity: identity.recipient().short(),
    };
    let secret = identity.secret_bytes();
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(secret.as_ref()).map_err(|_| err())?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| err())?;
    Ok(Zeroizing::new(
        hpke::single_shot_open::<Aead, Kdf, Kem>(&OpModeR::Base, &sk, &enc, info, ciphertext, &[])
            .map_err(|_| err())?,
    ))
}

/// Everything needed to recover a file's key: its KID and the key wrapped to each viewer.
/// Serialized into the camward `pssh` box and into the recorder index's `key_info` column.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeyBundle {
    pub kid: Kid,
    pub keys: Vec<WrappedKey>,
}

impl KeyBundle {
    /// Wraps `key` for every recipient.
    pub fn seal(key: &ContentKey, kid: Kid, recipients: &[Recipient]) -> Result<Self> {
        Ok(KeyBundle {
            kid,
            keys: wrap(key, &kid, recipients)?,
        })
    }

    /// The content key, if `identity` is one of the recipients.
    pub fn open(&self, identity: &Identity) -> Result<ContentKey> {
        unwrap(&self.keys, &self.kid, identity)
    }

    /// The viewers this bundle is for.
    pub fn recipients(&self) -> impl Iterator<Item = &Recipient> {
        self.keys.iter().map(|k| &k.recipient)
    }

    /// Byte layout (all integers big-endian):
    /// `"CWKB"`, version u8 = 1, kem u16, kdf u16, aead u16, KID [16], count u8, then per
    /// recipient: public key [32], enc [32], ciphertext length u16, ciphertext.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(28 + self.keys.len() * 98);
        v.extend_from_slice(BUNDLE_MAGIC);
        v.push(BUNDLE_VERSION);
        v.extend_from_slice(&KEM_ID.to_be_bytes());
        v.extend_from_slice(&KDF_ID.to_be_bytes());
        v.extend_from_slice(&AEAD_ID.to_be_bytes());
        v.extend_from_slice(&self.kid.0);
        v.push(self.keys.len() as u8);
        for k in &self.keys {
            v.extend_from_slice(k.recipient.as_bytes());
            v.extend_from_slice(&k.enc);
            v.extend_from_slice(&(k.ciphertext.len() as u16).to_be_bytes());
            v.extend_from_slice(&k.ciphertext);
        }
        v
    }

    /// Strict inverse of `to_bytes`: unknown versions or suites, bad counts, wrong lengths and
    /// trailing bytes are all refused (this parses attacker-reachable file content; it is fuzzed).
    pub fn from_bytes(data: &[u8]) -> Result<Self> {
        let mut r = Reader { data, pos: 0 };
        if r.take(4)? != BUNDLE_MAGIC {
            return Err(Error::Bundle(
                "does not start with `CWKB`: not a camward key bundle".into(),
            ));
        }
        let version = r.u8()?;
        if version != BUNDLE_VERSION {
            return Err(Error::Bundle(format!(
                "version {version}; this camward reads version {BUNDLE_VERSION}"
            )));
        }
        let suite = (r.u16()?, r.u16()?, r.u16()?);
        if suite != (KEM_ID, KDF_ID, AEAD_ID) {
            return Err(Error::Bundle(format!(
                "HPKE suite kem={:#06x} kdf={:#06x} aead={:#06x} is not supported",
                suite.0, suite.1, suite.2
            )));
        }
        let kid = Kid(r.take(16)?.try_into().expect("16 bytes"));
        let count = r.u8()? as usize;
        if count == 0 || count > MAX_RECIPIENTS {
            return Err(Error::Bundle(format!(
                "{count} wrapped keys; expected 1 to {MAX_RECIPIENTS}"
            )));
        }
        let mut keys = Vec::with_capacity(count);
        for i in 0..count {
            let pk: [u8; 32] = r.take(32)?.try_into().expect("32 bytes");
            let recipient = Recipient::from_bytes(pk)
                .map_err(|e| Error::Bundle(format!("wrapped key {i}: recipient {e}")))?;
            let enc: [u8; 32] = r.take(32)?.try_into().expect("32 bytes");
            let len = r.u16()? as usize;
            if len != WRAPPED_LEN {
                return Err(Error::Bundle(format!(
                    "wrapped key {i} is {len} bytes; expected {WRAPPED_LEN}"
                )));
            }
            let ciphertext = r.take(len)?.to_vec();
            keys.push(WrappedKey {
                recipient,
                enc,
                ciphertext,
            });
        }
        if r.pos != data.len() {
            return Err(Error::Bundle(format!(
                "{} unexpected bytes after the last wrapped key",
                data.len() - r.pos
            )));
        }
        Ok(KeyBundle { kid, keys })
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                Error::Bundle(format!(
                    "truncated: needed {n} bytes at offset {}, {} left",
                    self.pos,
                    self.data.len() - self.pos
                ))
            })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_recipients_each_unwrap() {
        let (a, b) = (Identity::generate(), Identity::generate());
        let key = ContentKey::generate();
        let kid = Kid::generate();
        let bundle = KeyBundle::seal(&key, kid, &[a.recipient(), b.recipient()]).unwrap();
        assert_eq!(bundle.open(&a).unwrap(), key);
        assert_eq!(bundle.open(&b).unwrap(), key);
        // Each wrap has its own ephemeral key.
        assert_ne!(bundle.keys[0].enc, bundle.keys[1].enc);
    }

    #[test]
    fn wrong_identity_cannot_unwrap() {
        let (a, b, c) = (
            Identity::generate(),
            Identity::generate(),
            Identity::generate(),
        );
        let key = ContentKey::generate();
        let bundle =
            KeyBundle::seal(&key, Kid::generate(), &[a.recipient(), b.recipient()]).unwrap();
        let e = bundle.open(&c).unwrap_err();
        assert!(e.is_wrong_identity());
        let msg = e.to_string();
        assert!(msg.contains(&a.recipient().short()), "{msg}");
        assert!(msg.contains(&c.recipient().short()), "{msg}");
        // Forging the recipient field to point at c does not help: HPKE to a's key won't open with c's.
        let mut forged = bundle.clone();
        forged.keys[0].recipient = c.recipient();
        assert!(matches!(forged.open(&c), Err(Error::Unwrap { .. })));
    }

    #[test]
    fn wrapped_key_is_bound_to_its_kid() {
        let a = Identity::generate();
        let key = ContentKey::generate();
        let mut bundle = KeyBundle::seal(&key, Kid::generate(), &[a.recipient()]).unwrap();
        bundle.kid = Kid::generate();
        assert!(matches!(bundle.open(&a), Err(Error::Unwrap { .. })));
    }

    #[test]
    fn flipped_ciphertext_bit_is_detected() {
        let a = Identity::generate();
        let mut bundle =
            KeyBundle::seal(&ContentKey::generate(), Kid::generate(), &[a.recipient()]).unwrap();
        bundle.keys[0].ciphertext[3] ^= 1;
        assert!(matches!(bundle.open(&a), Err(Error::Unwrap { .. })));
    }

    #[test]
    fn bundle_bytes_roundtrip_and_reject_garbage() {
        let ids: Vec<_> = (0..3).map(|_| Identity::generate()).collect();
        let rs: Vec<_> = ids.iter().map(|i| i.recipient()).collect();
        let key = ContentKey::generate();
        let bundle = KeyBundle::seal(&key, Kid::generate(), &rs).unwrap();
        let bytes = bundle.to_bytes();
        assert_eq!(bytes.len(), 4 + 1 + 6 + 16 + 1 + 3 * 98);
        let back = KeyBundle::from_bytes(&bytes).unwrap();
        assert_eq!(back, bundle);
        assert_eq!(back.open(&ids[2]).unwrap(), key);
        // The clear key never appears in the bundle.
        assert!(!bytes.windows(16).any(|w| w == key.as_bytes()));
        for cut in [0, 3, 10, 30, bytes.len() - 1] {
            assert!(
                KeyBundle::from_bytes(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(
            KeyBundle::from_bytes(&extra)
                .unwrap_err()
                .to_string()
                .contains("unexpected bytes")
        );
        let mut v2 = bytes.clone();
        v2[4] = 2;
        assert!(
            KeyBundle::from_bytes(&v2)
                .unwrap_err()
                .to_string()
                .contains("version 2")
        );
        let mut suite = bytes;
        suite[10] = 3;
        assert!(
            KeyBundle::from_bytes(&suite)
                .unwrap_err()
                .to_string()
                .contains("suite")
        );
    }

    #[test]
    fn wrap_refuses_empty_and_duplicate_recipients() {
        let k = ContentKey::generate();
        assert!(wrap(&k, &Kid::generate(), &[]).is_err());
        let r = Identity::generate().recipient();
        assert!(
            wrap(&k, &Kid::generate(), &[r, r])
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }
}
