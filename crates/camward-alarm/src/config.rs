//! The `alarm`, `smtp`, `ftp_client` and `ftp_server` sections of the configuration document.
//! Light serde types owned here so camward-config can embed them; everything is off by default.

use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::IpAddr;

/// Most VMD areas (the paper's VMD area screen has four).
pub const MAX_VMD_AREAS: usize = 4;
/// Most mail destinations (the paper's SMTP screen; issue #8 allows up to four).
pub const MAX_DESTINATIONS: usize = 4;
/// Alarm terminals of the board (paper: Terminal 1–3).
pub const TERMINALS: u8 = 3;
/// Longest pre-alarm time the recorder keeps in memory (camward-record's MAX_PRE_ALARM_SECS).
pub const MAX_PRE_ALARM_SECONDS: u32 = 30;
/// Longest post-alarm recording: a stuck alarm must not fill the card in one file.
pub const MAX_POST_ALARM_SECONDS: u32 = 600;
/// Most pre-alarm images kept in memory for FTP (bounded: each is a JPEG of up to ~200 kB).
pub const MAX_PRE_ALARM_IMAGES: u32 = 60;
/// Most post-alarm images one alarm may send.
pub const MAX_POST_ALARM_IMAGES: u32 = 1000;
/// Image interval bounds for FTP alarm images, in milliseconds (10 fps … one per minute).
pub const MIN_IMAGE_INTERVAL_MS: u32 = 100;
pub const MAX_IMAGE_INTERVAL_MS: u32 = 60_000;
/// Periodic FTP interval bounds, in seconds (the paper offers 1 s up to 24 h).
pub const MIN_PERIODIC_SECONDS: u32 = 1;
pub const MAX_PERIODIC_SECONDS: u32 = 86_400;

/// One invalid field, in camward-config's `FieldError` shape (it converts 1:1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// JSON path from the document root, e.g. `smtp.destinations[1].address`.
    pub path: String,
    /// Stable identifier clients can switch on.
    pub rule: String,
    /// A sentence for people.
    pub message: String,
}

/// A valid but weakened setting, in camward-config's `Warning` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub path: String,
    pub rule: String,
    pub message: String,
}

fn join(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_owned()
    } else {
        format!("{at}.{field}")
    }
}

fn err(out: &mut Vec<FieldError>, path: String, rule: &str, message: impl Into<String>) {
    out.push(FieldError {
        path,
        rule: rule.to_owned(),
        message: message.into(),
    });
}

fn warn(out: &mut Vec<Warning>, path: String, rule: &str, message: impl Into<String>) {
    out.push(Warning {
        path,
        rule: rule.to_owned(),
        message: message.into(),
    });
}

/// Which alarms an action reacts to: the check boxes of the paper's SMTP and FTP screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Terminal1,
    Terminal2,
    Terminal3,
    Vmd,
    Command,
    /// Accepted for the paper's check box, but never fires: camward has no audio source.
    Audio,
}

impl Trigger {
    /// The name used in the configuration, file names and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Terminal1 => "terminal1",
            Trigger::Terminal2 => "terminal2",
            Trigger::Terminal3 => "terminal3",
            Trigger::Vmd => "vmd",
            Trigger::Command => "command",
            Trigger::Audio => "audio",
        }
    }
}

fn validate_triggers(list: &[Trigger], at: &str, out: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    for (i, t) in list.iter().enumerate() {
        if !seen.insert(*t) {
            err(
                out,
                format!("{at}[{i}]"),
                "alarm.trigger.duplicate",
                format!("{} is listed twice", t.as_str()),
            );
        }
    }
}

fn warn_audio(list: &[Trigger], at: &str, out: &mut Vec<Warning>) {
    if list.contains(&Trigger::Audio) {
        warn(
            out,
            at.to_owned(),
            "alarm.audio.unavailable",
            "audio detection is unavailable on this device (no audio source): this trigger never fires",
        );
    }
}

// ---- alarm ---------------------------------------------------------------------------------

/// The `alarm` section: Setup › Alarm (alarm sources) and the alarm-recording event action.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmConfig {
    /// Video motion detection (Setup › Alarm › VMD area).
    pub vmd: VmdConfig,
    /// Alarm terminals 1–3 (inputs written by a board script, see docs).
    pub terminal1: TerminalConfig,
    pub terminal2: TerminalConfig,
    pub terminal3: TerminalConfig,
    /// Command alarm: `POST /api/v1/alarm` by a user of level control or above.
    pub command: CommandAlarmConfig,
    /// Event action "SD recording" on alarm (uses the recorder's pre-alarm ring).
    pub recording: AlarmRecordingConfig,
}

