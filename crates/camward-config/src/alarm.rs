//! The `alarm`, `smtp`, `ftp_client` and `ftp_server` sections (paper §4.2, §4.3, §4.6): the types
//! are camward-alarm's (one definition, no drift); this file adapts their checks to [`Validate`].

use crate::{FieldError, Validate, Warning};
use camward_alarm::config as a;

pub use camward_alarm::{AlarmConfig, FtpClientConfig, FtpServerConfig, SmtpConfig, SmtpSecurity};

fn errors(from: Vec<a::FieldError>, out: &mut Vec<FieldError>) {
    out.extend(
        from.into_iter()
            .map(|e| FieldError::new(e.path, e.rule, e.message)),
    );
}

fn warnings(from: Vec<a::Warning>, out: &mut Vec<Warning>) {
    out.extend(
        from.into_iter()
            .map(|w| Warning::new(w.path, w.rule, w.message)),
    );
}

impl Validate for AlarmConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        errors(AlarmConfig::validate(self, at), out);
    }
    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        warnings(AlarmConfig::warnings(self, at), out);
    }
}

impl Validate for SmtpConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        errors(SmtpConfig::validate(self, at), out);
    }
    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        warnings(SmtpConfig::warnings(self, at), out);
    }
}

impl Validate for FtpClientConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        errors(FtpClientConfig::validate(self, at), out);
    }
    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        warnings(FtpClientConfig::warnings(self, at), out);
    }
}

impl Validate for FtpServerConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        errors(FtpServerConfig::validate(self, at), out);
    }
    // Its warning depends on `https.connection` (FTPS is then required), which a section cannot
    // see: `Config::warnings` adds it.
}

/// The FTP server's plain-FTP warning, given whether HTTPS is the device's connection.
pub(crate) fn ftp_server_warnings(
    s: &FtpServerConfig,
    at: &str,
    https_connection: bool,
    out: &mut Vec<Warning>,
) {
    warnings(s.warnings(at, https_connection), out);
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use serde_json::json;

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
