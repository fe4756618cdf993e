//! The one typed, validated configuration document of camward: every settings section of the
//! paper's Setup screens (§3.2–§3.9, §4.2–§4.7), one file per concern, the one [`Secret`], the one
//! [`FieldError`], and the JSON Schema the web UI and the OpenAPI document are built from.
//!
//! This crate depends on no other camward crate: feature crates take their section from here.
//! The document changes only through RFC 7396 merge patches validated as a whole before anything
//! applies. Adding a section: a file here with its type (doc comments become the schema's
//! descriptions), a `Validate` impl, and one line in the `sections!` list below. Its secrets are
//! then redacted everywhere and sealed at rest ([`seal`]) without further code.
#![forbid(unsafe_code)]

pub mod alarm;
pub mod alteration_detection;
pub mod audit;
pub mod cameras;
mod checks;
pub mod data_encryption;
pub mod discovery;
pub mod dot1x;
pub mod ftp_client;
pub mod ftp_server;
pub mod host_auth;
pub mod https;
pub mod jpeg;
mod merge;
pub mod recording;
#[cfg(test)]
mod schema_tests;
pub mod seal;
mod secret;
mod shape;
pub mod smtp;
pub mod snmp;
pub mod source;
pub mod storage;
pub mod streams;
pub mod time;
pub mod upnp;
pub mod user_auth;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use alarm::{AlarmConfig, Trigger};
pub use alteration_detection::AlterationDetection;
pub use audit::{Audit, Finding, Severity};
pub use cameras::{Camera, CameraRecord, CameraTransport, CamerasConfig};
pub use checks::parse_ca_pem;
pub use data_encryption::DataEncryptionConfig;
pub use discovery::{AccommodatePeriod, DiscoveryConfig};
pub use dot1x::{Dot1xConfig, EapMethod};
pub use ftp_client::{FtpClientConfig, FtpTls};
pub use ftp_server::FtpServerConfig;
pub use host_auth::HostAuth;
pub use https::{Connection, Https};
pub use jpeg::{JpegConfig, JpegSize, JpegSizeConfig};
pub use merge::merge_patch;
pub use recording::RecordingConfig;
pub use seal::{SealError, SealKey};
pub use secret::Secret;
pub use shape::positional_structs;
pub use smtp::{SmtpConfig, SmtpSecurity};
pub use snmp::SnmpConfig;
pub use source::{RtspSource, Source};
pub use storage::{ObjectStorageConfig, StorageConfig};
pub use streams::{SIZES, StreamConfig, StreamsConfig};
pub use time::{NtpServer, TimeConfig, TimeMode};
pub use upnp::{ForwardedService, UpnpConfig};
pub use user_auth::{AuthMethod, UserAuth};

/// One invalid field: `path` is the JSON path (`host_auth.allow[2]`), `rule` a stable identifier
/// clients can switch on, `message` a sentence for people. The HTTP API's 4xx bodies list these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldError {
    /// JSON path into the request body or the configuration document; `""` for the whole body.
    pub path: String,
    /// Stable identifier of the broken rule (`host_auth.allow.invalid`, `unknown_field`, …).
    pub rule: String,
    /// What is wrong, for people.
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

    /// Turns a serde error (with the path where it happened) into a field error with a stable rule id:
    /// `unknown_field`, `enum`, `type`, `missing_field` or `invalid`. Shared with the HTTP API so request
    /// bodies and configuration patches report errors the same way.
    pub fn from_serde(e: serde_path_to_error::Error<serde_json::Error>) -> FieldError {
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
        // serde_json appends " at line 1 column 2" for text input; values carry no position.
        let message = match message.find(" at line ") {
            Some(i) => message[..i].to_owned(),
            None => message,
        };
        FieldError::new(path, rule, message)
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Warning {
    /// JSON path of the setting.
    pub path: String,
    /// Stable identifier (`host_auth.off`, `smtp.plaintext`, …).
    pub rule: String,
    /// What the setting exposes, for people.
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

/// A size for people, in the units the UI shows (1 MB = 1024 × 1024 bytes, as storage
/// settings have always been counted on cameras): `64 KB`, `256 MB`, `1.5 GB`.
pub fn human_bytes(n: u64) -> String {
    const KB: f64 = 1024.0;
    let n = n as f64;
    let (v, unit) = if n >= KB * KB * KB {
        (n / (KB * KB * KB), "GB")
    } else if n >= KB * KB {
        (n / (KB * KB), "MB")
    } else if n >= KB {
        (n / KB, "KB")
    } else {
        return format!("{n} bytes");
    };
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s} {unit}")
}

/// Joins a section path and a field name into a JSON path (`host_auth` + `allow` → `host_auth.allow`).
pub fn join(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_owned()
    } else {
        format!("{at}.{field}")
    }
}