impl AlarmConfig {
    /// The settings of terminal `n` (1–3).
    pub fn terminal(&self, n: u8) -> Option<&TerminalConfig> {
        match n {
            1 => Some(&self.terminal1),
            2 => Some(&self.terminal2),
            3 => Some(&self.terminal3),
            _ => None,
        }
    }

    /// Every invalid field; `at` is the section's path (`"alarm"` when embedded).
    pub fn validate(&self, at: &str) -> Vec<FieldError> {
        let mut out = Vec::new();
        self.vmd.validate(&join(at, "vmd"), &mut out);
        self.recording.validate(&join(at, "recording"), &mut out);
        out
    }

    /// Valid settings that do something other than the user may expect.
    pub fn warnings(&self, at: &str) -> Vec<Warning> {
        let mut out = Vec::new();
        warn_audio(
            &self.recording.triggers,
            &join(&join(at, "recording"), "triggers"),
            &mut out,
        );
        out
    }
}

/// Video motion detection settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VmdConfig {
    pub enabled: bool,
    /// Stream whose pictures are analysed. Stream(2) by default: motion is as visible in a small
    /// picture and costs a quarter of the work.
    pub stream: u8,
    /// Up to four rectangular areas; motion outside every area is ignored.
    pub areas: Vec<VmdArea>,
    /// Seconds without motion before an area can raise a new alarm: one person walking through
    /// gives one alarm, not one per frame.
    pub cooldown_seconds: u32,
}

impl Default for VmdConfig {
    fn default() -> Self {
        VmdConfig {
            enabled: false,
            stream: 2,
            areas: Vec::new(),
            cooldown_seconds: 5,
        }
    }
}

impl VmdConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        if !(1..=2).contains(&self.stream) {
            err(
                out,
                join(at, "stream"),
                "vmd.stream.range",
                "analyse stream 1 or 2",
            );
        }
        if self.areas.len() > MAX_VMD_AREAS {
            err(
                out,
                join(at, "areas"),
                "vmd.areas.count",
                format!("at most {MAX_VMD_AREAS} areas"),
            );
        }
        if self.enabled && !self.areas.iter().any(|a| a.enabled) {
            err(
                out,
                join(at, "areas"),
                "vmd.areas.empty",
                "motion detection needs at least one enabled area",
            );
        }
        for (i, a) in self.areas.iter().enumerate() {
            a.validate(&format!("{}[{i}]", join(at, "areas")), out);
        }
        if !(1..=300).contains(&self.cooldown_seconds) {
            err(
                out,
                join(at, "cooldown_seconds"),
                "vmd.cooldown.range",
                "between 1 and 300 seconds",
            );
        }
    }
}

/// One VMD area in normalised picture coordinates (0..1 from the top-left corner), so the same
/// area applies to every stream size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VmdArea {
    pub enabled: bool,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// 1 (only strong changes) … 10 (faint changes): how much a cell's brightness must change to
    /// count as moving. See docs/design/alarms-and-notifications.md for the numbers.
    pub sensitivity: u8,
    /// Detection threshold: percent (1–100) of the area's cells that must change.
    pub threshold: u8,
}

impl Default for VmdArea {
    fn default() -> Self {
        VmdArea {
            enabled: true,
            x: 0.0,
            y: 0.0,
            width: 1.0,
            height: 1.0,
            sensitivity: 5,
            threshold: 2,
        }
    }
}

/// Smallest area side: below ~3 cells of the detection grid a single noisy cell is the whole area.
pub const MIN_AREA_SIDE: f64 = 0.05;

impl VmdArea {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        for (name, v) in [("x", self.x), ("y", self.y)] {
            if !(0.0..1.0).contains(&v) || !v.is_finite() {
                err(
                    out,
                    join(at, name),
                    "vmd.area.range",
                    "between 0 and 1 (fraction of the picture)",
                );
            }
        }
        for (name, v, origin) in [
            ("width", self.width, self.x),
            ("height", self.height, self.y),
        ] {
            if !v.is_finite() || !(MIN_AREA_SIDE..=1.0).contains(&v) {
                err(
                    out,
                    join(at, name),
                    "vmd.area.size",
                    format!("between {MIN_AREA_SIDE} and 1 (fraction of the picture)"),
                );
            } else if origin + v > 1.0 + 1e-9 {
                err(
                    out,
                    join(at, name),
                    "vmd.area.outside",
                    "the area must stay inside the picture",
                );
            }
        }
        if !(1..=10).contains(&self.sensitivity) {
            err(
                out,
                join(at, "sensitivity"),
                "vmd.sensitivity.range",
                "between 1 (low) and 10 (high)",
            );
        }
        if !(1..=100).contains(&self.threshold) {
            err(
                out,
                join(at, "threshold"),
                "vmd.threshold.range",
                "between 1 and 100 percent of the area",
            );
        }
    }
}

