//! Certificate parsing, description (`CertInfo`) and chain validation shared by identity and CA.
//! Signatures are checked with x509-parser on aws-lc-rs, the project's one crypto provider.

use std::net::IpAddr;

use rustls::pki_types::CertificateDer;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::error::{CertError, Result};
use crate::fsutil::hex_upper;

/// Where the certificate the device serves comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertKind {
    /// Issued by a CA (the factory's private CA or the site's CA) and installed on the device.
    CaIssued,
    /// Generated and signed by the device itself: encrypts, but proves nothing about identity.
    SelfSigned,
}

impl std::fmt::Display for CertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertKind::CaIssued => "CA-issued",
            CertKind::SelfSigned => "self-signed",
        })
    }
}

/// Human- and API-facing description of a certificate (the paper's "Information / Confirm").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// Subject distinguished name, e.g. `CN=camward-CW-0123456789AB, serialNumber=CW-…`.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Certificate serial number, uppercase hex without separators (as `openssl x509 -serial`).
    pub serial_number: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// SHA-256 of the DER, uppercase hex with colons (as `openssl x509 -fingerprint -sha256`).
    pub fingerprint_sha256: String,
    /// Subject alternative names: DNS names, IP addresses, e-mail addresses, URIs.
    pub sans: Vec<String>,
    /// Whether the certificate is CA-issued or self-signed.
    pub kind: CertKind,
    /// Whole days until notAfter, negative once expired.
    pub days_left: i64,
    /// Less than 30 days of validity left (and not yet expired): time to renew.
    pub expiring_soon: bool,
    /// Past notAfter.
    pub expired: bool,
}

/// Renewal warning threshold.
pub(crate) const EXPIRING_SOON_DAYS: i64 = 30;

pub(crate) fn parse_cert<'a>(der: &'a [u8], index: usize) -> Result<X509Certificate<'a>> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| CertError::Parse {
        index,
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(CertError::Parse {
            index,
            reason: format!("{} trailing bytes after the certificate", rest.len()),
        });
    }
    Ok(cert)
}

