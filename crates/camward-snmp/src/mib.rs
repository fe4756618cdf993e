//! The objects the agent serves (paper §4.7): MIB-II `system` and `interfaces`, `snmpEngine`,
//! `usmStats`, and the camward enterprise subtree described by `mibs/CAMWARD-MIB.txt` (streams
//! with their viewers, recording state and free space, last alarm, certificate expiry, lockouts,
//! and the IEEE 802.1X port state of paper §3.6: state, EAP method, reason and last change).
//!
//! Each subtree is a provider that lists its objects in OID order when asked; GET evaluates only
//! the provider holding the OID, GETNEXT walks the providers in order.

use crate::engine::{Counters, ENTERPRISE, Engine};
use async_snmp::{Oid, Value};
use bytes::Bytes;
use std::time::{SystemTime, UNIX_EPOCH};

pub const SYSTEM: &[u32] = &[1, 3, 6, 1, 2, 1, 1];
pub const SYS_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 1, 0];
pub const SYS_UPTIME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
pub const SYS_CONTACT: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 4, 0];
pub const SYS_NAME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 5, 0];
pub const SYS_LOCATION: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 6, 0];
pub const INTERFACES: &[u32] = &[1, 3, 6, 1, 2, 1, 2];
pub const SNMP_ENGINE: &[u32] = &[1, 3, 6, 1, 6, 3, 10, 2, 1];
pub const USM_STATS: &[u32] = &[1, 3, 6, 1, 6, 3, 15, 1, 1];
/// snmpTrapOID.0 (RFC 3418).
pub const SNMP_TRAP_OID: &[u32] = &[1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0];

/// camwardMIB: enterprises.32473 (the documentation PEN, see `engine::ENTERPRISE`).
pub fn camward() -> Oid {
    Oid::from_slice(&[1, 3, 6, 1, 4, 1, ENTERPRISE])
}

fn camward_oid(tail: &[u32]) -> Oid {
    let mut v = vec![1, 3, 6, 1, 4, 1, ENTERPRISE];
    v.extend_from_slice(tail);
    Oid::new(v)
}

/// sysObjectID: camwardProducts.camwardCamera.
pub fn product() -> Oid {
    camward_oid(&[4, 1])
}

/// camwardNotifications.0.N.
pub fn notification(n: u32) -> Oid {
    camward_oid(&[2, 0, n])
}

/// camwardNotifyText.0: the sentence a notification carries (accessible-for-notify).
pub fn notify_text() -> Oid {
    camward_oid(&[1, 5, 1, 0])
}

pub fn recording_state_oid() -> Oid {
    camward_oid(&[1, 2, 1, 0])
}
pub fn recording_free_oid() -> Oid {
    camward_oid(&[1, 2, 2, 0])
}
pub fn last_alarm_source_oid() -> Oid {
    camward_oid(&[1, 3, 2, 0])
}
pub fn last_alarm_time_oid() -> Oid {
    camward_oid(&[1, 3, 3, 0])
}
pub fn cert_not_after_oid() -> Oid {
    camward_oid(&[1, 4, 1, 0])
}
pub fn cert_days_left_oid() -> Oid {
    camward_oid(&[1, 4, 2, 0])
}
/// camwardDot1xPortState.0.
pub fn dot1x_state_oid() -> Oid {
    camward_oid(&[1, 6, 1, 0])
}
/// camwardDot1xEapMethod.0.
pub fn dot1x_method_oid() -> Oid {
    camward_oid(&[1, 6, 2, 0])
}
/// camwardDot1xReason.0.
pub fn dot1x_reason_oid() -> Oid {
    camward_oid(&[1, 6, 3, 0])
}
/// camwardDot1xLastChange.0.
pub fn dot1x_last_change_oid() -> Oid {
    camward_oid(&[1, 6, 4, 0])
}

/// One H.264 stream as the enterprise MIB shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStatus {
    /// 1 = Stream(1), 2 = Stream(2).
    pub index: u32,
    pub enabled: bool,
    /// RTSP clients playing it now.
    pub viewers: u32,
    pub width: u32,
    pub height: u32,
}

