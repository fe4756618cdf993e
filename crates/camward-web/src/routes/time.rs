//! `GET /api/v1/time` (every level) and `PUT /api/v1/time` (administrators): the date and time of
//! the NTP tab (Setup › Network › Advanced › NTP). The settings themselves (mode, time zone,
//! servers) are the `time` section of `PATCH /api/v1/config`; this resource is the state and the
//! one action, "Manual setting" of the clock, which goes through camward-time's clock setter and
//! is refused while NTP owns the clock or where camward may not set it (not root, a container).

use super::actor;
use crate::WebState;
use crate::auth::{Admin, Live, Require};
use crate::error::ApiError;
use crate::json::JsonBody;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use camward_config::FieldError;
use camward_store::AuditEvent;
use camward_time::{ClockError, ManualError, TimeService, TimeStatus};
use schemars::JsonSchema;
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

/// `PUT /api/v1/time`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManualTime {
    /// The new UTC time, RFC 3339 (`2026-12-03T10:00:00Z`; an offset is converted to UTC).
    utc: String,
}

fn service(st: &WebState) -> Result<TimeService, ApiError> {
    st.time
        .clone()
        .ok_or_else(|| ApiError::not_found("this server has no time service"))
}

pub(crate) async fn get(
    State(st): State<WebState>,
    _: Require<Live>,
) -> Result<Json<TimeStatus>, ApiError> {
    Ok(Json(service(&st)?.status()))
}

pub(crate) async fn set(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    p: Require<Admin>,
    JsonBody(body): JsonBody<ManualTime>,
) -> Result<Json<TimeStatus>, ApiError> {
    let svc = service(&st)?;
    let invalid = |m: &str| ApiError::invalid(vec![FieldError::new("utc", "time.utc", m)]);
    let t = time::OffsetDateTime::parse(&body.utc, &time::format_description::well_known::Rfc3339)
        .map_err(|_| invalid("an RFC 3339 date and time like 2026-12-03T10:00:00Z"))?;
    let nanos = t.unix_timestamp_nanos();
    // 2000..2100: a camera clock outside it is a typing error, not a wish.
    if !(946_684_800_000_000_000..4_102_444_800_000_000_000).contains(&nanos) {
        return Err(invalid("between 2000-01-01 and 2099-12-31"));
    }
    let utc = UNIX_EPOCH + Duration::from_nanos(nanos as u64);
    let result = svc.set_manual(utc);
    let ev = AuditEvent::new("time.manual")
        .by(&actor(p.principal(), peer))
        .detail(serde_json::json!({
            "utc": camward_time::rfc3339(utc),
            "result": match &result { Ok(()) => "set".to_owned(), Err(e) => e.to_string() },
        }));
    if let Err(e) = st.config.store().audit(&ev) {
        tracing::error!(error = %e, "cannot write the audit log");
    }
    match result {
        Ok(()) => Ok(Json(svc.status())),
        Err(ManualError::NtpActive) => Err(ApiError::conflict(
            "ntp_active",
            "the time is synchronised with NTP; set time.mode to manual first",
        )),
        Err(ManualError::Clock(ClockError::NotPermitted(why))) => Err(ApiError::conflict(
            "not_permitted",
            format!("camward may not set the system clock here: {why}"),
        )),
        Err(ManualError::Clock(ClockError::Failed(e))) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "clock_failed",
            format!("setting the system clock failed: {e}"),
        )),
    }
}
