//! `Secret`: the one type for every password-like value of the configuration (SMTP, FTP, the RTSP
//! camera's password, SNMP…), paper §3.2 "nothing secret is returned": it serialises only as `{"set": bool}`.
//!
//! The value never passes through a serde `Serializer`: whatever serialises a [`Secret`] (the API,
//! the audit log, a `tracing` field, a panic message through `Debug`) gets `{"set": bool}`. Storage
//! is the one exception and is explicit: [`crate::Config::to_stored`] lends each secret's value to a
//! thread-local vault while it serialises, and puts each value back into its own copy of the
//! document *sealed* with the device's secrets key ([`sealed_form`]): `{"sealed": "cw1:…"}`, bound
//! to the secret's JSON path. [`unseal`] reverses that before a stored document is deserialised.
//! Every section's secrets pass through these two functions, so a new section needs no code to
//! keep its passwords out of the database in clear.

use crate::seal::SealKey;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::cell::RefCell;
use zeroize::Zeroizing;

/// The key under which a vaulted secret names its slot while [`crate::Config::to_stored`] runs.
/// Never leaves this crate: `clear_form`/`sealed_form` replace every such object before returning.
const SLOT: &str = "$camward-secret-slot";

thread_local! {
    // Serialisation is synchronous, so a vault opened by `to_stored` on this thread sees exactly
    // the secrets of that one `to_value` call.
    static VAULT: RefCell<Option<Vec<Zeroizing<String>>>> = const { RefCell::new(None) };
}

/// A configuration secret. Use it for every password-like field of a section
/// (`pub password: Secret`): clients write a string to set it, `null` to clear it, and may send
/// back the `{"set": true}` they read, which keeps the current value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Option<Zeroizing<String>>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Some(Zeroizing::new(value.into())))
    }

    /// The value, for the one place that needs it (the login to the SMTP/FTP server, the camera).
    pub fn expose(&self) -> Option<&str> {
        self.0.as_deref().map(String::as_str)
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
        let slot = VAULT.with(|v| {
            let mut v = v.borrow_mut();
            let (vault, value) = (v.as_mut()?, self.0.as_ref()?);
            vault.push(value.clone());
            Some(vault.len() - 1)
        });
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("set", &self.is_set())?;
        if let Some(i) = slot {
            m.serialize_entry(SLOT, &i)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(Secret(None)),
            Some(Value::String(s)) => Ok(Secret::new(s)),
            Some(other) => Err(de::Error::invalid_type(
                unexpected(&other),
                &"a string (the secret), null (to clear it) or {\"set\": true} (to keep it)",
            )),
        }
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> Cow<'static, str> {
        "Secret".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "title": "Secret",
            "description": "A password-like value. Read as {\"set\": true|false}, never as the value. \
                            Write a string to set it, null to clear it, or send back {\"set\": true} to keep it.",
            "x-camward-secret": true,
            "anyOf": [
                {"type": "string", "writeOnly": true, "maxLength": 1024},
                {"type": "null", "writeOnly": true},
                {
                    "type": "object",
                    "properties": {"set": {"type": "boolean"}},
                    "required": ["set"],
                    "additionalProperties": false
                }
            ]
        })
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

/// Serialises `value` with the vault open; returns the document (placeholders carry slots) and
/// the vaulted values.
fn vaulted<T: Serialize>(value: &T) -> (Value, Vec<Zeroizing<String>>) {
    struct Close;
    impl Drop for Close {
        fn drop(&mut self) {
            VAULT.with(|v| v.borrow_mut().take());
        }
    }
    VAULT.with(|v| *v.borrow_mut() = Some(Vec::new()));
    let close = Close;
    let doc = serde_json::to_value(value).expect("configuration serialises to JSON");
    let vault = VAULT.with(|v| v.borrow_mut().take()).unwrap_or_default();
    drop(close);
    (doc, vault)
}

/// Serialises `value` with every [`Secret`] as its value in clear (a string; `null` when unset).
/// Never stored nor shown: only merge patches and change detection work on it, in memory.
pub(crate) fn clear_form<T: Serialize>(value: &T) -> Value {
    let (mut doc, vault) = vaulted(value);
    fill(&mut doc, "", &vault, &mut |s, _| {
        Value::String(s.to_string())
    });
    doc
}

