//! RFC 7616 Digest: HA1/response computation, stateless HMAC nonces, and (nonce, nc) replay refusal.
//! Nonces carry their issue time under an HMAC keyed per boot, so they expire and need no table to issue.

use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, VecDeque};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The algorithms offered, strongest first (RFC 7616 §3.7: the server lists its preference in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Md5,
}

impl Algorithm {
    pub const ALL: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Md5];

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Md5 => "MD5",
        }
    }

    /// `algorithm=` value of a response; absent means MD5 (RFC 7616 §3.4). `-sess` variants are not offered.
    pub fn from_param(p: Option<&str>) -> Option<Algorithm> {
        match p {
            None => Some(Algorithm::Md5),
            Some(s) if s.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            Some(s) if s.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    /// Lower-case hex hash, the form Digest uses everywhere.
    pub fn hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(data)),
            Algorithm::Sha256 => hex(&Sha256::digest(data)),
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HA1 = H(username ":" realm ":" password), what the account stores instead of the password.
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    alg.hex(format!("{username}:{realm}:{password}").as_bytes())
}

/// RFC 7616 §3.4.1 response for qop=auth: H(HA1:nonce:nc:cnonce:qop:H(method:uri)).
// One argument per term of the RFC's formula reads better against the RFC than a parameter struct.
#[allow(clippy::too_many_arguments)]
pub fn response(
    alg: Algorithm,
    ha1: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
    qop: &str,
    method: &str,
    uri: &str,
) -> String {
    let ha2 = alg.hex(format!("{method}:{uri}").as_bytes());
    alg.hex(format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}").as_bytes())
}

/// RFC 2069 response (no qop): H(HA1:nonce:H(method:uri)). Only RTSP clients that ignore qop use it.
pub fn response_rfc2069(alg: Algorithm, ha1: &str, nonce: &str, method: &str, uri: &str) -> String {
    let ha2 = alg.hex(format!("{method}:{uri}").as_bytes());
    alg.hex(format!("{ha1}:{nonce}:{ha2}").as_bytes())
}

/// Constant-time comparison of two hex digests (timing must not reveal how many characters matched).
pub fn digest_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Issues and checks nonces: `hex(issued_secs[8] || serial[8] || HMAC-SHA256(key, issued || serial)[..16])`.
/// The key is random per boot: nonces of a previous boot fail the HMAC and are answered `stale=true`,
/// which makes clients retry transparently.
pub struct NonceKey {
    key: [u8; 32],
    serial: std::sync::atomic::AtomicU64,
}

/// What a nonce turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Issued by us `issued` (unix seconds) and not expired.
    Fresh { issued: u64 },
    /// Ours but older than the lifetime, or not verifiable (other boot, forged): ask for a retry.
    Stale,
}

