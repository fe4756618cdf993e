//! Certificate chains carried in the CERTIFICATES tag: parsing, leaf key extraction, and chain
//! verification to a caller-given trust anchor at a given time (x509-parser + aws-lc-rs).

// Not rustls-webpki: signing certificates in the field (the reference vectors included) are often
// X.509 v1 and carry no EKU, both of which webpki rejects by design for TLS; here only the
// signature chain, names and validity periods matter, as in the reference validator (OpenSSL).

use crate::error::Error;
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384};
use x509_parser::prelude::*;

/// Where the signing key's authority comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum Provenance {
    /// The chain verifies to the trust anchor given by the caller, at the given time.
    Trusted,
    /// The leaf is self-signed (e.g. a camera without a CA-issued identity): signatures prove the
    /// video is unaltered since signing, not who signed it.
    SelfSigned,
    /// A chain is present but does not verify to a given anchor, or no anchor was given.
    Untrusted(String),
    /// No certificate chain was found, so nothing can be checked.
    NotVerifiable,
}

/// Human-facing facts about the signing certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignerInfo {
    pub subject: String,
    pub issuer: String,
    /// Serial number, colon-separated hex.
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
}

/// A decoded chain: DER certificates, leaf first.
#[derive(Debug, Clone)]
pub struct Chain {
    pub ders: Vec<Vec<u8>>,
}

/// The leaf's public key, ready to verify SEI signatures.
pub struct LeafKey {
    alg: &'static signature::EcdsaVerificationAlgorithm,
    point: Vec<u8>,
    max_sig: usize,
}

impl LeafKey {
    /// Verifies a DER ECDSA signature over `msg` (hashed with SHA-256 for P-256, as the reference).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(self.alg, &self.point)
            .verify(msg, sig)
            .is_ok()
    }

    /// Largest DER signature this key produces: SEQUENCE of two INTEGERs of curve size + 1.
    pub fn max_signature_len(&self) -> usize {
        self.max_sig
    }
}

/// Splits a PEM bundle into DER certificates, in order.
pub fn parse_pem_chain(pem: &str) -> Result<Chain, Error> {
    let mut ders = Vec::new();
    for (i, item) in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()).enumerate() {
        let item = item.map_err(|e| Error::Certificate(format!("PEM block {i}: {e}")))?;
        if item.label == "CERTIFICATE" {
            X509Certificate::from_der(&item.contents)
                .map_err(|e| Error::Certificate(format!("certificate {i} of the chain: {e}")))?;
            ders.push(item.contents);
        }
    }
    if ders.is_empty() {
        return Err(Error::Certificate(
            "no CERTIFICATE block in the PEM chain".into(),
        ));
    }
    Ok(Chain { ders })
}

fn parse(der: &[u8]) -> X509Certificate<'_> {
    // Every DER in a `Chain` was parsed once in `parse_pem_chain`.
    X509Certificate::from_der(der)
        .expect("chain certificates were validated when parsed")
        .1
}

