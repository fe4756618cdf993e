//! The `storage` section: where finished recordings go besides the camera's own card. Its one part,
//! `storage.object`, is an S3-compatible bucket (paper §3.8: recordings stay encrypted wherever they
//! are kept, "stolen from the card or the cloud"; §3.7: the connection is TLS with a pinned CA).
//! camward-objstore uploads, verifies and fetches back.

use crate::audit::{Audit, Context, Finding, Fix, Severity};
use crate::checks::{err, validate_ca};
use crate::{FieldError, Secret, Validate, Warning, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Longest object key prefix: S3 keys are at most 1024 bytes, and the file name follows it.
pub const MAX_PREFIX_LEN: usize = 256;
/// Longest age retention: ten years.
pub const MAX_RETENTION_DAYS: u32 = 3650;

/// Storage besides the card.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// An S3-compatible bucket the finished recordings are moved to.
    #[schemars(title = "S3-compatible bucket")]
    pub object: ObjectStorageConfig,
}

/// An S3-compatible bucket (AWS S3, MinIO, Garage, Ceph RGW…). Finished recordings are uploaded
/// as they are on the card (encrypted when Data encryption is on), checked, and only then removed
/// from the card. Off by default: nothing leaves the camera until an installer sets it up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectStorageConfig {
    /// Move finished recordings to the bucket; nothing connects to a store while off.
    #[schemars(title = "Object storage", extend("x-true" = "Use", "x-false" = "Not use"))]
    pub enabled: bool,
    /// Address of the store: `https://s3.eu-west-1.amazonaws.com`, `https://minio.example:9000`.
    /// `http://` sends the requests (object names, times, sizes) in clear.
    #[schemars(title = "Endpoint URL", length(max = 255))]
    pub endpoint: String,
    /// Bucket name (3–63 lower-case letters, digits, '.' and '-'); the bucket must exist.
    #[schemars(title = "Bucket", length(max = 63))]
    pub bucket: String,
    /// Region the bucket is in (the signature covers it); `us-east-1` for most self-hosted stores.
    #[schemars(title = "Region", length(min = 1, max = 64))]
    pub region: String,
    /// Folder of this camera's recordings inside the bucket (letters, digits, '_', '-', '.',
    /// separated by '/'); empty = the top of the bucket.
    #[schemars(title = "Object name prefix", length(max = 256))]
    pub prefix: String,
    /// Access key ID of the account the camera uploads with (stored encrypted).
    #[schemars(title = "Access key ID")]
    pub access_key_id: Secret,
    /// Secret access key of that account (stored encrypted, never shown again).
    #[schemars(title = "Secret access key")]
    pub secret_access_key: Secret,
    /// Bucket in the path (`https://host/bucket/…`) rather than in the host name
    /// (`https://bucket.host/…`, put there by the camera): what most self-hosted stores need, and
    /// required when the endpoint is an IP address.
    #[schemars(
        title = "Addressing",
        extend("x-true" = "Path style", "x-false" = "Virtual-hosted style")
    )]
    pub path_style: bool,
    /// PEM text of the CA that signed the store's certificate: only that CA is then trusted for
    /// it. Empty = the usual public roots.
    #[schemars(title = "CA certificate of the store")]
    pub ca_certificate: String,
    /// Objects older than this are deleted from the bucket (with their index entry). 0 = kept
    /// until someone deletes them.
    #[schemars(title = "Keep in the bucket", range(max = 3650), extend("x-unit" = "days"))]
    pub retention_days: u32,
}

impl Default for ObjectStorageConfig {
    fn default() -> Self {
        ObjectStorageConfig {
            enabled: false,
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".into(),
            prefix: "camward".into(),
            access_key_id: Secret::default(),
            secret_access_key: Secret::default(),
            path_style: false,
            ca_certificate: String::new(),
            retention_days: 0,
        }
    }
}

impl ObjectStorageConfig {
    /// The endpoint's scheme is plain `http://`.
    pub fn is_plaintext(&self) -> bool {
        self.endpoint
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
    }

    /// The base URL requests are sent to: `endpoint/bucket` with path-style addressing, else the
    /// endpoint with the bucket put in front of its host name (`https://bucket.host[:port]`), as
    /// AWS and the stores that copy it expect. An endpoint that already begins with the bucket
    /// is taken as it is. Only meaningful for settings that validate.
    pub fn bucket_url(&self) -> String {
        let endpoint = self.endpoint.trim_end_matches('/');
        if self.path_style {
            return format!("{endpoint}/{}", self.bucket);
        }
        let Some((scheme, authority)) = endpoint.split_once("://") else {
            return endpoint.to_owned();
        };
        let named = authority
            .get(..self.bucket.len() + 1)
            .is_some_and(|head| head.eq_ignore_ascii_case(&format!("{}.", self.bucket)));
        if named {
            endpoint.to_owned()
        } else {
            format!("{scheme}://{}.{authority}", self.bucket)
        }
    }

