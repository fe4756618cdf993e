//! `GET/PATCH /api/v1/config`: the configuration document, redacted; RFC 7396 merge patches.
//! A patch that would make the host filter refuse the requester (paper §3.4) is refused with 409.
//! `GET /api/v1/config/schema`: the JSON Schema of the document, from camward-config's types.

use super::actor;
use crate::WebState;
use crate::auth::{Admin, Require};
use crate::error::ApiError;
use crate::json::JsonBody;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use camward_auth::host::HostFilter;
use camward_store::PatchError;
use serde_json::Value;
use std::net::SocketAddr;

pub(crate) async fn schema(_p: Require<Admin>) -> Json<Value> {
    Json(camward_config::Config::schema())
}

pub(crate) async fn get_config(State(st): State<WebState>, _p: Require<Admin>) -> Json<Value> {
    Json(view(&st, &st.config.current()))
}

/// The document as `GET /api/v1/config` shows `config`: redacted, with `warnings` and `certificate`.
pub(crate) fn view(st: &WebState, config: &camward_config::Config) -> Value {
    with_warnings(with_certificate(st, config.redacted()), config)
}

/// Adds the read-only `warnings` list (valid settings that weaken security, e.g. SMTP with SSL
/// off or plain FTP accepted). Not stored: PATCH ignores it like `certificate`.
fn with_warnings(mut doc: Value, config: &camward_config::Config) -> Value {
    if let Some(obj) = doc.as_object_mut() {
        obj.insert(
            "warnings".into(),
            serde_json::to_value(config.warnings()).unwrap_or_default(),
        );
    }
    doc
}

/// Adds the read-only `certificate` block (what the HTTPS listeners serve, with an expiry
/// `warning` within 30 days of notAfter). It is not part of the stored document: PATCH ignores it,
/// so a client can send back what it got.
fn with_certificate(st: &WebState, mut doc: Value) -> Value {
    if let (Some(id), Some(obj)) = (&st.identity, doc.as_object_mut()) {
        let info = id.info();
        obj.insert(
            "certificate".into(),
            super::certificate::describe(id, &info),
        );
    }
    doc
}

pub(crate) async fn patch_config(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    p: Require<Admin>,
    JsonBody(mut patch): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    if let Some(obj) = patch.as_object_mut() {
        obj.remove("certificate");
        obj.remove("warnings");
    }
    let actor = actor(p.principal(), peer);
    let config = st.config.clone();
    let result =
        tokio::task::spawn_blocking(move || config.patch_checked(&patch, &actor, admits(peer)))
            .await?;
    answer(&st, result)
}

/// The check of every change that may touch the host filter (paper §3.4): the new filter must
/// still admit the requester, or the change would lock them out of their own camera.
pub(crate) fn admits(
    peer: SocketAddr,
) -> impl FnOnce(&camward_config::Config, &camward_config::Config) -> Result<(), PatchError> {
    move |_old, new| {
        if HostFilter::from_config(&new.host_auth).allows(peer.ip()) {
            Ok(())
        } else {
            Err(PatchError::Refused {
                rule: "host_auth.self_lockout".into(),
                message: format!(
                    "this change would refuse your own address {}: add it (or its network) to the \
                     allowed addresses first; from the console, `camward host-auth reset` switches \
                     host authentication off",
                    peer.ip()
                ),
            })
        }
    }
}

/// The answer to a change of the whole document (a PATCH, a restore): the new document, or the
/// refusal — 422 with every field at fault, 409 when the host filter would refuse the requester.
pub(crate) fn answer(
    st: &WebState,
    result: Result<std::sync::Arc<camward_config::Config>, PatchError>,
) -> Result<Json<Value>, ApiError> {
    match result {
        Ok(new) => Ok(Json(view(st, &new))),
        Err(PatchError::Invalid(errors)) => Err(ApiError::invalid(errors)),
        Err(PatchError::Refused { rule, message }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "refused",
            message.clone(),
        )
        .field("host_auth.allow", &rule, message)),
        Err(PatchError::Store(e)) => Err(e.into()),
    }
}
