//! The bundle file (`.cfw`), written by [`pack`] and read in one streaming pass by
//! [`read_head`] → [`SignedManifest::verify`] → [`check_policy`] → [`extract`] (paper §3.11).
//!
//! ```text
//! offset  size  field
//!  0       8    magic "CWFW\r\n\x1a\n" (a text-mode transfer that rewrites line ends breaks it)
//!  8       2    format, u16 big-endian = 1
//! 10       4    manifest length M, u32 BE, 2 .. 1 MiB
//! 14       2    signature block length S, u16 BE
//! 16       M    manifest: UTF-8 JSON (manifest.rs)
//! 16+M     S    signature block: count u8 (1..4), then per signature
//!                 algorithm u8 (1 = Ed25519), key id [8], signature [64]
//! 16+M+S   …    payloads in manifest order, each `stored_size` bytes: the clear file, or
//!               chunks of `chunk_size` clear bytes AES-256-GCM-sealed, each followed by its tag
//! end           nothing: trailing bytes are refused
//! ```
//!
//! What is signed: `"camward firmware manifest v1\0" ‖ manifest`. The manifest binds every
//! payload's size and SHA-256 and, when encrypted, the wrapped content key, so the signature
//! covers every byte that is installed. The header's lengths are only framing: a wrong one makes
//! the manifest or a signature fail. The signature is checked before the manifest is parsed and
//! before anything is decrypted or written.
//!
//! Chunk `i` of payload `p`: nonce = `p` (u32 BE) ‖ `i` (u64 BE); AAD = bundle id [16] ‖ `p` ‖ `i`
//! ‖ last (u8 0/1). The key is fresh per bundle, so nonces never repeat; the AAD stops chunks from
//! being moved between payloads or bundles and a payload from being cut at a chunk boundary.

use crate::error::{Error, Result};
use crate::keys::{KeyId, SigningKey, TrustStore, TrustedKey};
use crate::manifest::{self, ENCRYPTION_SCHEME, Encryption, Manifest, Payload, WrappedKey};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::digest::{Context, SHA256};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use camward_cenc::{Identity, Recipient};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;
use zeroize::Zeroizing;

pub const MAGIC: &[u8; 8] = b"CWFW\r\n\x1a\n";
pub const FORMAT: u16 = 1;
pub const HEADER_LEN: usize = 16;
pub const MAX_MANIFEST: usize = 1 << 20;
const MAX_SIGNATURES: usize = 4;
const ALG_ED25519: u8 = 1;
const SIG_ENTRY: usize = 1 + 8 + 64;
/// Domain separation: a signature over a manifest is never valid for anything else.
pub const SIGNING_CONTEXT: &[u8] = b"camward firmware manifest v1\0";
const WRAP_INFO: &[u8] = b"camward firmware content key v1";
const TAG: usize = 16;

/// One signature of the signature block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub key_id: KeyId,
    pub sig: [u8; 64],
}

/// The manifest and its signatures as read from a bundle, not yet trusted.
#[derive(Clone, Debug)]
pub struct SignedManifest {
    /// The manifest bytes exactly as signed.
    pub raw: Vec<u8>,
    pub signatures: Vec<Signature>,
}

/// A manifest whose signature verified against a trusted key.
#[derive(Clone, Debug)]
pub struct Verified {
    pub manifest: Manifest,
    pub signer: TrustedKey,
    /// Header, manifest and signature block: what a slot keeps to re-verify itself at boot.
    pub head: Vec<u8>,
}

fn message(raw: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNING_CONTEXT.len() + raw.len());
    m.extend_from_slice(SIGNING_CONTEXT);
    m.extend_from_slice(raw);
    m
}

fn read_exact_or(r: &mut impl Read, buf: &mut [u8], what: &str) -> Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => {
                return Err(Error::Format(format!(
                    "the file ends inside the {what} (after {got} of {} bytes): truncated",
                    buf.len()
                )));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Read(e)),
        }
    }
    Ok(())
}

