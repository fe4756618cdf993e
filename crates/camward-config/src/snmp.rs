//! The `snmp` section (Setup › Network › Advanced › SNMP, paper §4.7): the SNMP agent, off by
//! default; SNMPv3 (USM with authentication and privacy) always, v1/v2c (a read-only community in
//! clear) only when chosen; system name, location and contact; trap destinations.
//! camward-snmp runs the agent.

use crate::audit::{Audit, Context, Finding, Fix, Severity};
use crate::checks::{err, validate_host};
use crate::{FieldError, Secret, Validate, Warning, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most v3 users.
pub const MAX_USERS: usize = 8;
/// Most trap destinations.
pub const MAX_DESTINATIONS: usize = 8;
/// Shortest v3 password: the paper's screen asks 8–16 characters; RFC 3414 needs 8.
pub const MIN_PASSWORD: usize = 8;
/// Longest v3 password accepted (the screen's 16, and longer for generated passphrases).
pub const MAX_PASSWORD: usize = 64;
/// Longest system name, location or contact (DisplayString, RFC 2579).
pub const MAX_SYSTEM_TEXT: usize = 255;

/// SNMPv3 authentication protocol (RFC 3414; SHA-2 per RFC 7860).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SnmpAuth {
    /// HMAC-MD5-96: on the paper's screen; weak, kept for old managers.
    #[schemars(title = "MD5")]
    Md5,
    /// HMAC-SHA-96 ("SHA1" on the paper's screen).
    #[schemars(title = "SHA1")]
    Sha1,
    /// HMAC-SHA-224 (usmHMAC128SHA224AuthProtocol).
    #[schemars(title = "SHA-224")]
    Sha224,
    /// HMAC-SHA-256 (usmHMAC192SHA256AuthProtocol).
    #[default]
    #[schemars(title = "SHA-256")]
    Sha256,
    /// HMAC-SHA-384 (usmHMAC256SHA384AuthProtocol).
    #[schemars(title = "SHA-384")]
    Sha384,
    /// HMAC-SHA-512 (usmHMAC384SHA512AuthProtocol).
    #[schemars(title = "SHA-512")]
    Sha512,
}

/// SNMPv3 privacy protocol. AES-192/256 use the key extension net-snmp implements (Blumenthal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SnmpPrivacy {
    /// DES-CBC: on the paper's screen; 56-bit, kept for old managers.
    #[schemars(title = "DES")]
    Des,
    /// AES-128-CFB (RFC 3826).
    #[default]
    #[schemars(title = "AES-128")]
    Aes128,
    /// AES-192-CFB with the Blumenthal key extension.
    #[schemars(title = "AES-192")]
    Aes192,
    /// AES-256-CFB with the Blumenthal key extension.
    #[schemars(title = "AES-256")]
    Aes256,
}

/// The lowest SNMPv3 security level answered; requests below it are refused (VACM, RFC 3415),
/// even when the user name is right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SnmpSecurityLevel {
    /// Authenticated but readable on the wire.
    #[schemars(title = "Authentication only (authNoPriv)")]
    AuthNoPriv,
    /// Authenticated and encrypted.
    #[default]
    #[schemars(title = "Authentication and encryption (authPriv)")]
    AuthPriv,
}

/// One SNMPv3 (USM) user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SnmpUser {
    /// User name (1–32 characters, no spaces or control characters).
    #[schemars(title = "User name", length(max = 32))]
    pub name: String,
    /// "Authentication".
    #[schemars(title = "Authentication")]
    pub auth: SnmpAuth,
    /// "Encryption method".
    #[schemars(title = "Encryption method")]
    pub privacy: SnmpPrivacy,
    /// "Password" (8–16 characters on the screen; up to 64 accepted). Authentication key.
    #[schemars(title = "Password")]
    pub auth_password: Secret,
    /// Privacy (encryption) password; unset = the authentication password, as the paper's screen
    /// has a single password.
    #[schemars(title = "Encryption password")]
    pub priv_password: Secret,
}

impl Default for SnmpUser {
    fn default() -> Self {
        SnmpUser {
            name: String::new(),
            auth: SnmpAuth::Sha256,
            privacy: SnmpPrivacy::Aes128,
            auth_password: Secret::default(),
            priv_password: Secret::default(),
        }
    }
}

