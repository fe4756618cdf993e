//! The security audit of the live configuration (`camward audit`, `GET /api/v1/audit`): every
//! caution of the paper (§3.2–§3.9 and the "Cautions with network cameras" of §4) checked against
//! the settings in force, each finding with its severity, why it matters and the setting that fixes it.
//!
//! Each settings section contributes its own findings through [`Audit`], beside its `Validate`
//! impl; the `sections!` list in `lib.rs` calls every section, so a new section (SNMP §4.7, UPnP
//! §4.1, discovery §4.5) cannot be added without stating its findings. What the configuration
//! document does not hold (the served certificate, when each password was set) reaches the
//! sections as [`Facts`], collected by the caller.

use crate::Config;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How urgent a finding is. `camward audit` exits 1 while a `high` finding exists.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; nothing is exposed by it alone.
    Info,
    /// A recommended practice is not followed.
    Low,
    /// An attack the paper names is made easier.
    Medium,
    /// Credentials or video can be taken, or anyone can get in.
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// What removes a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Fix {
    /// JSON path of the setting in the configuration document (`https.connection`); absent when
    /// the fix is an action rather than a setting (install a certificate, change a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The value to give `path` (`PATCH /api/v1/config` with it at that path, or
    /// `camward config set PATH=VALUE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// True when `value` is an example the administrator adapts first (the site's network, a
    /// viewer's key): applied as is it would not do what the site needs.
    #[serde(default)]
    pub example: bool,
    /// The fix in one sentence, for people.
    pub action: String,
}

impl Fix {
    /// Set `path` to `value`.
    pub fn set(path: impl Into<String>, value: Value) -> Fix {
        let path = path.into();
        let action = format!("set {path} to {value}");
        Fix {
            path: Some(path),
            value: Some(value),
            example: false,
            action,
        }
    }

    /// Set `path` to a value like `value`, adapted as `action` says.
    pub fn example(path: impl Into<String>, value: Value, action: impl Into<String>) -> Fix {
        Fix {
            path: Some(path.into()),
            value: Some(value),
            example: true,
            action: action.into(),
        }
    }

    /// Do what `action` says (no setting changes it).
    pub fn action(action: impl Into<String>) -> Fix {
        Fix {
            path: None,
            value: None,
            example: false,
            action: action.into(),
        }
    }
}

/// One caution that applies to this device now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// Stable identifier (`https.off`, `user_auth.password_age`); scripts may switch on it.
    pub id: String,
    pub severity: Severity,
    /// What is the case on this device, for people.
    pub title: String,
    /// Why it matters: one sentence of the paper's reasoning.
    pub why: String,
    /// The paper's section that gives the reasoning (`§3.7`).
    pub paper: String,
    /// What the finding is about when there can be several (an account name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub fix: Fix,
}

impl Finding {
    pub fn new(
        id: impl Into<String>,
        severity: Severity,
        paper: &str,
        title: impl Into<String>,
        why: impl Into<String>,
        fix: Fix,
    ) -> Finding {
        Finding {
            id: id.into(),
            severity,
            title: title.into(),
            why: why.into(),
            paper: paper.into(),
            subject: None,
            fix,
        }
    }

    pub fn about(mut self, subject: impl Into<String>) -> Finding {
        self.subject = Some(subject.into());
        self
    }
}

/// The device certificate as the audit needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    /// Generated and signed by the device itself.
    pub self_signed: bool,
    /// Whole days until notAfter, negative once expired.
    pub days_left: i64,
    /// notAfter, RFC 3339, for the sentence.
    pub not_after: String,
}

/// One account as the audit needs it (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFacts {
    pub name: String,
    /// Unix time (s) of the last password change.
    pub password_changed_at: i64,
}

/// What the audit needs beyond the configuration document. A section that needs another fact of
/// the running device adds a field here and the callers (`camward audit`, `GET /api/v1/audit`) fill it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Unix time (s) the audit runs at.
    pub now: i64,
    /// The served certificate; `None` before the daemon first made the device identity.
    pub certificate: Option<CertificateFacts>,
    pub accounts: Vec<AccountFacts>,
    /// The object store uploader as it runs now; `None` where it is not known (the console's
    /// `camward audit` without the daemon) or object storage is off.
    pub object_store: Option<ObjectStoreFacts>,
}

