//! camward's HTTP JSON API (axum on hyper 1) and the accept loop every HTTP listener uses:
//! every `/api/v1` route (one module per resource in `routes`), one error shape ([`ApiError`]),
//! the OpenAPI 3.1 document generated from the routes, host filter on accept (paper §3.4), Digest
//! via the shared `Gate` (§3.3), security headers, and HTTPS redirect/HSTS (§3.7).
//!
//! Feature services reach the routes through small handles the daemon fills in ([`LiveMedia`],
//! [`Recordings`], [`AlarmControl`], [`Firmware`]): this crate builds neither the media pipeline nor the recorder.
#![forbid(unsafe_code)]

pub mod auth;
mod csrf;
pub mod error;
mod front;
pub mod https;
pub mod json;
mod routes;
mod serve;
#[cfg(test)]
mod tests;

pub use auth::{Admin, AuthContext, Authed, Control, Live, MinLevel, Require, authorize, require};
pub use error::{ApiError, ErrorBody};
pub use json::JsonBody;
pub use routes::alarm::{AlarmControl, AlarmInfo, AlarmStatus};
pub use routes::audit;
pub use routes::cameras::{CameraAccess, CameraStatus, CameraView, Cameras};
pub use routes::certificate::expiry_warning;
pub use routes::device::{
    DeviceState, ListenerInfo, ObjectStoreState, StorageState, StreamRecording, StreamState,
    ViewerCount,
};
pub use routes::dot1x::{Dot1xStatus, PortAccess, PortStateName};
pub use routes::firmware::{
    Firmware, FirmwareFailure, FirmwareStatus, InstallAnswer, SlotName, SlotState, SlotStatus,
    TrustedKeyInfo, too_large,
};
pub use routes::maintenance::Maintenance;
pub use routes::media::LiveMedia;
pub use routes::openapi;
pub use routes::recordings::{
    Download, RecordingFilter, RecordingInfo, RecordingLocation, RecordingState, RecordingTrigger,
    Recordings, SignerSummary, SignerTrust, Verification, VerificationVerdict,
};
pub use routes::upnp::{PortForwarding, UpnpGateway, UpnpMapping, UpnpMappingState, UpnpStatus};
pub use serve::{OverTls, RawIo, ServeOptions, TakenLeg, TunnelTakeover, serve, serve_tls};

use axum::Router;
use axum::response::Response;
use camward_auth::{AccountService, Gate};
use camward_store::ConfigHandle;
use futures::future::BoxFuture;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

/// Largest request body the API reads (JSON documents are small; anything bigger is refused with 413).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Handler for RTSP-over-HTTP: requests carrying `x-sessioncookie` skip HTTP auth and go here
/// (RTSP authentication happens inside the tunnel). Gets the peer address; may stream both ways.
pub type TunnelHandler =
    Arc<dyn Fn(axum::extract::Request, SocketAddr) -> BoxFuture<'static, Response> + Send + Sync>;

/// What `GET /api/v1/status` reports about the device.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub version: String,
    pub serial: Option<String>,
    /// The board's model (device tree), else `Linux <architecture>`.
    pub model: String,
    pub started: Instant,
    pub started_at: SystemTime,
}

impl DeviceInfo {
    pub fn new(version: impl Into<String>, serial: Option<String>) -> Self {
        DeviceInfo {
            version: version.into(),
            serial,
            model: format!("Linux {}", std::env::consts::ARCH.replace('_', "-")),
            started: Instant::now(),
            started_at: SystemTime::now(),
        }
    }
}

