//! `POST /api/v1/setup`: first-access registration of the administrator (paper §3.2).
//! The only endpoint that needs no credentials, and only until an administrator exists; it needs
//! the one-time setup code the camera shows on its console instead (camward-auth `setup_code`).

use super::types::{LevelName, NewAccount, SetupRequest};
use crate::WebState;
use crate::error::ApiError;
use crate::json::JsonBody;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use camward_store::Actor;
use std::net::SocketAddr;

pub(crate) async fn setup(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(req): JsonBody<SetupRequest>,
) -> Result<(StatusCode, Json<NewAccount>), ApiError> {
    let accounts = st.accounts.clone();
    let user = req.username.clone();
    tokio::task::spawn_blocking(move || {
        accounts.setup_admin(
            &req.username,
            &req.password,
            req.setup_code.as_deref(),
            peer.ip(),
            &Actor::remote(Some(&req.username), peer.ip()),
        )
    })
    .await??;
    Ok((
        StatusCode::CREATED,
        Json(NewAccount {
            username: user,
            level: LevelName::Admin,
        }),
    ))
}
