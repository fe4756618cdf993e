//! camward's SNMP agent (paper §4.7): monitoring systems poll the camera over SNMP. SNMPv3 with
//! the User-based Security Model (authentication MD5/SHA-1/SHA-2, privacy DES/AES) is always
//! offered and recommended; v1/v2c (a community in clear) only when the settings ask for it, and
//! then read-only. The agent serves MIB-II `system` and `interfaces`, `snmpEngine`, `usmStats` and
//! the camward enterprise subtree (mibs/CAMWARD-MIB.txt), takes SET of sysContact/sysName/
//! sysLocation from authPriv users only, and sends traps for alarms, authentication failures,
//! lockouts, recording trouble, certificate expiry and IEEE 802.1X port changes (paper §3.6).
//!
//! The host filter (paper §3.4) runs on each datagram before any of it is decoded. The daemon
//! starts the [`Agent`] while `snmp.enabled` is on, hands it new settings with [`Agent::apply`],
//! and reaches the device through [`DeviceStatus`] and [`SystemWriter`].
#![forbid(unsafe_code)]

mod agent;
pub mod engine;
pub mod interfaces;
pub mod mib;
mod notify;
pub mod usm;

pub use agent::{SystemField, SystemWriter, peek_version};
/// The OID and value types of [`Notification`] objects.
pub use async_snmp::{Oid, Value};
pub use engine::{ENTERPRISE, Engine, EngineError};
pub use mib::{
    CameraRow, DeviceSnapshot, DeviceStatus, Dot1xPort, Dot1xPortState, RecordingState,
    StreamStatus, SystemTexts,
};
pub use notify::{Event, Notification};

use agent::{Shared, State};
use camward_auth::Gate;
use camward_config::SnmpConfig;
use notify::Pending;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Everything the agent needs from the daemon.
pub struct AgentInput {
    /// UDP address to answer on.
    pub bind: SocketAddr,
    pub config: SnmpConfig,
    /// sysDescr.
    pub descr: String,
    pub engine: Arc<Engine>,
    pub gate: Arc<dyn Gate>,
    pub device: Arc<dyn DeviceStatus>,
    pub writer: Arc<dyn SystemWriter>,
}

/// A running agent; dropping it without [`Agent::stop`] leaves the socket open until the task
/// notices, so stop it.
pub struct Agent {
    shared: Arc<Shared>,
    pending: Arc<Pending>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

fn build_state(engine: &Arc<Engine>, config: &SnmpConfig, descr: &str) -> Result<State, String> {
    Ok(State {
        usm: usm::Usm::new(engine.clone(), &config.users)?,
        system: SystemTexts {
            descr: descr.to_owned(),
            contact: config.contact.clone(),
            name: config.system_name.clone(),
            location: config.location.clone(),
        },
        cfg: config.clone(),
    })
}

impl Agent {
    /// Binds the UDP socket and starts answering.
    pub async fn start(input: AgentInput) -> std::io::Result<Agent> {
        let state = build_state(&input.engine, &input.config, &input.descr)
            .map_err(std::io::Error::other)?;
        let socket = UdpSocket::bind(input.bind).await?;
        let shared = Arc::new(Shared {
            socket,
            engine: input.engine,
            gate: input.gate,
            device: input.device,
            writer: input.writer,
            state: RwLock::new(Arc::new(state)),
        });
        let pending = Arc::new(Pending::default());
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(shared.clone(), pending.clone(), stop_rx));
        Ok(Agent {
            shared,
            pending,
            stop,
            task,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.shared.socket.local_addr()
    }

    /// Takes new settings (users, community, texts, destinations) without closing the socket.
    pub fn apply(&self, config: &SnmpConfig, descr: &str) -> Result<(), String> {
        let state = build_state(&self.shared.engine, config, descr)?;
        *self.shared.state.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(state);
        Ok(())
    }

    /// Sends a notification to every destination in the background.
    pub fn notify(&self, n: Notification) -> JoinHandle<usize> {
        tokio::spawn(notify::send(self.shared.clone(), self.pending.clone(), n))
    }

    /// Closes the socket.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn run(shared: Arc<Shared>, pending: Arc<Pending>, mut stop: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, peer) = tokio::select! {
            _ = stop.changed() => return,
            r = shared.socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    // ICMP errors from earlier sends surface here on some systems: not fatal.
                    tracing::debug!(error = %e, "snmp receive error");
                    continue;
                }
            },
        };
        // Host authentication (paper §3.4) before a byte of the datagram is read.
        if !shared.gate.host_allowed(agent::canonical(peer.ip())) {
            engine::Counters::bump(&shared.engine.counters.filtered);
            tracing::debug!(%peer, "snmp datagram refused by the host filter");
            continue;
        }
        let data = bytes::Bytes::copy_from_slice(&buf[..n]);
        if let Some(id) = inform_ack(&shared, &data) {
            pending.acknowledge(id);
            continue;
        }
        if let Some(reply) = agent::handle(&shared, data, peer).await
            && let Err(e) = shared.socket.send_to(&reply, peer).await
        {
            tracing::debug!(%peer, error = %e, "snmp response not sent");
        }
    }
}

/// Decodes an SNMPv1/v2c message as the agent does (for the fuzz target): its community and PDU
/// type, or None when it is not one.
pub fn decode_community(data: bytes::Bytes) -> Option<(Vec<u8>, async_snmp::PduType)> {
    let m = async_snmp::message::CommunityMessage::decode(data, async_snmp::DecodeConfig::DEFAULT)
        .ok()?
        .value;
    Some((m.community().as_bytes().to_vec(), m.pdu().pdu_type()))
}

/// A v2c Response to one of our informs (carrying our community).
fn inform_ack(shared: &Shared, data: &bytes::Bytes) -> Option<i32> {
    if peek_version(data) != Some(1) {
        return None;
    }
    let state = shared.state();
    if !state.cfg.v1v2c {
        return None;
    }
    let msg = async_snmp::message::CommunityMessage::decode(
        data.clone(),
        async_snmp::DecodeConfig::DEFAULT,
    )
    .ok()?
    .value;
    let pdu = msg.pdu().standard()?;
    (pdu.pdu_type() == async_snmp::PduType::Response
        && Some(msg.community().as_bytes()) == state.cfg.community.expose().map(str::as_bytes))
    .then(|| pdu.request_id())
}