/// Shared state of the web service. Cheap to clone.
#[derive(Clone)]
pub struct WebState {
    /// Accounts and authentication; also the `gate` unless a test substitutes another.
    pub accounts: Arc<AccountService>,
    pub gate: Arc<dyn Gate>,
    pub config: ConfigHandle,
    pub info: Arc<DeviceInfo>,
    pub tunnel: Option<TunnelHandler>,
    /// The device key and certificate, for `/api/v1/certificate` and the certificate block of
    /// `GET /api/v1/config`; absent in tests that do not need it (those routes then answer 404).
    pub identity: Option<Arc<camward_tls::DeviceIdentity>>,
    /// Snapshots and MJPEG; absent: those routes answer 404.
    pub media: Option<Arc<dyn LiveMedia>>,
    /// The recordings; absent: those routes answer 404.
    pub recordings: Option<Arc<dyn Recordings>>,
    /// The alarm bus; absent: those routes answer 404.
    pub alarm: Option<Arc<dyn AlarmControl>>,
    /// UPnP auto port forwarding; absent: `GET /api/v1/status` shows no `upnp` block.
    pub upnp: Option<Arc<dyn PortForwarding>>,
    /// The IEEE 802.1X supplicant; absent: no `dot1x` in the status, no device checks on enable.
    pub dot1x: Option<Arc<dyn PortAccess>>,
    /// Date and time (camward-time); absent: `/api/v1/time` answers 404 and the status has no `time`.
    pub time: Option<camward_time::TimeService>,
    /// Listeners, streams, storage for the status details; absent: those routes answer 404.
    pub device: Option<Arc<dyn DeviceState>>,
    /// Restart and factory reset; absent: those routes answer 404.
    pub maintenance: Option<Arc<dyn Maintenance>>,
    /// The firmware installer; absent: `POST /api/v1/firmware` answers 404.
    pub firmware: Option<Arc<dyn Firmware>>,
    /// Upstream cameras (recorder mode); absent: `/api/v1/cameras/status` answers 404.
    pub cameras: Option<Arc<dyn Cameras>>,
    /// The OpenAPI document, made once when the router is built.
    openapi: Arc<OnceLock<Arc<serde_json::Value>>>,
}

impl WebState {
    pub fn new(accounts: Arc<AccountService>, info: DeviceInfo) -> Self {
        WebState {
            gate: accounts.clone(),
            config: accounts.config().clone(),
            accounts,
            info: Arc::new(info),
            tunnel: None,
            identity: None,
            media: None,
            recordings: None,
            alarm: None,
            upnp: None,
            dot1x: None,
            time: None,
            device: None,
            maintenance: None,
            firmware: None,
            cameras: None,
            openapi: Arc::default(),
        }
    }

    pub fn with_tunnel(mut self, tunnel: TunnelHandler) -> Self {
        self.tunnel = Some(tunnel);
        self
    }

    pub fn with_identity(mut self, identity: Arc<camward_tls::DeviceIdentity>) -> Self {
        self.identity = Some(identity);
        self
    }

    pub fn with_media(mut self, media: Arc<dyn LiveMedia>) -> Self {
        self.media = Some(media);
        self
    }

    pub fn with_recordings(mut self, recordings: Arc<dyn Recordings>) -> Self {
        self.recordings = Some(recordings);
        self
    }

    pub fn with_alarm(mut self, alarm: Arc<dyn AlarmControl>) -> Self {
        self.alarm = Some(alarm);
        self
    }

    pub fn with_cameras(mut self, cameras: Arc<dyn Cameras>) -> Self {
        self.cameras = Some(cameras);
        self
    }

    pub fn with_upnp(mut self, upnp: Arc<dyn PortForwarding>) -> Self {
        self.upnp = Some(upnp);
        self
    }

    pub fn with_dot1x(mut self, dot1x: Arc<dyn PortAccess>) -> Self {
        self.dot1x = Some(dot1x);
        self
    }

    pub fn with_time(mut self, time: camward_time::TimeService) -> Self {
        self.time = Some(time);
        self
    }

    pub fn with_device(mut self, device: Arc<dyn DeviceState>) -> Self {
        self.device = Some(device);
        self
    }

    pub fn with_maintenance(mut self, maintenance: Arc<dyn Maintenance>) -> Self {
        self.maintenance = Some(maintenance);
        self
    }

    pub fn with_firmware(mut self, firmware: Arc<dyn Firmware>) -> Self {
        self.firmware = Some(firmware);
        self
    }
}

/// The `/api/v1` routes, each guarded by its level. Merge other routers (the UI's pages) with
/// [`app`], not here, so they get the same front layers.
pub fn router(state: WebState) -> Router {
    routes::router(state)
}

/// The whole HTTP application: the API plus `extra` routers (the web UI's pages), wrapped in the
/// front layers: security headers, per-request host re-check, the auth context for [`Require`],
/// and the RTSP tunnel dispatch.
///
/// Extra routers protect their routes with the [`Require`] extractor (`Require<Live>` etc.); they may
/// have any state, as the extractor finds the gate in the request extensions.
pub fn app(state: WebState, extra: impl IntoIterator<Item = Router>) -> Router {
    let mut r = router(state.clone());
    for x in extra {
        r = r.merge(x);
    }
    front::wrap(r, state)
}
