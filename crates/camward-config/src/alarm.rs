//! The `alarm` section (Setup › Alarm): video motion detection areas, alarm terminals 1–3, the
//! command alarm and the "SD recording" event action. Everything is off by default.
//!
//! [`Trigger`] names the alarms that the mail and FTP event actions (paper §4.3, §4.6) react to.

use crate::audit::Audit;
use crate::checks::err;
use crate::{FieldError, Validate, Warning, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Most VMD areas (the paper's VMD area screen has four).
pub const MAX_VMD_AREAS: usize = 4;
/// Alarm terminals of the board (paper: Terminal 1–3).
pub const TERMINALS: u8 = 3;
/// Longest pre-alarm time the recorder keeps in memory (camward-record's ring holds 30 s).
pub const MAX_PRE_ALARM_SECONDS: u32 = 30;
/// Longest post-alarm recording: a stuck alarm must not fill the card in one file.
pub const MAX_POST_ALARM_SECONDS: u32 = 600;
/// Smallest area side: below ~3 cells of the detection grid a single noisy cell is the whole area.
pub const MIN_AREA_SIDE: f64 = 0.05;

/// Which alarms an action reacts to: the check boxes of the paper's SMTP and FTP screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Alarm terminal 1.
    #[schemars(title = "Terminal 1")]
    Terminal1,
    /// Alarm terminal 2.
    #[schemars(title = "Terminal 2")]
    Terminal2,
    /// Alarm terminal 3.
    #[schemars(title = "Terminal 3")]
    Terminal3,
    /// Video motion detection (any area).
    #[schemars(title = "VMD")]
    Vmd,
    /// The command alarm (`POST /api/v1/alarm`).
    #[schemars(title = "Command alarm")]
    Command,
    /// Accepted for the paper's check box, but never fires: camward has no audio source.
    #[schemars(title = "Audio detection")]
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

    /// Every alarm a camera without audio can raise: the default of every trigger list.
    pub fn all_but_audio() -> Vec<Trigger> {
        vec![
            Trigger::Terminal1,
            Trigger::Terminal2,
            Trigger::Terminal3,
            Trigger::Vmd,
            Trigger::Command,
        ]
    }
}

pub(crate) fn validate_triggers(list: &[Trigger], at: &str, out: &mut Vec<FieldError>) {
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

pub(crate) fn warn_audio(list: &[Trigger], at: &str, out: &mut Vec<Warning>) {
    if list.contains(&Trigger::Audio) {
        out.push(Warning::new(
            at,
            "alarm.audio.unavailable",
            "audio detection is unavailable on this device (no audio source): this trigger never fires",
        ));
    }
}

/// The `alarm` section: Setup › Alarm (alarm sources) and the alarm-recording event action.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmConfig {
    /// Video motion detection (Setup › Alarm › VMD area).
    #[schemars(title = "VMD")]
    pub vmd: VmdConfig,
    /// An alarm input of the board (its state is written by a board script, see the docs).
    #[schemars(title = "Terminal 1")]
    pub terminal1: TerminalConfig,
    /// An alarm input of the board.
    #[schemars(title = "Terminal 2")]
    pub terminal2: TerminalConfig,
    /// An alarm input of the board.
    #[schemars(title = "Terminal 3")]
    pub terminal3: TerminalConfig,
    /// An alarm raised by software (a VMS or a script) through the API.
    #[schemars(title = "Command alarm")]
    pub command: CommandAlarmConfig,
    /// Record on alarm, with the seconds before the alarm kept in memory.
    #[schemars(title = "SD recording")]
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
}

impl Validate for AlarmConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        self.vmd.validate(&join(at, "vmd"), out);
        self.recording.validate(&join(at, "recording"), out);
    }

    /// Valid settings that do something other than the user may expect.
    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        warn_audio(
            &self.recording.triggers,
            &join(&join(at, "recording"), "triggers"),
            out,
        );
    }
}

