//! `GET /api/v1/log`: the audit log, newest first, paginated by id (administrators only).
//! Query: `limit` (1–1000, default 100), `before` (an id: entries older than it).

use super::types::{LogEntry, LogPage, LogQuery};
use crate::WebState;
use crate::auth::{Admin, Require};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Query, State};

pub(crate) async fn log(
    State(st): State<WebState>,
    _p: Require<Admin>,
    q: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LogPage>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("query", e.body_text()))?;
    // Out of range is refused, as the document says, rather than silently clamped.
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "query",
            format!("limit {limit}: between 1 and 1000"),
        ));
    }
    let store = st.config.store().clone();
    let entries = tokio::task::spawn_blocking(move || store.audit_log(limit, q.before)).await??;
    let entries = entries
        .into_iter()
        .map(|e| LogEntry {
            id: e.id,
            time_ms: e.time_ms,
            kind: e.kind,
            actor: e.actor,
            address: e.address,
            target: e.target,
            detail: e.detail,
        })
        .collect();
    Ok(Json(LogPage { entries }))
}
