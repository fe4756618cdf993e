//! Picks up configuration changes committed by other processes (the console tools, e.g.
//! `camward host-auth reset`, the recovery of paper §3.4) and publishes them, so they apply without a restart.

use camward_store::ConfigHandle;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the database is asked whether another connection committed (`PRAGMA data_version`).
const POLL: Duration = Duration::from_secs(1);

pub fn start(config: ConfigHandle, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(POLL) => {}
            }
            let c = config.clone();
            match tokio::task::spawn_blocking(move || c.reload_if_changed()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "cannot re-read the configuration"),
                Err(e) => tracing::error!(error = %e, "configuration watcher failed"),
            }
        }
    })
}
