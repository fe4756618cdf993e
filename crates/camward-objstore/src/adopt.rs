//! Adoption (paper §3.8: recordings kept encrypted "on the card or in the cloud"): the bucket
//! listed back into the recording index, so that recordings living only in the bucket are not
//! forgotten when the index file is lost or replaced (card swap, corruption, an operator deleting
//! it). The uploader walks the configured prefix once for each index it opens, one listing page
//! at a time; every object whose key is a camward recording's path and whose path the index does
//! not know is read back into a temporary `.part` file beside where its file would be (recovery
//! removes such files when a crash leaves one), scanned as recovery scans a file found on the
//! card, and indexed with a confirmed upload row (no card copy, the SHA-256 of the bytes read);
//! the temporary file is then removed. Other objects are left alone and counted. Nothing in the
//! bucket is written or deleted. The walk goes in steps between the uploader's passes, so the
//! card's uploads keep moving while a whole bucket is read back. A listing or a read that fails
//! (the store down, a key without the right to list) never holds the uploads up: the walk waits
//! with its own back-off and resumes at the same object.

use crate::store::{Listed, Store, StoreError};
use camward_config::ObjectStorageConfig;
use camward_record::{BucketObject, Index};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Objects read back per step: the uploader's pass runs between two steps, so one step holds the
/// card's uploads up by a few recordings' downloads at most.
const READS_PER_STEP: usize = 4;
/// Listing pages per walk at most (ten million objects): bounds a walk over a store whose
/// listing never ends (a token that does not move on).
const MAX_PAGES: u64 = 10_000;
/// Back-off after a failed listing or read: doubles from 1 s to this. Longer than the uploader's
/// (15 s): object_store reports a listing the store refused (a key allowed to put and get but not
/// to list) like one it could not answer, and such a key would otherwise be listed every 15 s.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// What a walk found, for its log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Objects listed under the prefix.
    pub listed: u64,
    /// Recordings the index already knew (by path): nothing read.
    pub known: u64,
    /// Recordings read back and indexed.
    pub adopted: u64,
    /// Objects left alone: their key is not a camward recording's path.
    pub skipped: u64,
    /// Recordings that could not be read back or indexed: tried again by the next walk (the next
    /// start of the uploader or of the recorder).
    pub failed: u64,
}

