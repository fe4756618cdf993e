//! The device identity: a P-256 key born on the camera, its serial number and certificates.
//! Serves a CA-issued chain when installed, else a self-signed one, and swaps them live.
//!
//! Layout under the data directory (`DATA/identity`, mode 0700; every file 0600):
//! `device.key` (PKCS#8 PEM), `serial`, `selfsigned.pem`, `device.pem` (CA chain, leaf first, no
//! root). camward-store keeps the secrets key (`secrets.key`) beside them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use time::{Duration, OffsetDateTime};

use crate::certinfo::{
    self, CertInfo, CertKind, ChainPolicy, certs_from_pem, certs_to_pem, describe, parse_cert,
};
use crate::error::{CertError, Result};
use crate::fsutil::{
    KEY_MODE, create_atomic, ensure_private_dir, hex_upper, mode_of, random_bytes,
    random_cert_serial, read_optional, remove_durable, set_mode, write_atomic,
};

/// Mode of the identity's other files (certificates, serial): not secret, but everything in the
/// data directory is the daemon's alone (docs/security.md, data at rest); clients get the
/// certificates from the TLS handshake and `GET /api/v1/certificate/chain.pem`.
const DEVICE_FILE_MODE: u32 = 0o600;

/// Sub-directory of the data directory that holds the identity.
pub const IDENTITY_DIR: &str = "identity";
/// PKCS#8 PEM private key, mode 0600.
pub const KEY_FILE: &str = "device.key";
/// Device serial number, one line.
pub const SERIAL_FILE: &str = "serial";
/// Self-signed certificate generated on the device.
pub const SELF_SIGNED_FILE: &str = "selfsigned.pem";
/// CA-issued chain (leaf first, root never included); takes precedence when present.
pub const CA_CHAIN_FILE: &str = "device.pem";

/// Validity of the self-signed certificate.
const SELF_SIGNED_DAYS: i64 = 3650;
/// SANs of the self-signed certificate: what a browser on the device or a local tool uses.
const SELF_SIGNED_SANS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// Boards without an RTC boot in 1970 until NTP answers; a certificate made then would start
/// and end in the 1970s. Never date a certificate before this instant (2025-01-01T00:00:00Z).
const EARLIEST_PLAUSIBLE_UNIX: i64 = 1_735_689_600;
/// Upper bound of an X.520 common name (ub-common-name).
const MAX_CN_LEN: usize = 64;

/// The certificate currently served, with its signing key ready for rustls.
struct Served {
    kind: CertKind,
    certified: Arc<CertifiedKey>,
}

/// The camera's identity. Share one `Arc<DeviceIdentity>` across the daemon: installing or
/// regenerating a certificate swaps what [`certified_key`](Self::certified_key) returns, so
/// every following TLS handshake uses it without a restart.
///
/// The private key is held only in memory and in `device.key`; no method returns it.
pub struct DeviceIdentity {
    dir: PathBuf,
    serial: String,
    /// rcgen view of the key: signs CSRs and self-signed certificates.
    key: KeyPair,
    /// aws-lc-rs view of the key: signs messages (ONVIF media signing).
    signer: EcdsaKeyPair,
    /// rustls view of the key: signs TLS handshakes.
    tls_key: Arc<dyn rustls::sign::SigningKey>,
    served: ArcSwap<Served>,
    /// Serialises writers so the file on disk and the served certificate change in one order.
    update: Mutex<()>,
}

impl std::fmt::Debug for DeviceIdentity {
    // Hand-written so that no derive could ever print key material into a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("dir", &self.dir)
            .field("serial", &self.serial)
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

impl DeviceIdentity {
    /// Opens the identity under `data_dir/identity`, creating key, serial and self-signed
    /// certificate on first use.
    ///
    /// A stored CA chain that no longer fits the key (or is unreadable) is not fatal: the
    /// device falls back to its self-signed certificate, logs why, and stays reachable so the
    /// operator can install a good chain.
    pub fn load_or_create(data_dir: &Path) -> Result<DeviceIdentity> {
        let dir = data_dir.join(IDENTITY_DIR);
        ensure_private_dir(&dir)?;
        let key = load_or_create_key(&dir.join(KEY_FILE))?;
        let serial = load_or_create_serial(&dir.join(SERIAL_FILE))?;

        let pkcs8 = key.serialized_der().to_vec();
        let signer =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8).map_err(|e| {
                CertError::BadFile {
                    path: dir.join(KEY_FILE),
                    reason: format!("aws-lc-rs refuses the key: {e}"),
                }
            })?;
        let tls_key = rustls::crypto::aws_lc_rs::sign::any_ecdsa_type(&PrivateKeyDer::Pkcs8(
            PrivatePkcs8KeyDer::from(pkcs8),
        ))?;

