//! The `data_encryption` section (Setup › User mng. › Data encryption, paper §3.8): on/off and the
//! viewers' `cwr1…` recipient strings, and the one parser of those strings (camward-cenc uses it).

use crate::audit::{Audit, Context, Finding, Fix, Severity};
use crate::{FieldError, Validate, Warning, join};
use bech32::primitives::decode::{CheckedHrpstring, CheckedHrpstringError};
use bech32::{Bech32m, Hrp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Human-readable prefix of a recipient string (`cwr1…`: camward recipient).
pub const RECIPIENT_HRP: &str = "cwr";
/// Prefix of the secret line in a viewer's identity file, which must never reach the camera.
pub const SECRET_HRP: &str = "camward-secret-key-";
/// Most viewers one recording is encrypted to (each adds a wrapped key to every file).
pub const MAX_RECIPIENTS: usize = 16;

/// Recordings are encrypted when `enabled`, to every recipient. Off by default: turning it on
/// needs at least one viewer key, or nobody could ever watch what is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DataEncryptionConfig {
    /// Encrypts new recordings (ISO/IEC 23001-7 'cenc', a fresh key per file) so that only the
    /// viewers below can watch them, even when the storage is stolen.
    #[schemars(title = "Data encryption")]
    pub enabled: bool,
    /// The viewers' public keys: the cwr1… lines printed by `camward keygen` on the viewer's
    /// computer. Public keys are safe to give the camera; the secret key never leaves the viewer.
    #[schemars(
        title = "Viewer keys",
        length(max = 16),
        inner(regex(pattern = r"^cwr1[02-9ac-hj-np-z]+$"))
    )]
    pub recipients: Vec<String>,
}

impl DataEncryptionConfig {
    /// The recipients' X25519 public keys: `Some` when encryption is on and the section is valid.
    pub fn active_recipients(&self) -> Option<Vec<[u8; 32]>> {
        let mut errors = Vec::new();
        self.validate("", &mut errors);
        if !self.enabled || !errors.is_empty() {
            return None;
        }
        self.recipients
            .iter()
            .map(|s| parse_recipient(s).ok())
            .collect()
    }
}

impl Validate for DataEncryptionConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        let list = join(at, "recipients");
        if self.recipients.len() > MAX_RECIPIENTS {
            out.push(FieldError::new(
                &list,
                "data_encryption.recipients.too_many",
                format!("at most {MAX_RECIPIENTS} recipients"),
            ));
        }
        let mut seen: Vec<(usize, [u8; 32])> = Vec::new();
        for (i, s) in self.recipients.iter().enumerate() {
            match parse_recipient(s) {
                Ok(r) => {
                    if let Some((j, _)) = seen.iter().find(|(_, x)| *x == r) {
                        out.push(FieldError::new(
                            format!("{list}[{i}]"),
                            "data_encryption.recipients.duplicate",
                            format!("same key as recipients[{j}]"),
                        ));
                    } else {
                        seen.push((i, r));
                    }
                }
                Err(reason) => out.push(FieldError::new(
                    format!("{list}[{i}]"),
                    "data_encryption.recipients.invalid",
                    format!("recipient {reason}"),
                )),
            }
        }
        if self.enabled && self.recipients.is_empty() {
            out.push(FieldError::new(
                list,
                "data_encryption.recipients.empty",
                "encryption is on without recipients: nobody could watch the recordings; \
                 add the `cwr1…` key printed by `camward keygen`",
            ));
        }
    }

    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        if !self.enabled {
            out.push(Warning::new(
                join(at, "enabled"),
                "data_encryption.off",
                "recordings are stored in the clear: anyone with the card can watch them",
            ));
        }
    }
}

/// The `cwr1…` string of an X25519 public key.
pub fn format_recipient(key: &[u8; 32]) -> String {
    let hrp = Hrp::parse_unchecked(RECIPIENT_HRP);
    bech32::encode::<Bech32m>(hrp, key).expect("32 bytes fit a Bech32m string")
}

/// Parses a recipient strictly: exactly one canonical Bech32m string, `cwr` prefix, 32 bytes, no
/// whitespace, not a low-order point. The error completes "recipient …" for people.
pub fn parse_recipient(s: &str) -> Result<[u8; 32], String> {
    if s.is_empty() {
        return Err("is empty; paste the `cwr1…` line that `camward keygen` printed".into());
    }
    if s.trim() != s {
        return Err("has leading or trailing whitespace".into());
    }
    let lower = s.to_ascii_lowercase();
    if lower.starts_with(SECRET_HRP) {
        // Refuse loudly: a secret identity on the camera defeats the whole scheme.
        return Err(
            "is a secret identity, not a recipient: never give it to the camera; use the \
                    `cwr1…` recipient line printed by `camward keygen`"
                .into(),
        );
    }
    if lower.starts_with("age1") {
        return Err(
            "is an age recipient; camward takes its own `cwr1…` recipients (`camward keygen`)"
                .into(),
        );
    }
    if !lower.starts_with("cwr1") {
        return Err("must start with `cwr1`".into());
    }
    let checked = CheckedHrpstring::new::<Bech32m>(s).map_err(|e| match e {
        CheckedHrpstringError::Checksum(_) => {
            "checksum does not match: a character was mistyped, swapped or lost".to_string()
        }
        CheckedHrpstringError::Parse(p) => format!("is not valid Bech32: {p}"),
        other => format!("is not valid Bech32: {other}"),
    })?;
    if checked.hrp().to_lowercase() != RECIPIENT_HRP {
        return Err("must start with `cwr1`".into());
    }
    let bytes: Vec<u8> = checked.byte_iter().collect();
    let key: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("holds {} bytes; a recipient key holds 32", bytes.len()))?;
    check_point(&key)?;
    // Non-zero padding bits or other non-canonical encodings would give two strings for one
    // key; accept only the one we would print.
    if format_recipient(&key) != lower {
        return Err("is not in canonical form (non-zero padding bits)".into());
    }
    Ok(key)
}

