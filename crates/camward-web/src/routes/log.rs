//! `GET /api/v1/log`: the audit log, newest first, paginated by id (administrators only).
//! Query: `limit` (1–1000, default 100), `before` (an id: entries older than it).

use crate::WebState;
use crate::auth::{Admin, Require};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogQuery {
    limit: Option<u32>,
    before: Option<i64>,
}

pub(crate) async fn log(
    State(st): State<WebState>,
    _p: Require<Admin>,
    q: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("query", e.body_text()))?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let store = st.config.store().clone();
    let entries = tokio::task::spawn_blocking(move || store.audit_log(limit, q.before)).await??;
    Ok(Json(json!({ "entries": entries })))
}
