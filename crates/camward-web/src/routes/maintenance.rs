//! Setup › Maintenance (administrators only, every action audited):
//!
//! - `POST /api/v1/maintenance/restart`: the daemon restarts once the answer is sent.
//! - `POST /api/v1/maintenance/factory-reset`: every setting back to its default and every
//!   account deleted (the next visitor registers a new administrator, paper §3.2), recordings
//!   kept or wiped as asked; the device key and certificates stay (they are the camera's
//!   identity, §3.7). Applied while the daemon restarts.
//! - `POST /api/v1/config/backup`: the configuration as a file whose settings are readable and
//!   whose secrets stay encrypted (§3.2): sealed with a key derived from the device key (only this
//!   camera can restore them) or from a passphrase (any camera, given the passphrase).
//! - `POST /api/v1/config/restore`: such a file back, validated as a whole like any change.
//! - `GET /api/v1/logout`: always 401, without looking at credentials, so a browser forgets the
//!   ones it holds (no failed login is counted).

use super::actor;
use crate::WebState;
use crate::auth::{Admin, Require};
use crate::error::ApiError;
use crate::json::JsonBody;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use camward_auth::Protocol;
use camward_config::{Config, FieldError};
use camward_tls::seal::{self, SealKey};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::net::SocketAddr;

/// `format` of a backup file.
pub const BACKUP_FORMAT: &str = "camward-config-backup";
/// The purpose the device-derived backup key is made for.
const DEVICE_KEY_PURPOSE: &str = "camward config backup v1";
/// Sealed into every backup: opening it proves the key before any secret is tried.
const CHECK_TEXT: &[u8] = b"camward-config-backup";
const MIN_PASSPHRASE: usize = 8;

/// What the maintenance routes need from the daemon.
pub trait Maintenance: Send + Sync + 'static {
    /// Restarts the daemon soon (after the current answers are sent).
    fn restart(&self);
    /// Restarts the daemon with a factory reset applied while nothing runs.
    fn factory_reset(&self, wipe_recordings: bool);
}

fn maintenance(st: &WebState) -> Result<std::sync::Arc<dyn Maintenance>, ApiError> {
    st.maintenance
        .clone()
        .ok_or_else(|| ApiError::not_found("this server cannot restart itself"))
}

fn audit(st: &WebState, p: &Require<Admin>, peer: SocketAddr, kind: &str, detail: Value) {
    super::audit(st, p.principal(), peer, kind, detail);
}

/// The answer of a restart or reset.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Restarting {
    /// Seconds after which the camera usually answers again.
    pub expected_secs: u32,
    /// What happens, for people.
    pub message: String,
}

pub(crate) async fn restart(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    p: Require<Admin>,
) -> Result<(StatusCode, Json<Restarting>), ApiError> {
    let m = maintenance(&st)?;
    audit(&st, &p, peer, "maintenance.restart", json!({}));
    m.restart();
    Ok((
        StatusCode::ACCEPTED,
        Json(Restarting {
            expected_secs: 5,
            message: "the camera restarts; it answers again in a few seconds".into(),
        }),
    ))
}

/// What happens to the recordings on a factory reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingsChoice {
    Keep,
    Wipe,
}

/// `POST /api/v1/maintenance/factory-reset`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FactoryReset {
    /// Keep or wipe the recordings; there is no default, the user chooses.
    pub recordings: RecordingsChoice,
}

pub(crate) async fn factory_reset(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    p: Require<Admin>,
    JsonBody(body): JsonBody<FactoryReset>,
) -> Result<(StatusCode, Json<Restarting>), ApiError> {
    let m = maintenance(&st)?;
    let wipe = body.recordings == RecordingsChoice::Wipe;
    audit(
        &st,
        &p,
        peer,
        "maintenance.factory_reset",
        json!({"recordings": if wipe { "wipe" } else { "keep" }}),
    );
    m.factory_reset(wipe);
    Ok((
        StatusCode::ACCEPTED,
        Json(Restarting {
            expected_secs: 5,
            message: "the camera restarts with factory settings and no account: register a new administrator".into(),
        }),
    ))
}

/// How the secrets of a backup are sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackupKey {
    /// A key derived from the device key: only a camera with the same identity can restore.
    Device,
    /// A key from a passphrase (argon2id with these costs and salt).
    Passphrase {
        /// Base64.
        salt: String,
        m_kib: u32,
        t: u32,
        p: u32,
    },
}

/// A configuration backup file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupFile {
    /// Always `camward-config-backup`.
    pub format: String,
    /// 1.
    pub version: u32,
    /// RFC 3339.
    pub created: String,
    /// The camera it was made on.
    pub device_serial: Option<String>,
    /// The software version it was made with.
    pub software: String,
    pub key: BackupKey,
    /// A known text sealed with the key: tells a wrong key from damaged secrets.
    pub check: String,
    /// The configuration; every set secret is `{"sealed": "…"}` (AES-256-GCM, bound to its
    /// path), an unset one `null`.
    pub config: Value,
}