/// Reads the header, manifest and signature block (nothing else) from the start of a bundle.
pub fn read_head(r: &mut impl Read) -> Result<SignedManifest> {
    let mut h = [0u8; HEADER_LEN];
    read_exact_or(r, &mut h, "header")?;
    parse_head(&h, |len| {
        let mut v = vec![0u8; len];
        read_exact_or(r, &mut v, "manifest and signatures")?;
        Ok(v)
    })
}

/// Parses a bundle head from memory (the slot's copy; the fuzz target). Trailing bytes are refused.
pub fn parse_head_bytes(data: &[u8]) -> Result<SignedManifest> {
    if data.len() < HEADER_LEN {
        return Err(Error::Format("shorter than the 16-byte header".into()));
    }
    let mut rest = &data[HEADER_LEN..];
    let sm = parse_head(data[..HEADER_LEN].try_into().expect("16 bytes"), |len| {
        if rest.len() < len {
            return Err(Error::Format(
                "the manifest or signatures are cut short".into(),
            ));
        }
        let (a, b) = rest.split_at(len);
        rest = b;
        Ok(a.to_vec())
    })?;
    if !rest.is_empty() {
        return Err(Error::Trailing(rest.len() as u64));
    }
    Ok(sm)
}

fn parse_head(
    h: &[u8; HEADER_LEN],
    mut body: impl FnMut(usize) -> Result<Vec<u8>>,
) -> Result<SignedManifest> {
    if &h[..8] != MAGIC {
        return Err(Error::Format(
            "does not start with the `CWFW` magic (a .cfw file made by `camward firmware pack`)"
                .into(),
        ));
    }
    let format = u16::from_be_bytes([h[8], h[9]]);
    if format != FORMAT {
        return Err(Error::Format(format!(
            "bundle format {format}; this camward reads format {FORMAT}"
        )));
    }
    let mlen = u32::from_be_bytes([h[10], h[11], h[12], h[13]]) as usize;
    let slen = u16::from_be_bytes([h[14], h[15]]) as usize;
    if !(2..=MAX_MANIFEST).contains(&mlen) {
        return Err(Error::Format(format!(
            "manifest length {mlen} is out of range"
        )));
    }
    if !(1 + SIG_ENTRY..=1 + MAX_SIGNATURES * SIG_ENTRY).contains(&slen) {
        return Err(Error::Format(format!(
            "signature block length {slen} is out of range"
        )));
    }
    let raw = body(mlen)?;
    let block = body(slen)?;
    let count = block[0] as usize;
    if count == 0 || count > MAX_SIGNATURES || block.len() != 1 + count * SIG_ENTRY {
        return Err(Error::Format(format!(
            "signature block of {slen} bytes does not hold {count} signatures"
        )));
    }
    let mut signatures = Vec::with_capacity(count);
    for e in block[1..].chunks_exact(SIG_ENTRY) {
        if e[0] != ALG_ED25519 {
            return Err(Error::Format(format!(
                "signature algorithm {} is not supported (1 = Ed25519)",
                e[0]
            )));
        }
        signatures.push(Signature {
            key_id: KeyId(e[1..9].try_into().expect("8 bytes")),
            sig: e[9..].try_into().expect("64 bytes"),
        });
    }
    Ok(SignedManifest { raw, signatures })
}

impl SignedManifest {
    /// The bytes [`read_head`] consumed, re-encoded (identical to the file's).
    pub fn head_bytes(&self) -> Vec<u8> {
        head_bytes(&self.raw, &self.signatures)
    }

