//! The `ftp_server` section: "FTP access to camera" of the Network screen (paper §4.2). Forbid by
//! default, so no port is open; when allowed, a read-only FTP(S) server over the recordings.

use crate::audit::{Audit, Context, Finding, Fix, Severity};
use crate::checks::err;
use crate::{FieldError, Validate, Warning, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `ftp_server` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FtpServerConfig {
    /// Let FTP clients download recordings from the camera. Forbid (the default) keeps the port
    /// closed.
    #[schemars(title = "FTP access to camera", extend("x-true" = "Allow", "x-false" = "Forbid"))]
    pub enabled: bool,
    /// Control port of the camera's FTP server; a port given on the daemon's command line takes
    /// precedence.
    #[schemars(title = "FTP port", range(min = 1, max = 65535))]
    pub port: u16,
    /// Refuse plain FTP: clients must start TLS (AUTH TLS) before logging in. Always in force
    /// while the connection is HTTPS.
    #[schemars(title = "Require FTPS")]
    pub ftps_required: bool,
    /// First port of the passive data range (1024 or above); open a firewall for exactly this
    /// range.
    #[schemars(title = "Passive ports from", range(min = 1024, max = 65535))]
    pub passive_port_min: u16,
    /// Last port of the passive data range (at most 1000 ports in the range).
    #[schemars(title = "Passive ports to", range(min = 1024, max = 65535))]
    pub passive_port_max: u16,
}

impl Default for FtpServerConfig {
    fn default() -> Self {
        FtpServerConfig {
            enabled: false,
            port: 21,
            ftps_required: false,
            passive_port_min: 50_000,
            passive_port_max: 50_019,
        }
    }
}

impl FtpServerConfig {
    /// Whether FTPS is required, given whether HTTPS is the device's connection
    /// (`https.connection == "https"`): a device that insists on HTTPS must not hand out
    /// the same passwords over plain FTP.
    pub fn ftps_required_with(&self, https_connection: bool) -> bool {
        self.ftps_required || https_connection
    }

    /// The plain-FTP warning; `https_connection`: whether `https.connection == "https"` (FTPS
    /// then required). Called by `Config::warnings`, which sees both sections.
    pub fn plaintext_warning(&self, at: &str, https_connection: bool, out: &mut Vec<Warning>) {
        if self.enabled && !self.ftps_required_with(https_connection) {
            out.push(Warning::new(
                join(at, "ftps_required"),
                "ftp_server.plaintext",
                "FTP access is allowed without TLS: user names, passwords and recordings can cross the network in clear",
            ));
        }
    }
}

impl Validate for FtpServerConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        if self.port == 0 {
            err(
                out,
                join(at, "port"),
                "ftp_server.port.range",
                "between 1 and 65535",
            );
        }
        if self.passive_port_min < 1024 || self.passive_port_min > self.passive_port_max {
            err(
                out,
                join(at, "passive_port_min"),
                "ftp_server.passive.range",
                "passive ports: 1024 ≤ min ≤ max ≤ 65535",
            );
        } else if self.passive_port_max - self.passive_port_min >= 1000 {
            err(
                out,
                join(at, "passive_port_max"),
                "ftp_server.passive.size",
                "at most 1000 passive ports",
            );
        }
    }
}

impl Audit for FtpServerConfig {
    /// "FTP access to camera" (§4.2): on at all is a finding (one more open service, §3.5); on
    /// without FTPS is a high one. FTPS is also required whenever Connection is HTTPS.
    fn audit(&self, at: &str, cx: &Context<'_>, out: &mut Vec<Finding>) {
        if !self.enabled {
            return;
        }
        let plain = !self.ftps_required_with(cx.config.https.enabled());
        out.push(Finding::new(
            "ftp_server.on",
            if plain {
                Severity::High
            } else {
                Severity::Low
            },
            "§4.2",
            if plain {
                "FTP access to the camera is allowed, plain FTP included: user names, passwords and recordings can cross the network in clear"
            } else {
                "FTP access to the camera is allowed (FTPS only)"
            },
            "FTP is not encrypted and every active service is a platform for attacks, so the FTP server should be Forbid when it is not used.",
            Fix::set(join(at, "enabled"), false.into()),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_util::errors_of;

    fn warnings(s: &FtpServerConfig, https: bool) -> Vec<Warning> {
        let mut out = Vec::new();
        s.plaintext_warning("ftp_server", https, &mut out);
        out
    }

    #[test]
    fn default_is_forbid_and_valid() {
        let srv = FtpServerConfig::default();
        assert!(!srv.enabled);
        assert!(errors_of(&srv, "ftp_server").is_empty());
        assert!(warnings(&srv, false).is_empty());
    }

    #[test]
    fn plaintext_warns_unless_https_forces_ftps() {
        let srv = FtpServerConfig {
            enabled: true,
            ..FtpServerConfig::default()
        };
        assert_eq!(warnings(&srv, false).len(), 1);
        assert!(warnings(&srv, true).is_empty(), "HTTPS forces FTPS");
    }
}
