//! `GET /api/v1/status/details` (administrators): what an installer checks before leaving a
//! site — model, serial, firmware, uptime, every listening service with its address and port
//! (paper §3.5: only the services asked for), storage, recording and viewers per stream, and
//! the certificate the HTTPS listener serves (§3.7).
//!
//! `GET /api/v1/streams` (every level): the streams as a viewer sees them — codec, size, rate,
//! bit rate and the ports to reach them — for the Live page's details and copyable URLs.
//!
//! The running state comes from a [`DeviceState`] handle the daemon fills in, so this crate
//! knows neither the media pipeline nor the recorder.

use super::types::LevelName;
use crate::WebState;
use crate::auth::{Admin, Authed, Require};
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use camward_config::Warning;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One open listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListenerInfo {
    /// `HTTP`, `HTTPS`, `RTSP`, `RTSPS` or `FTP`.
    pub service: String,
    /// The bound address, e.g. `[::]:80` (every address) or `127.0.0.1:8443`.
    pub address: String,
    pub port: u16,
}

/// How many viewers watch one stream over one carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ViewerCount {
    /// `rtsp`, `rtsps`, `tunnel` (RTSP over HTTP(S)), `mjpeg` or `live_mp4` (the browser's H.264 view).
    pub carrier: String,
    pub viewers: u32,
}

/// Recording of one stream right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamRecording {
    /// A file of this stream is being written.
    Recording,
    /// The stream is chosen for recording but nothing is written now (alarm recording waiting
    /// for an alarm, or storage unavailable).
    Waiting,
    /// The stream is not recorded.
    Off,
}

/// One H.264 stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StreamState {
    /// 1 = Stream(1), 2 = Stream(2).
    pub stream: u8,
    /// "Stream transmission" on.
    pub enabled: bool,
    /// Always `H.264`.
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Target bit rate in kbit/s (the settings' value).
    pub bitrate_kbps: u32,
    /// RTSP over HTTP(S) allowed for this stream.
    pub internet_mode: bool,
    /// The encoder (or source) is producing pictures.
    pub running: bool,
    pub recording: StreamRecording,
    /// Viewers by carrier (carriers without viewers are left out).
    pub viewers: Vec<ViewerCount>,
}

/// The recording storage ("SD memory card").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StorageState {
    /// `ok`, `starting` (checking its files after a start) or `unavailable` (see the log).
    pub state: String,
    /// Bytes taken by recordings.
    pub used_bytes: u64,
    /// Bytes free on the filesystem.
    pub free_bytes: u64,
    /// Size of the filesystem.
    pub total_bytes: u64,
    pub recordings: u64,
    /// Start of the oldest recording kept, RFC 3339.
    pub oldest: Option<String>,
    /// Start of the newest recording, RFC 3339.
    pub newest: Option<String>,
    /// The object store recordings move to; absent while object storage is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_store: Option<ObjectStoreState>,
}

/// The uploader of closed recordings to the object store (paper §3.8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ObjectStoreState {
    /// `ok`, `unavailable` (cannot be reached: recordings wait on the card and are retried),
    /// `rejected` (credentials or bucket refused: nothing is uploaded until the settings are
    /// fixed) or `error` (retried).
    pub state: String,
    /// The last problem, for people; empty while all is well. Says so when the card is full of
    /// recordings waiting for the store.
    pub message: String,
    /// Closed recordings on the card waiting for the upload, and their size.
    pub waiting: u64,
    pub waiting_bytes: u64,
    /// Recordings confirmed in the bucket, and their size.
    pub in_bucket: u64,
    pub in_bucket_bytes: u64,
    /// Recordings uploaded since the daemon started.
    pub uploaded: u64,
    /// Failed tries since the last success.
    pub failed_attempts: u64,
    /// The card is at its retention limit while recordings wait for the store: retention may not
    /// delete them, and new video is lost once the card has no room left.
    pub card_full: bool,
    /// Recordings listed back from the bucket into the index since the daemon started: after a
    /// lost or replaced index file, the recordings that live only in the bucket are found again.
    #[serde(default)]
    pub adopted: u64,
    /// The bucket is being listed against the index now (at each start of the uploader or the
    /// recorder; after a lost index, every recording in the bucket is read back once).
    #[serde(default)]
    pub adopting: bool,
}