/// One upstream camera of recorder mode (camwardCameraTable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraRow {
    pub name: String,
    /// A picture arrived within the last few seconds.
    pub connected: bool,
    pub bitrate_bps: u64,
    /// Wall-clock time of the latest picture.
    pub last_frame: Option<SystemTime>,
    /// The latest failure (kept after the camera is back); never holds a secret (URLs carry no
    /// password).
    pub last_error: Option<String>,
    /// When `last_error` happened.
    pub last_error_at: Option<SystemTime>,
    pub recording: bool,
}

/// camwardRecordingState values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingState {
    /// Recording is switched off in the settings.
    Disabled = 1,
    Recording = 2,
    /// Switched on but not recording (no storage, recorder failed).
    Stopped = 3,
    /// The storage is below its minimum free space and nothing more can be deleted.
    Full = 4,
}

/// camwardDot1xPortState values: the IEEE 802.1X port state of paper §3.6 as camward's status
/// shows it (the daemon maps camward-dot1x's state onto these; this crate does not know it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dot1xPortState {
    /// IEEE 802.1X is off: no supplicant runs.
    Disabled = 1,
    /// The supplicant runs; no EAP exchange has completed yet.
    Connecting = 2,
    /// The authentication server accepted the camera: the port is open.
    Authenticated = 3,
    /// The supplicant waits out its held period after a refusal.
    Held = 4,
    /// The last attempt failed (see the reason) or the supplicant cannot run.
    Failed = 5,
}

/// The IEEE 802.1X port as the enterprise MIB shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dot1xPort {
    pub state: Dot1xPortState,
    /// The EAP method last selected (`MD5`, `PEAP`, `TLS`).
    pub method: Option<String>,
    /// Why the port is not authenticated; never holds a secret.
    pub reason: Option<String>,
    /// When the state or reason last changed.
    pub since: SystemTime,
}

impl Dot1xPort {
    /// 802.1X off, since `since`.
    pub fn disabled(since: SystemTime) -> Dot1xPort {
        Dot1xPort {
            state: Dot1xPortState::Disabled,
            method: None,
            reason: None,
            since,
        }
    }
}

/// What the daemon reports about the camera for the enterprise subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSnapshot {
    pub streams: Vec<StreamStatus>,
    /// Upstream cameras (recorder mode), in name order: row i + 1 of camwardCameraTable.
    pub cameras: Vec<CameraRow>,
    pub recording: RecordingState,
    /// Free space of the recording storage in KiB (what `df` shows), saturating at Gauge32.
    pub free_kib: u64,
    pub alarms: u32,
    /// Source (`command`, `terminal1`, `vmd1`, …) and time of the last alarm.
    pub last_alarm: Option<(String, SystemTime)>,
    /// notAfter of the device certificate.
    pub certificate_not_after: Option<SystemTime>,
    pub lockouts: u32,
    pub auth_failures: u32,
    /// The IEEE 802.1X port (paper §3.6).
    pub dot1x: Dot1xPort,
}

/// The daemon's view of the camera, asked for on each request that reaches the camward subtree.
pub trait DeviceStatus: Send + Sync + 'static {
    fn snapshot(&self) -> DeviceSnapshot;
}

/// The values of `system` that come from the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemTexts {
    pub descr: String,
    pub contact: String,
    pub name: String,
    pub location: String,
}

/// Everything a request may read: built per request from shared handles.
pub struct View<'a> {
    pub engine: &'a Engine,
    pub system: &'a SystemTexts,
    pub device: &'a dyn DeviceStatus,
}

type Entries = Vec<(Oid, Value)>;