        // Placeholder until the real chain is loaded below; never observable from outside.
        let placeholder = Served {
            kind: CertKind::SelfSigned,
            certified: Arc::new(CertifiedKey::new(Vec::new(), tls_key.clone())),
        };
        let id = DeviceIdentity {
            dir,
            serial,
            key,
            signer,
            tls_key,
            served: ArcSwap::from_pointee(placeholder),
            update: Mutex::new(()),
        };
        let served = id.load_served()?;
        id.served.store(Arc::new(served));
        Ok(id)
    }

    /// A key for `purpose`, derived from the device key with HKDF-SHA256: stable for as long as
    /// the device key is, different per purpose, and no way back to the device key.
    pub fn derive_key(&self, purpose: &str) -> crate::seal::SealKey {
        struct Len32;
        impl aws_lc_rs::hkdf::KeyType for Len32 {
            fn len(&self) -> usize {
                32
            }
        }
        use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
        let salt = Salt::new(HKDF_SHA256, b"camward device-derived key");
        let prk = salt.extract(self.key.serialized_der());
        let info = [purpose.as_bytes()];
        let okm = prk
            .expand(&info, Len32)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let mut out = [0u8; 32];
        okm.fill(&mut out)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        crate::seal::SealKey::from_bytes(out)
    }

    /// Re-reads the certificates from disk, e.g. after `camward identity install` ran in
    /// another process while the daemon was up.
    pub fn reload(&self) -> Result<CertInfo> {
        let _guard = self.lock();
        let served = self.load_served()?;
        self.served.store(Arc::new(served));
        Ok(self.info())
    }

    /// The device serial number, e.g. `CW-0123456789AB`.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// Directory holding the identity files (`DATA/identity`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Which certificate is served now.
    pub fn kind(&self) -> CertKind {
        self.served.load().kind
    }