    /// The object key of a recording file (`streamN/…mp4`, relative to the recording directory).
    pub fn key_of(&self, rel: &str) -> String {
        let p = self.prefix.trim_matches('/');
        if p.is_empty() {
            rel.to_owned()
        } else {
            format!("{p}/{rel}")
        }
    }

    /// The prefix objects are listed under to find recordings the index does not know: the
    /// prefix with its `/` (empty: the whole bucket).
    pub fn list_prefix(&self) -> String {
        let p = self.prefix.trim_matches('/');
        if p.is_empty() {
            String::new()
        } else {
            format!("{p}/")
        }
    }

    /// The inverse of [`key_of`](Self::key_of): the path relative to the recording directory of
    /// an object listed under [`list_prefix`](Self::list_prefix); `None` for a key outside it.
    pub fn rel_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.list_prefix())
            .filter(|rel| !rel.is_empty())
    }
}

/// `scheme://host[:port][/]`: no user info (credentials belong in their fields), no path, query
/// or fragment (object names are built from the bucket and prefix).
fn check_endpoint(url: &str) -> Result<(), &'static str> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or("must start with https:// (or http:// on a trusted network)")?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return Err("a host name or address is required after the scheme");
    }
    if authority.contains(['/', '?', '#', '@', ' ']) || authority.chars().any(char::is_control) {
        return Err(
            "only scheme, host and port: no path, query, user name or spaces (the bucket and prefix have their own fields)",
        );
    }
    Ok(())
}

/// The endpoint's host is an IPv4 or bracketed IPv6 address rather than a name.
fn host_is_address(url: &str) -> bool {
    let authority = url.split_once("://").map_or(url, |(_, a)| a);
    let authority = authority.trim_end_matches('/');
    if authority.starts_with('[') {
        return true;
    }
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    host.parse::<std::net::Ipv4Addr>().is_ok()
}

fn bucket_ok(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !b.contains("..")
}

fn prefix_ok(p: &str) -> bool {
    p.len() <= MAX_PREFIX_LEN
        && p.trim_matches('/').split('/').all(|seg| {
            p.trim_matches('/').is_empty()
                || (!seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)))
        })
}

impl Validate for StorageConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        let at = join(at, "object");
        let o = &self.object;
        if o.enabled || !o.endpoint.is_empty() {
            if o.endpoint.is_empty() {
                err(
                    out,
                    join(&at, "endpoint"),
                    "storage.object.endpoint.required",
                    "an endpoint URL is required",
                );
            } else if let Err(m) = check_endpoint(&o.endpoint) {
                err(
                    out,
                    join(&at, "endpoint"),
                    "storage.object.endpoint.invalid",
                    m,
                );
            }
        }
        if !o.path_style && check_endpoint(&o.endpoint).is_ok() && host_is_address(&o.endpoint) {
            // Virtual-hosted addressing names the bucket in the host; an address has no name.
            err(
                out,
                join(&at, "path_style"),
                "storage.object.addressing.address",
                "the endpoint is an IP address, which cannot carry the bucket in its host name: choose path style",
            );
        }
        if (o.enabled || !o.bucket.is_empty()) && !bucket_ok(&o.bucket) {
            err(
                out,
                join(&at, "bucket"),
                "storage.object.bucket.invalid",
                "3–63 characters: lower-case letters, digits, '.' and '-', starting and ending with a letter or digit",
            );
        }
        if o.region.is_empty()
            || o.region.len() > 64
            || !o
                .region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            err(
                out,
                join(&at, "region"),
                "storage.object.region.invalid",
                "1–64 letters, digits, '-' and '_' (e.g. us-east-1)",
            );
        }
        if !prefix_ok(&o.prefix) {
            err(
                out,
                join(&at, "prefix"),
                "storage.object.prefix.invalid",
                "up to 256 characters: segments of letters, digits, '_', '-', '.' separated by '/' (no '..')",
            );
        }
        for (field, s) in [
            ("access_key_id", &o.access_key_id),
            ("secret_access_key", &o.secret_access_key),
        ] {
            match s.expose() {
                // Never echo the value: this message reaches the API and logs.
                Some(v) if v.len() > 128 || v.chars().any(|c| c.is_control() || c == ' ') => err(
                    out,
                    join(&at, field),
                    "storage.object.credentials.invalid",
                    "at most 128 characters, no spaces or control characters",
                ),
                None if o.enabled => err(
                    out,
                    join(&at, field),
                    "storage.object.credentials.required",
                    "required while object storage is on",
                ),
                _ => {}
            }
        }
        validate_ca(&o.ca_certificate, &join(&at, "ca_certificate"), out);
        if o.retention_days > MAX_RETENTION_DAYS {
            err(
                out,
                join(&at, "retention_days"),
                "storage.object.retention.range",
                format!("at most {MAX_RETENTION_DAYS} days (0 = keep)"),
            );
        }
    }

    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        if self.object.enabled && self.object.is_plaintext() {
            out.push(Warning::new(
                join(&join(at, "object"), "endpoint"),
                "storage.object.plaintext",
                "the endpoint is http://: object names, times and sizes of the recordings cross the network in clear; use https:// outside a trusted network",
            ));
        }
    }
}