/// One walk over the prefix for one opened index, taken in steps.
pub struct Walk {
    config: ObjectStorageConfig,
    /// Free space the card keeps (retention's floor): an object is read back only if it fits
    /// above it, so adoption never takes room the recorder needs.
    min_free_bytes: u64,
    /// Listed objects not yet looked at, in listing order.
    page: VecDeque<Listed>,
    /// The next page's token; `None` before the first page.
    token: Option<String>,
    pages: u64,
    listed_all: bool,
    done: bool,
    counts: Counts,
    /// After a failure: no request before this.
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl Walk {
    pub fn new(config: &ObjectStorageConfig, min_free_bytes: u64) -> Walk {
        Walk {
            config: config.clone(),
            min_free_bytes,
            page: VecDeque::new(),
            token: None,
            pages: 0,
            listed_all: false,
            done: false,
            counts: Counts::default(),
            retry_at: None,
            backoff: Duration::from_secs(1),
        }
    }

    /// More to do now: the uploader takes the next step right after its pass, not after its idle
    /// pause.
    pub fn ready(&self) -> bool {
        !self.done && self.retry_at.is_none_or(|t| Instant::now() >= t)
    }

    /// The walk ended (the whole prefix listed, or stopped for a reason it logged).
    pub fn done(&self) -> bool {
        self.done
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Goes on with the walk, unless it is waiting after a failure: lists the next page when the
    /// last one is used up, and reads back up to [`READS_PER_STEP`] unknown recordings. A store
    /// that fails a listing or a read (down, or refusing) makes the walk wait (1 s doubling to
    /// [`MAX_BACKOFF`]) and start again at the same object; a card without room or an unreadable
    /// object end the walk or count as failed. Never fails itself: adoption must not hold up the
    /// uploads.
    pub async fn step(&mut self, ix: &Arc<Index>, store: &Store, shutdown: &CancellationToken) {
        if !self.ready() {
            return;
        }
        let mut reads = 0;
        // Bounded: READS_PER_STEP reads, and each turn takes one object or one page.
        while !self.done && reads < READS_PER_STEP && !shutdown.is_cancelled() {
            let res = match self.page.front().cloned() {
                None => self.list_next(store).await.map(|()| false),
                Some(obj) => {
                    let r = self.look_at(ix, store, &obj).await;
                    if r.is_ok() {
                        self.page.pop_front();
                    }
                    r
                }
            };
            match res {
                Ok(read) => {
                    if self.retry_at.take().is_some() {
                        tracing::info!(store = store.id(), "adoption from the bucket goes on");
                    }
                    self.backoff = Duration::from_secs(1);
                    reads += usize::from(read);
                }
                Err(e) => {
                    // One line per streak of failures: the uploader reports the store's state.
                    if self.retry_at.is_none() {
                        tracing::warn!(store = store.id(), error = %e, "adoption from the bucket waits: the store failed a request; tried again with back-off");
                    }
                    self.retry_at = Some(Instant::now() + self.backoff);
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    return;
                }
            }
        }
    }

    async fn list_next(&mut self, store: &Store) -> Result<(), StoreError> {
        if self.listed_all {
            self.finish(store, None);
            return Ok(());
        }
        if self.pages >= MAX_PAGES {
            self.finish(
                store,
                Some(format!("stopped after {MAX_PAGES} listing pages")),
            );
            return Ok(());
        }
        let prefix = self.config.list_prefix();
        match store.list_page(&prefix, self.token.clone()).await {
            Ok((objects, next)) => {
                self.pages += 1;
                self.counts.listed += objects.len() as u64;
                self.page = objects.into();
                self.listed_all = next.is_none();
                self.token = next;
                Ok(())
            }
            // A key object_store cannot read fails the page the same way every time.
            Err(e @ StoreError::Rejected(_)) => {
                self.finish(store, Some(format!("cannot list the bucket: {e}")));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Adopts `obj` if it is a recording the index does not know; `Ok(true)` when it was read
    /// back (or tried to be). `Err`: try the same object again later (the store or the index
    /// failed, not the object).
    async fn look_at(
        &mut self,
        ix: &Arc<Index>,
        store: &Store,
        obj: &Listed,
    ) -> Result<bool, StoreError> {
        let Some(rel) = self
            .config
            .rel_of(&obj.key)
            .filter(|rel| camward_record::index::parse_file_name(rel).is_some())
        else {
            self.counts.skipped += 1;
            return Ok(false);
        };
        let index_error = |e: camward_record::Error| StoreError::Config(e.to_string());
        if ix.knows_path(rel).map_err(index_error)? {
            self.counts.known += 1;
            return Ok(false);
        }
        let free = camward_record::retention::free_bytes(ix.dir()).unwrap_or(0);
        if free < obj.bytes.saturating_add(self.min_free_bytes) {
            self.counts.failed += 1;
            self.finish(
                store,
                Some(format!(
                    "the card has {free} bytes free, {} of them kept free: no room to read back {} ({} bytes)",
                    self.min_free_bytes, obj.key, obj.bytes
                )),
            );
            return Ok(true);
        }
        // Not the `.part` a playback fetch of the same recording would use.
        let part = ix.dir().join(format!("{rel}.adopt.part"));
        let read = match store.read_into(&obj.key, &part).await {
            Ok(c) => c,
            Err(e @ StoreError::Unavailable(_)) => return Err(e),
            Err(e @ StoreError::Io { .. }) => {
                // The card: the next object would fail the same way.
                self.counts.failed += 1;
                self.finish(store, Some(format!("reading {} back: {e}", obj.key)));
                return Ok(true);
            }
            Err(e) => {
                // This object only (gone since the listing, refused to this key).
                tracing::warn!(key = obj.key, error = %e, "adoption: cannot read the object back");
                self.counts.failed += 1;
                return Ok(true);
            }
        };
        let object = BucketObject {
            key: obj.key.clone(),
            store: store.id().to_owned(),
            bytes: read.bytes,
            sha256: read.sha256,
        };
        let (ix2, rel2, part2) = (ix.clone(), rel.to_owned(), part.clone());
        // The scan reads every sample of the copy (signing SEIs): a blocking thread.
        let adopted = tokio::task::spawn_blocking(move || {
            camward_record::adopt_from_bucket(&ix2, &rel2, &part2, &object)
        })
        .await;
        if let Err(e) = tokio::fs::remove_file(&part).await {
            tracing::warn!(path = %part.display(), error = %e, "adoption: cannot remove the copy read back; recovery removes it later");
        }
        match adopted {
            Ok(Ok(Some(_))) => self.counts.adopted += 1,
            Ok(Ok(None)) => {
                tracing::warn!(
                    key = obj.key,
                    "adoption: the object has a recording's name but holds no complete fragment; left alone"
                );
                self.counts.failed += 1;
            }
            Ok(Err(e)) => {
                tracing::warn!(key = obj.key, error = %e, "adoption: cannot index the object");
                self.counts.failed += 1;
            }
            Err(e) => {
                tracing::warn!(key = obj.key, error = %e, "adoption: scanning the object failed");
                self.counts.failed += 1;
            }
        }
        Ok(true)
    }

    /// Ends the walk with its one log line of counts (and a warning first when it stopped early:
    /// what is left is tried by the next walk).
    fn finish(&mut self, store: &Store, stopped: Option<String>) {
        self.done = true;
        if let Some(reason) = &stopped {
            tracing::warn!(
                store = store.id(),
                reason,
                "adoption from the bucket stopped early"
            );
        }
        let c = &self.counts;
        tracing::info!(
            store = store.id(),
            prefix = self.config.list_prefix(),
            listed = c.listed,
            known = c.known,
            adopted = c.adopted,
            skipped = c.skipped,
            failed = c.failed,
            stopped = stopped.as_deref().unwrap_or(""),
            "bucket listed against the index: recordings that live only in the bucket adopted"
        );
    }
}
