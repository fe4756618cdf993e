//! The camera service of recorder mode (the `cameras` settings): one media hub per upstream RTSP
//! camera, pulling it without re-encoding and reconnecting by itself with back-off and jitter;
//! its frame bus goes to the recorder (files under `cameras/NAME/`, index rows with the camera's
//! name, the same retention and CENC encryption as this device's streams, paper §3.8) and to the
//! RTSP server (`/cameras/NAME`). A camera's own ONVIF Media Signing SEIs pass untouched; with
//! `recorder_signing` the hub's stage signs what arrives with this device's key instead (paper
//! §3.9), so verification names the recorder, not the camera. The service follows configuration
//! changes: a camera added starts, one removed or switched off stops (its file closed), a changed
//! URL or password reconnects on the same bus.
//!
//! The same hubs are the web API's camera views (`/api/v1/cameras/NAME/live.mp4`, `snapshot.jpg`,
//! `mjpeg`): the live MP4 relays the camera's H.264 as received; JPEGs are decoded from the
//! hub's cache of the current GOP (from its key frame) only when someone asks, so a camera nobody
//! watches over HTTP costs no decoder.

use super::device::HttpViewers;
use super::record::{CameraFeed, Recording};
use bytes::Bytes;
use camward_config::{Camera, CameraRecord, JpegConfig, Source, StreamConfig, StreamsConfig};
use camward_media::{FrameBus, MediaHub, Reconnect};
use camward_media::{MediaError, SnapshotSize};
use camward_rtsp::RtspServer;
use camward_store::ConfigHandle;
use camward_tls::DeviceIdentity;
use camward_web::{ApiError, CameraAccess, CameraStatus, CameraView, ViewerCount};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A camera counts as connected while its latest picture is at most this old.
const CONNECTED_WITHIN: Duration = Duration::from_secs(3);
/// Window of the bit rate shown in the status.
const RATE_WINDOW: Duration = Duration::from_secs(5);
/// First wait before reconnecting; doubles up to the camera's `reconnect_max_secs`.
const RECONNECT_MIN: Duration = Duration::from_millis(250);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the status shows of one camera's received video, kept by its monitor task.
#[derive(Default)]
struct Stats {
    frames: u64,
    last_frame: Option<(Instant, SystemTime)>,
    window: VecDeque<(Instant, usize)>,
}

impl Stats {
    fn bitrate_bps(&mut self, now: Instant) -> u64 {
        while self
            .window
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
        {
            self.window.pop_front();
        }
        let bytes: usize = self.window.iter().map(|(_, b)| b).sum();
        (bytes as u64 * 8) / RATE_WINDOW.as_secs()
    }

    /// Pictures per second over the window (call after `bitrate_bps`, which trims it). Measured,
    /// because many cameras' SPS carry no frame rate.
    fn fps(&self) -> u32 {
        ((self.window.len() as f64) / RATE_WINDOW.as_secs_f64()).round() as u32
    }
}

/// One upstream camera being pulled.
struct Running {
    config: Camera,
    hub: MediaHub,
    stats: Arc<Mutex<Stats>>,
    /// Ends the monitor task.
    stop: CancellationToken,
    monitor: JoinHandle<()>,
    /// The signing stage installed, so a change of `recorder_signing` (or of the certificate's
    /// identity, which restarts the daemon) is applied once.
    signing: bool,
}

/// The running cameras, shared by the service, the RTSP server (`/cameras/NAME`) and the web
/// API's status.
#[derive(Clone, Default)]
pub struct Cameras {
    running: Arc<Mutex<HashMap<String, Running>>>,
    recording: Option<Recording>,
    /// Viewers of the cameras' HTTP views (MJPEG, live MP4), shared with the device's streams'.
    http_viewers: HttpViewers,
    /// The RTSP server re-serving the cameras, for its viewer counts. Weak and set after both
    /// exist: the server holds this service (it serves `/cameras/NAME` from it).
    rtsp: Arc<OnceLock<Weak<RtspServer>>>,
}

impl Cameras {
    pub fn new(recording: Recording, http_viewers: HttpViewers) -> Cameras {
        Cameras {
            running: Arc::default(),
            recording: Some(recording),
            http_viewers,
            rtsp: Arc::default(),
        }
    }

    /// Counts the viewers `rtsp` serves at `/cameras/NAME` in the cameras' status.
    pub fn count_viewers_of(&self, rtsp: &Arc<RtspServer>) {
        let _ = self.rtsp.set(Arc::downgrade(rtsp));
    }

