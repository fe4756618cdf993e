//! Fuzzes merge patch + whole-document validation, on the defaults and on a document with every
//! section and every secret set (paper §3.2: nothing secret leaves the device). Whatever a patch
//! makes of the document must be storable and reloadable unchanged, survive a client sending back
//! what GET showed, never show a stored secret, and audit without a panic.
#![no_main]

use camward_config::{Config, SealKey};
use camward_config::audit::{AccountFacts, CertificateFacts, Facts};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;

/// The secrets of testdata/populated.json.
const SECRETS: [&str; 3] = ["SeCrEt-rtsp-3Vx8", "SeCrEt-smtp-7Qk2", "SeCrEt-ftp-9Lm4"];

fn populated() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| {
        let v: Value = serde_json::from_str(include_str!("../../testdata/populated.json")).unwrap();
        Config::from_value(&v).expect("populated.json is valid")
    })
}

/// A fixed secrets key: the round trip goes through the sealed form the database holds.
fn key() -> &'static SealKey {
    static K: OnceLock<SealKey> = OnceLock::new();
    K.get_or_init(|| SealKey::from_bytes(&[7u8; 32]).expect("32 bytes"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(patch) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let facts = Facts {
        now: 1_800_000_000,
        certificate: Some(CertificateFacts {
            self_signed: data.len().is_multiple_of(2),
            days_left: data.len() as i64 - 40,
            not_after: "2027-01-01T00:00:00Z".into(),
        }),
        accounts: vec![AccountFacts {
            name: "admin".into(),
            password_changed_at: 1_800_000_000 - (data.len() as i64) * 86_400,
        }],
        object_store: data.first().map(|b| camward_config::audit::ObjectStoreFacts {
            waiting: u64::from(*b),
            card_full: b & 1 == 1,
            rejected: b & 2 == 2,
        }),
    };
    for base in [&Config::default(), populated()] {
        match base.apply_merge_patch(&patch) {
            Ok(c) => {
                let stored = c.to_stored(key());
                assert_eq!(
                    Config::from_stored(&stored, key())
                        .map(|s| s.config)
                        .as_ref(),
                    Ok(&c),
                    "storage round trip"
                );
                let stored_text = stored.to_string();
                let shown = c.redacted();
                assert_eq!(
                    c.apply_merge_patch(&shown).as_ref(),
                    Ok(&c),
                    "GET sent back changes nothing"
                );
                let text = shown.to_string();
                for s in SECRETS {
                    let from_patch = data.windows(s.len()).any(|w| w == s.as_bytes());
                    assert!(
                        from_patch || !text.contains(s),
                        "{s} leaks into the redacted document"
                    );
                    assert!(
                        from_patch || !stored_text.contains(s),
                        "{s} is stored in clear"
                    );
                }
                let _ = c.warnings();
                let _ = c.audit(&facts).to_text();
            }
            Err(errors) => {
                assert!(!errors.is_empty());
                assert!(
                    errors
                        .iter()
                        .all(|e| !e.rule.is_empty() && !e.message.is_empty())
                );
            }
        }
    }
});