    /// The served chain, leaf first, without the root.
    pub fn certificate_chain_der(&self) -> Vec<CertificateDer<'static>> {
        self.served.load().certified.cert.clone()
    }

    /// The served chain as PEM, leaf first, without the root (the paper's "Certificate
    /// download").
    pub fn certificate_chain_pem(&self) -> String {
        certs_to_pem(&self.served.load().certified.cert)
    }

    /// Chain and TLS signing key as rustls wants them; read on every handshake.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        self.served.load().certified.clone()
    }

    /// Description of the served leaf certificate.
    pub fn info(&self) -> CertInfo {
        let served = self.served.load();
        // The served leaf was parsed when it was loaded, so describing it cannot fail.
        describe(
            served.certified.cert[0].as_ref(),
            served.kind,
            OffsetDateTime::now_utc(),
        )
        .expect("served certificate was validated when loaded")
    }

    /// Signs `msg` with the device key: ECDSA P-256 over SHA-256, DER-encoded (r, s).
    pub fn sign_p256_sha256(&self, msg: &[u8]) -> Vec<u8> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.signer
            .sign(&rng, msg)
            // ECDSA signing only fails when the system random generator is broken; nothing
            // sensible can continue then.
            .expect("ECDSA signing with the device key failed (system random generator?)")
            .as_ref()
            .to_vec()
    }

    /// The device public key as DER SubjectPublicKeyInfo.
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        self.key.subject_public_key_info()
    }

    /// Builds a PEM certificate signing request signed by the device key.
    ///
    /// The subject carries `CN` (default `camward-<serial>`) and the device serial as the
    /// X.520 `serialNumber` attribute so the factory can tie the certificate to the unit.
    /// Without `sans`, the CN is requested as the one DNS name.
    pub fn csr(&self, cn: Option<&str>, sans: &[String]) -> Result<String> {
        let cn = match cn {
            Some(c) => validate_cn(c)?.to_string(),
            None => self.default_cn(),
        };
        let sans: Vec<String> = if sans.is_empty() {
            vec![cn.clone()]
        } else {
            sans.iter().map(|s| s.trim().to_string()).collect()
        };
        if let Some(bad) = sans.iter().find(|s| s.is_empty() || s.len() > 253) {
            return Err(CertError::Invalid {
                what: "subject alternative name",
                reason: format!("{bad:?} must be a host name or an IP address"),
            });
        }
        let mut params = CertificateParams::new(sans).map_err(|e| CertError::Invalid {
            what: "subject alternative name",
            reason: e.to_string(),
        })?;
        params.distinguished_name = self.subject(&cn)?;
        params
            .serialize_request(&self.key)
            .map_err(CertError::rcgen("building the CSR"))?
            .pem()
            .map_err(CertError::rcgen("encoding the CSR"))
    }

    /// Installs a CA-issued chain (PEM, leaf first; a trailing root is accepted and dropped).
    ///
    /// Refused, leaving the served certificate untouched: a chain for another key
    /// ([`CertError::KeyMismatch`]), a certificate not signed by the next one, an expired
    /// certificate, a lone self-signed certificate, a private key in the input.
    pub fn install_chain(&self, pem: &str) -> Result<CertInfo> {
        let ders = certs_from_pem(pem)?;
        let chain = certinfo::validate_chain(
            ders,
            self.key.public_key_raw(),
            ChainPolicy {
                refuse_expired: true,
            },
            OffsetDateTime::now_utc(),
        )?;
        let served = self.served_from(chain.clone(), CertKind::CaIssued)?;
        let _guard = self.lock();
        // Disk first: if the write fails the old file and the old served chain both remain.
        write_atomic(
            &self.dir.join(CA_CHAIN_FILE),
            certs_to_pem(&chain).as_bytes(),
            DEVICE_FILE_MODE,
        )?;
        self.served.store(Arc::new(served));
        tracing::info!(serial = %self.serial, "installed CA-issued device certificate");
        Ok(self.info())
    }

    /// Generates a fresh self-signed certificate (new serial and validity) for the same key.
    /// It is served at once unless a CA-issued chain is installed, which keeps precedence.
    pub fn regenerate_self_signed(&self) -> Result<CertInfo> {
        let _guard = self.lock();
        let der = self.write_new_self_signed()?;
        let now = OffsetDateTime::now_utc();
        if self.kind() == CertKind::SelfSigned {
            self.served.store(Arc::new(
                self.served_from(vec![der.clone()], CertKind::SelfSigned)?,
            ));
        }
        describe(der.as_ref(), CertKind::SelfSigned, now)
    }

    /// Removes the CA-issued chain and falls back to the self-signed certificate.
    /// Returns the description of what is served afterwards.
    pub fn delete_ca_chain(&self) -> Result<CertInfo> {
        let _guard = self.lock();
        remove_durable(&self.dir.join(CA_CHAIN_FILE))?;
        let served = self.load_self_signed()?;
        self.served.store(Arc::new(served));
        tracing::info!(serial = %self.serial, "CA-issued certificate deleted, serving self-signed");
        Ok(self.info())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic while holding the lock cannot leave the files inconsistent (atomic writes),
        // so a poisoned lock is safe to take over.
        self.update.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn default_cn(&self) -> String {
        format!("camward-{}", self.serial)
    }

    fn subject(&self, cn: &str) -> Result<DistinguishedName> {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        let serial =
            rcgen::string::PrintableString::try_from(self.serial.as_str()).map_err(|e| {
                CertError::Invalid {
                    what: "device serial",
                    reason: e.to_string(),
                }
            })?;
        // 2.5.4.5 serialNumber: X.520 wants a PrintableString.
        dn.push(
            DnType::CustomDnType(vec![2, 5, 4, 5]),
            DnValue::PrintableString(serial),
        );
        Ok(dn)
    }

    fn served_from(&self, chain: Vec<CertificateDer<'static>>, kind: CertKind) -> Result<Served> {
        let certified = CertifiedKey::new(chain, self.tls_key.clone());
        // Belt and braces: rustls compares the SPKI of the leaf with the signing key itself.
        certified.keys_match()?;
        Ok(Served {
            kind,
            certified: Arc::new(certified),
        })
    }

    fn load_served(&self) -> Result<Served> {
        let path = self.dir.join(CA_CHAIN_FILE);
        if let Some(text) = read_optional(&path)? {
            let loaded = certs_from_pem(&text).and_then(|ders| {
                certinfo::validate_chain(
                    ders,
                    self.key.public_key_raw(),
                    ChainPolicy {
                        refuse_expired: false,
                    },
                    OffsetDateTime::now_utc(),
                )
            });
            match loaded.and_then(|chain| self.served_from(chain, CertKind::CaIssued)) {
                Ok(served) => return Ok(served),
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "stored CA-issued certificate unusable, serving the self-signed one"
                ),
            }
        }
        self.load_self_signed()
    }

    fn load_self_signed(&self) -> Result<Served> {
        let path = self.dir.join(SELF_SIGNED_FILE);
        if let Some(text) = read_optional(&path)? {
            let usable = certs_from_pem(&text).ok().and_then(|ders| {
                let der = ders.into_iter().next()?;
                let cert = parse_cert(der.as_ref(), 0).ok()?;
                (cert.public_key().subject_public_key.data.as_ref() == self.key.public_key_raw())
                    .then_some(())?;
                drop(cert);
                Some(der)
            });
            match usable {
                Some(der) => return self.served_from(vec![der], CertKind::SelfSigned),
                // Another key's certificate (key file replaced) or garbage: make a new one.
                None => {
                    tracing::warn!(path = %path.display(), "self-signed certificate unusable, regenerating")
                }
            }
        }
        let der = self.write_new_self_signed()?;
        self.served_from(vec![der], CertKind::SelfSigned)
    }

    fn write_new_self_signed(&self) -> Result<CertificateDer<'static>> {
        let mut params = CertificateParams::new(
            SELF_SIGNED_SANS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        )
        .map_err(CertError::rcgen("self-signed certificate SANs"))?;
        params.distinguished_name = self.subject(&self.default_cn())?;
        let not_before = plausible_now() - Duration::hours(1);
        params.not_before = not_before;
        params.not_after = not_before + Duration::days(SELF_SIGNED_DAYS);
        params.serial_number = Some(random_cert_serial()?);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        // clientAuth too: the same identity is presented for EAP-TLS (802.1X, paper §3.6).
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params
            .self_signed(&self.key)
            .map_err(CertError::rcgen("signing the self-signed certificate"))?;
        write_atomic(
            &self.dir.join(SELF_SIGNED_FILE),
            cert.pem().as_bytes(),
            DEVICE_FILE_MODE,
        )?;
        tracing::info!(serial = %self.serial, "generated self-signed device certificate");
        Ok(cert.der().clone())
    }
}

