//! A small private CA for factory provisioning: `camward ca init` and `camward ca issue`.
//! Plays the role of the paper's "preinstalled certificate" CA; it never sees a device key.
//!
//! Directory layout (0700): `root.pem`, `root.key` (0600), optionally `intermediate.pem`,
//! `intermediate.key` (0600), and `issued.txt`, one line per issued certificate.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::certinfo::{
    CertInfo, CertKind, certs_from_pem, certs_to_pem, describe, fingerprint_sha256, parse_cert,
    rfc3339, subject_of,
};
use crate::error::{CertError, Result};
use crate::fsutil::{
    KEY_MODE, PUBLIC_MODE, ensure_private_dir, hex_upper, mode_of, random_bytes,
    random_cert_serial, read_optional, write_atomic,
};

/// Root CA certificate: what clients install as trust anchor.
pub const ROOT_CERT: &str = "root.pem";
/// Root CA key (0600). Keep it offline once an intermediate exists.
pub const ROOT_KEY: &str = "root.key";
/// Intermediate CA certificate, used for issuing when present.
pub const INTERMEDIATE_CERT: &str = "intermediate.pem";
/// Intermediate CA key (0600).
pub const INTERMEDIATE_KEY: &str = "intermediate.key";
/// Append-only record of issued certificates (for audits and later revocation).
pub const ISSUED_LOG: &str = "issued.txt";

/// Default leaf validity: 825 days, the longest the CA/Browser baseline allowed for years and
/// still what Apple platforms accept for privately issued server certificates.
pub const DEFAULT_LEAF_DAYS: u32 = 825;
/// Longest leaf validity accepted (10 years); also capped by the issuing CA's own notAfter.
pub const MAX_LEAF_DAYS: u32 = 3650;
const ROOT_DAYS: i64 = 7305; // 20 years
const INTERMEDIATE_DAYS: i64 = 3653; // 10 years
/// Backdating absorbs small clock differences between the factory and the devices or clients.
const BACKDATE: Duration = Duration::hours(1);

/// What `ca_init` produced or found.
#[derive(Debug, Clone, Serialize)]
pub struct CaSummary {
    /// The CA directory.
    pub dir: PathBuf,
    /// The root certificate.
    pub root: CertInfo,
    /// The intermediate certificate, when there is one.
    pub intermediate: Option<CertInfo>,
}

/// Creates a private CA in `dir`: a P-256 root valid 20 years and, with `intermediate`, a
/// 10-year intermediate signed by it that will then do the day-to-day issuing.
///
/// Refuses to overwrite an existing root. Asking for an intermediate on a CA that has only a
/// root adds one.
pub fn ca_init(dir: &Path, intermediate: bool) -> Result<CaSummary> {
    ensure_private_dir(dir)?;
    let root_cert = dir.join(ROOT_CERT);
    let root_key = dir.join(ROOT_KEY);
    let has_intermediate = dir.join(INTERMEDIATE_CERT).exists();
    match (root_cert.exists(), root_key.exists()) {
        (true, true) if !intermediate || has_intermediate => {
            return Err(CertError::Ca {
                path: dir.to_path_buf(),
                reason:
                    "already initialised (root.pem and root.key exist); refusing to replace a CA"
                        .into(),
            });
        }
        (true, true) => {}
        (false, false) => {
            if has_intermediate || dir.join(INTERMEDIATE_KEY).exists() {
                return Err(incomplete(dir, "intermediate files exist without a root"));
            }
            create_root(dir)?;
        }
        _ => return Err(incomplete(dir, "only one of root.pem and root.key exists")),
    }
    if intermediate {
        create_intermediate(dir)?;
    }
    ca_summary(dir)
}

/// Describes the CA in `dir`.
pub fn ca_summary(dir: &Path) -> Result<CaSummary> {
    let now = OffsetDateTime::now_utc();
    let (root_der, _) = read_cert(&dir.join(ROOT_CERT))?;
    let intermediate = match read_optional(&dir.join(INTERMEDIATE_CERT))? {
        Some(_) => {
            let (der, _) = read_cert(&dir.join(INTERMEDIATE_CERT))?;
            Some(describe(&der, CertKind::CaIssued, now)?)
        }
        None => None,
    };
    Ok(CaSummary {
        dir: dir.to_path_buf(),
        root: describe(&root_der, CertKind::SelfSigned, now)?,
        intermediate,
    })
}