    /// Verifies a signature by a trusted key over the manifest, then parses and checks the
    /// manifest, and, when it rotates keys, the signature by the next key. Nothing of the
    /// manifest is interpreted before its signature verified.
    pub fn verify(&self, trust: &TrustStore) -> Result<Verified> {
        let msg = message(&self.raw);
        let mut signer = None;
        let mut bad = None;
        for s in &self.signatures {
            if let Some(k) = trust.find(&s.key_id) {
                if k.key.verify(&msg, &s.sig) {
                    signer = Some(k.clone());
                    break;
                }
                bad = Some(s.key_id);
            }
        }
        let Some(signer) = signer else {
            return Err(match bad {
                Some(id) => Error::BadSignature {
                    key_id: id.to_string(),
                },
                None => Error::UnknownKey {
                    key_id: self
                        .signatures
                        .iter()
                        .map(|s| s.key_id.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    trusted: trust.describe(),
                },
            });
        };
        let text =
            std::str::from_utf8(&self.raw).map_err(|_| Error::Manifest("is not UTF-8".into()))?;
        let manifest: Manifest =
            serde_json::from_str(text).map_err(|e| Error::Manifest(e.to_string()))?;
        manifest.check()?;
        if let Some(next) = &manifest.next_key {
            let next: crate::keys::PublicKey = next.parse()?;
            let proven = self
                .signatures
                .iter()
                .any(|s| s.key_id == next.id() && next.verify(&msg, &s.sig));
            if !proven {
                return Err(Error::NextKeyUnproven {
                    key_id: next.id().to_string(),
                });
            }
        }
        Ok(Verified {
            manifest,
            signer,
            head: self.head_bytes(),
        })
    }
}

fn head_bytes(raw: &[u8], sigs: &[Signature]) -> Vec<u8> {
    let slen = 1 + sigs.len() * SIG_ENTRY;
    let mut v = Vec::with_capacity(HEADER_LEN + raw.len() + slen);
    v.extend_from_slice(MAGIC);
    v.extend_from_slice(&FORMAT.to_be_bytes());
    v.extend_from_slice(&(raw.len() as u32).to_be_bytes());
    v.extend_from_slice(&(slen as u16).to_be_bytes());
    v.extend_from_slice(raw);
    v.push(sigs.len() as u8);
    for s in sigs {
        v.push(ALG_ED25519);
        v.extend_from_slice(&s.key_id.0);
        v.extend_from_slice(&s.sig);
    }
    v
}

/// What the device checks besides the signature.
#[derive(Clone, Debug)]
pub struct Policy {
    pub product: String,
    pub now: OffsetDateTime,
    /// The anti-rollback floor.
    pub floor: u32,
    /// The version running now (for `min_version`).
    pub running: semver::Version,
}

/// Product, expiry, anti-rollback floor and `min_version`, in that order.
pub fn check_policy(m: &Manifest, p: &Policy) -> Result<()> {
    if m.product != p.product {
        return Err(Error::Product {
            found: m.product.clone(),
            expected: p.product.clone(),
        });
    }
    let expires = m.expires_at()?;
    if expires <= p.now {
        return Err(Error::Expired {
            expires: m.expires.clone(),
            now: manifest::format_time(p.now),
        });
    }
    if m.security_version < p.floor {
        return Err(Error::BelowFloor {
            found: m.security_version,
            floor: p.floor,
        });
    }
    if let Some(min) = &m.min_version {
        let min_v = manifest::parse_version(min, "min_version")?;
        if p.running < min_v {
            return Err(Error::TooOld {
                running: p.running.to_string(),
                min: min.clone(),
            });
        }
    }
    Ok(())
}

/// The content key of an encrypted bundle, for `identity` (the device-class key); checked before
/// any payload byte is read.
pub fn content_key(
    m: &Manifest,
    identity: Option<&Identity>,
) -> Result<Option<Zeroizing<[u8; 32]>>> {
    let Some(enc) = &m.encryption else {
        return Ok(None);
    };
    let for_whom = enc
        .keys
        .iter()
        .map(|k| k.recipient.chars().take(12).collect::<String>() + "…")
        .collect::<Vec<_>>()
        .join(", ");
    let Some(identity) = identity else {
        return Err(Error::NoClassKey(format!(
            "the bundle is encrypted to {for_whom}; this device holds no firmware class key \
             (install it from the console: `camward firmware class-key install FILE`)"
        )));
    };
    let me = identity.recipient();
    let Some(entry) = enc
        .keys
        .iter()
        .find(|k| k.recipient.parse::<Recipient>().ok() == Some(me))
    else {
        return Err(Error::NoClassKey(format!(
            "the bundle is encrypted to {for_whom}; this device's class key is {}",
            me.short()
        )));
    };
    let bad = || Error::Manifest("the wrapped content key does not open: altered".into());
    let encapped: [u8; 32] = B64
        .decode(&entry.enc)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(bad)?;
    let ct = B64.decode(&entry.ciphertext).map_err(|_| bad())?;
    let key =
        camward_cenc::wrap::open(identity, &wrap_info(m), &encapped, &ct).map_err(|_| bad())?;
    let arr: [u8; 32] = key.as_slice().try_into().map_err(|_| bad())?;
    Ok(Some(Zeroizing::new(arr)))
}

fn wrap_info(m: &Manifest) -> Vec<u8> {
    let mut v = WRAP_INFO.to_vec();
    v.extend_from_slice(&m.bundle_id().unwrap_or_default());
    v
}

fn nonce_aad(bundle: &[u8; 16], payload: u32, chunk: u64, last: bool) -> ([u8; 12], [u8; 29]) {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&payload.to_be_bytes());
    n[4..].copy_from_slice(&chunk.to_be_bytes());
    let mut a = [0u8; 29];
    a[..16].copy_from_slice(bundle);
    a[16..28].copy_from_slice(&n);
    a[28] = last as u8;
    (n, a)
}

