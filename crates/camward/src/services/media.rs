//! The media service: source → encoder → stage → frame bus (camera core), kept in step with the
//! `source`/`streams`/`jpeg` settings, and the media hub as the web API's [`LiveMedia`] handle.
//! The stage is ONVIF Media Signing (paper §3.9), installed before the first start.

use bytes::Bytes;
use camward_config::{Config, JpegSize};
use camward_media::{MediaError, MediaHub, StageFactory};
use camward_store::ConfigHandle;
use camward_web::{ApiError, LiveMedia};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
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
fn api_error(e: &MediaError) -> ApiError {
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

/// The media hub as the web API sees it.
pub struct HubMedia(pub MediaHub);

impl LiveMedia for HubMedia {
    fn snapshot(&self, stream: u8, size: JpegSize) -> BoxFuture<'static, Result<Bytes, ApiError>> {
        let hub = self.0.clone();
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
        let Some(status) = self.0.status(stream) else {
            return Err(api_error(&MediaError::NoSuchStream(stream)));
        };
        if !status.enabled {
            return Err(api_error(&MediaError::StreamOff(stream)));
        }
        let fps = fps.unwrap_or_else(|| self.0.settings().2.refresh_fps);
        Ok(self.0.mjpeg(stream, size, fps).boxed())
    }
}
