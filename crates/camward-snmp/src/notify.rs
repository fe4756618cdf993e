//! Notifications (paper §4.7): SNMPv2 traps for alarms, authentication failures, lockouts,
//! recording stopped/full, certificate expiry and IEEE 802.1X port changes (paper §3.6), to every
//! configured destination: SNMPv3 authPriv with the destination's user (this engine is
//! authoritative for traps, RFC 3414 §1.5.2), or v2c with the community while v1/v2c is on.
//! InformRequests, over v2c or SNMPv3 authPriv, are retried until the receiver acknowledges them;
//! for a v3 inform the receiver is the authoritative engine, discovered before each inform.

use crate::agent::Shared;
use crate::engine::Counters;
use crate::mib;
use async_snmp::message::{CommunityMessage, ScopedPdu, SecurityLevel};
use async_snmp::pdu::NotificationPdu;
use async_snmp::{Auth, Client, CommunityVersion, Oid, Retry, UsmConfig, Value, VarBind, Version};
use bytes::Bytes;
use camward_config::snmp::{SnmpNotifyVersion, SnmpTrapDestination};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Inform attempts per destination, and the wait for each acknowledgement.
const INFORM_TRIES: u32 = 3;
const INFORM_WAIT: Duration = Duration::from_secs(2);

/// What happened, as the CAMWARD-MIB notifications name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Alarm = 1,
    AuthFailure = 2,
    Lockout = 3,
    RecordingStopped = 4,
    RecordingFull = 5,
    CertificateExpiry = 6,
    /// The IEEE 802.1X port state or its reason changed.
    Dot1xPortChange = 7,
}

/// One notification: its kind, a sentence for people, and objects it carries.
#[derive(Debug, Clone)]
pub struct Notification {
    pub event: Event,
    pub text: String,
    pub objects: Vec<(Oid, Value)>,
}

impl Notification {
    pub fn new(event: Event, text: impl Into<String>) -> Notification {
        Notification {
            event,
            text: text.into(),
            objects: Vec::new(),
        }
    }

    pub fn with(mut self, oid: Oid, value: Value) -> Notification {
        self.objects.push((oid, value));
        self
    }

    pub fn trap_oid(&self) -> Oid {
        mib::notification(self.event as u32)
    }

    fn varbinds(&self) -> Vec<VarBind> {
        let mut v = vec![VarBind::new(
            mib::notify_text(),
            Value::OctetString(Bytes::copy_from_slice(self.text.as_bytes())),
        )];
        v.extend(
            self.objects
                .iter()
                .map(|(o, x)| VarBind::new(o.clone(), x.clone())),
        );
        v
    }
}

/// Informs waiting for their Response, by request-id.
#[derive(Default)]
pub(crate) struct Pending {
    map: Mutex<HashMap<i32, oneshot::Sender<()>>>,
    next: AtomicI32,
}

impl Pending {
    pub fn id(&self) -> i32 {
        // Positive and not zero, as managers expect.
        (self.next.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff).max(1)
    }

    /// A Response arrived for `request_id` from a destination.
    pub fn acknowledge(&self, request_id: i32) -> bool {
        let tx = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&request_id);
        tx.map(|t| t.send(()).is_ok()).unwrap_or(false)
    }
}

async fn resolve(d: &SnmpTrapDestination, v6: bool) -> Option<SocketAddr> {
    let addrs = tokio::net::lookup_host((d.host.as_str(), d.port))
        .await
        .ok()?;
    addrs.into_iter().find_map(|a| match (a, v6) {
        (SocketAddr::V4(a4), true) => Some(SocketAddr::new(
            std::net::IpAddr::V6(a4.ip().to_ipv6_mapped()),
            a4.port(),
        )),
        (SocketAddr::V6(_), false) => None,
        (a, _) => Some(a),
    })
}

/// One SNMPv3 authPriv InformRequest to `to` as `d.user`: engine discovery, then the inform,
/// retried as v2c informs are; true once the receiver acknowledged it.
async fn inform_v3(
    cfg: &camward_config::snmp::SnmpConfig,
    d: &SnmpTrapDestination,
    to: SocketAddr,
    uptime: u32,
    trap_oid: &Oid,
    varbinds: Vec<VarBind>,
) -> bool {
    let Some(user) = cfg.users.iter().find(|u| u.name == d.user) else {
        return false;
    };
    let Some(auth_pw) = user.auth_password.expose() else {
        return false;
    };
    let priv_pw = user.privacy_password().unwrap_or(auth_pw);
    let auth: Auth = match UsmConfig::new(user.name.clone()).auth_priv(
        crate::usm::auth_protocol(user.auth),
        auth_pw,
        crate::usm::priv_protocol(user.privacy),
        priv_pw,
    ) {
        Ok(u) => u.into(),
        Err(e) => {
            tracing::warn!(user = %user.name, error = %e, "snmp inform user unusable");
            return false;
        }
    };
    let Ok(retry) = Retry::fixed(INFORM_TRIES - 1, Duration::ZERO) else {
        return false;
    };
    // The agent's socket may be IPv6 with the receiver as a v4-mapped address; the inform's
    // own socket follows the receiver's real family.
    let to = SocketAddr::new(to.ip().to_canonical(), to.port());
    let client = match Client::builder(to.to_string(), auth)
        .request_timeout(INFORM_WAIT)
        .retry(retry)
        .connect()
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(%to, error = %e, "snmp inform receiver's engine not discovered");
            return false;
        }
    };
    match client.send_inform(trap_oid, uptime, varbinds).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(%to, error = %e, "snmp inform not acknowledged");
            false
        }
    }
}