struct Provider {
    prefix: &'static [u32],
    list: fn(&View<'_>) -> Entries,
}

/// In OID order.
const PROVIDERS: &[Provider] = &[
    Provider {
        prefix: SYSTEM,
        list: system,
    },
    Provider {
        prefix: INTERFACES,
        list: interfaces,
    },
    Provider {
        prefix: &[1, 3, 6, 1, 4, 1, ENTERPRISE],
        list: enterprise,
    },
    Provider {
        prefix: SNMP_ENGINE,
        list: snmp_engine,
    },
    Provider {
        prefix: USM_STATS,
        list: usm_stats,
    },
];

fn text(s: &str) -> Value {
    Value::OctetString(Bytes::copy_from_slice(s.as_bytes()))
}

fn system(v: &View<'_>) -> Entries {
    let o = |i: u32| Oid::new([1, 3, 6, 1, 2, 1, 1, i, 0]);
    vec![
        (o(1), text(&v.system.descr)),
        (o(2), Value::ObjectIdentifier(product())),
        (o(3), Value::TimeTicks(v.engine.uptime_ticks())),
        (o(4), text(&v.system.contact)),
        (o(5), text(&v.system.name)),
        (o(6), text(&v.system.location)),
        // applications (7) and end-to-end (4): 2^6 + 2^3 (RFC 3418 sysServices).
        (o(7), Value::Integer(72)),
    ]
}

fn interfaces(_: &View<'_>) -> Entries {
    let ifs = crate::interfaces::list();
    let mut out = vec![(
        Oid::new([1, 3, 6, 1, 2, 1, 2, 1, 0]),
        Value::Integer(ifs.len() as i32),
    )];
    let col = |c: u32, i: u32| Oid::new([1, 3, 6, 1, 2, 1, 2, 2, 1, c, i]);
    for f in &ifs {
        let i = f.index;
        out.push((col(1, i), Value::Integer(i as i32)));
        out.push((col(2, i), text(&f.name)));
        out.push((col(3, i), Value::Integer(f.if_type)));
        out.push((col(4, i), Value::Integer(f.mtu)));
        out.push((col(5, i), Value::Gauge32(f.speed)));
        out.push((
            col(6, i),
            Value::OctetString(Bytes::copy_from_slice(&f.mac)),
        ));
        out.push((col(7, i), Value::Integer(if f.admin_up { 1 } else { 2 })));
        out.push((col(8, i), Value::Integer(if f.oper_up { 1 } else { 2 })));
        out.push((col(10, i), Value::Counter32(f.in_octets as u32)));
        out.push((col(16, i), Value::Counter32(f.out_octets as u32)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn snmp_engine(v: &View<'_>) -> Entries {
    let o = |i: u32| Oid::new([1, 3, 6, 1, 6, 3, 10, 2, 1, i, 0]);
    vec![
        (
            o(1),
            Value::OctetString(Bytes::copy_from_slice(v.engine.id())),
        ),
        (o(2), Value::Integer(v.engine.boots() as i32)),
        (o(3), Value::Integer(v.engine.time() as i32)),
        (o(4), Value::Integer(crate::usm::MAX_MESSAGE as i32)),
    ]
}

fn usm_stats(v: &View<'_>) -> Entries {
    let c = &v.engine.counters;
    let o = |i: u32| Oid::new([1, 3, 6, 1, 6, 3, 15, 1, 1, i, 0]);
    [
        &c.unsupported_sec_levels,
        &c.not_in_time_windows,
        &c.unknown_user_names,
        &c.unknown_engine_ids,
        &c.wrong_digests,
        &c.decryption_errors,
    ]
    .iter()
    .enumerate()
    .map(|(i, a)| (o(i as u32 + 1), Value::Counter32(Counters::get(a))))
    .collect()
}

/// DateAndTime (RFC 2579) in UTC: year, month, day, hour, minutes, seconds, deci-seconds, '+', 0, 0.
pub fn date_and_time(t: SystemTime) -> Value {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let mut b = Vec::with_capacity(11);
    b.extend_from_slice(&(y as u16).to_be_bytes());
    b.extend_from_slice(&[
        m as u8,
        d as u8,
        (rem / 3600) as u8,
        (rem % 3600 / 60) as u8,
        (rem % 60) as u8,
        0,
        b'+',
        0,
        0,
    ]);
    Value::OctetString(Bytes::from(b))
}

/// Howard Hinnant's days-to-civil conversion (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Whole days from now to `t` (negative once past).
pub fn days_until(t: SystemTime) -> i32 {
    let now = SystemTime::now();
    let secs = match t.duration_since(now) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    (secs.div_euclid(86_400)).clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

fn enterprise(v: &View<'_>) -> Entries {
    let s = v.device.snapshot();
    let mut out = Vec::new();
    let col = |c: u32, i: u32| camward_oid(&[1, 1, 1, 1, c, i]);
    for st in &s.streams {
        let i = st.index;
        out.push((col(2, i), text(&format!("Stream({i})"))));
        // TruthValue: true(1), false(2).
        out.push((col(3, i), Value::Integer(if st.enabled { 1 } else { 2 })));
        out.push((col(4, i), Value::Gauge32(st.viewers)));
        out.push((col(5, i), Value::Integer(st.width as i32)));
        out.push((col(6, i), Value::Integer(st.height as i32)));
    }
    out.push((recording_state_oid(), Value::Integer(s.recording as i32)));
    out.push((
        recording_free_oid(),
        Value::Gauge32(s.free_kib.min(u32::MAX as u64) as u32),
    ));
    out.push((camward_oid(&[1, 3, 1, 0]), Value::Counter32(s.alarms)));
    let (src, when) = match &s.last_alarm {
        Some((src, t)) => (text(src), date_and_time(*t)),
        None => (text(""), date_and_time(UNIX_EPOCH)),
    };
    out.push((last_alarm_source_oid(), src));
    out.push((last_alarm_time_oid(), when));
    if let Some(t) = s.certificate_not_after {
        out.push((cert_not_after_oid(), date_and_time(t)));
        out.push((cert_days_left_oid(), Value::Integer(days_until(t))));
    }
    out.push((camward_oid(&[1, 4, 3, 0]), Value::Counter32(s.lockouts)));
    out.push((
        camward_oid(&[1, 4, 4, 0]),
        Value::Counter32(s.auth_failures),
    ));
    let c = &v.engine.counters;
    out.push((
        camward_oid(&[1, 5, 2, 0]),
        Value::Counter32(Counters::get(&c.notifications_sent)),
    ));
    out.push((
        camward_oid(&[1, 5, 3, 0]),
        Value::Counter32(Counters::get(&c.informs_unacknowledged)),
    ));
    let cam = |c: u32, i: u32| camward_oid(&[1, 7, 1, 1, c, i]);
    for (i, c) in s
        .cameras
        .iter()
        .enumerate()
        .take(camward_config::cameras::MAX_CAMERAS)
    {
        let i = i as u32 + 1;
        out.push((cam(2, i), text(&c.name)));
        out.push((cam(3, i), Value::Integer(if c.connected { 1 } else { 2 })));
        out.push((
            cam(4, i),
            Value::Gauge32(c.bitrate_bps.min(u32::MAX as u64) as u32),
        ));
        out.push((cam(5, i), date_and_time(c.last_frame.unwrap_or(UNIX_EPOCH))));
        out.push((
            cam(6, i),
            text(&truncate(c.last_error.as_deref().unwrap_or(""))),
        ));
        out.push((cam(7, i), Value::Integer(if c.recording { 1 } else { 2 })));
        out.push((
            cam(8, i),
            date_and_time(c.last_error_at.unwrap_or(UNIX_EPOCH)),
        ));
    }
    let port = &s.dot1x;
    out.push((dot1x_state_oid(), Value::Integer(port.state as i32)));
    out.push((
        dot1x_method_oid(),
        text(port.method.as_deref().unwrap_or("")),
    ));
    out.push((
        dot1x_reason_oid(),
        text(&truncate(port.reason.as_deref().unwrap_or(""))),
    ));
    out.push((dot1x_last_change_oid(), date_and_time(port.since)));
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The SIZE of camwardDot1xReason.
const REASON_MAX: usize = 255;

/// At most the 255 octets of camwardDot1xReason's SIZE of `s`, cut at a character boundary.
pub fn truncate(s: &str) -> String {
    let mut end = s.len().min(REASON_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// GET of one OID: its value, or the exception SNMPv2 answers with.
pub fn get(view: &View<'_>, oid: &Oid) -> Value {
    let Some(p) = PROVIDERS.iter().find(|p| oid.arcs().starts_with(p.prefix)) else {
        return Value::NoSuchObject;
    };
    let entries = (p.list)(view);
    match entries.binary_search_by(|(o, _)| o.cmp(oid)) {
        Ok(i) => entries[i].1.clone(),
        // An object of ours without this instance vs. no such object at all.
        Err(_) if entries.iter().any(|(o, _)| o.parent() == oid.parent()) => Value::NoSuchInstance,
        Err(_) => Value::NoSuchObject,
    }
}

/// GETNEXT: the first object after `oid`, or None at the end of the MIB view.
pub fn next(view: &View<'_>, oid: &Oid) -> Option<(Oid, Value)> {
    for p in PROVIDERS {
        let prefix = Oid::from_slice(p.prefix);
        // A subtree wholly before `oid` cannot hold its successor.
        if prefix < *oid && !oid.starts_with(&prefix) {
            continue;
        }
        let entries = (p.list)(view);
        if let Some(e) = entries.into_iter().find(|(o, _)| o > oid) {
            return Some(e);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl DeviceStatus for Fixed {
        fn snapshot(&self) -> DeviceSnapshot {
            DeviceSnapshot {
                streams: vec![
                    StreamStatus {
                        index: 1,
                        enabled: true,
                        viewers: 3,
                        width: 640,
                        height: 360,
                    },
                    StreamStatus {
                        index: 2,
                        enabled: false,
                        viewers: 0,
                        width: 320,
                        height: 180,
                    },
                ],
                cameras: vec![CameraRow {
                    name: "gate".into(),
                    connected: true,
                    bitrate_bps: 5 << 32,
                    last_frame: Some(UNIX_EPOCH),
                    last_error: Some("stream ended".into()),
                    last_error_at: Some(UNIX_EPOCH + std::time::Duration::from_secs(1_772_368_496)),
                    recording: false,
                }],
                recording: RecordingState::Recording,
                free_kib: 1 << 40,
                alarms: 2,
                last_alarm: Some(("command".into(), UNIX_EPOCH)),
                certificate_not_after: None,
                lockouts: 1,
                auth_failures: 9,
                dot1x: Dot1xPort {
                    state: Dot1xPortState::Failed,
                    method: Some("PEAP".into()),
                    reason: Some("é".repeat(200)),
                    since: UNIX_EPOCH,
                },
            }
        }
    }

    fn walk(view: &View<'_>) -> Vec<(Oid, Value)> {
        let mut out = Vec::new();
        let mut at = Oid::new([1, 3]);
        while let Some((o, v)) = next(view, &at) {
            assert!(o > at, "walk must advance: {o} after {at}");
            at = o.clone();
            out.push((o, v));
            assert!(out.len() < 10_000);
        }
        out
    }

    #[test]
    fn a_walk_visits_every_provider_in_order_and_get_agrees() {
        let engine = Engine::ephemeral(vec![0x80, 0, 0x7e, 0xd9, 5, 1, 2, 3], 4);
        let system = SystemTexts {
            name: "cam-front".into(),
            ..Default::default()
        };
        let view = View {
            engine: &engine,
            system: &system,
            device: &Fixed,
        };
        let all = walk(&view);
        assert_eq!(all[0].0, Oid::from_slice(SYS_DESCR));
        let oids: Vec<&Oid> = all.iter().map(|(o, _)| o).collect();
        assert!(oids.windows(2).all(|w| w[0] < w[1]));
        for (o, v) in &all {
            if o.arcs().starts_with(SYSTEM) && o.arcs() != SYS_UPTIME {
                assert_eq!(&get(&view, o), v, "{o}");
            }
        }
        assert_eq!(
            get(&view, &Oid::from_slice(SYS_NAME)),
            Value::OctetString(Bytes::from_static(b"cam-front"))
        );
        assert_eq!(
            get(&view, &camward_oid(&[1, 1, 1, 1, 4, 1])),
            Value::Gauge32(3)
        );
        // Free space saturates rather than wraps.
        assert_eq!(get(&view, &recording_free_oid()), Value::Gauge32(u32::MAX));
        assert_eq!(
            get(&view, &Oid::new([1, 3, 6, 1, 2, 1, 1, 5, 1])),
            Value::NoSuchInstance
        );
        assert_eq!(get(&view, &Oid::new([1, 3, 6, 1, 9])), Value::NoSuchObject);
        assert_eq!(get(&view, &dot1x_state_oid()), Value::Integer(5));
        assert_eq!(
            get(&view, &dot1x_method_oid()),
            Value::OctetString(Bytes::from_static(b"PEAP"))
        );
        // The reason fits camwardDot1xReason's SIZE (0..255) without splitting a character.
        match get(&view, &dot1x_reason_oid()) {
            Value::OctetString(b) => {
                assert_eq!(b.len(), 254);
                assert!(std::str::from_utf8(&b).is_ok());
            }
            v => panic!("{v:?}"),
        }
        assert_eq!(
            get(&view, &dot1x_last_change_oid()),
            date_and_time(UNIX_EPOCH)
        );
        assert!(next(&view, &Oid::new([1, 3, 6, 1, 6, 3, 15, 1, 1, 6, 0])).is_none());
        // camwardCameraTable row 1: name, connected, bit rate (saturating), not recording, the
        // latest error kept with its time.
        assert_eq!(
            get(&view, &camward_oid(&[1, 7, 1, 1, 2, 1])),
            Value::OctetString(Bytes::from_static(b"gate"))
        );
        assert_eq!(
            get(&view, &camward_oid(&[1, 7, 1, 1, 3, 1])),
            Value::Integer(1)
        );
        assert_eq!(
            get(&view, &camward_oid(&[1, 7, 1, 1, 4, 1])),
            Value::Gauge32(u32::MAX)
        );
        assert_eq!(
            get(&view, &camward_oid(&[1, 7, 1, 1, 7, 1])),
            Value::Integer(2)
        );
        assert_eq!(
            get(&view, &camward_oid(&[1, 7, 1, 1, 6, 1])),
            Value::OctetString(Bytes::from_static(b"stream ended"))
        );
        assert_eq!(
            get(&view, &camward_oid(&[1, 7, 1, 1, 8, 1])),
            date_and_time(UNIX_EPOCH + std::time::Duration::from_secs(1_772_368_496))
        );
        assert_eq!(
            get(&view, &camward_oid(&[1, 7, 1, 1, 2, 2])),
            Value::NoSuchInstance
        );
    }

    #[test]
    fn date_and_time_is_rfc2579_utc() {
        // 2026-03-01T12:34:56Z
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_772_368_496);
        assert_eq!(
            date_and_time(t),
            Value::OctetString(Bytes::from_static(&[
                0x07, 0xea, 3, 1, 12, 34, 56, 0, b'+', 0, 0
            ]))
        );
    }

    struct Many;
    impl DeviceStatus for Many {
        fn snapshot(&self) -> DeviceSnapshot {
            let mut s = Fixed.snapshot();
            s.cameras = (0..camward_config::cameras::MAX_CAMERAS)
                .map(|i| CameraRow {
                    name: format!("cam{i:02}"),
                    ..s.cameras[0].clone()
                })
                .collect();
            s
        }
    }

    #[test]
    fn the_camera_table_has_a_row_for_every_camera_recorder_mode_allows() {
        let engine = Engine::ephemeral(vec![0x80, 0, 0x7e, 0xd9, 5, 1, 2, 3], 4);
        let system = SystemTexts::default();
        let view = View {
            engine: &engine,
            system: &system,
            device: &Many,
        };
        let last = camward_config::cameras::MAX_CAMERAS as u32;
        assert_eq!(
            get(&view, &camward_oid(&[1, 7, 1, 1, 2, last])),
            Value::OctetString(Bytes::from(format!("cam{:02}", last - 1)))
        );
        let names = walk(&view)
            .into_iter()
            .filter(|(o, _)| o.arcs().starts_with(camward_oid(&[1, 7, 1, 1, 2]).arcs()))
            .count();
        assert_eq!(names, camward_config::cameras::MAX_CAMERAS);
    }
}
