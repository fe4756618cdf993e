//! Setting the system clock, behind [`ClockSetter`]: the real [`SystemClock`] sets it only when
//! camward may (root with CAP_SYS_TIME, not in a container, where the clock belongs to the host);
//! [`RecordingClock`] only records what it was asked, for tests and for running camward on a
//! machine whose clock is someone else's. Tests never change the machine's clock.

use serde::Serialize;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;
use thiserror::Error;

/// Why the clock was not set.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClockError {
    /// camward may not set the clock here; the text says why (not root, in a container, …).
    #[error("camward may not set the system clock: {0}")]
    NotPermitted(String),
    #[error("setting the system clock failed: {0}")]
    Failed(String),
}

/// What changed the clock, for the status page and the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SetReason {
    /// `PUT /api/v1/time` or ONVIF SetSystemDateAndTime with Manual.
    Manual,
    /// A step after NTP synchronisation.
    Ntp,
}

/// The system clock, or a stand-in for it.
pub trait ClockSetter: Send + Sync + 'static {
    /// `None` when the clock may be set; otherwise why not.
    fn refusal(&self) -> Option<String>;
    /// Sets the clock to `utc`.
    fn set(&self, utc: SystemTime, reason: SetReason) -> Result<(), ClockError>;
}

/// The real clock: `clock_settime(CLOCK_REALTIME)`, refused unless [`permission`] allows it.
pub struct SystemClock {
    refusal: Option<String>,
}

impl SystemClock {
    /// Checks the permission once: it does not change while the process runs.
    pub fn new() -> Self {
        SystemClock {
            refusal: permission(nix::unistd::geteuid().is_root(), &|p| {
                std::fs::read_to_string(p).ok()
            }),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ClockSetter for SystemClock {
    fn refusal(&self) -> Option<String> {
        self.refusal.clone()
    }

    fn set(&self, utc: SystemTime, _reason: SetReason) -> Result<(), ClockError> {
        if let Some(r) = &self.refusal {
            return Err(ClockError::NotPermitted(r.clone()));
        }
        let d = utc
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| ClockError::Failed("a time before 1970".into()))?;
        let ts = nix::sys::time::TimeSpec::new(d.as_secs() as i64, i64::from(d.subsec_nanos()));
        nix::time::clock_settime(nix::time::ClockId::CLOCK_REALTIME, ts)
            .map_err(|e| ClockError::Failed(e.to_string()))
    }
}

/// CAP_SYS_TIME's bit in the capability sets of /proc/self/status.
const CAP_SYS_TIME: u32 = 25;

/// Decides whether camward may set the clock: `None` if it may, else the reason. `read` returns
/// a file's text (a parameter so the decision is tested without a container or root).
///
/// Container markers are those systemd-detect-virt reads: /.dockerenv, /run/.containerenv,
/// /run/systemd/container, and `container=` in PID 1's environment; a cgroup path naming a
/// container runtime counts too.
pub fn permission(is_root: bool, read: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if !is_root {
        return Some("camward is not running as root".into());
    }
    for marker in [
        "/.dockerenv",
        "/run/.containerenv",
        "/run/systemd/container",
    ] {
        if read(marker).is_some() {
            return Some(format!(
                "camward runs in a container ({marker}); the host owns the clock"
            ));
        }
    }
    if read("/proc/1/environ").is_some_and(|e| e.split('\0').any(|v| v.starts_with("container="))) {
        return Some("camward runs in a container (container= in PID 1's environment); the host owns the clock".into());
    }
    if read("/proc/1/cgroup").is_some_and(|c| {
        ["docker", "kubepods", "lxc", "libpod", "containerd"]
            .iter()
            .any(|k| c.contains(k))
    }) {
        return Some(
            "camward runs in a container (/proc/1/cgroup); the host owns the clock".into(),
        );
    }
    let has_cap = read("/proc/self/status").is_some_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .is_some_and(|caps| caps & (1 << CAP_SYS_TIME) != 0)
    });
    if !has_cap {
        return Some("camward lacks CAP_SYS_TIME".into());
    }
    None
}

/// One request a [`RecordingClock`] received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// The requested UTC time, Unix nanoseconds.
    pub unix_nanos: i128,
    pub reason: SetReason,
}

/// A clock that records requests instead of setting anything: kept in memory and, with a path,
/// appended to a JSON Lines file that a test can read.
#[derive(Default)]
pub struct RecordingClock {
    requests: Mutex<Vec<Recorded>>,
    file: Option<PathBuf>,
}

impl RecordingClock {
    pub fn new(file: Option<PathBuf>) -> Self {
        RecordingClock {
            requests: Mutex::default(),
            file,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("clock record lock").clone()
    }
}

impl ClockSetter for RecordingClock {
    fn refusal(&self) -> Option<String> {
        None
    }

    fn set(&self, utc: SystemTime, reason: SetReason) -> Result<(), ClockError> {
        let r = Recorded {
            unix_nanos: crate::sntp::unix_nanos(utc),
            reason,
        };
        if let Some(path) = &self.file {
            use std::io::Write;
            let mut line = serde_json::to_vec(&r).expect("a record serialises");
            line.push(b'\n');
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(&line))
                .map_err(|e| ClockError::Failed(format!("{}: {e}", path.display())))?;
        }
        self.requests.lock().expect("clock record lock").push(r);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn files(list: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = list
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |p| m.get(p).cloned()
    }

    const ROOT_CAPS: (&str, &str) = (
        "/proc/self/status",
        "Name:\tcamward\nCapEff:\t000001ffffffffff\n",
    );

    #[test]
    fn only_root_outside_a_container_with_cap_sys_time_may_set_the_clock() {
        assert_eq!(permission(true, &files(&[ROOT_CAPS])), None);
        assert!(
            permission(false, &files(&[ROOT_CAPS]))
                .unwrap()
                .contains("not running as root")
        );
        for marker in [
            "/.dockerenv",
            "/run/.containerenv",
            "/run/systemd/container",
        ] {
            let r = permission(true, &files(&[ROOT_CAPS, (marker, "")])).unwrap();
            assert!(r.contains(marker), "{r}");
        }
        let env = ("/proc/1/environ", "PATH=/bin\0container=podman\0");
        assert!(permission(true, &files(&[ROOT_CAPS, env])).is_some());
        let cg = ("/proc/1/cgroup", "0::/system.slice/docker-abc.scope\n");
        assert!(permission(true, &files(&[ROOT_CAPS, cg])).is_some());
        let no_cap = ("/proc/self/status", "CapEff:\t0000000000000000\n");
        assert!(
            permission(true, &files(&[no_cap]))
                .unwrap()
                .contains("CAP_SYS_TIME")
        );
    }

    #[test]
    fn the_recording_clock_records_and_never_touches_the_machine() {
        let dir = std::env::temp_dir().join(format!("camward-time-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("clock.jsonl");
        let _ = std::fs::remove_file(&file);
        let c = RecordingClock::new(Some(file.clone()));
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let before = SystemTime::now();
        c.set(t, SetReason::Manual).unwrap();
        assert!(SystemTime::now() >= before, "the machine's clock moved");
        assert_eq!(
            c.requests(),
            vec![Recorded {
                unix_nanos: 1_800_000_000_000_000_000,
                reason: SetReason::Manual
            }]
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            "{\"unix_nanos\":1800000000000000000,\"reason\":\"manual\"}\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