impl SnmpUser {
    /// The password that keys encryption.
    pub fn privacy_password(&self) -> Option<&str> {
        self.priv_password
            .expose()
            .or_else(|| self.auth_password.expose())
    }
}

/// How a notification is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SnmpNotifyVersion {
    /// SNMPv3 authPriv with the named user.
    #[default]
    #[schemars(title = "SNMPv3")]
    V3,
    /// SNMPv2c with the community, in clear; only while `v1v2c` is on.
    #[schemars(title = "SNMPv2c")]
    V2c,
}

/// One trap receiver (a monitoring system's `snmptrapd`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SnmpTrapDestination {
    /// Receiver address: IPv4/IPv6 address or host name.
    #[schemars(title = "Receiver")]
    pub host: String,
    /// Receiver UDP port.
    #[schemars(title = "Port", range(min = 1, max = 65535))]
    pub port: u16,
    /// SNMPv3 (authPriv) or SNMPv2c.
    #[schemars(title = "Version")]
    pub version: SnmpNotifyVersion,
    /// For `v3`: the name of one of `users`, whose keys sign and encrypt the trap.
    #[schemars(title = "SNMPv3 user")]
    pub user: String,
    /// Send InformRequests (acknowledged, retried up to 3 times) instead of traps. For `v3` the
    /// receiver is the authoritative engine: camward discovers it before each inform, and the
    /// receiver must know `user` with the same passwords.
    #[schemars(title = "Inform (acknowledged)", extend("x-true" = "On", "x-false" = "Off"))]
    pub inform: bool,
}

impl Default for SnmpTrapDestination {
    fn default() -> Self {
        SnmpTrapDestination {
            host: String::new(),
            port: 162,
            version: SnmpNotifyVersion::V3,
            user: String::new(),
            inform: false,
        }
    }
}

/// The `snmp` section (Setup › Network › Advanced › SNMP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[schemars(title = "SNMP")]
pub struct SnmpConfig {
    /// The agent: while false no UDP port is open (paper §3.5).
    #[schemars(title = "SNMP agent", extend("x-true" = "On", "x-false" = "Off"))]
    pub enabled: bool,
    /// UDP port; `--snmp ADDR:PORT` overrides address and port.
    #[schemars(title = "Port (UDP)", range(min = 1, max = 65535))]
    pub port: u16,
    /// Also answer SNMPv1/v2c with the read-only community. Community and data cross the network
    /// in clear (paper §4.7 recommends v3); SET is never allowed over v1/v2c.
    #[schemars(title = "SNMPv1/v2", extend("x-true" = "On", "x-false" = "Off"))]
    pub v1v2c: bool,
    /// Read-only community for v1/v2c (1–32 characters).
    #[schemars(title = "SNMPv1/v2 Community")]
    pub community: Secret,
    /// SNMPv3 users.
    #[schemars(title = "SNMPv3 users", length(max = 8))]
    pub users: Vec<SnmpUser>,
    /// Lowest SNMPv3 security level answered.
    #[schemars(title = "Minimum security level")]
    pub min_security_level: SnmpSecurityLevel,
    /// "System name" (sysName); written by SNMP SET too (authPriv users only).
    #[schemars(title = "System name", length(max = 255))]
    pub system_name: String,
    /// "Location" (sysLocation).
    #[schemars(title = "Location", length(max = 255))]
    pub location: String,
    /// "Contact" (sysContact).
    #[schemars(title = "Contact", length(max = 255))]
    pub contact: String,
    /// Where traps go: alarms, authentication failures, lockouts, recording stopped/full,
    /// certificate expiry.
    #[schemars(title = "Trap destinations", length(max = 8))]
    pub trap_destinations: Vec<SnmpTrapDestination>,
}

impl Default for SnmpConfig {
    fn default() -> Self {
        SnmpConfig {
            enabled: false,
            port: 161,
            v1v2c: false,
            community: Secret::default(),
            users: Vec::new(),
            min_security_level: SnmpSecurityLevel::AuthPriv,
            system_name: String::new(),
            location: String::new(),
            contact: String::new(),
            trap_destinations: Vec::new(),
        }
    }
}

impl SnmpConfig {
    pub fn user(&self, name: &str) -> Option<&SnmpUser> {
        self.users.iter().find(|u| u.name == name)
    }
}

