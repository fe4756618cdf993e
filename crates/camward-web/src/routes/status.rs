//! `GET /api/v1/status`: device status (version, uptime, serial), for every level.
//! Administrators also see the configuration warnings (weakened settings), the firmware slots,
//! the UPnP port forwarding state (paper §4.1) and the IEEE 802.1X port state (paper §3.6).
//! Every level sees the date and time: NTP sync state and offset, as the paper's Status page shows them.

use super::types::DeviceStatus;
use crate::WebState;
use crate::auth::Authed;
use axum::Json;
use axum::extract::State;
use camward_auth::Level;

pub(crate) async fn status(State(st): State<WebState>, p: Authed) -> Json<DeviceStatus> {
    let started_at = st
        .info
        .started_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let level = p.principal().level;
    Json(DeviceStatus {
        product: "camward".into(),
        version: st.info.version.clone(),
        serial: st.info.serial.clone(),
        uptime_secs: st.info.started.elapsed().as_secs(),
        started_at,
        user: p.principal().user.clone(),
        level: super::level_name(level),
        warnings: (level >= Level::Admin).then(|| st.config.current().warnings()),
        upnp: st
            .upnp
            .as_ref()
            .filter(|_| level >= Level::Admin)
            .map(|u| u.status()),
        time: st.time.as_ref().map(|t| t.status()),
        firmware: (level >= Level::Admin)
            .then(|| st.firmware.as_ref().map(|f| f.status()))
            .flatten(),
        dot1x: st
            .dot1x
            .as_ref()
            .filter(|_| level >= Level::Admin)
            .map(|d| d.status()),
    })
}
