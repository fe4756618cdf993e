//! The agent's UDP loop (paper §4.7, §3.4): the host filter drops a datagram before a byte of it
//! is decoded; SNMPv3 goes through USM and then the access check (the configured minimum level,
//! SET only at authPriv); v1/v2c is answered only while switched on, read-only, with the
//! community compared in constant time. GET, GETNEXT, GETBULK and SET of sysContact, sysName and
//! sysLocation (written through the device configuration, so validated and audited like the API).

use crate::engine::{Counters, Engine};
use crate::mib::{self, DeviceStatus, SystemTexts, View};
use crate::usm::{Inbound, MAX_MESSAGE, Usm, V3Request};
use async_snmp::message::{CommunityMessage, ScopedPdu, SecurityLevel};
use async_snmp::pdu::{ErrorIndex, OutboundErrorStatus, Pdu, PduBody, PduType, ResponsePdu};
use async_snmp::{CommunityVersion, DecodeConfig, Oid, Value, VarBind, Version};
use bytes::Bytes;
use camward_auth::Gate;
use camward_config::SnmpConfig;
use camward_config::snmp::SnmpSecurityLevel;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use tokio::net::UdpSocket;

/// GETBULK repetitions served at most, whatever the manager asks (bounds the work per datagram).
const MAX_REPETITIONS: u32 = 64;
/// Varbinds in one response at most.
const MAX_VARBINDS: usize = 256;

/// The writable `system` objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemField {
    Contact,
    Name,
    Location,
}

impl SystemField {
    fn of(oid: &Oid) -> Option<SystemField> {
        match oid.arcs() {
            a if a == mib::SYS_CONTACT => Some(SystemField::Contact),
            a if a == mib::SYS_NAME => Some(SystemField::Name),
            a if a == mib::SYS_LOCATION => Some(SystemField::Location),
            _ => None,
        }
    }

    /// The `snmp` setting it is stored in.
    pub fn setting(self) -> &'static str {
        match self {
            SystemField::Contact => "contact",
            SystemField::Name => "system_name",
            SystemField::Location => "location",
        }
    }
}

/// Writes SET values into the device configuration (validated, persisted and audited there).
pub trait SystemWriter: Send + Sync + 'static {
    /// `user` is the SNMPv3 user, `peer` the manager's address. All changes apply together or
    /// none does.
    fn write(
        &self,
        changes: Vec<(SystemField, String)>,
        user: &str,
        peer: IpAddr,
    ) -> Result<(), String>;
}

/// What the current settings make of the agent; replaced whole when they change.
pub(crate) struct State {
    pub usm: Usm,
    pub cfg: SnmpConfig,
    pub system: SystemTexts,
}

pub(crate) struct Shared {
    pub socket: UdpSocket,
    pub engine: Arc<Engine>,
    pub gate: Arc<dyn Gate>,
    pub device: Arc<dyn DeviceStatus>,
    pub writer: Arc<dyn SystemWriter>,
    pub state: RwLock<Arc<State>>,
}