/// Refuses the low-order points that would make every key wrapped to them public: a DH with such
/// a point gives an all-zero or attacker-known secret, which probing with any fixed scalar finds.
pub fn check_point(key: &[u8; 32]) -> Result<(), String> {
    use x25519_dalek::{PublicKey, StaticSecret};
    let probe = StaticSecret::from([0x5a; 32]);
    if probe
        .diffie_hellman(&PublicKey::from(*key))
        .was_contributory()
    {
        Ok(())
    } else {
        Err("is a low-order X25519 point, not a viewer's public key".into())
    }
}

impl Audit for DataEncryptionConfig {
    fn audit(&self, at: &str, cx: &Context<'_>, out: &mut Vec<Finding>) {
        if !self.enabled {
            // While nothing is recorded nothing is exposed yet; say so at a lower severity.
            // Upstream cameras (recorder mode) are recorded whatever this device's own setting.
            let recording = cx.config.recording.enabled
                || cx
                    .config
                    .cameras
                    .cameras
                    .iter()
                    .any(|c| c.enabled && c.record != crate::cameras::CameraRecord::Off);
            out.push(Finding::new(
                "data_encryption.off",
                if recording {
                    Severity::Medium
                } else {
                    Severity::Low
                },
                "§3.8",
                if recording {
                    "recordings are stored in the clear"
                } else {
                    "recordings would be stored in the clear (nothing is recorded now)"
                },
                "HTTPS protects only the network path, so without data encryption a stolen card or leaked cloud copy can be watched.",
                Fix::example(
                    at,
                    serde_json::json!({"enabled": true, "recipients": ["cwr1…"]}),
                    "run `camward keygen` on the viewing PC and set data_encryption.enabled to true \
                     with its cwr1… line in data_encryption.recipients",
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_util::errors_of;

    fn recipient(seed: u8) -> String {
        let secret = x25519_dalek::StaticSecret::from([seed; 32]);
        format_recipient(x25519_dalek::PublicKey::from(&secret).as_bytes())
    }

    #[test]
    fn default_is_off_and_valid() {
        let c = DataEncryptionConfig::default();
        assert!(!c.enabled);
        assert!(errors_of(&c, "data_encryption").is_empty());
        assert!(c.active_recipients().is_none());
    }

    #[test]
    fn enabled_without_recipients_is_invalid() {
        let c = DataEncryptionConfig {
            enabled: true,
            recipients: vec![],
        };
        let e = errors_of(&c, "data_encryption");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].path, "data_encryption.recipients");
        assert_eq!(e[0].rule, "data_encryption.recipients.empty");
    }

    #[test]
    fn invalid_recipient_names_its_index() {
        let good = recipient(7);
        let c = DataEncryptionConfig {
            enabled: true,
            recipients: vec![good.clone(), "cwr1nonsense".into(), good],
        };
        let e = errors_of(&c, "data_encryption");
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[0].path, "data_encryption.recipients[1]");
        assert_eq!(e[0].rule, "data_encryption.recipients.invalid");
        assert_eq!(e[1].path, "data_encryption.recipients[2]");
        assert_eq!(e[1].rule, "data_encryption.recipients.duplicate");
        assert!(c.active_recipients().is_none());
    }

    #[test]
    fn serde_denies_unknown_fields_and_fills_defaults() {
        let r = recipient(9);
        let c: DataEncryptionConfig =
            serde_json::from_str(&format!(r#"{{"enabled":true,"recipients":["{r}"]}}"#)).unwrap();
        assert_eq!(c.active_recipients().unwrap().len(), 1);
        let c: DataEncryptionConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, DataEncryptionConfig::default());
        assert!(serde_json::from_str::<DataEncryptionConfig>(r#"{"enable":true}"#).is_err());
    }

    #[test]
    fn secrets_low_order_points_and_mangled_strings_are_refused() {
        assert!(
            parse_recipient("camward-secret-key-1abc")
                .unwrap_err()
                .contains("secret")
        );
        assert!(
            parse_recipient(&format_recipient(&[0u8; 32]))
                .unwrap_err()
                .contains("low-order")
        );
        let good = recipient(3);
        assert!(parse_recipient(&format!(" {good}")).is_err());
        let mut swapped: Vec<char> = good.chars().collect();
        swapped.swap(10, 11);
        let swapped: String = swapped.into_iter().collect();
        if swapped != good {
            assert!(parse_recipient(&swapped).is_err());
        }
        assert_eq!(format_recipient(&parse_recipient(&good).unwrap()), good);
    }

    #[test]
    fn clear_recordings_of_upstream_cameras_are_a_medium_finding_even_with_local_recording_off() {
        let severity = |patch: serde_json::Value| {
            let c = crate::Config::default().apply_merge_patch(&patch).unwrap();
            c.audit(&crate::audit::Facts::default())
                .findings
                .into_iter()
                .find(|f| f.id == "data_encryption.off")
                .map(|f| f.severity)
        };
        let camera = |record: &str| {
            serde_json::json!({"recording": {"enabled": false}, "cameras": {"cameras": [
                {"name": "gate", "url": "rtsp://h/s", "record": record}
            ]}})
        };
        assert_eq!(
            severity(camera("continuous")),
            Some(crate::audit::Severity::Medium)
        );
        assert_eq!(
            severity(camera("alarm")),
            Some(crate::audit::Severity::Medium)
        );
        assert_eq!(severity(camera("off")), Some(crate::audit::Severity::Low));
    }
}
