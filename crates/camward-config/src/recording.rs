//! The `recording` section (Setup › Basic › SD memory card): fMP4 recording of Stream(1)/(2),
//! file periods and retention. camward-record records; encryption (§3.8) has its own section.

use crate::audit::Audit;
use crate::{FieldError, Validate, human_bytes, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Streams a camera serves (Stream(1) and Stream(2)); anything else is a typo.
pub const MAX_STREAM: u8 = 2;
/// Shortest file period: below this the per-file overhead (moov, index row, directory fsync)
/// and retention's granularity stop being negligible.
pub const MIN_FILE_SECONDS: u32 = 10;
/// Longest file period: a file is the unit retention deletes, so one day at most.
pub const MAX_FILE_SECONDS: u32 = 86_400;
/// Smallest file size cap: one fragment (a GOP) of a 4 Mbit/s, 2 s GOP stream is ~1 MB.
pub const MIN_FILE_MAX_BYTES: u64 = 64 * 1024;
/// Longest `directory` accepted, in bytes (a path component's limit on common filesystems).
pub const MAX_DIRECTORY_LEN: usize = 255;
/// Entries of the data directory that belong to other parts of camward (the database, the device
/// identity and secrets key, the FTP queue, alarm terminals, the setup code, firmware slots, the
/// SNMP engine state): recordings may not
/// be put into them, nor be the data directory itself (the FTP server would then serve them).
pub const RESERVED_DATA_ENTRIES: &[&str] = &[
    "alarm",
    "camward.db",
    "camward.db-shm",
    "camward.db-wal",
    "camward.lock",
    "firmware",
    "ftp-queue",
    "identity",
    "serial",
    "setup-code",
    "snmp-engine.json",
];

/// SD-card recording settings.
///
/// `enabled` defaults to **off**: i-PRO ships SD recording off (the installer inserts a card and
/// chooses "Use"), continuous recording wears flash and fills storage, and keeping video of people
/// is a decision the operator should make, not the firmware. Everything else has working defaults,
/// so switching it on is one setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Record to the camera's storage at all (all the time and/or on alarm).
    #[schemars(title = "Recording", extend("x-true" = "Use", "x-false" = "Not use"))]
    pub enabled: bool,
    /// Folder of the recordings and their index: a sub-directory of the camera's data folder
    /// (relative, without `..`; absolute paths are refused).
    #[schemars(title = "Recording folder", length(min = 1, max = 255))]
    pub directory: PathBuf,
    /// Which streams are recorded.
    #[schemars(
        title = "Streams recorded",
        length(max = 2),
        inner(range(min = 1, max = 2)),
        extend("items" = {"type": "integer", "minimum": 1, "maximum": 2, "oneOf": [{"const": 1, "title": "Stream(1)"}, {"const": 2, "title": "Stream(2)"}]})
    )]
    pub streams: Vec<u8>,
    /// Record all the time; when off, only alarms start a recording (Alarm › SD recording).
    #[schemars(title = "Continuous recording")]
    pub continuous: bool,
    /// A new file starts after this time, so retention frees space in small steps.
    #[schemars(title = "File length", range(min = 10, max = 86400), extend("x-unit" = "s"))]
    pub file_seconds: u32,
    /// A new file starts once a file reaches this size (checked at key frames, so a file may
    /// exceed it by a few frames).
    #[schemars(title = "Largest file", range(min = 65536), extend("x-unit" = "bytes"))]
    pub file_max_bytes: u64,
    /// Total space all recordings may take; the oldest are deleted beyond it. 0 = no limit other
    /// than the free space kept.
    #[schemars(title = "Space for recordings", extend("x-unit" = "bytes"))]
    pub quota_bytes: u64,
    /// Space always left free on the storage for logs, settings and updates; the oldest
    /// recordings are deleted to keep it.
    #[schemars(title = "Space kept free", extend("x-unit" = "bytes"))]
    pub min_free_bytes: u64,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            enabled: false,
            directory: PathBuf::from("recordings"),
            streams: vec![1],
            continuous: true,
            file_seconds: 300,
            file_max_bytes: 256 * 1024 * 1024,
            quota_bytes: 0,
            min_free_bytes: 256 * 1024 * 1024,
        }
    }
}

