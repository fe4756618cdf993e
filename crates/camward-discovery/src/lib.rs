//! WS-Discovery for the paper's Easy IP window (§4.5): while the window is open camward answers
//! Probe and Resolve (multicast 239.255.255.250:3702 and [FF02::C]:3702, and unicast to port
//! 3702) as an ONVIF NetworkVideoTransmitter and says Hello when it opens and Bye when it closes;
//! outside it the sockets are closed. While the window is open, a change of what the device
//! announces (an address gained or lost, HTTPS switched on, a new location scope) is said again in
//! a Hello with a higher MetadataVersion, so a VMS listening for Hellos learns the new XAddrs
//! without probing. The daemon decides when the window is open ([`Responder::start`] /
//! [`Responder::stop`]); this crate owns the sockets and the messages, and the client side of
//! `camward discover`.
#![forbid(unsafe_code)]

pub mod message;

pub use message::{Announce, Found};

use message::{Incoming, Sequence};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub const PORT: u16 = 3702;
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 255, 255, 250);
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xc);
/// Answers sent per second at most: a Probe with a forged source would otherwise make the camera
/// send bigger datagrams to a victim (amplification).
const ANSWERS_PER_SECOND: u32 = 20;
/// How often the announced addresses are compared with the interfaces': an address that DHCP
/// changes has no event to wait for, and getifaddrs every few seconds costs nothing.
const ANNOUNCE_CHECK: Duration = Duration::from_secs(5);

/// One network interface with what discovery and ONVIF need from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub loopback: bool,
    pub multicast: bool,
    pub mac: Option<[u8; 6]>,
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    pub ipv6: Vec<Ipv6Addr>,
}

/// The machine's interfaces that are up (getifaddrs).
pub fn interfaces() -> Vec<Interface> {
    use nix::net::if_::InterfaceFlags as F;
    let mut out: Vec<Interface> = Vec::new();
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return out;
    };
    for a in addrs {
        if !a.flags.contains(F::IFF_UP) {
            continue;
        }
        let idx = match out.iter().position(|i| i.name == a.interface_name) {
            Some(i) => i,
            None => {
                out.push(Interface {
                    index: nix::net::if_::if_nametoindex(a.interface_name.as_str()).unwrap_or(0),
                    name: a.interface_name.clone(),
                    loopback: a.flags.contains(F::IFF_LOOPBACK),
                    multicast: a.flags.contains(F::IFF_MULTICAST),
                    mac: None,
                    ipv4: Vec::new(),
                    ipv6: Vec::new(),
                });
                out.len() - 1
            }
        };
        let Some(addr) = a.address else { continue };
        if let Some(v4) = addr.as_sockaddr_in() {
            let prefix = a
                .netmask
                .and_then(|m| {
                    m.as_sockaddr_in()
                        .map(|m| u32::from(m.ip()).count_ones() as u8)
                })
                .unwrap_or(32);
            out[idx].ipv4.push((v4.ip(), prefix));
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            out[idx].ipv6.push(v6.ip());
        } else if let Some(link) = addr.as_link_addr()
            && let Some(mac) = link.addr()
        {
            out[idx].mac = Some(mac);
        }
    }
    out
}

/// Where the responder listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    /// The wildcard addresses (both families), multicast joined on every interface that can.
    All,
    /// One interface only (SO_BINDTODEVICE): nothing arrives from or leaves by another one.
    /// Tests use it to keep discovery on a veth pair or on `lo`.
    Interface(String),
}