/// `POST /api/v1/config/backup` (the body is optional).
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// Seal the secrets with this passphrase (at least 8 characters) instead of the device key,
    /// so that another camera can restore them.
    pub passphrase: Option<String>,
}

/// `POST /api/v1/config/restore`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    pub backup: BackupFile,
    /// Needed when the backup was sealed with a passphrase.
    pub passphrase: Option<String>,
}

/// The value at a dotted path (`[i]` for array items), as `find_sealed` names them.
fn at_path<'a>(doc: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut v = doc;
    for part in path.split('.') {
        let (name, idx) = match part.find('[') {
            Some(i) => (&part[..i], Some(&part[i..])),
            None => (part, None),
        };
        v = v.get_mut(name)?;
        for ix in idx
            .into_iter()
            .flat_map(|s| s.split(['[', ']']).filter(|x| !x.is_empty()))
        {
            v = v.get_mut(ix.parse::<usize>().ok()?)?;
        }
    }
    Some(v)
}

fn now_rfc3339() -> String {
    super::device::rfc3339(std::time::SystemTime::now())
}

fn key_for(st: &WebState, key: &BackupKey, passphrase: Option<&str>) -> Result<SealKey, ApiError> {
    match key {
        BackupKey::Device => {
            let id = st
                .identity
                .as_ref()
                .ok_or_else(|| ApiError::not_found("this server has no device identity"))?;
            Ok(id.derive_key(DEVICE_KEY_PURPOSE))
        }
        BackupKey::Passphrase { salt, m_kib, t, p } => {
            let Some(pass) = passphrase.filter(|p| !p.is_empty()) else {
                return Err(ApiError::invalid(vec![FieldError::new(
                    "passphrase",
                    "backup.passphrase.required",
                    "this backup was saved with a passphrase: enter it to restore",
                )]));
            };
            // Bound what a crafted file can make the camera compute.
            if *m_kib > 262_144 || *t > 10 || *p > 4 {
                return Err(ApiError::invalid(vec![FieldError::new(
                    "backup.key",
                    "backup.key.cost",
                    "the backup asks for a passphrase cost this camera does not accept",
                )]));
            }
            let salt = seal::unb64(salt).map_err(|_| {
                ApiError::invalid(vec![FieldError::new(
                    "backup.key.salt",
                    "backup.damaged",
                    "the backup file is damaged",
                )])
            })?;
            seal::passphrase_key(pass, &salt, *m_kib, *t, *p).map_err(ApiError::internal)
        }
    }
}

pub(crate) async fn backup(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    p: Require<Admin>,
    body: bytes::Bytes,
) -> Result<BackupDownload, ApiError> {
    // The body is optional: an empty POST seals with the device key.
    let req: BackupRequest = if body.iter().all(u8::is_ascii_whitespace) {
        BackupRequest::default()
    } else {
        let de = &mut serde_json::Deserializer::from_slice(&body);
        serde_path_to_error::deserialize(de)
            .map_err(|e| ApiError::invalid(vec![FieldError::from_serde(e)]))?
    };
    let passphrase = req.passphrase.filter(|p| !p.is_empty());
    if let Some(pass) = &passphrase
        && pass.chars().count() < MIN_PASSPHRASE
    {
        return Err(ApiError::invalid(vec![FieldError::new(
            "passphrase",
            "backup.passphrase.length",
            format!("a passphrase of at least {MIN_PASSPHRASE} characters"),
        )]));
    }
    let st2 = st.clone();
    let file = tokio::task::spawn_blocking(move || -> Result<BackupFile, ApiError> {
        let key_desc = match &passphrase {
            None => BackupKey::Device,
            Some(_) => BackupKey::Passphrase {
                salt: seal::b64(&seal::random_bytes(16)),
                m_kib: seal::PASSPHRASE_M_KIB,
                t: seal::PASSPHRASE_T,
                p: seal::PASSPHRASE_P,
            },
        };
        let key = key_for(&st2, &key_desc, passphrase.as_deref())?;
        let config = st2.config.current();
        let doc = config.to_sealed_by(
            &|path, clear| json!({"sealed": seal::seal(&key, path, clear.as_bytes())}),
        );
        Ok(BackupFile {
            format: BACKUP_FORMAT.into(),
            version: 1,
            created: now_rfc3339(),
            device_serial: st2.info.serial.clone(),
            software: st2.info.version.clone(),
            check: seal::seal(&key, "check", CHECK_TEXT),
            key: key_desc,
            config: doc,
        })
    })
    .await??;
    audit(
        &st,
        &p,
        peer,
        "config.backup",
        json!({"sealed_with": match file.key { BackupKey::Device => "device", BackupKey::Passphrase { .. } => "passphrase" }}),
    );
    let serial = file
        .device_serial
        .clone()
        .unwrap_or_else(|| "camward".into());
    let day: String = file.created.chars().take(10).collect();
    Ok(BackupDownload {
        name: format!("{serial}-settings-{day}.json"),
        file,
    })
}