/// Declares the sections of [`Config`] once: the struct field, its validation, its warnings, its
/// audit findings and its place in the JSON Schema all come from this list.
macro_rules! sections {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty, )*) => {
        /// The whole device configuration. Unknown keys are refused; missing keys take closed defaults.
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields, default)]
        #[schemars(title = "camward configuration")]
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

        impl Config {
            /// Every section's findings ([`audit::Audit`] is required of each section type).
            fn audit_sections(&self, cx: &audit::Context<'_>, out: &mut Vec<Finding>) {
                $( Audit::audit(&self.$name, stringify!($name), cx, out); )*
            }
        }

        /// The names of the sections, in document order.
        pub const SECTIONS: &[&str] = &[$( stringify!($name), )*];
    };
}

sections! {
    /// Setup › User mng. › User auth. (paper §3.2, §3.3).
    #[schemars(title = "User auth.")]
    user_auth: UserAuth,
    /// Setup › User mng. › Host auth. (paper §3.4).
    #[schemars(title = "Host auth.")]
    host_auth: HostAuth,
    /// Setup › Network › Advanced › HTTPS (paper §3.7).
    #[schemars(title = "HTTPS")]
    https: Https,
    /// Setup › Image/Audio: where video comes from (`testsrc`, `file:PATH`, `rtsp://…`, `v4l2:/dev/videoN`).
    #[schemars(title = "Video source")]
    source: Source,
    /// Setup › Image/Audio › Stream(1)/(2): the H.264 streams.
    #[schemars(title = "Stream")]
    streams: StreamsConfig,
    /// Setup › Image/Audio › JPEG(1)/(2)/(3) and the MJPEG refresh rate.
    #[schemars(title = "JPEG")]
    jpeg: JpegConfig,
    /// Setup › Basic › SD memory card: fMP4 recording and retention.
    #[schemars(title = "SD memory card")]
    recording: RecordingConfig,
    /// Setup › User mng. › Data encryption: recordings encrypted to viewers' keys (paper §3.8).
    #[schemars(title = "Data encryption")]
    data_encryption: DataEncryptionConfig,
    /// "Additional info for detecting alteration": ONVIF Media Signing of the streams (paper §3.9).
    #[schemars(title = "Alteration detection")]
    alteration_detection: AlterationDetection,
    /// Setup › Alarm: VMD areas, terminals, command alarm, alarm recording.
    #[schemars(title = "Alarm")]
    alarm: AlarmConfig,
    /// Setup › Network › Advanced › SMTP(E-mail) (paper §4.6).
    #[schemars(title = "SMTP(E-mail)")]
    smtp: SmtpConfig,
    /// Setup › Network › Advanced › FTP: alarm and periodic images (paper §4.3).
    #[schemars(title = "FTP")]
    ftp_client: FtpClientConfig,
    /// "FTP access to camera" of the Network screen, Forbid by default (paper §4.2).
    #[schemars(title = "FTP access to camera")]
    ftp_server: FtpServerConfig,
    /// Setup › Network › Advanced › UPnP: auto port forwarding, off by default (paper §4.1).
    #[schemars(title = "UPnP")]
    upnp: UpnpConfig,
    /// Setup › Network › Advanced › NTP: time zone, manual time or NTP/NTS synchronisation.
    #[schemars(title = "NTP")]
    time: TimeConfig,
    /// Setup › Network › Advanced › SNMP: the SNMP agent, v3 recommended (paper §4.7).
    snmp: SnmpConfig,
    /// Setup › Network: "Easy IP Setup accommodate period", the WS-Discovery window (paper §4.5).
    #[schemars(title = "Easy IP Setup")]
    discovery: DiscoveryConfig,
    /// Setup › User mng. › IEEE 802.1X: port authentication to the switch (paper §3.6).
    #[schemars(title = "IEEE 802.1X")]
    dot1x: Dot1xConfig,
    /// Setup › Basic › Storage: finished recordings moved to an S3-compatible bucket (paper §3.8).
    #[schemars(title = "Storage")]
    storage: StorageConfig,
    /// Recorder mode: upstream RTSP cameras recorded and re-served by this device (paper §3.8, §3.9).
    #[schemars(title = "Cameras")]
    cameras: CamerasConfig,
}

