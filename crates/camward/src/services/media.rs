//! The media service: source → encoder → stage → frame bus (camera core), kept in step with the
//! `source`/`streams`/`jpeg` settings, and the media hub as the web API's [`LiveMedia`] handle:
//! snapshots, MJPEG, and the browser's H.264 view as fragmented MP4 (one fragment per picture,
//! each with its capture time in `prft`, so the page can measure its latency).
//! The stage is ONVIF Media Signing (paper §3.9), installed before the first start.

use super::device::{HttpViewers, ViewerGuard};
use bytes::Bytes;
use camward_config::{Config, JpegSize};
use camward_media::AccessUnit;
use camward_media::{MediaError, MediaHub, StageFactory};
use camward_record::FileProtection;
use camward_record::fmp4::{self, TrackParams};
use camward_store::ConfigHandle;
use camward_web::{ApiError, LiveMedia};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A hub with the configuration's settings, not started yet (the RTSP server needs its buses
/// before the services start; buses outlive pipeline restarts, so handing them out early is safe).
pub fn hub(config: &Config) -> MediaHub {
    MediaHub::new(
        config.source.clone(),
        config.streams.clone(),
        config.jpeg.clone(),
    )
}

pub struct Input {
    pub hub: MediaHub,
    pub config: ConfigHandle,
    /// The per-stream stage to install before the first start (signing), if any.
    pub stage: Option<StageFactory>,
    pub shutdown: CancellationToken,
}

/// Starts the pipelines and follows configuration changes until shutdown, then stops them
/// (which also ends open MJPEG responses, so the HTTP service can drain).
pub fn start(input: Input) -> JoinHandle<()> {
    let Input {
        hub,
        config,
        stage,
        shutdown,
    } = input;
    // Installed before `start` so no pipeline has to restart to pick it up.
    if stage.is_some() {
        hub.set_stage_factory(stage);
    }
    if let Err(e) = hub.start() {
        tracing::error!(error = %e, "media pipelines did not start");
    }
    let mut changes = config.subscribe();
    tokio::spawn(async move {
        let mut applied = settings(&changes.borrow_and_update());
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = changes.changed() => if r.is_err() { break },
            }
            let wanted = settings(&changes.borrow_and_update());
            // Other sections change too (users, host filter): only media settings touch the hub.
            if wanted != applied {
                tracing::info!(source = %wanted.0, "applying media settings");
                let (source, streams, jpeg) = wanted.clone();
                hub.apply(source, streams, jpeg);
                applied = wanted;
            }
        }
        hub.stop();
    })
}

type Settings = (
    camward_config::Source,
    camward_config::StreamsConfig,
    camward_config::JpegConfig,
);

fn settings(c: &Config) -> Settings {
    (c.source.clone(), c.streams.clone(), c.jpeg.clone())
}

/// The API's answer to a media error: 400 for a bad stream number, 503 (retry) for a stream that
/// is off or not producing, 500 for internal failures.
pub(crate) fn api_error(e: &MediaError) -> ApiError {
    let msg = e.to_string();
    match e {
        MediaError::NoSuchStream(_) => {
            ApiError::new(axum::http::StatusCode::BAD_REQUEST, "no_such_stream", msg)
        }
        MediaError::StreamOff(_) => ApiError::unavailable("stream_off", msg, true),
        MediaError::NotReady(..) => ApiError::unavailable("not_ready", msg, true),
        MediaError::Shutdown | MediaError::NoRuntime => {
            ApiError::unavailable("unavailable", msg, true)
        }
        MediaError::Decode { .. } => ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "decode_failed",
            msg,
        ),
        MediaError::Jpeg { .. } => ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "jpeg_failed",
            msg,
        ),
    }
}

/// The media hub as the web API sees it, counting the viewers of its HTTP live views.
pub struct HubMedia {
    pub hub: MediaHub,
    pub viewers: HttpViewers,
}

/// How long the browser's H.264 view waits for a picture before checking that its stream is
/// still on (a stream switched off sends nothing, and its viewers should learn it).
const LIVE_IDLE_CHECK: Duration = Duration::from_secs(2);

/// One browser's H.264 view: the bus it reads and the timeline it writes.
pub(crate) struct LiveMp4 {
    bus: Arc<camward_media::FrameBus>,
    sub: camward_media::Subscriber,
    /// Asked after a quiet spell: is the stream still there (not switched off, the camera not
    /// removed)? A stream that went away sends nothing, and its viewers should learn it.
    still_on: Box<dyn Fn() -> bool + Send + Sync>,
    /// Counts the viewer in the status while the view lasts (this device's streams only).
    _viewer: Option<ViewerGuard>,
    params: Option<TrackParams>,
    sequence: u32,
    /// (pts of the frame that starts the current run, decode time given to it).
    origin: Option<(u64, u64)>,
    last: Option<(u64, u64)>,
}

