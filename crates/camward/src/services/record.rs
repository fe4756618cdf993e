//! The recording service (paper §3.8–3.9, the "SD memory card"): records Stream(1)/(2) off the media
//! hub's buses into fMP4, encrypted per file when `data_encryption` is on; its index is the web
//! API's recordings.

use camward_config::{DataEncryptionConfig, RecordingConfig};
use camward_media::MediaHub;
use camward_record::{
    Clear, Encrypt, Index, ListFilter, RecorderHandle, RecorderOptions, RecordingRow, State,
    Trigger, timeutil,
};
use camward_store::ConfigHandle;
use camward_web::{
    ApiError, Download, RecordingFilter, RecordingInfo, RecordingState, RecordingTrigger,
    Recordings,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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
    fn unavailable(&self) -> ApiError {
        if !self.tried.load(Ordering::Acquire) {
            return ApiError::unavailable(
                "starting",
                "recording storage is starting (checking its files); retry shortly",
                true,
            );
        }
        ApiError::unavailable(
            "unavailable",
            "recording storage is not available (see the log)",
            false,
        )
    }

    /// The index of the running recorder, for listing and downloads.
    pub fn index(&self) -> Option<Arc<Index>> {
        self.index.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Streams being recorded now; `None` while the recorder is not running.
    pub fn streams(&self) -> Option<Vec<u8>> {
        self.lock().as_ref().map(|h| h.streams())
    }

    /// Starts or extends an alarm recording (the alarm service's "record" action).
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
    let recipients: Option<Vec<camward_cenc::Recipient>> = enc.active_recipients().map(|keys| {
        keys.into_iter()
            .filter_map(|k| camward_cenc::Recipient::from_bytes(k).ok())
            .collect()
    });
    match recipients {
        Some(r) if !r.is_empty() => o.transform = Arc::new(Encrypt::new(r)),
        _ => o.transform = Arc::new(Clear),
    }
    o
}

/// What needs a recorder restart rather than `apply`: the index lives in the directory, and the
/// transform is fixed for a recorder's life.
type RestartKey = (PathBuf, DataEncryptionConfig);

async fn start_recorder(
    data_dir: &Path,
    media: &MediaHub,
    cfg: RecordingConfig,
    enc: &DataEncryptionConfig,
) -> Option<RecorderHandle> {
    let dir = cfg.resolve_directory(data_dir);
    let buses: Vec<_> = [1u8, 2]
        .into_iter()
        .filter_map(|n| media.stream(n).map(|b| (n, b)))
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
pub struct Input {
    /// The handle the service fills in (the web API and the alarm actions hold clones).
    pub recording: Recording,
    pub data_dir: PathBuf,
    pub config: ConfigHandle,
    pub media: MediaHub,
    pub shutdown: CancellationToken,
}

pub fn start(input: Input) -> JoinHandle<()> {
    let Input {
        recording,
        data_dir,
        config,
        media,
        shutdown,
    } = input;
    tokio::spawn(async move {
        let mut changes = config.subscribe();
        let c = changes.borrow_and_update().clone();
        let mut applied = c.recording.clone();
        let mut key: RestartKey = (c.recording.directory.clone(), c.data_encryption.clone());
        let h = start_recorder(&data_dir, &media, c.recording.clone(), &c.data_encryption).await;
        recording.set(h);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = changes.changed() => if r.is_err() { break },
            }
            let c = changes.borrow_and_update().clone();
            let want: RestartKey = (c.recording.directory.clone(), c.data_encryption.clone());
            let running = recording.lock().is_some();
            if want != key || !running {
                if want == key && c.recording == applied {
                    continue;
                }
                tracing::info!("restarting the recorder (directory or encryption changed)");
                let old = recording.lock().take();
                if let Some(old) = old {
                    old.shutdown().await;
                }
                let h = start_recorder(&data_dir, &media, c.recording.clone(), &c.data_encryption)
                    .await;
                recording.set(h);
                key = want;
                applied = c.recording.clone();
            } else if c.recording != applied {
                if let Some(h) = recording.lock().as_ref() {
                    h.apply(c.recording.clone());
                }
                applied = c.recording.clone();
            }
        }
        let h = recording.lock().take();
        if let Some(h) = h {
            h.shutdown().await;
        }
    })
}

