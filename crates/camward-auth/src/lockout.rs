//! Brute-force protection (paper §3.2, §3.3: guessable passwords): failed logins are counted per
//! client address *and* per account name. Eight failures from one address within 30 s lock that
//! address; 24 failures for one account name (from any addresses) within 30 s lock that account —
//! three times the address limit, so one address alone (locked at 8) cannot lock an account, only
//! guessing spread over several can. The account lockout does not apply to addresses where that
//! account logged in successfully within the last week, so a guesser cannot lock the owner (or a
//! VMS recording with that account) out of their own camera. Each lockout doubles the next, up to
//! 10 minutes.
//!
//! A success clears only the failures *of that account*: a guesser who also knows another account
//! (a live-only user) cannot reset the address's count by logging in with it between guesses.
//! Memory is bounded for every table.

use crate::host::canonical;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures from one address within `window` that lock the address.
    pub max_failures: usize,
    /// Failures for one account name within `window` (from any addresses) that lock the account.
    pub account_max_failures: usize,
    pub window: Duration,
    /// Length of the first lockout; each further one doubles, up to `max_lock`.
    pub base_lock: Duration,
    pub max_lock: Duration,
    /// After this long without failures an address starts again from the first lockout length.
    pub forget_after: Duration,
    /// How long a successful login keeps its address exempt from its account's lockout.
    pub trust_for: Duration,
    /// Most addresses (and, separately, account names and remembered successes) tracked at once.
    pub capacity: usize,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 8,
            account_max_failures: 24,
            window: Duration::from_secs(30),
            base_lock: Duration::from_secs(30),
            max_lock: Duration::from_secs(600),
            forget_after: Duration::from_secs(3600),
            trust_for: Duration::from_secs(7 * 24 * 3600),
            capacity: 4096,
        }
    }
}

#[derive(Debug)]
struct Entry {
    /// Recent failures, each with the account name it was for (none when no name was readable).
    failures: Vec<(Instant, Option<String>)>,
    locked_until: Option<Instant>,
    strikes: u32,
    last: Instant,
}

impl Entry {
    fn new(now: Instant) -> Entry {
        Entry {
            failures: Vec::new(),
            locked_until: None,
            strikes: 0,
            last: now,
        }
    }

    fn locked(&self, now: Instant) -> Option<Duration> {
        let until = self.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Counts one failure; `Some(length)` when it reaches `max` and starts a lockout.
    fn fail(
        &mut self,
        p: &LockoutPolicy,
        max: usize,
        account: Option<String>,
        now: Instant,
    ) -> Option<Duration> {
        if now.duration_since(self.last) > p.forget_after {
            self.strikes = 0;
        }
        self.last = now;
        self.failures
            .retain(|(t, _)| now.duration_since(*t) <= p.window);
        self.failures.push((now, account));
        if self.failures.len() < max {
            return None;
        }
        self.failures.clear();
        self.strikes = self.strikes.saturating_add(1);
        let factor = 1u32.checked_shl(self.strikes - 1).unwrap_or(u32::MAX);
        let lock = p.base_lock.saturating_mul(factor).min(p.max_lock);
        self.locked_until = Some(now + lock);
        Some(lock)
    }
}

/// What a failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureEffect {
    Counted,
    /// This failure started a lockout of the client address, of the given length.
    Locked(Duration),
    /// This failure started a lockout of the account name, of the given length.
    AccountLocked(Duration),
}

#[derive(Debug)]
pub struct Lockout {
    policy: LockoutPolicy,
    addresses: HashMap<IpAddr, Entry>,
    accounts: HashMap<String, Entry>,
    /// (account, address) pairs that logged in successfully, with the time: exempt from the
    /// account's lockout for `forget_after`.
    trusted: HashMap<(String, IpAddr), Instant>,
}

/// Addresses are grouped per client: one IPv4 address, or one IPv6 /64 (a single host usually owns
/// a whole /64, so counting per /128 would let it rotate addresses for free).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let mut s = v6.segments();
            s[4..].fill(0);
            IpAddr::V6(s.into())
        }
        v4 => v4,
    }
}

/// Account names are unique ignoring case, so `Admin` and `admin` are one account to count.
fn account_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

impl Lockout {
    pub fn new(policy: LockoutPolicy) -> Self {
        Lockout {
            policy,
            addresses: HashMap::new(),
            accounts: HashMap::new(),
            trusted: HashMap::new(),
        }
    }

