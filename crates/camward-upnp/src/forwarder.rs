//! The forwarder (paper §4.1): keeps a [`Plan`] of port mappings alive on the gateway while it
//! runs, and deletes them when it stops. One round finds the gateway (SSDP, again whenever it
//! stops answering, which is how a restarted router is found on its new port), reads its
//! external address and adds or renews every mapping (AddAnyPortMapping on WANIPConnection:2,
//! AddPortMapping on :1 or when :2 lacks it). Rounds repeat at half the lease when all went
//! well, else after a back-off that doubles from `Options::backoff_min` to `backoff_max`.
//!
//! A port another host holds is never taken: AddPortMapping answers 718 and the mapping shows
//! `port_taken` naming the holder; AddAnyPortMapping lets the gateway choose a free port, shown
//! with the holder of the one asked for. Deletion checks that the entry is still camward's.
//! Failures are states in [`Status`] and [`Event`]s for the audit log, never panics.

use crate::igd::{self, Gateway};
use crate::{Error, Protocol};
use serde::Serialize;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// One port to forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// What it is (`https`, `http`, `rtsp`), for the status, the audit log and the mapping's description.
    pub service: String,
    pub protocol: Protocol,
    pub internal_port: u16,
    /// Asked of the gateway; the gateway may choose another with AddAnyPortMapping.
    pub external_port: u16,
}

/// Everything to keep mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub mappings: Vec<Wanted>,
    pub lease_secs: u32,
}

/// Where discovery searches, and the timings of the rounds.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Where M-SEARCH goes: the SSDP group, or a loopback address that pins UPnP to the machine
    /// (tests that switch every setting on must not search the host's real network).
    pub ssdp: SocketAddrV4,
    /// How long SSDP answers are collected (gateways answer within MX = 2 s).
    pub discover_wait: Duration,
    /// First retry delay after a failed round; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Time allowed for deleting the mappings when stopping.
    pub cleanup: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ssdp: crate::ssdp::SSDP_ADDR,
            discover_wait: Duration::from_secs(2),
            backoff_min: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
            cleanup: Duration::from_secs(3),
        }
    }
}

/// The state of one mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingState {
    /// Not yet asked, or waiting for the gateway.
    Pending,
    /// Forwarded by the gateway.
    Mapped,
    /// The external port is held by another host; camward leaves it alone.
    PortTaken,
    /// The gateway refused (UPnP error other than a conflict).
    Refused,
    /// No gateway, or it could not be reached.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingStatus {
    pub service: String,
    pub protocol: Protocol,
    pub internal_port: u16,
    pub requested_external_port: u16,
    /// The port the gateway forwards, while mapped.
    pub external_port: Option<u16>,
    pub state: MappingState,
    /// The host holding the requested external port, when another one does.
    pub taken_by: Option<String>,
    /// Why it is not mapped, or what differs from what was asked, for people.
    pub message: Option<String>,
    /// Lease granted (0: permanent, for gateways that support no other).
    pub lease_secs: u32,
    /// Seconds since 1970 of the last successful add or renewal.
    pub renewed_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayInfo {
    /// Where its device description is.
    pub location: String,
    /// The WAN connection service used (`urn:…:WANIPConnection:2`).
    pub service: String,
    /// The camera's address towards it: the internal client of every mapping.
    pub internal_client: String,
}

/// What the status page shows.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Status {
    /// Whether auto port forwarding is running.
    pub enabled: bool,
    pub gateway: Option<GatewayInfo>,
    /// The gateway's external (Internet-side) address.
    pub external_address: Option<String>,
    pub mappings: Vec<MappingStatus>,
    /// The last failure of a whole round (no gateway, unreachable), if the last round failed.
    pub error: Option<String>,
    /// Seconds since 1970 of the next round.
    pub next_attempt_at: Option<u64>,
}

/// Shared, cheap to clone; read by the HTTP API.
#[derive(Debug, Clone, Default)]
pub struct StatusHandle(Arc<Mutex<Status>>);

impl StatusHandle {
    pub fn get(&self) -> Status {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut Status)) {
        if let Ok(mut s) = self.0.lock() {
            f(&mut s);
        }
    }

    /// Marks forwarding as off (no mappings).
    pub fn clear(&self) {
        self.update(|s| *s = Status::default());
    }
}

