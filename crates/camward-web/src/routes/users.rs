//! `GET/POST /api/v1/users`, `PATCH/DELETE /api/v1/users/{name}`: account management.
//! Administrators manage everyone; any user may change their own password.

use super::actor;
use crate::WebState;
use crate::auth::{Admin, Authed, Require};
use crate::error::ApiError;
use crate::json::JsonBody;
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use camward_auth::Level;
use camward_config::FieldError;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LevelName {
    Admin,
    Control,
    Live,
}

impl From<LevelName> for Level {
    fn from(l: LevelName) -> Level {
        match l {
            LevelName::Admin => Level::Admin,
            LevelName::Control => Level::Control,
            LevelName::Live => Level::Live,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    username: String,
    password: String,
    level: LevelName,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserPatch {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    level: Option<LevelName>,
}

pub(crate) async fn list(
    State(st): State<WebState>,
    _p: Require<Admin>,
) -> Result<Json<Value>, ApiError> {
    let accounts = st.accounts.clone();
    let users = tokio::task::spawn_blocking(move || accounts.list_users()).await??;
    Ok(Json(json!({ "users": users })))
}

pub(crate) async fn create(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    p: Require<Admin>,
    JsonBody(u): JsonBody<NewUser>,
) -> Result<Response, ApiError> {
    let actor = actor(p.principal(), peer);
    let accounts = st.accounts.clone();
    let (name, level) = (u.username.clone(), Level::from(u.level));
    tokio::task::spawn_blocking(move || {
        accounts.create_user(&u.username, &u.password, level, &actor)
    })
    .await??;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "username": name, "level": level.as_str() })),
    )
        .into_response())
}

pub(crate) async fn update(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    p: Authed,
    JsonBody(u): JsonBody<UserPatch>,
) -> Result<Json<Value>, ApiError> {
    let principal = p.principal().clone();
    let own = principal.user.as_deref() == Some(name.as_str());
    if principal.level < Level::Admin && !(own && u.level.is_none()) {
        return Err(ApiError::forbidden(
            "only an administrator may change other accounts or access levels",
        ));
    }
    if principal.user.is_none() {
        return Err(ApiError::forbidden("guests have no account to change"));
    }
    if u.password.is_none() && u.level.is_none() {
        return Err(ApiError::invalid(vec![FieldError::new(
            "",
            "empty",
            "give `password` and/or `level`",
        )]));
    }
    let actor = actor(&principal, peer);
    let accounts = st.accounts.clone();
    let level = u.level.map(Level::from);
    let n = name.clone();
    tokio::task::spawn_blocking(move || {
        accounts.update_user(&n, u.password.as_deref(), level, &actor)
    })
    .await??;
    let users = st.accounts.list_users()?;
    let user = users.into_iter().find(|x| x.username == name);
    Ok(Json(json!(user)))
}

pub(crate) async fn delete(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    p: Require<Admin>,
) -> Result<StatusCode, ApiError> {
    let actor = actor(p.principal(), peer);
    let accounts = st.accounts.clone();
    tokio::task::spawn_blocking(move || accounts.delete_user(&name, &actor)).await??;
    Ok(StatusCode::NO_CONTENT)
}
