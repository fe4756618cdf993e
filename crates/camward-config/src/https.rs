//! Setup › Network › Advanced › HTTPS: Connection HTTP or HTTPS and the HTTPS port (paper §3.7).
//! Default HTTP: the HTTPS and RTSPS listeners only open when the installer switches HTTPS on.

use crate::audit::{Audit, Context, Finding, Fix, Severity};
use crate::{FieldError, Validate, Warning, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The paper's "Connection" setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// Plain HTTP only (out-of-the-box state: no TLS listener is open).
    #[default]
    #[schemars(title = "HTTP")]
    Http,
    /// HTTPS and RTSPS listen; the plain HTTP port only redirects and never takes credentials.
    #[schemars(title = "HTTPS")]
    Https,
}

/// The `https` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Https {
    /// HTTPS opens the HTTPS and RTSPS listeners; the plain HTTP port then only redirects
    /// browsers to HTTPS and never accepts a password.
    #[schemars(title = "Connection")]
    pub connection: Connection,
    /// Port of the HTTPS listener. A port given on the daemon's command line takes precedence;
    /// the HTTPS page shows the port actually in use.
    #[schemars(title = "HTTPS port", range(min = 1, max = 65535))]
    pub port: u16,
}

impl Default for Https {
    fn default() -> Self {
        Https {
            connection: Connection::Http,
            port: 443,
        }
    }
}

impl Https {
    pub fn enabled(&self) -> bool {
        self.connection == Connection::Https
    }
}

impl Validate for Https {
    fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        if self.port == 0 {
            errors.push(FieldError::new(
                join(at, "port"),
                "https.port.range",
                "the HTTPS port must be between 1 and 65535",
            ));
        }
    }

    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        if !self.enabled() {
            out.push(Warning::new(
                join(at, "connection"),
                "https.off",
                "Connection is HTTP: passwords (Digest) and video cross the network unencrypted",
            ));
        }
    }
}

impl Audit for Https {
    /// The connection and the served certificate (HTTPS listeners and media signing both use it).
    fn audit(&self, at: &str, cx: &Context<'_>, out: &mut Vec<Finding>) {
        if !self.enabled() {
            out.push(Finding::new(
                "https.off",
                Severity::High,
                "§3.7",
                "Connection is HTTP: settings, new passwords and video cross the network unencrypted",
                "Without HTTPS, data obtained on the network is readable and a forged device can pose as the camera to collect passwords.",
                Fix::set(join(at, "connection"), "https".into()),
            ));
        }
        let Some(cert) = &cx.facts.certificate else {
            return;
        };
        let install = "install a certificate issued by the site's CA: POST /api/v1/certificate/csr, \
                       have the CA sign it, PUT /api/v1/certificate (or `camward identity csr` / \
                       `camward identity install`)";
        if cert.self_signed {
            out.push(Finding::new(
                "certificate.self_signed",
                Severity::Medium,
                "§3.7, §3.9",
                "the device serves a self-signed certificate",
                "A self-signed certificate is like a self-made passport: clients cannot tell the camera from an impostor, and recordings it signs cannot be attributed to it.",
                Fix::action(install),
            ));
        }
        if cert.days_left < 0 {
            out.push(Finding::new(
                "certificate.expired",
                Severity::High,
                "§3.7",
                format!("the device certificate expired on {}", cert.not_after),
                "Clients must verify the certificate to prevent spoofing, and an expired one either is refused or teaches users to accept warnings an impostor would cause.",
                Fix::action(install),
            ));
        } else if cert.days_left < EXPIRING_SOON_DAYS {
            out.push(Finding::new(
                "certificate.expiring",
                Severity::Medium,
                "§3.7",
                format!(
                    "the device certificate expires in {} days ({})",
                    cert.days_left, cert.not_after
                ),
                "Clients must verify the certificate to prevent spoofing, so it has to be renewed before it expires.",
                Fix::action(install),
            ));
        }
    }
}

/// A certificate with fewer days left than this is due for renewal (the same threshold as the
/// certificate's `expiring_soon` in the API).
pub const EXPIRING_SOON_DAYS: i64 = 30;

#[cfg(test)]
mod tests {
    use crate::Config;
    use serde_json::json;

    #[test]
    fn default_is_http_on_443() {
        let c = Config::default();
        assert!(!c.https.enabled());
        assert_eq!(c.https.port, 443);
    }

    #[test]
    fn patch_switches_to_https_and_refuses_port_zero() {
        let c = Config::default()
            .apply_merge_patch(&json!({"https": {"connection": "https", "port": 8443}}))
            .unwrap();
        assert!(c.https.enabled());
        assert_eq!(c.https.port, 8443);
        let e = Config::default()
            .apply_merge_patch(&json!({"https": {"port": 0}}))
            .unwrap_err();
        assert_eq!(e[0].rule, "https.port.range");
        let e = Config::default()
            .apply_merge_patch(&json!({"https": {"connection": "tls"}}))
            .unwrap_err();
        assert_eq!(e[0].rule, "enum");
    }
}
