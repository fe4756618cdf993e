//! The SNMP agent service (paper §4.7): no UDP port while `snmp.enabled` is off; when on, the
//! agent answers on `--snmp ADDR:PORT` or `[::]:{snmp.port}` and follows setting changes without
//! a restart. It feeds the agent the camera's state (streams and their viewers, recording,
//! alarms, certificate, lockouts, and the IEEE 802.1X port state of paper §3.6 from the 802.1X
//! service's live status), writes SNMP SETs through the configuration (validated and audited like
//! the API), and sends traps for alarms, login failures, lockouts, recording stopped/full,
//! certificate expiry and 802.1X port changes.

use super::alarm::Alarms;
use super::record::Recording;
use camward_alarm::AlarmEvent;
use camward_auth::{AccountService, AuthEvent, Gate};
use camward_config::Config;
use camward_dot1x::{PortState, PortStatus};
use camward_rtsp::RtspServer;
use camward_snmp::{
    Agent, AgentInput, CameraRow, DeviceSnapshot, DeviceStatus, Dot1xPort, Dot1xPortState, Engine,
    Event, Notification, RecordingState, StreamStatus, SystemField, SystemWriter, mib,
};
use camward_store::{Actor, ConfigHandle};
use camward_tls::DeviceIdentity;
use camward_web::AlarmControl;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often recording state and free space are looked at for the stopped/full traps.
const POLL: Duration = Duration::from_secs(5);
/// How often an expiring certificate is trapped (as the audit log's daily entry). It is also
/// looked at on the next poll when the agent starts, when the trap destinations change (a new
/// receiver hears about it at once) and when another certificate is installed.
const CERT_EVERY: Duration = Duration::from_secs(24 * 3600);

pub struct Input {
    /// `--snmp`: overrides the configured address.
    pub flag: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub config: ConfigHandle,
    pub gate: Arc<dyn Gate>,
    pub accounts: Arc<AccountService>,
    pub identity: Arc<DeviceIdentity>,
    pub rtsp: Arc<RtspServer>,
    pub recording: Recording,
    /// Upstream cameras of recorder mode (camwardCameraTable).
    pub cameras: super::cameras::Cameras,
    pub alarms: Alarms,
    /// The 802.1X service's port status (services::dot1x).
    pub dot1x: watch::Receiver<PortStatus>,
    pub shutdown: CancellationToken,
}

/// The camera as the enterprise MIB sees it.
struct Device {
    config: ConfigHandle,
    data_dir: PathBuf,
    rtsp: Arc<RtspServer>,
    recording: Recording,
    cameras: super::cameras::Cameras,
    alarms: Alarms,
    accounts: Arc<AccountService>,
    identity: Arc<DeviceIdentity>,
    dot1x: watch::Receiver<PortStatus>,
}

/// camward-dot1x's port status in the MIB's terms (camward-snmp does not know camward-dot1x).
fn dot1x_port(s: &PortStatus) -> Dot1xPort {
    Dot1xPort {
        state: match s.state {
            PortState::Disabled => Dot1xPortState::Disabled,
            PortState::Connecting => Dot1xPortState::Connecting,
            PortState::Authenticated => Dot1xPortState::Authenticated,
            PortState::Held => Dot1xPortState::Held,
            PortState::Failed => Dot1xPortState::Failed,
        },
        method: s.method.clone(),
        reason: s.reason.clone(),
        since: s.since,
    }
}

fn dot1x_notification(s: &PortStatus) -> Notification {
    let port = dot1x_port(s);
    let text = match &port.reason {
        Some(r) => format!("IEEE 802.1X port {}: {r}", s.state.as_str()),
        None => format!("IEEE 802.1X port {}", s.state.as_str()),
    };
    let octets = |t: &str| camward_snmp::Value::OctetString(t.as_bytes().to_vec().into());
    Notification::new(Event::Dot1xPortChange, text)
        .with(
            mib::dot1x_state_oid(),
            camward_snmp::Value::Integer(port.state as i32),
        )
        .with(
            mib::dot1x_method_oid(),
            octets(port.method.as_deref().unwrap_or("")),
        )
        .with(
            mib::dot1x_reason_oid(),
            octets(&mib::truncate(port.reason.as_deref().unwrap_or(""))),
        )
        .with(mib::dot1x_last_change_oid(), mib::date_and_time(port.since))
}