/// Which contact state of a terminal is the alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalTrigger {
    /// Alarm when the contact closes (the board script writes `1`).
    #[default]
    Close,
    /// Alarm when the contact opens (the board script writes `0`).
    Open,
}

/// An alarm terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TerminalConfig {
    pub enabled: bool,
    pub trigger: TerminalTrigger,
}

/// The command alarm. Off by default like every alarm source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandAlarmConfig {
    pub enabled: bool,
}

/// Event action: record on alarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmRecordingConfig {
    pub enabled: bool,
    /// Alarms that start a recording.
    pub triggers: Vec<Trigger>,
    /// Stream recorded.
    pub stream: u8,
    pub pre_seconds: u32,
    pub post_seconds: u32,
}

impl Default for AlarmRecordingConfig {
    fn default() -> Self {
        AlarmRecordingConfig {
            enabled: false,
            triggers: vec![
                Trigger::Terminal1,
                Trigger::Terminal2,
                Trigger::Terminal3,
                Trigger::Vmd,
                Trigger::Command,
            ],
            stream: 1,
            pre_seconds: 5,
            post_seconds: 30,
        }
    }
}

impl AlarmRecordingConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        validate_triggers(&self.triggers, &join(at, "triggers"), out);
        if !(1..=2).contains(&self.stream) {
            err(
                out,
                join(at, "stream"),
                "alarm.recording.stream",
                "record stream 1 or 2",
            );
        }
        if self.pre_seconds > MAX_PRE_ALARM_SECONDS {
            err(
                out,
                join(at, "pre_seconds"),
                "alarm.recording.pre",
                format!("at most {MAX_PRE_ALARM_SECONDS} seconds (the recorder's memory ring)"),
            );
        }
        if !(1..=MAX_POST_ALARM_SECONDS).contains(&self.post_seconds) {
            err(
                out,
                join(at, "post_seconds"),
                "alarm.recording.post",
                format!("between 1 and {MAX_POST_ALARM_SECONDS} seconds"),
            );
        }
    }
}

// ---- smtp ----------------------------------------------------------------------------------

/// How the SMTP connection is protected. "SSL On" of the paper is `starttls` or `tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain SMTP: the password and the pictures cross the network in clear.
    None,
    /// STARTTLS, required: a server that does not offer it is refused (no downgrade).
    #[default]
    Starttls,
    /// Implicit TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

/// One "Destination of notification".
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Destination {
    pub address: String,
    /// Alarms mailed to this address.
    pub alarms: Vec<Trigger>,
}

/// The `smtp` section (Setup › Network › Advanced › SMTP(E-mail)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// "E-mail notification On/Off".
    pub enabled: bool,
    pub server: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// Empty: no SMTP AUTH. Otherwise AUTH PLAIN or LOGIN, whichever the server offers.
    pub username: String,
    pub password: Secret,
    /// "Sender's E-mail address".
    pub sender: String,
    /// PEM of the CA that signed the server's certificate; empty = the system's roots.
    /// When set, only this CA is trusted (a site CA should not be widened to the public roots).
    pub ca_certificate: String,
    /// "Alarm image attachment".
    pub attach_image: bool,
    /// JPEG(1), (2) or (3).
    pub image_size: u8,
    pub destinations: Vec<Destination>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            enabled: false,
            server: String::new(),
            port: 587,
            security: SmtpSecurity::Starttls,
            username: String::new(),
            password: Secret::default(),
            sender: String::new(),
            ca_certificate: String::new(),
            attach_image: true,
            image_size: 2,
            destinations: Vec::new(),
        }
    }
}

impl SmtpConfig {
    /// Destination addresses that want alarms of `trigger`.
    pub fn recipients_for(&self, trigger: Trigger) -> Vec<String> {
        self.destinations
            .iter()
            .filter(|d| !d.address.is_empty() && d.alarms.contains(&trigger))
            .map(|d| d.address.clone())
            .collect()
    }

