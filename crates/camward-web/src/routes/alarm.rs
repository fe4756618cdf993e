//! `POST /api/v1/alarm` (the command alarm, level control), `GET /api/v1/alarm` (the Live page's
//! indicator) and `GET /api/v1/alarm/log` (recent alarms). The alarm bus is reached through an
//! [`AlarmControl`] handle the daemon fills in with camward-alarm's hub.

use crate::WebState;
use crate::auth::{Control, Live, Require};
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use bytes::Bytes;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One alarm as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlarmInfo {
    /// Counts up from 1 since the daemon started.
    pub id: u64,
    /// `command`, `terminal1`…`terminal3` or `vmdN` (N = area, 1-based).
    pub source: String,
    /// The trigger name of the settings (`vmd` for every area).
    pub trigger: String,
    /// A sentence for people.
    pub description: String,
    /// RFC 3339 UTC with milliseconds.
    pub time: String,
    /// Seconds since 1970.
    pub unix_time: u64,
}

/// `GET /api/v1/alarm`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlarmStatus {
    /// True for 10 s after an alarm.
    pub active: bool,
    /// The most recent alarm since the daemon started; absent when there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<AlarmInfo>,
}

/// `GET /api/v1/alarm/log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlarmLog {
    /// Newest first, the last 100 since start.
    pub alarms: Vec<AlarmInfo>,
}

/// What the alarm routes need from the alarm bus.
pub trait AlarmControl: Send + Sync + 'static {
    /// Raises the command alarm; `Err` 409 `alarm.command.disabled` while it is off.
    fn command(&self) -> Result<AlarmInfo, ApiError>;
    fn status(&self) -> AlarmStatus;
    fn recent(&self) -> Vec<AlarmInfo>;
}

/// The optional body of `POST /api/v1/alarm`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct CommandBody {
    /// Only `command` can be raised through the API (`audio`: 409, this device has no audio).
    #[schemars(with = "Option<String>")]
    source: Option<serde_json::Value>,
}

fn alarms(st: &WebState) -> Result<Arc<dyn AlarmControl>, ApiError> {
    st.alarm
        .clone()
        .ok_or_else(|| ApiError::not_found("this server has no alarm service"))
}

fn refused(status: StatusCode, rule: &'static str, message: &str) -> ApiError {
    ApiError::new(status, rule, message).field("source", rule, message)
}

pub(crate) async fn command(
    State(st): State<WebState>,
    _: Require<Control>,
    body: Bytes,
) -> Result<(StatusCode, Json<AlarmInfo>), ApiError> {
    if !body.iter().all(u8::is_ascii_whitespace) {
        let parsed = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .filter(serde_json::Value::is_object)
            .and_then(|v| serde_json::from_value::<CommandBody>(v).ok());
        let source = match parsed {
            Some(b) => b.source,
            None => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "json",
                    "the body must be a JSON object",
                )
                .field("", "json", "the body must be a JSON object"));
            }
        };
        match source.as_ref().and_then(|s| s.as_str()) {
            None if source.is_none() => {}
            Some("command") => {}
            Some("audio") => {
                return Err(refused(
                    StatusCode::CONFLICT,
                    "alarm.audio.unavailable",
                    "audio detection is unavailable: this device has no audio source",
                ));
            }
            _ => {
                return Err(refused(
                    StatusCode::BAD_REQUEST,
                    "alarm.source",
                    "source: only \"command\" can be raised through the API",
                ));
            }
        }
    }
    let ev = alarms(&st)?.command()?;
    Ok((StatusCode::ACCEPTED, Json(ev)))
}

pub(crate) async fn status(
    State(st): State<WebState>,
    _: Require<Live>,
) -> Result<Json<AlarmStatus>, ApiError> {
    Ok(Json(alarms(&st)?.status()))
}

pub(crate) async fn recent(
    State(st): State<WebState>,
    _: Require<Live>,
) -> Result<Json<AlarmLog>, ApiError> {
    Ok(Json(AlarmLog {
        alarms: alarms(&st)?.recent(),
    }))
}
