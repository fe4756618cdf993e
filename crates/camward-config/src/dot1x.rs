//! The `dot1x` section (Setup › User mng. › IEEE 802.1X, paper §3.6): the camera authenticates
//! to its switch port with EAP-MD5, PEAP (MSCHAPv2 inside) or EAP-TLS with the device
//! certificate, through wpa_supplicant (camward-dot1x drives it).
//!
//! Only what can be judged from the document is checked here (a CA certificate for PEAP and TLS,
//! since PEAP without server validation gives the password to any rogue authenticator). Whether
//! wpa_supplicant is installed and the interface exists is the daemon's check on enable.

use crate::audit::{Audit, Context, Finding, Fix, Severity};
use crate::checks::{err, validate_ca};
use crate::{FieldError, Secret, Validate, Warning, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Longest Linux interface name (IFNAMSIZ - 1).
pub const MAX_INTERFACE_LEN: usize = 15;
/// Longest EAP identity accepted (an NAI fits in 253 octets, RFC 7542).
pub const MAX_IDENTITY_LEN: usize = 253;
/// Shortest period of camera-initiated re-authentication; shorter would load the RADIUS server.
pub const MIN_REAUTH_PERIOD: u32 = 5;
/// Longest period of camera-initiated re-authentication (one day).
pub const MAX_REAUTH_PERIOD: u32 = 86_400;

/// The EAP method. The paper's cameras offer EAP-MD5 and PEAP; camward adds EAP-TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EapMethod {
    /// EAP-MD5 challenge: the password never crosses the wire, but the network is not
    /// authenticated and a captured exchange allows an offline dictionary attack.
    #[schemars(title = "EAP-MD5")]
    Md5,
    /// PEAPv0 with EAP-MSCHAPv2 inside a TLS tunnel; the server's certificate is checked against
    /// `ca_certificate`.
    #[schemars(title = "PEAP (MSCHAPv2)")]
    Peap,
    /// EAP-TLS with the device certificate: no shared password at all.
    #[default]
    #[schemars(title = "EAP-TLS (device certificate)")]
    Tls,
}

impl EapMethod {
    /// The name wpa_supplicant uses in its `eap=` field.
    pub fn wpa_name(self) -> &'static str {
        match self {
            EapMethod::Md5 => "MD5",
            EapMethod::Peap => "PEAP",
            EapMethod::Tls => "TLS",
        }
    }

    /// Whether the method authenticates the server with a certificate.
    pub fn uses_tls(self) -> bool {
        matches!(self, EapMethod::Peap | EapMethod::Tls)
    }

    /// Whether the method sends a password.
    pub fn uses_password(self) -> bool {
        matches!(self, EapMethod::Md5 | EapMethod::Peap)
    }
}

/// The `dot1x` section (Setup › User mng. › IEEE 802.1X).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Dot1xConfig {
    /// Authenticate to the switch port before using the network (off by default).
    #[schemars(title = "IEEE 802.1X")]
    pub enabled: bool,
    /// The wired network interface facing the switch (eth0).
    #[schemars(title = "Network interface", length(max = 15))]
    pub interface: String,
    /// How the camera proves who it is to the authentication server.
    #[schemars(title = "EAP method")]
    pub method: EapMethod,
    /// The user name the authentication server knows the camera by.
    #[schemars(title = "Identity", length(max = 253))]
    pub identity: String,
    /// PEAP only: the outer identity sent in clear before the tunnel exists (anonymous);
    /// empty = the identity itself.
    #[schemars(title = "Anonymous identity", length(max = 253))]
    pub anonymous_identity: String,
    /// EAP-MD5 and PEAP: the password (stored encrypted, never returned).
    #[schemars(title = "Password")]
    pub password: Secret,
    /// PEAP and TLS: PEM of the CA that issued the authentication server's certificate. Required:
    /// without it any rogue authenticator could read the password (PEAP) or pose as the network.
    #[schemars(title = "CA certificate of the authentication server")]
    pub ca_certificate: String,
    /// TLS only: PEM of a certificate issued to the device key by the site's CA (leaf first).
    /// Empty = the device certificate the HTTPS server uses. The key never leaves the device.
    #[schemars(title = "Client certificate")]
    pub client_certificate: String,
    /// Seconds between re-authentications the camera starts itself (EAPOL-Start), so that a
    /// restarted authenticator that forgot the port re-admits it; 0 = only when the switch asks.
    #[schemars(title = "Re-authentication interval", extend("x-unit" = "s"))]
    pub reauth_period: u32,
}