/// Signs the PEM CSR `csr_pem` for `days` days with the intermediate (or the root when there is
/// none) and returns the chain to install on the device: leaf, then intermediate; never the
/// root, which clients must already hold.
///
/// The leaf gets the subject and SANs of the CSR, `digitalSignature`, `serverAuth` +
/// `clientAuth` (HTTPS server and 802.1X EAP-TLS client), `CA:FALSE`; anything else the CSR
/// asks for is ignored. A CSR whose signature does not verify, or without SANs, is refused.
pub fn ca_issue(dir: &Path, csr_pem: &str, days: u32) -> Result<String> {
    if days == 0 || days > MAX_LEAF_DAYS {
        return Err(CertError::Invalid {
            what: "validity",
            reason: format!("{days} days; expected 1 to {MAX_LEAF_DAYS}"),
        });
    }
    let not_before = OffsetDateTime::now_utc() - BACKDATE;
    issue_with_validity(
        dir,
        csr_pem,
        not_before,
        not_before + BACKDATE + Duration::days(i64::from(days)),
    )
}

/// [`ca_issue`] with explicit validity bounds (tests make expired certificates with it).
pub(crate) fn issue_with_validity(
    dir: &Path,
    csr_pem: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<String> {
    let (issuer_cert, issuer_key) = if dir.join(INTERMEDIATE_CERT).exists() {
        (dir.join(INTERMEDIATE_CERT), dir.join(INTERMEDIATE_KEY))
    } else {
        (dir.join(ROOT_CERT), dir.join(ROOT_KEY))
    };
    let (issuer_der, issuer_pem) = read_cert(&issuer_cert)?;
    let key = read_key(&issuer_key)?;
    let issuer_x509 = parse_cert(&issuer_der, 0)?;
    if issuer_x509.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err(CertError::BadFile {
            path: issuer_key,
            reason: format!("does not match the certificate {}", issuer_cert.display()),
        });
    }
    // A leaf outliving its issuer would be rejected by clients the day the issuer expires.
    let issuer_not_after = issuer_x509.validity().not_after.to_datetime();
    let not_after = if not_after > issuer_not_after {
        tracing::warn!(issuer = %issuer_cert.display(), "leaf validity capped at the issuing CA's notAfter");
        issuer_not_after
    } else {
        not_after
    };
    drop(issuer_x509);

    let csr = CertificateSigningRequestParams::from_pem(csr_pem)
        .map_err(|e| CertError::Csr(e.to_string()))?;
    if csr.params.subject_alt_names.is_empty() {
        return Err(CertError::Csr(
            "no subjectAltName: clients match host names against SANs only; create the CSR \
             with the names and addresses the device is reached by (--san)"
                .into(),
        ));
    }
    // Only subject and SANs come from the requester; every other field is CA policy.
    let mut params = CertificateParams::default();
    params.distinguished_name = csr.params.distinguished_name.clone();
    params.subject_alt_names = csr.params.subject_alt_names.clone();
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_cert_serial()?);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let csr = CertificateSigningRequestParams {
        params,
        public_key: csr.public_key,
    };
    let issuer = Issuer::from_ca_cert_pem(&issuer_pem, key)
        .map_err(CertError::rcgen("loading the issuing CA certificate"))?;
    let leaf = csr
        .signed_by(&issuer)
        .map_err(CertError::rcgen("signing the certificate"))?;

    let mut chain = vec![leaf.der().clone()];
    if issuer_cert.ends_with(INTERMEDIATE_CERT) {
        chain.push(issuer_der.into());
    }
    record_issued(dir, leaf.der())?;
    Ok(certs_to_pem(&chain))
}

fn incomplete(dir: &Path, why: &str) -> CertError {
    CertError::Ca {
        path: dir.to_path_buf(),
        reason: format!("incomplete CA ({why}); inspect it by hand rather than overwrite keys"),
    }
}

fn ca_dn(what: &str) -> Result<DistinguishedName> {
    // A random tag keeps the names of two CAs (two factories, two test runs) apart: clients
    // look issuers up by name before checking signatures.
    let tag = hex_upper(&random_bytes::<4>()?);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "camward");
    dn.push(DnType::CommonName, format!("camward {what} {tag}"));
    Ok(dn)
}

fn new_ca_key() -> Result<KeyPair> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(CertError::rcgen("generating a CA key"))
}

fn ca_params(what: &str, days: i64, path_len: u8) -> Result<CertificateParams> {
    let mut p = CertificateParams::default();
    p.distinguished_name = ca_dn(what)?;
    let now = OffsetDateTime::now_utc();
    p.not_before = now - BACKDATE;
    p.not_after = now + Duration::days(days);
    p.serial_number = Some(random_cert_serial()?);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(p)
}