/// A DisplayString a manager may show: printable, no control characters.
pub fn is_display_text(s: &str) -> bool {
    s.len() <= MAX_SYSTEM_TEXT && !s.chars().any(char::is_control)
}

fn validate_password(p: &Secret, at: String, required: bool, out: &mut Vec<FieldError>) {
    match p.expose() {
        // Never echo the value: this message reaches the API and logs.
        Some(v)
            if v.chars().count() < MIN_PASSWORD
                || v.chars().count() > MAX_PASSWORD
                || v.chars().any(char::is_control) =>
        {
            err(
                out,
                at,
                "snmp.password.length",
                format!("{MIN_PASSWORD}–{MAX_PASSWORD} characters, no control characters"),
            )
        }
        None if required => err(
            out,
            at,
            "snmp.password.required",
            "every SNMPv3 user needs a password",
        ),
        _ => {}
    }
}

impl Validate for SnmpConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        if self.port == 0 {
            err(
                out,
                join(at, "port"),
                "snmp.port.range",
                "between 1 and 65535",
            );
        }
        if let Some(c) = self.community.expose()
            && (c.is_empty() || c.len() > 32 || c.chars().any(|c| c.is_control()))
        {
            err(
                out,
                join(at, "community"),
                "snmp.community.length",
                "1–32 characters, no control characters",
            );
        }
        if self.v1v2c && !self.community.is_set() {
            err(
                out,
                join(at, "community"),
                "snmp.community.required",
                "v1/v2c needs a community",
            );
        }
        let upath = join(at, "users");
        if self.users.len() > MAX_USERS {
            err(
                out,
                upath.clone(),
                "snmp.users.count",
                format!("at most {MAX_USERS} users"),
            );
        }
        if self.enabled && self.users.is_empty() && !self.v1v2c {
            err(
                out,
                upath.clone(),
                "snmp.users.empty",
                "add an SNMPv3 user (or switch on v1/v2c) before enabling the agent",
            );
        }
        for (i, u) in self.users.iter().enumerate() {
            let p = format!("{upath}[{i}]");
            let name_ok = (1..=32).contains(&u.name.chars().count())
                && !u.name.chars().any(|c| c.is_control() || c.is_whitespace());
            if !name_ok {
                err(
                    out,
                    join(&p, "name"),
                    "snmp.user.name",
                    "1–32 characters, no spaces or control characters",
                );
            }
            if self.users[..i].iter().any(|o| o.name == u.name) {
                err(
                    out,
                    join(&p, "name"),
                    "snmp.user.duplicate",
                    "user names must be unique",
                );
            }
            validate_password(&u.auth_password, join(&p, "auth_password"), true, out);
            validate_password(&u.priv_password, join(&p, "priv_password"), false, out);
        }
        for (f, v) in [
            ("system_name", &self.system_name),
            ("location", &self.location),
            ("contact", &self.contact),
        ] {
            if !is_display_text(v) {
                err(
                    out,
                    join(at, f),
                    "snmp.system.text",
                    format!("at most {MAX_SYSTEM_TEXT} bytes, no control characters"),
                );
            }
        }
        let dpath = join(at, "trap_destinations");
        if self.trap_destinations.len() > MAX_DESTINATIONS {
            err(
                out,
                dpath.clone(),
                "snmp.trap_destinations.count",
                format!("at most {MAX_DESTINATIONS} destinations"),
            );
        }
        for (i, d) in self.trap_destinations.iter().enumerate() {
            let p = format!("{dpath}[{i}]");
            validate_host(&d.host, &join(&p, "host"), true, out);
            if d.port == 0 {
                err(
                    out,
                    join(&p, "port"),
                    "snmp.port.range",
                    "between 1 and 65535",
                );
            }
            match d.version {
                SnmpNotifyVersion::V3 if self.user(&d.user).is_none() => err(
                    out,
                    join(&p, "user"),
                    "snmp.trap.user",
                    "name one of the SNMPv3 users",
                ),
                SnmpNotifyVersion::V2c if !self.v1v2c => err(
                    out,
                    join(&p, "version"),
                    "snmp.trap.v2c",
                    "v2c traps need v1/v2c switched on (they carry the community in clear)",
                ),
                _ => {}
            }
        }
    }

    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        if !self.enabled {
            return;
        }
        if self.v1v2c {
            out.push(Warning::new(
                join(at, "v1v2c"),
                "snmp.v1v2c",
                "SNMPv1/v2c is on: the community and all values cross the network in clear and can be altered (paper §4.7 recommends SNMPv3)",
            ));
        }
        if self.min_security_level == SnmpSecurityLevel::AuthNoPriv {
            out.push(Warning::new(
                join(at, "min_security_level"),
                "snmp.nopriv",
                "SNMPv3 without privacy is answered: values cross the network in clear",
            ));
        }
        for (i, u) in self.users.iter().enumerate() {
            if u.auth == SnmpAuth::Md5 || u.privacy == SnmpPrivacy::Des {
                out.push(Warning::new(
                    format!("{}[{i}]", join(at, "users")),
                    "snmp.weak_algorithm",
                    "MD5 and DES are weak; prefer SHA-256 and AES",
                ));
            }
        }
    }
}