/// Something the audit log should record: state changes only, so a gateway that stays away
/// produces one entry, not one per retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// `upnp.gateway`, `upnp.mapped`, `upnp.port_taken`, `upnp.refused`, `upnp.failed`, `upnp.removed`.
    #[serde(skip)]
    pub kind: &'static str,
    pub service: Option<String>,
    pub external_port: Option<u16>,
    pub message: String,
}

pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn description(service: &str) -> String {
    format!("camward {service}")
}

/// What a failed add means for the mapping.
fn classify(e: &Error) -> MappingState {
    match e {
        // 718 ConflictInMappingEntry, 728 NoPortMapsAvailable.
        Error::Upnp {
            code: 718 | 728, ..
        } => MappingState::PortTaken,
        Error::Upnp { .. } => MappingState::Refused,
        _ => MappingState::Failed,
    }
}

struct Forwarder {
    plan: Plan,
    status: StatusHandle,
    events: EventSink,
    options: Options,
    gateway: Option<Gateway>,
    /// The external port camward holds for each wanted mapping.
    held: Vec<Option<u16>>,
    /// Last reported state per mapping (and of the gateway), to report changes only.
    reported: Vec<Option<(MappingState, Option<u16>)>>,
    gateway_reported: Option<String>,
}

/// Runs until `stop`, then deletes every mapping camward made (bounded by `Options::cleanup`).
pub async fn run(
    plan: Plan,
    status: StatusHandle,
    events: EventSink,
    options: Options,
    stop: CancellationToken,
) {
    let n = plan.mappings.len();
    status.update(|s| {
        *s = Status {
            enabled: true,
            mappings: plan
                .mappings
                .iter()
                .map(|w| MappingStatus {
                    service: w.service.clone(),
                    protocol: w.protocol,
                    internal_port: w.internal_port,
                    requested_external_port: w.external_port,
                    external_port: None,
                    state: MappingState::Pending,
                    taken_by: None,
                    message: None,
                    lease_secs: plan.lease_secs,
                    renewed_at: None,
                })
                .collect(),
            ..Status::default()
        }
    });
    let mut f = Forwarder {
        plan,
        status,
        events,
        options,
        gateway: None,
        held: vec![None; n],
        reported: vec![None; n],
        gateway_reported: None,
    };
    let renew = Duration::from_secs(u64::from(f.plan.lease_secs / 2).max(1));
    let mut backoff = f.options.backoff_min;
    loop {
        let all_mapped = tokio::select! {
            _ = stop.cancelled() => break,
            ok = f.round() => ok,
        };
        let wait = if all_mapped {
            backoff = f.options.backoff_min;
            renew
        } else {
            let w = backoff;
            backoff = (backoff * 2).min(f.options.backoff_max);
            // Held mappings must still be renewed before their lease ends.
            if f.held.iter().any(Option::is_some) {
                w.min(renew)
            } else {
                w
            }
        };
        let at = now_secs() + wait.as_secs();
        f.status.update(|s| s.next_attempt_at = Some(at));
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    let cleanup = f.options.cleanup;
    if tokio::time::timeout(cleanup, f.remove_all()).await.is_err() {
        tracing::warn!(
            "UPnP: the gateway did not confirm every deletion in time; the leases end them"
        );
    }
    f.status.clear();
}

impl Forwarder {
    fn emit(&self, kind: &'static str, service: Option<&str>, port: Option<u16>, message: String) {
        match kind {
            "upnp.mapped" | "upnp.removed" | "upnp.gateway" => {
                tracing::info!(service, port, "{message}")
            }
            _ => tracing::warn!(service, port, "{message}"),
        }
        (self.events)(Event {
            kind,
            service: service.map(str::to_owned),
            external_port: port,
            message,
        });
    }

    /// One round; true when every mapping is in place.
    async fn round(&mut self) -> bool {
        for attempt in 0..2 {
            if self.gateway.is_none() {
                match igd::discover(self.options.ssdp, self.options.discover_wait).await {
                    Ok(g) => {
                        let info = GatewayInfo {
                            location: g.location.to_string(),
                            service: g.service.clone(),
                            internal_client: g.local.to_string(),
                        };
                        if self.gateway_reported.as_deref() != Some(&info.location) {
                            self.gateway_reported = Some(info.location.clone());
                            self.emit(
                                "upnp.gateway",
                                None,
                                None,
                                format!("UPnP gateway {} ({})", info.location, info.service),
                            );
                        }
                        self.status.update(|s| {
                            s.gateway = Some(info);
                            s.error = None;
                        });
                        self.gateway = Some(g);
                    }
                    Err(e) => {
                        self.fail_round(&e);
                        return false;
                    }
                }
            }
            match self.map_all().await {
                Ok(all) => return all,
                // The gateway went away (restarted on another port?): search again at once.
                Err(e) if attempt == 0 => {
                    tracing::info!(error = %e, "UPnP gateway unreachable; searching again");
                    self.gateway = None;
                }
                Err(e) => {
                    self.gateway = None;
                    self.fail_round(&e);
                    return false;
                }
            }
        }
        false
    }

    fn fail_round(&mut self, e: &Error) {
        let msg = e.to_string();
        if self.gateway_reported.as_deref() != Some("") {
            self.gateway_reported = Some(String::new());
            self.emit("upnp.failed", None, None, format!("UPnP: {msg}"));
        }
        self.status.update(|s| {
            s.error = Some(msg.clone());
            s.gateway = None;
            s.external_address = None;
        });
        for i in 0..self.plan.mappings.len() {
            // A held mapping stays on the gateway until its lease ends; show it as held.
            if self.held[i].is_none() {
                self.set(i, MappingState::Failed, None, None, Some(msg.clone()), None);
            }
        }
    }

    fn set(
        &mut self,
        i: usize,
        state: MappingState,
        port: Option<u16>,
        taken_by: Option<String>,
        message: Option<String>,
        lease: Option<u32>,
    ) {
        let service = self.plan.mappings[i].service.clone();
        self.status.update(|s| {
            if let Some(m) = s.mappings.get_mut(i) {
                m.state = state;
                m.external_port = port;
                m.taken_by = taken_by.clone();
                m.message = message.clone();
                if let Some(l) = lease {
                    m.lease_secs = l;
                }
                if state == MappingState::Mapped {
                    m.renewed_at = Some(now_secs());
                }
            }
        });
        if self.reported[i] != Some((state, port)) {
            self.reported[i] = Some((state, port));
            let (kind, text) = match state {
                MappingState::Pending => return,
                MappingState::Mapped => (
                    "upnp.mapped",
                    format!(
                        "UPnP: {service} forwarded from external port {}",
                        port.unwrap_or(0)
                    ),
                ),
                MappingState::PortTaken => (
                    "upnp.port_taken",
                    format!("UPnP: {service}: {}", message.unwrap_or_default()),
                ),
                MappingState::Refused => (
                    "upnp.refused",
                    format!("UPnP: {service}: {}", message.unwrap_or_default()),
                ),
                MappingState::Failed => (
                    "upnp.failed",
                    format!("UPnP: {service}: {}", message.unwrap_or_default()),
                ),
            };
            let port = port.or(Some(self.plan.mappings[i].external_port));
            self.emit(kind, Some(&service), port, text);
        }
    }

    /// Adds or renews every mapping. `Err` only when the gateway cannot be reached.
    async fn map_all(&mut self) -> Result<bool, Error> {
        let g = self.gateway.clone().ok_or(Error::NoGateway)?;
        match g.external_address().await {
            Ok(a) => self
                .status
                .update(|s| s.external_address = Some(a.to_string())),
            Err(e) if e.is_transport() => return Err(e),
            Err(e) => tracing::debug!(error = %e, "UPnP: no external address"),
        }
        let mut all = true;
        for i in 0..self.plan.mappings.len() {
            let w = self.plan.mappings[i].clone();
            let asked = self.held[i].unwrap_or(w.external_port);
            match add(&g, &w, asked, self.plan.lease_secs).await {
                Ok((port, lease)) => {
                    self.held[i] = Some(port);
                    let (taken_by, message) = if port != w.external_port {
                        let holder = holder(&g, w.protocol, w.external_port).await;
                        let msg = format!(
                            "external port {} is held by {}; the gateway forwards port {port} instead",
                            w.external_port,
                            holder.as_deref().unwrap_or("another host")
                        );
                        (holder, Some(msg))
                    } else if lease == 0 {
                        (None, Some("the gateway only grants permanent mappings; camward deletes it when switched off".into()))
                    } else {
                        (None, None)
                    };
                    self.set(
                        i,
                        MappingState::Mapped,
                        Some(port),
                        taken_by,
                        message,
                        Some(lease),
                    );
                }
                Err(e) if e.is_transport() => return Err(e),
                Err(e) => {
                    all = false;
                    // The gateway lost our mapping (restart) and someone else took the port:
                    // camward no longer holds it.
                    self.held[i] = None;
                    let state = classify(&e);
                    let (taken_by, message) = if state == MappingState::PortTaken {
                        let holder = holder(&g, w.protocol, asked).await;
                        let msg = format!(
                            "external port {asked} is already forwarded to {}; camward does not take it over",
                            holder.as_deref().unwrap_or("another host")
                        );
                        (holder, msg)
                    } else {
                        (None, e.to_string())
                    };
                    self.set(i, state, None, taken_by, Some(message), None);
                }
            }
        }
        Ok(all)
    }

    /// Deletes every mapping camward holds, only where the gateway still shows it as camward's.
    async fn remove_all(&mut self) {
        if !self.held.iter().any(Option::is_some) {
            return;
        }
        // The last round lost the gateway (restarted on another port?): one short search, so
        // mappings it still holds are deleted rather than left to their lease.
        if self.gateway.is_none() {
            let wait = self.options.discover_wait.min(Duration::from_secs(1));
            self.gateway = igd::discover(self.options.ssdp, wait).await.ok();
        }
        let Some(g) = self.gateway.clone() else {
            return;
        };
        for i in 0..self.plan.mappings.len() {
            let Some(port) = self.held[i].take() else {
                continue;
            };
            let w = self.plan.mappings[i].clone();
            match g.specific_entry(w.protocol, port).await {
                Ok(e)
                    if e.internal_client != g.local.to_string()
                        || e.internal_port != w.internal_port =>
                {
                    tracing::info!(port, holder = %e.internal_client, "UPnP: port now forwarded elsewhere; left alone");
                    continue;
                }
                Err(Error::Upnp { code: 714, .. }) => continue,
                _ => {}
            }
            match g.delete_port_mapping(w.protocol, port).await {
                Ok(()) => self.emit(
                    "upnp.removed",
                    Some(&w.service),
                    Some(port),
                    format!(
                        "UPnP: {} mapping of external port {port} deleted",
                        w.service
                    ),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, port, "UPnP: cannot delete a mapping; its lease ends it")
                }
            }
        }
    }
}

