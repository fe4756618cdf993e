//! The media service: builds the media hub (source → encoder → stage → frame bus) from the configuration,
//! re-applies `source`/`streams`/`jpeg` on every change, and serves JPEG snapshots and MJPEG over HTTP.

use crate::daemon::Shared;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use camward_config::Config;
use camward_media::{MediaHub, StageFactory};
use camward_web::{Live, Require};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// A hub with the configuration's settings, not started yet (the RTSP server needs its buses
/// before the services start; buses outlive pipeline restarts, so handing them out early is safe).
pub fn hub(config: &Config) -> MediaHub {
    MediaHub::new(
        config.source.clone(),
        config.streams.clone(),
        config.jpeg.clone(),
    )
}

/// SEAM(media-signing): the per-stream stage every access unit passes through before the bus
/// (ONVIF Media Signing, paper §3.9). Signing happens here, once per stream, so live viewers,
/// recordings and exports carry the same signatures. Return `Some(factory)` built from the
/// device identity in `shared`; `None` publishes the encoder's output unchanged.
fn signing_stage(shared: &Shared) -> Option<StageFactory> {
    super::signing::initial_stage(shared)
}

/// Starts the pipelines and follows configuration changes until shutdown, then stops them
/// (which also ends open MJPEG responses, so the HTTP service can drain).
pub fn start(shared: &Arc<Shared>) -> JoinHandle<()> {
    let hub = shared.media.clone();
    // Installed before `start` so no pipeline has to restart to pick it up.
    if let Some(stage) = signing_stage(shared) {
        hub.set_stage_factory(Some(stage));
    }
    if let Err(e) = hub.start() {
        tracing::error!(error = %e, "media pipelines did not start");
    }
    let mut changes = shared.config.subscribe();
    let stop = shared.shutdown.clone();
    tokio::spawn(async move {
        let mut applied = settings(&changes.borrow_and_update());
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
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

/// `GET /api/v1/snapshot.jpg?stream=1|2&size=1|2|3` and `GET /api/v1/mjpeg?stream=1|2[&size][&fps]`,
/// both at access level Live and above (guest when on), like RTSP viewing.
pub fn router(hub: MediaHub) -> Router {
    Router::new()
        .route("/api/v1/snapshot.jpg", get(snapshot))
        .route("/api/v1/mjpeg", get(mjpeg))
        .with_state(hub)
}

async fn snapshot(
    _: Require<Live>,
    State(hub): State<MediaHub>,
    RawQuery(q): RawQuery,
) -> Response {
    camward_media::http::snapshot_from_query(&hub, q.as_deref())
        .await
        .map(axum::body::Body::new)
}

async fn mjpeg(_: Require<Live>, State(hub): State<MediaHub>, RawQuery(q): RawQuery) -> Response {
    camward_media::http::mjpeg_from_query(&hub, q.as_deref()).map(axum::body::Body::new)
}