/// Serialises `value` for the database: every set [`Secret`] as `{"sealed": "cw1:…"}` under `key`,
/// bound to its JSON path; unset ones as `null`.
pub(crate) fn sealed_form<T: Serialize>(value: &T, key: &SealKey) -> Value {
    let (mut doc, vault) = vaulted(value);
    fill(&mut doc, "", &vault, &mut |s, path| {
        let mut o = serde_json::Map::new();
        o.insert(
            SEALED.to_owned(),
            Value::String(key.seal(s.as_bytes(), &context(path))),
        );
        Value::Object(o)
    });
    doc
}

/// The stored form with every set secret replaced by what `seal(path, clear)` returns: for
/// documents that leave the device under another key than the secrets key (a settings backup
/// sealed with a passphrase), so no caller ever holds the whole document in clear.
pub(crate) fn sealed_form_by<T: Serialize>(value: &T, seal: &dyn Fn(&str, &str) -> Value) -> Value {
    let (mut doc, vault) = vaulted(value);
    fill(&mut doc, "", &vault, &mut |s, path| seal(path, s));
    doc
}

/// How many secrets of `value` are set.
pub(crate) fn count_set<T: Serialize>(value: &T) -> usize {
    vaulted(value).1.len()
}

/// The key of a sealed secret in a stored document.
const SEALED: &str = "sealed";

/// The additional data a secret is sealed with: its place in the document, so a sealed value
/// moved to another field does not open there.
fn context(path: &str) -> String {
    format!("camward-config-secret:{path}")
}

/// What [`unseal`] found in a stored document.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Unsealed {
    /// Sealed values opened.
    pub opened: usize,
    /// Paths of sealed values that did not open (another device's key, tampering); set to `null`.
    pub unreadable: Vec<String>,
}

