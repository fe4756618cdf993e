//! The JSON bodies of the foundation routes (setup, users, status, log, certificate, config), as
//! types: handlers build them and the OpenAPI document describes them from the same definitions.

use camward_config::{Config, Warning};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;

/// Access levels: `admin` (1. Administrator) ⊇ `control` (2. Camera control) ⊇ `live` (3. Live only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LevelName {
    Admin,
    Control,
    Live,
}

/// `POST /api/v1/setup`: the first administrator (paper §3.2: no default account).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// 1–32 printable ASCII characters, none of `" & ; \ :`.
    pub username: String,
    /// 8–32 printable ASCII characters of at least two classes, none of `" &`.
    pub password: String,
    /// The one-time setup code the camera prints on its console at start and keeps in the file
    /// `setup-code` of its data directory (`XXXX-XXXX-XXXX`; case, dashes and spaces are
    /// ignored). Required while no administrator exists; a wrong one counts as a failed login.
    #[schemars(length(max = 64))]
    pub setup_code: Option<String>,
}

/// An account as created or registered.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct NewAccount {
    pub username: String,
    pub level: LevelName,
}

/// `POST /api/v1/users`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1–32 printable ASCII characters, none of `" & ; \ :`.
    pub username: String,
    /// 8–32 printable ASCII characters of at least two classes, none of `" &`.
    pub password: String,
    pub level: LevelName,
}

/// `PATCH /api/v1/users/{name}`: `password` and/or `level`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    pub password: Option<String>,
    /// Administrators only.
    #[serde(default)]
    pub level: Option<LevelName>,
}

/// An account as listed: never a secret.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct UserInfo {
    pub username: String,
    pub level: LevelName,
    /// Seconds since 1970.
    pub created_at: i64,
    /// Seconds since 1970.
    pub password_changed_at: i64,
}

/// `GET /api/v1/users`.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct UserList {
    pub users: Vec<UserInfo>,
}

/// `GET /api/v1/status`.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct DeviceStatus {
    /// Always `camward`.
    pub product: String,
    pub version: String,
    /// From `DATA/serial`, the board's device tree, or the device identity (as in its certificate).
    pub serial: Option<String>,
    pub uptime_secs: u64,
    /// Seconds since 1970.
    pub started_at: u64,
    /// `null` for a guest.
    pub user: Option<String>,
    pub level: LevelName,
    /// Settings that weaken security; administrators only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Warning>>,
    /// UPnP auto port forwarding (paper §4.1): gateway, external address, mappings; administrators only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upnp: Option<super::upnp::UpnpStatus>,
    /// Date and time: NTP sync state and offset (as `GET /api/v1/time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<camward_time::TimeStatus>,
    /// Both firmware slots, the anti-rollback floor and the trusted keys (paper §3.11);
    /// administrators only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<super::firmware::FirmwareStatus>,
    /// The IEEE 802.1X port state (paper §3.6); administrators only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dot1x: Option<super::dot1x::Dot1xStatus>,
}

/// One audit log entry. Passwords never appear.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct LogEntry {
    pub id: i64,
    /// Milliseconds since 1970.
    pub time_ms: i64,
    /// `setup`, `login.ok` (once per login session), `login.fail`, `config.change`, `alarm`,
    /// `certificate.install`, `maintenance.restart`, …
    pub kind: String,
    pub actor: Option<String>,
    pub address: Option<String>,
    pub target: Option<String>,
    /// Kind-specific details (`config.change`: `changed`, path → new redacted value).
    pub detail: Value,
}

/// `GET /api/v1/log`.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct LogPage {
    pub entries: Vec<LogEntry>,
    /// The `before` of the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// `GET /api/v1/log` query.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// 1–1000, default 100.
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// An entry id: entries older than it.
    pub before: Option<i64>,
    /// Comma-separated kind prefixes (`login` selects `login.ok`, `login.fail`, …).
    pub kind: Option<String>,
    /// Exact user name.
    pub actor: Option<String>,
    /// RFC 3339; entries at or after it.
    #[schemars(extend("format" = "date-time"))]
    pub from: Option<String>,
    /// RFC 3339; entries before it.
    #[schemars(extend("format" = "date-time"))]
    pub to: Option<String>,
}

/// Whether a certificate is CA-issued or self-signed.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertKindName {
    SelfSigned,
    CaIssued,
}

/// The served device certificate (paper §3.7).
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Certificate {
    pub subject: String,
    pub issuer: String,
    /// Uppercase hex, as `openssl x509 -serial`.
    pub serial_number: String,
    /// RFC 3339.
    pub not_before: String,
    /// RFC 3339.
    pub not_after: String,
    /// As `openssl x509 -fingerprint -sha256`.
    pub fingerprint_sha256: String,
    pub sans: Vec<String>,
    pub kind: CertKindName,
    pub days_left: i64,
    pub expiring_soon: bool,
    pub expired: bool,
    pub device_serial: String,
    /// What to do, when the certificate expires within 30 days or has expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// `POST /api/v1/certificate/self-signed` only: the kind now served (a CA-issued chain keeps precedence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served: Option<CertKindName>,
}

/// `POST /api/v1/certificate/csr` (the body is optional).
#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsrRequest {
    /// Common name; default `camward-<serial>`.
    pub cn: Option<String>,
    /// Host names or IP addresses; default the CN.
    #[serde(default)]
    pub sans: Vec<String>,
}

/// `PUT /api/v1/certificate` as JSON (a PEM text body is accepted too).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PemBody {
    /// The chain, leaf first.
    pub pem: String,
}

/// `GET /api/v1/config`: the configuration, secrets shown as `{"set": bool}`, with the read-only
/// `warnings` and `certificate` (both ignored when sent back).
pub struct ConfigView;

impl JsonSchema for ConfigView {
    fn schema_name() -> Cow<'static, str> {
        "ConfigView".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = <Config as JsonSchema>::json_schema(generator);
        let warnings = generator.subschema_for::<Vec<Warning>>();
        let certificate = generator.subschema_for::<Certificate>();
        if let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
            props.insert("warnings".into(), warnings.to_value());
            props.insert("certificate".into(), certificate.to_value());
        }
        schema
    }
}

/// `PATCH /api/v1/config`: an RFC 7396 merge patch of the document `GET /api/v1/config/schema`
/// describes (`null` restores a default; a secret sent back as `{"set": true}` keeps its value).
pub struct ConfigPatch;

impl JsonSchema for ConfigPatch {
    fn schema_name() -> Cow<'static, str> {
        "ConfigPatch".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "RFC 7396 merge patch of the configuration (see GET /api/v1/config/schema)"
        })
    }
}

/// A JSON document described elsewhere: the configuration's JSON Schema, this OpenAPI document.
pub struct JsonDocument;

impl JsonSchema for JsonDocument {
    fn schema_name() -> Cow<'static, str> {
        "JsonDocument".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "a JSON Schema (draft 2020-12) or an OpenAPI 3.1 document"
        })
    }
}
