//! The camera's TLS policy: TLS 1.3 and 1.2 only, ECDHE with AEAD ciphers only, aws-lc-rs.
//! Server configs resolve the certificate per handshake so an installed chain is served at once.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::crypto::aws_lc_rs::{self, cipher_suite};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use tokio_rustls::TlsAcceptor;

use crate::identity::DeviceIdentity;

/// Protocol versions offered: SSL 3.0, TLS 1.0 and 1.1 are broken or deprecated (RFC 8996),
/// and the paper (§3.10) rules out weak algorithms.
pub static PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Cipher suites offered, strongest first. All are AEAD (no CBC, RC4, 3DES) and, for TLS 1.2,
/// ephemeral ECDH (forward secrecy, no static RSA key exchange). The RSA-authenticated suites
/// only apply if a future device key is RSA; with the P-256 key the ECDSA ones are chosen.
pub static CIPHER_SUITES: &[SupportedCipherSuite] = &[
    cipher_suite::TLS13_AES_256_GCM_SHA384,
    cipher_suite::TLS13_AES_128_GCM_SHA256,
    cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// The one crypto provider of the project (aws-lc-rs) restricted to [`CIPHER_SUITES`].
/// Use it for TLS clients too (SMTP, FTPS), so both directions follow the same policy.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        cipher_suites: CIPHER_SUITES.to_vec(),
        ..aws_lc_rs::default_provider()
    })
}

/// Makes [`crypto_provider`] the process-wide default, so that code building rustls configs
/// with the plain `builder()` (clients in other crates) follows the same policy. Call once at
/// daemon start; returns `false` when a default was already installed (and keeps it).
pub fn install_process_default() -> bool {
    Arc::unwrap_or_clone(crypto_provider())
        .install_default()
        .is_ok()
}

/// Serves the device identity's current certificate on every handshake.
///
/// Reading it per handshake (an atomic pointer load) instead of baking it into the config is
/// what makes `install_chain` take effect without restarting any listener.
#[derive(Debug)]
pub struct IdentityCertResolver {
    identity: Arc<DeviceIdentity>,
}

impl IdentityCertResolver {
    /// Resolver for `identity`.
    pub fn new(identity: Arc<DeviceIdentity>) -> Self {
        Self { identity }
    }
}

impl ResolvesServerCert for IdentityCertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.identity.certified_key())
    }
}

/// A rustls server configuration following the camera's policy, presenting `identity`, with
/// the ALPN protocols `alpn` in order of preference (e.g. `&[b"http/1.1"]`; empty for none).
pub fn server_config(identity: Arc<DeviceIdentity>, alpn: &[&[u8]]) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        // Only fails when the provider has no suite for the versions: a bug caught by tests.
        .expect("the TLS policy's cipher suites cover TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(IdentityCertResolver::new(identity)));
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A tokio acceptor over [`server_config`].
pub fn tls_acceptor(identity: Arc<DeviceIdentity>, alpn: &[&[u8]]) -> TlsAcceptor {
    TlsAcceptor::from(server_config(identity, alpn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{CipherSuite, ProtocolVersion};

    #[test]
    fn policy_offers_only_tls12_and_tls13() {
        let versions: Vec<ProtocolVersion> = PROTOCOL_VERSIONS.iter().map(|v| v.version).collect();
        assert_eq!(
            versions,
            vec![ProtocolVersion::TLSv1_3, ProtocolVersion::TLSv1_2]
        );
    }

    #[test]
    fn every_cipher_suite_is_aead_with_ephemeral_key_exchange() {
        for s in crypto_provider().cipher_suites.iter() {
            let name = format!("{:?}", s.suite());
            let tls13 = name.starts_with("TLS13_");
            let ecdhe = name.starts_with("TLS_ECDHE_");
            let aead = name.contains("_GCM_") || name.contains("CHACHA20_POLY1305");
            assert!((tls13 || ecdhe) && aead, "weak suite offered: {name}");
            assert!(!name.contains("CBC") && !name.contains("RC4") && !name.contains("3DES"));
        }
    }

    #[test]
    fn process_default_provider_is_the_policy() {
        install_process_default();
        let p = CryptoProvider::get_default().expect("installed");
        assert_eq!(p.cipher_suites.len(), CIPHER_SUITES.len());
        // A second call keeps the first default.
        assert!(!install_process_default());
    }

    #[test]
    fn server_config_uses_policy_and_alpn() {
        let d = tempfile::tempdir().unwrap();
        let id = Arc::new(DeviceIdentity::load_or_create(d.path()).unwrap());
        let cfg = server_config(id, &[b"h2", b"http/1.1"]);
        assert_eq!(
            cfg.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let suites: Vec<CipherSuite> = cfg
            .crypto_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        assert_eq!(suites.len(), CIPHER_SUITES.len());
    }
}