/// Adds (or renews) one mapping; returns the external port and the lease granted.
async fn add(g: &Gateway, w: &Wanted, external: u16, lease: u32) -> Result<(u16, u32), Error> {
    let desc = description(&w.service);
    if g.is_v2() {
        match g
            .add_any_port_mapping(w.protocol, external, w.internal_port, lease, &desc)
            .await
        {
            Ok(p) => return Ok((p, lease)),
            // 401 Invalid Action, 602 Optional Action Not Implemented: fall back to :1's action.
            Err(Error::Upnp {
                code: 401 | 602, ..
            }) => {}
            Err(e) => return Err(e),
        }
    }
    match g
        .add_port_mapping(w.protocol, external, w.internal_port, lease, &desc)
        .await
    {
        Ok(()) => Ok((external, lease)),
        // 725 OnlyPermanentLeasesSupported (IGD:1 gateways).
        Err(Error::Upnp { code: 725, .. }) => g
            .add_port_mapping(w.protocol, external, w.internal_port, 0, &desc)
            .await
            .map(|()| (external, 0)),
        Err(e) => Err(e),
    }
}

/// Which host holds an external port, if the gateway says.
async fn holder(g: &Gateway, protocol: Protocol, port: u16) -> Option<String> {
    g.specific_entry(protocol, port)
        .await
        .ok()
        .map(|e| e.internal_client)
        .filter(|c| c.parse::<Ipv4Addr>().ok() != Some(g.local))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_are_port_taken_other_errors_refused_or_failed() {
        let up = |code| Error::Upnp {
            code,
            description: String::new(),
        };
        assert_eq!(classify(&up(718)), MappingState::PortTaken);
        assert_eq!(classify(&up(728)), MappingState::PortTaken);
        assert_eq!(classify(&up(606)), MappingState::Refused);
        assert_eq!(classify(&Error::NoGateway), MappingState::Failed);
        assert_eq!(classify(&Error::Timeout("x".into())), MappingState::Failed);
    }

    #[test]
    fn status_starts_off_and_clears() {
        let h = StatusHandle::default();
        assert!(!h.get().enabled);
        h.update(|s| s.enabled = true);
        assert!(h.get().enabled);
        h.clear();
        assert_eq!(h.get(), Status::default());
    }
}