/// The current time, but never before [`EARLIEST_PLAUSIBLE_UNIX`].
fn plausible_now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let floor = OffsetDateTime::from_unix_timestamp(EARLIEST_PLAUSIBLE_UNIX)
        .expect("constant is a valid timestamp");
    now.max(floor)
}

fn validate_cn(cn: &str) -> Result<&str> {
    let cn = cn.trim();
    if cn.is_empty() || cn.len() > MAX_CN_LEN || cn.chars().any(char::is_control) {
        return Err(CertError::Invalid {
            what: "common name",
            reason: format!("{cn:?} must be 1 to {MAX_CN_LEN} printable characters"),
        });
    }
    Ok(cn)
}

fn load_or_create_key(path: &Path) -> Result<KeyPair> {
    if read_optional(path)?.is_none() {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(CertError::rcgen("generating the device key"))?;
        if create_atomic(path, key.serialize_pem().as_bytes(), KEY_MODE)? {
            tracing::info!(path = %path.display(), "generated device key (P-256)");
            return Ok(key);
        }
        // Another process created it first: use that one.
    }
    load_key(path)
}

fn load_key(path: &Path) -> Result<KeyPair> {
    if let Some(pem) = read_optional(path)? {
        // A key readable by others may already have leaked; we cannot undo that, but we can
        // stop it going on and say so.
        let mode = mode_of(path)?;
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "device key was accessible to other users; restricting to 0600");
            set_mode(path, KEY_MODE)?;
        }
        let key = KeyPair::from_pem(&pem).map_err(|e| CertError::BadFile {
            path: path.to_path_buf(),
            reason: format!("not a PKCS#8 PEM private key: {e}"),
        })?;
        if key.algorithm() != &PKCS_ECDSA_P256_SHA256 {
            return Err(CertError::BadFile {
                path: path.to_path_buf(),
                reason: "the device key must be an ECDSA P-256 key".into(),
            });
        }
        return Ok(key);
    }
    Err(CertError::BadFile {
        path: path.to_path_buf(),
        reason: "device key vanished while loading".into(),
    })
}

