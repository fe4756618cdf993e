//! The `smtp` section (Setup › Network › Advanced › SMTP(E-mail), paper §4.6): alarm mail with an
//! image attachment, STARTTLS required by default, SMTP AUTH. camward-notify sends the mail.

use crate::alarm::{Trigger, validate_triggers, warn_audio};
use crate::audit::{Audit, Context, Finding, Fix, Severity};
use crate::checks::{
    err, validate_ca, validate_host, validate_image_size, validate_login, validate_mailbox,
};
use crate::{FieldError, Secret, Validate, Warning, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most mail destinations (the paper's SMTP screen has four).
pub const MAX_DESTINATIONS: usize = 4;

/// How the SMTP connection is protected. "SSL On" of the paper is `starttls` or `tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain SMTP: the password and the pictures cross the network in clear.
    #[schemars(title = "Off")]
    None,
    /// STARTTLS, required: a server that does not offer it is refused (no downgrade).
    #[default]
    #[schemars(title = "On (STARTTLS, usually port 587)")]
    Starttls,
    /// Implicit TLS from the first byte (SMTPS, usually port 465).
    #[schemars(title = "On (SMTP over SSL, usually port 465)")]
    Tls,
}

/// One "Destination of notification".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Destination {
    /// The recipient's e-mail address.
    #[schemars(title = "E-mail address")]
    pub address: String,
    /// Alarms mailed to this address.
    #[schemars(title = "Alarms")]
    pub alarms: Vec<Trigger>,
}

/// The `smtp` section (Setup › Network › Advanced › SMTP(E-mail)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Send alarm mail.
    #[schemars(title = "E-mail notification")]
    pub enabled: bool,
    /// Host name or IP address of the mail server (required while notification is on).
    #[schemars(title = "SMTP server address")]
    pub server: String,
    /// 587 (submission with STARTTLS), 465 (SMTP over SSL) or 25.
    #[schemars(title = "SMTP port", range(min = 1, max = 65535))]
    pub port: u16,
    /// Encryption of the connection to the mail server. Off sends the password and the pictures
    /// in clear.
    #[schemars(title = "SSL")]
    pub security: SmtpSecurity,
    /// Leave empty when the server needs no login (no SMTP AUTH).
    #[schemars(title = "User name", length(max = 128))]
    pub username: String,
    /// Password of the mail account.
    #[schemars(title = "Password")]
    pub password: Secret,
    /// The From address of the alarm mail.
    #[schemars(title = "Sender's E-mail address")]
    pub sender: String,
    /// PEM text of the CA that signed the mail server's certificate; empty = the usual public
    /// roots. When set, only this CA is trusted.
    #[schemars(title = "CA certificate of the mail server")]
    pub ca_certificate: String,
    /// Attach a picture of the moment of the alarm.
    #[schemars(title = "Alarm image attachment")]
    pub attach_image: bool,
    /// Size of the attached picture.
    #[schemars(title = "Image capture size", range(min = 1, max = 3), extend("oneOf" = [{"const": 1, "title": "JPEG(1)"}, {"const": 2, "title": "JPEG(2)"}, {"const": 3, "title": "JPEG(3)"}]))]
    pub image_size: u8,
    /// Up to four addresses, each with the alarms it receives.
    #[schemars(title = "Destination of notification", length(max = 4))]
    pub destinations: Vec<Destination>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            enabled: false,
            server: String::new(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: String::new(),
            password: Secret::default(),
            sender: String::new(),
            ca_certificate: String::new(),
            attach_image: true,
            image_size: 2,
            destinations: Vec::new(),
        }
    }
}

impl SmtpConfig {
    /// Destination addresses that want alarms of `trigger`.
    pub fn recipients_for(&self, trigger: Trigger) -> Vec<String> {
        self.destinations
            .iter()
            .filter(|d| !d.address.is_empty() && d.alarms.contains(&trigger))
            .map(|d| d.address.clone())
            .collect()
    }
}