fn err(path: String, rule: &str, message: String) -> FieldError {
    FieldError::new(path, rule, message)
}

impl RecordingConfig {
    /// The recording directory, resolved against the daemon's data directory.
    pub fn resolve_directory(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(&self.directory)
    }
}

/// `recording.directory` must stay inside the data directory (paper §3.5: a setting must not reach
/// the rest of the system): `data_dir.join(abs)` would *replace* the data directory, and `..`
/// would leave it; retention deletes files there, and the FTP server serves them.
fn check_directory(dir: &Path, path: &str, out: &mut Vec<FieldError>) {
    use std::path::Component;
    let text = dir.as_os_str().to_string_lossy();
    let e = |rule: &str, message: &str| err(path.to_owned(), rule, message.to_owned());
    if text.is_empty() {
        out.push(e("recording.directory.empty", "a directory is required"));
        return;
    }
    if text.chars().any(char::is_control) {
        // A NUL cannot reach the filesystem at all, and other control characters make names
        // nobody can type or see: refused here, not discovered by the recorder later.
        out.push(e(
            "recording.directory.control",
            "control characters (such as NUL or a line break) are not allowed in a directory name",
        ));
        return;
    }
    if text.len() > MAX_DIRECTORY_LEN {
        out.push(e(
            "recording.directory.length",
            &format!("at most {MAX_DIRECTORY_LEN} bytes"),
        ));
        return;
    }
    if dir.has_root() || dir.components().any(|c| matches!(c, Component::Prefix(_))) {
        out.push(e(
            "recording.directory.absolute",
            "must be a sub-directory of the data directory, written relative to it (e.g. `recordings`); absolute paths are not allowed",
        ));
        return;
    }
    if dir.components().any(|c| matches!(c, Component::ParentDir)) {
        // `..` could point recordings (and retention's deletions) at the rest of the system.
        out.push(e(
            "recording.directory.parent",
            "`..` is not allowed: recordings stay inside the data directory",
        ));
        return;
    }
    let first = dir.components().find_map(|c| match c {
        Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
        _ => None,
    });
    match first {
        None => out.push(e(
            "recording.directory.data_dir",
            "must name a sub-directory of the data directory, not the data directory itself",
        )),
        Some(n) if RESERVED_DATA_ENTRIES.contains(&n.as_str()) => out.push(e(
            "recording.directory.reserved",
            &format!(
                "`{n}` belongs to camward's own files in the data directory: choose another name"
            ),
        )),
        Some(_) => {}
    }
}

impl Validate for RecordingConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        let p = |f: &str| join(at, f);
        check_directory(&self.directory, &p("directory"), out);
        if self.streams.is_empty() && self.enabled {
            out.push(err(
                p("streams"),
                "recording.streams.empty",
                "choose at least one stream to record".into(),
            ));
        }
        for (i, s) in self.streams.iter().enumerate() {
            if *s == 0 || *s > MAX_STREAM {
                out.push(err(
                    format!("{}[{i}]", p("streams")),
                    "recording.streams.range",
                    format!("stream {s} does not exist: use 1 to {MAX_STREAM}"),
                ));
            } else if self.streams[..i].contains(s) {
                out.push(err(
                    format!("{}[{i}]", p("streams")),
                    "recording.streams.duplicate",
                    format!("stream {s} is listed twice"),
                ));
            }
        }
        if !(MIN_FILE_SECONDS..=MAX_FILE_SECONDS).contains(&self.file_seconds) {
            out.push(err(
                p("file_seconds"),
                "recording.file_seconds.range",
                format!("between {MIN_FILE_SECONDS} seconds and one day ({MAX_FILE_SECONDS} s)"),
            ));
        }
        if self.file_max_bytes < MIN_FILE_MAX_BYTES {
            out.push(err(
                p("file_max_bytes"),
                "recording.file_max_bytes.range",
                format!("at least {}", human_bytes(MIN_FILE_MAX_BYTES)),
            ));
        }
        // Retention never deletes a file being written, so the quota must hold the files in
        // progress (one per stream and trigger) plus at least one finished file to delete.
        let in_progress = 2 * self.streams.len().max(1) as u64;
        let min_quota = self.file_max_bytes.saturating_mul(in_progress + 1);
        if self.quota_bytes != 0 && self.quota_bytes < min_quota {
            out.push(err(
                p("quota_bytes"),
                "recording.quota_bytes.too_small",
                format!(
                    "0 (no limit) or at least {}: {in_progress} files of the largest file size are written at once, \
                     and retention needs a finished one to delete",
                    human_bytes(min_quota)
                ),
            ));
        }
    }
}

