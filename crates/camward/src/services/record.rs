//! The recording service (paper §3.8–3.9, the "SD memory card"): records Stream(1)/(2) off the media
//! hub's buses into fMP4, encrypted per file when `data_encryption` is on; its index is the web
//! API's recordings, and the camera checks a recording's signatures on request (§3.9) — never those
//! of an encrypted one, which it does not decrypt.

use camward_config::{DataEncryptionConfig, RecordingConfig};
use camward_media::MediaHub;
use camward_record::{
    Clear, Encrypt, Index, ListFilter, RecorderHandle, RecorderOptions, RecordingRow, State,
    Trigger, timeutil,
};
use camward_store::ConfigHandle;
use camward_web::{
    ApiError, Download, ObjectStoreState, RecordingFilter, RecordingInfo, RecordingLocation,
    RecordingState, RecordingTrigger, Recordings, SignerSummary, SignerTrust, StorageState,
    Verification, VerificationVerdict,
};
use std::collections::HashMap;
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
    /// The device identity: the trust anchor and "this camera" of verification verdicts.
    identity: Option<Arc<camward_tls::DeviceIdentity>>,
    /// Verdicts of finished files by id, with the length and modification time they were
    /// computed for (a file changed on the card is checked again).
    verdicts: Arc<Mutex<HashMap<i64, (FileStamp, Verification)>>>,
    /// The object store uploader: its status for the status page, and the store recordings that
    /// live in the bucket only are fetched back from for download, export and verification.
    objstore: camward_objstore::Handle,
    /// Upstream cameras to record (recorder mode), by name: kept here so that a recorder
    /// restarted for a new directory or encryption records them again.
    cameras: Arc<Mutex<HashMap<String, CameraFeed>>>,
}

/// An upstream camera as the recorder takes it: its bus, its stream number and whether it is
/// recorded continuously or only on alarms.
#[derive(Clone)]
pub struct CameraFeed {
    pub stream: u8,
    pub bus: Arc<camward_media::FrameBus>,
    pub continuous: bool,
}

impl Recording {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<RecorderHandle>> {
        self.handle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, h: Option<RecorderHandle>) {
        *self.index.lock().unwrap_or_else(|p| p.into_inner()) = h.as_ref().map(|h| h.index());
        if let Some(h) = &h {
            for (name, f) in lock(&self.cameras).iter() {
                h.record_camera(name, f.stream, f.bus.clone(), f.continuous);
            }
        }
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

    /// The uploader's handle (the object storage service runs with it).
    pub fn objstore(&self) -> camward_objstore::Handle {
        self.objstore.clone()
    }

    /// Fetches back from the bucket the recordings in `ids` that live there only, so download,
    /// export and verification read them as they read the card (blocking: called from the
    /// API's blocking tasks).
    fn ensure_local(&self, index: &Index, ids: &[i64]) -> Result<(), ApiError> {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return Ok(());
        };
        for &id in ids {
            if let Err(e) = rt.block_on(self.objstore.ensure_local(index, id)) {
                tracing::warn!(id, error = %e, "cannot fetch a recording back from the object store");
                return Err(ApiError::unavailable(
                    "object_store",
                    format!("recording {id} is in the object store and cannot be fetched now: {e}"),
                    true,
                ));
            }
        }
        Ok(())
    }