/// Sends `n` to every destination; returns how many were sent (informs: acknowledged).
pub(crate) async fn send(shared: Arc<Shared>, pending: Arc<Pending>, n: Notification) -> usize {
    let state = shared.state();
    let v6 = shared
        .socket
        .local_addr()
        .map(|a| a.is_ipv6())
        .unwrap_or(false);
    let mut sent = 0;
    for d in &state.cfg.trap_destinations {
        let Some(to) = resolve(d, v6).await else {
            tracing::warn!(host = %d.host, "snmp trap destination cannot be resolved for this socket");
            continue;
        };
        let id = pending.id();
        let uptime = shared.engine.uptime_ticks();
        let trap_oid = n.trap_oid();
        let bytes = match d.version {
            SnmpNotifyVersion::V2c => {
                if !state.cfg.v1v2c {
                    continue;
                }
                let community = state.cfg.community.expose().unwrap_or("").to_owned();
                let pdu = if d.inform {
                    NotificationPdu::inform(Version::V2c, id, uptime, &trap_oid, n.varbinds())
                } else {
                    NotificationPdu::trap_v2(Version::V2c, id, uptime, &trap_oid, n.varbinds())
                };
                pdu.and_then(|p| {
                    CommunityMessage::new(
                        CommunityVersion::V2c,
                        Bytes::from(community.into_bytes()),
                        p,
                    )
                })
                .and_then(|m| m.encode())
                .map_err(|e| e.to_string())
            }
            SnmpNotifyVersion::V3 if d.inform => {
                // The receiver of an inform is authoritative (RFC 3414 §1.5.2): its engine is
                // discovered and the keys localized to it, which async-snmp's manager side does.
                if inform_v3(&state.cfg, d, to, uptime, &trap_oid, n.varbinds()).await {
                    sent += 1;
                    Counters::bump(&shared.engine.counters.notifications_sent);
                } else {
                    Counters::bump(&shared.engine.counters.informs_unacknowledged);
                }
                continue;
            }
            SnmpNotifyVersion::V3 => {
                let Some(user) = state.usm.user(d.user.as_bytes()) else {
                    continue;
                };
                NotificationPdu::trap_v2(Version::V3, id, uptime, &trap_oid, n.varbinds())
                    .map_err(|e| e.to_string())
                    .and_then(|p| {
                        let scoped = ScopedPdu::new(
                            Bytes::copy_from_slice(shared.engine.id()),
                            Bytes::new(),
                            p,
                        );
                        state.usm.encode(
                            id,
                            crate::usm::MAX_MESSAGE,
                            SecurityLevel::AuthPriv,
                            Some(&user),
                            scoped,
                            false,
                        )
                    })
            }
        };
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "snmp notification not encodable");
                continue;
            }
        };
        let inform = d.inform && d.version == SnmpNotifyVersion::V2c;
        if !inform {
            match shared.socket.send_to(&bytes, to).await {
                Ok(_) => {
                    sent += 1;
                    Counters::bump(&shared.engine.counters.notifications_sent);
                }
                Err(e) => tracing::warn!(%to, error = %e, "snmp trap not sent"),
            }
            continue;
        }
        let mut acknowledged = false;
        let (tx, mut rx) = oneshot::channel();
        pending
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        for _ in 0..INFORM_TRIES {
            if let Err(e) = shared.socket.send_to(&bytes, to).await {
                tracing::warn!(%to, error = %e, "snmp inform not sent");
                break;
            }
            match tokio::time::timeout(INFORM_WAIT, &mut rx).await {
                Ok(Ok(())) => {
                    sent += 1;
                    acknowledged = true;
                    break;
                }
                Ok(Err(_)) => break,
                Err(_) => continue,
            }
        }
        pending
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if acknowledged {
            Counters::bump(&shared.engine.counters.notifications_sent);
        } else {
            tracing::warn!(%to, "snmp inform not acknowledged after {INFORM_TRIES} tries");
            Counters::bump(&shared.engine.counters.informs_unacknowledged);
        }
    }
    tracing::debug!(event = ?n.event, sent, "snmp notification");
    sent
}
