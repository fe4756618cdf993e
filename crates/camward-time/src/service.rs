//! [`TimeService`]: the device's date and time as the NTP tab shows it and ONVIF's
//! Get/SetSystemDateAndTime and Get/SetNTP reach it. It polls the configured servers while the
//! mode is `ntp` (all of them at once, each bounded by the timeout; the first in the list that
//! answers validly sets the time), backs off after failures (16 s doubling up to the interval),
//! steps the clock through the [`ClockSetter`] when the offset exceeds 128 ms, and keeps the
//! state `GET /api/v1/status` shows.

use crate::clock::{ClockError, ClockSetter, SetReason};
use crate::nts;
use crate::sntp::{self, Sample, SntpError};
use crate::tz;
use camward_config::{FieldError, NtpServer, TimeConfig, TimeMode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Offsets above this are corrected by stepping the clock (ntpd's and chrony's step threshold).
pub const STEP_THRESHOLD: f64 = 0.128;
/// First retry after a failed round.
pub const MIN_BACKOFF: Duration = Duration::from_secs(16);

/// Where the `time` settings live: the daemon implements it over the stored configuration, so
/// changes through this service (ONVIF SetNTP, …) are validated, stored and audited like an
/// API PATCH.
pub trait TimeSettings: Send + Sync + 'static {
    fn current(&self) -> TimeConfig;
    /// Validates and stores a new section; the service is reloaded by the caller's change
    /// notification or right after this returns.
    fn replace(&self, new: TimeConfig) -> Result<(), Vec<FieldError>>;
}

/// Synchronisation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// Mode `manual`: no NTP.
    Manual,
    /// Mode `ntp`, no round finished yet.
    Starting,
    /// The last round got a valid answer.
    Synchronized,
    /// The last round got none: every server failed (see `servers[].error`).
    Unsynchronized,
}

/// The state of one configured server after the last round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServerStatus {
    /// `host:port` as configured.
    pub server: String,
    /// Whether NTS is configured for it.
    pub nts: bool,
    /// `ok`, `unreachable` (timeout, refused, unresolvable) or `error` (it answered wrongly).
    pub state: String,
    /// Offset of its clock from ours, ms (positive: ours is behind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_ms: Option<f64>,
    /// Round-trip delay, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratum: Option<u8>,
    /// What went wrong, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// RFC 3339 UTC of the query.
    pub checked_at: String,
}

/// The last time camward set (or was refused setting) the clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClockSet {
    /// RFC 3339 UTC of the request.
    pub at: String,
    /// RFC 3339 UTC the clock was set to.
    pub to: String,
    /// `manual` or `ntp`.
    pub reason: String,
    /// Why it was not set, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether camward may set the system clock here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClockStatus {
    pub settable: bool,
    /// Why not (not root, in a container, no CAP_SYS_TIME).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_set: Option<ClockSet>,
}

/// Date and time for `GET /api/v1/status` and the Status page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimeStatus {
    pub mode: TimeMode,
    /// The POSIX TZ string.
    pub timezone: String,
    /// RFC 3339 UTC, by the system clock.
    pub utc: String,
    /// RFC 3339 with the time zone's offset at this instant.
    pub local: String,
    pub state: SyncState,
    /// True while the last NTP round succeeded.
    pub synchronized: bool,
    /// The server of the last good sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Offset of the source's clock from ours at the last good sample, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratum: Option<u8>,
    /// True when the last good sample was authenticated with NTS.
    pub authenticated: bool,
    /// RFC 3339 UTC of the last good sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<String>,
    /// Why the last round failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Every configured server after the last round.
    pub servers: Vec<ServerStatus>,
    pub clock: ClockStatus,
}

/// Why a manual time was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManualError {
    /// The mode is `ntp`: NTP owns the clock.
    #[error("the time is synchronised with NTP; switch time.mode to manual first")]
    NtpActive,
    #[error(transparent)]
    Clock(#[from] ClockError),
}

