//! `GET/POST /api/v1/users`, `PATCH/DELETE /api/v1/users/{name}`: account management (paper §3.2).
//! Administrators manage everyone; any user may change their own password.

use super::types::{LevelName, NewAccount, NewUser, UserInfo, UserList, UserPatch};
use super::{actor, level_name};
use crate::WebState;
use crate::auth::{Admin, Authed, Require};
use crate::error::ApiError;
use crate::json::JsonBody;
use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use camward_auth::Level;
use camward_config::FieldError;
use schemars::JsonSchema;
use serde::Deserialize;
use std::net::SocketAddr;

impl From<LevelName> for Level {
    fn from(l: LevelName) -> Level {
        match l {
            LevelName::Admin => Level::Admin,
            LevelName::Control => Level::Control,
            LevelName::Live => Level::Live,
        }
    }
}

/// The `{name}` path segment.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct UserName {
    /// The account's user name.
    name: String,
}

fn info(a: camward_store::AccountSummary) -> UserInfo {
    let level = match a.level.as_str() {
        "admin" => LevelName::Admin,
        "control" => LevelName::Control,
        _ => LevelName::Live,
    };
    UserInfo {
        username: a.username,
        level,
        created_at: a.created_at,
        password_changed_at: a.password_changed_at,
    }
}

pub(crate) async fn list(
    State(st): State<WebState>,
    _p: Require<Admin>,
) -> Result<Json<UserList>, ApiError> {
    let accounts = st.accounts.clone();
    let users = tokio::task::spawn_blocking(move || accounts.list_users()).await??;
    Ok(Json(UserList {
        users: users.into_iter().map(info).collect(),
    }))
}

pub(crate) async fn create(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    p: Require<Admin>,
    JsonBody(u): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<NewAccount>), ApiError> {
    let actor = actor(p.principal(), peer);
    let accounts = st.accounts.clone();
    let (name, level) = (u.username.clone(), Level::from(u.level));
    tokio::task::spawn_blocking(move || {
        accounts.create_user(&u.username, &u.password, level, &actor)
    })
    .await??;
    Ok((
        StatusCode::CREATED,
        Json(NewAccount {
            username: name,
            level: level_name(level),
        }),
    ))
}

pub(crate) async fn update(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(UserName { name }): Path<UserName>,
    p: Authed,
    JsonBody(u): JsonBody<UserPatch>,
) -> Result<Json<UserInfo>, ApiError> {
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
    users
        .into_iter()
        .find(|x| x.username == name)
        .map(|u| Json(info(u)))
        .ok_or_else(|| ApiError::not_found(format!("no account `{name}`")))
}

pub(crate) async fn delete(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(UserName { name }): Path<UserName>,
    p: Require<Admin>,
) -> Result<StatusCode, ApiError> {
    let actor = actor(p.principal(), peer);
    let accounts = st.accounts.clone();
    tokio::task::spawn_blocking(move || accounts.delete_user(&name, &actor)).await??;
    Ok(StatusCode::NO_CONTENT)
}