fn create_root(dir: &Path) -> Result<()> {
    let key = new_ca_key()?;
    // Path length 1 leaves room for one intermediate, now or later.
    let params = ca_params("root CA", ROOT_DAYS, 1)?;
    let cert = params
        .self_signed(&key)
        .map_err(CertError::rcgen("signing the root certificate"))?;
    // Key first: a certificate without its key would be useless, a key without a certificate
    // is caught as "incomplete" by the next init.
    write_atomic(
        &dir.join(ROOT_KEY),
        key.serialize_pem().as_bytes(),
        KEY_MODE,
    )?;
    write_atomic(&dir.join(ROOT_CERT), cert.pem().as_bytes(), PUBLIC_MODE)
}

fn create_intermediate(dir: &Path) -> Result<()> {
    let (root_der, root_pem) = read_cert(&dir.join(ROOT_CERT))?;
    let root_key = read_key(&dir.join(ROOT_KEY))?;
    let root_not_after = parse_cert(&root_der, 0)?.validity().not_after.to_datetime();
    let root = Issuer::from_ca_cert_pem(&root_pem, root_key)
        .map_err(CertError::rcgen("loading the root certificate"))?;
    let key = new_ca_key()?;
    let mut params = ca_params("intermediate CA", INTERMEDIATE_DAYS, 0)?;
    params.not_after = params.not_after.min(root_not_after);
    params.use_authority_key_identifier_extension = true;
    let cert = params
        .signed_by(&key, &root)
        .map_err(CertError::rcgen("signing the intermediate certificate"))?;
    write_atomic(
        &dir.join(INTERMEDIATE_KEY),
        key.serialize_pem().as_bytes(),
        KEY_MODE,
    )?;
    write_atomic(
        &dir.join(INTERMEDIATE_CERT),
        cert.pem().as_bytes(),
        PUBLIC_MODE,
    )
}

/// Reads one certificate; returns DER and the PEM text.
fn read_cert(path: &Path) -> Result<(Vec<u8>, String)> {
    let pem_text = read_optional(path)?.ok_or_else(|| CertError::Ca {
        path: path.to_path_buf(),
        reason: "missing (run `camward ca init` first)".into(),
    })?;
    let der = certs_from_pem(&pem_text)
        .map_err(|e| CertError::BadFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?
        .remove(0);
    Ok((der.as_ref().to_vec(), pem_text))
}

fn read_key(path: &Path) -> Result<KeyPair> {
    let pem_text = read_optional(path)?.ok_or_else(|| CertError::Ca {
        path: path.to_path_buf(),
        reason: "missing CA key".into(),
    })?;
    let mode = mode_of(path)?;
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "CA key is accessible to other users");
    }
    KeyPair::from_pem(&pem_text).map_err(|e| CertError::BadFile {
        path: path.to_path_buf(),
        reason: format!("not a PKCS#8 PEM private key: {e}"),
    })
}