/// The object store uploader as the audit needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectStoreFacts {
    /// Closed recordings on the card not yet confirmed in the bucket.
    pub waiting: u64,
    /// The card is at its retention limit while recordings wait: retention may not delete them.
    pub card_full: bool,
    /// The store refused the credentials or the bucket: nothing is uploaded.
    pub rejected: bool,
}

/// What a section sees while it audits itself: the whole configuration (some cautions depend on
/// two sections, e.g. RTSP on `https`) and the facts.
pub struct Context<'a> {
    pub config: &'a Config,
    pub facts: &'a Facts,
}

/// Implemented by every section of [`Config`] (the `sections!` list requires it): pushes the
/// findings that apply to the section as it is now. `at` is the section's JSON path. A section
/// with no caution in the paper writes `impl Audit for X {}`, which says so.
pub trait Audit {
    fn audit(&self, at: &str, cx: &Context<'_>, out: &mut Vec<Finding>) {
        let _ = (at, cx, out);
    }
}

/// Findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
}

/// The audit of one configuration: `camward audit --json` prints it, `GET /api/v1/audit` answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Most severe first, then by id.
    pub findings: Vec<Finding>,
    pub counts: Counts,
    /// False while a `high` finding exists (then `camward audit` exits 1).
    pub passed: bool,
}

impl Report {
    pub fn new(mut findings: Vec<Finding>) -> Report {
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.id.cmp(&b.id))
                .then_with(|| a.subject.cmp(&b.subject))
        });
        let mut counts = Counts::default();
        for f in &findings {
            *match f.severity {
                Severity::High => &mut counts.high,
                Severity::Medium => &mut counts.medium,
                Severity::Low => &mut counts.low,
                Severity::Info => &mut counts.info,
            } += 1;
        }
        Report {
            passed: counts.high == 0,
            findings,
            counts,
        }
    }

    /// The report for people: one block per finding, then the counts.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        for f in &self.findings {
            let subject = f
                .subject
                .as_deref()
                .map(|x| format!(" [{x}]"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "{:<6} {}{subject}: {}",
                f.severity.as_str().to_uppercase(),
                f.id,
                f.title
            );
            let _ = writeln!(s, "       why: {} ({})", f.why, f.paper);
            let _ = writeln!(s, "       fix: {}", f.fix.action);
        }
        let c = self.counts;
        let _ = writeln!(
            s,
            "{} findings: {} high, {} medium, {} low, {} info{}",
            self.findings.len(),
            c.high,
            c.medium,
            c.low,
            c.info,
            if self.passed {
                ""
            } else {
                " — a high finding exists"
            }
        );
        s
    }
}