fn fmt_time(t: ASN1Time) -> String {
    t.to_datetime()
        .format(&::time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

impl Chain {
    pub fn signer_info(&self) -> SignerInfo {
        let leaf = parse(&self.ders[0]);
        SignerInfo {
            subject: leaf.subject().to_string(),
            issuer: leaf.issuer().to_string(),
            serial: leaf.raw_serial_as_string(),
            not_before: fmt_time(leaf.validity().not_before),
            not_after: fmt_time(leaf.validity().not_after),
        }
    }

    /// The leaf's EC public key (P-256 or P-384); RSA signing keys are not supported.
    pub fn leaf_key(&self) -> Result<LeafKey, Error> {
        let leaf = parse(&self.ders[0]);
        let spki = leaf.public_key();
        if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY {
            return Err(Error::Certificate(format!(
                "leaf key algorithm {} is not EC; only ECDSA signing keys are supported",
                spki.algorithm.algorithm
            )));
        }
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        let (alg, max_sig) = match curve {
            Some(c) if c == OID_EC_P256 => (&signature::ECDSA_P256_SHA256_ASN1, 72),
            Some(c) if c == OID_NIST_EC_P384 => (&signature::ECDSA_P384_SHA256_ASN1, 104),
            other => {
                return Err(Error::Certificate(format!(
                    "unsupported EC curve {other:?} in the leaf key"
                )));
            }
        };
        Ok(LeafKey {
            alg,
            point: spki.subject_public_key.data.to_vec(),
            max_sig,
        })
    }

    /// The leaf's SubjectPublicKeyInfo, to detect a key change between SEIs.
    pub fn leaf_spki(&self) -> Vec<u8> {
        parse(&self.ders[0]).public_key().raw.to_vec()
    }

    /// Checks the chain (leaf first, root stripped) against `anchor_pem` at time `at`.
    pub fn provenance(&self, anchor_pem: Option<&str>, at: SystemTime) -> Provenance {
        let secs = match at.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        };
        let Ok(when) = ASN1Time::from_timestamp(secs) else {
            return Provenance::Untrusted("verification time out of range".into());
        };
        let certs: Vec<X509Certificate<'_>> = self.ders.iter().map(|d| parse(d)).collect();
        let leaf = &certs[0];
        let self_signed = certs.len() == 1
            && leaf.subject().as_raw() == leaf.issuer().as_raw()
            && leaf.verify_signature(None).is_ok();

        let Some(anchor_pem) = anchor_pem else {
            return if self_signed {
                Provenance::SelfSigned
            } else {
                Provenance::Untrusted("no trust anchor given (--ca): chain not checked".into())
            };
        };
        let anchors = match parse_pem_chain(anchor_pem) {
            Ok(a) => a,
            Err(e) => return Provenance::Untrusted(format!("trust anchor unusable: {e}")),
        };
        let anchor_certs: Vec<X509Certificate<'_>> =
            anchors.ders.iter().map(|d| parse(d)).collect();

        for (i, c) in certs.iter().enumerate() {
            if !c.validity().is_valid_at(when) {
                return Provenance::Untrusted(format!(
                    "certificate {i} ({}) is not valid at {} (valid {} to {})",
                    c.subject(),
                    fmt_time(when),
                    fmt_time(c.validity().not_before),
                    fmt_time(c.validity().not_after)
                ));
            }
            if let Err(e) = check_signature_alg(c) {
                return Provenance::Untrusted(format!("certificate {i}: {e}"));
            }
            // A signer certificate that is itself the anchor (root not stripped) is trusted as is.
            if anchors
                .ders
                .iter()
                .any(|a| a.as_slice() == self.ders[i].as_slice())
            {
                return Provenance::Trusted;
            }
            if let Some(issuer) = certs.get(i + 1) {
                if let Err(e) = issued_by(c, issuer) {
                    return Provenance::Untrusted(format!(
                        "certificate {i} ({}): {e}",
                        c.subject()
                    ));
                }
                continue;
            }
            // Last certificate of the chain: must be issued by one of the anchors.
            let mut last_err = String::from("issuer not among the trust anchors");
            for a in &anchor_certs {
                if a.subject().as_raw() != c.issuer().as_raw() {
                    continue;
                }
                if !a.validity().is_valid_at(when) {
                    last_err = format!(
                        "trust anchor {} is not valid at {}",
                        a.subject(),
                        fmt_time(when)
                    );
                    continue;
                }
                match issued_by(c, a) {
                    Ok(()) => return Provenance::Trusted,
                    Err(e) => last_err = e,
                }
            }
            if self_signed {
                return Provenance::Untrusted(format!(
                    "self-signed certificate {} is not the trust anchor",
                    c.subject()
                ));
            }
            return Provenance::Untrusted(format!("certificate {i} ({}): {last_err}", c.subject()));
        }
        Provenance::Untrusted("empty chain".into())
    }
}

/// SHA-1 based certificate signatures are refused (paper §3.10: no weak algorithms).
fn check_signature_alg(c: &X509Certificate<'_>) -> Result<(), String> {
    let oid = c.signature_algorithm.algorithm.to_id_string();
    if oid == "1.2.840.113549.1.1.5" || oid == "1.3.14.3.2.29" || oid == "1.2.840.10045.4.1" {
        return Err(format!("weak signature algorithm {oid} (SHA-1)"));
    }
    Ok(())
}

/// `child` names `issuer` as its issuer, `issuer` may issue certificates, and the signature verifies.
fn issued_by(child: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> Result<(), String> {
    if child.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(format!(
            "issuer {} does not match next certificate {}",
            child.issuer(),
            issuer.subject()
        ));
    }
    // v3 issuers must say they are CAs; v1 issuers cannot say anything, and OpenSSL (the reference
    // validator) accepts them, so do we.
    if issuer.version() == X509Version::V3 && !issuer.is_ca() {
        return Err(format!(
            "issuer {} is not a CA (basicConstraints)",
            issuer.subject()
        ));
    }
    if let Ok(Some(ku)) = issuer.key_usage()
        && !ku.value.key_cert_sign()
    {
        return Err(format!(
            "issuer {} key usage lacks keyCertSign",
            issuer.subject()
        ));
    }
    child
        .verify_signature(Some(issuer.public_key()))
        .map_err(|e| format!("signature by {} does not verify: {e}", issuer.subject()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_CA: &str = include_str!("../testdata/ca.pem");

    #[test]
    fn garbage_pem_is_rejected_with_context() {
        let e = parse_pem_chain("not a certificate")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no CERTIFICATE"), "{e}");
    }

    #[test]
    fn anchor_itself_as_chain_is_trusted() {
        let chain = parse_pem_chain(VECTOR_CA).unwrap();
        assert_eq!(
            chain.provenance(Some(VECTOR_CA), SystemTime::now()),
            Provenance::Trusted
        );
        // A self-signed root without an anchor is reported as self-signed.
        assert_eq!(
            chain.provenance(None, SystemTime::now()),
            Provenance::SelfSigned
        );
    }
}