fn udp_socket(domain: Domain) -> std::io::Result<Socket> {
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    // Other discovery software (and a second camward in another test) may share the port.
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

struct Sockets {
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    /// IPv4 addresses of the interfaces joined (multicast is sent out of each).
    v4_ifaces: Vec<Ipv4Addr>,
    v6_ifaces: Vec<u32>,
}

/// The interfaces multicast is joined on and sent out of.
fn chosen(bind: &Bind) -> Vec<Interface> {
    interfaces()
        .into_iter()
        .filter(|i| match bind {
            Bind::All => i.multicast && !i.loopback,
            Bind::Interface(n) => &i.name == n,
        })
        .collect()
}

fn open(bind: &Bind) -> std::io::Result<Sockets> {
    let chosen = chosen(bind);
    let device = match bind {
        Bind::All => None,
        Bind::Interface(n) if chosen.is_empty() => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no interface {n} is up"),
            ));
        }
        Bind::Interface(n) => Some(n.as_bytes()),
    };
    let mut s = Sockets {
        v4: None,
        v6: None,
        v4_ifaces: Vec::new(),
        v6_ifaces: Vec::new(),
    };
    let v4 = udp_socket(Domain::IPV4)?;
    if device.is_some() {
        v4.bind_device(device)?;
        // Only the groups joined on this socket, not every group of the machine.
        v4.set_multicast_all_v4(false)?;
    }
    v4.bind(&SockAddr::from(SocketAddrV4::new(
        Ipv4Addr::UNSPECIFIED,
        PORT,
    )))?;
    v4.set_multicast_loop_v4(true)?;
    v4.set_multicast_ttl_v4(1)?;
    for a in chosen.iter().flat_map(|i| i.ipv4.first().map(|a| a.0)) {
        match v4.join_multicast_v4(&GROUP_V4, &a) {
            Ok(()) => s.v4_ifaces.push(a),
            Err(e) => {
                tracing::warn!(interface = %a, error = %e, "cannot join the WS-Discovery group")
            }
        }
    }
    s.v4 = Some(UdpSocket::from_std(v4.into())?);
    let result = (|| -> std::io::Result<UdpSocket> {
        let v6 = udp_socket(Domain::IPV6)?;
        v6.set_only_v6(true)?;
        if device.is_some() {
            v6.bind_device(device)?;
        }
        v6.bind(&SockAddr::from(SocketAddrV6::new(
            Ipv6Addr::UNSPECIFIED,
            PORT,
            0,
            0,
        )))?;
        v6.set_multicast_hops_v6(1)?;
        for i in chosen.iter().filter(|i| !i.ipv6.is_empty()) {
            match v6.join_multicast_v6(&GROUP_V6, i.index) {
                Ok(()) => s.v6_ifaces.push(i.index),
                Err(e) => tracing::debug!(interface = %i.name, error = %e, "cannot join ff02::c"),
            }
        }
        UdpSocket::from_std(v6.into())
    })();
    match result {
        Ok(sock) => s.v6 = Some(sock),
        Err(e) => tracing::info!(error = %e, "WS-Discovery over IPv6 unavailable"),
    }
    Ok(s)
}

/// Joins the IPv4 group on interfaces' addresses that were not there when the sockets opened (and
/// forgets addresses that are gone), so that a Hello about a new address leaves by it. A join on
/// an interface already joined under its old address fails with EADDRINUSE: the membership is
/// the interface's, and sending by the new address works all the same.
fn rejoin_v4(s: &mut Sockets, bind: &Bind) {
    let Some(v4) = &s.v4 else { return };
    let now: Vec<Ipv4Addr> = chosen(bind)
        .iter()
        .flat_map(|i| i.ipv4.first().map(|a| a.0))
        .collect();
    for a in &now {
        if !s.v4_ifaces.contains(a)
            && let Err(e) = v4.join_multicast_v4(GROUP_V4, *a)
            && e.kind() != std::io::ErrorKind::AddrInUse
        {
            tracing::debug!(interface = %a, error = %e, "cannot join the WS-Discovery group");
        }
    }
    s.v4_ifaces = now;
}

/// Sends `msg` to the multicast group out of every joined interface.
async fn multicast(s: &Sockets, msg: &str) {
    if let Some(v4) = &s.v4 {
        let sock = socket2::SockRef::from(v4);
        for a in &s.v4_ifaces {
            if let Err(e) = sock.set_multicast_if_v4(a) {
                tracing::debug!(error = %e, "set_multicast_if_v4");
                continue;
            }
            if let Err(e) = v4
                .send_to(msg.as_bytes(), SocketAddrV4::new(GROUP_V4, PORT))
                .await
            {
                tracing::debug!(interface = %a, error = %e, "WS-Discovery multicast not sent");
            }
        }
    }
    if let Some(v6) = &s.v6 {
        let sock = socket2::SockRef::from(v6);
        for i in &s.v6_ifaces {
            if sock.set_multicast_if_v6(*i).is_ok() {
                let _ = v6
                    .send_to(msg.as_bytes(), SocketAddrV6::new(GROUP_V6, PORT, 0, *i))
                    .await;
            }
        }
    }
}

/// The running responder: stop it to send Bye and close the sockets.
pub struct Responder {
    stop: watch::Sender<bool>,
    recheck: Arc<tokio::sync::Notify>,
    task: JoinHandle<()>,
}