    pub fn with_identity(mut self, identity: Arc<camward_tls::DeviceIdentity>) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Streams with a file being written now.
    pub fn streams_writing(&self) -> Vec<u8> {
        let Some(index) = self.index() else {
            return Vec::new();
        };
        let mut v: Vec<u8> = index
            .in_state(State::Recording)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.camera.is_none())
            .map(|r| r.stream)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The storage as the status page shows it.
    pub fn storage(&self) -> StorageState {
        let empty = |state: &str| StorageState {
            state: state.into(),
            used_bytes: 0,
            free_bytes: 0,
            total_bytes: 0,
            recordings: 0,
            oldest: None,
            newest: None,
            object_store: None,
        };
        let Some(index) = self.index() else {
            let state = if self.tried.load(Ordering::Acquire) {
                "unavailable"
            } else {
                "starting"
            };
            return empty(state);
        };
        let (free, total) = camward_record::retention::space(index.dir()).unwrap_or((0, 0));
        let (count, oldest, newest) = index.summary().unwrap_or((0, None, None));
        let up = self.objstore.status();
        let object_store = (up.state != camward_objstore::State::Off).then(|| {
            let counts = index.upload_counts().unwrap_or_default();
            ObjectStoreState {
                state: serde_json::to_value(up.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                message: up.message.clone(),
                waiting: counts.queued,
                waiting_bytes: counts.queued_bytes,
                in_bucket: counts.in_bucket,
                in_bucket_bytes: counts.in_bucket_bytes,
                uploaded: up.uploaded,
                failed_attempts: up.failed_attempts,
                card_full: up.card_full,
                adopted: up.adopted,
                adopting: up.adopting,
            }
        });
        StorageState {
            state: "ok".into(),
            used_bytes: index.total_bytes().unwrap_or(0),
            free_bytes: free,
            total_bytes: total,
            recordings: count,
            oldest: oldest.map(timeutil::rfc3339),
            newest: newest.map(timeutil::rfc3339),
            object_store,
        }
    }

    /// The index of the running recorder, for listing and downloads.
    pub fn index(&self) -> Option<Arc<Index>> {
        self.index.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Streams being recorded now; `None` while the recorder is not running.
    pub fn streams(&self) -> Option<Vec<u8>> {
        self.lock().as_ref().map(|h| h.streams())
    }

    /// Records the upstream camera `name` from `feed`, or stops recording it (`None`); follows
    /// recorder restarts.
    pub fn set_camera(&self, name: &str, feed: Option<CameraFeed>) {
        let mut cams = lock(&self.cameras);
        let h = self.lock();
        match feed {
            Some(f) => {
                if let Some(h) = h.as_ref() {
                    h.record_camera(name, f.stream, f.bus.clone(), f.continuous);
                }
                cams.insert(name.to_owned(), f);
            }
            None => {
                if let Some(h) = h.as_ref() {
                    h.stop_camera(name);
                }
                cams.remove(name);
            }
        }
    }

    /// Upstream cameras being recorded now.
    pub fn cameras_recording(&self) -> Vec<String> {
        self.lock()
            .as_ref()
            .map(|h| h.cameras())
            .unwrap_or_default()
    }

    /// Starts or extends an alarm recording (the alarm service's "record" action), of this
    /// device's stream and of every upstream camera recorded on alarms.
    pub fn trigger_alarm(&self, stream: u8, pre_secs: u32, post_secs: u32) -> Result<(), String> {
        let alarm_cameras: Vec<String> = lock(&self.cameras)
            .iter()
            .filter(|(_, f)| !f.continuous)
            .map(|(n, _)| n.clone())
            .collect();
        if let Some(h) = self.lock().as_ref() {
            for name in alarm_cameras {
                if let Err(e) = h.trigger_camera_alarm(&name, pre_secs, post_secs) {
                    tracing::warn!(camera = %name, error = %e, "camera alarm recording did not start");
                }
            }
        }
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
            camera: match &f.camera {
                Some(c) => camward_record::CameraFilter::Named(c.clone()),
                None => camward_record::CameraFilter::Any,
            },
            stream: f.stream,
            from_ms: f.from_ms,
            to_ms: f.to_ms,
        };
        let rows = index.list(&filter).map_err(|e| index_error(&e))?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let location = match index.upload_of(r.id).ok().flatten() {
                    Some(u) if u.confirmed && u.local_copy => RecordingLocation::CardAndBucket,
                    Some(u) if u.confirmed => RecordingLocation::Bucket,
                    _ => RecordingLocation::Card,
                };
                info(r, location)
            })
            .collect())
    }

    fn open(&self, id: i64) -> Result<(std::fs::File, u64, String), ApiError> {
        let index = self.index().ok_or_else(|| self.unavailable())?;
        let row = index
            .get(id)
            .map_err(|e| index_error(&e))?
            .ok_or_else(|| ApiError::not_found(format!("recording {id} does not exist")))?;
        self.ensure_local(&index, &[id])?;
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
        let name = match &row.camera {
            Some(c) => format!(
                "camward-{c}-stream{}-{}-{id}.mp4",
                row.stream,
                timeutil::file_stamp(row.start_ms)
            ),
            None => format!(
                "camward-stream{}-{}-{id}.mp4",
                row.stream,
                timeutil::file_stamp(row.start_ms)
            ),
        };
        Ok((file, len, name))
    }

    fn export(
        &self,
        camera: Option<&str>,
        stream: u8,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Download, ApiError> {
        let index = self.index().ok_or_else(|| self.unavailable())?;
        let ids: Vec<i64> = index
            .list(&ListFilter {
                camera: camera_filter(camera),
                stream: Some(stream),
                from_ms: Some(from_ms),
                to_ms: Some(to_ms),
            })
            .map_err(|e| index_error(&e))?
            .into_iter()
            .map(|r| r.id)
            .collect();
        // One GOP beyond the range may be read (the signature of the last one travels in the
        // next): the recording after the range is fetched too when it is in the bucket only.
        let next: Vec<i64> = index
            .list(&ListFilter {
                camera: camera_filter(camera),
                stream: Some(stream),
                from_ms: Some(to_ms),
                to_ms: None,
            })
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.id)
            .filter(|id| !ids.contains(id))
            .take(1)
            .collect();
        self.ensure_local(&index, &ids)?;
        self.ensure_local(&index, &next)?;
        let x = camward_record::export(&index, camera, stream, from_ms, to_ms)
            .map_err(|e| index_error(&e))?;
        let who = camera.map(|c| format!("{c}-")).unwrap_or_default();
        let name = format!(
            "camward-{who}stream{stream}-{}-{}.mp4",
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

    fn verify(&self, id: i64) -> Result<Verification, ApiError> {
        self.check(id)
    }
}

impl Recording {
    fn check(&self, id: i64) -> Result<Verification, ApiError> {
        let index = self.index().ok_or_else(|| self.unavailable())?;
        let row = index
            .get(id)
            .map_err(|e| index_error(&e))?
            .ok_or_else(|| ApiError::not_found(format!("recording {id} does not exist")))?;
        let partial = row.state == State::Recording;
        let base = |verdict, message: &str| Verification {
            id,
            verdict,
            first_altered_frame: None,
            frames: row.frames,
            verified_frames: 0,
            partial,
            signer: None,
            message: message.to_owned(),
        };
        if row.encrypted {
            return Ok(base(
                VerificationVerdict::Encrypted,
                "Encrypted: the camera never decrypts recordings, so it cannot check this one.                  Download it, decrypt it with `camward decrypt` on a viewer's computer, then check it                  with `camward verify`.",
            ));
        }
        self.ensure_local(&index, &[id])?;
        let path = index.dir().join(&row.path);
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ApiError::not_found(format!("recording {id} was deleted")));
            }
            Err(e) => return Err(ApiError::internal(format!("open {}: {e}", path.display()))),
        };
        let stamp = file
            .metadata()
            .map(|m| (m.len(), m.modified().ok()))
            .unwrap_or((0, None));
        if let Some((l, v)) = lock(&self.verdicts).get(&id)
            && *l == stamp
            && !partial
        {
            return Ok(v.clone());
        }
        let opts = camward_sign::VerifyOptions {
            trust_anchor_pem: self.trust_anchor(),
            at: None,
        };
        let report = match camward_sign::verify::verify_mp4_reader(&mut file, &opts, &mut |_| {}) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(id, error = %e, "recording cannot be read for verification");
                let mut v = base(
                    VerificationVerdict::Altered,
                    "Altered: the file is damaged and cannot be read as a recording.",
                );
                v.frames = 0;
                return Ok(v);
            }
        };
        let v = verdict_of(id, partial, &report, self.identity.as_deref());
        if !partial {
            let mut m = lock(&self.verdicts);
            if m.len() > 4096 {
                m.clear();
            }
            m.insert(id, (stamp, v.clone()));
        }
        Ok(v)
    }

    /// The issuers of this camera's CA-issued chain: a recording signed by a key they certify is
    /// "trusted". A self-signed camera has no anchor.
    fn trust_anchor(&self) -> Option<String> {
        let id = self.identity.as_ref()?;
        if id.kind() != camward_tls::CertKind::CaIssued {
            return None;
        }
        let pem = id.certificate_chain_pem();
        let blocks: Vec<&str> = pem
            .split_inclusive("-----END CERTIFICATE-----")
            .filter(|b| b.contains("BEGIN CERTIFICATE"))
            .collect();
        (blocks.len() > 1).then(|| blocks[1..].concat())
    }
}