impl Default for Dot1xConfig {
    fn default() -> Self {
        Dot1xConfig {
            enabled: false,
            interface: String::new(),
            method: EapMethod::default(),
            identity: String::new(),
            anonymous_identity: String::new(),
            password: Secret::default(),
            ca_certificate: String::new(),
            client_certificate: String::new(),
            reauth_period: 600,
        }
    }
}

/// A Linux interface name as the kernel accepts it: 1–15 bytes, no `/`, `:`, whitespace or
/// control characters, not `.` or `..`.
pub fn is_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_INTERFACE_LEN
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != ':')
}

fn bad_text(s: &str) -> bool {
    s.chars().any(|c| c.is_control())
}

impl Validate for Dot1xConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        if !self.interface.is_empty() || self.enabled {
            if self.interface.is_empty() {
                err(
                    out,
                    join(at, "interface"),
                    "dot1x.interface.required",
                    "name the wired interface facing the switch (eth0)",
                );
            } else if !is_interface_name(&self.interface) {
                err(
                    out,
                    join(at, "interface"),
                    "dot1x.interface.invalid",
                    "an interface name: 1-15 characters without '/', ':' or spaces",
                );
            }
        }
        if self.identity.len() > MAX_IDENTITY_LEN || bad_text(&self.identity) {
            err(
                out,
                join(at, "identity"),
                "dot1x.identity.invalid",
                "at most 253 characters, no control characters",
            );
        } else if self.enabled && self.identity.is_empty() {
            err(
                out,
                join(at, "identity"),
                "dot1x.identity.required",
                "the identity the authentication server knows the camera by",
            );
        }
        if self.anonymous_identity.len() > MAX_IDENTITY_LEN || bad_text(&self.anonymous_identity) {
            err(
                out,
                join(at, "anonymous_identity"),
                "dot1x.anonymous_identity.invalid",
                "at most 253 characters, no control characters",
            );
        }
        if let Some(p) = self.password.expose()
            && (p.len() > 128 || bad_text(p))
        {
            // Never echo the value: this message reaches the API and logs.
            err(
                out,
                join(at, "password"),
                "dot1x.password.invalid",
                "at most 128 characters, no control characters",
            );
        } else if self.enabled && self.method.uses_password() && !self.password.is_set() {
            err(
                out,
                join(at, "password"),
                "dot1x.password.required",
                "EAP-MD5 and PEAP need the password the authentication server expects",
            );
        }
        validate_ca(&self.ca_certificate, &join(at, "ca_certificate"), out);
        if self.enabled && self.method.uses_tls() && self.ca_certificate.trim().is_empty() {
            err(
                out,
                join(at, "ca_certificate"),
                "dot1x.ca_certificate.required",
                "PEAP and EAP-TLS need the CA certificate of the authentication server: \
                 without it any authenticator could pose as the network (and read the PEAP password)",
            );
        }
        if !self.client_certificate.trim().is_empty()
            && let Err(m) = crate::parse_ca_pem(&self.client_certificate)
        {
            err(
                out,
                join(at, "client_certificate"),
                "dot1x.client_certificate.invalid",
                m,
            );
        }
        if self.reauth_period != 0
            && !(MIN_REAUTH_PERIOD..=MAX_REAUTH_PERIOD).contains(&self.reauth_period)
        {
            err(
                out,
                join(at, "reauth_period"),
                "dot1x.reauth_period.range",
                format!("0 (off) or {MIN_REAUTH_PERIOD} to {MAX_REAUTH_PERIOD} seconds"),
            );
        }
    }

    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        if self.enabled && self.method == EapMethod::Md5 {
            out.push(Warning::new(
                join(at, "method"),
                "dot1x.md5",
                "EAP-MD5 does not authenticate the network and a captured exchange allows an \
                 offline password search: prefer EAP-TLS or PEAP",
            ));
        }
    }
}