impl Config {
    /// Parses and validates a stored or submitted document (full form, secrets in clear).
    pub fn from_value(value: &Value) -> Result<Config, Vec<FieldError>> {
        static SCHEMA: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
        let positional = shape::positional_structs(value, SCHEMA.get_or_init(Config::schema));
        if !positional.is_empty() {
            return Err(positional);
        }
        let config: Config =
            serde_path_to_error::deserialize(value).map_err(|e| vec![FieldError::from_serde(e)])?;
        let mut errors = Vec::new();
        config.validate("", &mut errors);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    /// The form for the database: every set [`Secret`] sealed with the device's secrets key
    /// (`{"sealed": "cw1:…"}`, bound to its JSON path), unset ones `null`. Nothing in it is clear.
    pub fn to_stored(&self, key: &SealKey) -> Value {
        secret::sealed_form(self, key)
    }

    /// The stored form with each set secret replaced by `seal(json_path, clear_value)`, for
    /// documents sealed under another key than the device's (a backup with a passphrase).
    pub fn to_sealed_by(&self, seal: &dyn Fn(&str, &str) -> Value) -> Value {
        secret::sealed_form_by(self, seal)
    }

    /// Reads a document written by [`to_stored`](Self::to_stored), or by a version that stored
    /// secrets in clear (then [`Stored::needs_reseal`] asks the caller to write it again sealed).
    /// A sealed value that does not open (another device's key, tampering) loads as unset and is
    /// named in [`Stored::unreadable`]; the rest of the document still loads.
    pub fn from_stored(value: &Value, key: &SealKey) -> Result<Stored, Vec<FieldError>> {
        let mut doc = value.clone();
        let found = secret::unseal(&mut doc, key);
        let config = Config::from_value(&doc)?;
        let needs_reseal = secret::count_set(&config) > found.opened;
        Ok(Stored {
            config,
            needs_reseal,
            unreadable: found.unreadable,
        })
    }

    /// Every secret in clear: what merge patches apply to. Stays in memory, in this crate.
    pub(crate) fn to_clear(&self) -> Value {
        secret::clear_form(self)
    }

    /// The JSON paths whose values differ from `self` to `new` (leaves, and arrays replaced as a
    /// whole), for the audit log. A changed secret is listed (its value is not).
    pub fn changed_paths(&self, new: &Config) -> Vec<String> {
        let mut out = Vec::new();
        diff_paths(&self.to_clear(), &new.to_clear(), "", &mut out);
        out
    }

    /// The form for `GET /api/v1/config`, the audit log and the console: every [`Secret`] shows as
    /// `{"set": bool}` — which is simply how secrets serialise, so this needs no knowledge of sections.
    pub fn redacted(&self) -> Value {
        serde_json::to_value(self).expect("configuration serialises to JSON")
    }

    /// Applies an RFC 7396 merge patch and validates the result as a whole; `self` never changes.
    /// A secret written back as `{"set": true}` (the redacted form) keeps its value;
    /// `{"set": false}` clears it.
    pub fn apply_merge_patch(&self, patch: &Value) -> Result<Config, Vec<FieldError>> {
        let mut patch = patch.clone();
        let mut doc = self.to_clear();
        secret::resolve_placeholders(&mut patch, &self.redacted(), &doc);
        merge_patch(&mut doc, &patch);
        Config::from_value(&doc)
    }

    /// Valid settings that weaken security, for the status page and the console.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut out = Vec::new();
        Validate::warnings(self, "", &mut out);
        // The FTP server's plain-FTP warning depends on `https.connection` (FTPS is then required),
        // which the section cannot see.
        self.ftp_server
            .plaintext_warning("ftp_server", self.https.enabled(), &mut out);
        // Which services UPnP forwards (and how exposed they are) also depends on the connection.
        self.upnp
            .exposure_warnings("upnp", self.https.enabled(), &mut out);
        out
    }

