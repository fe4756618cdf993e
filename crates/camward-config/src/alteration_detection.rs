//! The `alteration_detection` section: "Additional info for detecting alteration" (paper §3.9),
//! ONVIF Media Signing of Stream(1)/(2) with the device key, before the frame bus.

use crate::audit::{Audit, Context, Finding, Fix, Severity};
use crate::{FieldError, Validate, Warning, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// On by default: signatures cost ~15 kbit/s and prove a clip unaltered later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AlterationDetection {
    /// Signs the video with the camera's key (ONVIF Media Signing): live streams, recordings and
    /// exports carry the same signatures, so a clip can later be proven unaltered.
    #[schemars(title = "Additional info for detecting alteration")]
    pub enabled: bool,
}

impl Default for AlterationDetection {
    fn default() -> Self {
        AlterationDetection { enabled: true }
    }
}

impl Validate for AlterationDetection {
    fn validate(&self, _at: &str, _errors: &mut Vec<FieldError>) {}

    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        if !self.enabled {
            out.push(Warning::new(
                join(at, "enabled"),
                "alteration_detection.off",
                "video is not signed: recordings and exports cannot be proven unaltered",
            ));
        }
    }
}

impl Audit for AlterationDetection {
    fn audit(&self, at: &str, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        if !self.enabled {
            out.push(Finding::new(
                "alteration_detection.off",
                Severity::Medium,
                "§3.9",
                "video is not signed: recordings and exports cannot be proven unaltered",
                "Recordings sent by e-mail or carried on an SD card can be altered or replaced on the way, and only signatures by the camera's key reveal it.",
                Fix::set(join(at, "enabled"), true.into()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use serde_json::json;

    #[test]
    fn defaults_record_nothing_sign_everything_encrypt_nothing() {
        let c = Config::default();
        assert!(!c.recording.enabled);
        assert!(c.alteration_detection.enabled);
        assert!(!c.data_encryption.enabled);
        let v = c.to_clear();
        assert_eq!(v["recording"]["file_seconds"], 300);
        assert_eq!(v["alteration_detection"]["enabled"], true);
    }

    #[test]
    fn invalid_recipient_names_its_index() {
        let e = Config::default()
            .apply_merge_patch(
                &json!({"data_encryption": {"enabled": true, "recipients": ["cwr1nope"]}}),
            )
            .unwrap_err();
        assert_eq!(e[0].path, "data_encryption.recipients[0]");
        assert_eq!(e[0].rule, "data_encryption.recipients.invalid");
    }

    #[test]
    fn recording_rules_keep_their_paths() {
        let e = Config::default()
            .apply_merge_patch(&json!({"recording": {"streams": [1, 3], "file_seconds": 1}}))
            .unwrap_err();
        let paths: Vec<_> = e.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"recording.streams[1]"), "{paths:?}");
        assert!(paths.contains(&"recording.file_seconds"), "{paths:?}");
        let e = Config::default()
            .apply_merge_patch(&json!({"recording": {"colour": 1}}))
            .unwrap_err();
        assert_eq!(e[0].path, "recording.colour");
    }
}
