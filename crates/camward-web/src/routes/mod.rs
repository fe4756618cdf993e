//! The `/api/v1` endpoints of the foundation: setup, config, users, log, status.
//! Each handler states its level through its extractor; docs/api.md describes them.

pub(crate) mod certificate;
mod config;
mod log;
mod setup;
mod status;
mod users;

use crate::WebState;
use crate::auth::Authed;
use crate::error::ApiError;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post};
use camward_store::Actor;

pub(crate) fn router(state: WebState) -> Router {
    Router::new()
        .route("/api/v1/setup", post(setup::setup))
        .route(
            "/api/v1/config",
            get(config::get_config).patch(config::patch_config),
        )
        .route("/api/v1/users", get(users::list).post(users::create))
        .route(
            "/api/v1/users/{name}",
            patch(users::update).delete(users::delete),
        )
        .route(
            "/api/v1/certificate",
            get(certificate::get)
                .put(certificate::install)
                .delete(certificate::delete),
        )
        .route(
            "/api/v1/certificate/self-signed",
            post(certificate::self_signed),
        )
        .route("/api/v1/certificate/csr", post(certificate::csr))
        .route("/api/v1/certificate/chain.pem", get(certificate::chain_pem))
        .route("/api/v1/log", get(log::log))
        .route("/api/v1/status", get(status::status))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(crate::BODY_LIMIT))
        .with_state(state)
}

/// Unknown paths still need credentials: an unauthenticated client learns nothing about what exists.
async fn not_found(_p: Authed) -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// The audit actor for a request.
pub(crate) fn actor(p: &camward_auth::Principal, peer: std::net::SocketAddr) -> Actor {
    Actor::remote(p.user.as_deref(), peer.ip())
}
