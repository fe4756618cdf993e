//! The Event service's PullPoint subscriptions (ONVIF Core §9.1): each subscription owns a
//! receiver of the alarm bus and a termination time; PullMessages waits (bounded) for the next
//! alarms; Renew, Unsubscribe and SetSynchronizationPoint act on one subscription. The number
//! of subscriptions and the messages kept per subscription are bounded, and expired ones are
//! dropped, so clients that vanish cost nothing for long.

use crate::backend::Notification;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::broadcast;

/// Subscriptions alive at once.
pub const MAX_SUBSCRIPTIONS: usize = 16;
/// Longest a PullMessages waits for an alarm.
pub const MAX_PULL_WAIT: Duration = Duration::from_secs(60);
/// Longest termination time a client may ask for.
pub const MAX_TERMINATION: Duration = Duration::from_secs(3600);
/// Termination time when the client asks for none.
pub const DEFAULT_TERMINATION: Duration = Duration::from_secs(60);

struct Sub {
    rx: tokio::sync::Mutex<broadcast::Receiver<Notification>>,
    expires: Mutex<(Instant, SystemTime)>,
    /// Who created it: only that user (or an administrator) may pull, renew or unsubscribe.
    owner: Option<String>,
}

/// Why a subscription call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubError {
    /// No such subscription (never made, expired or unsubscribed).
    Unknown,
    /// Too many subscriptions.
    Full,
}

#[derive(Clone, Default)]
pub struct Subscriptions {
    subs: Arc<Mutex<HashMap<String, Arc<Sub>>>>,
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS random source works");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Subscriptions {
    fn prune(map: &mut HashMap<String, Arc<Sub>>) {
        let now = Instant::now();
        map.retain(|_, s| s.expires.lock().unwrap_or_else(|p| p.into_inner()).0 > now);
    }

    /// A new subscription; returns its id and termination time.
    pub fn create(
        &self,
        rx: broadcast::Receiver<Notification>,
        ttl: Duration,
        owner: Option<String>,
    ) -> Result<(String, SystemTime), SubError> {
        let ttl = ttl.min(MAX_TERMINATION);
        let mut map = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        Self::prune(&mut map);
        if map.len() >= MAX_SUBSCRIPTIONS {
            return Err(SubError::Full);
        }
        let id = random_id();
        let until = SystemTime::now() + ttl;
        map.insert(
            id.clone(),
            Arc::new(Sub {
                rx: tokio::sync::Mutex::new(rx),
                expires: Mutex::new((Instant::now() + ttl, until)),
                owner,
            }),
        );
        Ok((id, until))
    }

    fn get(&self, id: &str, user: Option<&str>, admin: bool) -> Result<Arc<Sub>, SubError> {
        let mut map = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        Self::prune(&mut map);
        let s = map.get(id).cloned().ok_or(SubError::Unknown)?;
        // Someone else's subscription is reported as unknown: ids are not to be probed.
        if !admin && s.owner.as_deref() != user {
            return Err(SubError::Unknown);
        }
        Ok(s)
    }