/// Replaces every `{"sealed": "cw1:…"}` of a stored document by the clear value, in place.
/// Values in clear (written before secrets were sealed) are left as they are.
pub(crate) fn unseal(doc: &mut Value, key: &SealKey) -> Unsealed {
    fn walk(v: &mut Value, at: &str, key: &SealKey, out: &mut Unsealed) {
        match v {
            Value::Object(o) => {
                if o.len() == 1 {
                    if let Some(Value::String(s)) = o.get(SEALED) {
                        *v = match key.open_str(s, &context(at)) {
                            Ok(clear) => {
                                out.opened += 1;
                                Value::String(clear.to_string())
                            }
                            Err(_) => {
                                out.unreadable.push(at.to_owned());
                                Value::Null
                            }
                        };
                        return;
                    }
                }
                for (k, x) in o.iter_mut() {
                    walk(x, &crate::join(at, k), key, out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter_mut().enumerate() {
                    walk(x, &format!("{at}[{i}]"), key, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Unsealed::default();
    walk(doc, "", key, &mut out);
    out
}

/// Replaces each `{"set": …}` placeholder by its stored form: `put(value, path)` for a vaulted
/// value, `null` for an unset secret.
fn fill(
    v: &mut Value,
    at: &str,
    vault: &[Zeroizing<String>],
    put: &mut dyn FnMut(&str, &str) -> Value,
) {
    match v {
        Value::Object(o) => {
            if let Some(set) = placeholder(o) {
                let slot = o.get(SLOT).and_then(Value::as_u64);
                *v = match (set, slot.and_then(|i| vault.get(i as usize))) {
                    (true, Some(s)) => put(s, at),
                    _ => Value::Null,
                };
                return;
            }
            for (k, x) in o.iter_mut() {
                fill(x, &crate::join(at, k), vault, put);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                fill(x, &format!("{at}[{i}]"), vault, put);
            }
        }
        _ => {}
    }
}

/// `Some(set)` when `o` is a secret placeholder: `{"set": bool}`, plus the slot while vaulting.
fn placeholder(o: &serde_json::Map<String, Value>) -> Option<bool> {
    let set = o.get("set")?.as_bool()?;
    let extra = o.keys().filter(|k| *k != "set" && *k != SLOT).count();
    (extra == 0).then_some(set)
}

fn is_placeholder(v: &Value) -> Option<bool> {
    v.as_object().and_then(placeholder)
}

/// Rewrites the redacted placeholders a client sent back: `{"set": true}` where the current redacted
/// document also has a placeholder means "keep" (the key is dropped from the patch), `{"set": false}`
/// means "clear" (becomes `null`). Placeholders anywhere else are left for validation to refuse.
///
/// Arrays replace the stored array whole (RFC 7396), so inside them "keep" cannot drop the key:
/// the placeholder is replaced by the value stored in `current_stored` for the matching element
/// (the one with the same `"name"`, else the one at the same index).
pub(crate) fn resolve_placeholders(
    patch: &mut Value,
    current_redacted: &Value,
    current_stored: &Value,
) {
    let (Value::Object(p), Value::Object(cur)) = (patch, current_redacted) else {
        return;
    };
    let keys: Vec<String> = p.keys().cloned().collect();
    for key in keys {
        let Some(cur_v) = cur.get(&key) else { continue };
        let stored_v = current_stored.get(&key).unwrap_or(&Value::Null);
        let pv = p.get_mut(&key).expect("key from the same map");
        match (is_placeholder(pv), is_placeholder(cur_v).is_some()) {
            (Some(true), true) => {
                p.remove(&key);
            }
            (Some(false), true) => *pv = Value::Null,
            _ if pv.is_array() => resolve_in_array(pv, cur_v, stored_v),
            _ => resolve_placeholders(pv, cur_v, stored_v),
        }
    }
}

fn resolve_in_array(patch: &mut Value, cur_redacted: &Value, cur_stored: &Value) {
    let (Value::Array(items), Some(cur), Some(stored)) =
        (patch, cur_redacted.as_array(), cur_stored.as_array())
    else {
        return;
    };
    for (i, item) in items.iter_mut().enumerate() {
        let name = item.get("name").and_then(Value::as_str).map(str::to_owned);
        let j = match name {
            Some(n) => cur
                .iter()
                .position(|c| c.get("name").and_then(Value::as_str) == Some(n.as_str())),
            None => (i < cur.len()).then_some(i),
        };
        if let Some(j) = j {
            substitute(item, &cur[j], stored.get(j).unwrap_or(&Value::Null));
        }
    }
}

/// Inside a replaced array element: `{"set": true}` becomes the stored value, `{"set": false}` null.
fn substitute(patch: &mut Value, cur_redacted: &Value, cur_stored: &Value) {
    let Value::Object(p) = patch else { return };
    for (key, pv) in p.iter_mut() {
        let Some(cur_v) = cur_redacted.get(key) else {
            continue;
        };
        let stored_v = cur_stored.get(key).unwrap_or(&Value::Null);
        match (is_placeholder(pv), is_placeholder(cur_v).is_some()) {
            (Some(true), true) => *pv = stored_v.clone(),
            (Some(false), true) => *pv = Value::Null,
            _ if pv.is_array() => resolve_in_array(pv, cur_v, stored_v),
            _ => substitute(pv, cur_v, stored_v),
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
        #[serde(default)]
        more: Vec<Secret>,
    }

    fn key() -> SealKey {
        SealKey::from_bytes(&SealKey::generate().unwrap()[..]).unwrap()
    }

    fn section() -> Section {
        Section {
            password: Secret::new("hunter22"),
            user: "a".into(),
            more: vec![Secret::default(), Secret::new("other-9")],
        }
    }

    #[test]
    fn serialisation_never_carries_the_value_and_the_clear_form_gets_it_back() {
        let s = section();
        let shown = serde_json::to_value(&s).unwrap();
        assert_eq!(
            shown,
            json!({"password": {"set": true}, "user": "a", "more": [{"set": false}, {"set": true}]})
        );
        assert_eq!(
            clear_form(&s),
            json!({"password": "hunter22", "user": "a", "more": [null, "other-9"]})
        );
        // The vault closes with the call: the next serialisation is redacted again.
        assert_eq!(serde_json::to_value(&s).unwrap(), shown);
        let back: Section = serde_json::from_value(clear_form(&s)).unwrap();
        assert_eq!(back.password.expose(), Some("hunter22"));
        assert_eq!(back.more[1].expose(), Some("other-9"));
        assert_eq!(count_set(&s), 2);
    }

    #[test]
    fn sealed_form_holds_no_secret_and_unseals_to_the_clear_form() {
        let (s, k) = (section(), key());
        let mut stored = sealed_form(&s, &k);
        let text = stored.to_string();
        assert!(
            !text.contains("hunter22") && !text.contains("other-9"),
            "{text}"
        );
        assert!(
            stored["password"]["sealed"]
                .as_str()
                .unwrap()
                .starts_with("cw1:")
        );
        assert_eq!(stored["more"][0], Value::Null);
        let found = unseal(&mut stored, &k);
        assert_eq!(
            found,
            Unsealed {
                opened: 2,
                unreadable: vec![]
            }
        );
        assert_eq!(stored, clear_form(&s));
    }

    #[test]
    fn a_sealed_value_moved_or_under_another_key_does_not_open() {
        let (s, k) = (section(), key());
        let mut stored = sealed_form(&s, &k);
        // Swap the two sealed values: each is bound to its own path.
        let a = stored["password"].clone();
        stored["password"] = stored["more"][1].clone();
        stored["more"][1] = a;
        let mut found = unseal(&mut stored, &k);
        assert_eq!(found.opened, 0);
        found.unreadable.sort();
        assert_eq!(
            found.unreadable,
            vec!["more[1]".to_owned(), "password".to_owned()]
        );
        assert_eq!(stored["password"], Value::Null);
        let mut other = sealed_form(&s, &k);
        assert_eq!(unseal(&mut other, &key()).unreadable.len(), 2);
    }

    #[test]
    fn clear_values_of_an_old_document_are_left_for_the_caller_to_count() {
        let mut old = json!({"password": "hunter22", "user": "a", "more": [null, "other-9"]});
        let found = unseal(&mut old, &key());
        assert_eq!(found, Unsealed::default());
        assert_eq!(old["password"], "hunter22");
    }

    #[test]
    fn debug_never_prints_the_secret() {
        assert_eq!(format!("{:?}", Secret::new("hunter22")), "Secret(set)");
        assert_eq!(format!("{:?}", Secret::default()), "Secret(unset)");
    }

    #[test]
    fn placeholders_keep_or_clear() {
        let cur = json!({"smtp": {"password": {"set": true}, "user": "a"}});
        let stored = json!({"smtp": {"password": "pw-1", "user": "a"}});
        let mut keep = json!({"smtp": {"password": {"set": true}, "user": "b"}});
        resolve_placeholders(&mut keep, &cur, &stored);
        assert_eq!(keep, json!({"smtp": {"user": "b"}}));
        let mut clear = json!({"smtp": {"password": {"set": false}}});
        resolve_placeholders(&mut clear, &cur, &stored);
        assert_eq!(clear, json!({"smtp": {"password": null}}));
        // A placeholder on a non-secret field is not touched (validation refuses it).
        let mut other = json!({"smtp": {"user": {"set": true}}});
        resolve_placeholders(&mut other, &cur, &stored);
        assert_eq!(other, json!({"smtp": {"user": {"set": true}}}));
    }

    #[test]
    fn placeholders_inside_arrays_keep_the_matching_elements_value() {
        let cur = json!({"snmp": {"users": [
            {"name": "a", "pw": {"set": true}}, {"name": "b", "pw": {"set": true}}]}});
        let stored = json!({"snmp": {"users": [
            {"name": "a", "pw": "pw-a"}, {"name": "b", "pw": "pw-b"}]}});
        // "a" removed, "b" kept by its placeholder, a new "c" with its own value.
        let mut patch = json!({"snmp": {"users": [
            {"name": "b", "pw": {"set": true}}, {"name": "c", "pw": "pw-c"}]}});
        resolve_placeholders(&mut patch, &cur, &stored);
        assert_eq!(
            patch,
            json!({"snmp": {"users": [{"name": "b", "pw": "pw-b"}, {"name": "c", "pw": "pw-c"}]}})
        );
        let mut clear = json!({"snmp": {"users": [{"name": "a", "pw": {"set": false}}]}});
        resolve_placeholders(&mut clear, &cur, &stored);
        assert_eq!(
            clear,
            json!({"snmp": {"users": [{"name": "a", "pw": null}]}})
        );
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