impl Audit for Dot1xConfig {
    fn audit(&self, at: &str, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        if self.enabled && self.method == EapMethod::Md5 {
            out.push(Finding::new(
                "dot1x.md5",
                Severity::Medium,
                "§3.6",
                "IEEE 802.1X uses EAP-MD5: the network is not authenticated and a captured exchange allows an offline password search",
                "EAP-MD5 proves the password to whoever asks, so a rogue switch port learns enough to search for it; EAP-TLS with the device certificate needs no password and PEAP checks the server's certificate first.",
                Fix::example(
                    join(at, "method"),
                    "tls".into(),
                    "switch dot1x.method to tls (EAP-TLS with the device certificate) and set dot1x.ca_certificate to the RADIUS server's CA",
                ),
            ));
        }
        if self.enabled && self.method == EapMethod::Peap && self.anonymous_identity.is_empty() {
            out.push(Finding::new(
                "dot1x.peap_identity",
                Severity::Low,
                "§3.6",
                "PEAP sends the camera's identity in clear before the tunnel exists",
                "The outer identity of PEAP crosses the network unencrypted; an anonymous outer identity keeps the real one inside the TLS tunnel.",
                Fix::set(join(at, "anonymous_identity"), "anonymous".into()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::tests_util::{errors_of, warnings_of};
    use serde_json::json;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIUT7m9tJ7Xl6i2CjKx9Gq8CMq1lq4wCgYIKoZIzj0EAwIw\n-----END CERTIFICATE-----\n";

    fn rules(c: &Dot1xConfig) -> Vec<String> {
        errors_of(c, "dot1x").into_iter().map(|e| e.rule).collect()
    }

    #[test]
    fn defaults_are_off_and_valid() {
        let c = Dot1xConfig::default();
        assert!(!c.enabled);
        assert!(errors_of(&c, "dot1x").is_empty());
        assert!(Config::default().dot1x == c);
    }

    #[test]
    fn peap_and_tls_without_ca_are_refused_with_a_reason() {
        for method in [EapMethod::Peap, EapMethod::Tls] {
            let c = Dot1xConfig {
                enabled: true,
                interface: "eth0".into(),
                method,
                identity: "cam".into(),
                password: Secret::new("pw-123456"),
                ..Dot1xConfig::default()
            };
            let e = errors_of(&c, "dot1x");
            let ca = e
                .iter()
                .find(|e| e.rule == "dot1x.ca_certificate.required")
                .expect("CA required");
            assert_eq!(ca.path, "dot1x.ca_certificate");
            assert!(ca.message.contains("PEAP"));
        }
    }

    #[test]
    fn md5_needs_no_ca_but_a_password() {
        let c = Dot1xConfig {
            enabled: true,
            interface: "eth0".into(),
            method: EapMethod::Md5,
            identity: "cam".into(),
            ..Dot1xConfig::default()
        };
        assert_eq!(rules(&c), vec!["dot1x.password.required"]);
        let c = Dot1xConfig {
            password: Secret::new("md5secret"),
            ..c
        };
        assert!(rules(&c).is_empty());
        assert_eq!(warnings_of(&c, "dot1x")[0].rule, "dot1x.md5");
    }

    #[test]
    fn enabled_needs_interface_and_identity() {
        let c = Dot1xConfig {
            enabled: true,
            method: EapMethod::Md5,
            password: Secret::new("x"),
            ..Dot1xConfig::default()
        };
        let r = rules(&c);
        assert!(r.contains(&"dot1x.interface.required".into()), "{r:?}");
        assert!(r.contains(&"dot1x.identity.required".into()), "{r:?}");
    }

    #[test]
    fn interface_names_that_could_escape_are_refused() {
        for bad in [
            "",
            "a/b",
            "eth0:1",
            "with space",
            "sixteen-chars-xx",
            "..",
            "e\nth0",
        ] {
            assert!(!is_interface_name(bad), "{bad:?}");
        }
        for good in ["eth0", "veth-supp", "enp3s0", "br0.100"] {
            assert!(is_interface_name(good), "{good}");
        }
    }

    #[test]
    fn control_characters_in_identity_are_refused() {
        let c = Dot1xConfig {
            identity: "cam\"\nnetwork={".into(),
            ..Dot1xConfig::default()
        };
        assert_eq!(rules(&c), vec!["dot1x.identity.invalid"]);
    }

    #[test]
    fn password_errors_never_echo_the_value() {
        let c = Dot1xConfig {
            password: Secret::new("bad\nsecret-xyz"),
            ..Dot1xConfig::default()
        };
        let e = errors_of(&c, "dot1x");
        assert_eq!(e[0].rule, "dot1x.password.invalid");
        assert!(!format!("{e:?}").contains("secret-xyz"));
        assert!(!format!("{c:?}").contains("secret-xyz"));
    }

    #[test]
    fn reauth_period_is_zero_or_in_range() {
        for (p, ok) in [
            (0, true),
            (4, false),
            (5, true),
            (86_400, true),
            (86_401, false),
        ] {
            let c = Dot1xConfig {
                reauth_period: p,
                ..Dot1xConfig::default()
            };
            assert_eq!(rules(&c).is_empty(), ok, "{p}");
        }
    }

    #[test]
    fn password_is_redacted_and_kept_by_placeholder() {
        let c = Config::default()
            .apply_merge_patch(
                &json!({"dot1x": {"method": "peap", "password": "peap-Secret-9",
                                                 "ca_certificate": CA}}),
            )
            .unwrap();
        let shown = c.redacted();
        assert_eq!(shown["dot1x"]["password"], json!({"set": true}));
        assert!(!shown.to_string().contains("peap-Secret-9"));
        let again = c.apply_merge_patch(&shown).unwrap();
        assert_eq!(again.dot1x.password.expose(), Some("peap-Secret-9"));
    }

    #[test]
    fn unknown_fields_and_methods_are_refused() {
        assert!(serde_json::from_value::<Dot1xConfig>(json!({"eap": "ttls"})).is_err());
        assert!(serde_json::from_value::<Dot1xConfig>(json!({"method": "ttls"})).is_err());
        for m in ["md5", "peap", "tls"] {
            assert!(serde_json::from_value::<Dot1xConfig>(json!({"method": m})).is_ok());
        }
    }
}

#[cfg(test)]
mod audit_tests {
    use crate::Config;
    use crate::audit::Facts;
    use serde_json::json;

    fn ids(c: &Config) -> Vec<String> {
        c.audit(&Facts::default())
            .findings
            .into_iter()
            .map(|f| f.id)
            .filter(|id| id.starts_with("dot1x."))
            .collect()
    }

    #[test]
    fn md5_and_a_clear_peap_identity_are_findings_with_their_fix() {
        assert!(ids(&Config::default()).is_empty());
        let md5 = Config::default()
            .apply_merge_patch(&json!({"dot1x": {"enabled": true, "interface": "eth0",
                "method": "md5", "identity": "cam", "password": "pw-123456"}}))
            .unwrap();
        assert_eq!(ids(&md5), vec!["dot1x.md5"]);
        let f = md5.audit(&Facts::default()).findings;
        let f = f.iter().find(|f| f.id == "dot1x.md5").unwrap();
        assert_eq!(f.fix.path.as_deref(), Some("dot1x.method"));
        assert!(f.fix.example);
    }
}
