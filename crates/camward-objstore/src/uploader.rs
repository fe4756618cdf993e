//! The uploader (paper §3.8: recordings kept encrypted on the card and in the cloud): moves closed
//! recordings from the card to the bucket, oldest first, one at a time. Each file is uploaded,
//! checked (the SHA-256 sent with the PUT, verified by the store; else the size and the store's
//! S3 digest of the bytes it received — or, from a store whose ETag is not that digest, the object
//! read back and hashed), recorded as confirmed in the index
//! with its SHA-256, and only then removed from the card. The queue is the index itself — closed recordings without a confirmed
//! upload — so it survives restarts, is bounded by the card (retention keeps those files while the
//! store is configured) and needs no second copy. Failures back off (1 s doubling to 15 s); a
//! store that refuses the credentials or the bucket is reported and not retried until the
//! settings change (or an hour has passed, for a fix made on the store's side). For each index
//! it opens, the uploader also lists the bucket back into it ([`crate::adopt`]), in steps between
//! its passes: recordings that live only in the bucket are not forgotten with a lost index.

use crate::adopt::Walk;
use crate::store::{Confirmed, Store, StoreError};
use camward_config::{ObjectStorageConfig, RecordingConfig};
use camward_record::Index;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Pause between two looks at the index for newly closed recordings.
const IDLE: Duration = Duration::from_secs(2);
/// Back-off after a failure: doubles from 1 s to this.
const MAX_BACKOFF: Duration = Duration::from_secs(15);
/// Pause after the store refused the credentials or the bucket, unless the settings change.
const REJECTED_PAUSE: Duration = Duration::from_secs(3600);
/// A copy fetched back for playback stays on the card this long after its last use.
pub const FETCHED_COPY_KEEP_MS: i64 = 10 * 60 * 1000;
/// Bucket retention by age runs at most this often.
const BUCKET_RETENTION_EVERY: Duration = Duration::from_secs(60);
/// Recordings taken from the queue per look (the rest wait for the next look).
const BATCH: usize = 32;

/// What the uploader is doing, for the status page and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Object storage is off.
    #[default]
    Off,
    /// Uploads go through (or nothing is waiting).
    Ok,
    /// The store cannot be reached: recordings wait on the card and are retried.
    Unavailable,
    /// The store refused the credentials or the bucket: nothing is uploaded until the settings
    /// are fixed.
    Rejected,
    /// Something else failed (the card, a mismatch); retried.
    Error,
}

/// The uploader's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    pub state: State,
    /// The last problem, for people; empty while all is well.
    pub message: String,
    /// Recordings uploaded and confirmed since the daemon started.
    pub uploaded: u64,
    /// Failed tries since the last success.
    pub failed_attempts: u64,
    /// The card is at retention's limit while recordings wait for the store.
    pub card_full: bool,
    /// Recordings listed back from the bucket into the index since the daemon started (they
    /// live only in the bucket and the index did not know them: a lost or replaced index).
    pub adopted: u64,
    /// The bucket is being listed against the index now.
    pub adopting: bool,
}

/// Shared between the uploader, the status page and playback from the bucket.
#[derive(Debug, Clone, Default)]
pub struct Handle {
    status: Arc<Mutex<Status>>,
    store: Arc<Mutex<Option<Arc<Store>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Handle {
    pub fn status(&self) -> Status {
        lock(&self.status).clone()
    }

    fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut lock(&self.status));
    }

    /// The store in use; `None` while object storage is off.
    pub fn store(&self) -> Option<Arc<Store>> {
        lock(&self.store).clone()
    }

    /// Makes sure recording `id` has a copy on the card, fetching it back from the bucket when
    /// it lives there only. `Ok(false)`: the recording is not in the bucket (card only).
    pub async fn ensure_local(&self, index: &Index, id: i64) -> Result<bool, StoreError> {
        let Some(up) = index.upload_of(id).ok().flatten() else {
            return Ok(false);
        };
        if !up.confirmed {
            return Ok(false);
        }
        let Some(row) = index.get(id).ok().flatten() else {
            return Ok(false);
        };
        let path = index.dir().join(&row.path);
        if up.local_copy && path.exists() {
            // Keeps the copy a while longer: it is being used.
            let _ = index.local_copy_fetched(id);
            return Ok(true);
        }
        let store = self.store().ok_or_else(|| {
            StoreError::Config(format!(
                "recording {id} is in the object store ({}), which is switched off",
                up.store
            ))
        })?;
        if store.id() != up.store {
            return Err(StoreError::Config(format!(
                "recording {id} is in another object store ({}) than the one configured",
                up.store
            )));
        }
        let want = match (up.object_bytes, up.sha256.clone()) {
            (Some(bytes), Some(sha256)) => Some(Confirmed { bytes, sha256 }),
            _ => None,
        };
        store.fetch(&up.object_key, &path, want.as_ref()).await?;
        index
            .local_copy_fetched(id)
            .map_err(|e| StoreError::Config(e.to_string()))?;
        tracing::info!(
            id,
            key = up.object_key,
            "recording fetched back from the object store"
        );
        Ok(true)
    }
}