    pub fn validate(&self, at: &str) -> Vec<FieldError> {
        let mut out = Vec::new();
        if self.enabled || !self.server.is_empty() {
            validate_host(&self.server, &join(at, "server"), self.enabled, &mut out);
        }
        if self.port == 0 {
            err(
                &mut out,
                join(at, "port"),
                "smtp.port.range",
                "between 1 and 65535",
            );
        }
        if self.enabled || !self.sender.is_empty() {
            validate_mailbox(&self.sender, &join(at, "sender"), &mut out);
        }
        validate_login(
            &self.username,
            &self.password,
            at,
            "smtp",
            self.enabled,
            &mut out,
        );
        validate_ca(&self.ca_certificate, &join(at, "ca_certificate"), &mut out);
        validate_image_size(self.image_size, &join(at, "image_size"), &mut out);
        let dpath = join(at, "destinations");
        if self.destinations.len() > MAX_DESTINATIONS {
            err(
                &mut out,
                dpath.clone(),
                "smtp.destinations.count",
                format!("at most {MAX_DESTINATIONS} destinations"),
            );
        }
        if self.enabled && self.destinations.is_empty() {
            err(
                &mut out,
                dpath.clone(),
                "smtp.destinations.empty",
                "add at least one destination address",
            );
        }
        for (i, d) in self.destinations.iter().enumerate() {
            let p = format!("{dpath}[{i}]");
            validate_mailbox(&d.address, &join(&p, "address"), &mut out);
            validate_triggers(&d.alarms, &join(&p, "alarms"), &mut out);
        }
        out
    }

    pub fn warnings(&self, at: &str) -> Vec<Warning> {
        let mut out = Vec::new();
        if self.enabled && self.security == SmtpSecurity::None {
            let msg = if self.username.is_empty() {
                "SSL is off: alarm mail and pictures cross the network in clear"
            } else {
                "SSL is off: the SMTP password, alarm mail and pictures cross the network in clear"
            };
            warn(&mut out, join(at, "security"), "smtp.plaintext", msg);
        }
        for (i, d) in self.destinations.iter().enumerate() {
            warn_audio(
                &d.alarms,
                &format!("{}[{i}].alarms", join(at, "destinations")),
                &mut out,
            );
        }
        out
    }
}

// ---- ftp_client ----------------------------------------------------------------------------

/// FTPS policy of the FTP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FtpTls {
    /// AUTH TLS on the control port, then protected data (PROT P). A server that refuses AUTH
    /// TLS is an error, never a silent fall-back to plain FTP.
    #[default]
    Explicit,
    /// Plain FTP: only on a trusted network (paper §4.3).
    None,
}

/// Pre- or post-alarm image series ("Transmission interval" and "number of images").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSeries {
    /// Milliseconds between two images (1000 = the paper's "1fps").
    pub interval_ms: u32,
    /// Number of images. The paper's "Recording duration" is `images × interval`, see
    /// [`ImageSeries::duration_ms`].
    pub images: u32,
}

impl ImageSeries {
    /// The paper's read-only "Recording duration".
    pub fn duration_ms(&self) -> u64 {
        self.interval_ms as u64 * self.images as u64
    }

    fn validate(&self, at: &str, max_images: u32, out: &mut Vec<FieldError>) {
        if !(MIN_IMAGE_INTERVAL_MS..=MAX_IMAGE_INTERVAL_MS).contains(&self.interval_ms) {
            err(
                out,
                join(at, "interval_ms"),
                "ftp.interval.range",
                format!("between {MIN_IMAGE_INTERVAL_MS} and {MAX_IMAGE_INTERVAL_MS} ms"),
            );
        }
        if self.images > max_images {
            err(
                out,
                join(at, "images"),
                "ftp.images.range",
                format!("at most {max_images} images"),
            );
        }
    }
}

/// "Alarm image FTP transmission".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FtpAlarmImages {
    pub enabled: bool,
    /// Remote directory (created when missing); empty = the login directory.
    pub directory: String,
    /// File name prefix; see docs for the full name pattern.
    pub file_name: String,
    /// Alarms whose images are sent (the "File name" check boxes of the FTP screen).
    pub alarms: Vec<Trigger>,
    pub pre_alarm: ImageSeries,
    pub post_alarm: ImageSeries,
    /// JPEG(1), (2) or (3).
    pub image_size: u8,
}

impl Default for FtpAlarmImages {
    fn default() -> Self {
        FtpAlarmImages {
            enabled: false,
            directory: String::new(),
            file_name: "alarm".into(),
            alarms: vec![
                Trigger::Terminal1,
                Trigger::Terminal2,
                Trigger::Terminal3,
                Trigger::Vmd,
                Trigger::Command,
            ],
            pre_alarm: ImageSeries {
                interval_ms: 1000,
                images: 0,
            },
            post_alarm: ImageSeries {
                interval_ms: 1000,
                images: 100,
            },
            image_size: 2,
        }
    }
}