    /// Up to `limit` notifications, waiting at most `wait` for the first.
    pub async fn pull(
        &self,
        id: &str,
        user: Option<&str>,
        admin: bool,
        wait: Duration,
        limit: usize,
    ) -> Result<(Vec<Notification>, SystemTime), SubError> {
        let sub = self.get(id, user, admin)?;
        let until = sub.expires.lock().unwrap_or_else(|p| p.into_inner()).1;
        let mut rx = sub.rx.lock().await;
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait.min(MAX_PULL_WAIT);
        while out.len() < limit.max(1) {
            let next = if out.is_empty() {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(r) => r,
                    Err(_) => break,
                }
            } else {
                match rx.try_recv() {
                    Ok(n) => Ok(n),
                    Err(broadcast::error::TryRecvError::Empty) => break,
                    Err(broadcast::error::TryRecvError::Lagged(n)) => {
                        Err(broadcast::error::RecvError::Lagged(n))
                    }
                    Err(broadcast::error::TryRecvError::Closed) => {
                        Err(broadcast::error::RecvError::Closed)
                    }
                }
            };
            match next {
                Ok(n) => out.push(n),
                // A slow puller loses the oldest alarms, as a VMS would over a lossy link.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
        Ok((out, until))
    }

    /// Moves the termination time to now + `ttl`.
    pub fn renew(
        &self,
        id: &str,
        user: Option<&str>,
        admin: bool,
        ttl: Duration,
    ) -> Result<SystemTime, SubError> {
        let sub = self.get(id, user, admin)?;
        let ttl = ttl.min(MAX_TERMINATION);
        let until = SystemTime::now() + ttl;
        *sub.expires.lock().unwrap_or_else(|p| p.into_inner()) = (Instant::now() + ttl, until);
        Ok(until)
    }

    pub fn unsubscribe(&self, id: &str, user: Option<&str>, admin: bool) -> Result<(), SubError> {
        self.get(id, user, admin)?;
        self.subs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        Ok(())
    }

    /// Whether `id` is a live subscription of `user`.
    pub fn exists(&self, id: &str, user: Option<&str>, admin: bool) -> bool {
        self.get(id, user, admin).is_ok()
    }

    pub fn len(&self) -> usize {
        let mut map = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        Self::prune(&mut map);
        map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses an xs:duration of the forms ONVIF clients send (`PT60S`, `PT1M`, `PT1H30M`, `P1D`,
/// `PT0.5S`); `None` for anything else.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let rest = s.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut secs = 0f64;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
            } else {
                let mult = units.iter().find(|(u, _)| *u == c)?.1;
                let v: f64 = num.parse().ok()?;
                secs += v * mult;
                num.clear();
                any = true;
            }
        }
        num.is_empty().then_some(())
    };
    take(
        date,
        &[
            ('Y', 365.0 * 86400.0),
            ('M', 30.0 * 86400.0),
            ('W', 7.0 * 86400.0),
            ('D', 86400.0),
        ],
    )?;
    if let Some(t) = time {
        take(t, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    (any && secs.is_finite() && secs < 1e9).then(|| Duration::from_secs_f64(secs))
}

/// A termination time as ONVIF clients send it: a duration (`PT60S`) or an absolute
/// xs:dateTime; the result is how long from now.
pub fn parse_termination(s: &str, now: SystemTime) -> Option<Duration> {
    if let Some(d) = parse_duration(s) {
        return Some(d);
    }
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?;
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(t.unix_timestamp().max(0) as u64);
    Some(t.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_of_onvif_clients_parse() {
        assert_eq!(parse_duration("PT60S"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("PT1M"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("P1D"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("PT0.5S"), Some(Duration::from_millis(500)));
        for bad in ["", "P", "PT", "60", "PTxS", "PT1X", "PT1"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    fn note() -> Notification {
        Notification {
            topic: "cw:Alarm/Command".into(),
            time: SystemTime::now(),
            source: vec![],
            data: vec![],
        }
    }

    #[tokio::test]
    async fn pull_waits_for_alarms_and_subscriptions_belong_to_their_owner() {
        let (tx, _) = broadcast::channel(8);
        let subs = Subscriptions::default();
        let (id, _) = subs
            .create(tx.subscribe(), Duration::from_secs(60), Some("op".into()))
            .unwrap();
        let (got, _) = subs
            .pull(&id, Some("op"), false, Duration::from_millis(10), 10)
            .await
            .unwrap();
        assert!(got.is_empty());
        tx.send(note()).unwrap();
        tx.send(note()).unwrap();
        let (got, _) = subs
            .pull(&id, Some("op"), false, Duration::from_secs(5), 10)
            .await
            .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            subs.pull(&id, Some("other"), false, Duration::ZERO, 1)
                .await
                .unwrap_err(),
            SubError::Unknown
        );
        subs.unsubscribe(&id, Some("op"), false).unwrap();
        assert!(subs.is_empty());
    }

    #[test]
    fn subscriptions_are_bounded_and_expire() {
        let (tx, _) = broadcast::channel::<Notification>(8);
        let subs = Subscriptions::default();
        for _ in 0..MAX_SUBSCRIPTIONS {
            subs.create(tx.subscribe(), Duration::from_secs(60), None)
                .unwrap();
        }
        assert_eq!(
            subs.create(tx.subscribe(), Duration::from_secs(60), None)
                .unwrap_err(),
            SubError::Full
        );
        let subs = Subscriptions::default();
        let (id, _) = subs.create(tx.subscribe(), Duration::ZERO, None).unwrap();
        assert!(!subs.exists(&id, None, false));
    }
}