    /// Remaining lockout of the address `ip`, if any.
    pub fn locked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        self.addresses.get(&client_key(ip))?.locked(now)
    }

    /// Remaining lockout of `account` for a client at `ip`, if any: none where that account
    /// recently logged in successfully.
    pub fn account_locked(&self, account: &str, ip: IpAddr, now: Instant) -> Option<Duration> {
        let k = account_key(account);
        let d = self.accounts.get(&k)?.locked(now)?;
        let trusted = self
            .trusted
            .get(&(k, client_key(ip)))
            .is_some_and(|t| now.duration_since(*t) <= self.policy.trust_for);
        (!trusted).then_some(d)
    }

    /// Counts a failed login from `ip` for `account` (the name as sent; `None` when the request
    /// had no readable name). An address lockout wins over an account lockout in the answer.
    pub fn record_failure(
        &mut self,
        ip: IpAddr,
        account: Option<&str>,
        now: Instant,
    ) -> FailureEffect {
        let p = self.policy;
        let k = client_key(ip);
        if !self.addresses.contains_key(&k) {
            make_room(&mut self.addresses, &p, now);
        }
        let account = account.map(account_key);
        let by_address = self
            .addresses
            .entry(k)
            .or_insert_with(|| Entry::new(now))
            .fail(&p, p.max_failures, account.clone(), now);
        let by_account = match account {
            Some(a) => {
                if !self.accounts.contains_key(&a) {
                    make_room(&mut self.accounts, &p, now);
                }
                self.accounts
                    .entry(a)
                    .or_insert_with(|| Entry::new(now))
                    .fail(&p, p.account_max_failures, None, now)
            }
            None => None,
        };
        match (by_address, by_account) {
            (Some(d), _) => FailureEffect::Locked(d),
            (None, Some(d)) => FailureEffect::AccountLocked(d),
            (None, None) => FailureEffect::Counted,
        }
    }

    /// A successful login of `account` from `ip`: clears that account's failures (from this
    /// address and its own count), never those of other accounts, and not the strikes, so a
    /// guesser who sometimes succeeds with a known account still backs off.
    pub fn record_success(&mut self, ip: IpAddr, account: &str, now: Instant) {
        let a = account_key(account);
        let k = client_key(ip);
        if let Some(e) = self.addresses.get_mut(&k) {
            e.failures
                .retain(|(_, who)| who.as_deref() != Some(a.as_str()));
        }
        if let Some(e) = self.accounts.get_mut(&a) {
            e.failures.clear();
        }
        let pair = (a, k);
        if !self.trusted.contains_key(&pair) && self.trusted.len() >= self.policy.capacity {
            let horizon = self.policy.trust_for;
            self.trusted
                .retain(|_, t| now.duration_since(*t) <= horizon);
            while self.trusted.len() >= self.policy.capacity {
                let oldest = self
                    .trusted
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => self.trusted.remove(&k),
                    None => break,
                };
            }
        }
        self.trusted.insert(pair, now);
    }

    /// Addresses tracked.
    pub fn len(&self) -> usize {
        self.addresses.len()
    }

    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }
}