/// The recorder's index as the web API's recordings.
impl Recordings for Recording {
    fn list(&self, f: &RecordingFilter) -> Result<Vec<RecordingInfo>, ApiError> {
        let index = self.index().ok_or_else(|| self.unavailable())?;
        let filter = ListFilter {
            stream: f.stream,
            from_ms: f.from_ms,
            to_ms: f.to_ms,
        };
        let rows = index.list(&filter).map_err(|e| index_error(&e))?;
        Ok(rows.into_iter().map(info).collect())
    }

    fn open(&self, id: i64) -> Result<(std::fs::File, u64, String), ApiError> {
        let index = self.index().ok_or_else(|| self.unavailable())?;
        let row = index
            .get(id)
            .map_err(|e| index_error(&e))?
            .ok_or_else(|| ApiError::not_found(format!("recording {id} does not exist")))?;
        let path = index.dir().join(&row.path);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            // Retention removed it between listing and download.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ApiError::not_found(format!("recording {id} was deleted")));
            }
            Err(e) => return Err(ApiError::internal(format!("open {}: {e}", path.display()))),
        };
        // The file's own length, not the row's: a file being written grows, and only this is served.
        let len = file
            .metadata()
            .map_err(|e| ApiError::internal(format!("stat {}: {e}", path.display())))?
            .len();
        let name = format!(
            "camward-stream{}-{}-{id}.mp4",
            row.stream,
            timeutil::file_stamp(row.start_ms)
        );
        Ok((file, len, name))
    }

    fn export(&self, stream: u8, from_ms: i64, to_ms: i64) -> Result<Download, ApiError> {
        let index = self.index().ok_or_else(|| self.unavailable())?;
        let x =
            camward_record::export(&index, stream, from_ms, to_ms).map_err(|e| index_error(&e))?;
        let name = format!(
            "camward-stream{stream}-{}-{}.mp4",
            timeutil::file_stamp(x.start_ms),
            timeutil::file_stamp(x.end_ms)
        );
        let len = x.len();
        Ok(Download {
            reader: Box::new(x),
            len,
            name,
        })
    }
}

fn info(r: RecordingRow) -> RecordingInfo {
    RecordingInfo {
        id: r.id,
        stream: r.stream,
        start: timeutil::rfc3339(r.start_ms),
        end: timeutil::rfc3339(r.end_ms),
        bytes: r.bytes,
        frames: r.frames,
        skipped_frames: r.skipped_frames,
        signed: r.signed,
        encrypted: r.encrypted,
        state: match r.state {
            State::Recording => RecordingState::Recording,
            State::Finished => RecordingState::Finished,
            State::Recovered => RecordingState::Recovered,
        },
        trigger: match r.trigger {
            Trigger::Continuous => RecordingTrigger::Continuous,
            Trigger::Alarm => RecordingTrigger::Alarm,
        },
        width: r.width,
        height: r.height,
    }
}

fn index_error(e: &camward_record::Error) -> ApiError {
    use camward_record::Error as E;
    match e {
        E::NotFound(_) | E::NothingToExport { .. } => ApiError::not_found(e.to_string()),
        E::FormatChange { .. } => ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "format_change",
            e.to_string(),
        ),
        _ => {
            tracing::error!(error = %e, "recordings API");
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "storage",
                "recording storage error (see the log)",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    #[test]
    fn recordings_api_says_starting_with_retry_after_until_the_first_start_was_tried() {
        let rec = Recording::default();
        let r = rec.unavailable().into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[axum::http::header::RETRY_AFTER], "1");
        // A start that failed (unusable directory): no retry hint, the log says why.
        rec.set(None);
        let r = rec.unavailable().into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().get(axum::http::header::RETRY_AFTER).is_none());
    }
}
