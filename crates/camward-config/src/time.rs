//! The `time` section (Setup › Network › Advanced › NTP, the paper's NTP tab beside §4.5–§4.7):
//! time zone, manual time or synchronisation with NTP servers (SNTP, optionally authenticated
//! with NTS, RFC 8915). Recording and signature timestamps (§3.9) are only as good as this clock.
//!
//! The time zone is a POSIX TZ string (IEEE 1003.1 §8.3, `CET-1CEST,M3.5.0,M10.5.0/3`), the form
//! ONVIF's SetSystemDateAndTime carries: it is self-contained (a camera board needs no tz
//! database, and a tzdata update never changes a configured camera's local time behind the
//! installer's back). camward-time parses it; this section checks its grammar.

use crate::audit::{Audit, Context, Finding, Fix, Severity};
use crate::checks::{err, validate_ca, validate_host};
use crate::{FieldError, Validate, Warning, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most NTP servers (the paper's NTP tab has one; ONVIF SetNTP may send several).
pub const MAX_SERVERS: usize = 4;

/// "Time adjustment" of the NTP tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeMode {
    /// "Manual setting": the clock is set through `PUT /api/v1/time` (or ONVIF
    /// SetSystemDateAndTime); camward sends no NTP traffic.
    #[default]
    #[schemars(title = "Manual setting")]
    Manual,
    /// "Synchronization with NTP server": the servers below are polled.
    #[schemars(title = "Synchronization with NTP server")]
    Ntp,
}

/// One NTP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NtpServer {
    /// Host name or IP address of the NTP server.
    #[schemars(title = "NTP server address")]
    pub host: String,
    /// UDP port of the NTP server (123).
    #[schemars(title = "NTP port", range(min = 1, max = 65535))]
    pub port: u16,
    /// Authenticate the time with NTS (RFC 8915): a TLS 1.3 key exchange with the server's
    /// NTS-KE port, then NTP with AEAD-protected extension fields. The NTS-KE server may name
    /// another NTP host and port, which then replace `host`/`port`.
    #[schemars(title = "Authenticated time (NTS)")]
    pub nts: bool,
    /// TCP port of the server's NTS key exchange (TLS 1.3, usually 4460).
    #[schemars(title = "NTS-KE port", range(min = 1, max = 65535))]
    pub nts_ke_port: u16,
    /// PEM of the CA that signed the NTS-KE server's certificate; empty = the system's roots.
    /// When set, only this CA is trusted.
    #[schemars(title = "CA certificate of the NTS server")]
    pub ca_certificate: String,
}

impl Default for NtpServer {
    fn default() -> Self {
        NtpServer {
            host: String::new(),
            port: 123,
            nts: false,
            nts_ke_port: 4460,
            ca_certificate: String::new(),
        }
    }
}

/// The `time` section (Setup › Network › Advanced › NTP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TimeConfig {
    /// Manual (default: no NTP traffic) or synchronisation with the NTP servers below.
    #[schemars(title = "Time adjustment")]
    pub mode: TimeMode,
    /// "Time zone" as a POSIX TZ string: `UTC0`, `CET-1CEST,M3.5.0,M10.5.0/3`,
    /// `EST5EDT,M3.2.0,M11.1.0`. Note the POSIX sign: `CET-1` is one hour east of UTC.
    #[schemars(title = "Time zone", length(min = 1, max = 64))]
    pub timezone: String,
    /// NTP servers, queried in this order; the first that answers validly sets the time.
    #[schemars(title = "NTP servers", length(max = 4))]
    pub servers: Vec<NtpServer>,
    /// "Time adjustment interval": seconds between synchronisations. After a failure camward
    /// retries sooner (16 s, doubling up to this interval).
    #[schemars(title = "Time adjustment interval", range(min = 16, max = 86400), extend("x-unit" = "s"))]
    pub poll_interval_secs: u32,
    /// How long one server may take to answer before it is reported unreachable.
    #[schemars(title = "Answer timeout", range(min = 100, max = 10000), extend("x-unit" = "ms"))]
    pub timeout_ms: u32,
}

impl Default for TimeConfig {
    fn default() -> Self {
        TimeConfig {
            mode: TimeMode::Manual,
            timezone: "UTC0".into(),
            servers: Vec::new(),
            poll_interval_secs: 3600,
            timeout_ms: 2000,
        }
    }
}