/// Progress of a long operation: bytes done so far.
pub type Progress<'a> = &'a mut dyn FnMut(u64);

/// Where [`extract`] writes each payload.
pub trait Sink {
    fn open(&mut self, payload: &Payload) -> Result<Box<dyn Write + '_>>;
    /// The payload verified (size and SHA-256): make it durable.
    fn finish(&mut self, payload: &Payload) -> Result<()>;
}

/// Discards payloads (inspect: verification only).
pub struct Discard;
impl Sink for Discard {
    fn open(&mut self, _: &Payload) -> Result<Box<dyn Write + '_>> {
        Ok(Box::new(std::io::sink()))
    }
    fn finish(&mut self, _: &Payload) -> Result<()> {
        Ok(())
    }
}

/// Writes payloads as files into a directory (mode 0600 while written; 0755/0644 once verified).
pub struct DirSink {
    pub dir: PathBuf,
    file: Option<std::fs::File>,
}

impl DirSink {
    pub fn new(dir: &Path) -> Self {
        DirSink {
            dir: dir.to_owned(),
            file: None,
        }
    }
}

impl Sink for DirSink {
    fn open(&mut self, payload: &Payload) -> Result<Box<dyn Write + '_>> {
        let path = self.dir.join(&payload.name);
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let f = o
            .open(&path)
            .map_err(|e| Error::io("cannot create", &path, e))?;
        Ok(Box::new(self.file.insert(f)))
    }
    fn finish(&mut self, payload: &Payload) -> Result<()> {
        let path = self.dir.join(&payload.name);
        let f = self.file.take().expect("finish after open");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = if payload.exec { 0o755 } else { 0o644 };
            f.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(|e| Error::io("cannot set the mode of", &path, e))?;
        }
        f.sync_all().map_err(|e| Error::io("cannot sync", &path, e))
    }
}

const IO_BUF: usize = 256 * 1024;

