//! `GET/PATCH /api/v1/config`: the configuration document, redacted; RFC 7396 merge patches.
//! A patch that would make the host filter refuse the requester (paper §3.4) is refused with 409;
//! one switching on IEEE 802.1X where the device cannot run it (§3.6) with 422.
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
    let current = st.config.current();
    Json(with_warnings(
        with_certificate(&st, current.redacted()),
        &current,
    ))
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
    let dot1x = st.dot1x.clone();
    let result = tokio::task::spawn_blocking(move || {
        config.patch_checked(&patch, &actor, |old, new| {
            // Only the device knows whether wpa_supplicant and the interface exist (paper §3.6):
            // checked when 802.1X is switched on or changed while on, never for other sections.
            if let Some(d) = &dot1x
                && new.dot1x.enabled
                && new.dot1x != old.dot1x
            {
                let errors = d.preflight(&new.dot1x);
                if !errors.is_empty() {
                    return Err(PatchError::Invalid(errors));
                }
            }
            if HostFilter::from_config(&new.host_auth).allows(peer.ip()) {
                Ok(())
            } else {
                Err(PatchError::Refused {
                    rule: "host_auth.self_lockout".into(),
                    message: format!(
                        "this change would refuse your own address {}: add it (or its network) to host_auth.allow first; \
                         from the console, `camward host-auth reset` switches host authentication off",
                        peer.ip()
                    ),
                })
            }
        })
    })
    .await?;
    match result {
        Ok(new) => Ok(Json(with_warnings(
            with_certificate(&st, new.redacted()),
            &new,
        ))),
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
