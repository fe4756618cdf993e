//! The SNTP client (RFC 4330, with RFC 5905's on-wire rules): one request, one validated answer,
//! the offset and round-trip delay from the four timestamps. Every query is bounded by a timeout
//! (name resolution included), so an unreachable server is reported, never waited on forever;
//! a closed port is reported at once from the ICMP error a connected UDP socket receives.

use crate::packet::{MODE_SERVER, Packet, Timestamp};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;
use tokio::net::UdpSocket;

/// One good answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The address that answered.
    pub server: SocketAddr,
    /// How far the server's clock is ahead of ours, in seconds (RFC 5905 θ).
    pub offset: f64,
    /// Round-trip delay without the server's processing time, in seconds (RFC 5905 δ).
    pub delay: f64,
    pub stratum: u8,
    pub leap: u8,
    /// When the answer arrived, by the local clock.
    pub at: SystemTime,
    /// True when the answer was authenticated with NTS (RFC 8915).
    pub authenticated: bool,
}

/// Why a query gave no sample. The message is what the status page shows.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SntpError {
    #[error("cannot resolve {host}: {message}")]
    Resolve { host: String, message: String },
    #[error("no answer from {server} within {ms} ms")]
    Timeout { server: String, ms: u128 },
    #[error("{server} is unreachable: {message}")]
    Unreachable { server: String, message: String },
    #[error("{server} sent kiss-o'-death {code}")]
    Kiss { server: String, code: String },
    #[error("{server} is not synchronised itself (leap {leap}, stratum {stratum})")]
    Unsynchronized {
        server: String,
        leap: u8,
        stratum: u8,
    },
    #[error("{server} sent an invalid answer: {message}")]
    Invalid { server: String, message: String },
    #[error("NTS with {server}: {message}")]
    Nts { server: String, message: String },
}

/// Most datagrams read per query before giving up: stray or spoofed packets cannot keep the
/// client busy past this, nor past the timeout.
const MAX_DATAGRAMS: usize = 16;

/// Unix nanoseconds of a system time (negative before 1970).
pub fn unix_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

pub fn from_unix_nanos(n: i128) -> SystemTime {
    if n >= 0 {
        UNIX_EPOCH + Duration::from_nanos(n as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos((-n) as u64)
    }
}

/// A random 64-bit value for the transmit timestamp of a request.
pub fn nonce() -> Timestamp {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the operating system's random source works");
    Timestamp(u64::from_be_bytes(b))
}

/// Resolves `host:port` within `timeout` (the first address wins).
pub async fn resolve(host: &str, port: u16, timeout: Duration) -> Result<SocketAddr, SntpError> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let err = |message: String| SntpError::Resolve {
        host: host.to_owned(),
        message,
    };
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Err(_) => Err(err(format!("no answer within {} ms", timeout.as_millis()))),
        Ok(Err(e)) => Err(err(e.to_string())),
        Ok(Ok(mut addrs)) => addrs.next().ok_or_else(|| err("no address".into())),
    }
}

/// Queries one server with a plain SNTP request.
pub async fn query(server: SocketAddr, timeout: Duration) -> Result<Sample, SntpError> {
    let n = nonce();
    let request = Packet::client_request(n).encode();
    exchange(server, timeout, &request, n, |_, _| Ok(())).await
}

/// Sends `request` (whose transmit timestamp is `nonce`) and waits for a valid answer: the right
/// origin, mode 4, a synchronised server, and whatever `check` (NTS authentication) demands of
/// the raw bytes and the parsed packet. Answers that fail the origin or `check` are dropped (they
/// may be spoofed) and the wait goes on, bounded by `timeout` and [`MAX_DATAGRAMS`].
pub async fn exchange(
    server: SocketAddr,
    timeout: Duration,
    request: &[u8],
    nonce: Timestamp,
    check: impl Fn(&[u8], &Packet) -> Result<(), SntpError>,
) -> Result<Sample, SntpError> {
    let name = server.to_string();
    let io = |e: std::io::Error| SntpError::Unreachable {
        server: name.clone(),
        message: e.to_string(),
    };
    let bind: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await.map_err(io)?;
    sock.connect(server).await.map_err(io)?;
    let deadline = tokio::time::Instant::now() + timeout;
    let t1 = unix_nanos(SystemTime::now());
    sock.send(request).await.map_err(io)?;
    let mut buf = [0u8; 2048];
    let mut last_rejection = None;
    for _ in 0..MAX_DATAGRAMS {
        let got = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await;
        let len = match got {
            Err(_) => break,
            Ok(Err(e)) => return Err(io(e)),
            Ok(Ok(len)) => len,
        };
        let t4 = unix_nanos(SystemTime::now());
        let bytes = &buf[..len];
        let p = match Packet::parse(bytes) {
            Ok(p) => p,
            Err(e) => {
                last_rejection = Some(e.to_string());
                continue;
            }
        };
        if p.origin != nonce {
            last_rejection = Some("origin timestamp does not match the request".into());
            continue;
        }
        if let Err(e) = check(bytes, &p) {
            last_rejection = Some(e.to_string());
            continue;
        }
        return sample_of(&p, server, t1, t4, false);
    }
    Err(match last_rejection {
        Some(message) => SntpError::Invalid {
            server: name,
            message,
        },
        None => SntpError::Timeout {
            server: name,
            ms: timeout.as_millis(),
        },
    })
}

