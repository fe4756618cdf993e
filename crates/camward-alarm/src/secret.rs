//! `Secret`: SMTP and FTP passwords inside the alarm sections, on camward-config's wire convention.
//! Stored in clear (the device must log in with it), shown to clients only as `{"set": bool}`.

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cell::Cell;

thread_local! {
    // Same mechanism as camward-config's own `Secret`: serialisation is synchronous, so a
    // thread-local flag switches every secret of one `to_value` call to its redacted form.
    // This crate cannot use camward-config's type (camward-config embeds these sections, so it
    // depends on this crate), hence a twin with the same JSON shapes; camward-config nests
    // [`with_redaction`] inside its own so `Config::redacted()` hides both kinds.
    static REDACT: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every [`Secret`] of this crate serialising as `{"set": bool}`.
///
/// camward-config's `Config::redacted()` must wrap its serialisation in this (see
/// docs/design/alarms-and-notifications.md, "Secrets").
pub fn with_redaction<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            REDACT.with(|r| r.set(self.0));
        }
    }
    let _reset = Reset(REDACT.with(|r| r.replace(true)));
    f()
}

/// A password in a configuration section. Clients write a string to set it and `null` to clear
/// it; reading the document through the API shows `{"set": true}` / `{"set": false}`, which
/// camward-config's merge patch turns back into "keep" / "clear".
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Option<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Some(value.into()))
    }

    /// The value, for the one place that needs it (the login to the SMTP/FTP server).
    pub fn expose(&self) -> Option<&str> {
        self.0.as_deref()
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Configuration values end up in logs and panic messages: never print the value.
        f.write_str(if self.is_set() {
            "Secret(set)"
        } else {
            "Secret(unset)"
        })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if REDACT.with(|r| r.get()) {
            let mut m = s.serialize_map(Some(1))?;
            m.serialize_entry("set", &self.is_set())?;
            m.end()
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(Secret(None)),
            Some(Value::String(s)) => Ok(Secret(Some(s))),
            Some(other) => Err(de::Error::invalid_type(
                unexpected(&other),
                &"a string (the secret), null (to clear it) or {\"set\": true} (to keep it)",
            )),
        }
    }
}

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Other("a number"),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
        Value::String(s) => de::Unexpected::Str(s),
        Value::Null => de::Unexpected::Unit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redaction_shows_only_whether_set() {
        let s = Secret::new("hunter22");
        assert_eq!(serde_json::to_value(&s).unwrap(), json!("hunter22"));
        assert_eq!(
            with_redaction(|| serde_json::to_value(&s).unwrap()),
            json!({"set": true})
        );
        assert_eq!(
            with_redaction(|| serde_json::to_value(Secret::default()).unwrap()),
            json!({"set": false})
        );
        // The flag does not outlive the call.
        assert_eq!(serde_json::to_value(&s).unwrap(), json!("hunter22"));
    }

    #[test]
    fn password_never_in_debug_output() {
        assert_eq!(format!("{:?}", Secret::new("hunter22")), "Secret(set)");
        assert_eq!(format!("{:?}", Secret::default()), "Secret(unset)");
    }

    #[test]
    fn placeholder_is_not_a_value() {
        assert!(serde_json::from_value::<Secret>(json!({"set": true})).is_err());
        assert!(serde_json::from_value::<Secret>(json!(1)).is_err());
        assert_eq!(
            serde_json::from_value::<Secret>(json!(null)).unwrap(),
            Secret::default()
        );
    }
}
