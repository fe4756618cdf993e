//! The `data_encryption` configuration section (Setup › User mng. › Data encryption): on/off and
//! the viewers' recipient strings, with validation that names the offending field.

use crate::identity::Recipient;
use crate::wrap::MAX_RECIPIENTS;
use serde::{Deserialize, Serialize};

/// Section name in the configuration document.
pub const SECTION: &str = "data_encryption";

/// Recordings are encrypted when `enabled`, to every recipient. Off by default: turning it on
/// needs at least one viewer key, or nobody could ever watch what is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataEncryptionConfig {
    pub enabled: bool,
    /// Viewers' public keys, `cwr1…` strings from `camward keygen`. Public: safe on the camera.
    pub recipients: Vec<String>,
}

/// One invalid field: JSON path (`data_encryption.recipients[1]`), a stable rule identifier,
/// and a sentence for people. The foundation maps these to its 422 responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigIssue {
    pub path: String,
    pub rule: &'static str,
    pub message: String,
}

impl DataEncryptionConfig {
    /// Validates the section at its usual place in the document.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        self.validate_at(SECTION)
    }

    /// Validates the section found at JSON path `at`.
    pub fn validate_at(&self, at: &str) -> Vec<ConfigIssue> {
        let list = format!("{at}.recipients");
        let mut out = Vec::new();
        if self.recipients.len() > MAX_RECIPIENTS {
            out.push(ConfigIssue {
                path: list.clone(),
                rule: "data_encryption.recipients.too_many",
                message: format!("at most {MAX_RECIPIENTS} recipients"),
            });
        }
        let mut seen: Vec<(usize, Recipient)> = Vec::new();
        for (i, s) in self.recipients.iter().enumerate() {
            match s.parse::<Recipient>() {
                Ok(r) => {
                    if let Some((j, _)) = seen.iter().find(|(_, x)| *x == r) {
                        out.push(ConfigIssue {
                            path: format!("{list}[{i}]"),
                            rule: "data_encryption.recipients.duplicate",
                            message: format!("same key as recipients[{j}]"),
                        });
                    } else {
                        seen.push((i, r));
                    }
                }
                Err(crate::Error::Recipient { reason, .. }) => out.push(ConfigIssue {
                    path: format!("{list}[{i}]"),
                    rule: "data_encryption.recipients.invalid",
                    message: format!("recipient {reason}"),
                }),
                Err(e) => out.push(ConfigIssue {
                    path: format!("{list}[{i}]"),
                    rule: "data_encryption.recipients.invalid",
                    message: e.to_string(),
                }),
            }
        }
        if self.enabled && self.recipients.is_empty() {
            out.push(ConfigIssue {
                path: list,
                rule: "data_encryption.recipients.empty",
                message: "encryption is on without recipients: nobody could watch the recordings; \
                          add the `cwr1…` key printed by `camward keygen`"
                    .into(),
            });
        }
        out
    }

    /// The recipients to encrypt to: `Some` when encryption is on and the section is valid.
    pub fn active_recipients(&self) -> Option<Vec<Recipient>> {
        if !self.enabled || !self.validate().is_empty() {
            return None;
        }
        self.recipients.iter().map(|s| s.parse().ok()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    #[test]
    fn default_is_off_and_valid() {
        let c = DataEncryptionConfig::default();
        assert!(!c.enabled);
        assert!(c.validate().is_empty());
        assert!(c.active_recipients().is_none());
    }

    #[test]
    fn enabled_without_recipients_is_invalid() {
        let c = DataEncryptionConfig {
            enabled: true,
            recipients: vec![],
        };
        let e = c.validate();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].path, "data_encryption.recipients");
        assert_eq!(e[0].rule, "data_encryption.recipients.empty");
    }

    #[test]
    fn invalid_recipient_names_its_index() {
        let good = Identity::generate().recipient().to_string();
        let c = DataEncryptionConfig {
            enabled: true,
            recipients: vec![good.clone(), "cwr1nonsense".into(), good],
        };
        let e = c.validate();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0].path, "data_encryption.recipients[1]");
        assert_eq!(e[0].rule, "data_encryption.recipients.invalid");
        assert_eq!(e[1].path, "data_encryption.recipients[2]");
        assert_eq!(e[1].rule, "data_encryption.recipients.duplicate");
        assert!(c.active_recipients().is_none());
    }

    #[test]
    fn serde_denies_unknown_fields_and_fills_defaults() {
        let r = Identity::generate().recipient().to_string();
        let c: DataEncryptionConfig =
            serde_json::from_str(&format!(r#"{{"enabled":true,"recipients":["{r}"]}}"#)).unwrap();
        assert_eq!(c.active_recipients().unwrap().len(), 1);
        let c: DataEncryptionConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, DataEncryptionConfig::default());
        assert!(serde_json::from_str::<DataEncryptionConfig>(r#"{"enable":true}"#).is_err());
    }
}
