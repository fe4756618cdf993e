//! Properties of the whole document that no single section can check: every section is in the
//! JSON Schema with a description, and no secret of a fully populated document leaks (paper §3.2).

use crate::{Config, SECTIONS};
use serde_json::Value;

/// `testdata/populated.json`: every section set, every secret set. The integration test
/// `tests/integration/test_config_secrets.py` applies the same document to a running daemon.
pub(crate) fn populated() -> Value {
    serde_json::from_str(include_str!("../testdata/populated.json"))
        .expect("populated.json is JSON")
}

/// JSON paths of every place the schema types as a `Secret`, for a concrete document.
fn secret_paths(schema: &Value, node: &Value, doc: &Value, at: String, out: &mut Vec<String>) {
    let defs = &schema["$defs"];
    let resolve = |n: &Value| -> Value {
        match n.get("$ref").and_then(Value::as_str) {
            Some(r) => defs[r.trim_start_matches("#/$defs/")].clone(),
            None => n.clone(),
        }
    };
    let node = resolve(node);
    if node.get("x-camward-secret") == Some(&Value::Bool(true)) {
        out.push(at);
        return;
    }
    for alt in node
        .get("anyOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        secret_paths(schema, alt, doc, at.clone(), out);
    }
    if let (Some(props), Some(obj)) = (
        node.get("properties").and_then(Value::as_object),
        doc.as_object(),
    ) {
        for (k, sub) in props {
            if let Some(d) = obj.get(k) {
                secret_paths(schema, sub, d, crate::join(&at, k), out);
            }
        }
    }
    if let (Some(items), Some(arr)) = (node.get("items"), doc.as_array()) {
        for (i, d) in arr.iter().enumerate() {
            secret_paths(schema, items, d, format!("{at}[{i}]"), out);
        }
    }
}

