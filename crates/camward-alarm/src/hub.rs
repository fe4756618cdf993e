//! The alarm bus: every alarm source raises here, every action subscribes here, and each alarm
//! is written once to the alarm log with its source and time.

use crate::log::{LogEntry, SharedLog};
use crate::vmd::AreaId;
use camward_config::{AlarmConfig, Trigger};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;
use tokio::sync::broadcast;

/// Alarms queued for a slow subscriber before it starts losing the oldest (it is told how many).
pub const BUS_CAPACITY: usize = 64;

/// Where an alarm came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlarmSource {
    /// Alarm terminal 1–3.
    Terminal(u8),
    /// Video motion detection in one area.
    Vmd(AreaId),
    /// `POST /api/v1/alarm`.
    Command,
    /// Audio detection: never raised on this device (no audio source); kept so the model matches
    /// the paper's screens and a board with a microphone can add it.
    Audio,
}

impl AlarmSource {
    /// The trigger name actions are configured with (all VMD areas share `vmd`).
    pub fn trigger(&self) -> Trigger {
        match self {
            AlarmSource::Terminal(1) => Trigger::Terminal1,
            AlarmSource::Terminal(2) => Trigger::Terminal2,
            AlarmSource::Terminal(_) => Trigger::Terminal3,
            AlarmSource::Vmd(_) => Trigger::Vmd,
            AlarmSource::Command => Trigger::Command,
            AlarmSource::Audio => Trigger::Audio,
        }
    }
}

impl std::fmt::Display for AlarmSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AlarmSource::Terminal(n) => write!(f, "terminal {n}"),
            AlarmSource::Vmd(a) => write!(f, "VMD area {a}"),
            AlarmSource::Command => f.write_str("command alarm"),
            AlarmSource::Audio => f.write_str("audio detection"),
        }
    }
}

/// One alarm. `id` increases by one per alarm since the daemon started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmEvent {
    pub id: u64,
    pub source: AlarmSource,
    pub time: SystemTime,
}

/// Why an alarm was not raised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlarmError {
    #[error("the command alarm is off (alarm.command.enabled)")]
    CommandDisabled,
    #[error("audio detection is unavailable: this device has no audio source")]
    AudioUnavailable,
}

/// Whether a source can work on this device, for the settings page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Available,
    Unavailable { reason: &'static str },
}

/// What the alarm sources of this device can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub terminals: u8,
    pub vmd_areas: usize,
    pub command: Availability,
    pub vmd: Availability,
    pub audio: Availability,
}

/// The alarm bus.
pub struct AlarmHub {
    tx: broadcast::Sender<AlarmEvent>,
    log: SharedLog,
    next_id: AtomicU64,
    config: Mutex<AlarmConfig>,
}

impl std::fmt::Debug for AlarmHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlarmHub")
            .field("subscribers", &self.tx.receiver_count())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AlarmHub {
    /// A hub writing every alarm to `log`.
    pub fn new(config: AlarmConfig, log: SharedLog) -> Self {
        AlarmHub {
            tx: broadcast::channel(BUS_CAPACITY).0,
            log,
            next_id: AtomicU64::new(1),
            config: Mutex::new(config),
        }
    }

    /// Takes a new `alarm` section (which sources are on).
    pub fn apply(&self, config: &AlarmConfig) {
        *lock(&self.config) = config.clone();
    }

    pub fn config(&self) -> AlarmConfig {
        lock(&self.config).clone()
    }

    /// Writes a non-alarm entry (a source's or an action's trouble) to the alarm log.
    pub fn log_entry(&self, entry: &LogEntry) {
        self.log.log(entry);
    }

    /// The log sink, for components started beside the hub.
    pub fn log_sink(&self) -> SharedLog {
        self.log.clone()
    }

    /// Alarms raised from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<AlarmEvent> {
        self.tx.subscribe()
    }

    /// Raises an alarm: logs it, then hands it to every subscriber. Sources check their own
    /// on/off setting before calling (the VMD runner and terminal poller do).
    pub fn raise(&self, source: AlarmSource) -> AlarmEvent {
        let event = AlarmEvent {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            source,
            time: SystemTime::now(),
        };
        self.log.log(&LogEntry::info(
            "alarm",
            format!(
                "alarm #{} from {} at {}",
                event.id,
                source,
                crate::naming::rfc3339(event.time)
            ),
        ));
        // No subscriber (no action configured) is fine: the alarm is still in the log.
        let _ = self.tx.send(event.clone());
        event
    }

    /// The command alarm entry point (`POST /api/v1/alarm`, level control and above: the caller
    /// checks the level). Refused while `alarm.command.enabled` is off.
    pub fn command(&self) -> Result<AlarmEvent, AlarmError> {
        if !lock(&self.config).command.enabled {
            return Err(AlarmError::CommandDisabled);
        }
        Ok(self.raise(AlarmSource::Command))
    }

    /// Audio detection entry point: always refused on this device.
    pub fn audio(&self) -> Result<AlarmEvent, AlarmError> {
        Err(AlarmError::AudioUnavailable)
    }

    /// What this device offers, for the settings page (audio is shown as unavailable).
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            terminals: camward_config::alarm::TERMINALS,
            vmd_areas: camward_config::alarm::MAX_VMD_AREAS,
            command: Availability::Available,
            vmd: Availability::Available,
            audio: Availability::Unavailable {
                reason: "no audio source",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemoryLog;

    #[tokio::test]
    async fn every_alarm_is_logged_and_broadcast() {
        let log = MemoryLog::new();
        let hub = AlarmHub::new(AlarmConfig::default(), log.shared());
        let mut rx = hub.subscribe();
        let e = hub.raise(AlarmSource::Terminal(2));
        assert_eq!(rx.recv().await.unwrap(), e);
        assert_eq!(e.source.trigger(), Trigger::Terminal2);
        let entries = log.of_kind("alarm");
        assert_eq!(entries.len(), 1);
        assert!(entries[0].message.contains("terminal 2"), "{entries:?}");
    }

    #[test]
    fn command_alarm_is_refused_while_off() {
        let log = MemoryLog::new();
        let mut cfg = AlarmConfig::default();
        let hub = AlarmHub::new(cfg.clone(), log.shared());
        assert_eq!(hub.command(), Err(AlarmError::CommandDisabled));
        assert!(log.entries().is_empty());
        cfg.command.enabled = true;
        hub.apply(&cfg);
        let e = hub.command().unwrap();
        assert_eq!(e.source, AlarmSource::Command);
        assert_eq!(log.of_kind("alarm").len(), 1);
    }

    #[test]
    fn audio_is_reported_unavailable() {
        let hub = AlarmHub::new(AlarmConfig::default(), MemoryLog::new().shared());
        assert_eq!(hub.audio(), Err(AlarmError::AudioUnavailable));
        assert!(matches!(
            hub.capabilities().audio,
            Availability::Unavailable { .. }
        ));
    }

    #[test]
    fn ids_increase() {
        let hub = AlarmHub::new(AlarmConfig::default(), MemoryLog::new().shared());
        let a = hub.raise(AlarmSource::Command);
        let b = hub.raise(AlarmSource::Vmd(AreaId(1)));
        assert_eq!(b.id, a.id + 1);
    }
}