fn free_kib(dir: &Path, data_dir: &Path) -> u64 {
    // The recording directory may not exist until recording starts: its filesystem is then
    // the data directory's.
    let at = if dir.exists() { dir } else { data_dir };
    camward_record::retention::free_bytes(at)
        .map(|b| b / 1024)
        .unwrap_or(0)
}

fn recording_state(c: &Config, rec: &Recording, free_kib: u64) -> RecordingState {
    if !c.recording.enabled {
        RecordingState::Disabled
    } else if free_kib.saturating_mul(1024) < c.recording.min_free_bytes {
        RecordingState::Full
    } else if rec.streams().is_some_and(|s| !s.is_empty()) {
        RecordingState::Recording
    } else {
        RecordingState::Stopped
    }
}

impl DeviceStatus for Device {
    fn snapshot(&self) -> DeviceSnapshot {
        let c = self.config.current();
        let streams = [(1u8, &c.streams.stream1), (2, &c.streams.stream2)]
            .into_iter()
            .map(|(n, s)| StreamStatus {
                index: n as u32,
                enabled: s.enabled,
                viewers: self.rtsp.playing_viewers(n) as u32,
                width: s.width,
                height: s.height,
            })
            .collect();
        let free = free_kib(
            &c.recording.resolve_directory(&self.data_dir),
            &self.data_dir,
        );
        let last = self.alarms.status().last;
        let (failures, lockouts) = self.accounts.counts();
        let cert = self.identity.info();
        let cameras = camward_web::Cameras::status(&self.cameras)
            .into_iter()
            .map(|c| CameraRow {
                last_frame: c
                    .last_frame
                    .as_deref()
                    .and_then(camward_record::timeutil::parse_rfc3339)
                    .map(camward_record::timeutil::system_time),
                last_error_at: c
                    .last_error_at
                    .as_deref()
                    .and_then(camward_record::timeutil::parse_rfc3339)
                    .map(camward_record::timeutil::system_time),
                name: c.name,
                connected: c.connected,
                bitrate_bps: c.bitrate_bps,
                last_error: c.last_error,
                recording: c.recording,
            })
            .collect();
        DeviceSnapshot {
            streams,
            cameras,
            recording: recording_state(&c, &self.recording, free),
            free_kib: free,
            alarms: last.as_ref().map(|l| l.id as u32).unwrap_or(0),
            last_alarm: last.map(|l| {
                (
                    l.source,
                    SystemTime::UNIX_EPOCH + Duration::from_secs(l.unix_time),
                )
            }),
            certificate_not_after: camward_record::timeutil::parse_rfc3339(&cert.not_after)
                .map(camward_record::timeutil::system_time),
            lockouts: lockouts as u32,
            auth_failures: failures as u32,
            dot1x: dot1x_port(&self.dot1x.borrow()),
        }
    }
}

/// SNMP SET of sysContact/sysName/sysLocation: one configuration patch by the SNMP user.
struct Writer(ConfigHandle);

