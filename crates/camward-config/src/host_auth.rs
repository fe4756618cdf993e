//! Setup › User mng. › Host auth.: the allow-list of IPv4/IPv6 addresses and CIDR networks (paper §3.4).
//! Off by default; when on, every listener refuses peers outside the list before parsing anything.

use crate::audit::{Audit, Context, Finding, Fix, Severity};
use crate::{FieldError, Validate, Warning, join};
use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Bound on the list: every accept walks it, and a camera's site has a handful of networks.
pub const MAX_ALLOW_ENTRIES: usize = 64;

/// The allow-list of every listener (HTTP, HTTPS, RTSP, RTSPS, FTP).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HostAuth {
    /// Only the addresses and networks below may connect to any service of the camera
    /// (IPv4 and IPv6 alike).
    #[schemars(title = "Host auth.")]
    pub enabled: bool,
    /// Single addresses like 192.168.0.100 or 2001:db8::5, or networks in CIDR notation like
    /// 192.168.0.0/24. Kept as written, so they read back unchanged.
    #[schemars(title = "Allowed IP addresses and networks", length(max = 64))]
    pub allow: Vec<String>,
}

/// Parses one allow-list entry; a bare address is a /32 or /128 network.
pub fn parse_entry(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(addr));
    }
    let net: IpNet = s
        .parse()
        .map_err(|_| format!("`{s}` is neither an IP address nor a CIDR network"))?;
    if net.trunc() != net {
        // 192.168.0.5/24 is most likely a typo for either the host or the network: make the user say which.
        return Err(format!(
            "`{s}` has host bits set: write the network `{}` or the single address",
            net.trunc()
        ));
    }
    Ok(net)
}

impl HostAuth {
    /// The allow-list as networks; entries that fail to parse are skipped (validation refuses them first).
    pub fn networks(&self) -> Vec<IpNet> {
        self.allow
            .iter()
            .filter_map(|s| parse_entry(s).ok())
            .collect()
    }
}

impl Validate for HostAuth {
    fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        let allow = join(at, "allow");
        if self.allow.len() > MAX_ALLOW_ENTRIES {
            errors.push(FieldError::new(
                &allow,
                "host_auth.allow.too_many",
                format!("at most {MAX_ALLOW_ENTRIES} entries; use CIDR networks to cover ranges"),
            ));
        }
        for (i, entry) in self.allow.iter().enumerate() {
            if let Err(message) = parse_entry(entry) {
                errors.push(FieldError::new(
                    format!("{allow}[{i}]"),
                    "host_auth.allow.invalid",
                    message,
                ));
            }
        }
        if self.enabled && self.allow.is_empty() {
            errors.push(FieldError::new(
                &allow,
                "host_auth.allow.empty",
                "host authentication is on with an empty allow-list: it would refuse every client",
            ));
        }
    }

    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        if !self.enabled {
            out.push(Warning::new(
                join(at, "enabled"),
                "host_auth.off",
                "host authentication is off: any address may connect",
            ));
        }
    }
}

impl Audit for HostAuth {
    fn audit(&self, at: &str, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        if !self.enabled {
            out.push(Finding::new(
                "host_auth.off",
                Severity::Medium,
                "§3.4",
                "no IP address filter: every network may reach the login prompts",
                "When the addresses or the network of the clients are known, access from every other network can be blocked by host authentication.",
                Fix::example(
                    at,
                    serde_json::json!({"enabled": true, "allow": ["192.168.0.0/24"]}),
                    "set host_auth.enabled to true and host_auth.allow to the clients' addresses or \
                     networks (IPv4 and IPv6, CIDR), e.g. [\"192.168.0.0/24\"]",
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_accept_addresses_and_networks_of_both_families() {
        assert_eq!(
            parse_entry("192.168.0.100").unwrap().to_string(),
            "192.168.0.100/32"
        );
        assert_eq!(
            parse_entry("192.168.0.0/24").unwrap().to_string(),
            "192.168.0.0/24"
        );
        assert_eq!(parse_entry("::1").unwrap().to_string(), "::1/128");
        assert_eq!(
            parse_entry("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
    }

    #[test]
    fn entries_with_host_bits_or_garbage_are_refused() {
        assert!(parse_entry("192.168.0.5/24").is_err());
        assert!(parse_entry("example.com").is_err());
        assert!(parse_entry("10.0.0.0/33").is_err());
    }

    #[test]
    fn enabled_with_empty_list_is_refused() {
        let mut e = Vec::new();
        HostAuth {
            enabled: true,
            allow: vec![],
        }
        .validate("host_auth", &mut e);
        assert_eq!(e[0].rule, "host_auth.allow.empty");
    }
}
