//! rustls client configurations for SMTP and FTPS: the project's one crypto provider and TLS
//! policy (camward-tls), trusting either the system's roots or an uploaded CA, never both.

use crate::error::NotifyError;
use camward_config::parse_ca_pem;
use camward_tls::rustls::{self, ClientConfig, RootCertStore};
use std::sync::Arc;

/// The roots a client trusts: the uploaded `ca_certificate` PEM when set (only it: a site CA
/// should not be widened to every public CA), otherwise the system store (`/etc/ssl/certs`).
pub fn root_store(ca_pem: &str) -> Result<RootCertStore, NotifyError> {
    let mut roots = RootCertStore::empty();
    if ca_pem.trim().is_empty() {
        let found = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(NotifyError::Tls(
                "no system CA certificates found: install ca-certificates or upload the server's CA (ca_certificate)".into(),
            ));
        }
    } else {
        let certs = parse_ca_pem(ca_pem).map_err(|e| NotifyError::Config {
            what: "ca_certificate",
            detail: e,
        })?;
        for c in certs {
            roots.add(c).map_err(|e| NotifyError::Config {
                what: "ca_certificate",
                detail: e.to_string(),
            })?;
        }
    }
    Ok(roots)
}

/// A client config verifying the server against [`root_store`]`(ca_pem)`, TLS 1.2/1.3 with the
/// AEAD suites of camward-tls's policy.
pub fn client_config(ca_pem: &str) -> Result<Arc<ClientConfig>, NotifyError> {
    let roots = root_store(ca_pem)?;
    let config = ClientConfig::builder_with_provider(camward_tls::crypto_provider())
        .with_protocol_versions(camward_tls::policy::PROTOCOL_VERSIONS)
        .map_err(|e: rustls::Error| NotifyError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
