//! `GET /api/v1/status`: device status (version, uptime, serial), for every level.
//! Administrators also see the configuration warnings (weakened settings).

use crate::WebState;
use crate::auth::Authed;
use axum::Json;
use axum::extract::State;
use camward_auth::Level;
use serde_json::{Value, json};

pub(crate) async fn status(State(st): State<WebState>, p: Authed) -> Json<Value> {
    let started_at = st
        .info
        .started_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut v = json!({
        "product": "camward",
        "version": st.info.version,
        "serial": st.info.serial,
        "uptime_secs": st.info.started.elapsed().as_secs(),
        "started_at": started_at,
        "user": p.principal().user,
        "level": p.principal().level.as_str(),
    });
    if p.principal().level >= Level::Admin {
        v["warnings"] = json!(st.config.current().warnings());
    }
    Json(v)
}
