//! `GET /api/v1/audit`: the security audit of the live configuration (administrators only), the
//! same report as `camward audit --json`: every caution of the paper (§3.2–§3.9, §4) that applies
//! now, with its severity, why it matters and the setting that fixes it. [`report`] is shared with
//! the console, so both always agree.

use crate::WebState;
use crate::auth::{Admin, Require};
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use camward_config::Config;
use camward_config::audit::{AccountFacts, CertificateFacts, Facts, ObjectStoreFacts, Report};
use camward_store::{Store, StoreError};
use camward_tls::{CertKind, DeviceIdentity};

/// The facts of this device the audit needs beyond its configuration: when each password was
/// set, and the served certificate (`None` before the identity exists).
pub fn facts(store: &Store, identity: Option<&DeviceIdentity>) -> Result<Facts, StoreError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let accounts = store
        .list_accounts()?
        .into_iter()
        .map(|a| AccountFacts {
            name: a.username,
            password_changed_at: a.password_changed_at,
        })
        .collect();
    let certificate = identity.map(|id| {
        let info = id.info();
        CertificateFacts {
            self_signed: info.kind == CertKind::SelfSigned,
            days_left: info.days_left,
            not_after: info.not_after,
        }
    });
    Ok(Facts {
        now,
        certificate,
        accounts,
        object_store: None,
    })
}

/// The audit report of `config` on this device.
pub fn report(
    config: &Config,
    store: &Store,
    identity: Option<&DeviceIdentity>,
) -> Result<Report, StoreError> {
    Ok(config.audit(&facts(store, identity)?))
}

pub(crate) async fn audit(
    State(st): State<WebState>,
    _p: Require<Admin>,
) -> Result<Json<Report>, ApiError> {
    let config = st.config.current();
    let store = st.config.store().clone();
    let identity = st.identity.clone();
    let device = st.device.clone();
    let r = tokio::task::spawn_blocking(move || {
        let mut facts = facts(&store, identity.as_deref())?;
        // The running uploader (the console's audit cannot know it).
        facts.object_store = device
            .and_then(|d| d.storage())
            .and_then(|s| s.object_store)
            .map(|o| ObjectStoreFacts {
                waiting: o.waiting,
                card_full: o.card_full,
                rejected: o.state == "rejected",
            });
        Ok::<_, StoreError>(config.audit(&facts))
    })
    .await??;
    Ok(Json(r))
}