/// "FTP periodic image transmission".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FtpPeriodicImages {
    pub enabled: bool,
    pub directory: String,
    pub file_name: String,
    /// "Name w/time&date" (true) or "Name w/o time&date" (false: the same remote file is
    /// replaced each time, for a "latest picture" page).
    pub with_date_time: bool,
    pub interval_seconds: u32,
    pub image_size: u8,
}

impl Default for FtpPeriodicImages {
    fn default() -> Self {
        FtpPeriodicImages {
            enabled: false,
            directory: String::new(),
            file_name: "image".into(),
            with_date_time: true,
            interval_seconds: 60,
            image_size: 2,
        }
    }
}

/// The `ftp_client` section (Setup › Network › Advanced › FTP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FtpClientConfig {
    /// Master switch: nothing connects to an FTP server while off.
    pub enabled: bool,
    pub server: String,
    /// "Control port".
    pub port: u16,
    pub username: String,
    pub password: Secret,
    pub tls: FtpTls,
    /// PEM of the CA that signed the FTP server's certificate; empty = the system's roots.
    pub ca_certificate: String,
    /// "FTP mode": passive (true) or active (false).
    pub passive: bool,
    /// "FTP transmission retry": on = retry up to `retry_limit` times with back-off;
    /// off = one try. What is given up on is logged either way.
    pub retry: bool,
    pub retry_limit: u32,
    pub alarm: FtpAlarmImages,
    pub periodic: FtpPeriodicImages,
}

impl Default for FtpClientConfig {
    fn default() -> Self {
        FtpClientConfig {
            enabled: false,
            server: String::new(),
            port: 21,
            username: String::new(),
            password: Secret::default(),
            tls: FtpTls::Explicit,
            ca_certificate: String::new(),
            passive: true,
            retry: true,
            retry_limit: 10,
            alarm: FtpAlarmImages::default(),
            periodic: FtpPeriodicImages::default(),
        }
    }
}

impl FtpClientConfig {
    /// Tries per upload (the first one included).
    pub fn max_attempts(&self) -> u32 {
        if self.retry {
            self.retry_limit.max(1)
        } else {
            1
        }
    }

    pub fn validate(&self, at: &str) -> Vec<FieldError> {
        let mut out = Vec::new();
        if self.enabled || !self.server.is_empty() {
            validate_host(&self.server, &join(at, "server"), self.enabled, &mut out);
        }
        if self.port == 0 {
            err(
                &mut out,
                join(at, "port"),
                "ftp.port.range",
                "between 1 and 65535",
            );
        }
        validate_login(
            &self.username,
            &self.password,
            at,
            "ftp",
            self.enabled,
            &mut out,
        );
        validate_ca(&self.ca_certificate, &join(at, "ca_certificate"), &mut out);
        if !(1..=100).contains(&self.retry_limit) {
            err(
                &mut out,
                join(at, "retry_limit"),
                "ftp.retry.range",
                "between 1 and 100 tries",
            );
        }
        let a = join(at, "alarm");
        validate_remote_dir(&self.alarm.directory, &join(&a, "directory"), &mut out);
        validate_file_prefix(&self.alarm.file_name, &join(&a, "file_name"), &mut out);
        validate_triggers(&self.alarm.alarms, &join(&a, "alarms"), &mut out);
        self.alarm
            .pre_alarm
            .validate(&join(&a, "pre_alarm"), MAX_PRE_ALARM_IMAGES, &mut out);
        self.alarm
            .post_alarm
            .validate(&join(&a, "post_alarm"), MAX_POST_ALARM_IMAGES, &mut out);
        validate_image_size(self.alarm.image_size, &join(&a, "image_size"), &mut out);
        let p = join(at, "periodic");
        validate_remote_dir(&self.periodic.directory, &join(&p, "directory"), &mut out);
        validate_file_prefix(&self.periodic.file_name, &join(&p, "file_name"), &mut out);
        if !(MIN_PERIODIC_SECONDS..=MAX_PERIODIC_SECONDS).contains(&self.periodic.interval_seconds)
        {
            err(
                &mut out,
                join(&p, "interval_seconds"),
                "ftp.periodic.interval",
                format!("between {MIN_PERIODIC_SECONDS} and {MAX_PERIODIC_SECONDS} seconds"),
            );
        }
        validate_image_size(self.periodic.image_size, &join(&p, "image_size"), &mut out);
        out
    }

