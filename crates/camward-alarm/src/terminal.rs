//! Alarm terminals 1–3 as files a board script writes (`DATA/alarm/terminalN` = `1` or `0`),
//! polled every 100 ms; an alarm is raised on the edge into the configured state.
//!
//! Why files: GPIO numbering, polarity and debouncing differ per board, and reading
//! `/sys/class/gpio` or a gpiochip needs privileges the daemon should not hold. A small board
//! script (e.g. `gpiomon` from libgpiod) owns the line and writes the file; docs show one.

use crate::hub::{AlarmHub, AlarmSource};
use crate::log::LogEntry;
use camward_config::AlarmConfig;
use camward_config::alarm::TerminalTrigger;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the files are read. 100 ms is below what a person notices and costs 30 small
/// reads per second.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// A terminal raises at most one alarm per this interval: a bouncing contact or a flapping
/// script must not flood mail and FTP.
pub const MIN_RETRIGGER: Duration = Duration::from_secs(1);

/// The file of terminal `n` under the alarm directory (`DATA/alarm`).
pub fn terminal_path(dir: &Path, n: u8) -> PathBuf {
    dir.join(format!("terminal{n}"))
}

/// What a terminal file says: `Some(true)` closed (`1`), `Some(false)` open (`0` or missing),
/// `None` unreadable content (kept as the previous state).
pub fn parse_state(content: Option<&str>) -> Option<bool> {
    match content.map(str::trim) {
        None => Some(false),
        Some("1") => Some(true),
        Some("0") | Some("") => Some(false),
        Some(_) => None,
    }
}

/// The running poller; dropping it stops polling.
#[derive(Debug)]
pub struct TerminalPoller {
    config: watch::Sender<AlarmConfig>,
    task: JoinHandle<()>,
}

impl TerminalPoller {
    /// Starts polling `dir` (created if missing, so the board script can write into it).
    pub fn start(dir: PathBuf, hub: Arc<AlarmHub>, config: AlarmConfig) -> Self {
        let (tx, rx) = watch::channel(config);
        let task = tokio::spawn(poll(dir, hub, rx));
        TerminalPoller { config: tx, task }
    }

    /// Takes a new `alarm` section (terminals switched on/off, polarity).
    pub fn apply(&self, config: &AlarmConfig) {
        self.config.send_replace(config.clone());
    }
}

impl Drop for TerminalPoller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn poll(dir: PathBuf, hub: Arc<AlarmHub>, config: watch::Receiver<AlarmConfig>) {
    if let Err(e) = tokio::fs::create_dir_all(&dir).await {
        hub.log_entry(&LogEntry::error(
            "alarm.terminal",
            format!("cannot create {}: {e}", dir.display()),
        ));
    }
    let mut state = [false; 3];
    let mut primed = [false; 3];
    let mut bad_content_logged = [false; 3];
    let mut last_alarm: [Option<tokio::time::Instant>; 3] = [None; 3];
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let cfg = config.borrow().clone();
        for n in 1..=camward_config::alarm::TERMINALS {
            let i = (n - 1) as usize;
            let tcfg = *cfg.terminal(n).expect("1..=3");
            let path = terminal_path(&dir, n);
            let content = match tokio::fs::read_to_string(&path).await {
                Ok(s) => Some(s),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(_) => continue,
            };
            let Some(closed) = parse_state(content.as_deref()) else {
                if !bad_content_logged[i] {
                    bad_content_logged[i] = true;
                    hub.log_entry(&LogEntry::warning(
                        "alarm.terminal",
                        format!("{} holds neither 1 nor 0; ignored", path.display()),
                    ));
                }
                continue;
            };
            bad_content_logged[i] = false;
            let active = match tcfg.trigger {
                TerminalTrigger::Close => closed,
                TerminalTrigger::Open => !closed,
            };
            let was = std::mem::replace(&mut state[i], active);
            // The first reading only sets the state: a contact already closed at start-up is
            // not a new event.
            if !std::mem::replace(&mut primed[i], true) {
                continue;
            }
            if !tcfg.enabled || !active || was {
                continue;
            }
            let now = tokio::time::Instant::now();
            if last_alarm[i].is_some_and(|t| now.duration_since(t) < MIN_RETRIGGER) {
                continue;
            }
            last_alarm[i] = Some(now);
            hub.raise(AlarmSource::Terminal(n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemoryLog;

    #[test]
    fn file_content_maps_to_contact_state() {
        assert_eq!(parse_state(None), Some(false));
        assert_eq!(parse_state(Some("1\n")), Some(true));
        assert_eq!(parse_state(Some(" 0 ")), Some(false));
        assert_eq!(parse_state(Some("")), Some(false));
        assert_eq!(parse_state(Some("on")), None);
    }

    #[tokio::test]
    async fn closing_a_terminal_raises_one_alarm() {
        let dir = tempfile::tempdir().unwrap();
        let log = MemoryLog::new();
        let mut cfg = AlarmConfig::default();
        cfg.terminal1.enabled = true;
        let hub = Arc::new(AlarmHub::new(cfg.clone(), log.shared()));
        let mut rx = hub.subscribe();
        let _poller = TerminalPoller::start(dir.path().to_owned(), hub.clone(), cfg);
        tokio::time::sleep(Duration::from_millis(250)).await;
        std::fs::write(terminal_path(dir.path(), 1), "1\n").unwrap();
        // A disabled terminal closing does nothing.
        std::fs::write(terminal_path(dir.path(), 2), "1\n").unwrap();
        let e = tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("alarm within 2 s")
            .unwrap();
        assert_eq!(e.source, AlarmSource::Terminal(1));
        // Staying closed does not repeat the alarm.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(rx.try_recv().is_err());
        assert_eq!(log.of_kind("alarm").len(), 1);
    }

    #[tokio::test]
    async fn open_trigger_and_startup_state() {
        let dir = tempfile::tempdir().unwrap();
        // Already closed before start: not an event.
        std::fs::write(terminal_path(dir.path(), 3), "1").unwrap();
        let mut cfg = AlarmConfig::default();
        cfg.terminal3.enabled = true;
        cfg.terminal3.trigger = TerminalTrigger::Open;
        let hub = Arc::new(AlarmHub::new(cfg.clone(), MemoryLog::new().shared()));
        let mut rx = hub.subscribe();
        let _poller = TerminalPoller::start(dir.path().to_owned(), hub.clone(), cfg);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(rx.try_recv().is_err());
        std::fs::write(terminal_path(dir.path(), 3), "0").unwrap();
        let e = tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("alarm within 2 s")
            .unwrap();
        assert_eq!(e.source, AlarmSource::Terminal(3));
    }
}