/// Streams every payload from `r` (positioned after the head) into `sink`: decrypts each chunk
/// (refusing one whose tag fails), hashes the clear bytes, and checks size and SHA-256 against the
/// manifest before `sink.finish`; then refuses trailing bytes. Memory stays at one chunk.
pub fn extract(
    r: &mut impl Read,
    v: &Verified,
    identity: Option<&Identity>,
    sink: &mut dyn Sink,
    progress: Progress<'_>,
) -> Result<()> {
    let m = &v.manifest;
    let key = content_key(m, identity)?;
    let cipher = key
        .as_ref()
        .map(|k| LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k.as_ref()).expect("32-byte key")));
    let bundle_id = m.bundle_id().expect("checked");
    let mut offset = v.head.len() as u64;
    let mut done = 0u64;
    for (pi, p) in m.payloads.iter().enumerate() {
        let mut out = sink.open(p)?;
        let mut hash = Context::new(&SHA256);
        let name = p.name.clone();
        let truncated = |off: u64| Error::Truncated {
            payload: name.clone(),
            offset: off,
        };
        let write_err = |e: std::io::Error| Error::Io {
            what: "cannot write payload",
            path: PathBuf::from(&p.name),
            source: e,
        };
        match (&cipher, &m.encryption) {
            (Some(cipher), Some(enc)) => {
                let chunk = enc.chunk_size as u64;
                let n = manifest::chunks(p.size, enc.chunk_size);
                let mut buf = vec![0u8; chunk as usize + TAG];
                for i in 0..n {
                    let plen = (p.size - i * chunk).min(chunk) as usize;
                    let got = read_full(r, &mut buf[..plen + TAG])?;
                    offset += got as u64;
                    if got < plen + TAG {
                        return Err(truncated(offset));
                    }
                    let (nonce, aad) = nonce_aad(&bundle_id, pi as u32, i, i + 1 == n);
                    let clear = cipher
                        .open_in_place(
                            Nonce::assume_unique_for_key(nonce),
                            Aad::from(aad),
                            &mut buf[..plen + TAG],
                        )
                        .map_err(|_| Error::Altered {
                            payload: p.name.clone(),
                            reason: format!("chunk {i} does not authenticate (AES-GCM tag)"),
                        })?;
                    hash.update(clear);
                    out.write_all(clear).map_err(write_err)?;
                    done += (plen + TAG) as u64;
                    progress(done);
                }
            }
            _ => {
                let mut left = p.size;
                let mut buf = vec![0u8; IO_BUF];
                while left > 0 {
                    let want = left.min(IO_BUF as u64) as usize;
                    let got = read_full(r, &mut buf[..want])?;
                    offset += got as u64;
                    if got < want {
                        return Err(truncated(offset));
                    }
                    hash.update(&buf[..got]);
                    out.write_all(&buf[..got]).map_err(write_err)?;
                    left -= got as u64;
                    done += got as u64;
                    progress(done);
                }
            }
        }
        drop(out);
        let digest = hex::encode(hash.finish());
        if digest != p.sha256 {
            return Err(Error::Altered {
                payload: p.name.clone(),
                reason: format!(
                    "its SHA-256 is {digest}, the signed manifest says {}",
                    p.sha256
                ),
            });
        }
        sink.finish(p)?;
    }
    let mut extra = [0u8; 4096];
    let mut trailing = 0u64;
    loop {
        let n = read_full(r, &mut extra)?;
        trailing += n as u64;
        if n < extra.len() {
            break;
        }
        if trailing > 1 << 20 {
            break;
        }
    }
    if trailing > 0 {
        return Err(Error::Trailing(trailing));
    }
    Ok(())
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Read(e)),
        }
    }
    Ok(got)
}

/// What `camward firmware pack` puts into a bundle.
pub struct PackOptions {
    pub product: String,
    pub version: String,
    pub security_version: u32,
    pub min_version: Option<String>,
    pub created: OffsetDateTime,
    pub expires: OffsetDateTime,
    /// Device-class keys to encrypt to; empty: clear payloads.
    pub encrypt_to: Vec<Recipient>,
    pub chunk_size: u32,
    pub retire_keys: Vec<KeyId>,
}

/// One input file of [`pack`].
pub struct PackInput {
    pub name: String,
    pub path: PathBuf,
    pub exec: bool,
}