/// RFC 4330 §5's checks on an answer whose origin already matched, then θ and δ from
/// T1 (request sent), T2 (server received), T3 (server sent), T4 (answer received).
pub fn sample_of(
    p: &Packet,
    server: SocketAddr,
    t1: i128,
    t4: i128,
    authenticated: bool,
) -> Result<Sample, SntpError> {
    let name = server.to_string();
    let invalid = |m: &str| SntpError::Invalid {
        server: name.clone(),
        message: m.to_owned(),
    };
    if p.mode != MODE_SERVER {
        return Err(invalid(&format!("mode {} instead of 4 (server)", p.mode)));
    }
    if !(1..=4).contains(&p.version) {
        return Err(invalid(&format!("version {}", p.version)));
    }
    if let Some(code) = p.kiss_code() {
        return Err(SntpError::Kiss { server: name, code });
    }
    if p.leap == 3 || p.stratum > 15 {
        return Err(SntpError::Unsynchronized {
            server: name,
            leap: p.leap,
            stratum: p.stratum,
        });
    }
    if p.transmit.is_zero() || p.receive.is_zero() {
        return Err(invalid("zero receive or transmit timestamp"));
    }
    // The server's timestamps, read in the era nearest our clock.
    let t2 = p.receive.to_unix_nanos(t1);
    let t3 = p.transmit.to_unix_nanos(t4);
    let offset = ((t2 - t1) + (t3 - t4)) as f64 / 2e9;
    let delay = ((t4 - t1) - (t3 - t2)) as f64 / 1e9;
    if delay < -1e-3 {
        // Negative beyond rounding: the server's timestamps contradict each other.
        return Err(invalid(&format!("negative round-trip delay {delay:.6} s")));
    }
    Ok(Sample {
        server,
        offset,
        delay: delay.max(0.0),
        stratum: p.stratum,
        leap: p.leap,
        at: from_unix_nanos(t4),
        authenticated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(t2: i128, t3: i128, origin: Timestamp) -> Packet {
        Packet {
            version: 4,
            mode: MODE_SERVER,
            stratum: 2,
            origin,
            receive: Timestamp::from_unix_nanos(t2),
            transmit: Timestamp::from_unix_nanos(t3),
            ..Packet::default()
        }
    }

    const ADDR: &str = "127.0.0.1:123";

    #[test]
    fn offset_and_delay_follow_rfc5905_from_the_four_timestamps() {
        // Client at T1 = 1000 s, server 2 s ahead, 100 ms each way, 10 ms inside the server.
        let s = 1_000_000_000i128;
        let t1 = 1_700_000_000 * s;
        let t2 = t1 + 2 * s + s / 10;
        let t3 = t2 + s / 100;
        let t4 = t1 + s / 5 + s / 100;
        let out = sample_of(
            &answer(t2, t3, Timestamp(1)),
            ADDR.parse().unwrap(),
            t1,
            t4,
            false,
        )
        .unwrap();
        assert!((out.offset - 2.0).abs() < 1e-6, "{}", out.offset);
        assert!((out.delay - 0.2).abs() < 1e-6, "{}", out.delay);
        assert_eq!(out.stratum, 2);
    }

    #[test]
    fn kiss_of_death_and_unsynchronised_servers_give_no_sample() {
        let t = 1_700_000_000_000_000_000i128;
        let mut p = answer(t, t, Timestamp(1));
        p.stratum = 0;
        p.reference_id = *b"RATE";
        let e = sample_of(&p, ADDR.parse().unwrap(), t, t, false).unwrap_err();
        assert_eq!(e.to_string(), "127.0.0.1:123 sent kiss-o'-death RATE");
        let mut p = answer(t, t, Timestamp(1));
        p.leap = 3;
        assert!(matches!(
            sample_of(&p, ADDR.parse().unwrap(), t, t, false),
            Err(SntpError::Unsynchronized { .. })
        ));
        let mut p = answer(t, t, Timestamp(1));
        p.mode = 3;
        assert!(matches!(
            sample_of(&p, ADDR.parse().unwrap(), t, t, false),
            Err(SntpError::Invalid { .. })
        ));
    }

    #[tokio::test]
    async fn a_closed_port_is_reported_unreachable_at_once() {
        // Bind and drop to find a port nothing listens on.
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = query(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, SntpError::Unreachable { .. }), "{e}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out_and_a_spoofed_answer_is_dropped() {
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let spoofer = tokio::spawn(async move {
            let mut buf = [0u8; 128];
            let (_, peer) = server.recv_from(&mut buf).await.unwrap();
            // Wrong origin: must be ignored.
            let t = unix_nanos(SystemTime::now());
            let p = answer(t, t, Timestamp(42)).encode();
            server.send_to(&p, peer).await.unwrap();
            server
        });
        let e = query(addr, Duration::from_millis(300)).await.unwrap_err();
        assert_eq!(
            e,
            SntpError::Invalid {
                server: addr.to_string(),
                message: "origin timestamp does not match the request".into()
            }
        );
        let server = spoofer.await.unwrap();
        drop(server);
        // Nobody answers at all now, but the port is open on no socket: reported either way,
        // within the bound.
        let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let e = query(silent.local_addr().unwrap(), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(e, SntpError::Timeout { ms: 200, .. }), "{e}");
    }

    #[tokio::test]
    async fn an_honest_server_on_loopback_gives_its_offset() {
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 128];
            let (n, peer) = server.recv_from(&mut buf).await.unwrap();
            let req = Packet::parse(&buf[..n]).unwrap();
            // A server 3 s ahead of us.
            let t = unix_nanos(SystemTime::now()) + 3_000_000_000;
            let p = answer(t, t, req.transmit).encode();
            server.send_to(&p, peer).await.unwrap();
        });
        let s = query(addr, Duration::from_secs(5)).await.unwrap();
        assert!((s.offset - 3.0).abs() < 0.05, "{}", s.offset);
        assert!(s.delay >= 0.0 && s.delay < 0.05);
    }
}
