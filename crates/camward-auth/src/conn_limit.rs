//! Connections per client address, shared by the HTTP and RTSP listeners: one client (a slowloris,
//! a buggy VMS in a reconnect loop) cannot take every connection slot of the camera and lock out
//! the others. Addresses are grouped like the lockout's (an IPv4 address, an IPv6 /64).

use crate::lockout::client_key;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Default connections one address may hold on one listener. A VMS pulling two streams, a browser
/// with MJPEG and the UI, and an FTP client together stay far below it; the load benchmarks, which
/// run thousands of viewers from one loopback address, raise it (`--max-connections-per-address`).
pub const DEFAULT_PER_ADDRESS: usize = 64;

/// Counts open connections per client; `max == 0` means no limit.
#[derive(Debug)]
pub struct PerAddressLimit {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// Held for the life of one connection; gives its slot back when dropped.
#[derive(Debug)]
pub struct AddressPermit {
    limit: Option<Arc<PerAddressLimit>>,
    key: IpAddr,
}

impl PerAddressLimit {
    pub fn new(max: usize) -> Arc<PerAddressLimit> {
        Arc::new(PerAddressLimit {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot for a connection from `peer`, or `None` when that client holds `max` already.
    pub fn try_acquire(self: &Arc<Self>, peer: IpAddr) -> Option<AddressPermit> {
        let key = client_key(peer);
        if self.max == 0 {
            return Some(AddressPermit { limit: None, key });
        }
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressPermit {
            limit: Some(self.clone()),
            key,
        })
    }

    /// Connections `peer`'s client holds now.
    pub fn open(&self, peer: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&client_key(peer)).copied().unwrap_or(0)
    }
}

impl Drop for AddressPermit {
    fn drop(&mut self) {
        let Some(limit) = &self.limit else { return };
        let mut open = limit.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                // The table holds only clients with open connections: bounded by the listener's
                // own connection cap.
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn each_client_gets_at_most_max_and_slots_come_back() {
        let l = PerAddressLimit::new(2);
        let a = l.try_acquire(ip("127.0.0.1")).unwrap();
        let _b = l.try_acquire(ip("::ffff:127.0.0.1")).unwrap();
        assert!(l.try_acquire(ip("127.0.0.1")).is_none());
        assert!(l.try_acquire(ip("127.0.0.2")).is_some());
        drop(a);
        assert_eq!(l.open(ip("127.0.0.1")), 1);
        assert!(l.try_acquire(ip("127.0.0.1")).is_some());
    }

    #[test]
    fn ipv6_clients_share_their_64_and_zero_means_unlimited() {
        let l = PerAddressLimit::new(1);
        let _a = l.try_acquire(ip("2001:db8::1")).unwrap();
        assert!(l.try_acquire(ip("2001:db8::2")).is_none());
        let u = PerAddressLimit::new(0);
        let held: Vec<_> = (0..1000)
            .map(|_| u.try_acquire(ip("127.0.0.1")).unwrap())
            .collect();
        assert_eq!(held.len(), 1000);
    }

    #[test]
    fn the_table_forgets_clients_without_connections() {
        let l = PerAddressLimit::new(4);
        for i in 0..100u32 {
            drop(l.try_acquire(IpAddr::V4(i.into())).unwrap());
        }
        assert!(l.open.lock().unwrap().is_empty());
    }
}