impl SystemWriter for Writer {
    fn write(
        &self,
        changes: Vec<(SystemField, String)>,
        user: &str,
        peer: IpAddr,
    ) -> Result<(), String> {
        let section: serde_json::Map<String, serde_json::Value> = changes
            .into_iter()
            .map(|(f, v)| (f.setting().to_owned(), serde_json::Value::String(v)))
            .collect();
        let actor = Actor {
            user: Some(format!("snmp:{user}")),
            address: Some(peer),
        };
        self.0
            .patch(&serde_json::json!({ "snmp": section }), &actor)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Turns the polled recording state into the stopped/full traps: one per change into Stopped or
/// Full, none for the first poll (nothing changed yet). A recorder just switched on is Stopped
/// until its first file opens, so Disabled → Stopped is trapped only if the next poll still
/// finds it Stopped.
#[derive(Debug, Default)]
struct RecordingWatch {
    last: Option<RecordingState>,
    starting: bool,
}

impl RecordingWatch {
    fn observe(&mut self, now: RecordingState) -> Option<Event> {
        let was = self.last.replace(now);
        let starting = std::mem::take(&mut self.starting);
        match (was?, now) {
            (RecordingState::Disabled, RecordingState::Stopped) => {
                self.starting = true;
                None
            }
            (RecordingState::Stopped, RecordingState::Stopped) if starting => {
                Some(Event::RecordingStopped)
            }
            (w, RecordingState::Stopped) if w != now => Some(Event::RecordingStopped),
            (w, RecordingState::Full) if w != now => Some(Event::RecordingFull),
            _ => None,
        }
    }
}

fn wanted(c: &Config, flag: Option<SocketAddr>) -> Option<SocketAddr> {
    // [::] is dual-stack on Linux, so IPv4 managers reach it too.
    c.snmp
        .enabled
        .then(|| flag.unwrap_or_else(|| SocketAddr::from(([0u16; 8], c.snmp.port))))
}

fn descr() -> String {
    format!(
        "camward {} secure network camera",
        env!("CARGO_PKG_VERSION")
    )
}

fn alarm_notification(ev: &AlarmEvent) -> Notification {
    let source = match ev.source {
        camward_alarm::AlarmSource::Vmd(a) => format!("vmd{a}"),
        s => s.trigger().as_str().to_owned(),
    };
    Notification::new(Event::Alarm, format!("alarm #{} from {}", ev.id, ev.source))
        .with(
            mib::last_alarm_source_oid(),
            camward_snmp::Value::OctetString(source.into_bytes().into()),
        )
        .with(mib::last_alarm_time_oid(), mib::date_and_time(ev.time))
}

fn auth_notification(e: &AuthEvent) -> Notification {
    match e {
        AuthEvent::Failure {
            protocol,
            user,
            peer,
            reason,
        } => Notification::new(
            Event::AuthFailure,
            format!(
                "{} login failed from {peer} for {:?} ({reason})",
                protocol.as_str(),
                user.as_deref().unwrap_or("")
            ),
        ),
        AuthEvent::Lockout {
            protocol,
            peer,
            seconds,
            ..
        } => Notification::new(
            Event::Lockout,
            format!(
                "{peer} locked out for {seconds} s after repeated {} login failures",
                protocol.as_str()
            ),
        ),
    }
}

pub fn start(input: Input) -> JoinHandle<()> {
    let Input {
        flag,
        data_dir,
        config,
        gate,
        accounts,
        identity,
        rtsp,
        recording,
        cameras,
        alarms,
        mut dot1x,
        shutdown,
    } = input;
    tokio::spawn(async move {
        let device: Arc<dyn DeviceStatus> = Arc::new(Device {
            config: config.clone(),
            data_dir: data_dir.clone(),
            rtsp,
            recording: recording.clone(),
            cameras,
            alarms: alarms.clone(),
            accounts: accounts.clone(),
            identity: identity.clone(),
            dot1x: dot1x.clone(),
        });
        let mut dot1x_last = {
            let s = dot1x.borrow_and_update();
            (s.state, s.reason.clone())
        };
        let mut dot1x_open = true;
        // Login failures arrive on the authenticating thread: hand them over without blocking it.
        let (auth_tx, mut auth_rx) = mpsc::channel::<AuthEvent>(64);
        accounts.on_event(Arc::new(move |e: &AuthEvent| {
            let _ = auth_tx.try_send(e.clone());
        }));
        let mut alarm_rx = alarms.subscribe();
        let mut rx = config.subscribe();
        let mut engine: Option<Arc<Engine>> = None;
        let mut running: Option<(SocketAddr, Agent)> = None;
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut recording_watch = RecordingWatch::default();
        let mut next_cert = tokio::time::Instant::now();
        // The certificate (its end date) the last expiry check looked at.
        let mut cert_checked: Option<String> = None;
        let mut cfg = config.current();
        let mut dirty = true;
        loop {
            if dirty {
                dirty = false;
                let want = wanted(&cfg, flag);
                if running.as_ref().map(|(a, _)| *a) != want {
                    if let Some((_, agent)) = running.take() {
                        agent.stop().await;
                        tracing::info!("SNMP agent closed");
                    }
                    if let Some(bind) = want {
                        if engine.is_none() {
                            let dir = data_dir.clone();
                            match tokio::task::spawn_blocking(move || Engine::start(&dir)).await {
                                Ok(Ok(e)) => {
                                    tracing::info!(engine_id = %camward_snmp::engine::to_hex(e.id()), boots = e.boots(), "SNMP engine started");
                                    engine = Some(Arc::new(e));
                                }
                                Ok(Err(e)) => {
                                    tracing::error!(error = %e, "SNMP is on but its engine cannot start")
                                }
                                Err(e) => {
                                    tracing::error!(error = %e, "SNMP engine start-up failed")
                                }
                            }
                        }
                        if let Some(e) = &engine {
                            let snmp = cfg.snmp.clone();
                            let input = AgentInput {
                                bind,
                                config: snmp,
                                descr: descr(),
                                engine: e.clone(),
                                gate: gate.clone(),
                                device: device.clone(),
                                writer: Arc::new(Writer(config.clone())),
                            };
                            match Agent::start(input).await {
                                Ok(a) => {
                                    tracing::info!(addr = %bind, "SNMP agent listening");
                                    running = Some((bind, a));
                                    next_cert = tokio::time::Instant::now();
                                }
                                Err(e) => tracing::error!(
                                    addr = %bind, error = %e,
                                    "SNMP is on but cannot listen; choose another address with --snmp ADDR:PORT"
                                ),
                            }
                        }
                    }
                } else if let Some((_, agent)) = &running
                    && let Err(e) = agent.apply(&cfg.snmp, &descr())
                {
                    tracing::error!(error = %e, "SNMP settings not applied");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = rx.changed() => {
                    if r.is_err() { break }
                    let new = rx.borrow_and_update().clone();
                    if new.snmp != cfg.snmp {
                        dirty = true;
                    }
                    if new.snmp.trap_destinations != cfg.snmp.trap_destinations {
                        next_cert = tokio::time::Instant::now();
                    }
                    cfg = new;
                }
                ev = alarm_rx.recv() => match ev {
                    Ok(ev) => if let Some((_, a)) = &running { a.notify(alarm_notification(&ev)); },
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "SNMP lost alarm notifications (too many at once)");
                    }
                    Err(_) => alarm_rx = alarms.subscribe(),
                },
                Some(e) = auth_rx.recv() => {
                    if let Some((_, a)) = &running { a.notify(auth_notification(&e)); }
                }
                r = dot1x.changed(), if dot1x_open => {
                    if r.is_err() {
                        dot1x_open = false;
                        continue;
                    }
                    let s = dot1x.borrow_and_update().clone();
                    // Method-only updates (a new EAP round) are not port changes.
                    if (s.state, s.reason.clone()) != dot1x_last {
                        dot1x_last = (s.state, s.reason.clone());
                        if let Some((_, a)) = &running { a.notify(dot1x_notification(&s)); }
                    }
                }
                _ = tick.tick() => {
                    let Some((_, agent)) = &running else { continue };
                    let snap = device.snapshot();
                    if let Some(event) = recording_watch.observe(snap.recording) {
                        match event {
                            Event::RecordingStopped => { agent.notify(Notification::new(Event::RecordingStopped, "recording stopped")
                                .with(mib::recording_state_oid(), camward_snmp::Value::Integer(snap.recording as i32))); }
                            Event::RecordingFull => { agent.notify(Notification::new(Event::RecordingFull, "recording storage is full")
                                .with(mib::recording_free_oid(), camward_snmp::Value::Gauge32(snap.free_kib.min(u32::MAX as u64) as u32))); }
                            _ => {}
                        }
                    }
                    let info = identity.info();
                    if tokio::time::Instant::now() >= next_cert
                        || cert_checked.as_deref() != Some(info.not_after.as_str())
                    {
                        next_cert = tokio::time::Instant::now() + CERT_EVERY;
                        cert_checked = Some(info.not_after.clone());
                        if let (Some(w), Some(t)) = (camward_web::expiry_warning(&info), snap.certificate_not_after) {
                            agent.notify(Notification::new(Event::CertificateExpiry, w)
                                .with(mib::cert_not_after_oid(), mib::date_and_time(t))
                                .with(mib::cert_days_left_oid(), camward_snmp::Value::Integer(info.days_left.clamp(i32::MIN as i64, i32::MAX as i64) as i32)));
                        }
                    }
                }
            }
        }
        if let Some((_, agent)) = running {
            agent.stop().await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorder_that_is_starting_is_not_trapped_as_stopped() {
        use RecordingState::*;
        let run = |states: &[RecordingState]| {
            let mut w = RecordingWatch::default();
            states.iter().map(|s| w.observe(*s)).collect::<Vec<_>>()
        };
        let stopped = Some(Event::RecordingStopped);
        let full = Some(Event::RecordingFull);
        // Switched on, one poll while it starts, then recording: no trap.
        assert_eq!(run(&[Disabled, Stopped, Recording]), [None, None, None]);
        // Switched on but it never starts: trapped once, on the second poll.
        assert_eq!(
            run(&[Disabled, Stopped, Stopped, Stopped]),
            [None, None, stopped, None]
        );
        // A running recorder that stops or fills up: trapped at once, once.
        assert_eq!(
            run(&[Recording, Stopped, Stopped, Full, Full, Recording, Full]),
            [None, stopped, None, full, None, None, full]
        );
        // Already stopped or full when the agent starts: nothing changed, no trap.
        assert_eq!(run(&[Stopped, Stopped]), [None, None]);
        assert_eq!(run(&[Full, Disabled]), [None, None]);
    }

    #[test]
    fn a_failed_port_trap_carries_state_method_reason_and_time() {
        let mut s = PortStatus::new(PortState::Failed, Some("x".repeat(300)));
        s.method = Some("PEAP".into());
        let n = dot1x_notification(&s);
        assert_eq!(n.event, Event::Dot1xPortChange);
        assert!(
            n.text.starts_with("IEEE 802.1X port failed: x"),
            "{}",
            n.text
        );
        let get = |oid: camward_snmp::Oid| {
            n.objects
                .iter()
                .find(|(o, _)| *o == oid)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            get(mib::dot1x_state_oid()),
            Some(camward_snmp::Value::Integer(5))
        );
        assert_eq!(
            get(mib::dot1x_method_oid()),
            Some(camward_snmp::Value::OctetString("PEAP".into()))
        );
        // The reason object keeps to camwardDot1xReason's SIZE; the text has it whole.
        match get(mib::dot1x_reason_oid()) {
            Some(camward_snmp::Value::OctetString(b)) => assert_eq!(b.len(), 255),
            v => panic!("{v:?}"),
        }
        assert_eq!(
            get(mib::dot1x_last_change_oid()),
            Some(mib::date_and_time(s.since))
        );
    }

    #[test]
    fn every_port_state_maps_to_its_mib_number() {
        for (state, n) in [
            (PortState::Disabled, 1),
            (PortState::Connecting, 2),
            (PortState::Authenticated, 3),
            (PortState::Held, 4),
            (PortState::Failed, 5),
        ] {
            assert_eq!(dot1x_port(&PortStatus::new(state, None)).state as i32, n);
        }
    }
}