/// No caution of the paper applies to these settings.
impl Audit for RecordingConfig {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_util::errors_of;

    #[test]
    fn defaults_are_valid_and_recording_is_off() {
        let c = RecordingConfig::default();
        assert!(!c.enabled);
        assert_eq!(errors_of(&c, "recording"), vec![]);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<RecordingConfig, _> =
            serde_json::from_str(r#"{"enabled":true,"colour":"red"}"#);
        assert!(r.is_err());
        let ok: RecordingConfig = serde_json::from_str(r#"{"enabled":true}"#).unwrap();
        assert!(ok.enabled && ok.file_seconds == 300);
    }

    #[test]
    fn invalid_fields_name_path_and_rule() {
        let c = RecordingConfig {
            enabled: true,
            directory: PathBuf::from("../etc"),
            streams: vec![1, 3, 1],
            file_seconds: 1,
            file_max_bytes: 10,
            quota_bytes: 11,
            ..Default::default()
        };
        let e = errors_of(&c, "recording");
        let rules: Vec<_> = e
            .iter()
            .map(|e| (e.path.as_str(), e.rule.as_str()))
            .collect();
        assert!(rules.contains(&("recording.directory", "recording.directory.parent")));
        assert!(rules.contains(&("recording.streams[1]", "recording.streams.range")));
        assert!(rules.contains(&("recording.streams[2]", "recording.streams.duplicate")));
        assert!(rules.contains(&("recording.file_seconds", "recording.file_seconds.range")));
        assert!(rules.contains(&("recording.file_max_bytes", "recording.file_max_bytes.range")));
        assert!(rules.contains(&("recording.quota_bytes", "recording.quota_bytes.too_small")));
    }

    fn directory_rule(dir: &str) -> Option<String> {
        let c = RecordingConfig {
            directory: PathBuf::from(dir),
            ..Default::default()
        };
        errors_of(&c, "recording")
            .into_iter()
            .find(|e| e.path == "recording.directory")
            .map(|e| e.rule)
    }

    #[test]
    fn directory_stays_inside_the_data_directory() {
        for ok in [
            "recordings",
            "sd/card1",
            "./recordings",
            "rec-2026",
            ".hidden",
        ] {
            assert_eq!(directory_rule(ok), None, "{ok}");
        }
        for (bad, rule) in [
            ("", "recording.directory.empty"),
            ("/etc", "recording.directory.absolute"),
            ("/", "recording.directory.absolute"),
            ("//tmp/x", "recording.directory.absolute"),
            ("../etc", "recording.directory.parent"),
            ("a/../../etc", "recording.directory.parent"),
            (".", "recording.directory.data_dir"),
            ("./", "recording.directory.data_dir"),
            ("identity", "recording.directory.reserved"),
            ("identity/x", "recording.directory.reserved"),
            ("ftp-queue", "recording.directory.reserved"),
            ("rec\0ordings", "recording.directory.control"),
            ("rec\nordings", "recording.directory.control"),
            ("\u{7f}", "recording.directory.control"),
        ] {
            assert_eq!(directory_rule(bad).as_deref(), Some(rule), "{bad:?}");
        }
        assert_eq!(
            directory_rule(&"a".repeat(256)).as_deref(),
            Some("recording.directory.length")
        );
    }
}