impl Audit for StorageConfig {
    fn audit(&self, at: &str, cx: &Context<'_>, out: &mut Vec<Finding>) {
        let o = &self.object;
        if !o.enabled {
            return;
        }
        let at = join(at, "object");
        if o.is_plaintext() {
            out.push(Finding::new(
                "storage.object.plaintext",
                Severity::High,
                "§3.7",
                "recordings go to the object store over plain http://: the signed requests, the object names, recording times and sizes (and the video itself when Data encryption is off) cross the network in clear",
                "Without HTTPS, information on the network can be snooped or altered, and the store cannot be told from an impostor collecting the recordings.",
                Fix::example(
                    join(&at, "endpoint"),
                    "https://s3.example.net".into(),
                    "use the store's https:// address (and pin its CA)",
                ),
            ));
        } else if o.ca_certificate.trim().is_empty() {
            out.push(Finding::new(
                "storage.object.ca_not_pinned",
                Severity::Low,
                "§3.7",
                "the object store's certificate is checked against every public root CA, not a pinned CA",
                "Any CA the camera trusts can issue a certificate for the store's name; pinning the store's CA leaves an impostor nothing to present.",
                Fix::example(
                    join(&at, "ca_certificate"),
                    "-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----".into(),
                    "paste the PEM of the CA that signed the store's certificate",
                ),
            ));
        }
        if let Some(f) = &cx.facts.object_store {
            if f.card_full {
                out.push(Finding::new(
                    "storage.object.card_full",
                    Severity::High,
                    "§3.8",
                    format!(
                        "the card is full: {} recordings wait for the object store and retention may not delete them; new video is lost once the card has no room left",
                        f.waiting
                    ),
                    "Recordings are kept until the store confirms them, so an unreachable store fills the card.",
                    Fix::action(
                        "bring the object store back (see the status page for its error), or switch object storage off to let retention delete the oldest recordings",
                    ),
                ));
            }
            if f.rejected {
                out.push(Finding::new(
                    "storage.object.rejected",
                    Severity::High,
                    "§3.8",
                    "the object store refuses the credentials or the bucket: no recording is uploaded",
                    "Recordings wait on the card until the settings are fixed; the card fills up.",
                    Fix::action(
                        "check the access key, secret key, bucket and region of storage.object",
                    ),
                ));
            }
        }
        if !cx.config.data_encryption.enabled {
            out.push(Finding::new(
                "storage.object.unencrypted_recordings",
                Severity::Medium,
                "§3.8",
                "recordings are copied to the object store without Data encryption: whoever reads the bucket can watch them",
                "Recordings stolen from the card or the cloud must not be watchable; encrypted at rest, only the viewers' keys open them.",
                Fix::example(
                    "data_encryption.enabled",
                    true.into(),
                    "switch Data encryption on and add a viewer's public key",
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_util::{errors_of, warnings_of};
    use serde_json::json;

    fn on() -> StorageConfig {
        StorageConfig {
            object: ObjectStorageConfig {
                enabled: true,
                endpoint: "https://s3.example.net".into(),
                bucket: "cam-recordings".into(),
                access_key_id: Secret::new("AKIAEXAMPLE"),
                secret_access_key: Secret::new("s3cr3t-k3y-value"),
                ..ObjectStorageConfig::default()
            },
        }
    }

    #[test]
    fn defaults_are_off_and_valid() {
        let s = StorageConfig::default();
        assert!(!s.object.enabled);
        assert!(errors_of(&s, "storage").is_empty());
        assert!(serde_json::from_value::<StorageConfig>(json!({"object": {"bogus": 1}})).is_err());
    }

    #[test]
    fn virtual_hosted_addressing_puts_the_bucket_in_front_of_the_host_once() {
        let mut s = on().object;
        s.endpoint = "https://s3.eu-west-1.amazonaws.com/".into();
        assert_eq!(
            s.bucket_url(),
            "https://cam-recordings.s3.eu-west-1.amazonaws.com"
        );
        s.endpoint = "https://cam-recordings.minio.example:9000".into();
        assert_eq!(s.bucket_url(), "https://cam-recordings.minio.example:9000");
        s.endpoint = "https://minio.example:9000".into();
        s.path_style = true;
        assert_eq!(s.bucket_url(), "https://minio.example:9000/cam-recordings");
    }

    #[test]
    fn an_address_endpoint_needs_path_style_addressing() {
        for endpoint in [
            "http://127.0.0.1:9000",
            "https://10.0.0.5",
            "https://[::1]:9000/",
        ] {
            let mut s = on();
            s.object.endpoint = endpoint.into();
            let errs = errors_of(&s, "storage");
            assert!(
                errs.iter().any(|e| e.path == "storage.object.path_style"
                    && e.rule == "storage.object.addressing.address"),
                "{endpoint}: {errs:?}"
            );
            s.object.path_style = true;
            assert!(errors_of(&s, "storage").is_empty(), "{endpoint}");
        }
    }

    #[test]
    fn a_usable_store_needs_endpoint_bucket_and_credentials() {
        assert!(errors_of(&on(), "storage").is_empty());
        let mut s = on();
        s.object.endpoint = "ftp://x".into();
        s.object.bucket = "No_Such".into();
        s.object.secret_access_key = Secret::default();
        s.object.prefix = "a/../b".into();
        let rules: Vec<_> = errors_of(&s, "storage")
            .into_iter()
            .map(|e| (e.path, e.rule))
            .collect();
        for path in [
            "storage.object.endpoint",
            "storage.object.bucket",
            "storage.object.secret_access_key",
            "storage.object.prefix",
        ] {
            assert!(rules.iter().any(|(p, _)| p == path), "{path}: {rules:?}");
        }
        s = on();
        s.object.endpoint = "https://user:pw@host/path".into();
        assert_eq!(
            errors_of(&s, "storage")[0].rule,
            "storage.object.endpoint.invalid"
        );
        s.object.endpoint = "http://127.0.0.1:9000/".into();
        s.object.path_style = true;
        assert!(errors_of(&s, "storage").is_empty());
        assert_eq!(
            warnings_of(&s, "storage")[0].rule,
            "storage.object.plaintext"
        );
    }

    #[test]
    fn keys_join_prefix_and_file_name() {
        let mut o = on().object;
        assert_eq!(o.key_of("stream1/a.mp4"), "camward/stream1/a.mp4");
        o.prefix = "/site-a/cam1/".into();
        assert_eq!(o.key_of("stream1/a.mp4"), "site-a/cam1/stream1/a.mp4");
        o.prefix = String::new();
        assert_eq!(o.key_of("stream1/a.mp4"), "stream1/a.mp4");
    }

    #[test]
    fn a_listed_key_gives_back_the_file_name_it_was_made_from() {
        let mut o = on().object;
        for prefix in ["camward", "/site-a/cam1/", ""] {
            o.prefix = prefix.into();
            let key = o.key_of("cameras/door/stream2/a.mp4");
            assert!(key.starts_with(&o.list_prefix()), "{key}");
            assert_eq!(o.rel_of(&key), Some("cameras/door/stream2/a.mp4"));
        }
        o.prefix = "site-a".into();
        assert_eq!(o.list_prefix(), "site-a/");
        assert_eq!(o.rel_of("site-b/stream1/a.mp4"), None);
        assert_eq!(o.rel_of("site-ab/stream1/a.mp4"), None);
        assert_eq!(o.rel_of("site-a/"), None);
    }

    #[test]
    fn audit_names_plain_http_an_unpinned_ca_clear_recordings_and_a_full_card() {
        use crate::Config;
        use crate::audit::{Facts, ObjectStoreFacts};
        let ids = |c: &Config, f: &Facts| -> Vec<String> {
            c.audit(f)
                .findings
                .into_iter()
                .map(|f| f.id)
                .filter(|i| i.starts_with("storage."))
                .collect()
        };
        let mut c = Config {
            storage: on(),
            ..Config::default()
        };
        let facts = Facts::default();
        assert_eq!(
            ids(&c, &facts),
            vec![
                "storage.object.unencrypted_recordings",
                "storage.object.ca_not_pinned"
            ]
        );
        c.storage.object.endpoint = "http://10.0.0.5:9000".into();
        let r = c.audit(&facts);
        let f = r
            .findings
            .iter()
            .find(|f| f.id == "storage.object.plaintext")
            .unwrap();
        assert_eq!(f.severity, Severity::High);
        let full = Facts {
            object_store: Some(ObjectStoreFacts {
                waiting: 12,
                card_full: true,
                rejected: true,
            }),
            ..Facts::default()
        };
        let found = ids(&c, &full);
        assert!(
            found.contains(&"storage.object.card_full".to_owned()),
            "{found:?}"
        );
        assert!(
            found.contains(&"storage.object.rejected".to_owned()),
            "{found:?}"
        );
        // Off: nothing to say.
        assert!(ids(&Config::default(), &full).is_empty());
    }

    #[test]
    fn secret_key_never_in_debug_output() {
        assert!(!format!("{:?}", on()).contains("s3cr3t"));
    }
}
