//! The one typed, validated configuration document of camward (sections mirror the paper's Setup screens).
//! Changed only through RFC 7396 merge patches that are validated as a whole before anything applies.
#![forbid(unsafe_code)]

pub mod alarm;
pub mod host_auth;
pub mod https;
pub mod media;
mod merge;
pub mod recording;
mod secret;
pub mod user_auth;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use alarm::{AlarmConfig, FtpClientConfig, FtpServerConfig, SmtpConfig, SmtpSecurity};
pub use host_auth::HostAuth;
pub use https::{Connection, Https};
pub use media::{JpegConfig, Source, StreamsConfig};
pub use merge::merge_patch;
pub use recording::{AlterationDetection, DataEncryptionConfig, RecordingConfig};
pub use secret::Secret;
pub use user_auth::{AuthMethod, UserAuth};

/// One invalid field: `path` is the JSON path (`host_auth.allow[2]`), `rule` a stable identifier
/// clients can switch on, `message` a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub path: String,
    pub rule: String,
    pub message: String,
}

impl FieldError {
    pub fn new(
        path: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            path: path.into(),
            rule: rule.into(),
            message: message.into(),
        }
    }
}

impl FieldError {
    /// Turns a serde error (with the path where it happened) into a field error with a stable rule id:
    /// `unknown_field`, `enum`, `type`, `missing_field` or `invalid`. Shared with the HTTP API so request
    /// bodies and configuration patches report errors the same way.
    pub fn from_serde(e: serde_path_to_error::Error<serde_json::Error>) -> FieldError {
        serde_error(e)
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "(document)"
        } else {
            &self.path
        };
        write!(f, "{path}: {} ({})", self.message, self.rule)
    }
}

/// A valid but weakened setting (Basic allowed, guest on, ...), shown on the status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub path: String,
    pub rule: String,
    pub message: String,
}

impl Warning {
    pub fn new(
        path: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Warning {
            path: path.into(),
            rule: rule.into(),
            message: message.into(),
        }
    }
}

/// Implemented by every section. `at` is the section's JSON path; errors name full paths from it.
pub trait Validate {
    fn validate(&self, at: &str, errors: &mut Vec<FieldError>);
    /// Settings that are allowed but lower security; default: none.
    fn warnings(&self, _at: &str, _out: &mut Vec<Warning>) {}
}

/// Joins a section path and a field name into a JSON path (`host_auth` + `allow` → `host_auth.allow`).
pub fn join(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_owned()
    } else {
        format!("{at}.{field}")
    }
}

/// Declares the sections of [`Config`] once, so that adding a section is one line here plus its file:
/// the struct field, its validation and its warnings all come from this list.
macro_rules! sections {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty, )*) => {
        /// The whole device configuration. Unknown keys are refused; missing keys take closed defaults.
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct Config {
            $( $(#[$doc])* pub $name: $ty, )*
        }

        impl Validate for Config {
            fn validate(&self, _at: &str, errors: &mut Vec<FieldError>) {
                $( Validate::validate(&self.$name, stringify!($name), errors); )*
            }
            fn warnings(&self, _at: &str, out: &mut Vec<Warning>) {
                $( Validate::warnings(&self.$name, stringify!($name), out); )*
            }
        }
    };
}

sections! {
    /// Setup › User mng. › User auth. (paper §3.2, §3.3).
    user_auth: UserAuth,
    /// Setup › User mng. › Host auth. (paper §3.4).
    host_auth: HostAuth,
    /// Setup › Network › Advanced › HTTPS (paper §3.7).
    https: Https,
    /// Setup › Image/Audio: where video comes from (`testsrc`, `file:PATH`, `rtsp://…`, `v4l2:/dev/videoN`).
    source: Source,
    /// Setup › Image/Audio › Stream(1)/(2): H.264 streams (issue #3).
    streams: StreamsConfig,
    /// Setup › Image/Audio › JPEG(1)/(2)/(3) and the MJPEG refresh rate.
    jpeg: JpegConfig,
    /// Setup › Basic › SD memory card: fMP4 recording, retention (issue #5).
    recording: RecordingConfig,
    /// Setup › User mng. › Data encryption: recordings encrypted to viewers' keys (paper §3.8).
    data_encryption: DataEncryptionConfig,
    /// "Additional info for detecting alteration": ONVIF Media Signing of the streams (paper §3.9).
    alteration_detection: AlterationDetection,
    /// Setup › Alarm: VMD areas, terminals, command alarm, alarm recording (issue #8).
    alarm: AlarmConfig,
    /// Setup › Network › Advanced › SMTP(E-mail) (paper §4.6).
    smtp: SmtpConfig,
    /// Setup › Network › Advanced › FTP: alarm and periodic images (paper §4.3).
    ftp_client: FtpClientConfig,
    /// "FTP access to camera" of the Network screen, Forbid by default (paper §4.2).
    ftp_server: FtpServerConfig,
}

impl Config {
    /// Parses and validates a stored or submitted document (full form, secrets in clear).
    pub fn from_value(value: &Value) -> Result<Config, Vec<FieldError>> {
        let config: Config =
            serde_path_to_error::deserialize(value).map_err(|e| vec![serde_error(e)])?;
        let mut errors = Vec::new();
        config.validate("", &mut errors);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    /// Full form for storage: secrets in clear. Never send this to a client.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("config serialises to JSON")
    }

    /// Form for `GET /api/v1/config`: every [`Secret`] shown as `{"set": bool}`.
    pub fn redacted(&self) -> Value {
        // The alarm crate's sections carry its own `Secret` type, with its own redaction switch.
        camward_alarm::with_redaction(|| {
            secret::with_redaction(|| {
                serde_json::to_value(self).expect("config serialises to JSON")
            })
        })
    }

    /// Applies an RFC 7396 merge patch and validates the result as a whole; `self` never changes.
    /// A secret written back as `{"set": true}` (the redacted form) keeps its value;
    /// `{"set": false}` clears it.
    pub fn apply_merge_patch(&self, patch: &Value) -> Result<Config, Vec<FieldError>> {
        let mut patch = patch.clone();
        secret::resolve_placeholders(&mut patch, &self.redacted());
        let mut doc = self.to_value();
        merge_patch(&mut doc, &patch);
        Config::from_value(&doc)
    }

    /// Valid settings that weaken security, for the status page and the console.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut out = Vec::new();
        Validate::warnings(self, "", &mut out);
        alarm::ftp_server_warnings(
            &self.ftp_server,
            "ftp_server",
            self.https.connection == Connection::Https,
            &mut out,
        );
        out
    }
}

