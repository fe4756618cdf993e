//! The upstream cameras of recorder mode (the `cameras` settings). `GET /api/v1/cameras/status`:
//! how each runs now — connected, bit rate, last frame, last error, reconnects — at access level
//! Camera control and above. `GET /api/v1/cameras`: the cameras this user may watch, and
//! `GET /api/v1/cameras/{name}/live.mp4`, `/snapshot.jpg` and `/mjpeg`: a camera's live views
//! over HTTP, like the device's own (`/api/v1/live.mp4`…), behind the same per-camera permission
//! as RTSP's `/cameras/NAME` (paper §3.2's Live-only level: only the cameras shared with the
//! user). The daemon fills in a [`Cameras`] handle from its camera service; the web crate never
//! builds the pull pipeline nor decodes (paper §3.8, §3.9).

use crate::WebState;
use crate::auth::{Control, Live, Require};
use crate::error::ApiError;
use crate::routes::media::{Jpeg, LiveMp4, Mjpeg};
use axum::Json;
use axum::extract::{Path, Query, State};
use bytes::Bytes;
use camward_auth::Principal;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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
    /// Who watches it through this device, by carrier: `rtsp`, `rtsps`, `tunnel` (at
    /// `/cameras/NAME`), `mjpeg` and `live_mp4` (its HTTP views). Carriers without viewers are
    /// left out; the recorder itself is no viewer.
    pub viewers: Vec<crate::routes::device::ViewerCount>,
}

/// A camera as a viewer's Live page lists it: nothing about how it is reached (its address
/// and last error stay with Camera control and above).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CameraView {
    /// Its name: `/cameras/NAME` over RTSP, `/api/v1/cameras/NAME/…` over HTTP.
    pub name: String,
    /// A picture arrived within the last few seconds.
    pub connected: bool,
    /// Picture size the camera sends, once known.
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Pictures per second received over the last seconds.
    pub fps: Option<u32>,
}

/// Whether a viewer may watch a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraAccess {
    Allowed,
    /// A Live-only user the camera is not shared with; also any camera name a Live-only user
    /// asks for that is not on, so such a user cannot learn which cameras exist (RTSP's rule).
    Denied,
    /// No camera of that name is on (told only to Camera control and above).
    Unknown,
}

/// What the routes need from the camera service. Views answer 503 `camera_offline` (with
/// `Retry-After: 1`) while the camera sends nothing; the caller has checked [`Cameras::access`].
pub trait Cameras: Send + Sync + 'static {
    fn status(&self) -> Vec<CameraStatus>;
    /// The cameras `viewer` may watch, in name order.
    fn viewable(&self, viewer: &Principal) -> Vec<CameraView>;
    fn access(&self, name: &str, viewer: &Principal) -> CameraAccess;
    /// One JPEG of the camera's latest picture at its own size.
    fn snapshot(&self, name: &str) -> BoxFuture<'static, Result<Bytes, ApiError>>;
    /// JPEGs at most `fps` a second, only when the picture changed.
    fn mjpeg(&self, name: &str, fps: Option<u32>) -> Result<BoxStream<'static, Bytes>, ApiError>;
    /// The camera's H.264 as fragmented MP4 (init segment, then `prft`+`moof`+`mdat` per
    /// picture from a key frame on), as received: no re-encoding, its own signatures kept.
    fn fmp4(&self, name: &str) -> Result<BoxStream<'static, Bytes>, ApiError>;
}

fn cameras(st: &WebState) -> Result<Arc<dyn Cameras>, ApiError> {
    st.cameras
        .clone()
        .ok_or_else(|| ApiError::not_found("this server records no upstream cameras"))
}

/// The `{name}` path segment.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct CameraName {
    /// The camera's name in the `cameras` settings.
    #[schemars(length(min = 1, max = 32), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    name: String,
}

/// `fps` of a camera's MJPEG. Unknown parameters are ignored, as browsers add their own.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub(crate) struct CameraMjpegParams {
    /// Parts per second, 1–30; default `jpeg.refresh_fps`.
    #[schemars(with = "Option<u8>", range(min = 1, max = 30))]
    fps: Option<String>,
}

/// The camera `name` for `viewer`, or the answer: 404 for a name that is no camera's (or not
/// on, told to Camera control and above), 403 for a Live-only user it is not shared with.
fn camera_for(
    st: &WebState,
    name: Result<Path<CameraName>, axum::extract::rejection::PathRejection>,
    viewer: &Principal,
) -> Result<(Arc<dyn Cameras>, String), ApiError> {
    let cams = cameras(st)?;
    let name = match name {
        Ok(Path(CameraName { name })) if camward_config::cameras::valid_name(&name) => name,
        _ => return Err(ApiError::not_found("no such camera")),
    };
    match cams.access(&name, viewer) {
        CameraAccess::Allowed => Ok((cams, name)),
        CameraAccess::Denied => Err(ApiError::forbidden(format!(
            "camera {name} is not shared with this user"
        ))),
        CameraAccess::Unknown => Err(ApiError::not_found(format!("no camera {name} is on"))),
    }
}

pub(crate) async fn list(
    p: Require<Live>,
    State(st): State<WebState>,
) -> Result<Json<Vec<CameraView>>, ApiError> {
    Ok(Json(cameras(&st)?.viewable(p.principal())))
}

pub(crate) async fn snapshot(
    p: Require<Live>,
    State(st): State<WebState>,
    name: Result<Path<CameraName>, axum::extract::rejection::PathRejection>,
) -> Result<Jpeg, ApiError> {
    let (cams, name) = camera_for(&st, name, p.principal())?;
    cams.snapshot(&name).await.map(Jpeg)
}

pub(crate) async fn mjpeg(
    p: Require<Live>,
    State(st): State<WebState>,
    name: Result<Path<CameraName>, axum::extract::rejection::PathRejection>,
    q: Result<Query<CameraMjpegParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Mjpeg, ApiError> {
    let (cams, name) = camera_for(&st, name, p.principal())?;
    let Query(q) = q.map_err(|e| ApiError::bad_query("", "query", e.body_text()))?;
    let fps = match &q.fps {
        None => None,
        Some(s) => Some(
            s.parse::<u32>()
                .ok()
                .filter(|n| (1..=30).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_query("fps", "query.range", format!("fps={s}: use 1 to 30"))
                })?,
        ),
    };
    cams.mjpeg(&name, fps).map(Mjpeg)
}

pub(crate) async fn live_mp4(
    p: Require<Live>,
    State(st): State<WebState>,
    name: Result<Path<CameraName>, axum::extract::rejection::PathRejection>,
) -> Result<LiveMp4, ApiError> {
    let (cams, name) = camera_for(&st, name, p.principal())?;
    cams.fmp4(&name).map(LiveMp4)
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