#[derive(Default)]
struct State {
    last: Option<Sample>,
    last_ok_round: bool,
    rounds: u64,
    last_error: Option<String>,
    servers: Vec<ServerStatus>,
    last_set: Option<ClockSet>,
}

struct Inner {
    settings: Arc<dyn TimeSettings>,
    clock: Arc<dyn ClockSetter>,
    state: Mutex<State>,
    wake: Notify,
    nts: nts::Sessions,
}

/// The date and time handle: cheap to clone, shared by the web API, ONVIF and the poller.
#[derive(Clone)]
pub struct TimeService {
    inner: Arc<Inner>,
}

impl TimeService {
    pub fn new(settings: Arc<dyn TimeSettings>, clock: Arc<dyn ClockSetter>) -> Self {
        TimeService {
            inner: Arc::new(Inner {
                settings,
                clock,
                state: Mutex::default(),
                wake: Notify::new(),
                nts: nts::Sessions::default(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().expect("time state lock")
    }

    /// Starts the poller; it ends when `shutdown` is cancelled.
    pub fn start(&self, shutdown: CancellationToken) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move { this.run(shutdown).await })
    }

    /// Wakes the poller after a settings change: it re-reads the settings and, in `ntp` mode,
    /// synchronises at once.
    pub fn reload(&self) {
        self.inner.wake.notify_one();
    }

    async fn run(self, shutdown: CancellationToken) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let cfg = self.inner.settings.current();
            let wait = if cfg.mode == TimeMode::Ntp {
                let interval = Duration::from_secs(u64::from(cfg.poll_interval_secs));
                let ok = tokio::select! {
                    ok = self.sync_once(&cfg) => ok,
                    _ = shutdown.cancelled() => return,
                };
                if ok {
                    backoff = MIN_BACKOFF;
                    interval
                } else {
                    let w = backoff.min(interval);
                    backoff = (backoff * 2).min(interval);
                    w
                }
            } else {
                let mut st = self.state();
                let last_set = st.last_set.take();
                *st = State {
                    last_set,
                    ..State::default()
                };
                drop(st);
                backoff = MIN_BACKOFF;
                Duration::from_secs(86_400)
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.inner.wake.notified() => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// One round: every server at once, each bounded by `timeout_ms`; returns whether one gave
    /// a valid sample. Public so tests (and a "synchronise now" button) can run a round.
    pub async fn sync_once(&self, cfg: &TimeConfig) -> bool {
        let timeout = Duration::from_millis(u64::from(cfg.timeout_ms));
        self.inner.nts.retain(&cfg.servers);
        let queries = cfg
            .servers
            .iter()
            .map(|s| self.query_server(s, timeout))
            .collect::<Vec<_>>();
        let results = futures_join_all(queries).await;
        let now = rfc3339(SystemTime::now());
        let mut servers = Vec::new();
        let mut best: Option<Sample> = None;
        let mut errors = Vec::new();
        for (s, r) in cfg.servers.iter().zip(results) {
            let server = format!("{}:{}", bracket(&s.host), s.port);
            match r {
                Ok(sample) => {
                    servers.push(ServerStatus {
                        server,
                        nts: s.nts,
                        state: "ok".into(),
                        offset_ms: Some(sample.offset * 1e3),
                        delay_ms: Some(sample.delay * 1e3),
                        stratum: Some(sample.stratum),
                        error: None,
                        checked_at: now.clone(),
                    });
                    best.get_or_insert(sample);
                }
                Err(e) => {
                    let state = match e {
                        SntpError::Timeout { .. }
                        | SntpError::Unreachable { .. }
                        | SntpError::Resolve { .. } => "unreachable",
                        _ => "error",
                    };
                    tracing::warn!(server = %server, error = %e, "NTP server gave no time");
                    errors.push(e.to_string());
                    servers.push(ServerStatus {
                        server,
                        nts: s.nts,
                        state: state.into(),
                        offset_ms: None,
                        delay_ms: None,
                        stratum: None,
                        error: Some(e.to_string()),
                        checked_at: now.clone(),
                    });
                }
            }
        }
        let ok = best.is_some();
        if let Some(sample) = &best
            && sample.offset.abs() > STEP_THRESHOLD
        {
            let to = sntp::from_unix_nanos(
                sntp::unix_nanos(SystemTime::now()) + (sample.offset * 1e9) as i128,
            );
            // A refusal (not root, in a container) is shown in the status; the offset still is.
            let _ = self.record_set(to, SetReason::Ntp);
        }
        let mut st = self.state();
        st.rounds += 1;
        st.servers = servers;
        st.last_ok_round = ok;
        if let Some(b) = best {
            st.last = Some(b);
            st.last_error = None;
        } else {
            st.last_error = Some(errors.join("; "));
        }
        ok
    }

    async fn query_server(&self, s: &NtpServer, timeout: Duration) -> Result<Sample, SntpError> {
        if s.nts {
            return self.inner.nts.query(s, timeout).await;
        }
        // Name resolution and the exchange share one bound.
        let deadline = tokio::time::Instant::now() + timeout;
        let addr = sntp::resolve(&s.host, s.port, timeout).await?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match sntp::query(addr, left.max(Duration::from_millis(1))).await {
            // Report the configured bound, not what resolution left of it.
            Err(SntpError::Timeout { server, .. }) => Err(SntpError::Timeout {
                server,
                ms: timeout.as_millis(),
            }),
            r => r,
        }
    }

    fn record_set(&self, to: SystemTime, reason: SetReason) -> Result<(), ClockError> {
        let r = self.inner.clock.set(to, reason);
        match &r {
            Ok(()) => tracing::info!(to = %rfc3339(to), ?reason, "system clock set"),
            Err(e) => tracing::info!(error = %e, ?reason, "system clock not set"),
        }
        self.state().last_set = Some(ClockSet {
            at: rfc3339(SystemTime::now()),
            to: rfc3339(to),
            reason: match reason {
                SetReason::Manual => "manual",
                SetReason::Ntp => "ntp",
            }
            .into(),
            error: r.as_ref().err().map(ToString::to_string),
        });
        r
    }

    /// The current state, for `GET /api/v1/status` and ONVIF GetSystemDateAndTime.
    pub fn status(&self) -> TimeStatus {
        let cfg = self.inner.settings.current();
        let now = SystemTime::now();
        let st = self.state();
        let state = match (cfg.mode, st.rounds, st.last_ok_round) {
            (TimeMode::Manual, _, _) => SyncState::Manual,
            (TimeMode::Ntp, 0, _) => SyncState::Starting,
            (TimeMode::Ntp, _, true) => SyncState::Synchronized,
            (TimeMode::Ntp, _, false) => SyncState::Unsynchronized,
        };
        let refusal = self.inner.clock.refusal();
        TimeStatus {
            mode: cfg.mode,
            local: tz::local_rfc3339(&cfg.timezone, now),
            timezone: cfg.timezone,
            utc: rfc3339(now),
            state,
            synchronized: state == SyncState::Synchronized,
            source: st.last.as_ref().map(|s| s.server.to_string()),
            offset_ms: st.last.as_ref().map(|s| s.offset * 1e3),
            delay_ms: st.last.as_ref().map(|s| s.delay * 1e3),
            stratum: st.last.as_ref().map(|s| s.stratum),
            authenticated: st.last.as_ref().is_some_and(|s| s.authenticated),
            last_sync: st.last.as_ref().map(|s| rfc3339(s.at)),
            last_error: st.last_error.clone(),
            servers: st.servers.clone(),
            clock: ClockStatus {
                settable: refusal.is_none(),
                refusal,
                last_set: st.last_set.clone(),
            },
        }
    }

    /// Sets the clock by hand (NTP tab "Manual setting", ONVIF SetSystemDateAndTime Manual).
    /// Refused while the mode is `ntp`, and where camward may not set the clock.
    pub fn set_manual(&self, utc: SystemTime) -> Result<(), ManualError> {
        if self.inner.settings.current().mode == TimeMode::Ntp {
            return Err(ManualError::NtpActive);
        }
        Ok(self.record_set(utc, SetReason::Manual)?)
    }

    pub fn mode(&self) -> TimeMode {
        self.inner.settings.current().mode
    }

    pub fn set_mode(&self, mode: TimeMode) -> Result<(), Vec<FieldError>> {
        self.update(|c| c.mode = mode)
    }

    pub fn servers(&self) -> Vec<NtpServer> {
        self.inner.settings.current().servers
    }

    /// Replaces the server list (ONVIF SetNTP); validated like a PATCH of `time.servers`.
    pub fn set_servers(&self, servers: Vec<NtpServer>) -> Result<(), Vec<FieldError>> {
        self.update(|c| c.servers = servers)
    }

    /// The POSIX TZ string (ONVIF's TimeZone/TZ form).
    pub fn timezone(&self) -> String {
        self.inner.settings.current().timezone
    }

    pub fn set_timezone(&self, posix_tz: &str) -> Result<(), Vec<FieldError>> {
        self.update(|c| c.timezone = posix_tz.to_owned())
    }

    /// The time zone's offset from UTC at `at`, seconds east of UTC.
    pub fn utc_offset_at(&self, at: SystemTime) -> i32 {
        tz::offset_seconds(&self.timezone(), at)
    }

    /// Whether daylight-saving time is in effect at `at` (ONVIF's DaylightSavings).
    pub fn daylight_saving_at(&self, at: SystemTime) -> bool {
        tz::is_dst(&self.timezone(), at)
    }

    fn update(&self, f: impl FnOnce(&mut TimeConfig)) -> Result<(), Vec<FieldError>> {
        let mut c = self.inner.settings.current();
        f(&mut c);
        self.inner.settings.replace(c)?;
        self.reload();
        Ok(())
    }
}

/// Joins futures without pulling in the futures crate: each is spawned-free, polled in turn.
async fn futures_join_all<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = fs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in pinned.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339(t: SystemTime) -> String {
    tz::local_rfc3339("UTC0", t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::RecordingClock;
    use crate::packet::{MODE_SERVER, Packet, Timestamp};
    use camward_config::Validate;

    struct Mem(Mutex<TimeConfig>);
    impl TimeSettings for Mem {
        fn current(&self) -> TimeConfig {
            self.0.lock().unwrap().clone()
        }
        fn replace(&self, new: TimeConfig) -> Result<(), Vec<FieldError>> {
            let mut e = Vec::new();
            new.validate("time", &mut e);
            if e.is_empty() {
                *self.0.lock().unwrap() = new;
                Ok(())
            } else {
                Err(e)
            }
        }
    }

    /// A loopback SNTP server `ahead_ns` ahead of the local clock, answering `n` requests.
    async fn fake_server(ahead_ns: i128, n: usize) -> u16 {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = sock.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            for _ in 0..n {
                let (len, peer) = sock.recv_from(&mut buf).await.unwrap();
                let req = Packet::parse(&buf[..len]).unwrap();
                let t = Timestamp::from_unix_nanos(sntp::unix_nanos(SystemTime::now()) + ahead_ns);
                let p = Packet {
                    version: 4,
                    mode: MODE_SERVER,
                    stratum: 3,
                    origin: req.transmit,
                    receive: t,
                    transmit: t,
                    ..Packet::default()
                };
                sock.send_to(&p.encode(), peer).await.unwrap();
            }
        });
        port
    }

    fn closed_port() -> u16 {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn server(port: u16) -> NtpServer {
        NtpServer {
            host: "127.0.0.1".into(),
            port,
            ..NtpServer::default()
        }
    }

    fn service(cfg: TimeConfig) -> (TimeService, Arc<RecordingClock>) {
        let clock = Arc::new(RecordingClock::new(None));
        (
            TimeService::new(Arc::new(Mem(Mutex::new(cfg))), clock.clone()),
            clock,
        )
    }

    #[tokio::test]
    async fn a_round_reports_every_server_and_steps_a_far_clock_through_the_setter() {
        let good = fake_server(5_000_000_000, 1).await;
        let closed = closed_port();
        let cfg = TimeConfig {
            mode: TimeMode::Ntp,
            servers: vec![server(closed), server(good)],
            timeout_ms: 1000,
            ..TimeConfig::default()
        };
        let (svc, clock) = service(cfg.clone());
        assert_eq!(svc.status().state, SyncState::Starting);
        assert!(svc.sync_once(&cfg).await);
        let st = svc.status();
        assert_eq!(st.state, SyncState::Synchronized);
        assert_eq!(st.servers[0].state, "unreachable");
        assert_eq!(st.servers[1].state, "ok");
        assert_eq!(st.source.as_deref(), Some(&*format!("127.0.0.1:{good}")));
        let off = st.offset_ms.unwrap();
        assert!((off - 5000.0).abs() < 50.0, "{off}");
        // 5 s is beyond the step threshold: the setter was asked, with reason ntp.
        let r = clock.requests();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].reason, SetReason::Ntp);
        let ahead = r[0].unix_nanos - sntp::unix_nanos(SystemTime::now());
        assert!((ahead - 5_000_000_000).abs() < 100_000_000, "{ahead}");
    }

    #[tokio::test]
    async fn a_small_offset_is_not_stepped_and_all_failing_is_unsynchronised() {
        let good = fake_server(10_000_000, 1).await;
        let cfg = TimeConfig {
            mode: TimeMode::Ntp,
            servers: vec![server(good)],
            ..TimeConfig::default()
        };
        let (svc, clock) = service(cfg.clone());
        assert!(svc.sync_once(&cfg).await);
        assert!(clock.requests().is_empty());
        let cfg = TimeConfig {
            servers: vec![server(closed_port())],
            ..cfg
        };
        assert!(!svc.sync_once(&cfg).await);
        let st = svc.status();
        assert_eq!(st.state, SyncState::Unsynchronized);
        assert!(!st.synchronized);
        assert!(st.last_error.unwrap().contains("unreachable"));
        // The last good sample stays visible.
        assert!(st.last_sync.is_some());
    }

    #[tokio::test]
    async fn manual_time_goes_to_the_setter_only_in_manual_mode() {
        let (svc, clock) = service(TimeConfig::default());
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        svc.set_manual(t).unwrap();
        assert_eq!(clock.requests()[0].reason, SetReason::Manual);
        assert_eq!(
            svc.status().clock.last_set.unwrap().to,
            "2030-03-17T17:46:40.000Z"
        );
        svc.set_servers(vec![server(123)]).unwrap();
        svc.set_mode(TimeMode::Ntp).unwrap();
        assert_eq!(svc.set_manual(t), Err(ManualError::NtpActive));
        assert_eq!(clock.requests().len(), 1);
    }

    #[tokio::test]
    async fn settings_changes_are_validated() {
        let (svc, _) = service(TimeConfig::default());
        let e = svc.set_timezone("Mars/Olympus").unwrap_err();
        assert_eq!(e[0].path, "time.timezone");
        svc.set_timezone("JST-9").unwrap();
        assert_eq!(svc.timezone(), "JST-9");
        assert_eq!(svc.utc_offset_at(SystemTime::now()), 9 * 3600);
        // NTP without servers is refused as a whole.
        assert!(svc.set_mode(TimeMode::Ntp).is_err());
        assert_eq!(svc.mode(), TimeMode::Manual);
    }

    #[tokio::test]
    async fn the_poller_stops_on_shutdown_and_wakes_on_reload() {
        let good = fake_server(0, 2).await;
        let cfg = TimeConfig {
            mode: TimeMode::Ntp,
            servers: vec![server(good)],
            ..TimeConfig::default()
        };
        let (svc, _) = service(cfg);
        let stop = CancellationToken::new();
        let task = svc.start(stop.clone());
        for _ in 0..100 {
            if svc.status().synchronized {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(svc.status().synchronized);
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("poller stops")
            .unwrap();
    }
}