/// The value at a JSON path such as `snmp.users[0].auth_password`.
fn at_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, seg| {
        let (key, rest) = seg.split_once('[').unwrap_or((seg, ""));
        let mut v = if key.is_empty() { v } else { v.get(key)? };
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            v = v.get(idx.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
        Some(v)
    })
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[test]
fn every_section_is_in_the_schema_with_a_description() {
    let schema = Config::schema();
    let props = schema["properties"].as_object().unwrap();
    for s in SECTIONS {
        let p = &props[*s];
        assert!(
            p["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{s}: {p}"
        );
    }
    assert_eq!(props.len(), SECTIONS.len());
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}

#[test]
fn schema_carries_ranges_units_and_enums() {
    let s = Config::schema();
    let stream = &s["$defs"]["StreamConfig"]["properties"];
    assert_eq!(stream["fps"]["minimum"], 1);
    assert_eq!(stream["fps"]["maximum"], 30);
    assert_eq!(stream["bitrate_kbps"]["x-unit"], "kbit/s");
    let methods = &s["$defs"]["AuthMethod"];
    assert!(methods.to_string().contains("digest_or_basic"), "{methods}");
}

#[test]
fn populated_example_sets_every_secret_and_none_leaks() {
    let doc = populated();
    let config = Config::from_value(&doc).unwrap_or_else(|e| panic!("{e:?}"));
    let schema = Config::schema();
    let mut paths = Vec::new();
    secret_paths(
        &schema,
        &schema,
        &config.redacted(),
        String::new(),
        &mut paths,
    );
    // Every secret field of every section is set in the example: a new secret must be added there.
    let mut every = Vec::new();
    secret_paths(
        &schema,
        &schema,
        &serde_json::to_value(Config::default()).unwrap(),
        String::new(),
        &mut every,
    );
    assert!(every.len() >= 2, "{every:?}");
    let shown = config.redacted();
    for p in &every {
        // Secrets inside arrays (`snmp.users[i]`) exist only where the example has elements.
        if p.contains('[') {
            continue;
        }
        let v = at_path(&shown, p);
        assert!(v.is_some(), "{p} missing from the redacted example");
    }
    let stored = config.to_clear();
    let mut secrets = Vec::new();
    for p in &paths {
        let v = at_path(&shown, p).unwrap();
        assert_eq!(
            v,
            &serde_json::json!({"set": true}),
            "{p} not set in populated.json"
        );
        let s = at_path(&stored, p).unwrap();
        secrets.push(s.as_str().unwrap().to_owned());
    }
    assert!(secrets.len() >= 3, "{paths:?}");
    let mut visible = Vec::new();
    strings(&shown, &mut visible);
    let debug = format!("{config:?} {}", config.source);
    for s in &secrets {
        assert!(
            !visible.iter().any(|v| v.contains(s.as_str())),
            "{s} in the redacted document"
        );
        assert!(!debug.contains(s.as_str()), "{s} in Debug/Display output");
    }
    // The stored form holds none of them, and round-trips.
    let key = crate::SealKey::from_bytes(&[9u8; 32]).unwrap();
    let sealed = config.to_stored(&key);
    let mut at_rest = Vec::new();
    strings(&sealed, &mut at_rest);
    for s in &secrets {
        assert!(
            !at_rest.iter().any(|v| v.contains(s.as_str())),
            "{s} in clear in the stored document"
        );
    }
    let back = Config::from_stored(&sealed, &key).unwrap();
    assert_eq!(back.config, config);
    assert!(!back.needs_reseal);
    assert_eq!(Config::from_value(&stored).unwrap(), config);
}

#[test]
fn no_setting_is_shaped_like_a_secret_placeholder() {
    // Storage turns every `{"set": bool}` object back into a secret's stored form, so no other
    // type may serialise as one.
    let schema = Config::schema().to_string();
    assert_eq!(
        schema.matches("\"set\":{\"type\":\"boolean\"}").count(),
        1,
        "{schema}"
    );
    // Loading opens every `{"sealed": …}` object of a stored document: no setting may be named so.
    assert!(!schema.contains("\"sealed\""), "{schema}");
}

/// The web UI labels every control with the schema's `title` and lists choices from `oneOf`
/// titles, so no page ever shows a raw key: every property has a title, and every enumerated
/// value (string enums and `oneOf` consts) one too.
#[test]
fn every_setting_and_every_choice_has_a_title_for_people() {
    let schema = Config::schema();
    let defs = schema["$defs"].as_object().unwrap();
    let mut missing = Vec::new();
    let mut check_props = |owner: &str, node: &Value| {
        for (k, p) in node["properties"].as_object().into_iter().flatten() {
            let titled = p.get("title").is_some()
                || p.get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| defs.get(r.trim_start_matches("#/$defs/")))
                    .is_some_and(|d| d.get("title").is_some());
            if !titled {
                missing.push(format!("{owner}.{k}"));
            }
        }
    };
    check_props("(root)", &schema);
    for (name, def) in defs {
        check_props(name, def);
    }
    assert!(
        missing.is_empty(),
        "properties without a title: {missing:?}"
    );

    fn choices(at: &str, node: &Value, out: &mut Vec<String>) {
        if let Some(alts) = node.get("oneOf").and_then(Value::as_array) {
            for a in alts {
                if a.get("const").is_some() && a.get("title").is_none() {
                    out.push(format!("{at}: {a}"));
                }
            }
        }
        if node.get("enum").is_some() && node.get("type") == Some(&Value::from("string")) {
            out.push(format!("{at}: a string enum without titles"));
        }
        match node {
            Value::Object(o) => o
                .iter()
                .for_each(|(k, v)| choices(&format!("{at}/{k}"), v, out)),
            Value::Array(a) => a.iter().for_each(|v| choices(at, v, out)),
            _ => {}
        }
    }
    let mut untitled = Vec::new();
    choices("", &schema, &mut untitled);
    assert!(untitled.is_empty(), "choices without a title: {untitled:?}");
}

/// Sizes are stored in bytes but read in MB: every byte-sized setting says so with `x-unit`.
#[test]
fn byte_sizes_carry_their_unit() {
    let s = Config::schema();
    let rec = &s["$defs"]["RecordingConfig"]["properties"];
    for k in ["file_max_bytes", "quota_bytes", "min_free_bytes"] {
        assert_eq!(rec[k]["x-unit"], "bytes", "{k}");
    }
}