/// Video motion detection settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct VmdConfig {
    /// Raise an alarm when something moves inside an area.
    #[schemars(title = "Motion detection (VMD)")]
    pub enabled: bool,
    /// Stream whose pictures are analysed. Stream(2) by default: motion is as visible in a small
    /// picture and costs a quarter of the work.
    #[schemars(
        title = "Stream analysed",
        range(min = 1, max = 2),
        extend("oneOf" = [{"const": 1, "title": "Stream(1)"}, {"const": 2, "title": "Stream(2)"}])
    )]
    pub stream: u8,
    /// Up to four rectangular areas; motion outside every area is ignored.
    #[schemars(title = "VMD areas", length(max = 4))]
    pub areas: Vec<VmdArea>,
    /// Time without motion before an area can raise a new alarm: one person walking through
    /// gives one alarm, not one per frame.
    #[schemars(
        title = "Alarm interval",
        range(min = 1, max = 300),
        extend("x-unit" = "s")
    )]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct VmdArea {
    /// Whether motion in this area raises an alarm.
    #[schemars(title = "Area")]
    pub enabled: bool,
    /// Left edge, as a fraction of the picture width.
    #[schemars(title = "Left", range(min = 0.0, max = 1.0))]
    pub x: f64,
    /// Top edge, as a fraction of the picture height.
    #[schemars(title = "Top", range(min = 0.0, max = 1.0))]
    pub y: f64,
    /// Width, as a fraction of the picture width (at least 0.05; the area stays in the picture).
    #[schemars(title = "Width", range(min = 0.05, max = 1.0))]
    pub width: f64,
    /// Height, as a fraction of the picture height (at least 0.05; the area stays in the picture).
    #[schemars(title = "Height", range(min = 0.05, max = 1.0))]
    pub height: f64,
    /// How small a change of brightness counts as movement: 1 only strong changes, 10 faint
    /// ones too.
    #[schemars(title = "Sensitivity", range(min = 1, max = 10))]
    pub sensitivity: u8,
    /// How much of the area must move to raise the alarm.
    #[schemars(
        title = "Detection threshold",
        range(min = 1, max = 100),
        extend("x-unit" = "%")
    )]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TerminalTrigger {
    /// Alarm when the contact closes (the board script writes `1`).
    #[default]
    #[schemars(title = "Close")]
    Close,
    /// Alarm when the contact opens (the board script writes `0`).
    #[schemars(title = "Open")]
    Open,
}

/// An alarm terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TerminalConfig {
    /// Whether this terminal raises alarms.
    #[schemars(title = "Alarm input")]
    pub enabled: bool,
    /// Which change of the contact raises the alarm.
    #[schemars(title = "Alarm when the contact")]
    pub trigger: TerminalTrigger,
}

/// The command alarm. Off by default like every alarm source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CommandAlarmConfig {
    /// Whether software may raise alarms through the API (users of level Camera control and
    /// above).
    #[schemars(title = "Command alarm")]
    pub enabled: bool,
}

/// Event action: record on alarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmRecordingConfig {
    /// Record when an alarm is raised (recording must be in use on the SD memory card page).
    #[schemars(title = "SD recording on alarm")]
    pub enabled: bool,
    /// Alarms that start a recording.
    #[schemars(title = "Alarms that record")]
    pub triggers: Vec<Trigger>,
    /// Stream recorded.
    #[schemars(
        title = "Stream recorded",
        range(min = 1, max = 2),
        extend("oneOf" = [{"const": 1, "title": "Stream(1)"}, {"const": 2, "title": "Stream(2)"}])
    )]
    pub stream: u8,
    /// Time recorded before the alarm (kept in the camera's memory).
    #[schemars(title = "Pre-alarm", range(max = 30), extend("x-unit" = "s"))]
    pub pre_seconds: u32,
    /// Time recorded after the latest alarm.
    #[schemars(title = "Post-alarm", range(min = 1, max = 600), extend("x-unit" = "s"))]
    pub post_seconds: u32,
}

impl Default for AlarmRecordingConfig {
    fn default() -> Self {
        AlarmRecordingConfig {
            enabled: false,
            triggers: Trigger::all_but_audio(),
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

/// No caution of the paper applies to these settings.
impl Audit for AlarmConfig {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_util::errors_of;
    use serde_json::json;

    #[test]
    fn defaults_are_off_and_valid() {
        let a = AlarmConfig::default();
        assert!(!a.vmd.enabled && !a.command.enabled && !a.terminal1.enabled);
        assert!(!a.recording.enabled);
        assert!(errors_of(&a, "alarm").is_empty());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            serde_json::from_value::<AlarmConfig>(json!({"vmd": {"areas": [{"z": 1}]}})).is_err()
        );
    }

    #[test]
    fn too_many_areas_are_refused() {
        let mut a = AlarmConfig::default();
        a.vmd.areas = vec![VmdArea::default(); 5];
        assert!(
            errors_of(&a, "alarm")
                .iter()
                .any(|e| e.rule == "vmd.areas.count")
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
        let e = errors_of(&a, "alarm");
        assert_eq!(e[0].path, "alarm.vmd.areas[0].width");
        assert_eq!(e[0].rule, "vmd.area.outside");
    }
}
