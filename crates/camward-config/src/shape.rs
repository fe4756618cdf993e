//! Refuses JSON arrays where the configuration's JSON Schema has an object. serde's derived
//! `Deserialize` also reads a struct from a positional array (`{"user_auth": [false]}` would set
//! `user_auth.enabled`, and `[]` would be a whole default document): a second, undocumented syntax
//! that `deny_unknown_fields` does not cover. The document's only syntax is the one its schema
//! describes, so this check runs before deserialising.

use crate::FieldError;
use serde_json::{Map, Value};

/// Every place in `doc` where an array stands for an object, as `type` errors with their path.
/// `schema` is a JSON Schema (draft 2020-12, `$defs`) such as schemars makes. Shared with the HTTP
/// API's request bodies, which are serde structs too.
pub fn positional_structs(doc: &Value, schema: &Value) -> Vec<FieldError> {
    let empty = Map::new();
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = Vec::new();
    walk(doc, schema, defs, String::new(), &mut out);
    out
}

fn resolve<'a>(node: &'a Value, defs: &'a Map<String, Value>) -> &'a Value {
    let mut node = node;
    // Bounded: a chain of references ends at a definition.
    for _ in 0..16 {
        match node
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
        {
            Some(name) => match defs.get(name) {
                Some(d) => node = d,
                None => break,
            },
            None => break,
        }
    }
    node
}

/// The alternatives of `node` (itself, or each branch of anyOf/oneOf), resolved.
fn alternatives<'a>(node: &'a Value, defs: &'a Map<String, Value>) -> Vec<&'a Value> {
    let node = resolve(node, defs);
    let mut alts: Vec<&Value> = ["anyOf", "oneOf"]
        .iter()
        .filter_map(|k| node.get(*k).and_then(Value::as_array))
        .flatten()
        .flat_map(|a| alternatives(a, defs))
        .collect();
    if alts.is_empty() || node.get("type").is_some() || node.get("properties").is_some() {
        alts.push(node);
    }
    alts
}

fn allows(node: &Value, kind: &str) -> bool {
    match node.get("type") {
        Some(Value::String(t)) => t == kind,
        Some(Value::Array(ts)) => ts.iter().any(|t| t == kind),
        // No type: a schema without one accepts any kind, unless it only describes an object.
        _ => !(kind == "array" && node.get("properties").is_some()),
    }
}

fn walk(
    v: &Value,
    node: &Value,
    defs: &Map<String, Value>,
    path: String,
    out: &mut Vec<FieldError>,
) {
    let alts = alternatives(node, defs);
    match v {
        Value::Array(items) => {
            let Some(alt) = alts.iter().find(|a| allows(a, "array")) else {
                if alts.iter().any(|a| allows(a, "object")) {
                    out.push(FieldError::new(
                        path,
                        "type",
                        "invalid type: an array, expected an object",
                    ));
                }
                return;
            };
            if let Some(item) = alt.get("items") {
                for (i, x) in items.iter().enumerate() {
                    walk(x, item, defs, format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(map) => {
            for (k, x) in map {
                let sub = alts
                    .iter()
                    .find_map(|a| a.get("properties").and_then(|p| p.get(k)));
                if let Some(sub) = sub {
                    walk(x, sub, defs, crate::join(&path, k), out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use serde_json::json;

    #[test]
    fn arrays_never_stand_for_sections_or_nested_settings() {
        let c = Config::default();
        for (patch, path) in [
            (json!([]), ""),
            (json!({"user_auth": [false]}), "user_auth"),
            (
                json!({"alarm": {"vmd": {"areas": [[true, 0, 0, 1, 1, 5, 5]]}}}),
                "alarm.vmd.areas[0]",
            ),
            (
                json!({"streams": {"stream1": [true, 640, 360, 10, 512, 10, false]}}),
                "streams.stream1",
            ),
        ] {
            let e = c.apply_merge_patch(&patch).unwrap_err();
            assert_eq!(
                (e[0].path.as_str(), e[0].rule.as_str()),
                (path, "type"),
                "{patch}"
            );
        }
        // Real lists and the string form of settings still work.
        let ok = c
            .apply_merge_patch(&json!({"host_auth": {"enabled": true, "allow": ["::1"]},
                                       "recording": {"streams": [1, 2]}, "source": "testsrc"}))
            .unwrap();
        assert_eq!(ok.recording.streams, [1, 2]);
    }
}