/// Hashes the inputs, writes the signed manifest, then streams the payloads (encrypting them when
/// asked) into `out`. Signed by `key`, and by `next` when the bundle rotates to it.
pub fn pack(
    key: &SigningKey,
    next: Option<&SigningKey>,
    opts: &PackOptions,
    inputs: &[PackInput],
    out: &mut impl Write,
    progress: Progress<'_>,
) -> Result<Manifest> {
    let mut payloads = Vec::with_capacity(inputs.len());
    for i in inputs {
        let (size, sha256) = hash_file(&i.path)?;
        payloads.push(Payload {
            name: i.name.clone(),
            size,
            sha256,
            exec: i.exec,
        });
    }
    let mut bundle_id = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bundle_id).map_err(|_| Error::Key("no randomness".into()))?;
    let mut content_key = Zeroizing::new([0u8; 32]);
    let mut m = Manifest {
        format: manifest::FORMAT,
        product: opts.product.clone(),
        version: opts.version.clone(),
        security_version: opts.security_version,
        min_version: opts.min_version.clone(),
        created: manifest::format_time(opts.created),
        expires: manifest::format_time(opts.expires),
        bundle_id: hex::encode(bundle_id),
        payloads,
        encryption: None,
        next_key: next.map(|k| k.public().to_string()),
        retire_keys: opts.retire_keys.iter().map(|k| k.to_string()).collect(),
    };
    if !opts.encrypt_to.is_empty() {
        aws_lc_rs::rand::fill(content_key.as_mut())
            .map_err(|_| Error::Key("no randomness".into()))?;
        let info = wrap_info(&m);
        let mut keys = Vec::new();
        for r in &opts.encrypt_to {
            let (enc, ct) = camward_cenc::wrap::seal(r, &info, content_key.as_ref())
                .map_err(|e| Error::Key(e.to_string()))?;
            keys.push(WrappedKey {
                recipient: r.to_string(),
                enc: B64.encode(enc),
                ciphertext: B64.encode(ct),
            });
        }
        m.encryption = Some(Encryption {
            scheme: ENCRYPTION_SCHEME.into(),
            chunk_size: opts.chunk_size,
            keys,
        });
    }
    m.check()?;
    let raw = serde_json::to_vec_pretty(&m).expect("manifest serialises");
    let msg = message(&raw);
    let mut sigs = vec![Signature {
        key_id: key.public().id(),
        sig: key.sign(&msg),
    }];
    if let Some(n) = next {
        sigs.push(Signature {
            key_id: n.public().id(),
            sig: n.sign(&msg),
        });
    }
    let werr = |e| Error::io("cannot write", Path::new("the bundle"), e);
    out.write_all(&head_bytes(&raw, &sigs)).map_err(werr)?;

    let cipher = m.encryption.as_ref().map(|_| {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, content_key.as_ref()).expect("32-byte key"))
    });
    let mut done = 0u64;
    for (pi, (p, input)) in m.payloads.iter().zip(inputs).enumerate() {
        let mut f = std::fs::File::open(&input.path)
            .map_err(|e| Error::io("cannot open", &input.path, e))?;
        let mut hash = Context::new(&SHA256);
        let chunk = m
            .encryption
            .as_ref()
            .map_or(IO_BUF as u64, |e| e.chunk_size as u64);
        let n = manifest::chunks(p.size, chunk as u32);
        let mut buf = vec![0u8; chunk as usize + TAG];
        for i in 0..n {
            let plen = (p.size - i * chunk).min(chunk) as usize;
            let got = read_full(&mut f, &mut buf[..plen])?;
            if got != plen {
                return Err(Error::Key(format!(
                    "{} changed while packing",
                    input.path.display()
                )));
            }
            hash.update(&buf[..plen]);
            match &cipher {
                Some(c) => {
                    let (nonce, aad) = nonce_aad(&bundle_id, pi as u32, i, i + 1 == n);
                    let tag = c
                        .seal_in_place_separate_tag(
                            Nonce::assume_unique_for_key(nonce),
                            Aad::from(aad),
                            &mut buf[..plen],
                        )
                        .map_err(|_| Error::Key("AES-GCM seal failed".into()))?;
                    out.write_all(&buf[..plen]).map_err(werr)?;
                    out.write_all(tag.as_ref()).map_err(werr)?;
                    done += (plen + TAG) as u64;
                }
                None => {
                    out.write_all(&buf[..plen]).map_err(werr)?;
                    done += plen as u64;
                }
            }
            progress(done);
        }
        if hex::encode(hash.finish()) != p.sha256 {
            return Err(Error::Key(format!(
                "{} changed while packing",
                input.path.display()
            )));
        }
    }
    out.flush().map_err(werr)?;
    Ok(m)
}