/// What the uploader needs.
pub struct Input {
    pub config: ObjectStorageConfig,
    /// Retention's settings: the uploader says when the card is full of files waiting.
    pub recording: RecordingConfig,
    /// The recorder's index as it is now (`None` while the recorder restarts).
    pub index: Arc<dyn Fn() -> Option<Arc<Index>> + Send + Sync>,
    pub handle: Handle,
    pub shutdown: CancellationToken,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs until `shutdown`. With object storage off it lifts the hold and reports `off`.
pub async fn run(input: Input) {
    let Input {
        config,
        recording,
        index,
        handle,
        shutdown,
    } = input;
    if !config.enabled {
        *lock(&handle.store) = None;
        handle.update(|s| {
            *s = Status::default();
        });
        // Retention may delete unconfirmed files again.
        set_hold_when_ready(&*index, &shutdown, false).await;
        return;
    }
    let store = match Store::new(&config) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!(error = %e, "object storage cannot start");
            handle.update(|s| {
                s.state = State::Rejected;
                s.message = e.to_string();
            });
            // Still configured: what waits for the store stays on the card.
            set_hold_when_ready(&*index, &shutdown, true).await;
            return;
        }
    };
    *lock(&handle.store) = Some(store.clone());
    handle.update(|s| {
        s.state = State::Ok;
        s.message.clear();
        s.failed_attempts = 0;
    });
    tracing::info!(
        store = store.id(),
        "object storage on: closed recordings move to the bucket"
    );
    let mut backoff = Duration::from_secs(1);
    let mut last_retention: Option<tokio::time::Instant> = None;
    // The index the hold was set on, by address (a recorder restart opens a new one).
    let mut held: Option<usize> = None;
    // The walk over the bucket for the index at that address: one per index opened.
    let mut adoption: Option<(usize, Walk)> = None;
    loop {
        let mut wait = IDLE;
        if let Some(ix) = index() {
            let at = Arc::as_ptr(&ix) as usize;
            if held != Some(at) {
                match ix.set_upload_hold(true) {
                    Ok(()) => held = Some(at),
                    Err(e) => tracing::error!(error = %e, "cannot set the upload hold"),
                }
            }
            remove_card_copies(&ix, now_ms() - FETCHED_COPY_KEEP_MS);
            if adoption.as_ref().is_none_or(|(i, _)| *i != at) {
                adoption = Some((at, Walk::new(&config, recording.min_free_bytes)));
            }
            if let Some((_, walk)) = adoption.as_mut() {
                let before = walk.counts().adopted;
                walk.step(&ix, &store, &shutdown).await;
                let (adopted, adopting) = (walk.counts().adopted - before, !walk.done());
                handle.update(|s| {
                    s.adopted += adopted;
                    s.adopting = adopting;
                });
                if walk.ready() {
                    // More to read back: the next step right after this pass.
                    wait = Duration::ZERO;
                }
            }
            match upload_pass(&ix, &store, &config, &handle, &shutdown).await {
                Ok(()) => backoff = Duration::from_secs(1),
                Err(StoreError::Rejected(m)) => {
                    tracing::error!(
                        store = store.id(),
                        error = m,
                        "object store refused the credentials or the bucket: uploads stop until the object storage settings are fixed; recordings stay on the card"
                    );
                    handle.update(|s| {
                        s.state = State::Rejected;
                        s.message = format!(
                            "the object store refused the credentials or the bucket ({m}); check the access key, secret key, bucket and region"
                        );
                    });
                    wait = REJECTED_PAUSE;
                }
                Err(e) => {
                    wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    let unavailable = matches!(e, StoreError::Unavailable(_));
                    tracing::warn!(error = %e, retry_in_s = wait.as_secs(), "upload failed; the recording waits on the card");
                    handle.update(|s| {
                        s.state = if unavailable {
                            State::Unavailable
                        } else {
                            State::Error
                        };
                        s.message = e.to_string();
                    });
                }
            }
            if config.retention_days > 0
                && last_retention.is_none_or(|t| t.elapsed() >= BUCKET_RETENTION_EVERY)
                && lock(&handle.status).state == State::Ok
            {
                last_retention = Some(tokio::time::Instant::now());
                bucket_retention(&ix, &store, config.retention_days).await;
            }
            warn_if_card_full(&ix, &recording, &handle);
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Sets or lifts the retention hold once the recorder's index exists (bounded: 5 minutes).
async fn set_hold_when_ready(
    index: &(dyn Fn() -> Option<Arc<Index>> + Send + Sync),
    shutdown: &CancellationToken,
    hold: bool,
) {
    for _ in 0..600 {
        if let Some(ix) = index() {
            if let Err(e) = ix.set_upload_hold(hold) {
                tracing::warn!(error = %e, hold, "cannot change the upload hold");
            }
            return;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// Uploads what waits, oldest first; stops at the first failure (the store is likely down).
async fn upload_pass(
    ix: &Arc<Index>,
    store: &Store,
    config: &ObjectStorageConfig,
    handle: &Handle,
    shutdown: &CancellationToken,
) -> Result<(), StoreError> {
    let queue = ix
        .upload_queue(BATCH)
        .map_err(|e| StoreError::Config(e.to_string()))?;
    for row in queue {
        if shutdown.is_cancelled() {
            break;
        }
        let key = config.key_of(&row.path);
        let path = ix.dir().join(&row.path);
        // Timed apart for the log: the read-back check's share of an upload is what an
        // installer on a metered uplink (and scripts/bench-objstore) wants to see.
        let started = std::time::Instant::now();
        let mut uploaded_in = Duration::ZERO;
        let res = async {
            let up = store.upload(&path, &key).await?;
            uploaded_in = started.elapsed();
            let checked = store.check(&key, &up).await?;
            Ok::<_, StoreError>((up.confirmed, checked))
        }
        .await;
        let verified_in = started.elapsed().saturating_sub(uploaded_in);
        let (c, checked) = match res {
            Ok(c) => c,
            Err(e) => {
                let _ = ix.upload_failed(row.id, &key, store.id(), &e.to_string());
                handle.update(|s| s.failed_attempts += 1);
                return Err(e);
            }
        };
        // Durable before the card copy goes: a crash in between leaves a confirmed row with its
        // file, which the next look removes; the other order could lose the recording.
        ix.upload_confirmed(row.id, &key, store.id(), c.bytes, &c.sha256)
            .map_err(|e| StoreError::Config(e.to_string()))?;
        remove_copy(ix, row.id, &path);
        tracing::info!(
            id = row.id,
            key,
            bytes = c.bytes,
            sha256 = c.sha256,
            upload_ms = uploaded_in.as_millis() as u64,
            verify_ms = verified_in.as_millis() as u64,
            checked = checked.as_str(),
            "recording moved to the object store"
        );
        handle.update(|s| {
            s.state = State::Ok;
            s.message.clear();
            s.uploaded += 1;
            s.failed_attempts = 0;
        });
    }
    Ok(())
}

/// File first, then the index (as retention does): a crash in between leaves a confirmed row
/// without a file, which recovery notes as moved.
fn remove_copy(ix: &Index, id: i64, path: &std::path::Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(id, path = %path.display(), error = %e, "cannot remove the card copy of an uploaded recording");
            return;
        }
    }
    if let Err(e) = ix.local_copy_removed(id) {
        tracing::warn!(id, error = %e, "cannot note the removed card copy");
    }
}

/// Card copies of confirmed recordings (left by a crash, or fetched back for playback and not
/// used since `before_ms`).
fn remove_card_copies(ix: &Index, before_ms: i64) {
    for row in ix.removable_local_copies(before_ms).unwrap_or_default() {
        remove_copy(ix, row.id, &ix.dir().join(&row.path));
    }
}

/// Deletes objects (and their index rows) of recordings that ended more than `days` ago.
async fn bucket_retention(ix: &Index, store: &Store, days: u32) {
    let before = now_ms() - i64::from(days) * 86_400_000;
    for (row, up) in ix.bucket_expired(before).unwrap_or_default() {
        if up.store != store.id() {
            // Another store's object: its retention is that store's business.
            continue;
        }
        // Object first, then the card copy and the row: a crash in between leaves a row whose
        // object is gone, which is tried again (a deleted object counts as deleted).
        if let Err(e) = store.delete(&up.object_key).await {
            tracing::warn!(id = row.id, key = up.object_key, error = %e, "bucket retention could not delete an object");
            return;
        }
        let path = ix.dir().join(&row.path);
        let _ = std::fs::remove_file(&path);
        if let Err(e) = ix.delete(row.id) {
            tracing::warn!(id = row.id, error = %e, "bucket retention could not drop the index row");
            return;
        }
        tracing::info!(
            id = row.id,
            key = up.object_key,
            days,
            "bucket retention deleted a recording older than the limit"
        );
    }
}

/// Logs loudly and reports when the card's free space is at the retention limit while closed
/// recordings still wait for the store (retention may not delete them).
fn warn_if_card_full(ix: &Index, recording: &RecordingConfig, handle: &Handle) {
    let Ok(counts) = ix.upload_counts() else {
        return;
    };
    if counts.queued == 0 {
        handle.update(|s| s.card_full = false);
        return;
    }
    let free = camward_record::retention::free_bytes(ix.dir()).unwrap_or(u64::MAX);
    let used = ix.total_bytes().unwrap_or(0);
    let full = free < recording.min_free_bytes
        || (recording.quota_bytes != 0 && used > recording.quota_bytes);
    handle.update(|s| s.card_full = full);
    if full {
        handle.update(|s| {
            if !s.message.contains("card is full") {
                tracing::error!(
                    waiting = counts.queued,
                    waiting_bytes = counts.queued_bytes,
                    free,
                    "the card is full of recordings waiting for the object store; none is deleted before it is confirmed in the bucket"
                );
                s.message = format!(
                    "the card is full: {} recordings ({} bytes) wait for the object store; {}",
                    counts.queued, counts.queued_bytes, s.message
                );
            }
        });
    }
}