/// Turns serde's message into a field error at the path it happened, with a stable rule id.
fn serde_error(e: serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let mut path = e.path().to_string();
    if path == "." {
        path.clear();
    }
    let message = e.inner().to_string();
    let rule = if message.starts_with("unknown field") {
        "unknown_field"
    } else if message.starts_with("unknown variant") {
        "enum"
    } else if message.starts_with("invalid type") {
        "type"
    } else if message.starts_with("missing field") {
        "missing_field"
    } else {
        "invalid"
    };
    // serde_json appends " at line 1 column 2" for text input; values carry no position, but strip to be safe.
    let message = match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    };
    FieldError::new(path, rule, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_valid_and_closed() {
        let c = Config::default();
        assert!(Config::from_value(&c.to_value()).is_ok());
        assert!(c.user_auth.enabled);
        assert_eq!(c.user_auth.method, AuthMethod::Digest);
        assert!(!c.user_auth.guest);
        assert!(!c.host_auth.enabled);
    }

    #[test]
    fn empty_document_takes_defaults() {
        assert_eq!(Config::from_value(&json!({})).unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_are_refused_with_their_path() {
        let e = Config::default()
            .apply_merge_patch(&json!({"user_auth": {"bogus": 1}}))
            .unwrap_err();
        assert_eq!(e[0].rule, "unknown_field");
        assert_eq!(e[0].path, "user_auth.bogus");
        let e = Config::default()
            .apply_merge_patch(&json!({"telnet": {}}))
            .unwrap_err();
        assert_eq!(e[0].path, "telnet");
    }

    #[test]
    fn wrong_types_name_path_and_rule() {
        let e = Config::default()
            .apply_merge_patch(&json!({"user_auth": {"enabled": "yes"}}))
            .unwrap_err();
        assert_eq!(e[0].path, "user_auth.enabled");
        assert_eq!(e[0].rule, "type");
        let e = Config::default()
            .apply_merge_patch(&json!({"user_auth": {"method": "plain"}}))
            .unwrap_err();
        assert_eq!(e[0].path, "user_auth.method");
        assert_eq!(e[0].rule, "enum");
        let e = Config::default()
            .apply_merge_patch(&json!({"host_auth": {"allow": ["10.0.0.1", 5]}}))
            .unwrap_err();
        assert_eq!(e[0].path, "host_auth.allow[1]");
    }

    #[test]
    fn merge_patch_changes_only_named_fields() {
        let c = Config::default()
            .apply_merge_patch(&json!({"user_auth": {"method": "digest_or_basic"}}))
            .unwrap();
        assert_eq!(c.user_auth.method, AuthMethod::DigestOrBasic);
        assert!(c.user_auth.enabled);
    }

    #[test]
    fn null_in_patch_restores_default() {
        let c = Config::default()
            .apply_merge_patch(&json!({"user_auth": {"guest": true}}))
            .unwrap();
        let c = c
            .apply_merge_patch(&json!({"user_auth": {"guest": null}}))
            .unwrap();
        assert!(!c.user_auth.guest);
    }

    #[test]
    fn non_object_patch_is_a_type_error() {
        let e = Config::default()
            .apply_merge_patch(&json!([1, 2]))
            .unwrap_err();
        assert_eq!(e[0].rule, "type");
    }

    #[test]
    fn all_validation_errors_are_reported_together() {
        let e = Config::default()
            .apply_merge_patch(&json!({"host_auth": {"enabled": true, "allow": ["nope", "10.0.0.300", "10.0.0.0/8"]}}))
            .unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0].path, "host_auth.allow[0]");
        assert_eq!(e[1].path, "host_auth.allow[1]");
    }

    #[test]
    fn warnings_flag_weakened_settings() {
        assert!(
            Config::default()
                .warnings()
                .iter()
                .any(|w| w.path == "host_auth.enabled")
        );
        let c = Config::default()
            .apply_merge_patch(&json!({"user_auth": {"method": "digest_or_basic", "guest": true}}))
            .unwrap();
        let w = c.warnings();
        assert!(w.iter().any(|w| w.path == "user_auth.method"));
        assert!(w.iter().any(|w| w.path == "user_auth.guest"));
    }
}