    pub fn warnings(&self, at: &str) -> Vec<Warning> {
        let mut out = Vec::new();
        if self.enabled && self.tls == FtpTls::None {
            warn(
                &mut out,
                join(at, "tls"),
                "ftp_client.plaintext",
                "FTPS is off: the FTP password and the pictures cross the network in clear; use only on a trusted network",
            );
        }
        if self.enabled && !self.passive {
            warn(
                &mut out,
                join(at, "passive"),
                "ftp_client.active",
                "active mode: the server connects back to the camera for each picture",
            );
        }
        warn_audio(
            &self.alarm.alarms,
            &join(&join(at, "alarm"), "alarms"),
            &mut out,
        );
        out
    }
}

// ---- ftp_server ----------------------------------------------------------------------------

/// The `ftp_server` section: "FTP access to camera" of the Network screen (paper §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FtpServerConfig {
    /// "Allow" (true) / "Forbid" (false, default): while false no port is open.
    pub enabled: bool,
    /// Control port; `--ftp ADDR:PORT` overrides address and port.
    pub port: u16,
    /// Refuse plain FTP (AUTH TLS first). Also in force whenever HTTPS is the connection.
    pub ftps_required: bool,
    /// Passive data ports, inclusive; open a firewall for exactly this range.
    pub passive_port_min: u16,
    pub passive_port_max: u16,
}

impl Default for FtpServerConfig {
    fn default() -> Self {
        FtpServerConfig {
            enabled: false,
            port: 21,
            ftps_required: false,
            passive_port_min: 50_000,
            passive_port_max: 50_019,
        }
    }
}

impl FtpServerConfig {
    /// Whether FTPS is required, given whether HTTPS is the device's connection
    /// (`https.connection == "https"`): a device that insists on HTTPS must not hand out
    /// the same passwords over plain FTP.
    pub fn ftps_required_with(&self, https_connection: bool) -> bool {
        self.ftps_required || https_connection
    }

    pub fn validate(&self, at: &str) -> Vec<FieldError> {
        let mut out = Vec::new();
        if self.port == 0 {
            err(
                &mut out,
                join(at, "port"),
                "ftp_server.port.range",
                "between 1 and 65535",
            );
        }
        if self.passive_port_min < 1024 || self.passive_port_min > self.passive_port_max {
            err(
                &mut out,
                join(at, "passive_port_min"),
                "ftp_server.passive.range",
                "passive ports: 1024 ≤ min ≤ max ≤ 65535",
            );
        } else if self.passive_port_max - self.passive_port_min >= 1000 {
            err(
                &mut out,
                join(at, "passive_port_max"),
                "ftp_server.passive.size",
                "at most 1000 passive ports",
            );
        }
        out
    }

    /// `https_connection`: whether `https.connection == "https"` (FTPS then required).
    pub fn warnings(&self, at: &str, https_connection: bool) -> Vec<Warning> {
        let mut out = Vec::new();
        if self.enabled && !self.ftps_required_with(https_connection) {
            warn(
                &mut out,
                join(at, "ftps_required"),
                "ftp_server.plaintext",
                "FTP access is allowed without TLS: user names, passwords and recordings can cross the network in clear",
            );
        }
        out
    }
}

// ---- shared checks -------------------------------------------------------------------------

fn validate_host(host: &str, at: &str, required: bool, out: &mut Vec<FieldError>) {
    if host.is_empty() {
        if required {
            err(
                out,
                at.to_owned(),
                "host.required",
                "a server address is required",
            );
        }
        return;
    }
    if host.parse::<IpAddr>().is_ok() {
        return;
    }
    let ok = host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !ok {
        err(
            out,
            at.to_owned(),
            "host.invalid",
            "an IPv4/IPv6 address or a host name",
        );
    }
}

/// A deliberately strict subset of RFC 5321 mailboxes: what a camera needs, and nothing that
/// could smuggle a header or an SMTP command (no spaces, quotes, CR/LF).
pub fn is_valid_mailbox(addr: &str) -> bool {
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let domain_ok = if let Some(lit) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        lit.trim_start_matches("IPv6:").parse::<IpAddr>().is_ok()
    } else {
        domain.len() <= 253
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    local_ok && domain_ok && addr.len() <= 254
}

fn validate_mailbox(addr: &str, at: &str, out: &mut Vec<FieldError>) {
    if !is_valid_mailbox(addr) {
        err(
            out,
            at.to_owned(),
            "mail.address",
            "an e-mail address like camera@example.com",
        );
    }
}

