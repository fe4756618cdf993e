//! `GET /api/v1/cameras/status`: the upstream cameras of recorder mode (the `cameras`
//! settings) as they run now — connected, bit rate, last frame, last error, reconnects — at
//! access level Camera control and above. The daemon fills in a [`Cameras`] handle from its
//! camera service; the web crate never builds the pull pipeline (paper §3.8, §3.9).

use crate::WebState;
use crate::auth::{Control, Require};
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One upstream camera.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CameraStatus {
    /// Its name in the `cameras` settings (and in `/cameras/NAME` on this device's RTSP server).
    pub name: String,
    /// Whether it is switched on in the settings.
    pub enabled: bool,
    /// A picture arrived within the last few seconds.
    pub connected: bool,
    /// Received video bit rate over the last seconds, in bit/s.
    pub bitrate_bps: u64,
    /// Pictures received since this device started pulling it.
    pub frames: u64,
    /// Wall-clock time of the latest picture, RFC 3339 UTC; absent until the first one.
    pub last_frame: Option<String>,
    /// Picture size the camera sends, once known.
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Pictures per second received over the last seconds.
    pub fps: Option<u32>,
    /// Connection attempts so far (the first one included).
    pub connects: u64,
    /// The latest failure (connection refused, 401, stream ended…) since this device started
    /// pulling the camera, if any. Kept after the camera is back, so a camera that drops now and
    /// then shows it; whether it is current is `connected` (false while the camera is away) and
    /// `last_error_at` against `last_frame`.
    pub last_error: Option<String>,
    /// When `last_error` happened, RFC 3339 UTC; absent when there was none.
    pub last_error_at: Option<String>,
    /// Whether it is being recorded now (continuous, or alarm-only waiting for an alarm).
    pub recording: bool,
}

/// What the route needs from the camera service.
pub trait Cameras: Send + Sync + 'static {
    fn status(&self) -> Vec<CameraStatus>;
}

pub(crate) async fn status(
    _: Require<Control>,
    State(st): State<WebState>,
) -> Result<Json<Vec<CameraStatus>>, ApiError> {
    let cams = st
        .cameras
        .clone()
        .ok_or_else(|| ApiError::not_found("this server records no upstream cameras"))?;
    Ok(Json(cams.status()))
}