/// A backup sent as an attachment.
pub(crate) struct BackupDownload {
    name: String,
    file: BackupFile,
}

impl IntoResponse for BackupDownload {
    fn into_response(self) -> Response {
        let mut r = Json(self.file).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", self.name)) {
            r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
        r
    }
}

impl aide::OperationOutput for BackupDownload {
    type Inner = BackupFile;
    fn operation_response(
        ctx: &mut aide::generate::GenContext,
        op: &mut aide::openapi::Operation,
    ) -> Option<aide::openapi::Response> {
        let mut r = Json::<BackupFile>::operation_response(ctx, op)?;
        r.description = "the backup file, as an attachment".into();
        Some(r)
    }
    fn inferred_responses(
        ctx: &mut aide::generate::GenContext,
        op: &mut aide::openapi::Operation,
    ) -> Vec<(Option<aide::openapi::StatusCode>, aide::openapi::Response)> {
        super::media::as_200(Self::operation_response(ctx, op))
    }
}

fn damaged(path: &str) -> ApiError {
    ApiError::invalid(vec![FieldError::new(
        path,
        "backup.damaged",
        "the backup file is damaged: a sealed setting cannot be opened",
    )])
}

pub(crate) async fn restore(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    p: Require<Admin>,
    JsonBody(req): JsonBody<RestoreRequest>,
) -> Result<Json<Value>, ApiError> {
    let b = req.backup;
    if b.format != BACKUP_FORMAT || b.version != 1 {
        return Err(ApiError::invalid(vec![FieldError::new(
            "backup.format",
            "backup.format",
            "this file is not a camward settings backup (or one of a newer version)",
        )]));
    }
    let actor = actor(p.principal(), peer);
    let st2 = st.clone();
    let passphrase = req.passphrase;
    let result = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let key = key_for(&st2, &b.key, passphrase.as_deref())?;
        if seal::open(&key, "check", &b.check).ok().as_deref() != Some(CHECK_TEXT) {
            let (path, message) = match b.key {
                BackupKey::Device => (
                    "backup",
                    "this backup was saved on another camera: its passwords can only be restored there, \
                     or from a backup saved with a passphrase",
                ),
                BackupKey::Passphrase { .. } => ("passphrase", "the passphrase is not the one the backup was saved with"),
            };
            return Err(ApiError::invalid(vec![FieldError::new(path, "backup.key", message)]));
        }
        let mut doc = b.config;
        if !doc.is_object() {
            return Err(damaged("backup.config"));
        }
        // Every `{"sealed": …}` object is a secret: open it in place.
        let mut sealed = Vec::new();
        find_sealed(&doc, "", &mut sealed);
        for path in sealed {
            let v = at_path(&mut doc, &path).ok_or_else(|| damaged(&path))?;
            let text = v["sealed"].as_str().ok_or_else(|| damaged(&path))?;
            let plain = seal::open(&key, &path, text).map_err(|_| damaged(&path))?;
            *v = Value::String(String::from_utf8(plain).map_err(|_| damaged(&path))?);
        }
        Config::from_value(&doc).map_err(ApiError::invalid)?;
        // The backup replaces every section: a section it lacks returns to its default.
        let current = st2.config.current().redacted();
        let mut patch = serde_json::Map::new();
        for k in current.as_object().into_iter().flatten().map(|(k, _)| k) {
            patch.insert(k.clone(), doc.get(k).cloned().unwrap_or(Value::Null));
        }
        let patch = Value::Object(patch);
        let out = st2
            .config
            .patch_checked(&patch, &actor, super::config::admits(peer));
        Ok((out, b.device_serial, b.created))
    })
    .await??;
    let (out, from_serial, created) = result;
    if out.is_ok() {
        audit(
            &st,
            &p,
            peer,
            "config.restore",
            json!({"from_device": from_serial, "created": created}),
        );
    }
    super::config::answer(&st, out)
}

fn find_sealed(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if o.len() == 1 && o.get("sealed").is_some_and(Value::is_string) {
                out.push(at.to_owned());
                return;
            }
            for (k, x) in o {
                find_sealed(x, &camward_config::join(at, k), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                find_sealed(x, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

pub(crate) async fn logout(State(st): State<WebState>) -> ApiError {
    ApiError::unauthorized(
        "logged_out",
        "logged out: the browser forgets its credentials for this camera",
        st.gate.challenge(Protocol::Http),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_are_found_where_the_config_puts_secrets() {
        let stored = json!({"smtp": {"password": "pw", "port": 25}, "list": [{"password": "x"}]});
        let mut doc = stored.clone();
        *at_path(&mut doc, "list[0].password").unwrap() = json!({"sealed": "s"});
        let mut found = Vec::new();
        find_sealed(&doc, "", &mut found);
        assert_eq!(found, ["list[0].password"]);
    }
}