impl Responder {
    /// Opens the sockets (fails when they cannot be bound), says Hello, and answers until stopped.
    /// `announce` is read again for every answer (addresses and scopes follow the settings).
    /// `instance_id`: WS-Discovery's AppSequence InstanceId, larger at each opening (a client
    /// uses it to tell a restarted camera from a replayed message).
    pub async fn start(
        bind: Bind,
        announce: Arc<dyn Fn() -> Announce + Send + Sync>,
        instance_id: u32,
    ) -> std::io::Result<Responder> {
        let mut sockets = open(&bind)?;
        let mut seq = Sequence {
            instance_id: u64::from(instance_id),
            number: 0,
        };
        let (stop, mut stopped) = watch::channel(false);
        let recheck = Arc::new(tokio::sync::Notify::new());
        let rechecked = recheck.clone();
        // The announcement said last, and its MetadataVersion: every answer carries the version,
        // which grows by one each time what is announced changes (WS-Discovery §4.1).
        let mut said = announce();
        let mut version = said.metadata_version;
        let task = tokio::spawn(async move {
            multicast(&sockets, &message::hello(&said, &mut seq)).await;
            tracing::info!("discovery window open: answering WS-Discovery on udp/3702");
            let mut buf4 = vec![0u8; 65_536];
            let mut buf6 = vec![0u8; 65_536];
            let mut budget = (Instant::now(), 0u32);
            let mut check = tokio::time::interval(ANNOUNCE_CHECK);
            check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let changed = async {
                    tokio::select! {
                        _ = check.tick() => {}
                        _ = rechecked.notified() => {}
                    }
                };
                let (n, from, v6) = tokio::select! {
                    _ = stopped.changed() => break,
                    _ = changed => {
                        let now = announce();
                        if now.xaddrs != said.xaddrs || now.scopes != said.scopes {
                            version += 1;
                            said = Announce { metadata_version: version, ..now };
                            rejoin_v4(&mut sockets, &bind);
                            multicast(&sockets, &message::hello(&said, &mut seq)).await;
                            tracing::info!(xaddrs = ?said.xaddrs, metadata_version = version, "announcement changed: Hello sent again");
                        }
                        continue;
                    }
                    r = recv(sockets.v4.as_ref(), &mut buf4) => match r { Ok((n, f)) => (n, f, false), Err(_) => continue },
                    r = recv(sockets.v6.as_ref(), &mut buf6) => match r { Ok((n, f)) => (n, f, true), Err(_) => continue },
                };
                let data = if v6 { &buf6[..n] } else { &buf4[..n] };
                let a = Announce {
                    metadata_version: version,
                    ..announce()
                };
                let answer = match message::parse(data) {
                    Some(Incoming::Probe {
                        message_id,
                        types,
                        scopes,
                        match_by,
                        unresolvable,
                    }) if message::probe_matches_us(
                        &types,
                        &scopes,
                        match_by.as_deref(),
                        unresolvable,
                        &a.scopes,
                    ) =>
                    {
                        message::probe_matches(&a, &message_id, &mut seq)
                    }
                    Some(Incoming::Resolve {
                        message_id,
                        endpoint,
                    }) if endpoint == a.endpoint => {
                        message::resolve_matches(&a, &message_id, &mut seq)
                    }
                    _ => continue,
                };
                let now = Instant::now();
                if now.duration_since(budget.0) >= Duration::from_secs(1) {
                    budget = (now, 0);
                }
                if budget.1 >= ANSWERS_PER_SECOND {
                    continue;
                }
                budget.1 += 1;
                let sock = if v6 { &sockets.v6 } else { &sockets.v4 };
                if let Some(s) = sock {
                    let _ = s.send_to(answer.as_bytes(), from).await;
                }
            }
            multicast(&sockets, &message::bye(&announce(), &mut seq)).await;
            tracing::info!("discovery window closed: udp/3702 closed");
            drop(sockets);
        });
        Ok(Responder {
            stop,
            recheck,
            task,
        })
    }

    /// Compares what is announced with what was said now rather than at the next periodic
    /// check: the daemon calls it when the settings change.
    pub fn recheck(&self) {
        self.recheck.notify_one();
    }

    /// Says Bye and closes the sockets; returns once they are closed.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