/// Keeps a table under capacity: first drop entries that are neither locked nor recent, then, if
/// an attacker fills it with locked entries, the least recently active one.
fn make_room<K: Clone + Eq + std::hash::Hash>(
    entries: &mut HashMap<K, Entry>,
    p: &LockoutPolicy,
    now: Instant,
) {
    if entries.len() < p.capacity {
        return;
    }
    entries.retain(|_, e| {
        e.locked_until.is_some_and(|u| u > now)
            || now.duration_since(e.last) <= p.window.max(p.forget_after.min(p.window * 4))
    });
    while entries.len() >= p.capacity {
        let oldest = entries
            .iter()
            .min_by_key(|(_, e)| e.last)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => entries.remove(&k),
            None => break,
        };
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
                l.record_failure(ip("127.0.0.1"), None, t + Duration::from_secs(i)),
                FailureEffect::Counted
            );
        }
        assert!(l.locked(ip("127.0.0.1"), t).is_none());
        assert_eq!(
            l.record_failure(ip("127.0.0.1"), None, t + Duration::from_secs(7)),
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
                l.record_failure(ip("10.0.0.1"), Some("a"), t + Duration::from_secs(i * 5)),
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
                if let FailureEffect::Locked(d) = l.record_failure(ip("10.0.0.1"), None, t) {
                    locks.push(d.as_secs());
                }
            }
            t += Duration::from_secs(700);
        }
        assert_eq!(locks, [30, 60, 120, 240, 480, 600, 600]);
    }

    #[test]
    fn success_of_another_account_does_not_reset_the_address_count() {
        // The probe's pattern: 7 wrong admin passwords, 1 right login of a live-only user, repeat.
        let mut l = Lockout::new(LockoutPolicy::default());
        let t = Instant::now();
        let mut effects = Vec::new();
        for round in 0..4u64 {
            for i in 0..7u64 {
                let now = t + Duration::from_millis(round * 800 + i * 100);
                effects.push(l.record_failure(ip("10.0.0.1"), Some("installer"), now));
            }
            l.record_success(
                ip("10.0.0.1"),
                "viewer",
                t + Duration::from_millis(round * 800 + 750),
            );
        }
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, FailureEffect::Locked(_))),
            "{effects:?}"
        );
        assert!(effects[..7].iter().all(|e| *e == FailureEffect::Counted));
        assert_eq!(effects[7], FailureEffect::Locked(Duration::from_secs(30)));
    }

    #[test]
    fn success_of_the_same_account_clears_its_failures() {
        let mut l = Lockout::new(LockoutPolicy::default());
        let t = Instant::now();
        for round in 0..4u64 {
            for i in 0..7u64 {
                let now = t + Duration::from_millis(round * 800 + i * 100);
                assert_eq!(
                    l.record_failure(ip("10.0.0.1"), Some("installer"), now),
                    FailureEffect::Counted
                );
            }
            l.record_success(
                ip("10.0.0.1"),
                "installer",
                t + Duration::from_millis(round * 800 + 750),
            );
        }
    }

    #[test]
    fn an_account_guessed_from_many_addresses_is_locked_but_not_for_its_owner() {
        let mut l = Lockout::new(LockoutPolicy::default());
        let t = Instant::now();
        // The owner logged in from 10.0.0.1 earlier.
        l.record_success(ip("10.0.0.1"), "installer", t);
        let mut last = FailureEffect::Counted;
        for i in 0..24u32 {
            // Four addresses, each under its own limit.
            last = l.record_failure(
                IpAddr::V4((0x0a01_0000 + i % 4).into()),
                Some("Installer"),
                t,
            );
            if i < 23 {
                assert_eq!(last, FailureEffect::Counted, "{i}");
            }
        }
        assert_eq!(last, FailureEffect::AccountLocked(Duration::from_secs(30)));
        // No single address is locked, the account is, for everyone but the owner's address.
        assert!(l.locked(ip("10.1.0.1"), t).is_none());
        assert!(l.account_locked("installer", ip("10.1.0.1"), t).is_some());
        assert!(l.account_locked("INSTALLER", ip("192.0.2.9"), t).is_some());
        assert!(l.account_locked("installer", ip("10.0.0.1"), t).is_none());
        assert!(l.account_locked("viewer", ip("10.1.0.7"), t).is_none());
        assert!(
            l.account_locked("installer", ip("10.1.0.7"), t + Duration::from_secs(31))
                .is_none()
        );
    }

    #[test]
    fn one_address_alone_cannot_lock_an_account() {
        let mut l = Lockout::new(LockoutPolicy::default());
        let mut t = Instant::now();
        for _ in 0..10 {
            for _ in 0..8 {
                l.record_failure(ip("10.0.0.1"), Some("installer"), t);
            }
            assert!(l.account_locked("installer", ip("10.0.0.2"), t).is_none());
            t += Duration::from_secs(31);
        }
    }

    #[test]
    fn ipv6_clients_are_grouped_per_64() {
        let mut l = Lockout::new(LockoutPolicy::default());
        let t = Instant::now();
        for i in 0..8 {
            l.record_failure(ip(&format!("2001:db8::{i}")), None, t);
        }
        assert!(l.locked(ip("2001:db8::ffff"), t).is_some());
        assert!(l.locked(ip("2001:db8:0:1::1"), t).is_none());
    }

    #[test]
    fn tables_are_bounded() {
        let mut l = Lockout::new(LockoutPolicy {
            capacity: 64,
            ..LockoutPolicy::default()
        });
        let t = Instant::now();
        for i in 0..1000u32 {
            l.record_failure(IpAddr::V4(i.into()), Some(&format!("user{i}")), t);
            l.record_success(IpAddr::V4(i.into()), &format!("user{i}"), t);
        }
        assert!(l.len() <= 64);
        assert!(l.accounts.len() <= 64);
        assert!(l.trusted.len() <= 64);
    }
}