    /// The JSON Schema (draft 2020-12) of the document as `GET /api/v1/config` shows it and
    /// `PATCH` takes it: titles, descriptions, units, enums and ranges from this crate's types.
    pub fn schema() -> Value {
        let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        serde_json::to_value(generator.into_root_schema_for::<Config>())
            .expect("schema serialises to JSON")
    }
}

/// A configuration read from the database by [`Config::from_stored`].
#[derive(Debug)]
pub struct Stored {
    pub config: Config,
    /// Some secret was stored in clear (a database from before secrets were sealed): write the
    /// document again with [`Config::to_stored`].
    pub needs_reseal: bool,
    /// JSON paths of sealed secrets that did not open; they loaded as unset.
    pub unreadable: Vec<String>,
}

/// Collects the JSON paths whose values differ between two documents (leaves and replaced arrays).
fn diff_paths(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let path = join(at, k);
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => diff_paths(va, vb, &path, out),
                    _ => out.push(path),
                }
            }
        }
        _ if a != b => out.push(at.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
pub(crate) mod tests_util {
    use crate::{FieldError, Validate, Warning};

    pub fn errors_of(v: &impl Validate, at: &str) -> Vec<FieldError> {
        let mut out = Vec::new();
        v.validate(at, &mut out);
        out
    }

    pub fn warnings_of(v: &impl Validate, at: &str) -> Vec<Warning> {
        let mut out = Vec::new();
        v.warnings(at, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(65536), "64 KB");
        assert_eq!(human_bytes(256 * 1024 * 1024), "256 MB");
        assert_eq!(human_bytes(1536 * 1024 * 1024), "1.5 GB");
        assert_eq!(human_bytes(10), "10 bytes");
    }

    #[test]
    fn defaults_are_valid_and_closed() {
        let c = Config::default();
        assert!(Config::from_value(&c.to_clear()).is_ok());
        assert!(c.user_auth.enabled);
        assert_eq!(c.user_auth.method, AuthMethod::Digest);
        assert!(!c.user_auth.guest);
        assert!(!c.host_auth.enabled);
    }

    fn key() -> SealKey {
        SealKey::from_bytes(&SealKey::generate().unwrap()[..]).unwrap()
    }

    #[test]
    fn stored_form_round_trips_and_old_clear_documents_ask_to_be_sealed() {
        let k = key();
        let c = Config::default()
            .apply_merge_patch(&json!({"smtp": {"password": "SeCrEt-smtp-1"},
                                       "source": "rtsp://u:SeCrEt-rtsp-2@127.0.0.1/x"}))
            .unwrap();
        let stored = c.to_stored(&k);
        let text = stored.to_string();
        assert!(!text.contains("SeCrEt"), "{text}");
        let back = Config::from_stored(&stored, &k).unwrap();
        assert_eq!(back.config, c);
        assert!(!back.needs_reseal && back.unreadable.is_empty());
        // The form of a database written before sealing: the same shape, secrets in clear.
        let old = Config::from_stored(&c.to_clear(), &k).unwrap();
        assert_eq!(old.config, c);
        assert!(old.needs_reseal);
        // Another device's key: the secrets load as unset, the rest loads.
        let lost = Config::from_stored(&stored, &key()).unwrap();
        assert!(!lost.config.smtp.password.is_set());
        assert_eq!(lost.unreadable.len(), 2, "{:?}", lost.unreadable);
        assert!(!lost.needs_reseal);
    }

    #[test]
    fn changed_paths_name_a_changed_secret_without_its_value() {
        let a = Config::default();
        let b = a
            .apply_merge_patch(
                &json!({"smtp": {"password": "SeCrEt-smtp-1"}, "user_auth": {"guest": true}}),
            )
            .unwrap();
        assert_eq!(
            a.changed_paths(&b),
            vec!["smtp.password", "user_auth.guest"]
        );
        assert!(b.changed_paths(&b).is_empty());
    }

    #[test]
    fn a_sealed_object_in_a_patch_is_refused() {
        let e = Config::default()
            .apply_merge_patch(&json!({"smtp": {"password": {"sealed": "cw1:AAAA"}}}))
            .unwrap_err();
        assert_eq!(e[0].path, "smtp.password");
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
