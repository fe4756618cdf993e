//! The object storage service (paper §3.8: recordings kept encrypted on the card and in the cloud):
//! runs camward-objstore's uploader over the recorder's index while `storage.object.enabled` is
//! on (it also lists the bucket back into each index it opens, so a lost index forgets nothing that
//! lives in the bucket), restarts it when the section (or retention's settings) change, and lifts
//! the retention hold when it is switched off. Off by default: nothing connects to a store until it is configured.

use crate::services::record::Recording;
use camward_objstore::Handle;
use camward_store::ConfigHandle;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct Input {
    /// The recorder's index (replaced when the recorder restarts).
    pub recording: Recording,
    /// Shared with the status page and playback from the bucket.
    pub handle: Handle,
    pub config: ConfigHandle,
    pub shutdown: CancellationToken,
}

pub fn start(input: Input) -> JoinHandle<()> {
    let Input {
        recording,
        handle,
        config,
        shutdown,
    } = input;
    tokio::spawn(async move {
        let mut changes = config.subscribe();
        loop {
            let c = changes.borrow_and_update().clone();
            let wanted = (c.storage.object.clone(), c.recording.clone());
            let run = shutdown.child_token();
            let rec = recording.clone();
            let task = tokio::spawn(camward_objstore::run(camward_objstore::Input {
                config: c.storage.object.clone(),
                recording: c.recording.clone(),
                index: Arc::new(move || rec.index()),
                handle: handle.clone(),
                shutdown: run.clone(),
            }));
            // Bounded by the configuration's changes; every other change is ignored here.
            let stop = loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break true,
                    r = changes.changed() => {
                        if r.is_err() { break true; }
                        let c = changes.borrow().clone();
                        if (c.storage.object.clone(), c.recording.clone()) != wanted {
                            break false;
                        }
                    }
                }
            };
            run.cancel();
            let _ = task.await;
            if stop {
                break;
            }
            tracing::info!("object storage settings changed; the uploader restarts");
        }
    })
}
