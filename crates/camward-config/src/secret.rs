//! `Secret`: the one convention for passwords inside the configuration (SMTP, FTP, SNMP...).
//! Stored in clear on the device (it must be usable), shown to clients only as `{"set": bool}`.

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cell::Cell;

thread_local! {
    // Serialisation is synchronous, so a thread-local flag is enough to switch every Secret in one
    // `to_value` call to its redacted form without each section having to know which fields are secret.
    static REDACT: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every [`Secret`] serialising as `{"set": bool}`.
pub(crate) fn with_redaction<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            REDACT.with(|r| r.set(self.0));
        }
    }
    let _reset = Reset(REDACT.with(|r| r.replace(true)));
    f()
}

/// A configuration secret. Use it for every password-like field of a section:
/// `pub password: Secret` with `#[serde(default)]`. Clients write a string to set it, `null` to clear it,
/// and may send back the redacted `{"set": true}` they read, which keeps the current value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Option<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Some(value.into()))
    }
    pub fn expose(&self) -> Option<&str> {
        self.0.as_deref()
    }
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the value: config documents end up in logs.
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

fn is_placeholder(v: &Value) -> Option<bool> {
    let o = v.as_object()?;
    if o.len() == 1 {
        o.get("set")?.as_bool()
    } else {
        None
    }
}

/// Rewrites the redacted placeholders a client sent back: `{"set": true}` where the current redacted
/// document also has a placeholder means "keep" (the key is dropped from the patch), `{"set": false}`
/// means "clear" (becomes `null`). Placeholders anywhere else are left for validation to refuse.
pub(crate) fn resolve_placeholders(patch: &mut Value, current_redacted: &Value) {
    let (Value::Object(p), Value::Object(cur)) = (patch, current_redacted) else {
        return;
    };
    let keys: Vec<String> = p.keys().cloned().collect();
    for key in keys {
        let Some(cur_v) = cur.get(&key) else { continue };
        let pv = p.get_mut(&key).expect("key from the same map");
        match (is_placeholder(pv), is_placeholder(cur_v).is_some()) {
            (Some(true), true) => {
                p.remove(&key);
            }
            (Some(false), true) => *pv = Value::Null,
            _ => resolve_placeholders(pv, cur_v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Serialize, Deserialize, Default)]
    struct Section {
        #[serde(default)]
        password: Secret,
        #[serde(default)]
        user: String,
    }

    #[test]
    fn redaction_hides_value_and_storage_keeps_it() {
        let s = Section {
            password: Secret::new("hunter22"),
            user: "a".into(),
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"password": "hunter22", "user": "a"})
        );
        let red = with_redaction(|| serde_json::to_value(&s).unwrap());
        assert_eq!(red, json!({"password": {"set": true}, "user": "a"}));
        // The flag does not leak past the call.
        assert_eq!(serde_json::to_value(&s).unwrap()["password"], "hunter22");
    }

    #[test]
    fn debug_never_prints_the_secret() {
        assert_eq!(format!("{:?}", Secret::new("hunter22")), "Secret(set)");
    }

    #[test]
    fn placeholders_keep_or_clear() {
        let cur = json!({"smtp": {"password": {"set": true}, "user": "a"}});
        let mut keep = json!({"smtp": {"password": {"set": true}, "user": "b"}});
        resolve_placeholders(&mut keep, &cur);
        assert_eq!(keep, json!({"smtp": {"user": "b"}}));
        let mut clear = json!({"smtp": {"password": {"set": false}}});
        resolve_placeholders(&mut clear, &cur);
        assert_eq!(clear, json!({"smtp": {"password": null}}));
        // A placeholder on a non-secret field is not touched (validation refuses it).
        let mut other = json!({"smtp": {"user": {"set": true}}});
        resolve_placeholders(&mut other, &cur);
        assert_eq!(other, json!({"smtp": {"user": {"set": true}}}));
    }

    #[test]
    fn secret_refuses_other_types() {
        assert!(serde_json::from_value::<Secret>(json!(5)).is_err());
        assert!(serde_json::from_value::<Secret>(json!({"set": true})).is_err());
        assert_eq!(
            serde_json::from_value::<Secret>(json!(null)).unwrap(),
            Secret::default()
        );
    }
}