impl Config {
    /// Audits this configuration with `facts` of the running device (paper §3–§4).
    pub fn audit(&self, facts: &Facts) -> Report {
        let cx = Context {
            config: self,
            facts,
        };
        let mut out = Vec::new();
        self.audit_sections(&cx, &mut out);
        Report::new(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ids(r: &Report) -> Vec<&str> {
        r.findings.iter().map(|f| f.id.as_str()).collect()
    }

    fn fresh_facts() -> Facts {
        Facts {
            now: 1_800_000_000,
            certificate: Some(CertificateFacts {
                self_signed: true,
                days_left: 3000,
                not_after: "2035-01-01T00:00:00Z".into(),
            }),
            accounts: vec![AccountFacts {
                name: "installer".into(),
                password_changed_at: 1_800_000_000 - 86_400,
            }],
            object_store: None,
        }
    }

    /// Applies every non-example fix of the report as an administrator would (a merge patch at
    /// the fix's path); example fixes get the site's own value from `adapt`.
    fn apply_fixes(c: &Config, r: &Report, adapt: impl Fn(&str) -> Option<Value>) -> Config {
        let mut c = c.clone();
        for f in &r.findings {
            let (Some(path), Some(value)) = (&f.fix.path, &f.fix.value) else {
                continue;
            };
            let value = if f.fix.example {
                adapt(path).unwrap_or_else(|| panic!("no site value for the example {path}"))
            } else {
                value.clone()
            };
            let mut patch = value;
            for key in path.rsplit('.') {
                patch = json!({ key: patch });
            }
            c = c
                .apply_merge_patch(&patch)
                .expect("a fix is a valid setting");
        }
        c
    }

    #[test]
    fn fresh_device_lists_the_paper_cautions_that_apply_and_fails_on_http() {
        let r = Config::default().audit(&fresh_facts());
        assert_eq!(
            ids(&r),
            [
                "https.off",
                "certificate.self_signed",
                "host_auth.off",
                "rtsp.unencrypted",
                "data_encryption.off"
            ]
        );
        assert!(!r.passed);
        assert_eq!(r.counts.high, 1);
        for f in &r.findings {
            assert!(f.paper.starts_with('§'), "{f:?}");
            assert!(f.why.ends_with('.'), "one sentence: {f:?}");
        }
    }

    #[test]
    fn applying_the_named_settings_removes_their_findings() {
        let c = Config::default();
        let facts = fresh_facts();
        let r = c.audit(&facts);
        let fixed = apply_fixes(&c, &r, |path| match path {
            "host_auth" => Some(json!({"enabled": true, "allow": ["192.0.2.0/24"]})),
            "data_encryption" => Some(json!({"enabled": true, "recipients": [
                crate::data_encryption::format_recipient(&[9; 32])]})),
            _ => None,
        });
        let left = fixed.audit(&facts);
        assert_eq!(ids(&left), ["certificate.self_signed"], "{left:#?}");
        assert!(left.passed);
    }

    #[test]
    fn every_weakened_setting_is_found_and_fixed_by_its_own_fix() {
        let c = Config::default()
            .apply_merge_patch(&json!({
                "user_auth": {"enabled": false, "guest": true, "method": "digest_or_basic",
                              "password_change_days": 0},
                "alteration_detection": {"enabled": false},
                "recording": {"enabled": true},
                "smtp": {"enabled": true, "server": "mail.example", "security": "none",
                         "username": "cam", "password": "Mail-secret-1", "sender": "cam@example.org",
                         "destinations": [{"address": "ops@example.org"}]},
                "ftp_client": {"enabled": true, "server": "ftp.example", "tls": "none",
                               "username": "cam", "password": "Ftp-secret-1"},
                "ftp_server": {"enabled": true},
            }))
            .unwrap();
        let r = c.audit(&fresh_facts());
        for id in [
            "user_auth.off",
            "user_auth.guest",
            "user_auth.basic",
            "user_auth.no_password_period",
            "alteration_detection.off",
            "smtp.unencrypted",
            "ftp_client.unencrypted",
            "ftp_server.on",
        ] {
            assert!(ids(&r).contains(&id), "{id} missing from {:?}", ids(&r));
        }
        let enc = r
            .findings
            .iter()
            .find(|f| f.id == "data_encryption.off")
            .unwrap();
        assert_eq!(enc.severity, Severity::Medium, "recording is on");
        let fixed = apply_fixes(&c, &r, |path| match path {
            "host_auth" => Some(json!({"enabled": true, "allow": ["192.0.2.0/24"]})),
            "data_encryption" => Some(json!({"enabled": true, "recipients": [
                crate::data_encryption::format_recipient(&[9; 32])]})),
            _ => None,
        });
        assert_eq!(
            ids(&fixed.audit(&fresh_facts())),
            ["certificate.self_signed"]
        );
    }

    #[test]
    fn old_passwords_and_an_ending_certificate_are_found() {
        let mut facts = fresh_facts();
        facts.accounts.push(AccountFacts {
            name: "viewer".into(),
            password_changed_at: facts.now - 200 * 86_400,
        });
        facts.certificate = Some(CertificateFacts {
            self_signed: false,
            days_left: 10,
            not_after: "2027-01-11T00:00:00Z".into(),
        });
        let r = Config::default().audit(&facts);
        let age: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.id == "user_auth.password_age")
            .collect();
        assert_eq!(age.len(), 1);
        assert_eq!(age[0].subject.as_deref(), Some("viewer"));
        assert!(ids(&r).contains(&"certificate.expiring"));
        assert!(!ids(&r).contains(&"certificate.self_signed"));

        facts.certificate.as_mut().unwrap().days_left = -1;
        let r = Config::default().audit(&facts);
        let f = r
            .findings
            .iter()
            .find(|f| f.id == "certificate.expired")
            .unwrap();
        assert_eq!(f.severity, Severity::High);
    }

    #[test]
    fn report_orders_by_severity_and_serialises_fix_paths() {
        let r = Config::default().audit(&fresh_facts());
        let sev: Vec<_> = r.findings.iter().map(|f| f.severity).collect();
        let mut sorted = sev.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(sev, sorted);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["findings"][0]["fix"]["path"], "https.connection");
        assert_eq!(v["findings"][0]["fix"]["value"], "https");
        assert!(r.to_text().contains("HIGH   https.off"));
    }
}