impl Validate for SmtpConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        if self.enabled || !self.server.is_empty() {
            validate_host(&self.server, &join(at, "server"), self.enabled, out);
        }
        if self.port == 0 {
            err(
                out,
                join(at, "port"),
                "smtp.port.range",
                "between 1 and 65535",
            );
        }
        if self.enabled || !self.sender.is_empty() {
            validate_mailbox(&self.sender, &join(at, "sender"), out);
        }
        validate_login(
            &self.username,
            &self.password,
            at,
            "smtp",
            self.enabled,
            out,
        );
        validate_ca(&self.ca_certificate, &join(at, "ca_certificate"), out);
        validate_image_size(self.image_size, &join(at, "image_size"), out);
        let dpath = join(at, "destinations");
        if self.destinations.len() > MAX_DESTINATIONS {
            err(
                out,
                dpath.clone(),
                "smtp.destinations.count",
                format!("at most {MAX_DESTINATIONS} destinations"),
            );
        }
        if self.enabled && self.destinations.is_empty() {
            err(
                out,
                dpath.clone(),
                "smtp.destinations.empty",
                "add at least one destination address",
            );
        }
        for (i, d) in self.destinations.iter().enumerate() {
            let p = format!("{dpath}[{i}]");
            validate_mailbox(&d.address, &join(&p, "address"), out);
            validate_triggers(&d.alarms, &join(&p, "alarms"), out);
        }
    }

    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        if self.enabled && self.security == SmtpSecurity::None {
            let msg = if self.username.is_empty() {
                "SSL is off: alarm mail and pictures cross the network in clear"
            } else {
                "SSL is off: the SMTP password, alarm mail and pictures cross the network in clear"
            };
            out.push(Warning::new(join(at, "security"), "smtp.plaintext", msg));
        }
        for (i, d) in self.destinations.iter().enumerate() {
            warn_audio(
                &d.alarms,
                &format!("{}[{i}].alarms", join(at, "destinations")),
                out,
            );
        }
    }
}