impl Audit for SnmpConfig {
    /// §4.7: SNMPv3 with authentication and encryption is the recommendation; v1/v2c (community and
    /// values in clear) is a high finding, v3 without privacy a medium one, MD5/DES users low ones.
    /// An agent that is off is one service fewer (§3.5) and no finding.
    fn audit(&self, at: &str, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        if !self.enabled {
            return;
        }
        if self.v1v2c {
            out.push(Finding::new(
                "snmp.v1v2c",
                Severity::High,
                "§4.7",
                "SNMPv1/v2c is answered: the community and every value cross the network in clear",
                "SNMPv1 and v2c have no encryption and authenticate with a community string sent in clear, so anyone on the path can read the device's information and reuse the community; use SNMPv3 with authentication and encryption.",
                Fix::set(join(at, "v1v2c"), false.into()),
            ));
        }
        if self.min_security_level == SnmpSecurityLevel::AuthNoPriv {
            out.push(Finding::new(
                "snmp.no_privacy",
                Severity::Medium,
                "§4.7",
                "SNMPv3 requests without encryption are answered",
                "Without SNMPv3 privacy the values cross the network in clear; require authentication and encryption.",
                Fix::set(join(at, "min_security_level"), "auth_priv".into()),
            ));
        }
        for (i, u) in self.users.iter().enumerate() {
            if u.auth == SnmpAuth::Md5 || u.privacy == SnmpPrivacy::Des {
                out.push(
                    Finding::new(
                        "snmp.weak_algorithm",
                        Severity::Low,
                        "§4.7",
                        format!("SNMPv3 user {:?} uses MD5 or DES", u.name),
                        "MD5 and 56-bit DES are weak; the paper's screen offers them for old managers only. Prefer SHA-256 and AES.",
                        Fix::example(
                            format!("{}[{i}]", join(at, "users")),
                            serde_json::json!({"auth": "sha256", "privacy": "aes128"}),
                            "set the user's authentication to sha256 and encryption to aes128 (and the manager's likewise)",
                        ),
                    )
                    .about(u.name.clone()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::tests_util::{errors_of, warnings_of};
    use serde_json::json;

    fn user(name: &str) -> SnmpUser {
        SnmpUser {
            name: name.into(),
            auth_password: Secret::new("auth-pass-1"),
            ..SnmpUser::default()
        }
    }

    #[test]
    fn defaults_are_off_v3_only_authpriv_and_valid() {
        let s = SnmpConfig::default();
        assert!(!s.enabled);
        assert!(!s.v1v2c);
        assert_eq!(s.port, 161);
        assert_eq!(s.min_security_level, SnmpSecurityLevel::AuthPriv);
        assert_eq!(SnmpUser::default().auth, SnmpAuth::Sha256);
        assert_eq!(SnmpUser::default().privacy, SnmpPrivacy::Aes128);
        assert!(errors_of(&s, "snmp").is_empty());
        assert!(warnings_of(&s, "snmp").is_empty());
    }

    #[test]
    fn enabling_without_a_user_is_refused() {
        let s = SnmpConfig {
            enabled: true,
            ..SnmpConfig::default()
        };
        assert_eq!(errors_of(&s, "snmp")[0].rule, "snmp.users.empty");
    }

    #[test]
    fn passwords_follow_the_screen_and_are_never_echoed() {
        let mut s = SnmpConfig {
            users: vec![user("ops")],
            ..SnmpConfig::default()
        };
        s.users[0].auth_password = Secret::new("short");
        s.users[0].priv_password = Secret::new("x".repeat(65));
        let e = errors_of(&s, "snmp");
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0].path, "snmp.users[0].auth_password");
        assert_eq!(e[1].path, "snmp.users[0].priv_password");
        assert!(e.iter().all(|e| !e.message.contains("short")));
        s.users[0].auth_password = Secret::default();
        assert!(
            errors_of(&s, "snmp")
                .iter()
                .any(|e| e.rule == "snmp.password.required")
        );
    }

    #[test]
    fn user_names_are_checked_and_unique() {
        let s = SnmpConfig {
            users: vec![user("a b"), user("ops"), user("ops"), user(&"x".repeat(33))],
            ..SnmpConfig::default()
        };
        let rules: Vec<String> = errors_of(&s, "snmp").into_iter().map(|e| e.rule).collect();
        assert_eq!(
            rules,
            ["snmp.user.name", "snmp.user.duplicate", "snmp.user.name"]
        );
    }

    #[test]
    fn v1v2c_needs_a_community_and_warns() {
        let mut s = SnmpConfig {
            enabled: true,
            v1v2c: true,
            ..SnmpConfig::default()
        };
        assert_eq!(errors_of(&s, "snmp")[0].rule, "snmp.community.required");
        s.community = Secret::new("monitor");
        assert!(errors_of(&s, "snmp").is_empty());
        assert_eq!(warnings_of(&s, "snmp")[0].rule, "snmp.v1v2c");
    }

    #[test]
    fn trap_destinations_name_a_user_or_need_v2c_on() {
        let s = SnmpConfig {
            users: vec![user("ops")],
            trap_destinations: vec![
                SnmpTrapDestination {
                    host: "127.0.0.1".into(),
                    user: "ops".into(),
                    ..Default::default()
                },
                SnmpTrapDestination {
                    host: "127.0.0.1".into(),
                    user: "nobody".into(),
                    ..Default::default()
                },
                SnmpTrapDestination {
                    host: "127.0.0.1".into(),
                    version: SnmpNotifyVersion::V2c,
                    ..Default::default()
                },
            ],
            ..SnmpConfig::default()
        };
        let e = errors_of(&s, "snmp");
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "snmp.trap_destinations[1].user",
                "snmp.trap_destinations[2].version"
            ]
        );
    }

    #[test]
    fn system_texts_refuse_control_characters() {
        let s = SnmpConfig {
            location: "Hall\r\nB".into(),
            ..SnmpConfig::default()
        };
        assert_eq!(errors_of(&s, "snmp")[0].path, "snmp.location");
    }

    #[test]
    fn weak_choices_warn_when_on() {
        let mut u = user("old");
        u.auth = SnmpAuth::Md5;
        u.privacy = SnmpPrivacy::Des;
        let s = SnmpConfig {
            enabled: true,
            users: vec![u],
            min_security_level: SnmpSecurityLevel::AuthNoPriv,
            ..SnmpConfig::default()
        };
        let rules: Vec<String> = warnings_of(&s, "snmp")
            .into_iter()
            .map(|w| w.rule)
            .collect();
        assert_eq!(rules, ["snmp.nopriv", "snmp.weak_algorithm"]);
    }

    #[test]
    fn secrets_are_redacted_and_kept_by_placeholders() {
        let c = Config::default()
            .apply_merge_patch(&json!({"snmp": {
                "community": "Comm-Secret-1",
                "users": [{"name": "ops", "auth_password": "Auth-Secret-2", "priv_password": "Priv-Secret-3"}],
            }}))
            .unwrap();
        let shown = c.redacted();
        assert_eq!(shown["snmp"]["community"], json!({"set": true}));
        assert_eq!(
            shown["snmp"]["users"][0]["auth_password"],
            json!({"set": true})
        );
        assert!(!shown.to_string().contains("Secret-"));
        let again = c.apply_merge_patch(&shown).unwrap();
        assert_eq!(again.snmp.community.expose(), Some("Comm-Secret-1"));
        assert_eq!(
            again.snmp.users[0].privacy_password(),
            Some("Priv-Secret-3")
        );
    }
}