/// What the daemon reports about its running parts.
pub trait DeviceState: Send + Sync + 'static {
    /// Every open listener.
    fn listeners(&self) -> Vec<ListenerInfo>;
    /// The port HTTPS listens on while Connection is HTTPS: the daemon's `--https` flag, else the
    /// configured port.
    fn https_port(&self) -> u16;
    /// Whether that port comes from the command line (changing the setting then moves nothing).
    fn https_port_fixed(&self) -> bool;
    /// Stream(1) and Stream(2).
    fn streams(&self) -> Vec<StreamState>;
    /// `None` when the device has no recorder.
    fn storage(&self) -> Option<StorageState>;
}

/// The served certificate, in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CertificateSummary {
    pub subject: String,
    pub issuer: String,
    /// `self_signed` or `ca_issued`.
    pub kind: String,
    /// RFC 3339.
    pub not_after: String,
    pub days_left: i64,
    /// A sentence when the certificate expires within 30 days or has expired.
    pub warning: Option<String>,
}

/// `GET /api/v1/status/details`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DeviceDetails {
    /// Always `camward`.
    pub product: String,
    /// The board (device tree model) or `Linux <architecture>`.
    pub model: String,
    /// Firmware (software) version.
    pub version: String,
    /// The device serial number (also in its certificate).
    pub serial: Option<String>,
    /// RFC 3339.
    pub started_at: String,
    pub uptime_secs: u64,
    pub listeners: Vec<ListenerInfo>,
    /// Where HTTPS listens while Connection is HTTPS.
    pub https_port: u16,
    /// The HTTPS port is fixed by the daemon's command line: the configured port does not apply.
    pub https_port_fixed: bool,
    pub streams: Vec<StreamState>,
    pub storage: Option<StorageState>,
    pub certificate: Option<CertificateSummary>,
    /// Settings that weaken security.
    pub warnings: Vec<Warning>,
    /// The IEEE 802.1X port state (paper §3.6); absent where the daemon has no 802.1X service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dot1x: Option<super::dot1x::Dot1xStatus>,
}

/// `GET /api/v1/streams`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StreamsView {
    pub streams: Vec<StreamState>,
    /// RTSP port, when RTSP listens.
    pub rtsp_port: Option<u16>,
    /// RTSPS port, when RTSPS listens.
    pub rtsps_port: Option<u16>,
    /// The viewer's level, so the page offers what it may use.
    pub level: LevelName,
}

fn device(st: &WebState) -> Result<std::sync::Arc<dyn DeviceState>, ApiError> {
    st.device
        .clone()
        .ok_or_else(|| ApiError::not_found("this server reports no device state"))
}

pub(crate) fn rfc3339(t: std::time::SystemTime) -> String {
    let t: time::OffsetDateTime = t.into();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(crate) async fn details(
    State(st): State<WebState>,
    _p: Require<Admin>,
) -> Result<Json<DeviceDetails>, ApiError> {
    let dev = device(&st)?;
    let certificate = st.identity.as_ref().map(|id| {
        let info = id.info();
        CertificateSummary {
            warning: super::certificate::expiry_warning(&info),
            kind: match info.kind {
                camward_tls::CertKind::SelfSigned => "self_signed".into(),
                camward_tls::CertKind::CaIssued => "ca_issued".into(),
            },
            subject: info.subject,
            issuer: info.issuer,
            not_after: info.not_after,
            days_left: info.days_left,
        }
    });
    let d = dev.clone();
    let (listeners, streams, storage) =
        tokio::task::spawn_blocking(move || (d.listeners(), d.streams(), d.storage())).await?;
    Ok(Json(DeviceDetails {
        product: "camward".into(),
        model: st.info.model.clone(),
        version: st.info.version.clone(),
        serial: st.info.serial.clone(),
        started_at: rfc3339(st.info.started_at),
        uptime_secs: st.info.started.elapsed().as_secs(),
        listeners,
        https_port: dev.https_port(),
        https_port_fixed: dev.https_port_fixed(),
        streams,
        storage,
        certificate,
        warnings: st.config.current().warnings(),
        dot1x: st.dot1x.as_ref().map(|d| d.status()),
    }))
}

pub(crate) async fn streams(
    State(st): State<WebState>,
    p: Authed,
) -> Result<Json<StreamsView>, ApiError> {
    let dev = device(&st)?;
    let d = dev.clone();
    let (listeners, streams) =
        tokio::task::spawn_blocking(move || (d.listeners(), d.streams())).await?;
    let port = |s: &str| listeners.iter().find(|l| l.service == s).map(|l| l.port);
    Ok(Json(StreamsView {
        rtsp_port: port("RTSP"),
        rtsps_port: port("RTSPS"),
        streams,
        level: super::level_name(p.principal().level),
    }))
}