impl Shared {
    pub fn state(&self) -> Arc<State> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Who is asking and what they may do.
struct Access {
    version: Version,
    write: bool,
    user: Option<String>,
    peer: IpAddr,
}

pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The SNMP version of a message: SEQUENCE { INTEGER version, … }, read without decoding more.
pub fn peek_version(data: &[u8]) -> Option<i64> {
    let mut i = 1;
    if *data.first()? != 0x30 {
        return None;
    }
    let l = *data.get(i)?;
    i += 1;
    if l & 0x80 != 0 {
        i += (l & 0x7f) as usize;
    }
    if *data.get(i)? != 0x02 || *data.get(i + 1)? != 1 {
        return None;
    }
    Some(*data.get(i + 2)? as i64)
}

/// Answers one datagram that passed the host filter; `None` means silence.
pub(crate) async fn handle(shared: &Shared, data: Bytes, peer: SocketAddr) -> Option<Bytes> {
    let state = shared.state();
    let c = &shared.engine.counters;
    match peek_version(&data) {
        Some(3) => match state.usm.process(data) {
            Inbound::Request(req) => v3_request(shared, &state, req, peer).await,
            Inbound::Report(r) => Some(r),
            Inbound::Drop(why) => {
                tracing::debug!(%peer, why, "snmp message dropped");
                None
            }
        },
        Some(0 | 1) => {
            if !state.cfg.v1v2c {
                // v3 only: v1/v2c gets no answer at all (paper §4.7).
                return None;
            }
            let msg = match CommunityMessage::decode(data, DecodeConfig::DEFAULT) {
                Ok(m) => m.value,
                Err(_) => {
                    Counters::bump(&c.parse_errors);
                    return None;
                }
            };
            let want = state.cfg.community.expose().unwrap_or("").as_bytes();
            if !constant_time_eq(msg.community().as_bytes(), want) || want.is_empty() {
                Counters::bump(&c.bad_community_names);
                tracing::info!(peer = %peer.ip(), "snmp request with a wrong community ignored");
                return None;
            }
            let (version, community, _) = (msg.version(), msg.community().clone(), ());
            let pdu = msg.into_pdu()?;
            let access = Access {
                version,
                write: false,
                user: None,
                peer: canonical(peer.ip()),
            };
            let resp = dispatch(shared, &state, pdu, &access, MAX_MESSAGE).await?;
            let cv = if version == Version::V1 {
                CommunityVersion::V1
            } else {
                CommunityVersion::V2c
            };
            CommunityMessage::new(cv, community, resp)
                .and_then(|m| m.encode())
                .inspect_err(|e| tracing::warn!(error = %e, "snmp response not encodable"))
                .ok()
        }
        _ => {
            Counters::bump(&c.parse_errors);
            None
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn level_rank(l: SecurityLevel) -> u8 {
    match l {
        SecurityLevel::NoAuthNoPriv => 0,
        SecurityLevel::AuthNoPriv => 1,
        SecurityLevel::AuthPriv => 2,
    }
}

async fn v3_request(
    shared: &Shared,
    state: &State,
    req: V3Request,
    peer: SocketAddr,
) -> Option<Bytes> {
    let V3Request {
        msg_id,
        max_size,
        level,
        user,
        scoped,
    } = req;
    let context_name = scoped.context_name.clone();
    let pdu = scoped.pdu;
    if matches!(pdu.pdu_type(), PduType::Response | PduType::Report) {
        return None;
    }
    let min = match state.cfg.min_security_level {
        SnmpSecurityLevel::AuthNoPriv => SecurityLevel::AuthNoPriv,
        SnmpSecurityLevel::AuthPriv => SecurityLevel::AuthPriv,
    };
    let name = String::from_utf8_lossy(&user.name).into_owned();
    let resp = if level_rank(level) < level_rank(min) {
        // VACM (RFC 3415 §3.2): no access entry for this level, even with the right user name.
        tracing::info!(peer = %peer.ip(), user = %name, ?level, "snmp request below the minimum security level refused");
        ResponsePdu::new(
            Version::V3,
            pdu.request_id(),
            OutboundErrorStatus::AuthorizationError,
            None,
            pdu.varbinds().to_vec(),
        )
        .ok()?
    } else {
        let access = Access {
            version: Version::V3,
            write: level == SecurityLevel::AuthPriv,
            user: Some(name),
            peer: canonical(peer.ip()),
        };
        dispatch(shared, state, pdu, &access, max_size).await?
    };
    let scoped = ScopedPdu::new(
        Bytes::copy_from_slice(shared.engine.id()),
        context_name,
        resp,
    );
    state
        .usm
        .encode(msg_id, max_size, level, Some(&user), scoped, false)
        .inspect_err(|e| tracing::warn!(error = %e, "snmp response not encodable"))
        .ok()
}

fn error_response(
    version: Version,
    request_id: i32,
    status: OutboundErrorStatus,
    index: usize,
    varbinds: Vec<VarBind>,
) -> Option<ResponsePdu> {
    // SNMPv1 knows only the first five error statuses (RFC 3584 §4.4).
    let status = if version == Version::V1 {
        match status {
            OutboundErrorStatus::NoAccess
            | OutboundErrorStatus::NotWritable
            | OutboundErrorStatus::NoCreation
            | OutboundErrorStatus::AuthorizationError => OutboundErrorStatus::NoSuchName,
            OutboundErrorStatus::WrongType
            | OutboundErrorStatus::WrongLength
            | OutboundErrorStatus::WrongValue
            | OutboundErrorStatus::WrongEncoding
            | OutboundErrorStatus::InconsistentValue => OutboundErrorStatus::BadValue,
            OutboundErrorStatus::CommitFailed | OutboundErrorStatus::ResourceUnavailable => {
                OutboundErrorStatus::GenErr
            }
            s => s,
        }
    } else {
        status
    };
    let idx = ErrorIndex::new(index as u32, varbinds.len()).ok();
    ResponsePdu::new(version, request_id, status, idx, varbinds).ok()
}

async fn dispatch(
    shared: &Shared,
    state: &State,
    pdu: Pdu,
    access: &Access,
    max_size: usize,
) -> Option<ResponsePdu> {
    let view = View {
        engine: &shared.engine,
        system: &state.system,
        device: shared.device.as_ref(),
    };
    let v = access.version;
    let rid = pdu.request_id();
    let (_, body, req) = pdu.into_raw_parts();
    if req.len() > MAX_VARBINDS {
        return ResponsePdu::too_big(v, rid, Vec::new()).ok();
    }
    let resp = match body {
        PduBody::GetBulk {
            non_repeaters,
            max_repetitions,
        } => {
            if v == Version::V1 {
                return None;
            }
            let n = (non_repeaters as usize).min(req.len());
            let mut out: Vec<VarBind> = req[..n]
                .iter()
                .map(|vb| next_varbind(&view, &vb.oid))
                .collect();
            let mut cursors: Vec<Oid> = req[n..].iter().map(|vb| vb.oid.clone()).collect();
            'rep: for _ in 0..max_repetitions.min(MAX_REPETITIONS) {
                if cursors.is_empty() {
                    break;
                }
                let mut all_end = true;
                for c in cursors.iter_mut() {
                    if out.len() >= MAX_VARBINDS {
                        break 'rep;
                    }
                    let vb = next_varbind(&view, c);
                    if vb.value != Value::EndOfMibView {
                        all_end = false;
                        *c = vb.oid.clone();
                    }
                    out.push(vb);
                }
                if all_end {
                    break;
                }
            }
            return fit(v, rid, out, max_size);
        }
        PduBody::Standard { pdu_type, .. } => match pdu_type.pdu_type() {
            PduType::GetRequest => {
                let mut out = Vec::with_capacity(req.len());
                for (i, vb) in req.iter().enumerate() {
                    let val = mib::get(&view, &vb.oid);
                    if v == Version::V1 && val.is_exception() {
                        return error_response(v, rid, OutboundErrorStatus::NoSuchName, i + 1, req);
                    }
                    out.push(VarBind::new(vb.oid.clone(), val));
                }
                ResponsePdu::success(v, rid, out).ok()
            }
            PduType::GetNextRequest => {
                let mut out = Vec::with_capacity(req.len());
                for (i, vb) in req.iter().enumerate() {
                    let n = next_varbind(&view, &vb.oid);
                    if v == Version::V1 && n.value == Value::EndOfMibView {
                        return error_response(v, rid, OutboundErrorStatus::NoSuchName, i + 1, req);
                    }
                    out.push(n);
                }
                ResponsePdu::success(v, rid, out).ok()
            }
            PduType::SetRequest => set(shared, state, &view, rid, req, access).await,
            _ => None,
        },
    }?;
    let len = encoded_len(&resp);
    if len + 200 > max_size {
        return ResponsePdu::too_big(v, rid, Vec::new()).ok();
    }
    Some(resp)
}

fn next_varbind(view: &View<'_>, oid: &Oid) -> VarBind {
    match mib::next(view, oid) {
        Some((o, val)) => VarBind::new(o, val),
        None => VarBind::new(oid.clone(), Value::EndOfMibView),
    }
}

fn encoded_len(r: &ResponsePdu) -> usize {
    let mut buf = async_snmp::ber::EncodeBuf::new();
    match r.encode(&mut buf) {
        Ok(()) => buf.finish().len(),
        Err(_) => usize::MAX / 2,
    }
}

/// GETBULK answers are cut to what fits the manager's message size (RFC 3416 §4.2.3), leaving
/// room for the v3 header, MAC and padding.
fn fit(v: Version, rid: i32, mut out: Vec<VarBind>, max_size: usize) -> Option<ResponsePdu> {
    let budget = max_size.saturating_sub(200);
    loop {
        let r = ResponsePdu::success(v, rid, out.clone()).ok()?;
        if encoded_len(&r) <= budget || out.is_empty() {
            return Some(r);
        }
        let keep = out.len() * 3 / 4;
        out.truncate(keep);
    }
}

async fn set(
    shared: &Shared,
    state: &State,
    view: &View<'_>,
    rid: i32,
    req: Vec<VarBind>,
    access: &Access,
) -> Option<ResponsePdu> {
    let v = access.version;
    let (true, Some(user)) = (access.write, access.user.clone()) else {
        tracing::info!(peer = %access.peer, "snmp SET refused: read-only access");
        return error_response(v, rid, OutboundErrorStatus::NoAccess, 1, req);
    };
    let _ = state;
    let mut changes = Vec::new();
    for (i, vb) in req.iter().enumerate() {
        let Some(field) = SystemField::of(&vb.oid) else {
            let status = if mib::get(view, &vb.oid).is_exception() {
                OutboundErrorStatus::NoCreation
            } else {
                OutboundErrorStatus::NotWritable
            };
            return error_response(v, rid, status, i + 1, req);
        };
        let Value::OctetString(b) = &vb.value else {
            return error_response(v, rid, OutboundErrorStatus::WrongType, i + 1, req);
        };
        if b.len() > camward_config::snmp::MAX_SYSTEM_TEXT {
            return error_response(v, rid, OutboundErrorStatus::WrongLength, i + 1, req);
        }
        let Ok(text) = std::str::from_utf8(b) else {
            return error_response(v, rid, OutboundErrorStatus::WrongValue, i + 1, req);
        };
        if !camward_config::snmp::is_display_text(text) {
            return error_response(v, rid, OutboundErrorStatus::WrongValue, i + 1, req);
        }
        changes.push((field, text.to_owned()));
    }
    let writer = shared.writer.clone();
    let peer = access.peer;
    let who = user.clone();
    // The configuration write is a SQLite transaction: off the async workers.
    let res = tokio::task::spawn_blocking(move || writer.write(changes, &who, peer))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    match res {
        Ok(()) => {
            tracing::info!(peer = %peer, user = %user, "snmp SET applied to the configuration");
            ResponsePdu::success(v, rid, req).ok()
        }
        Err(e) => {
            tracing::warn!(peer = %peer, user = %user, error = %e, "snmp SET not applied");
            error_response(v, rid, OutboundErrorStatus::CommitFailed, 1, req)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_peeked_without_decoding() {
        assert_eq!(peek_version(&[0x30, 0x10, 0x02, 0x01, 0x03]), Some(3));
        assert_eq!(peek_version(&[0x30, 0x81, 0x90, 0x02, 0x01, 0x01]), Some(1));
        assert_eq!(peek_version(&[0x31, 0x10, 0x02, 0x01, 0x03]), None);
        assert_eq!(peek_version(&[0x30]), None);
        assert_eq!(peek_version(&[]), None);
    }

    #[test]
    fn communities_compare_whole() {
        assert!(constant_time_eq(b"monitor", b"monitor"));
        assert!(!constant_time_eq(b"monitor", b"monitor2"));
        assert!(!constant_time_eq(b"monitoX", b"monitor"));
    }
}