impl LiveMp4 {
    pub(crate) fn new(
        bus: Arc<camward_media::FrameBus>,
        still_on: Box<dyn Fn() -> bool + Send + Sync>,
        viewer: Option<ViewerGuard>,
    ) -> LiveMp4 {
        LiveMp4 {
            sub: bus.subscribe(),
            bus,
            still_on,
            _viewer: viewer,
            params: None,
            sequence: 0,
            origin: None,
            last: None,
        }
    }

    /// The view as an endless byte stream, one item per picture (the first with the init segment).
    pub(crate) fn into_stream(self) -> BoxStream<'static, Bytes> {
        futures::stream::unfold(self, |mut v| async move { v.next().await.map(|b| (b, v)) }).boxed()
    }

    /// The bytes for one picture: a fragment, preceded by an init segment when the stream
    /// starts or its parameters change (a new size after a settings change).
    fn fragment(&mut self, au: &AccessUnit) -> Result<Option<Bytes>, String> {
        let info = self.bus.info();
        let fps = info.as_ref().map_or(15, |i| i.fps.max(1));
        let duration = 90_000 / fps;
        let mut out = Vec::new();
        if au.key
            && let Some(p) = TrackParams::from_au(au, info.as_deref())
            && self.params.as_ref() != Some(&p)
        {
            out = fmp4::init_segment(&p, &FileProtection::default(), au.wallclock)
                .map_err(|e| e.to_string())?;
            self.params = Some(p);
        }
        if self.params.is_none() {
            return Ok(None);
        }
        // Decode time: the stream's own clock, continued across pipeline restarts (whose clock
        // starts again near 0) so the browser's timeline never goes back.
        let dts = match (self.origin, self.last) {
            (Some((pts0, dts0)), Some((last_pts, _))) if au.pts90k > last_pts => {
                dts0 + (au.pts90k - pts0)
            }
            (_, Some((_, last_dts))) => {
                let d = last_dts + u64::from(duration);
                self.origin = Some((au.pts90k, d));
                d
            }
            _ => {
                self.origin = Some((au.pts90k, 0));
                0
            }
        };
        self.last = Some((au.pts90k, dts));
        self.sequence = self.sequence.wrapping_add(1);
        let sample = fmp4::Sample {
            data: fmp4::sample_data(au),
            duration,
            sync: au.key,
        };
        out.extend(
            fmp4::fragment(self.sequence, dts, au.wallclock, &[sample], None)
                .map_err(|e| e.to_string())?,
        );
        Ok(Some(Bytes::from(out)))
    }

    async fn next(&mut self) -> Option<Bytes> {
        loop {
            let au = match tokio::time::timeout(LIVE_IDLE_CHECK, self.sub.recv()).await {
                Ok(Some(au)) => au,
                Ok(None) => return None,
                Err(_) => {
                    if !(self.still_on)() {
                        return None;
                    }
                    continue;
                }
            };
            if !au.has_picture() {
                continue;
            }
            match self.fragment(&au) {
                Ok(Some(b)) => return Some(b),
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "live MP4 view ends");
                    return None;
                }
            }
        }
    }
}

impl LiveMedia for HubMedia {
    fn snapshot(&self, stream: u8, size: JpegSize) -> BoxFuture<'static, Result<Bytes, ApiError>> {
        let hub = self.hub.clone();
        Box::pin(async move {
            hub.snapshot_jpeg(stream, size)
                .await
                .map_err(|e| api_error(&e))
        })
    }

    fn mjpeg(
        &self,
        stream: u8,
        size: JpegSize,
        fps: Option<u32>,
    ) -> Result<BoxStream<'static, Bytes>, ApiError> {
        self.check_on(stream)?;
        let fps = fps.unwrap_or_else(|| self.hub.settings().2.refresh_fps);
        let viewer = self.viewers.enter(stream, "mjpeg");
        Ok(self
            .hub
            .mjpeg(stream, size, fps)
            .map(move |b| {
                let _counted = &viewer;
                b
            })
            .boxed())
    }

    fn fmp4(&self, stream: u8) -> Result<BoxStream<'static, Bytes>, ApiError> {
        self.check_on(stream)?;
        let bus = self
            .hub
            .stream(stream)
            .ok_or_else(|| api_error(&MediaError::NoSuchStream(stream)))?;
        let hub = self.hub.clone();
        let still_on = Box::new(move || hub.status(stream).is_some_and(|s| s.enabled));
        Ok(LiveMp4::new(bus, still_on, Some(self.viewers.enter(stream, "live_mp4"))).into_stream())
    }
}

impl HubMedia {
    fn check_on(&self, stream: u8) -> Result<(), ApiError> {
        let Some(status) = self.hub.status(stream) else {
            return Err(api_error(&MediaError::NoSuchStream(stream)));
        };
        if !status.enabled {
            return Err(api_error(&MediaError::StreamOff(stream)));
        }
        Ok(())
    }
}