/// The forwarder against a scripted gateway on loopback: the paths miniupnpd does not take
/// (AddAnyPortMapping missing on a :2 service, permanent leases only, an entry that changed hands).
#[cfg(test)]
mod scripted_gateway {
    use super::*;
    use std::collections::HashMap;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, UdpSocket};

    #[derive(Default)]
    struct Fake {
        /// external port → (internal client, lease)
        mappings: HashMap<u16, (String, u32)>,
        actions: Vec<String>,
        /// GetSpecificPortMappingEntry names this client instead of the real one.
        entry_client: Option<String>,
    }

    fn tag<'a>(body: &'a str, name: &str) -> &'a str {
        let open = format!("<{name}>");
        let start = body.find(&open).map(|i| i + open.len()).unwrap_or(0);
        let end = body[start..].find('<').map_or(start, |i| start + i);
        &body[start..end]
    }

    fn fault(code: u16) -> (u16, String) {
        (
            500,
            format!(
                "<s:Envelope xmlns:s=\"s\"><s:Body><s:Fault><detail><UPnPError><errorCode>{code}</errorCode><errorDescription>x</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>"
            ),
        )
    }

    fn ok(action: &str, args: &str) -> (u16, String) {
        (
            200,
            format!(
                "<s:Envelope xmlns:s=\"s\"><s:Body><u:{action}Response xmlns:u=\"x\">{args}</u:{action}Response></s:Body></s:Envelope>"
            ),
        )
    }

    fn answer(fake: &Mutex<Fake>, head: &str, body: &str) -> (u16, String) {
        if head.starts_with("GET ") {
            return (200, "<root><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><controlURL>/ctl</controlURL></service></serviceList></device></root>".into());
        }
        let action = head
            .lines()
            .find_map(|l| l.strip_prefix("SOAPAction: "))
            .and_then(|v| v.trim().trim_matches('"').split('#').nth(1))
            .unwrap_or("")
            .to_owned();
        let mut f = fake.lock().unwrap();
        f.actions.push(action.clone());
        let port: u16 = tag(body, "NewExternalPort").parse().unwrap_or(0);
        match action.as_str() {
            "GetExternalIPAddress" => ok(
                &action,
                "<NewExternalIPAddress>203.0.113.7</NewExternalIPAddress>",
            ),
            // Listed as :2 but without the action: 401 Invalid Action.
            "AddAnyPortMapping" => fault(401),
            "AddPortMapping" => {
                let lease: u32 = tag(body, "NewLeaseDuration").parse().unwrap_or(1);
                if lease != 0 {
                    return fault(725);
                }
                let client = tag(body, "NewInternalClient").to_owned();
                f.mappings.insert(port, (client, lease));
                ok(&action, "")
            }
            "GetSpecificPortMappingEntry" => match f.mappings.get(&port) {
                Some((client, lease)) => {
                    let client = f.entry_client.clone().unwrap_or_else(|| client.clone());
                    ok(
                        &action,
                        &format!(
                            "<NewInternalPort>8443</NewInternalPort><NewInternalClient>{client}</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>d</NewPortMappingDescription><NewLeaseDuration>{lease}</NewLeaseDuration>"
                        ),
                    )
                }
                None => fault(714),
            },
            "DeletePortMapping" => {
                f.mappings.remove(&port);
                ok(&action, "")
            }
            _ => fault(401),
        }
    }

    /// Starts the SSDP responder and the HTTP side; returns where to search.
    async fn start(fake: Arc<Mutex<Fake>>) -> SocketAddrV4 {
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_port = http.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = http.accept().await else {
                    return;
                };
                let fake = fake.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let (head, body) = loop {
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).into_owned();
                        if let Some(i) = text.find("\r\n\r\n") {
                            let len: usize = text[..i]
                                .lines()
                                .find_map(|l| l.strip_prefix("Content-Length: "))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            if text.len() >= i + 4 + len {
                                break (text[..i].to_owned(), text[i + 4..].to_owned());
                            }
                        }
                    };
                    let (status, body) = answer(&fake, &head, &body);
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                });
            }
        });
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let std::net::SocketAddr::V4(ssdp) = udp.local_addr().unwrap() else {
            unreachable!()
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok((_, from)) = udp.recv_from(&mut buf).await {
                let a = format!(
                    "HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\nLOCATION: http://127.0.0.1:{http_port}/desc.xml\r\n\r\n"
                );
                let _ = udp.send_to(a.as_bytes(), from).await;
            }
        });
        ssdp
    }

    fn options(ssdp: SocketAddrV4) -> Options {
        Options {
            ssdp,
            discover_wait: Duration::from_millis(300),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_millis(400),
            cleanup: Duration::from_secs(3),
        }
    }

    fn plan() -> Plan {
        Plan {
            mappings: vec![Wanted {
                service: "https".into(),
                protocol: Protocol::Tcp,
                internal_port: 8443,
                external_port: 8443,
            }],
            lease_secs: 3600,
        }
    }

    async fn run_until_mapped(
        fake: Arc<Mutex<Fake>>,
    ) -> (
        StatusHandle,
        Arc<Mutex<Vec<&'static str>>>,
        CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let ssdp = start(fake).await;
        let status = StatusHandle::default();
        let kinds = Arc::new(Mutex::new(Vec::new()));
        let k = kinds.clone();
        let events: EventSink = Arc::new(move |e: Event| k.lock().unwrap().push(e.kind));
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(
            plan(),
            status.clone(),
            events,
            options(ssdp),
            stop.clone(),
        ));
        for _ in 0..100 {
            if status
                .get()
                .mappings
                .first()
                .is_some_and(|m| m.state == MappingState::Mapped)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (status, kinds, stop, task)
    }

    #[tokio::test]
    async fn falls_back_to_add_port_mapping_and_permanent_lease_then_deletes_on_stop() {
        let fake = Arc::new(Mutex::new(Fake::default()));
        let (status, kinds, stop, task) = run_until_mapped(fake.clone()).await;
        let s = status.get();
        let m = &s.mappings[0];
        assert_eq!(m.state, MappingState::Mapped, "{s:?}");
        assert_eq!((m.external_port, m.lease_secs), (Some(8443), 0));
        assert!(m.message.as_deref().unwrap_or("").contains("permanent"));
        assert_eq!(s.external_address.as_deref(), Some("203.0.113.7"));
        assert_eq!(fake.lock().unwrap().mappings[&8443].0, "127.0.0.1");
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        let f = fake.lock().unwrap();
        assert!(f.mappings.is_empty(), "deleted on stop");
        let a: Vec<&str> = f.actions.iter().map(String::as_str).collect();
        assert_eq!(
            a,
            [
                "GetExternalIPAddress",
                "AddAnyPortMapping",
                "AddPortMapping",
                "AddPortMapping",
                "GetSpecificPortMappingEntry",
                "DeletePortMapping"
            ]
        );
        assert_eq!(
            *kinds.lock().unwrap(),
            ["upnp.gateway", "upnp.mapped", "upnp.removed"]
        );
        assert_eq!(status.get(), Status::default());
    }

    #[tokio::test]
    async fn an_entry_that_changed_hands_is_not_deleted() {
        let fake = Arc::new(Mutex::new(Fake::default()));
        let (status, _, stop, task) = run_until_mapped(fake.clone()).await;
        assert_eq!(status.get().mappings[0].state, MappingState::Mapped);
        fake.lock().unwrap().entry_client = Some("10.0.0.99".into());
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        let f = fake.lock().unwrap();
        assert!(f.mappings.contains_key(&8443));
        assert!(!f.actions.iter().any(|a| a == "DeletePortMapping"));
    }
}
