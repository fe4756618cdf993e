//! MIB-II `interfaces` basics (RFC 2863 ifTable) read from Linux's /sys/class/net: index, name,
//! type, MTU, speed, MAC, admin/oper status and octet counters, for the monitoring system's
//! link view (paper §4.7).

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub index: u32,
    pub name: String,
    /// IANAifType: ethernetCsmacd(6), softwareLoopback(24), other(1).
    pub if_type: i32,
    pub mtu: i32,
    /// bits per second, saturating at Gauge32.
    pub speed: u32,
    pub mac: Vec<u8>,
    pub admin_up: bool,
    pub oper_up: bool,
    pub in_octets: u64,
    pub out_octets: u64,
}

fn read(dir: &Path, f: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(f))
        .ok()
        .map(|s| s.trim().to_owned())
}

fn num(dir: &Path, f: &str) -> Option<u64> {
    read(dir, f)?.parse().ok()
}

/// The interfaces of this host, by ifIndex. Empty where /sys is missing.
pub fn list() -> Vec<Interface> {
    let Ok(rd) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    let mut out: Vec<Interface> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let dir = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let index = u32::try_from(num(&dir, "ifindex")?).ok()?;
            let flags = read(&dir, "flags")
                .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
                .unwrap_or(0);
            let admin_up = flags & 1 != 0;
            let oper = read(&dir, "operstate").unwrap_or_default();
            // Loopback reports "unknown": up when administratively up, as net-snmp shows it.
            let oper_up = oper == "up" || (oper == "unknown" && admin_up);
            let arphrd = num(&dir, "type").unwrap_or(0);
            let if_type = match arphrd {
                1 => 6,
                772 => 24,
                _ => 1,
            };
            let mac = read(&dir, "address")
                .map(|a| {
                    a.split(':')
                        .filter_map(|h| u8::from_str_radix(h, 16).ok())
                        .collect()
                })
                .unwrap_or_default();
            // Mbit/s; reading fails (EINVAL) on virtual links.
            let speed = num(&dir, "speed")
                .map(|m| m.saturating_mul(1_000_000).min(u32::MAX as u64) as u32)
                .unwrap_or(0);
            Some(Interface {
                index,
                name,
                if_type,
                mtu: num(&dir, "mtu").unwrap_or(0).min(i32::MAX as u64) as i32,
                speed,
                mac,
                admin_up,
                oper_up,
                in_octets: num(&dir, "statistics/rx_bytes").unwrap_or(0),
                out_octets: num(&dir, "statistics/tx_bytes").unwrap_or(0),
            })
        })
        .collect();
    out.sort_by_key(|i| i.index);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_is_listed_as_software_loopback() {
        let ifs = super::list();
        if let Some(lo) = ifs.iter().find(|i| i.name == "lo") {
            assert_eq!(lo.if_type, 24);
            assert!(lo.admin_up);
            assert!(lo.oper_up);
        }
    }
}
