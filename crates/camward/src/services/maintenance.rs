//! Restart and factory reset (Setup › Maintenance) as the web API's [`Maintenance`] handle: a
//! request ends the daemon's run like a signal does, every service stops cleanly (recordings are
//! closed with their last signature, paper §3.9), a factory reset is applied while nothing runs,
//! and `main` starts the binary again in the same process.

use anyhow::{Context, Result};
use camward_store::Store;
use camward_web::Maintenance;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How a run of the daemon ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// SIGTERM/SIGINT: the process exits.
    Stop,
    /// Start again with the same arguments.
    Restart,
    /// Factory state (no account, default settings; recordings kept or wiped), then start again.
    FactoryReset { wipe_recordings: bool },
    /// An update was installed: the launcher starts it (paper §3.11).
    Update,
}

/// Lets the API end the run with a restart. Cheap to clone.
#[derive(Clone)]
pub struct Restarter(Arc<watch::Sender<Option<RunEnd>>>);

/// Time for the answer that asked for the restart to leave before the listeners close.
const ANSWER_GRACE: Duration = Duration::from_millis(300);

impl Restarter {
    pub fn new() -> (Restarter, watch::Receiver<Option<RunEnd>>) {
        let (tx, rx) = watch::channel(None);
        (Restarter(Arc::new(tx)), rx)
    }

    fn request(&self, end: RunEnd) {
        let tx = self.0.clone();
        tokio::spawn(async move {
            tokio::time::sleep(ANSWER_GRACE).await;
            tx.send_if_modified(|cur| {
                // A factory reset already asked for is not downgraded to a plain restart.
                if matches!(cur, Some(RunEnd::FactoryReset { .. })) {
                    return false;
                }
                *cur = Some(end);
                true
            });
        });
    }
}

impl Maintenance for Restarter {
    fn restart(&self) {
        tracing::info!("restart requested");
        self.request(RunEnd::Restart);
    }

    fn factory_reset(&self, wipe_recordings: bool) {
        tracing::warn!(wipe_recordings, "factory reset requested");
        self.request(RunEnd::FactoryReset { wipe_recordings });
    }
}

/// Applies a factory reset with every service stopped: recordings wiped first when asked (only
/// what the recorder wrote, in the directory the settings named), then accounts and settings.
pub fn apply_factory_reset(
    data_dir: &Path,
    store: &Store,
    recordings_dir: &Path,
    wipe_recordings: bool,
) -> Result<()> {
    if wipe_recordings {
        let n = camward_record::retention::wipe(recordings_dir).with_context(|| {
            format!("cannot wipe the recordings in {}", recordings_dir.display())
        })?;
        tracing::warn!(files = n, dir = %recordings_dir.display(), "recordings wiped");
    }
    store
        .factory_reset()
        .context("cannot reset accounts and settings")?;
    tracing::warn!(data = %data_dir.display(), "factory reset done: no account, default settings");
    Ok(())
}