fn load_or_create_serial(path: &Path) -> Result<String> {
    if read_optional(path)?.is_none() {
        let serial = format!("CW-{}", hex_upper(&random_bytes::<6>()?));
        if create_atomic(path, format!("{serial}\n").as_bytes(), DEVICE_FILE_MODE)? {
            return Ok(serial);
        }
    }
    if let Some(text) = read_optional(path)? {
        let serial = text.trim().to_string();
        let ok = !serial.is_empty()
            && serial.len() <= MAX_CN_LEN - "camward-".len()
            && serial
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(CertError::BadFile {
                path: path.to_path_buf(),
                reason: format!("{serial:?} is not a device serial (letters, digits and '-')"),
            });
        }
        return Ok(serial);
    }
    Err(CertError::BadFile {
        path: path.to_path_buf(),
        reason: "device serial vanished while loading".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca;
    use crate::certinfo::parse_cert;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().expect("tempdir")
    }

    fn sans(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Provisions `id` through a fresh CA in `ca_dir`; returns the issued chain PEM.
    fn issue_for(id: &DeviceIdentity, ca_dir: &Path, intermediate: bool) -> String {
        ca::ca_init(ca_dir, intermediate).expect("ca init");
        let csr = id
            .csr(None, &sans(&["localhost", "127.0.0.1"]))
            .expect("csr");
        ca::ca_issue(ca_dir, &csr, 90).expect("issue")
    }

    #[test]
    fn key_file_is_mode_0600() {
        let d = tmp();
        DeviceIdentity::load_or_create(d.path()).unwrap();
        let key = d.path().join("identity/device.key");
        assert_eq!(mode_of(&key).unwrap(), 0o600);
        assert!(
            std::fs::read_to_string(&key)
                .unwrap()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
    }

    #[test]
    fn identity_dir_is_mode_0700() {
        let d = tmp();
        DeviceIdentity::load_or_create(d.path()).unwrap();
        assert_eq!(mode_of(&d.path().join("identity")).unwrap(), 0o700);
    }

    #[test]
    fn loose_key_permissions_are_tightened_on_load() {
        let d = tmp();
        DeviceIdentity::load_or_create(d.path()).unwrap();
        let key = d.path().join("identity/device.key");
        set_mode(&key, 0o644).unwrap();
        DeviceIdentity::load_or_create(d.path()).unwrap();
        assert_eq!(mode_of(&key).unwrap(), 0o600);
    }

    #[test]
    fn key_and_serial_survive_reload() {
        let d = tmp();
        let a = DeviceIdentity::load_or_create(d.path()).unwrap();
        let b = DeviceIdentity::load_or_create(d.path()).unwrap();
        assert_eq!(a.serial(), b.serial());
        assert_eq!(a.public_key_spki_der(), b.public_key_spki_der());
        assert_eq!(a.certificate_chain_der(), b.certificate_chain_der());
    }

    #[test]
    fn serial_has_cw_prefix_and_12_hex_digits() {
        let d = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        let s = id.serial();
        assert!(s.starts_with("CW-"), "{s}");
        assert_eq!(s.len(), 15);
        assert!(
            s[3..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
    }

    #[test]
    fn first_start_serves_self_signed_with_serial_cn_and_local_sans() {
        let d = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        assert_eq!(id.kind(), CertKind::SelfSigned);
        let info = id.info();
        assert!(
            info.subject
                .contains(&format!("CN=camward-{}", id.serial())),
            "{}",
            info.subject
        );
        assert_eq!(info.subject, info.issuer);
        assert_eq!(info.sans, sans(&["localhost", "127.0.0.1", "::1"]));
        assert!(
            (3640..=3650).contains(&info.days_left),
            "{}",
            info.days_left
        );
        assert!(!info.expired && !info.expiring_soon);
        assert!(d.path().join("identity/selfsigned.pem").exists());
    }

    #[test]
    fn device_signature_verifies_with_published_public_key() {
        let d = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        let msg = b"SEI payload to sign";
        let sig = id.sign_p256_sha256(msg);
        let spki = id.public_key_spki_der();
        let (_, parsed) =
            x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki).expect("spki parses");
        let pk = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
            parsed.subject_public_key.data.as_ref(),
        );
        pk.verify(msg, &sig).expect("signature verifies");
        assert!(pk.verify(b"other message", &sig).is_err());
    }

    use x509_parser::prelude::FromDer;

    #[test]
    fn csr_carries_serial_number_and_default_cn() {
        let d = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        let pem_text = id.csr(None, &[]).unwrap();
        let der = pem::parse(&pem_text).unwrap().into_contents();
        let (_, csr) =
            x509_parser::certification_request::X509CertificationRequest::from_der(&der).unwrap();
        csr.verify_signature()
            .expect("CSR signed by the device key");
        let subject = csr.certification_request_info.subject.to_string();
        assert!(
            subject.contains(&format!("CN=camward-{}", id.serial())),
            "{subject}"
        );
        let serial_attr = csr
            .certification_request_info
            .subject
            .iter_attributes()
            .find(|a| a.attr_type().to_id_string() == "2.5.4.5")
            .expect("serialNumber attribute");
        assert_eq!(serial_attr.as_str().unwrap(), id.serial());
        assert_eq!(
            csr.certification_request_info
                .subject_pki
                .subject_public_key
                .data
                .as_ref(),
            id.key.public_key_raw()
        );
    }

    #[test]
    fn csr_refuses_empty_san() {
        let d = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        assert!(matches!(
            id.csr(None, &sans(&["localhost", " "])),
            Err(CertError::Invalid { .. })
        ));
    }

    #[test]
    fn reload_picks_up_chain_installed_by_another_process() {
        let d = tmp();
        let c = tmp();
        let daemon = DeviceIdentity::load_or_create(d.path()).unwrap();
        let console = DeviceIdentity::load_or_create(d.path()).unwrap();
        let chain = issue_for(&console, c.path(), true);
        console.install_chain(&chain).unwrap();
        assert_eq!(daemon.kind(), CertKind::SelfSigned);
        let info = daemon.reload().unwrap();
        assert_eq!(info.kind, CertKind::CaIssued);
        assert_eq!(
            daemon.certificate_chain_der(),
            console.certificate_chain_der()
        );
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_key() {
        let d = tmp();
        let path = d.path().to_path_buf();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let p = path.clone();
                std::thread::spawn(move || {
                    let id = DeviceIdentity::load_or_create(&p).unwrap();
                    (id.public_key_spki_der(), id.serial().to_string())
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(results.windows(2).all(|w| w[0] == w[1]));
        let on_disk = DeviceIdentity::load_or_create(&path).unwrap();
        assert_eq!(on_disk.public_key_spki_der(), results[0].0);
    }

    #[test]
    fn csr_refuses_empty_common_name() {
        let d = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        assert!(matches!(
            id.csr(Some("  "), &[]),
            Err(CertError::Invalid { .. })
        ));
    }

    #[test]
    fn installed_chain_takes_precedence_and_survives_restart() {
        let d = tmp();
        let c = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        let chain = issue_for(&id, c.path(), true);
        let info = id.install_chain(&chain).unwrap();
        assert_eq!(info.kind, CertKind::CaIssued);
        assert_eq!(id.kind(), CertKind::CaIssued);
        assert_eq!(id.certificate_chain_der().len(), 2);
        let again = DeviceIdentity::load_or_create(d.path()).unwrap();
        assert_eq!(again.kind(), CertKind::CaIssued);
        assert_eq!(again.certificate_chain_der(), id.certificate_chain_der());
    }

    #[test]
    fn install_swaps_served_certificate_without_restart() {
        let d = tmp();
        let c = tmp();
        let id = Arc::new(DeviceIdentity::load_or_create(d.path()).unwrap());
        let before = id.certified_key();
        let chain = issue_for(&id, c.path(), false);
        id.install_chain(&chain).unwrap();
        let after = id.certified_key();
        assert_ne!(before.cert, after.cert);
        assert_eq!(after.cert, id.certificate_chain_der());
    }

    #[test]
    fn install_refuses_certificate_for_another_key() {
        let d = tmp();
        let other = tmp();
        let c = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        let stranger = DeviceIdentity::load_or_create(other.path()).unwrap();
        let chain = issue_for(&stranger, c.path(), true);
        let before = id.certificate_chain_der();
        let err = id.install_chain(&chain).unwrap_err();
        assert!(matches!(err, CertError::KeyMismatch { .. }), "{err}");
        assert_eq!(id.certificate_chain_der(), before);
        assert!(!d.path().join("identity/device.pem").exists());
    }

    #[test]
    fn root_is_stripped_from_installed_chain() {
        let d = tmp();
        let c = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        let chain = issue_for(&id, c.path(), true);
        let root = std::fs::read_to_string(c.path().join("root.pem")).unwrap();
        id.install_chain(&format!("{chain}{root}")).unwrap();
        let served = id.certificate_chain_der();
        assert_eq!(served.len(), 2, "leaf + intermediate, root dropped");
        let root_der = certs_from_pem(&root).unwrap().remove(0);
        assert!(!served.contains(&root_der));
        let stored = std::fs::read_to_string(d.path().join("identity/device.pem")).unwrap();
        assert_eq!(certs_from_pem(&stored).unwrap(), served);
    }

    #[test]
    fn install_refuses_chain_signed_by_another_ca() {
        let d = tmp();
        let c1 = tmp();
        let c2 = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        ca::ca_init(c1.path(), false).unwrap();
        ca::ca_init(c2.path(), false).unwrap();
        let csr = id.csr(None, &sans(&["localhost"])).unwrap();
        let leaf = ca::ca_issue(c1.path(), &csr, 30).unwrap();
        let wrong_root = std::fs::read_to_string(c2.path().join("root.pem")).unwrap();
        let err = id
            .install_chain(&format!("{leaf}{wrong_root}"))
            .unwrap_err();
        assert!(
            matches!(err, CertError::ChainBroken { index: 0, .. }),
            "{err}"
        );
        assert_eq!(id.kind(), CertKind::SelfSigned);
    }

    #[test]
    fn install_refuses_forged_signature_with_matching_names() {
        // A second CA directory with the same root DN as the first: names chain, signatures don't.
        let d = tmp();
        let c1 = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        ca::ca_init(c1.path(), false).unwrap();
        let csr = id.csr(None, &sans(&["localhost"])).unwrap();
        let leaf_pem = ca::ca_issue(c1.path(), &csr, 30).unwrap();
        let root_pem = std::fs::read_to_string(c1.path().join("root.pem")).unwrap();
        let root_der = certs_from_pem(&root_pem).unwrap().remove(0);
        let root = parse_cert(&root_der, 0).unwrap();
        let mut forged = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        for attr in root.subject().iter_attributes() {
            let oid: Vec<u64> = attr.attr_type().iter().unwrap().collect();
            dn.push(
                DnType::from_oid(&oid),
                DnValue::Utf8String(attr.as_str().unwrap().to_string()),
            );
        }
        forged.distinguished_name = dn;
        forged.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let forged_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let forged_root = forged.self_signed(&forged_key).unwrap();
        let err = id
            .install_chain(&format!("{leaf_pem}{}", forged_root.pem()))
            .unwrap_err();
        match err {
            CertError::ChainBroken { reason, .. } => {
                assert!(reason.contains("signature"), "{reason}")
            }
            other => panic!("expected ChainBroken, got {other}"),
        }
    }

    #[test]
    fn install_refuses_expired_leaf() {
        let d = tmp();
        let c = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        ca::ca_init(c.path(), false).unwrap();
        let csr = id.csr(None, &sans(&["localhost"])).unwrap();
        let now = OffsetDateTime::now_utc();
        let chain = ca::issue_with_validity(
            c.path(),
            &csr,
            now - Duration::days(40),
            now - Duration::days(10),
        )
        .unwrap();
        let err = id.install_chain(&chain).unwrap_err();
        assert!(matches!(err, CertError::Expired { index: 0, .. }), "{err}");
        assert_eq!(id.kind(), CertKind::SelfSigned);
    }

    #[test]
    fn failed_install_keeps_previous_ca_certificate() {
        let d = tmp();
        let c = tmp();
        let other = tmp();
        let c2 = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        let good = issue_for(&id, c.path(), true);
        id.install_chain(&good).unwrap();
        let served = id.certificate_chain_der();
        let on_disk = std::fs::read(d.path().join("identity/device.pem")).unwrap();
        let stranger = DeviceIdentity::load_or_create(other.path()).unwrap();
        let bad = issue_for(&stranger, c2.path(), true);
        assert!(id.install_chain(&bad).is_err());
        assert!(id.install_chain("not pem at all").is_err());
        assert_eq!(id.certificate_chain_der(), served);
        assert_eq!(
            std::fs::read(d.path().join("identity/device.pem")).unwrap(),
            on_disk
        );
    }

    #[test]
    fn install_refuses_private_key_in_input() {
        let d = tmp();
        let c = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        let chain = issue_for(&id, c.path(), false);
        let key = std::fs::read_to_string(c.path().join("root.key")).unwrap();
        let err = id.install_chain(&format!("{chain}{key}")).unwrap_err();
        assert!(matches!(err, CertError::PrivateKeyInInput { .. }), "{err}");
    }

    #[test]
    fn install_refuses_lone_self_signed_certificate() {
        let d = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        let own = id.certificate_chain_pem();
        let err = id.install_chain(&own).unwrap_err();
        assert!(matches!(err, CertError::SelfSignedLeaf { .. }), "{err}");
    }

    #[test]
    fn install_refuses_input_without_certificate() {
        let d = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        assert!(matches!(
            id.install_chain(""),
            Err(CertError::NoCertificate)
        ));
    }

    #[test]
    fn delete_ca_chain_falls_back_to_self_signed() {
        let d = tmp();
        let c = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        let self_signed = id.certificate_chain_der();
        let chain = issue_for(&id, c.path(), false);
        id.install_chain(&chain).unwrap();
        let info = id.delete_ca_chain().unwrap();
        assert_eq!(info.kind, CertKind::SelfSigned);
        assert_eq!(id.certificate_chain_der(), self_signed);
        assert!(!d.path().join("identity/device.pem").exists());
        // Idempotent.
        id.delete_ca_chain().unwrap();
    }

    #[test]
    fn regenerate_self_signed_gives_new_certificate_for_same_key() {
        let d = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        let before = id.info();
        let after = id.regenerate_self_signed().unwrap();
        assert_ne!(before.serial_number, after.serial_number);
        assert_eq!(id.info(), after);
        let leaf = id.certificate_chain_der().remove(0);
        let cert = parse_cert(&leaf, 0).unwrap();
        assert_eq!(
            cert.public_key().subject_public_key.data.as_ref(),
            id.key.public_key_raw()
        );
    }

    #[test]
    fn regenerate_self_signed_keeps_ca_chain_served() {
        let d = tmp();
        let c = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        let chain = issue_for(&id, c.path(), false);
        id.install_chain(&chain).unwrap();
        let served = id.certificate_chain_der();
        id.regenerate_self_signed().unwrap();
        assert_eq!(id.kind(), CertKind::CaIssued);
        assert_eq!(id.certificate_chain_der(), served);
    }

    #[test]
    fn unusable_stored_ca_chain_falls_back_to_self_signed() {
        let d = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        drop(id);
        std::fs::write(d.path().join("identity/device.pem"), "garbage").unwrap();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        assert_eq!(id.kind(), CertKind::SelfSigned);
    }

    #[test]
    fn info_flags_certificate_expiring_within_30_days() {
        let d = tmp();
        let c = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        ca::ca_init(c.path(), false).unwrap();
        let csr = id.csr(None, &sans(&["localhost"])).unwrap();
        let chain = ca::ca_issue(c.path(), &csr, 10).unwrap();
        let info = id.install_chain(&chain).unwrap();
        assert!(info.expiring_soon && !info.expired, "{info:?}");
        assert!((9..=10).contains(&info.days_left), "{}", info.days_left);
    }

    #[test]
    fn info_fingerprint_is_uppercase_colon_hex_sha256() {
        let d = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        let fp = id.info().fingerprint_sha256;
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert!(fp.split(':').all(|b| {
            b.len() == 2
                && b.chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        }));
    }

    #[test]
    fn debug_output_does_not_contain_key_material() {
        let d = tmp();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        let dbg = format!("{id:?}");
        let key_pem = std::fs::read_to_string(d.path().join("identity/device.key")).unwrap();
        let b64_line = key_pem.lines().nth(1).unwrap();
        assert!(!dbg.contains(b64_line));
        assert!(dbg.contains(id.serial()));
    }
}
