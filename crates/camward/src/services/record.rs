//! The recording service (paper §3.8–3.9, the "SD memory card"): records Stream(1)/(2) off the media
//! hub's buses into fMP4, encrypted per file when `data_encryption` is on, and serves the recordings API.

use crate::daemon::Shared;
use axum::Router;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use camward_cenc::DataEncryptionConfig;
use camward_record::{Clear, Encrypt, Index, RecorderHandle, RecorderOptions, RecordingConfig};
use camward_web::{Control, Require};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// The running recorder, shared by the service task (which replaces it on directory or
/// encryption changes), the HTTP routes and the alarm actions. `None` while (re)starting or
/// when the recording directory is unusable.
#[derive(Clone, Default)]
pub struct Recording {
    handle: Arc<Mutex<Option<RecorderHandle>>>,
    /// Kept apart from the handle so the API keeps listing (the old index) while the recorder
    /// restarts, e.g. when encryption is switched on.
    index: Arc<Mutex<Option<Arc<Index>>>>,
    /// Set once the first start has been tried: until then the API says "starting" (recovery
    /// after an unclean stop may take a moment) rather than "not available".
    tried: Arc<AtomicBool>,
}

impl Recording {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<RecorderHandle>> {
        self.handle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, h: Option<RecorderHandle>) {
        *self.index.lock().unwrap_or_else(|p| p.into_inner()) = h.as_ref().map(|h| h.index());
        *self.lock() = h;
        self.tried.store(true, Ordering::Release);
    }

    /// The 503 that says why there is no index.
    fn unavailable(&self) -> Response {
        if !self.tried.load(Ordering::Acquire) {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(axum::http::header::RETRY_AFTER, "1")],
                axum::Json(serde_json::json!({
                    "error": "recording storage is starting (checking its files); retry shortly"
                })),
            )
                .into_response();
        }
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "error": "recording storage is not available (see the log)"
            })),
        )
            .into_response()
    }

    /// The index of the running recorder, for listing and downloads.
    pub fn index(&self) -> Option<Arc<Index>> {
        self.index.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Starts or extends an alarm recording (the alarm service's "record" action).
    #[allow(dead_code)] // called by the alarm actions once they are wired
    pub fn trigger_alarm(&self, stream: u8, pre_secs: u32, post_secs: u32) -> Result<(), String> {
        match self.lock().as_ref() {
            Some(h) => h
                .trigger_alarm(stream, pre_secs, post_secs)
                .map_err(|e| e.to_string()),
            None => Err("the recorder is not running (see the log)".into()),
        }
    }
}

fn options(enc: &DataEncryptionConfig) -> RecorderOptions {
    let mut o = RecorderOptions::default();
    match enc.active_recipients() {
        Some(r) if !r.is_empty() => o.transform = Arc::new(Encrypt::new(r)),
        _ => o.transform = Arc::new(Clear),
    }
    o
}

/// What needs a recorder restart rather than `apply`: the index lives in the directory, and the
/// transform is fixed for a recorder's life.
type RestartKey = (PathBuf, DataEncryptionConfig);

async fn start_recorder(
    shared: &Arc<Shared>,
    cfg: RecordingConfig,
    enc: &DataEncryptionConfig,
) -> Option<RecorderHandle> {
    let dir = cfg.resolve_directory(&shared.data_dir);
    let buses: Vec<_> = [1u8, 2]
        .into_iter()
        .filter_map(|n| shared.media.stream(n).map(|b| (n, b)))
        .collect();
    let opts = options(enc);
    let encrypted = enc.enabled;
    // Recovery walks unfinished files (fsync, truncate): keep it off the async workers.
    let res = tokio::task::spawn_blocking(move || {
        camward_record::Recorder::start_with(&dir, cfg, buses, opts).map(|h| (h, dir))
    })
    .await;
    match res {
        Ok(Ok((h, dir))) => {
            tracing::info!(dir = %dir.display(), encrypted, streams = ?h.streams(), "recorder running");
            Some(h)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot start the recorder; recording is off until the setting changes");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "recorder start-up panicked");
            None
        }
    }
}

/// Recovers and starts the recorder (also with recording off, so the API lists what the card
/// holds), follows `recording`/`data_encryption` changes, and closes every file at shutdown.
pub fn start(shared: &Arc<Shared>) -> JoinHandle<()> {
    let shared = shared.clone();
    tokio::spawn(async move {
        let mut changes = shared.config.subscribe();
        let c = changes.borrow_and_update().clone();
        let mut applied = c.recording.clone();
        let mut key: RestartKey = (c.recording.directory.clone(), c.data_encryption.clone());
        let h = start_recorder(&shared, c.recording.clone(), &c.data_encryption).await;
        shared.recording.set(h);
        loop {
            tokio::select! {
                _ = shared.shutdown.cancelled() => break,
                r = changes.changed() => if r.is_err() { break },
            }
            let c = changes.borrow_and_update().clone();
            let want: RestartKey = (c.recording.directory.clone(), c.data_encryption.clone());
            let running = shared.recording.lock().is_some();
            if want != key || !running {
                if want == key && c.recording == applied {
                    continue;
                }
                tracing::info!("restarting the recorder (directory or encryption changed)");
                let old = shared.recording.lock().take();
                if let Some(old) = old {
                    old.shutdown().await;
                }
                let h = start_recorder(&shared, c.recording.clone(), &c.data_encryption).await;
                shared.recording.set(h);
                key = want;
                applied = c.recording.clone();
            } else if c.recording != applied {
                if let Some(h) = shared.recording.lock().as_ref() {
                    h.apply(c.recording.clone());
                }
                applied = c.recording.clone();
            }
        }
        let h = shared.recording.lock().take();
        if let Some(h) = h {
            h.shutdown().await;
        }
    })
}

/// `GET /api/v1/recordings`, `GET /api/v1/recordings/{id}.mp4` (Range) and `GET /api/v1/export.mp4`,
/// at access level Camera control and above (issue 5).
pub fn router(recording: Recording) -> Router {
    Router::new()
        .route("/api/v1/recordings", get(list))
        .route("/api/v1/recordings/{file}", get(download))
        .route("/api/v1/export.mp4", get(export))
        .with_state(recording)
}

async fn list(
    _: Require<Control>,
    State(rec): State<Recording>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some(index) = rec.index() else {
        return rec.unavailable();
    };
    camward_record::http::list(&index, q.as_deref()).map(axum::body::Body::new)
}

async fn download(
    _: Require<Control>,
    State(rec): State<Recording>,
    UrlPath(file): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let Some(id) = camward_record::http::parse_recording_id(&file) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": "recordings are addressed as {id}.mp4"})),
        )
            .into_response();
    };
    let Some(index) = rec.index() else {
        return rec.unavailable();
    };
    camward_record::http::download(&index, id, &headers).map(axum::body::Body::new)
}

async fn export(
    _: Require<Control>,
    State(rec): State<Recording>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some(index) = rec.index() else {
        return rec.unavailable();
    };
    // Export reads and indexes every file of the range: keep it off the async workers.
    let r = tokio::task::spawn_blocking(move || camward_record::http::export(&index, q.as_deref()))
        .await;
    match r {
        Ok(r) => r.map(axum::body::Body::new),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_api_says_starting_with_retry_after_until_the_first_start_was_tried() {
        let rec = Recording::default();
        let r = rec.unavailable();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[axum::http::header::RETRY_AFTER], "1");
        // A start that failed (unusable directory): no retry hint, the log says why.
        rec.set(None);
        let r = rec.unavailable();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().get(axum::http::header::RETRY_AFTER).is_none());
    }
}