/// Size and SHA-256 (hex) of a file.
pub fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let mut hash = Context::new(&SHA256);
    let mut buf = vec![0u8; IO_BUF];
    let mut size = 0u64;
    loop {
        let n = read_full(&mut f, &mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hash.finish())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeySource;

    struct Fixture {
        _dir: tempfile::TempDir,
        key: SigningKey,
        inputs: Vec<PackInput>,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("camward");
        let mut data = b"#!/bin/sh\necho MARKER-CAMWARD-PAYLOAD\n".to_vec();
        data.extend((0..200_000u32).map(|i| (i * 7 % 251) as u8));
        std::fs::write(&bin, &data).unwrap();
        let extra = dir.path().join("notes.txt");
        std::fs::write(&extra, b"").unwrap();
        Fixture {
            key: SigningKey::generate().unwrap(),
            inputs: vec![
                PackInput {
                    name: "camward".into(),
                    path: bin,
                    exec: true,
                },
                PackInput {
                    name: "notes.txt".into(),
                    path: extra,
                    exec: false,
                },
            ],
            _dir: dir,
        }
    }

    fn opts(encrypt_to: Vec<Recipient>) -> PackOptions {
        let now = OffsetDateTime::now_utc();
        PackOptions {
            product: "camward".into(),
            version: "1.2.3".into(),
            security_version: 3,
            min_version: None,
            created: now,
            expires: now + time::Duration::days(30),
            encrypt_to,
            chunk_size: 4096,
            retire_keys: vec![],
        }
    }

    fn build(f: &Fixture, o: &PackOptions) -> Vec<u8> {
        let mut out = Vec::new();
        pack(&f.key, None, o, &f.inputs, &mut out, &mut |_| {}).unwrap();
        out
    }

    fn trust(f: &Fixture) -> TrustStore {
        TrustStore::of([(f.key.public(), KeySource::Owner)])
    }

    fn verify_all(bytes: &[u8], t: &TrustStore, id: Option<&Identity>) -> Result<Verified> {
        let mut r = bytes;
        let v = read_head(&mut r)?.verify(t)?;
        extract(&mut r, &v, id, &mut Discard, &mut |_| {})?;
        Ok(v)
    }

    #[test]
    fn packed_bundle_verifies_and_extracts_byte_for_byte() {
        let f = fixture();
        let b = build(&f, &opts(vec![]));
        let dir = tempfile::tempdir().unwrap();
        let mut r = &b[..];
        let v = read_head(&mut r).unwrap().verify(&trust(&f)).unwrap();
        extract(&mut r, &v, None, &mut DirSink::new(dir.path()), &mut |_| {}).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("camward")).unwrap(),
            std::fs::read(&f.inputs[0].path).unwrap()
        );
        assert_eq!(v.manifest.version, "1.2.3");
        assert_eq!(v.head, b[..v.head.len()]);
    }

    #[test]
    fn flipped_manifest_byte_breaks_the_signature() {
        let f = fixture();
        let mut b = build(&f, &opts(vec![]));
        b[HEADER_LEN + 20] ^= 1;
        let e = verify_all(&b, &trust(&f), None).unwrap_err();
        assert_eq!(e.rule(), "signature.invalid", "{e}");
    }

    #[test]
    fn flipped_payload_byte_is_caught_by_the_hash() {
        let f = fixture();
        let mut b = build(&f, &opts(vec![]));
        let n = b.len();
        b[n - 100] ^= 1;
        let e = verify_all(&b, &trust(&f), None).unwrap_err();
        assert_eq!(e.rule(), "payload.altered", "{e}");
    }

    #[test]
    fn truncated_and_extended_bundles_are_refused() {
        let f = fixture();
        let b = build(&f, &opts(vec![]));
        let e = verify_all(&b[..b.len() - 1], &trust(&f), None).unwrap_err();
        assert_eq!(e.rule(), "payload.truncated", "{e}");
        let e = verify_all(&b[..10], &trust(&f), None).unwrap_err();
        assert_eq!(e.rule(), "format", "{e}");
        let mut longer = b.clone();
        longer.push(0);
        assert_eq!(
            verify_all(&longer, &trust(&f), None).unwrap_err().rule(),
            "format.trailing"
        );
    }

    #[test]
    fn other_key_is_unknown() {
        let f = fixture();
        let b = build(&f, &opts(vec![]));
        let other = TrustStore::of([(SigningKey::generate().unwrap().public(), KeySource::Pinned)]);
        assert_eq!(
            verify_all(&b, &other, None).unwrap_err().rule(),
            "signature.unknown_key"
        );
    }

    #[test]
    fn encrypted_bundle_hides_the_payload_and_opens_with_the_class_key() {
        let f = fixture();
        let class = Identity::generate();
        let b = build(&f, &opts(vec![class.recipient()]));
        assert!(!b.windows(12).any(|w| w == b"MARKER-CAMWA"));
        verify_all(&b, &trust(&f), Some(&class)).unwrap();
        let e = verify_all(&b, &trust(&f), None).unwrap_err();
        assert_eq!(e.rule(), "encryption.no_key");
        let e = verify_all(&b, &trust(&f), Some(&Identity::generate())).unwrap_err();
        assert_eq!(e.rule(), "encryption.no_key");
    }

    #[test]
    fn encrypted_chunk_altered_or_cut_is_refused() {
        let f = fixture();
        let class = Identity::generate();
        let b = build(&f, &opts(vec![class.recipient()]));
        let mut x = b.clone();
        let n = x.len();
        x[n - 5000] ^= 0x80;
        assert_eq!(
            verify_all(&x, &trust(&f), Some(&class)).unwrap_err().rule(),
            "payload.altered"
        );
        // Cutting the last chunk (of the empty payload) off is a truncation, not a shorter file.
        assert_eq!(
            verify_all(&b[..n - TAG], &trust(&f), Some(&class))
                .unwrap_err()
                .rule(),
            "payload.truncated"
        );
    }

    #[test]
    fn policy_refuses_expired_other_product_below_floor_and_too_old() {
        let f = fixture();
        let b = build(&f, &opts(vec![]));
        let v = read_head(&mut &b[..]).unwrap().verify(&trust(&f)).unwrap();
        let ok = Policy {
            product: "camward".into(),
            now: OffsetDateTime::now_utc(),
            floor: 3,
            running: semver::Version::new(1, 0, 0),
        };
        check_policy(&v.manifest, &ok).unwrap();
        let later = Policy {
            now: ok.now + time::Duration::days(31),
            ..ok.clone()
        };
        assert_eq!(
            check_policy(&v.manifest, &later).unwrap_err().rule(),
            "manifest.expired"
        );
        let other = Policy {
            product: "doorbell".into(),
            ..ok.clone()
        };
        assert_eq!(
            check_policy(&v.manifest, &other).unwrap_err().rule(),
            "manifest.product"
        );
        let floor = Policy {
            floor: 4,
            ..ok.clone()
        };
        assert_eq!(
            check_policy(&v.manifest, &floor).unwrap_err().rule(),
            "security_version.below_floor"
        );
        let mut m = v.manifest.clone();
        m.min_version = Some("1.1.0".into());
        assert_eq!(
            check_policy(&m, &ok).unwrap_err().rule(),
            "version.min_version"
        );
    }

    #[test]
    fn rotation_needs_a_signature_by_the_next_key() {
        let f = fixture();
        let next = SigningKey::generate().unwrap();
        let mut out = Vec::new();
        pack(
            &f.key,
            Some(&next),
            &opts(vec![]),
            &f.inputs,
            &mut out,
            &mut |_| {},
        )
        .unwrap();
        let v = verify_all(&out, &trust(&f), None).unwrap();
        assert_eq!(
            v.manifest.next_key.as_deref(),
            Some(next.public().to_string().as_str())
        );
        // Drop the next key's signature: the rotation is no longer proven.
        let sm = read_head(&mut &out[..]).unwrap();
        let one = SignedManifest {
            raw: sm.raw.clone(),
            signatures: sm.signatures[..1].to_vec(),
        };
        assert_eq!(
            one.verify(&trust(&f)).unwrap_err().rule(),
            "signature.next_key"
        );
        // The next key alone is trusted once rotated in.
        let rotated = TrustStore::of([(next.public(), KeySource::Rotated)]);
        sm.verify(&rotated).unwrap();
    }

    #[test]
    fn head_round_trips_through_memory_parse() {
        let f = fixture();
        let b = build(&f, &opts(vec![]));
        let sm = read_head(&mut &b[..]).unwrap();
        let again = parse_head_bytes(&sm.head_bytes()).unwrap();
        assert_eq!(again.raw, sm.raw);
        assert_eq!(again.signatures, sm.signatures);
    }
}