impl Validate for TimeConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        if let Err(m) = check_posix_tz(&self.timezone) {
            err(
                out,
                join(at, "timezone"),
                "time.timezone.invalid",
                format!("a POSIX TZ string like UTC0 or CET-1CEST,M3.5.0,M10.5.0/3: {m}"),
            );
        }
        let spath = join(at, "servers");
        if self.servers.len() > MAX_SERVERS {
            err(
                out,
                spath.clone(),
                "time.servers.count",
                format!("at most {MAX_SERVERS} NTP servers"),
            );
        }
        if self.mode == TimeMode::Ntp && self.servers.is_empty() {
            err(
                out,
                spath.clone(),
                "time.servers.empty",
                "add at least one NTP server to synchronise with",
            );
        }
        for (i, s) in self.servers.iter().enumerate() {
            let p = format!("{spath}[{i}]");
            validate_host(&s.host, &join(&p, "host"), true, out);
            if s.port == 0 {
                err(
                    out,
                    join(&p, "port"),
                    "time.port.range",
                    "between 1 and 65535",
                );
            }
            if s.nts_ke_port == 0 {
                err(
                    out,
                    join(&p, "nts_ke_port"),
                    "time.port.range",
                    "between 1 and 65535",
                );
            }
            validate_ca(&s.ca_certificate, &join(&p, "ca_certificate"), out);
        }
        if !(16..=86_400).contains(&self.poll_interval_secs) {
            err(
                out,
                join(at, "poll_interval_secs"),
                "time.poll_interval.range",
                "between 16 s and 86400 s (24 h)",
            );
        }
        if !(100..=10_000).contains(&self.timeout_ms) {
            err(
                out,
                join(at, "timeout_ms"),
                "time.timeout.range",
                "between 100 ms and 10000 ms",
            );
        }
    }

    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        if self.mode != TimeMode::Ntp {
            return;
        }
        for (i, s) in self.servers.iter().enumerate() {
            if !s.nts {
                out.push(Warning::new(
                    format!("{}[{i}].nts", join(at, "servers")),
                    "time.ntp.unauthenticated",
                    "time from this server is not authenticated (NTS off): anyone on the path can shift the clock, and with it recording and signature timestamps",
                ));
            }
        }
    }
}

impl Audit for TimeConfig {
    fn audit(&self, at: &str, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        if self.mode != TimeMode::Ntp {
            return;
        }
        for (i, s) in self.servers.iter().enumerate().filter(|(_, s)| !s.nts) {
            out.push(
                Finding::new(
                    "time.ntp.unauthenticated",
                    Severity::Medium,
                    "§3.9",
                    format!("the time from NTP server {} is not authenticated (NTS off)", s.host),
                    "Alteration detection proves when a picture was taken only as well as the camera's clock is right; anyone on the path to an unauthenticated NTP server can move that clock.",
                    Fix::example(
                        format!("{}[{i}].nts", join(at, "servers")),
                        true.into(),
                        "use a server that offers NTS (RFC 8915) and set nts = true (and its ca_certificate if a private CA signed it)",
                    ),
                )
                .about(s.host.clone()),
            );
        }
    }
}

