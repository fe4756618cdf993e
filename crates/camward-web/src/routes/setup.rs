//! `POST /api/v1/setup`: first-access registration of the administrator (paper §3.2).
//! The only endpoint that needs no credentials, and only until an administrator exists.

use crate::WebState;
use crate::error::ApiError;
use crate::json::JsonBody;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use camward_store::Actor;
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetupRequest {
    username: String,
    password: String,
}

pub(crate) async fn setup(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(req): JsonBody<SetupRequest>,
) -> Result<Response, ApiError> {
    let accounts = st.accounts.clone();
    let user = req.username.clone();
    tokio::task::spawn_blocking(move || {
        accounts.setup_admin(
            &req.username,
            &req.password,
            &Actor::remote(Some(&req.username), peer.ip()),
        )
    })
    .await??;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "username": user, "level": "admin" })),
    )
        .into_response())
}