async fn recv(sock: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match sock {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// Whether `new` describes a camera better than `old`, the address an earlier answer of the same
/// endpoint came from: an address named in the camera's XAddrs wins, then IPv4 over IPv6 (a
/// link-local IPv6 source is useless without its zone).
fn better_address(new: IpAddr, old: IpAddr, xaddrs: &[String]) -> bool {
    let rank = |ip: IpAddr| {
        let host = match ip {
            IpAddr::V4(a) => format!("://{a}"),
            IpAddr::V6(a) => format!("://[{a}]"),
        };
        let named = xaddrs.iter().any(|x| {
            x.strip_prefix("http")
                .map(|r| r.trim_start_matches('s'))
                .is_some_and(|r| {
                    r.strip_prefix(host.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
                })
        });
        (named, ip.is_ipv4())
    };
    rank(new) > rank(old)
}

/// `camward discover`: probes for ONVIF NetworkVideoTransmitters on every interface for
/// `wait` and returns each camera that answered once, with the address it answered from (the one
/// its XAddrs name when it answered on several).
pub async fn discover(wait: Duration) -> std::io::Result<Vec<(IpAddr, Found)>> {
    let ifaces = interfaces();
    let v4 = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await?;
    let v6 = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).await.ok();
    let id = message::new_uuid();
    let probe = message::probe(&id);
    {
        let s = socket2::SockRef::from(&v4);
        s.set_multicast_ttl_v4(1)?;
        for i in ifaces.iter().filter(|i| i.multicast && !i.loopback) {
            for (a, _) in &i.ipv4 {
                if s.set_multicast_if_v4(a).is_ok() {
                    let _ = v4
                        .send_to(probe.as_bytes(), SocketAddrV4::new(GROUP_V4, PORT))
                        .await;
                }
            }
        }
    }
    if let Some(v6) = &v6 {
        let s = socket2::SockRef::from(v6);
        for i in ifaces
            .iter()
            .filter(|i| i.multicast && !i.loopback && !i.ipv6.is_empty())
        {
            if s.set_multicast_if_v6(i.index).is_ok() {
                let _ = v6
                    .send_to(
                        probe.as_bytes(),
                        SocketAddrV6::new(GROUP_V6, PORT, 0, i.index),
                    )
                    .await;
            }
        }
    }
    let mut found: Vec<(IpAddr, Found)> = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    let mut b4 = vec![0u8; 65_536];
    let mut b6 = vec![0u8; 65_536];
    loop {
        let r = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            r = v4.recv_from(&mut b4) => r.map(|(n, f)| (b4[..n].to_vec(), f)),
            r = recv(v6.as_ref(), &mut b6) => r.map(|(n, f)| (b6[..n].to_vec(), f)),
        };
        let Ok((data, from)) = r else { continue };
        if let Some(Incoming::ProbeMatch(f)) = message::parse(&data)
            && f.relates_to.as_deref() == Some(id.as_str())
        {
            match found.iter_mut().find(|(_, g)| g.endpoint == f.endpoint) {
                None => found.push((from.ip(), f)),
                // A camera on both families answers twice, and which answer arrives first is
                // chance; the installer wants the address its own XAddrs name.
                Some(slot) if better_address(from.ip(), slot.0, &f.xaddrs) => {
                    *slot = (from.ip(), f)
                }
                Some(_) => {}
            }
        }
        if found.len() >= 1000 {
            break;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::better_address;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_camera_answering_on_both_families_is_listed_at_the_address_its_xaddrs_name() {
        let x = vec!["http://10.0.0.5:80/onvif/device_service".to_string()];
        assert!(better_address(ip("10.0.0.5"), ip("fe80::1"), &x));
        assert!(!better_address(ip("fe80::1"), ip("10.0.0.5"), &x));
        let x6 = vec!["https://[2001:db8::5]:443/onvif/device_service".to_string()];
        assert!(better_address(ip("2001:db8::5"), ip("10.0.0.5"), &x6));
        // 10.0.0.50 shares a prefix with 10.0.0.5 but is not the address named.
        assert!(!better_address(ip("10.0.0.50"), ip("10.0.0.5"), &x));
        // Neither named: IPv4 wins, and an equal rank keeps the first answer.
        let none: Vec<String> = vec![];
        assert!(better_address(ip("10.0.0.7"), ip("fe80::2"), &none));
        assert!(!better_address(ip("10.0.0.7"), ip("10.0.0.8"), &none));
    }
}
