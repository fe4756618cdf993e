//! Host authentication (paper §3.4): the allow-list check every listener runs on accept.
//! IPv4-mapped IPv6 peers are matched as IPv4; native IPv6 peers are filtered like any other.

use camward_config::HostAuth;
use ipnet::{IpNet, Ipv4Net};
use std::net::IpAddr;

/// The address as the filter sees it: `::ffff:192.0.2.1` (a v4 client on a dual-stack socket) is
/// `192.0.2.1`, so an IPv4 allow-list entry covers it and an IPv6 one cannot be used to bypass it.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// A compiled allow-list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostFilter {
    enabled: bool,
    nets: Vec<IpNet>,
}

impl HostFilter {
    pub fn from_config(h: &HostAuth) -> Self {
        let nets = h.networks().into_iter().map(canonical_net).collect();
        HostFilter {
            enabled: h.enabled,
            nets,
        }
    }

    /// Whether a peer may connect. Always true when host authentication is off.
    pub fn allows(&self, peer: IpAddr) -> bool {
        if !self.enabled {
            return true;
        }
        let peer = canonical(peer);
        self.nets.iter().any(|n| n.contains(&peer))
    }
}

/// An entry written as an IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) means the IPv4 network.
fn canonical_net(n: IpNet) -> IpNet {
    if let IpNet::V6(v6) = n
        && v6.prefix_len() >= 96
        && let Some(v4) = v6.network().to_ipv4_mapped()
    {
        return IpNet::V4(Ipv4Net::new(v4, v6.prefix_len() - 96).expect("prefix within 0..=32"));
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(list: &[&str]) -> HostFilter {
        HostFilter::from_config(&HostAuth {
            enabled: true,
            allow: list.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn disabled_filter_allows_everyone() {
        assert!(
            HostFilter::from_config(&HostAuth::default()).allows("203.0.113.9".parse().unwrap())
        );
    }

    #[test]
    fn ipv4_addresses_and_networks_match() {
        let f = filter(&["192.168.0.100", "10.1.0.0/16"]);
        assert!(f.allows("192.168.0.100".parse().unwrap()));
        assert!(!f.allows("192.168.0.101".parse().unwrap()));
        assert!(f.allows("10.1.200.3".parse().unwrap()));
        assert!(!f.allows("10.2.0.1".parse().unwrap()));
    }

    #[test]
    fn ipv4_mapped_ipv6_peer_matches_as_ipv4() {
        let f = filter(&["127.0.0.1"]);
        assert!(f.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!f.allows("::ffff:127.0.0.2".parse().unwrap()));
        let f = filter(&["::ffff:10.0.0.0/104"]);
        assert!(f.allows("10.9.9.9".parse().unwrap()));
    }

    #[test]
    fn native_ipv6_is_filtered_not_bypassed() {
        let f = filter(&["127.0.0.1"]);
        assert!(!f.allows("::1".parse().unwrap()));
        let f = filter(&["2001:db8::/32"]);
        assert!(f.allows("2001:db8::7".parse().unwrap()));
        assert!(!f.allows("2001:db9::7".parse().unwrap()));
    }
}
