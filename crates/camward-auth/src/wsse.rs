//! WS-Security UsernameToken PasswordDigest (OASIS WSS UsernameToken Profile 1.0 §3.1), the
//! credential ONVIF clients put in every SOAP header: `Base64(SHA-1(nonce ‖ created ‖ password))`.
//! The digest is only as fresh as `Created`, so the checker bounds the clock skew and refuses a
//! nonce it has already seen inside that window (replays), with a bounded memory (paper §3.3's
//! reasoning for Digest applied to ONVIF).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// One UsernameToken as it arrived (values still encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsernameToken {
    pub username: String,
    /// Base64 of the SHA-1 digest.
    pub password_digest: String,
    /// Base64 of the client's nonce.
    pub nonce: String,
    /// `wsu:Created`, RFC 3339 UTC.
    pub created: String,
}

/// Why a token is refused before its digest is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Nonce or digest not Base64 or of an unusable size, `Created` not a time.
    Malformed,
    /// `Created` further from our clock than the allowed skew.
    Skew,
}

/// Parses `Created` and checks it against `now_unix` within `skew`.
pub fn check_fresh(
    token: &UsernameToken,
    now_unix: i64,
    skew: Duration,
) -> Result<(), TokenProblem> {
    let created = time::OffsetDateTime::parse(
        token.created.trim(),
        &time::format_description::well_known::Rfc3339,
    )
    .map_err(|_| TokenProblem::Malformed)?;
    let d = (created.unix_timestamp() - now_unix).unsigned_abs();
    if d > skew.as_secs() {
        return Err(TokenProblem::Skew);
    }
    Ok(())
}

/// The decoded nonce (8–64 bytes; WSS recommends 16).
pub fn decode_nonce(token: &UsernameToken) -> Result<Vec<u8>, TokenProblem> {
    let n = B64
        .decode(token.nonce.trim())
        .map_err(|_| TokenProblem::Malformed)?;
    if !(8..=64).contains(&n.len()) {
        return Err(TokenProblem::Malformed);
    }
    Ok(n)
}

/// `Base64(SHA-1(nonce ‖ created ‖ password))`.
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(created.as_bytes());
    h.update(password.as_bytes());
    B64.encode(h.finalize())
}

/// Compares the token's digest with the expected one in constant time.
pub fn digest_matches(token: &UsernameToken, nonce: &[u8], password: &str) -> bool {
    let expected = password_digest(nonce, token.created.trim(), password);
    let got = token.password_digest.trim();
    expected.len() == got.len() && bool::from(expected.as_bytes().ct_eq(got.as_bytes()))
}

/// Nonces accepted recently, each kept until it could no longer pass the skew check.
pub struct NonceMemory {
    seen: HashMap<Vec<u8>, Instant>,
    capacity: usize,
}

/// What the memory says about a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceUse {
    First,
    Replay,
    /// The memory is full of live nonces: refuse rather than forget one (that would allow its replay).
    Full,
}

impl NonceMemory {
    pub fn new(capacity: usize) -> Self {
        NonceMemory {
            seen: HashMap::new(),
            capacity,
        }
    }

    /// Records `nonce` as used until `now + keep` (twice the skew: a token is valid from
    /// created − skew to created + skew).
    pub fn record(&mut self, nonce: &[u8], now: Instant, keep: Duration) -> NonceUse {
        if let Some(until) = self.seen.get(nonce)
            && *until > now
        {
            return NonceUse::Replay;
        }
        if self.seen.len() >= self.capacity {
            self.seen.retain(|_, until| *until > now);
            if self.seen.len() >= self.capacity {
                return NonceUse::Full;
            }
        }
        self.seen.insert(nonce.to_vec(), now + keep);
        NonceUse::First
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the ONVIF Application Programmer's Guide §6.1.1.3 / common client test data.
    #[test]
    fn digest_follows_the_username_token_profile() {
        let nonce = B64.decode("LKqI6G/AikKCQrN0zqZFlg==").unwrap();
        let d = password_digest(&nonce, "2010-09-16T07:50:45Z", "userpassword");
        assert_eq!(d, "tuOSpGlFlIXsozq4HFNeeGeFLEI=");
    }

    fn token(created: &str) -> UsernameToken {
        UsernameToken {
            username: "u".into(),
            password_digest: String::new(),
            nonce: "LKqI6G/AikKCQrN0zqZFlg==".into(),
            created: created.into(),
        }
    }

    #[test]
    fn created_outside_the_skew_is_refused() {
        let now = 1_284_623_445; // 2010-09-16T07:50:45Z
        let skew = Duration::from_secs(300);
        assert_eq!(
            check_fresh(&token("2010-09-16T07:50:45Z"), now, skew),
            Ok(())
        );
        assert_eq!(
            check_fresh(&token("2010-09-16T07:55:45Z"), now, skew),
            Ok(())
        );
        assert_eq!(
            check_fresh(&token("2010-09-16T07:55:46Z"), now, skew),
            Err(TokenProblem::Skew)
        );
        assert_eq!(
            check_fresh(&token("2010-09-16T07:40:00Z"), now, skew),
            Err(TokenProblem::Skew)
        );
        assert_eq!(
            check_fresh(&token("yesterday"), now, skew),
            Err(TokenProblem::Malformed)
        );
    }

    #[test]
    fn a_nonce_is_accepted_once_and_memory_is_bounded() {
        let mut m = NonceMemory::new(2);
        let t0 = Instant::now();
        let keep = Duration::from_secs(600);
        assert_eq!(m.record(b"aaaaaaaa", t0, keep), NonceUse::First);
        assert_eq!(m.record(b"aaaaaaaa", t0, keep), NonceUse::Replay);
        assert_eq!(m.record(b"bbbbbbbb", t0, keep), NonceUse::First);
        assert_eq!(m.record(b"cccccccc", t0, keep), NonceUse::Full);
        let later = t0 + keep + Duration::from_secs(1);
        assert_eq!(m.record(b"cccccccc", later, keep), NonceUse::First);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn nonce_sizes_are_bounded() {
        let mut t = token("2010-09-16T07:50:45Z");
        assert!(decode_nonce(&t).is_ok());
        t.nonce = "AAAA".into();
        assert_eq!(decode_nonce(&t), Err(TokenProblem::Malformed));
        t.nonce = "not base64!".into();
        assert_eq!(decode_nonce(&t), Err(TokenProblem::Malformed));
    }
}