fn validate_login(
    username: &str,
    password: &Secret,
    at: &str,
    rule: &str,
    enabled: bool,
    out: &mut Vec<FieldError>,
) {
    let bad = |s: &str| s.chars().any(|c| c.is_control());
    if username.len() > 128 || bad(username) {
        err(
            out,
            join(at, "username"),
            &format!("{rule}.username"),
            "at most 128 characters, no control characters",
        );
    }
    if let Some(p) = password.expose()
        && (p.len() > 128 || bad(p))
    {
        // Never echo the value: this message reaches the API and logs.
        err(
            out,
            join(at, "password"),
            &format!("{rule}.password"),
            "at most 128 characters, no control characters",
        );
    }
    if enabled && !username.is_empty() && !password.is_set() {
        err(
            out,
            join(at, "password"),
            &format!("{rule}.password.required"),
            "a password is required with a user name",
        );
    }
}

fn validate_ca(pem: &str, at: &str, out: &mut Vec<FieldError>) {
    if pem.trim().is_empty() {
        return;
    }
    match parse_ca_pem(pem) {
        Ok(_) => {}
        Err(m) => err(out, at.to_owned(), "tls.ca_certificate", m),
    }
}

/// The DER certificates of a PEM bundle (`ca_certificate`), or why it is not one.
pub fn parse_ca_pem(pem: &str) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err("no PEM CERTIFICATE block found".into()),
        Err(e) => Err(format!("not a PEM certificate: {e}")),
    }
}

fn validate_image_size(size: u8, at: &str, out: &mut Vec<FieldError>) {
    if !(1..=3).contains(&size) {
        err(
            out,
            at.to_owned(),
            "jpeg.size",
            "1, 2 or 3 for JPEG(1), JPEG(2), JPEG(3)",
        );
    }
}

/// Characters allowed in remote names: portable across FTP servers and file systems, and free
/// of anything an FTP command line or a path could interpret.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn validate_file_prefix(name: &str, at: &str, out: &mut Vec<FieldError>) {
    if name.is_empty() || name.len() > 32 || !name.chars().all(name_char) {
        err(
            out,
            at.to_owned(),
            "ftp.file_name",
            "1–32 characters: letters, digits, '_' and '-'",
        );
    }
}