/// Checks the grammar of a POSIX TZ string (IEEE 1003.1 §8.3): `std offset [dst [offset]
/// [,rule,rule]]`, names of 3+ letters or `<…>` quoted, offsets `[+-]hh[:mm[:ss]]` up to 24 h,
/// rules `Jn`, `n` or `Mm.w.d` with an optional `/time`. camward-time evaluates it.
pub fn check_posix_tz(tz: &str) -> Result<(), String> {
    if tz.is_empty() || tz.len() > 64 {
        return Err("1–64 characters".into());
    }
    let mut p = Cursor {
        s: tz.as_bytes(),
        i: 0,
    };
    p.name()?;
    p.offset(24)?;
    if p.done() {
        return Ok(());
    }
    p.name()?;
    if !p.done() && p.peek() != Some(b',') {
        p.offset(24)?;
    }
    if p.done() {
        // "EST5EDT" without rules: the C library falls back to a built-in US rule; refuse the
        // guess and ask for the rules.
        return Err("a daylight-saving zone needs its rules (,start[/time],end[/time])".into());
    }
    for _ in 0..2 {
        p.expect(b',')?;
        p.rule()?;
    }
    if p.done() {
        Ok(())
    } else {
        Err(format!("unexpected text at position {}", p.i + 1))
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!(
                "expected '{}' at position {}",
                c as char,
                self.i + 1
            ))
        }
    }
    fn name(&mut self) -> Result<(), String> {
        let start = self.i;
        if self.peek() == Some(b'<') {
            self.i += 1;
            while let Some(c) = self.peek() {
                if c == b'>' {
                    break;
                }
                if !(c.is_ascii_alphanumeric() || c == b'+' || c == b'-') {
                    return Err(format!(
                        "bad character in <name> at position {}",
                        self.i + 1
                    ));
                }
                self.i += 1;
            }
            self.expect(b'>')?;
            if self.i - start - 2 < 3 {
                return Err("a zone name has at least 3 characters".into());
            }
        } else {
            while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                self.i += 1;
            }
            if self.i - start < 3 {
                return Err(format!(
                    "a zone name of at least 3 letters at position {}",
                    start + 1
                ));
            }
        }
        Ok(())
    }
    fn number(&mut self, max: u32) -> Result<u32, String> {
        let start = self.i;
        let mut n: u32 = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            n = n.saturating_mul(10).saturating_add(u32::from(c - b'0'));
            self.i += 1;
        }
        if self.i == start {
            return Err(format!("expected a number at position {}", start + 1));
        }
        if n > max {
            return Err(format!("{n} is out of range (at most {max})"));
        }
        Ok(n)
    }
    fn offset(&mut self, max_hours: u32) -> Result<(), String> {
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.i += 1;
        }
        self.number(max_hours)?;
        for _ in 0..2 {
            if self.peek() == Some(b':') {
                self.i += 1;
                self.number(59)?;
            }
        }
        Ok(())
    }
    fn rule(&mut self) -> Result<(), String> {
        match self.peek() {
            Some(b'J') => {
                self.i += 1;
                if self.number(365)? == 0 {
                    return Err("Jn counts days from 1".into());
                }
            }
            Some(b'M') => {
                self.i += 1;
                if self.number(12)? == 0 {
                    return Err("months count from 1".into());
                }
                self.expect(b'.')?;
                if self.number(5)? == 0 {
                    return Err("weeks count from 1".into());
                }
                self.expect(b'.')?;
                self.number(6)?;
            }
            _ => {
                self.number(365)?;
            }
        }
        if self.peek() == Some(b'/') {
            self.i += 1;
            // RFC 8536 extends the rule time to ±167 h.
            self.offset(167)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_util::{errors_of, warnings_of};

    #[test]
    fn default_is_manual_utc_without_traffic() {
        let c = TimeConfig::default();
        assert_eq!(c.mode, TimeMode::Manual);
        assert!(c.servers.is_empty());
        assert!(errors_of(&c, "time").is_empty());
        assert!(warnings_of(&c, "time").is_empty());
    }

    #[test]
    fn posix_tz_strings_of_real_zones_are_accepted() {
        for tz in [
            "UTC0",
            "CET-1CEST,M3.5.0,M10.5.0/3",
            "EST5EDT,M3.2.0,M11.1.0",
            "JST-9",
            "<+0530>-5:30",
            "IST-5:30",
            "NZST-12NZDT,M9.5.0,M4.1.0/3",
            "AEST-10AEDT,M10.1.0,M4.1.0/3",
            "<-03>3",
            "WART4WARST,J1/0,J365/25",
            "XXX3YYY,0/0,365/25",
        ] {
            assert_eq!(check_posix_tz(tz), Ok(()), "{tz}");
        }
    }

    #[test]
    fn malformed_time_zones_are_refused_with_a_reason() {
        for tz in [
            "",
            "Europe/Berlin",
            "CET",
            "UT0",
            "CET-25",
            "EST5EDT",
            "CET-1CEST,M13.5.0,M10.5.0",
            "CET-1CEST,M3.0.0,M10.5.0",
            "CET-1CEST,M3.5.7,M10.5.0",
            "CET-1CEST,M3.5.0",
            "UTC0 ",
            "<AB>0",
        ] {
            assert!(check_posix_tz(tz).is_err(), "{tz}");
        }
        let c = TimeConfig {
            timezone: "Europe/Berlin".into(),
            ..TimeConfig::default()
        };
        let e = errors_of(&c, "time");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].path, "time.timezone");
        assert_eq!(e[0].rule, "time.timezone.invalid");
    }

    #[test]
    fn ntp_mode_needs_valid_servers_and_bounded_timing() {
        let c = TimeConfig {
            mode: TimeMode::Ntp,
            poll_interval_secs: 5,
            timeout_ms: 60_000,
            ..TimeConfig::default()
        };
        let rules: Vec<_> = errors_of(&c, "time").into_iter().map(|e| e.rule).collect();
        assert_eq!(
            rules,
            [
                "time.servers.empty",
                "time.poll_interval.range",
                "time.timeout.range"
            ]
        );
        let c = TimeConfig {
            mode: TimeMode::Ntp,
            servers: vec![
                NtpServer {
                    host: "bad host".into(),
                    ..NtpServer::default()
                },
                NtpServer {
                    host: "ntp.example.com".into(),
                    port: 0,
                    ..NtpServer::default()
                },
            ],
            ..TimeConfig::default()
        };
        let e = errors_of(&c, "time");
        assert_eq!(e[0].path, "time.servers[0].host");
        assert_eq!(e[1].path, "time.servers[1].port");
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn unauthenticated_ntp_is_an_audit_finding_per_server() {
        let c = crate::Config::from_value(&serde_json::json!({"time": {"mode": "ntp", "servers": [
            {"host": "192.0.2.1"}, {"host": "nts.example.com", "nts": true}]}}))
        .unwrap();
        let facts = crate::audit::Facts::default();
        let cx = Context {
            config: &c,
            facts: &facts,
        };
        let mut out = Vec::new();
        c.time.audit("time", &cx, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, "time.ntp.unauthenticated");
        assert_eq!(out[0].subject.as_deref(), Some("192.0.2.1"));
        assert_eq!(out[0].fix.path.as_deref(), Some("time.servers[0].nts"));
        let mut out = Vec::new();
        TimeConfig::default().audit("time", &cx, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn unauthenticated_ntp_is_warned() {
        let c = TimeConfig {
            mode: TimeMode::Ntp,
            servers: vec![
                NtpServer {
                    host: "127.0.0.1".into(),
                    ..NtpServer::default()
                },
                NtpServer {
                    host: "nts.example.com".into(),
                    nts: true,
                    ..NtpServer::default()
                },
            ],
            ..TimeConfig::default()
        };
        let w = warnings_of(&c, "time");
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].path, "time.servers[0].nts");
    }
}