pub(crate) fn fingerprint_sha256(der: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    d.as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

pub(crate) fn sans_of(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                Some((*s).to_string())
            }
            GeneralName::IPAddress(b) => match b.len() {
                4 => Some(IpAddr::from(<[u8; 4]>::try_from(*b).ok()?).to_string()),
                16 => Some(IpAddr::from(<[u8; 16]>::try_from(*b).ok()?).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

pub(crate) fn subject_of(cert: &X509Certificate<'_>) -> String {
    cert.subject().to_string()
}

/// Describes `der` as seen at `now`.
pub(crate) fn describe(der: &[u8], kind: CertKind, now: OffsetDateTime) -> Result<CertInfo> {
    let cert = parse_cert(der, 0)?;
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    let left = not_after - now;
    let expired = now > not_after;
    Ok(CertInfo {
        subject: subject_of(&cert),
        issuer: cert.issuer().to_string(),
        serial_number: hex_upper(cert.raw_serial()),
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        fingerprint_sha256: fingerprint_sha256(der),
        sans: sans_of(&cert),
        kind,
        days_left: left.whole_days(),
        expiring_soon: !expired && left < time::Duration::days(EXPIRING_SOON_DAYS),
        expired,
    })
}

/// What chain validation should enforce beyond signatures and key match.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChainPolicy {
    /// Refuse certificates past notAfter (on install; a stored chain that expired meanwhile is
    /// still loaded so that `info()` can say "expired" instead of silently swapping).
    pub refuse_expired: bool,
}

/// Validates a chain given leaf first and returns it without a trailing self-signed root.
///
/// Checks: the leaf certifies `device_point` (the device's uncompressed EC point); each
/// certificate is signed by the next one, which must be a CA; the leaf may act as a TLS server;
/// optionally nothing is expired. A root is stripped because clients must hold it already:
/// sending it wastes bytes on every handshake and suggests it could be trusted from the wire.
pub(crate) fn validate_chain(
    ders: Vec<CertificateDer<'static>>,
    device_point: &[u8],
    policy: ChainPolicy,
    now: OffsetDateTime,
) -> Result<Vec<CertificateDer<'static>>> {
    if ders.is_empty() {
        return Err(CertError::NoCertificate);
    }
    let certs = ders
        .iter()
        .enumerate()
        .map(|(i, d)| parse_cert(d, i))
        .collect::<Result<Vec<_>>>()?;

    let leaf = &certs[0];
    if leaf.public_key().subject_public_key.data.as_ref() != device_point {
        return Err(CertError::KeyMismatch {
            subject: subject_of(leaf),
        });
    }
    if let Ok(Some(eku)) = leaf.extended_key_usage()
        && !(eku.value.server_auth || eku.value.any)
    {
        return Err(CertError::NotServerAuth {
            subject: subject_of(leaf),
        });
    }

    for i in 0..certs.len().saturating_sub(1) {
        let (cert, next) = (&certs[i], &certs[i + 1]);
        let broken = |reason: String| CertError::ChainBroken {
            index: i,
            next: i + 1,
            subject: subject_of(cert),
            next_subject: subject_of(next),
            reason,
        };
        // Name chaining first: it gives the clearer message for the usual mistake (a chain
        // pasted in the wrong order or with a certificate of another CA).
        if cert.issuer().as_raw() != next.subject().as_raw() {
            return Err(broken(format!(
                "its issuer is {}, not the next certificate's subject",
                cert.issuer()
            )));
        }
        cert.verify_signature(Some(next.public_key()))
            .map_err(|e| broken(format!("signature check failed ({e})")))?;
        if !next.is_ca() {
            return Err(CertError::NotCa {
                index: i + 1,
                subject: subject_of(next),
            });
        }
    }

    if policy.refuse_expired {
        for (i, c) in certs.iter().enumerate() {
            let not_after = c.validity().not_after.to_datetime();
            if now > not_after {
                return Err(CertError::Expired {
                    index: i,
                    subject: subject_of(c),
                    not_after: rfc3339(not_after),
                });
            }
        }
    }

    let last = certs.len() - 1;
    let last_is_root = is_self_signed(&certs[last]);
    if last_is_root && last == 0 {
        return Err(CertError::SelfSignedLeaf {
            subject: subject_of(leaf),
        });
    }
    let keep = if last_is_root { last } else { last + 1 };
    drop(certs);
    let mut ders = ders;
    ders.truncate(keep);
    Ok(ders)
}

pub(crate) fn is_self_signed(cert: &X509Certificate<'_>) -> bool {
    cert.subject().as_raw() == cert.issuer().as_raw() && cert.verify_signature(None).is_ok()
}

/// Splits PEM text into certificates, refusing private keys.
pub(crate) fn certs_from_pem(pem_text: &str) -> Result<Vec<CertificateDer<'static>>> {
    let blocks = pem::parse_many(pem_text).map_err(|e| CertError::Pem(e.to_string()))?;
    let mut out = Vec::new();
    for b in blocks {
        let tag = b.tag();
        if tag.contains("PRIVATE KEY") {
            return Err(CertError::PrivateKeyInInput {
                tag: tag.to_string(),
            });
        }
        // Other blocks (parameters, "TRUSTED CERTIFICATE" extras, ...) carry nothing we serve.
        if tag == "CERTIFICATE" {
            out.push(CertificateDer::from(b.into_contents()));
        }
    }
    if out.is_empty() {
        return Err(CertError::NoCertificate);
    }
    Ok(out)
}

/// Encodes certificates as concatenated PEM, in the given order.
pub(crate) fn certs_to_pem(ders: &[CertificateDer<'_>]) -> String {
    let blocks: Vec<pem::Pem> = ders
        .iter()
        .map(|d| pem::Pem::new("CERTIFICATE", d.as_ref().to_vec()))
        .collect();
    pem::encode_many_config(
        &blocks,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}
