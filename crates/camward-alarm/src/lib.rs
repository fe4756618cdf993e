//! Alarms of the camera: video motion detection, terminals, command alarm, the alarm bus, and the
//! event actions they trigger (alarm recording, mail, FTP images). Their settings (`alarm`,
//! `smtp`, `ftp_client`) are camward-config's sections.
//!
//! Media, recorder, SMTP and FTP are reached only through the traits of [`actions`], so this
//! crate depends on none of them; camward-notify implements the mail and FTP ones.
#![forbid(unsafe_code)]

pub mod actions;
pub mod hub;
pub mod log;
pub mod motion;
pub mod naming;
pub mod terminal;
pub mod vmd;

pub use actions::{
    ActionDeps, ActionEngine, ActionSettings, AlarmMail, ImageSink, ImageUpload, MailSink,
    RecorderHook, SnapshotSource,
};
pub use hub::{AlarmError, AlarmEvent, AlarmHub, AlarmSource, Availability, Capabilities};
pub use log::{LogEntry, LogLevel, LogSink, MemoryLog, SharedLog};
pub use motion::VmdAlarms;
pub use terminal::TerminalPoller;
pub use vmd::{AreaId, MotionDetector};