impl Audit for SmtpConfig {
    fn audit(&self, at: &str, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        if self.enabled && self.security == SmtpSecurity::None {
            let with_password = !self.username.is_empty();
            out.push(Finding::new(
                "smtp.unencrypted",
                if with_password {
                    Severity::High
                } else {
                    Severity::Medium
                },
                "§4.6",
                if with_password {
                    "alarm mail is sent without SSL: the SMTP password, mail and pictures cross the network in clear"
                } else {
                    "alarm mail is sent without SSL: mail and pictures cross the network in clear"
                },
                "The SMTP ID and password are not encrypted when connecting to the server, so sending to a server that supports SMTP over SSL is recommended.",
                Fix::set(join(at, "security"), "starttls".into()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_util::{errors_of, warnings_of};
    use crate::{Config, FtpServerConfig};
    use serde_json::json;

    #[test]
    fn defaults_are_off_and_valid() {
        let s = SmtpConfig::default();
        assert!(!s.enabled);
        assert!(errors_of(&s, "smtp").is_empty());
    }

    #[test]
    fn fixed_names_parse() {
        let s: SmtpConfig = serde_json::from_value(json!({
            "enabled": true, "server": "mail.example.com", "port": 465, "security": "tls",
            "username": "cam", "password": "pw-123456", "sender": "cam@example.com",
            "ca_certificate": "",
            "destinations": [{"address": "ops@example.com", "alarms": ["command", "vmd", "terminal1"]}]
        }))
        .unwrap();
        assert_eq!(s.security, SmtpSecurity::Tls);
        assert!(
            errors_of(&s, "smtp").is_empty(),
            "{:?}",
            errors_of(&s, "smtp")
        );
        assert_eq!(s.recipients_for(Trigger::Vmd), vec!["ops@example.com"]);
        assert!(s.recipients_for(Trigger::Terminal2).is_empty());
        let f: FtpServerConfig = serde_json::from_value(json!({"enabled": true})).unwrap();
        assert!(f.enabled);
        for sec in ["none", "starttls", "tls"] {
            assert!(serde_json::from_value::<SmtpConfig>(json!({"security": sec})).is_ok());
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_value::<SmtpConfig>(json!({"pop_server": "x"})).is_err());
        assert!(serde_json::from_value::<SmtpConfig>(json!({"security": "ssl"})).is_err());
    }

    #[test]
    fn errors_name_their_json_path() {
        let s: SmtpConfig = serde_json::from_value(json!({
            "enabled": true, "server": "bad host", "sender": "nobody",
            "username": "u",
            "destinations": [{"address": "a@b.c", "alarms": ["vmd", "vmd"]}, {"address": "x\r\ny@z"}]
        }))
        .unwrap();
        let e = errors_of(&s, "smtp");
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"smtp.server"), "{paths:?}");
        assert!(paths.contains(&"smtp.sender"));
        assert!(paths.contains(&"smtp.password"));
        assert!(paths.contains(&"smtp.destinations[0].alarms[1]"));
        assert!(paths.contains(&"smtp.destinations[1].address"));
    }

    #[test]
    fn too_many_destinations_are_refused() {
        let s = SmtpConfig {
            destinations: vec![
                Destination {
                    address: "a@b.c".into(),
                    alarms: vec![]
                };
                5
            ],
            ..SmtpConfig::default()
        };
        assert!(
            errors_of(&s, "smtp")
                .iter()
                .any(|e| e.rule == "smtp.destinations.count")
        );
    }

    #[test]
    fn plaintext_warns() {
        let s = SmtpConfig {
            enabled: true,
            security: SmtpSecurity::None,
            ..SmtpConfig::default()
        };
        assert_eq!(warnings_of(&s, "smtp")[0].path, "smtp.security");
    }

    #[test]
    fn password_never_in_debug_output_nor_in_messages() {
        let s = SmtpConfig {
            password: Secret::new("hunter22-smtp"),
            ..SmtpConfig::default()
        };
        assert!(!format!("{s:?}").contains("hunter22"));
        let s = SmtpConfig {
            password: Secret::new("bad\npassword"),
            ..s
        };
        assert!(
            errors_of(&s, "smtp")
                .iter()
                .all(|e| !e.message.contains("bad"))
        );
    }

    #[test]
    fn ca_certificate_must_be_pem() {
        let s = SmtpConfig {
            ca_certificate: "not a cert".into(),
            ..SmtpConfig::default()
        };
        assert_eq!(errors_of(&s, "smtp")[0].path, "smtp.ca_certificate");
    }

    #[test]
    fn passwords_are_redacted_and_kept_by_placeholders() {
        let c = Config::default()
            .apply_merge_patch(&json!({
                "smtp": {"password": "mail-Secret-1"},
                "ftp_client": {"password": "ftp-Secret-2"},
            }))
            .unwrap();
        let shown = c.redacted();
        assert_eq!(shown["smtp"]["password"], json!({"set": true}));
        assert_eq!(shown["ftp_client"]["password"], json!({"set": true}));
        assert!(!shown.to_string().contains("Secret-"));
        // Sending back what GET showed keeps both passwords.
        let again = c.apply_merge_patch(&shown).unwrap();
        assert_eq!(again.smtp.password.expose(), Some("mail-Secret-1"));
        assert_eq!(again.ftp_client.password.expose(), Some("ftp-Secret-2"));
    }

    #[test]
    fn plaintext_transports_are_warned_about() {
        let c = Config::default()
            .apply_merge_patch(&json!({
                "smtp": {"enabled": true, "server": "mail.example.com", "security": "none",
                         "sender": "cam@example.com",
                         "destinations": [{"address": "ops@example.com", "alarms": ["vmd"]}]},
                "ftp_server": {"enabled": true},
            }))
            .unwrap();
        let w = c.warnings();
        assert!(w.iter().any(|w| w.path == "smtp.security"), "{w:?}");
        assert!(w.iter().any(|w| w.rule == "ftp_server.plaintext"), "{w:?}");
        // HTTPS as the connection makes FTPS required: no plain-FTP warning.
        let mut c = c;
        c.https.connection = crate::Connection::Https;
        assert!(
            !c.warnings()
                .iter()
                .any(|w| w.rule == "ftp_server.plaintext")
        );
    }
}