    /// Viewers of camera `name` by carrier, RTSP (`rtsp_viewers`, the server's per-camera
    /// counts) and HTTP, in carrier order.
    fn viewers_of(
        &self,
        name: &str,
        rtsp_viewers: &[(String, &'static str, usize)],
    ) -> Vec<ViewerCount> {
        let mut out: Vec<ViewerCount> = rtsp_viewers
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, carrier, count)| ViewerCount {
                carrier: (*carrier).to_owned(),
                viewers: u32::try_from(*count).unwrap_or(u32::MAX),
            })
            .chain(
                self.http_viewers
                    .of_camera(name)
                    .into_iter()
                    .map(|(carrier, viewers)| ViewerCount {
                        carrier: carrier.to_owned(),
                        viewers,
                    }),
            )
            .collect();
        out.sort_by(|a, b| a.carrier.cmp(&b.carrier));
        out
    }

    /// The frame bus of the enabled camera `name`, for the RTSP server.
    pub fn bus(&self, name: &str) -> Option<Arc<FrameBus>> {
        let running = lock(&self.running);
        let r = running.get(name)?;
        r.hub.stream(1)
    }

    /// Stops every pull (their end markers reach the recorder, which closes the files with the
    /// last signatures inside) ahead of the services' shutdown, as the daemon does with its own
    /// media hub.
    pub fn stop_pulls(&self) {
        for r in lock(&self.running).values() {
            r.hub.stop();
        }
    }

    /// Whether `viewer` may watch camera `name`: Camera control and above always; a Live-only
    /// user when the camera's `live_users` names them (paper §3.2's access levels, per camera).
    pub fn allowed(&self, name: &str, viewer: &camward_auth::Principal) -> bool {
        if viewer.level >= camward_auth::Level::Control {
            return true;
        }
        lock(&self.running)
            .get(name)
            .is_some_and(|r| may_watch(r, viewer))
    }
}

/// The per-camera rule of [`Cameras::allowed`] for a running camera.
fn may_watch(r: &Running, viewer: &camward_auth::Principal) -> bool {
    viewer.level >= camward_auth::Level::Control
        || viewer
            .user
            .as_ref()
            .is_some_and(|u| r.config.live_users.iter().any(|l| l == u))
}

impl Running {
    fn connected(&self, now: Instant) -> bool {
        lock(&self.stats)
            .last_frame
            .is_some_and(|(t, _)| now.duration_since(t) <= CONNECTED_WITHIN)
    }
}

/// The API's answer for a camera that sends nothing now. The reason (the camera's address may
/// be in it) is for Camera control and above, in the status.
fn offline(name: &str) -> ApiError {
    ApiError::unavailable(
        "camera_offline",
        format!(
            "camera {name} sends no picture now; it is reconnected by itself (the reason is in the cameras' status)"
        ),
        true,
    )
}

impl Cameras {
    /// The hub of camera `name` while it sends pictures, or the API's answer (404, 503).
    fn live_hub(&self, name: &str) -> Result<MediaHub, ApiError> {
        let running = lock(&self.running);
        let r = running
            .get(name)
            .ok_or_else(|| ApiError::not_found(format!("no camera {name} is on")))?;
        if !r.connected(Instant::now()) {
            return Err(offline(name));
        }
        Ok(r.hub.clone())
    }

    /// A media error of a camera's view as the API's answer: no picture yet reads as offline.
    fn view_error(name: &str, e: &MediaError) -> ApiError {
        match e {
            MediaError::NotReady(..) | MediaError::StreamOff(_) => offline(name),
            e => super::media::api_error(e),
        }
    }
}

