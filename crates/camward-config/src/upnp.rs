//! Setup › Network › Advanced › UPnP: "Auto port forwarding" (paper §4.1). Off by default, and
//! while off camward sends no UPnP traffic at all. When an owner switches it on, the camera asks
//! the NAT router (an Internet Gateway Device) to forward exactly the services chosen here, so
//! anyone on the Internet can reach them: HTTPS by default, plain HTTP and RTSP only when chosen,
//! and every one of them keeps a warning on the status page while it is on.

use crate::audit::{Audit, Context, Finding, Fix, Severity};
use crate::checks::err;
use crate::{FieldError, Validate, Warning, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Shortest lease camward asks for: renewal runs at half the lease, so this bounds how often the
/// gateway is asked (every 10 s at most).
pub const MIN_LEASE_SECS: u32 = 20;
/// Longest lease: one day. IGD:2 allows a week, but a day bounds how long a forgotten mapping
/// outlives a camera that vanished without deleting it.
pub const MAX_LEASE_SECS: u32 = 86_400;

/// The `upnp` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UpnpConfig {
    /// Ask the router (UPnP) to forward the services chosen below from the Internet to this
    /// camera. Off (the default): the camera sends no UPnP traffic at all.
    #[schemars(title = "Auto port forwarding")]
    pub auto_port_forwarding: bool,
    /// Forward the HTTPS port (only while the connection is HTTPS).
    #[schemars(title = "Forward HTTPS")]
    pub forward_https: bool,
    /// Forward the plain HTTP port. While the connection is HTTP, user names and Digest
    /// responses then cross the Internet without encryption.
    #[schemars(title = "Forward HTTP")]
    pub forward_http: bool,
    /// Forward the RTSP port. RTSP is not encrypted: credentials (Digest) and video then cross
    /// the Internet.
    #[schemars(title = "Forward RTSP")]
    pub forward_rtsp: bool,
    /// Port on the router's Internet side for HTTPS; 0: the same as the camera's HTTPS port.
    #[schemars(title = "External HTTPS port", range(max = 65535))]
    pub https_external_port: u16,
    /// Port on the router's Internet side for HTTP; 0: the same as the camera's HTTP port.
    #[schemars(title = "External HTTP port", range(max = 65535))]
    pub http_external_port: u16,
    /// Port on the router's Internet side for RTSP; 0: the same as the camera's RTSP port.
    #[schemars(title = "External RTSP port", range(max = 65535))]
    pub rtsp_external_port: u16,
    /// Lease asked of the router for each mapping; camward renews at half of it, so mappings
    /// vanish on their own within one lease if the camera disappears.
    #[schemars(title = "Lease duration", range(min = 20, max = 86400), extend("x-unit" = "s"))]
    pub lease_secs: u32,
}

impl Default for UpnpConfig {
    fn default() -> Self {
        UpnpConfig {
            auto_port_forwarding: false,
            forward_https: true,
            forward_http: false,
            forward_rtsp: false,
            https_external_port: 0,
            http_external_port: 0,
            rtsp_external_port: 0,
            lease_secs: 3600,
        }
    }
}

/// A service camward can forward.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ForwardedService {
    Https,
    Http,
    Rtsp,
}

impl ForwardedService {
    pub fn name(self) -> &'static str {
        match self {
            ForwardedService::Https => "https",
            ForwardedService::Http => "http",
            ForwardedService::Rtsp => "rtsp",
        }
    }

    /// Whether credentials cross the network in clear over this service (paper §4.1, §4.4).
    pub fn plaintext(self) -> bool {
        !matches!(self, ForwardedService::Https)
    }
}

