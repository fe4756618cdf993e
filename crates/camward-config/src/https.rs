//! Setup › Network › Advanced › HTTPS: Connection HTTP or HTTPS and the HTTPS port (paper §3.7).
//! Default HTTP: the HTTPS and RTSPS listeners only open when the installer switches HTTPS on.

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