impl camward_web::Cameras for Cameras {
    fn viewable(&self, viewer: &camward_auth::Principal) -> Vec<CameraView> {
        let now = Instant::now();
        let mut out: Vec<CameraView> = lock(&self.running)
            .iter()
            .filter(|(_, r)| may_watch(r, viewer))
            .map(|(name, r)| {
                let info = r.hub.stream(1).and_then(|b| b.info());
                let fps = {
                    let mut st = lock(&r.stats);
                    st.bitrate_bps(now);
                    st.fps()
                };
                CameraView {
                    name: name.clone(),
                    connected: r.connected(now),
                    width: info.as_ref().map(|i| i.width),
                    height: info.as_ref().map(|i| i.height),
                    fps: (fps > 0).then_some(fps),
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn access(&self, name: &str, viewer: &camward_auth::Principal) -> CameraAccess {
        let running = lock(&self.running);
        match running.get(name) {
            Some(r) if may_watch(r, viewer) => CameraAccess::Allowed,
            None if viewer.level >= camward_auth::Level::Control => CameraAccess::Unknown,
            _ => CameraAccess::Denied,
        }
    }

    fn snapshot(&self, name: &str) -> BoxFuture<'static, Result<Bytes, ApiError>> {
        let hub = self.live_hub(name);
        let name = name.to_owned();
        Box::pin(async move {
            hub?.snapshot_jpeg(1, SnapshotSize::AsSent)
                .await
                .map_err(|e| Cameras::view_error(&name, &e))
        })
    }

    fn mjpeg(&self, name: &str, fps: Option<u32>) -> Result<BoxStream<'static, Bytes>, ApiError> {
        let hub = self.live_hub(name)?;
        let fps = fps.unwrap_or_else(|| hub.settings().2.refresh_fps);
        let viewer = self.http_viewers.enter_camera(name, "mjpeg");
        Ok(hub
            .mjpeg(1, SnapshotSize::AsSent, fps)
            .map(move |b| {
                let _counted = &viewer;
                b
            })
            .boxed())
    }

    fn fmp4(&self, name: &str) -> Result<BoxStream<'static, Bytes>, ApiError> {
        let hub = self.live_hub(name)?;
        let bus = hub.stream(1).ok_or_else(|| offline(name))?;
        // The view ends once the camera is removed or switched off (its hub and bus go away);
        // while it only reconnects, the same bus carries on.
        let running = self.running.clone();
        let viewer = self.http_viewers.enter_camera(name, "live_mp4");
        let (name, ours) = (name.to_owned(), bus.clone());
        let still_on = Box::new(move || {
            lock(&running)
                .get(&name)
                .and_then(|r| r.hub.stream(1))
                .is_some_and(|b| Arc::ptr_eq(&b, &ours))
        });
        Ok(super::media::LiveMp4::new(bus, still_on, Some(viewer)).into_stream())
    }

    fn status(&self) -> Vec<CameraStatus> {
        let recording = self
            .recording
            .as_ref()
            .map(|r| r.cameras_recording())
            .unwrap_or_default();
        let rtsp_viewers = self
            .rtsp
            .get()
            .and_then(Weak::upgrade)
            .map(|s| s.camera_viewers())
            .unwrap_or_default();
        let now = Instant::now();
        let mut out: Vec<CameraStatus> = lock(&self.running)
            .iter()
            .map(|(name, r)| {
                let mut st = lock(&r.stats);
                let hub = r.hub.status(1);
                let info = r.hub.stream(1).and_then(|b| b.info());
                let bitrate_bps = st.bitrate_bps(now);
                let fps = st.fps();
                CameraStatus {
                    name: name.clone(),
                    enabled: r.config.enabled,
                    connected: st
                        .last_frame
                        .is_some_and(|(t, _)| now.duration_since(t) <= CONNECTED_WITHIN),
                    bitrate_bps,
                    frames: st.frames,
                    last_frame: st
                        .last_frame
                        .map(|(_, w)| camward_record::timeutil::rfc3339(ms_of(w))),
                    width: info.as_ref().map(|i| i.width),
                    height: info.as_ref().map(|i| i.height),
                    fps: (fps > 0).then_some(fps),
                    connects: hub.as_ref().map_or(0, |h| h.starts),
                    last_error_at: hub
                        .as_ref()
                        .and_then(|h| h.last_error_at)
                        .map(|t| camward_record::timeutil::rfc3339(ms_of(t))),
                    last_error: hub.and_then(|h| h.last_error),
                    recording: recording.contains(name),
                    viewers: self.viewers_of(name, &rtsp_viewers),
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

fn ms_of(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The hub's settings for a pulled camera: only Stream(1) runs (it relays the URL's stream);
/// the frame rate is a fallback for cameras whose SPS carries none.
fn streams() -> StreamsConfig {
    StreamsConfig {
        stream1: StreamConfig {
            enabled: true,
            ..StreamConfig::default_stream1()
        },
        stream2: StreamConfig {
            enabled: false,
            ..StreamConfig::default_stream2()
        },
    }
}

fn reconnect(c: &Camera) -> Reconnect {
    Reconnect {
        min: RECONNECT_MIN,
        max: Duration::from_secs(u64::from(c.reconnect_max_secs.max(1))),
        jitter: true,
    }
}

/// Counts what arrives on a camera's bus for the status (pictures, bytes, last picture time).
fn monitor(
    bus: Arc<FrameBus>,
    stats: Arc<Mutex<Stats>>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let mut sub = bus.subscribe();
    tokio::spawn(async move {
        loop {
            let au = tokio::select! {
                _ = stop.cancelled() => return,
                au = sub.recv() => au,
            };
            let Some(au) = au else { return };
            if !au.has_picture() {
                continue;
            }
            let now = Instant::now();
            let mut st = lock(&stats);
            st.frames += 1;
            st.last_frame = Some((now, au.wallclock));
            st.window.push_back((now, au.len()));
            // Bounded: at most a window's worth of pictures is kept.
            if st.window.len() > 4096 {
                st.window.pop_front();
            }
        }
    })
}

pub struct Input {
    pub cameras: Cameras,
    pub config: ConfigHandle,
    pub recording: Recording,
    pub identity: Arc<DeviceIdentity>,
    pub shutdown: CancellationToken,
}

/// Starts the configured cameras and follows the `cameras` settings until shutdown, then stops
/// every pull (each hub publishes its run's end, so the recorder closes the files).
pub fn start(input: Input) -> JoinHandle<()> {
    let Input {
        cameras,
        config,
        recording,
        identity,
        shutdown,
    } = input;
    let mut changes = config.subscribe();
    tokio::spawn(async move {
        let mut applied = changes.borrow_and_update().cameras.clone();
        reconcile(&cameras, &recording, &identity, &applied);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = changes.changed() => if r.is_err() { break },
            }
            let wanted = changes.borrow_and_update().cameras.clone();
            if wanted != applied {
                reconcile(&cameras, &recording, &identity, &wanted);
                applied = wanted;
            }
        }
        let all: Vec<(String, Running)> = lock(&cameras.running).drain().collect();
        for (name, r) in all {
            stop_camera(&recording, &name, r);
        }
    })
}

fn stop_camera(recording: &Recording, name: &str, r: Running) {
    // The hub first: its end marker reaches the recorder, which closes the file after it.
    r.hub.stop();
    recording.set_camera(name, None);
    r.stop.cancel();
    r.monitor.abort();
    tracing::info!(camera = name, "upstream camera stopped");
}

/// Brings the running cameras in line with the settings.
fn reconcile(
    cameras: &Cameras,
    recording: &Recording,
    identity: &Arc<DeviceIdentity>,
    cfg: &camward_config::CamerasConfig,
) {
    let mut running = lock(&cameras.running);
    let gone: Vec<String> = running
        .keys()
        .filter(|n| cfg.camera(n).is_none_or(|c| !c.enabled))
        .cloned()
        .collect();
    for name in gone {
        if let Some(r) = running.remove(&name) {
            stop_camera(recording, &name, r);
        }
    }
    for c in cfg.cameras.iter().filter(|c| c.enabled) {
        let source = match c.source() {
            Ok(s) => Source::Rtsp(s),
            Err(e) => {
                // Validation refuses such settings; an older stored document might still hold one.
                tracing::error!(camera = %c.name, error = %e, "upstream camera not started");
                continue;
            }
        };
        let r = match running.get_mut(&c.name) {
            Some(r) => {
                if r.config != *c {
                    // Same bus: the RTSP viewers and the recorder stay subscribed; a new URL or
                    // password reconnects from the camera's next key frame.
                    r.hub.set_reconnect(reconnect(c));
                    r.hub.apply(source, streams(), JpegConfig::default());
                    r.config = c.clone();
                }
                r
            }
            None => {
                let hub = MediaHub::new(source, streams(), JpegConfig::default());
                hub.set_reconnect(reconnect(c));
                let stats = Arc::new(Mutex::new(Stats::default()));
                let stop = CancellationToken::new();
                let bus = hub.stream(1).expect("stream 1 exists");
                let monitor = monitor(bus, stats.clone(), stop.clone());
                running.insert(
                    c.name.clone(),
                    Running {
                        config: c.clone(),
                        hub,
                        stats,
                        stop,
                        monitor,
                        signing: false,
                    },
                );
                let r = running.get_mut(&c.name).expect("inserted");
                if c.recorder_signing {
                    r.hub
                        .set_stage_factory(Some(super::signing::factory(identity)));
                    r.signing = true;
                }
                if let Err(e) = r.hub.start() {
                    tracing::error!(camera = %c.name, error = %e, "upstream camera did not start");
                }
                tracing::info!(camera = %c.name, url = %c.url, "pulling upstream camera");
                r
            }
        };
        if r.signing != c.recorder_signing {
            // The hub restarts the pull, so the new stage starts at a key frame.
            r.hub.set_stage_factory(
                c.recorder_signing
                    .then(|| super::signing::factory(identity)),
            );
            r.signing = c.recorder_signing;
        }
        let feed = (c.record != CameraRecord::Off).then(|| CameraFeed {
            stream: c.stream,
            bus: r.hub.stream(1).expect("stream 1 exists"),
            continuous: c.record == CameraRecord::Continuous,
        });
        recording.set_camera(&c.name, feed);
    }
}