fn validate_remote_dir(dir: &str, at: &str, out: &mut Vec<FieldError>) {
    if dir.is_empty() {
        return;
    }
    let ok = dir.len() <= 128
        && dir
            .trim_start_matches('/')
            .split('/')
            .all(|seg| !seg.is_empty() && seg.chars().all(|c| name_char(c) || c == '.'))
        && !dir.split('/').any(|s| s == "." || s == "..");
    if !ok {
        err(
            out,
            at.to_owned(),
            "ftp.directory",
            "up to 128 characters: segments of letters, digits, '_', '-', '.' separated by '/' (no '..')",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_off_and_valid() {
        let a = AlarmConfig::default();
        assert!(!a.vmd.enabled && !a.command.enabled && !a.terminal1.enabled);
        assert!(!a.recording.enabled);
        assert!(a.validate("alarm").is_empty());
        let s = SmtpConfig::default();
        assert!(!s.enabled);
        assert!(s.validate("smtp").is_empty(), "{:?}", s.validate("smtp"));
        let f = FtpClientConfig::default();
        assert!(!f.enabled && f.tls == FtpTls::Explicit && f.passive && f.port == 21);
        assert!(f.validate("ftp_client").is_empty());
        let srv = FtpServerConfig::default();
        assert!(!srv.enabled);
        assert!(srv.validate("ftp_server").is_empty());
        assert!(srv.warnings("ftp_server", false).is_empty());
    }

    #[test]
    fn fixed_names_parse() {
        let s: SmtpConfig = serde_json::from_value(json!({
            "enabled": true, "server": "mail.example.com", "port": 465, "security": "tls",
            "username": "cam", "password": "pw-123456", "sender": "cam@example.com",
            "ca_certificate": "",
            "destinations": [{"address": "ops@example.com", "alarms": ["command", "vmd", "terminal1"]}]
        }))
        .unwrap();
        assert_eq!(s.security, SmtpSecurity::Tls);
        assert!(s.validate("smtp").is_empty(), "{:?}", s.validate("smtp"));
        assert_eq!(s.recipients_for(Trigger::Vmd), vec!["ops@example.com"]);
        assert!(s.recipients_for(Trigger::Terminal2).is_empty());
        let f: FtpServerConfig = serde_json::from_value(json!({"enabled": true})).unwrap();
        assert!(f.enabled);
        for sec in ["none", "starttls", "tls"] {
            assert!(serde_json::from_value::<SmtpConfig>(json!({"security": sec})).is_ok());
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_value::<SmtpConfig>(json!({"pop_server": "x"})).is_err());
        assert!(serde_json::from_value::<FtpClientConfig>(json!({"bogus": 1})).is_err());
        assert!(
            serde_json::from_value::<AlarmConfig>(json!({"vmd": {"areas": [{"z": 1}]}})).is_err()
        );
        assert!(serde_json::from_value::<SmtpConfig>(json!({"security": "ssl"})).is_err());
    }

    #[test]
    fn errors_name_their_json_path() {
        let s: SmtpConfig = serde_json::from_value(json!({
            "enabled": true, "server": "bad host", "sender": "nobody",
            "username": "u",
            "destinations": [{"address": "a@b.c", "alarms": ["vmd", "vmd"]}, {"address": "x\r\ny@z"}]
        }))
        .unwrap();
        let e = s.validate("smtp");
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"smtp.server"), "{paths:?}");
        assert!(paths.contains(&"smtp.sender"));
        assert!(paths.contains(&"smtp.password"));
        assert!(paths.contains(&"smtp.destinations[0].alarms[1]"));
        assert!(paths.contains(&"smtp.destinations[1].address"));
    }

    #[test]
    fn too_many_areas_and_destinations_are_refused() {
        let mut a = AlarmConfig::default();
        a.vmd.areas = vec![VmdArea::default(); 5];
        assert!(
            a.validate("alarm")
                .iter()
                .any(|e| e.rule == "vmd.areas.count")
        );
        let s = SmtpConfig {
            destinations: vec![
                Destination {
                    address: "a@b.c".into(),
                    alarms: vec![]
                };
                5
            ],
            ..SmtpConfig::default()
        };
        assert!(
            s.validate("smtp")
                .iter()
                .any(|e| e.rule == "smtp.destinations.count")
        );
    }

    #[test]
    fn area_must_stay_inside_the_picture() {
        let mut a = AlarmConfig::default();
        a.vmd.areas = vec![VmdArea {
            x: 0.8,
            width: 0.5,
            ..VmdArea::default()
        }];
        let e = a.validate("alarm");
        assert_eq!(e[0].path, "alarm.vmd.areas[0].width");
        assert_eq!(e[0].rule, "vmd.area.outside");
    }

    #[test]
    fn plaintext_settings_warn() {
        let s = SmtpConfig {
            enabled: true,
            security: SmtpSecurity::None,
            ..SmtpConfig::default()
        };
        assert_eq!(s.warnings("smtp")[0].path, "smtp.security");
        let f = FtpClientConfig {
            enabled: true,
            tls: FtpTls::None,
            ..FtpClientConfig::default()
        };
        assert_eq!(f.warnings("ftp_client")[0].rule, "ftp_client.plaintext");
        let srv = FtpServerConfig {
            enabled: true,
            ..FtpServerConfig::default()
        };
        assert_eq!(srv.warnings("ftp_server", false).len(), 1);
        assert!(
            srv.warnings("ftp_server", true).is_empty(),
            "HTTPS forces FTPS"
        );
    }

    #[test]
    fn remote_names_cannot_escape() {
        let mut f = FtpClientConfig::default();
        f.alarm.directory = "cams/../../etc".into();
        f.periodic.file_name = "a b;rm".into();
        let e = f.validate("ftp_client");
        assert!(e.iter().any(|e| e.path == "ftp_client.alarm.directory"));
        assert!(e.iter().any(|e| e.path == "ftp_client.periodic.file_name"));
        f.alarm.directory = "/cams/front-door".into();
        f.periodic.file_name = "front_door".into();
        assert!(f.validate("ftp_client").is_empty());
    }

    #[test]
    fn password_never_in_debug_output() {
        let s = SmtpConfig {
            password: Secret::new("hunter22-smtp"),
            ..SmtpConfig::default()
        };
        let f = FtpClientConfig {
            password: Secret::new("hunter22-ftp"),
            ..FtpClientConfig::default()
        };
        let dbg = format!("{s:?} {f:?}");
        assert!(!dbg.contains("hunter22"), "{dbg}");
        // Validation messages never carry it either.
        let s = SmtpConfig {
            password: Secret::new("bad\npassword"),
            ..s
        };
        assert!(
            s.validate("smtp")
                .iter()
                .all(|e| !e.message.contains("bad"))
        );
    }

    #[test]
    fn ca_certificate_must_be_pem() {
        let s = SmtpConfig {
            ca_certificate: "not a cert".into(),
            ..SmtpConfig::default()
        };
        assert_eq!(s.validate("smtp")[0].path, "smtp.ca_certificate");
    }

    #[test]
    fn image_series_duration_is_count_times_interval() {
        let s = ImageSeries {
            interval_ms: 1000,
            images: 100,
        };
        assert_eq!(s.duration_ms(), 100_000);
    }
}
