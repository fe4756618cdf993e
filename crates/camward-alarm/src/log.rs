//! The log seam: alarms and what their actions did, handed to the daemon's alarm/audit log.
//! One callback type for this crate and camward-notify, so the daemon wires one sink.

use std::sync::Arc;

/// How much an entry matters; the daemon maps it onto its log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Info,
    Warning,
    Error,
}

/// One line for the alarm log. `kind` is a stable identifier (`alarm`, `mail.sent`,
/// `ftp.dropped`, ...; the full list is in docs/design/alarms-and-notifications.md) so the log
/// can be filtered; `message` is a sentence for people. Never contains a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub kind: &'static str,
    pub level: LogLevel,
    pub message: String,
}

impl LogEntry {
    pub fn info(kind: &'static str, message: impl Into<String>) -> Self {
        LogEntry {
            kind,
            level: LogLevel::Info,
            message: message.into(),
        }
    }
    pub fn warning(kind: &'static str, message: impl Into<String>) -> Self {
        LogEntry {
            kind,
            level: LogLevel::Warning,
            message: message.into(),
        }
    }
    pub fn error(kind: &'static str, message: impl Into<String>) -> Self {
        LogEntry {
            kind,
            level: LogLevel::Error,
            message: message.into(),
        }
    }
}

/// Where entries go. Implemented for any `Fn(&LogEntry)`; must not block (called from async
/// tasks): the daemon's audit log write is a short SQLite insert, which is acceptable.
pub trait LogSink: Send + Sync + 'static {
    fn log(&self, entry: &LogEntry);
}

impl<F: Fn(&LogEntry) + Send + Sync + 'static> LogSink for F {
    fn log(&self, entry: &LogEntry) {
        self(entry)
    }
}

/// A shared sink.
pub type SharedLog = Arc<dyn LogSink>;

/// A sink that sends entries to `tracing` only (tests, tools).
pub fn tracing_log() -> SharedLog {
    Arc::new(|e: &LogEntry| match e.level {
        LogLevel::Info => tracing::info!(kind = e.kind, "{}", e.message),
        LogLevel::Warning => tracing::warn!(kind = e.kind, "{}", e.message),
        LogLevel::Error => tracing::error!(kind = e.kind, "{}", e.message),
    })
}

/// A sink that keeps entries in memory: for tests and for a "last events" view.
#[derive(Debug, Default, Clone)]
pub struct MemoryLog(Arc<std::sync::Mutex<Vec<LogEntry>>>);

impl MemoryLog {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn entries(&self) -> Vec<LogEntry> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Entries of one kind.
    pub fn of_kind(&self, kind: &str) -> Vec<LogEntry> {
        self.entries()
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect()
    }

    pub fn shared(&self) -> SharedLog {
        Arc::new(self.clone())
    }
}

impl LogSink for MemoryLog {
    fn log(&self, entry: &LogEntry) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry.clone());
    }
}
