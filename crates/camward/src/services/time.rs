//! Date and time (the paper's NTP tab): builds camward-time's [`TimeService`] over the stored
//! configuration and runs its NTP poller, woken whenever the `time` section changes. The clock
//! setter is the real one, which refuses unless camward is root outside a container, or — with
//! `CAMWARD_CLOCK_SETTER=record`, for tests and for machines whose clock is not camward's —
//! one that only appends each request to `DATA/clock-requests.jsonl`.

use anyhow::{Result, bail};
use camward_config::{FieldError, TimeConfig};
use camward_store::{Actor, ConfigHandle, PatchError};
use camward_time::{ClockSetter, RecordingClock, SystemClock, TimeService, TimeSettings};
use std::path::Path;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The `time` section in the stored configuration: changes made through the service (ONVIF
/// SetNTP, …) are validated, stored and audited like an API PATCH.
struct Stored(ConfigHandle);

impl TimeSettings for Stored {
    fn current(&self) -> TimeConfig {
        self.0.current().time.clone()
    }

    fn replace(&self, new: TimeConfig) -> Result<(), Vec<FieldError>> {
        let value = serde_json::to_value(&new).expect("the time section serialises");
        let actor = Actor {
            user: Some("(time service)".into()),
            address: None,
        };
        match self.0.patch(&serde_json::json!({ "time": value }), &actor) {
            Ok(_) => Ok(()),
            Err(PatchError::Invalid(e)) => Err(e),
            Err(e) => Err(vec![FieldError::new("time", "store", e.to_string())]),
        }
    }
}

/// The clock setter `CAMWARD_CLOCK_SETTER` asks for: `system` (default) or `record`.
pub fn clock_setter(choice: Option<&str>, data_dir: &Path) -> Result<Arc<dyn ClockSetter>> {
    Ok(match choice.unwrap_or("system") {
        "system" => {
            let c = SystemClock::new();
            if let Some(why) = c.refusal() {
                tracing::info!(reason = %why, "the system clock is left alone");
            }
            Arc::new(c)
        }
        "record" => Arc::new(RecordingClock::new(Some(
            data_dir.join("clock-requests.jsonl"),
        ))),
        other => bail!("CAMWARD_CLOCK_SETTER={other}: use system or record"),
    })
}

pub fn service(config: &ConfigHandle, clock: Arc<dyn ClockSetter>) -> TimeService {
    TimeService::new(Arc::new(Stored(config.clone())), clock)
}

pub struct Input {
    pub time: TimeService,
    pub config: ConfigHandle,
    pub shutdown: CancellationToken,
}

/// Runs the poller and wakes it on every change of the `time` section.
pub fn start(input: Input) -> JoinHandle<()> {
    let Input {
        time,
        config,
        shutdown,
    } = input;
    let poller = time.start(shutdown.clone());
    tokio::spawn(async move {
        let mut rx = config.subscribe();
        let mut last = config.current().time.clone();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = rx.changed() => {
                    if changed.is_err() { break; }
                    let now = rx.borrow_and_update().time.clone();
                    if now != last {
                        last = now;
                        time.reload();
                    }
                }
            }
        }
        let _ = poller.await;
    })
}