impl UpnpConfig {
    /// The services to forward with their configured external ports (0 = same as internal),
    /// given whether Connection is HTTPS. Empty while auto port forwarding is off.
    pub fn forwarded(&self, https_connection: bool) -> Vec<(ForwardedService, u16)> {
        if !self.auto_port_forwarding {
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.forward_https && https_connection {
            out.push((ForwardedService::Https, self.https_external_port));
        }
        if self.forward_http {
            out.push((ForwardedService::Http, self.http_external_port));
        }
        if self.forward_rtsp {
            out.push((ForwardedService::Rtsp, self.rtsp_external_port));
        }
        out
    }

    /// Whether a plain-text service (HTTP with Connection HTTP, or RTSP) is forwarded: the
    /// exposure `camward audit` reports as high.
    pub fn forwards_plaintext(&self, https_connection: bool) -> bool {
        self.forwarded(https_connection)
            .iter()
            .any(|(s, _)| match s {
                ForwardedService::Http => !https_connection,
                other => other.plaintext(),
            })
    }

    /// The warnings that need `https.connection`; called by `Config::warnings`.
    pub fn exposure_warnings(&self, at: &str, https_connection: bool, out: &mut Vec<Warning>) {
        if !self.auto_port_forwarding {
            return;
        }
        out.push(Warning::new(
            join(at, "auto_port_forwarding"),
            "upnp.on",
            "UPnP auto port forwarding is on: the router forwards Internet traffic to this camera",
        ));
        let forwarded = self.forwarded(https_connection);
        if forwarded.is_empty() {
            out.push(Warning::new(
                join(at, "forward_https"),
                "upnp.nothing_forwarded",
                "UPnP auto port forwarding is on but no service is forwarded (HTTPS is forwarded only while Connection is HTTPS)",
            ));
        }
        for (s, _) in forwarded {
            let (field, rule, message) = match s {
                ForwardedService::Http if !https_connection => (
                    "forward_http",
                    "upnp.plain_http",
                    "plain HTTP is forwarded from the Internet: user names, Digest responses and video cross it unencrypted",
                ),
                ForwardedService::Rtsp => (
                    "forward_rtsp",
                    "upnp.rtsp",
                    "RTSP is forwarded from the Internet: credentials (Digest only) and video cross it unencrypted",
                ),
                _ => continue,
            };
            out.push(Warning::new(join(at, field), rule, message));
        }
    }
}

impl Validate for UpnpConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        if !(MIN_LEASE_SECS..=MAX_LEASE_SECS).contains(&self.lease_secs) {
            err(
                out,
                join(at, "lease_secs"),
                "upnp.lease_secs.range",
                format!("between {MIN_LEASE_SECS} and {MAX_LEASE_SECS} seconds"),
            );
        }
        // Two services on one external port would make the second mapping fail (or replace
        // the first); refuse it here rather than at the router.
        let ports = [
            (
                "https_external_port",
                self.forward_https,
                self.https_external_port,
            ),
            (
                "http_external_port",
                self.forward_http,
                self.http_external_port,
            ),
            (
                "rtsp_external_port",
                self.forward_rtsp,
                self.rtsp_external_port,
            ),
        ];
        for (i, (field, on, port)) in ports.iter().enumerate() {
            if *on && *port != 0 && ports[..i].iter().any(|(_, o, p)| *o && *p == *port) {
                err(
                    out,
                    join(at, field),
                    "upnp.external_port.duplicate",
                    format!("external port {port} is already used by another forwarded service"),
                );
            }
        }
    }
}

