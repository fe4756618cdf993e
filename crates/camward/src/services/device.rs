//! The daemon's running state as the status page shows it (paper §3.5: every listening service
//! with its address; the installer checks nothing else is open): the listener registry the
//! services keep up to date, viewer counts of the HTTP live views, and [`Device`], the web API's
//! [`DeviceState`] handle over the media hub, the RTSP server and the recorder.

use super::record::Recording;
use camward_config::Config;
use camward_media::MediaHub;
use camward_rtsp::RtspServer;
use camward_store::ConfigHandle;
use camward_web::{
    DeviceState, ListenerInfo, StorageState, StreamRecording, StreamState, ViewerCount,
};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Open listeners by service name (`HTTP`, `HTTPS`, `RTSP`, `RTSPS`, `FTP`). Cheap to clone.
#[derive(Clone, Default)]
pub struct Listeners(Arc<Mutex<BTreeMap<&'static str, SocketAddr>>>);

impl Listeners {
    pub fn open(&self, service: &'static str, addr: SocketAddr) {
        lock(&self.0).insert(service, addr);
    }

    pub fn close(&self, service: &'static str) {
        lock(&self.0).remove(service);
    }

    pub fn list(&self) -> Vec<ListenerInfo> {
        lock(&self.0)
            .iter()
            .map(|(s, a)| ListenerInfo {
                service: (*s).to_owned(),
                address: a.to_string(),
                port: a.port(),
            })
            .collect()
    }
}

/// Viewers of the HTTP live views (MJPEG, the browser's H.264) per stream or upstream camera.
/// Cheap to clone.
#[derive(Clone, Default)]
pub struct HttpViewers(Arc<Mutex<HashMap<(Watched, &'static str), u32>>>);

/// What an HTTP viewer watches.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Watched {
    /// This device's Stream(n).
    Stream(u8),
    /// An upstream camera (recorder mode), by name.
    Camera(String),
}

/// Counts one viewer while it lives.
pub struct ViewerGuard {
    viewers: HttpViewers,
    key: (Watched, &'static str),
}

impl HttpViewers {
    pub fn enter(&self, stream: u8, carrier: &'static str) -> ViewerGuard {
        self.enter_key((Watched::Stream(stream), carrier))
    }

    /// [`HttpViewers::enter`] for an upstream camera's view.
    pub fn enter_camera(&self, name: &str, carrier: &'static str) -> ViewerGuard {
        self.enter_key((Watched::Camera(name.to_owned()), carrier))
    }

    fn enter_key(&self, key: (Watched, &'static str)) -> ViewerGuard {
        *lock(&self.0).entry(key.clone()).or_default() += 1;
        ViewerGuard {
            viewers: self.clone(),
            key,
        }
    }

    fn of(&self, stream: u8) -> Vec<(&'static str, u32)> {
        self.matching(&Watched::Stream(stream))
    }

    /// Viewers of camera `name` by carrier.
    pub fn of_camera(&self, name: &str) -> Vec<(&'static str, u32)> {
        self.matching(&Watched::Camera(name.to_owned()))
    }

    fn matching(&self, what: &Watched) -> Vec<(&'static str, u32)> {
        lock(&self.0)
            .iter()
            .filter(|((w, _), n)| w == what && **n > 0)
            .map(|((_, c), n)| (*c, *n))
            .collect()
    }
}

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        let mut m = lock(&self.viewers.0);
        if let Some(n) = m.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

/// The web API's view of the running daemon.
pub struct Device {
    pub listeners: Listeners,
    pub config: ConfigHandle,
    pub media: MediaHub,
    pub rtsp: Arc<RtspServer>,
    pub recording: Recording,
    pub http_viewers: HttpViewers,
    /// `--https`: where HTTPS listens whatever the configured port.
    pub https_flag: Option<SocketAddr>,
}

fn stream_recording(c: &Config, n: u8, writing: bool) -> StreamRecording {
    let chosen = c.recording.enabled
        && (c.recording.streams.contains(&n)
            || (c.alarm.recording.enabled && c.alarm.recording.stream == n));
    match (writing, chosen) {
        (true, _) => StreamRecording::Recording,
        (false, true) => StreamRecording::Waiting,
        (false, false) => StreamRecording::Off,
    }
}

impl DeviceState for Device {
    fn listeners(&self) -> Vec<ListenerInfo> {
        self.listeners.list()
    }

    fn https_port(&self) -> u16 {
        self.https_flag
            .map_or(self.config.current().https.port, |a| a.port())
    }

    fn https_port_fixed(&self) -> bool {
        self.https_flag.is_some()
    }

    fn streams(&self) -> Vec<StreamState> {
        let c = self.config.current();
        let writing = self.recording.streams_writing();
        let rtsp = self.rtsp.viewers();
        [1u8, 2]
            .into_iter()
            .filter_map(|n| {
                let cfg = c.streams.get(n)?;
                let status = self.media.status(n);
                let (width, height, fps) = status
                    .as_ref()
                    .and_then(|s| s.info)
                    .unwrap_or((cfg.width, cfg.height, cfg.fps));
                let mut viewers: Vec<ViewerCount> = rtsp
                    .iter()
                    .filter(|(s, _, _)| *s == n)
                    .map(|(_, carrier, count)| ViewerCount {
                        carrier: (*carrier).to_owned(),
                        viewers: *count as u32,
                    })
                    .collect();
                viewers.extend(
                    self.http_viewers
                        .of(n)
                        .into_iter()
                        .map(|(c, v)| ViewerCount {
                            carrier: c.to_owned(),
                            viewers: v,
                        }),
                );
                viewers.sort_by(|a, b| a.carrier.cmp(&b.carrier));
                Some(StreamState {
                    stream: n,
                    enabled: cfg.enabled,
                    codec: "H.264".into(),
                    width,
                    height,
                    fps,
                    bitrate_kbps: cfg.bitrate_kbps,
                    internet_mode: cfg.internet_mode,
                    running: status.is_some_and(|s| s.enabled && s.info.is_some()),
                    recording: stream_recording(&c, n, writing.contains(&n)),
                    viewers,
                })
            })
            .collect()
    }

    fn storage(&self) -> Option<StorageState> {
        Some(self.recording.storage())
    }
}
