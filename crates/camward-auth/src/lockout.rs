//! Brute-force protection: after 8 failed logins from one address within 30 s, that address is
//! refused for a back-off that doubles per lockout up to 10 minutes. Memory is bounded.

use crate::host::canonical;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failures: usize,
    pub window: Duration,
    /// Length of the first lockout; each further one doubles, up to `max_lock`.
    pub base_lock: Duration,
    pub max_lock: Duration,
    /// After this long without failures an address starts again from the first lockout length.
    pub forget_after: Duration,
    /// Most addresses tracked at once.
    pub capacity: usize,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 8,
            window: Duration::from_secs(30),
            base_lock: Duration::from_secs(30),
            max_lock: Duration::from_secs(600),
            forget_after: Duration::from_secs(3600),
            capacity: 4096,
        }
    }
}

#[derive(Debug)]
struct Entry {
    failures: Vec<Instant>,
    locked_until: Option<Instant>,
    strikes: u32,
    last: Instant,
}

/// What a failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureEffect {
    Counted,
    /// This failure started a lockout of the given length.
    Locked(Duration),
}

#[derive(Debug)]
pub struct Lockout {
    policy: LockoutPolicy,
    entries: HashMap<IpAddr, Entry>,
}

/// Addresses are grouped per client: one IPv4 address, or one IPv6 /64 (a single host usually owns
/// a whole /64, so counting per /128 would let it rotate addresses for free).
fn key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let mut s = v6.segments();
            s[4..].fill(0);
            IpAddr::V6(s.into())
        }
        v4 => v4,
    }
}

impl Lockout {
    pub fn new(policy: LockoutPolicy) -> Self {
        Lockout {
            policy,
            entries: HashMap::new(),
        }
    }

    /// Remaining lockout of `ip`, if any.
    pub fn locked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let until = self.entries.get(&key(ip))?.locked_until?;
        (until > now).then(|| until - now)
    }

    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) -> FailureEffect {
        let k = key(ip);
        if !self.entries.contains_key(&k) {
            self.make_room(now);
        }
        let p = self.policy;
        let e = self.entries.entry(k).or_insert(Entry {
            failures: Vec::new(),
            locked_until: None,
            strikes: 0,
            last: now,
        });
        if now.duration_since(e.last) > p.forget_after {
            e.strikes = 0;
        }
        e.last = now;
        e.failures.retain(|t| now.duration_since(*t) <= p.window);
        e.failures.push(now);
        if e.failures.len() >= p.max_failures {
            e.failures.clear();
            e.strikes = e.strikes.saturating_add(1);
            let factor = 1u32.checked_shl(e.strikes - 1).unwrap_or(u32::MAX);
            let lock = p.base_lock.saturating_mul(factor).min(p.max_lock);
            e.locked_until = Some(now + lock);
            return FailureEffect::Locked(lock);
        }
        FailureEffect::Counted
    }

    /// A success clears the failure count (not the strike count, so a guesser who sometimes
    /// succeeds with a known account still backs off).
    pub fn record_success(&mut self, ip: IpAddr) {
        if let Some(e) = self.entries.get_mut(&key(ip)) {
            e.failures.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keeps the table under capacity: first drop entries that are neither locked nor recent,
    /// then, if an attacker fills it with locked addresses, the least recently active entry.
    fn make_room(&mut self, now: Instant) {
        if self.entries.len() < self.policy.capacity {
            return;
        }
        let p = self.policy;
        self.entries.retain(|_, e| {
            e.locked_until.is_some_and(|u| u > now)
                || now.duration_since(e.last) <= p.window.max(p.forget_after.min(p.window * 4))
        });
        while self.entries.len() >= p.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last)
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => self.entries.remove(&k),
                None => break,
            };
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
    fn eight_failures_within_window_lock_the_address_only() {
        let mut l = Lockout::new(LockoutPolicy::default());
        let t = Instant::now();
        for i in 0..7 {
            assert_eq!(
                l.record_failure(ip("127.0.0.1"), t + Duration::from_secs(i)),
                FailureEffect::Counted
            );
        }
        assert!(l.locked(ip("127.0.0.1"), t).is_none());
        assert_eq!(
            l.record_failure(ip("127.0.0.1"), t + Duration::from_secs(7)),
            FailureEffect::Locked(Duration::from_secs(30))
        );
        assert!(
            l.locked(ip("127.0.0.1"), t + Duration::from_secs(8))
                .is_some()
        );
        assert!(
            l.locked(ip("::ffff:127.0.0.1"), t + Duration::from_secs(8))
                .is_some()
        );
        assert!(
            l.locked(ip("127.0.0.2"), t + Duration::from_secs(8))
                .is_none()
        );
        assert!(
            l.locked(ip("127.0.0.1"), t + Duration::from_secs(38))
                .is_none()
        );
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let mut l = Lockout::new(LockoutPolicy::default());
        let t = Instant::now();
        for i in 0..20 {
            assert_eq!(
                l.record_failure(ip("10.0.0.1"), t + Duration::from_secs(i * 5)),
                FailureEffect::Counted
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        let mut l = Lockout::new(LockoutPolicy::default());
        let mut t = Instant::now();
        let mut locks = Vec::new();
        for _ in 0..7 {
            for _ in 0..8 {
                if let FailureEffect::Locked(d) = l.record_failure(ip("10.0.0.1"), t) {
                    locks.push(d.as_secs());
                }
            }
            t += Duration::from_secs(700);
        }
        assert_eq!(locks, [30, 60, 120, 240, 480, 600, 600]);
    }

    #[test]
    fn ipv6_clients_are_grouped_per_64() {
        let mut l = Lockout::new(LockoutPolicy::default());
        let t = Instant::now();
        for i in 0..8 {
            l.record_failure(ip(&format!("2001:db8::{i}")), t);
        }
        assert!(l.locked(ip("2001:db8::ffff"), t).is_some());
        assert!(l.locked(ip("2001:db8:0:1::1"), t).is_none());
    }

    #[test]
    fn table_is_bounded() {
        let mut l = Lockout::new(LockoutPolicy {
            capacity: 64,
            ..LockoutPolicy::default()
        });
        let t = Instant::now();
        for i in 0..1000u32 {
            l.record_failure(IpAddr::V4(i.into()), t);
        }
        assert!(l.len() <= 64);
    }
}