type FileStamp = (u64, Option<std::time::SystemTime>);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The API's verdict from the verifier's report.
fn verdict_of(
    id: i64,
    partial: bool,
    r: &camward_sign::Report,
    identity: Option<&camward_tls::DeviceIdentity>,
) -> Verification {
    use camward_sign::{Provenance, Verdict};
    let first_altered_frame = r
        .gops
        .iter()
        .filter(|g| g.verdict == Verdict::Altered)
        .filter_map(|g| {
            // The frames that differ; a GOP whose signature fails as a whole counts from its start.
            g.altered_frames
                .iter()
                .copied()
                .min()
                .or(g.frames.map(|f| f.0))
        })
        .min()
        .map(|f| u64::from(f) + 1);
    let verdict = match r.verdict {
        Verdict::Authentic => VerificationVerdict::Authentic,
        Verdict::Pending if r.counts.validated_frames > 0 => VerificationVerdict::Authentic,
        Verdict::Pending => VerificationVerdict::Pending,
        // A file being written whose first key-frame group is not signed yet (its signature
        // follows the group): nothing to judge yet.
        Verdict::Unsigned if partial && r.counts.validated_frames == 0 => {
            VerificationVerdict::Pending
        }
        Verdict::NotVerifiable => VerificationVerdict::NotVerifiable,
        Verdict::Unsigned => VerificationVerdict::Unsigned,
        Verdict::MissingFrames => VerificationVerdict::MissingFrames,
        Verdict::Reordered => VerificationVerdict::Reordered,
        Verdict::Altered => VerificationVerdict::Altered,
    };
    let signer = r.signer.as_ref().map(|s| SignerSummary {
        trust: match r.provenance {
            Provenance::Trusted => SignerTrust::Trusted,
            Provenance::SelfSigned => SignerTrust::SelfSigned,
            Provenance::Untrusted(_) | Provenance::NotVerifiable => SignerTrust::Untrusted,
        },
        this_camera: identity.is_some_and(|i| s.subject.contains(i.serial())),
        subject: s.subject.clone(),
        issuer: s.issuer.clone(),
    });
    let message = match verdict {
        VerificationVerdict::Authentic if partial => {
            "Authentic so far: every signed frame matches; the last frames are signed when the file is closed."
                .to_owned()
        }
        VerificationVerdict::Authentic => {
            "Authentic: every frame matches the signature the camera added when recording.".to_owned()
        }
        VerificationVerdict::Altered => match first_altered_frame {
            Some(f) => format!("Altered at frame {f}: the picture differs from what the camera signed."),
            None => "Altered: a signature does not verify.".to_owned(),
        },
        VerificationVerdict::MissingFrames => "Frames are missing: some signed pictures were removed.".to_owned(),
        VerificationVerdict::Reordered => "Reordered: signed pictures are out of their order.".to_owned(),
        VerificationVerdict::Unsigned => {
            "Unsigned: alteration detection was off when this was recorded.".to_owned()
        }
        VerificationVerdict::NotVerifiable => {
            "Signed, but the signature cannot be checked: the stream carries no certificate.".to_owned()
        }
        VerificationVerdict::Pending => "Being recorded: nothing is signed yet.".to_owned(),
        VerificationVerdict::Encrypted => "Encrypted.".to_owned(),
    };
    Verification {
        id,
        verdict,
        first_altered_frame: (verdict == VerificationVerdict::Altered)
            .then_some(first_altered_frame)
            .flatten(),
        frames: u64::from(r.counts.received_frames),
        verified_frames: u64::from(r.counts.validated_frames),
        partial,
        signer,
        message,
    }
}

/// The rows an export of `camera` (None: this device's own streams) reads, as `export` picks them.
fn camera_filter(camera: Option<&str>) -> camward_record::CameraFilter {
    match camera {
        Some(c) => camward_record::CameraFilter::Named(c.to_owned()),
        None => camward_record::CameraFilter::Local,
    }
}

fn info(r: RecordingRow, location: RecordingLocation) -> RecordingInfo {
    RecordingInfo {
        id: r.id,
        camera: r.camera,
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
        location,
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