impl Audit for UpnpConfig {
    /// Auto port forwarding (§4.1): on at all is a finding (the router lets the Internet in); on
    /// with plain HTTP (Connection HTTP) or RTSP forwarded is a high one, since credentials and
    /// video then cross the Internet unencrypted (§4.4).
    fn audit(&self, at: &str, cx: &Context<'_>, out: &mut Vec<Finding>) {
        if !self.auto_port_forwarding {
            return;
        }
        let https = cx.config.https.enabled();
        let why = "UPnP auto port forwarding makes the camera reachable from the Internet, so it must be off unless access from outside is truly wanted.";
        if self.forwards_plaintext(https) {
            let plain: Vec<&str> = self
                .forwarded(https)
                .into_iter()
                .filter(|(s, _)| {
                    *s == ForwardedService::Rtsp || (*s == ForwardedService::Http && !https)
                })
                .map(|(s, _)| match s {
                    ForwardedService::Rtsp => "RTSP",
                    _ => "plain HTTP",
                })
                .collect();
            out.push(Finding::new(
                "upnp.plaintext_forwarded",
                Severity::High,
                "§4.1",
                format!(
                    "UPnP forwards {} from the Internet: user names, Digest responses and video cross it unencrypted",
                    plain.join(" and ")
                ),
                why,
                Fix::set(join(at, "auto_port_forwarding"), false.into()),
            ));
        } else {
            out.push(Finding::new(
                "upnp.on",
                Severity::Medium,
                "§4.1",
                "UPnP auto port forwarding is on: the router forwards Internet traffic to this camera",
                why,
                Fix::set(join(at, "auto_port_forwarding"), false.into()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::tests_util::errors_of;
    use serde_json::json;

    fn warnings(c: &UpnpConfig, https: bool) -> Vec<Warning> {
        let mut out = Vec::new();
        c.exposure_warnings("upnp", https, &mut out);
        out
    }

    #[test]
    fn default_is_off_forwards_nothing_and_warns_nothing() {
        let c = UpnpConfig::default();
        assert!(!c.auto_port_forwarding);
        assert!(c.forwarded(true).is_empty());
        assert!(errors_of(&c, "upnp").is_empty());
        assert!(warnings(&c, true).is_empty());
        assert!(
            !Config::default()
                .warnings()
                .iter()
                .any(|w| w.rule.starts_with("upnp."))
        );
    }

    #[test]
    fn on_forwards_https_only_while_https_is_the_connection() {
        let c = UpnpConfig {
            auto_port_forwarding: true,
            ..UpnpConfig::default()
        };
        assert_eq!(c.forwarded(true), vec![(ForwardedService::Https, 0)]);
        assert!(c.forwarded(false).is_empty());
        assert!(!c.forwards_plaintext(true));
        let rules: Vec<_> = warnings(&c, false).into_iter().map(|w| w.rule).collect();
        assert_eq!(rules, ["upnp.on", "upnp.nothing_forwarded"]);
    }

    #[test]
    fn plain_http_and_rtsp_are_warned_and_count_as_plaintext() {
        let c = UpnpConfig {
            auto_port_forwarding: true,
            forward_http: true,
            forward_rtsp: true,
            ..UpnpConfig::default()
        };
        let rules: Vec<_> = warnings(&c, false).into_iter().map(|w| w.rule).collect();
        assert_eq!(rules, ["upnp.on", "upnp.plain_http", "upnp.rtsp"]);
        assert!(c.forwards_plaintext(false));
        // With Connection HTTPS, plain HTTP only redirects: RTSP is still plain text.
        let rules: Vec<_> = warnings(&c, true).into_iter().map(|w| w.rule).collect();
        assert_eq!(rules, ["upnp.on", "upnp.rtsp"]);
        let http_only = UpnpConfig {
            forward_rtsp: false,
            ..c
        };
        assert!(!http_only.forwards_plaintext(true));
        assert!(http_only.forwards_plaintext(false));
    }

    #[test]
    fn lease_range_and_duplicate_external_ports_are_refused() {
        let e = Config::default()
            .apply_merge_patch(&json!({"upnp": {"lease_secs": 5}}))
            .unwrap_err();
        assert_eq!(e[0].rule, "upnp.lease_secs.range");
        assert_eq!(e[0].path, "upnp.lease_secs");
        let e = Config::default()
            .apply_merge_patch(&json!({"upnp": {"forward_http": true, "forward_rtsp": true,
                "http_external_port": 8080, "rtsp_external_port": 8080}}))
            .unwrap_err();
        assert_eq!(e[0].rule, "upnp.external_port.duplicate");
        assert_eq!(e[0].path, "upnp.rtsp_external_port");
        // The same number on a service that is not forwarded is no conflict.
        assert!(
            Config::default()
                .apply_merge_patch(&json!({"upnp": {"forward_http": true,
                    "http_external_port": 8080, "rtsp_external_port": 8080}}))
                .is_ok()
        );
    }

    #[test]
    fn audit_is_silent_while_off_medium_when_on_high_with_plaintext_forwarded() {
        let facts = crate::audit::Facts::default();
        let ids = |c: &Config| {
            c.audit(&facts)
                .findings
                .into_iter()
                .filter(|f| f.id.starts_with("upnp."))
                .map(|f| (f.id, f.severity))
                .collect::<Vec<_>>()
        };
        assert!(ids(&Config::default()).is_empty());
        let https_on = Config::default()
            .apply_merge_patch(
                &json!({"https": {"connection": "https"}, "upnp": {"auto_port_forwarding": true}}),
            )
            .unwrap();
        assert_eq!(ids(&https_on), [("upnp.on".to_owned(), Severity::Medium)]);
        for patch in [
            json!({"upnp": {"forward_rtsp": true}}),
            json!({"https": {"connection": "http"}, "upnp": {"forward_http": true}}),
        ] {
            let c = https_on.apply_merge_patch(&patch).unwrap();
            let r = c.audit(&facts);
            let f = r
                .findings
                .iter()
                .find(|f| f.id == "upnp.plaintext_forwarded")
                .unwrap();
            assert_eq!(f.severity, Severity::High);
            assert!(!r.passed);
            // Its fix switches forwarding off, which removes every UPnP finding.
            assert_eq!(f.fix.path.as_deref(), Some("upnp.auto_port_forwarding"));
            let fixed = c
                .apply_merge_patch(&json!({"upnp": {"auto_port_forwarding": false}}))
                .unwrap();
            assert!(ids(&fixed).is_empty());
        }
        // With Connection HTTPS, forwarding the HTTP port (which only redirects) is not plaintext.
        let redirect = https_on
            .apply_merge_patch(&json!({"upnp": {"forward_http": true}}))
            .unwrap();
        assert_eq!(ids(&redirect), [("upnp.on".to_owned(), Severity::Medium)]);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = Config::default()
            .apply_merge_patch(&json!({"upnp": {"forward_telnet": true}}))
            .unwrap_err();
        assert_eq!(e[0].rule, "unknown_field");
    }
}