fn record_issued(dir: &Path, der: &[u8]) -> Result<()> {
    let cert = parse_cert(der, 0)?;
    let line = format!(
        "{}\t{}\t{}\t{}\t{}\n",
        rfc3339(OffsetDateTime::now_utc()),
        hex_upper(cert.raw_serial()),
        rfc3339(cert.validity().not_after.to_datetime()),
        fingerprint_sha256(der),
        subject_of(&cert),
    );
    let path = dir.join(ISSUED_LOG);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| CertError::io("open", &path, e))?;
    f.write_all(line.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| CertError::io("append to", &path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::DeviceIdentity;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().expect("tempdir")
    }

    fn device_csr(data: &Path, sans: &[&str]) -> (DeviceIdentity, String) {
        let id = DeviceIdentity::load_or_create(data).unwrap();
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let csr = id.csr(None, &sans).unwrap();
        (id, csr)
    }

    #[test]
    fn ca_keys_are_mode_0600_and_dir_0700() {
        let c = tmp();
        ca_init(c.path(), true).unwrap();
        assert_eq!(mode_of(&c.path().join(ROOT_KEY)).unwrap(), 0o600);
        assert_eq!(mode_of(&c.path().join(INTERMEDIATE_KEY)).unwrap(), 0o600);
        assert_eq!(mode_of(c.path()).unwrap(), 0o700);
    }

    #[test]
    fn root_is_a_20_year_p256_ca_with_keycertsign() {
        let c = tmp();
        let summary = ca_init(c.path(), false).unwrap();
        assert!(summary.intermediate.is_none());
        let (der, _) = read_cert(&c.path().join(ROOT_CERT)).unwrap();
        let cert = parse_cert(&der, 0).unwrap();
        assert!(cert.is_ca());
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign());
        let years = summary.root.days_left / 365;
        assert_eq!(years, 20, "{}", summary.root.days_left);
        assert_eq!(
            cert.public_key()
                .algorithm
                .parameters
                .as_ref()
                .unwrap()
                .as_oid()
                .unwrap()
                .to_id_string(),
            "1.2.840.10045.3.1.7",
            "P-256 curve"
        );
    }

    #[test]
    fn intermediate_is_signed_by_root() {
        let c = tmp();
        ca_init(c.path(), true).unwrap();
        let (root, _) = read_cert(&c.path().join(ROOT_CERT)).unwrap();
        let (inter, _) = read_cert(&c.path().join(INTERMEDIATE_CERT)).unwrap();
        let root = parse_cert(&root, 0).unwrap();
        let inter = parse_cert(&inter, 1).unwrap();
        inter.verify_signature(Some(root.public_key())).unwrap();
        assert!(inter.is_ca());
        assert_eq!(inter.issuer(), root.subject());
    }

    #[test]
    fn ca_init_refuses_to_overwrite_existing_ca() {
        let c = tmp();
        ca_init(c.path(), false).unwrap();
        let root_before = std::fs::read(c.path().join(ROOT_KEY)).unwrap();
        assert!(matches!(
            ca_init(c.path(), false),
            Err(CertError::Ca { .. })
        ));
        // Adding an intermediate later keeps the root.
        ca_init(c.path(), true).unwrap();
        assert_eq!(std::fs::read(c.path().join(ROOT_KEY)).unwrap(), root_before);
        assert!(matches!(ca_init(c.path(), true), Err(CertError::Ca { .. })));
    }

    #[test]
    fn issued_leaf_has_server_and_client_auth_and_csr_subject() {
        let c = tmp();
        let d = tmp();
        ca_init(c.path(), true).unwrap();
        let (id, csr) = device_csr(d.path(), &["cam1.example.net", "192.0.2.7"]);
        let chain = ca_issue(c.path(), &csr, DEFAULT_LEAF_DAYS).unwrap();
        let ders = certs_from_pem(&chain).unwrap();
        assert_eq!(ders.len(), 2, "leaf + intermediate, no root");
        let leaf = parse_cert(&ders[0], 0).unwrap();
        let eku = leaf.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth);
        assert!(leaf.key_usage().unwrap().unwrap().value.digital_signature());
        assert!(!leaf.is_ca());
        assert!(
            leaf.subject()
                .to_string()
                .contains(&format!("CN=camward-{}", id.serial()))
        );
        let info = describe(&ders[0], CertKind::CaIssued, OffsetDateTime::now_utc()).unwrap();
        assert_eq!(info.sans, vec!["cam1.example.net", "192.0.2.7"]);
        assert!((824..=825).contains(&info.days_left), "{}", info.days_left);
        let log = std::fs::read_to_string(c.path().join(ISSUED_LOG)).unwrap();
        assert!(log.contains(&info.serial_number));
    }

    #[test]
    fn issue_without_intermediate_signs_with_root() {
        let c = tmp();
        let d = tmp();
        ca_init(c.path(), false).unwrap();
        let (_, csr) = device_csr(d.path(), &["localhost"]);
        let ders = certs_from_pem(&ca_issue(c.path(), &csr, 30).unwrap()).unwrap();
        assert_eq!(ders.len(), 1);
        let (root, _) = read_cert(&c.path().join(ROOT_CERT)).unwrap();
        let root = parse_cert(&root, 0).unwrap();
        parse_cert(&ders[0], 0)
            .unwrap()
            .verify_signature(Some(root.public_key()))
            .unwrap();
    }

    #[test]
    fn issue_refuses_tampered_csr() {
        let c = tmp();
        let d = tmp();
        ca_init(c.path(), false).unwrap();
        let (_, csr) = device_csr(d.path(), &["localhost"]);
        let mut der = pem::parse(&csr).unwrap().into_contents();
        // Flip one byte of the SAN "localhost" inside the signed request info.
        let at = der
            .windows(9)
            .position(|w| w == b"localhost")
            .expect("SAN in CSR");
        der[at] = b'L';
        let tampered = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
        assert!(matches!(
            ca_issue(c.path(), &tampered, 30),
            Err(CertError::Csr(_))
        ));
    }

    #[test]
    fn issue_refuses_zero_and_excessive_validity() {
        let c = tmp();
        let d = tmp();
        ca_init(c.path(), false).unwrap();
        let (_, csr) = device_csr(d.path(), &["localhost"]);
        assert!(ca_issue(c.path(), &csr, 0).is_err());
        assert!(ca_issue(c.path(), &csr, MAX_LEAF_DAYS + 1).is_err());
    }

    #[test]
    fn issue_without_ca_names_the_missing_file() {
        let c = tmp();
        let d = tmp();
        let (_, csr) = device_csr(d.path(), &["localhost"]);
        let err = ca_issue(c.path(), &csr, 30).unwrap_err().to_string();
        assert!(err.contains("root.pem"), "{err}");
    }
}