impl NonceKey {
    pub fn new(key: [u8; 32]) -> Self {
        NonceKey {
            key,
            serial: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn mac(&self, body: &[u8]) -> [u8; 16] {
        let mut m = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        m.update(body);
        let full = m.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    pub fn issue(&self, now_secs: u64) -> String {
        let serial = self
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut body = [0u8; 16];
        body[..8].copy_from_slice(&now_secs.to_be_bytes());
        body[8..].copy_from_slice(&serial.to_be_bytes());
        let mac = self.mac(&body);
        format!("{}{}", hex(&body), hex(&mac))
    }

    pub fn check(&self, nonce: &str, now_secs: u64, ttl_secs: u64) -> NonceCheck {
        let Some(raw) = unhex::<32>(nonce) else {
            return NonceCheck::Stale;
        };
        let mac = self.mac(&raw[..16]);
        if !bool::from(mac.ct_eq(&raw[16..])) {
            return NonceCheck::Stale;
        }
        let issued = u64::from_be_bytes(raw[..8].try_into().expect("8 bytes"));
        // A nonce from the future cannot be ours unless the clock went back; treat as stale to re-issue.
        if issued > now_secs || now_secs - issued > ttl_secs {
            return NonceCheck::Stale;
        }
        NonceCheck::Fresh { issued }
    }
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Outcome of recording a (nonce, nc) use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NcCheck {
    /// First use of this nonce (a new login, audited).
    First,
    /// A later request on a known nonce with an unseen nc.
    Next,
    /// This (nonce, nc) was already accepted, or is too old to tell: refuse.
    Replay,
    /// The nonce's state was evicted: make the client take a new nonce (stale=true).
    Forgotten,
}

struct Entry {
    issued: u64,
    max_nc: u64,
    // Bit i set = nc (max_nc - i) was seen; lets parallel requests arrive slightly out of order.
    window: u64,
}

/// Remembers which nc values each nonce has used, in bounded memory. When full, the oldest entry is
/// dropped and `floor` rises to its issue time: any nonce issued at or before `floor` that is no longer
/// tracked is answered "stale", so eviction can never turn into an accepted replay.
pub struct ReplayGuard {
    entries: HashMap<String, Entry>,
    order: VecDeque<String>,
    capacity: usize,
    floor: u64,
}

impl ReplayGuard {
    pub fn new(capacity: usize) -> Self {
        ReplayGuard {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            floor: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records `nc` for a nonce whose HMAC and age were already checked.
    pub fn record(
        &mut self,
        nonce: &str,
        issued: u64,
        nc: u64,
        now_secs: u64,
        ttl_secs: u64,
    ) -> NcCheck {
        if let Some(e) = self.entries.get_mut(nonce) {
            if nc > e.max_nc {
                let shift = nc - e.max_nc;
                e.window = if shift >= 64 { 0 } else { e.window << shift };
                e.window |= 1;
                e.max_nc = nc;
                return NcCheck::Next;
            }
            let back = e.max_nc - nc;
            if back >= 64 || e.window & (1 << back) != 0 {
                return NcCheck::Replay;
            }
            e.window |= 1 << back;
            return NcCheck::Next;
        }
        if issued <= self.floor {
            return NcCheck::Forgotten;
        }
        self.expire(now_secs, ttl_secs);
        while self.entries.len() >= self.capacity {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(e) = self.entries.remove(&old) {
                self.floor = self.floor.max(e.issued);
            }
        }
        if issued <= self.floor {
            // The eviction just now covered this nonce's issue second.
            return NcCheck::Forgotten;
        }
        self.entries.insert(
            nonce.to_owned(),
            Entry {
                issued,
                max_nc: nc,
                window: 1,
            },
        );
        self.order.push_back(nonce.to_owned());
        NcCheck::First
    }

    /// Drops entries of expired nonces from the front (they are refused as stale anyway).
    fn expire(&mut self, now_secs: u64, ttl_secs: u64) {
        while let Some(front) = self.order.front() {
            match self.entries.get(front) {
                Some(e) if now_secs.saturating_sub(e.issued) <= ttl_secs => break,
                _ => {
                    let k = self.order.pop_front().expect("front exists");
                    self.entries.remove(&k);
                }
            }
        }
    }
}

/// Parses the 8-hex-digit nonce count.
pub fn parse_nc(nc: &str) -> Option<u64> {
    if nc.is_empty() || nc.len() > 8 {
        return None;
    }
    u64::from_str_radix(nc, 16).ok()
}

/// One `WWW-Authenticate` value.
pub fn challenge(alg: Algorithm, realm: &str, nonce: &str, stale: bool) -> String {
    let mut s = format!(
        "Digest realm=\"{realm}\", qop=\"auth\", algorithm={}, nonce=\"{nonce}\"",
        alg.name()
    );
    if stale {
        s.push_str(", stale=true");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7616 §3.9.1.
    const USER: &str = "Mufasa";
    const PASS: &str = "Circle of Life";
    const REALM: &str = "http-auth@example.org";
    const NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    #[test]
    fn rfc7616_example_md5() {
        let h = ha1(Algorithm::Md5, USER, REALM, PASS);
        let r = response(
            Algorithm::Md5,
            &h,
            NONCE,
            "00000001",
            CNONCE,
            "auth",
            "GET",
            "/dir/index.html",
        );
        assert_eq!(r, "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn rfc7616_example_sha256() {
        let h = ha1(Algorithm::Sha256, USER, REALM, PASS);
        let r = response(
            Algorithm::Sha256,
            &h,
            NONCE,
            "00000001",
            CNONCE,
            "auth",
            "GET",
            "/dir/index.html",
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn nonce_round_trips_and_expires() {
        let k = NonceKey::new([7; 32]);
        let n = k.issue(1000);
        assert_eq!(k.check(&n, 1000, 60), NonceCheck::Fresh { issued: 1000 });
        assert_eq!(k.check(&n, 1060, 60), NonceCheck::Fresh { issued: 1000 });
        assert_eq!(k.check(&n, 1061, 60), NonceCheck::Stale);
        assert_ne!(k.issue(1000), n, "nonces are unique within a second");
    }

    #[test]
    fn nonce_from_another_key_or_tampered_is_stale() {
        let k = NonceKey::new([7; 32]);
        let other = NonceKey::new([8; 32]);
        assert_eq!(k.check(&other.issue(1000), 1000, 60), NonceCheck::Stale);
        let mut n = k.issue(1000).into_bytes();
        n[3] = if n[3] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            k.check(std::str::from_utf8(&n).unwrap(), 1000, 60),
            NonceCheck::Stale
        );
        assert_eq!(k.check("zz", 1000, 60), NonceCheck::Stale);
    }

    #[test]
    fn replayed_nonce_count_is_refused() {
        let mut g = ReplayGuard::new(16);
        assert_eq!(g.record("n", 10, 1, 10, 60), NcCheck::First);
        assert_eq!(g.record("n", 10, 1, 10, 60), NcCheck::Replay);
        assert_eq!(g.record("n", 10, 2, 10, 60), NcCheck::Next);
        assert_eq!(g.record("n", 10, 5, 10, 60), NcCheck::Next);
        // Out of order but unseen: accepted once.
        assert_eq!(g.record("n", 10, 4, 10, 60), NcCheck::Next);
        assert_eq!(g.record("n", 10, 4, 10, 60), NcCheck::Replay);
        assert_eq!(g.record("n", 10, 200, 10, 60), NcCheck::Next);
        assert_eq!(
            g.record("n", 10, 100, 10, 60),
            NcCheck::Replay,
            "too far behind the window"
        );
    }

    #[test]
    fn replay_memory_is_bounded_and_eviction_is_safe() {
        let mut g = ReplayGuard::new(4);
        for i in 0..4u64 {
            assert_eq!(
                g.record(&format!("n{i}"), 100 + i, 1, 110, 60),
                NcCheck::First
            );
        }
        assert_eq!(g.record("n4", 104, 1, 110, 60), NcCheck::First);
        assert_eq!(g.len(), 4);
        // n0 was evicted: replaying it must not be accepted as a fresh first use.
        assert_eq!(g.record("n0", 100, 1, 110, 60), NcCheck::Forgotten);
    }

    #[test]
    fn comparison_requires_equal_length() {
        assert!(digest_eq("abc", "abc"));
        assert!(!digest_eq("abc", "abd"));
        assert!(!digest_eq("abc", "abcd"));
    }
}
