//! SSDP discovery of the Internet Gateway Device (UPnP Device Architecture 1.1 §1.3, paper §4.1):
//! an M-SEARCH to 239.255.255.250:1900 and the unicast answers it draws. Only called while auto
//! port forwarding is on; nothing here listens on port 1900.

use crate::Error;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;
use tokio::net::UdpSocket;

/// The SSDP multicast group and port.
pub const SSDP_ADDR: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 255, 255, 250), 1900);

/// Search targets, most capable first: an IGD:2 root device also answers for IGD:1, and a
/// gateway that only announces its WAN connection service still answers the service target.
pub const SEARCH_TARGETS: &[&str] = &[
    "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
];

/// The M-SEARCH request for one search target. MX 2: gateways answer within 2 s.
pub fn m_search(st: &str) -> String {
    format!(
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\nST: {st}\r\nUSER-AGENT: Linux/1 UPnP/1.1 camward/1\r\n\r\n"
    )
}

/// One answer to an M-SEARCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResponse {
    /// `LOCATION`: where the device description is.
    pub location: HttpUrl,
    /// `ST`: the target it answered for.
    pub st: String,
    /// `USN`, when sent.
    pub usn: Option<String>,
}

/// An `http://host:port/path` URL with an IPv4 host (what gateways put in LOCATION and controlURL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub addr: SocketAddrV4,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.addr, self.path)
    }
}

impl HttpUrl {
    /// Parses an absolute `http://` URL; host names are refused (a gateway on the LAN names
    /// itself by address, and resolving names would send DNS traffic the owner did not ask for).
    pub fn parse(s: &str) -> Result<HttpUrl, Error> {
        let s = s.trim();
        let rest = s
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("http://"))
            .map(|_| &s[7..])
            .ok_or_else(|| Error::Protocol(format!("not an http:// URL: {s:?}")))?;
        let (hostport, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| Error::Protocol(format!("bad port in URL {s:?}")))?,
            ),
            None => (hostport, 80),
        };
        let ip: Ipv4Addr = host
            .parse()
            .map_err(|_| Error::Protocol(format!("URL host is not an IPv4 address: {s:?}")))?;
        if port == 0 {
            return Err(Error::Protocol(format!("port 0 in URL {s:?}")));
        }
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        Ok(HttpUrl {
            addr: SocketAddrV4::new(ip, port),
            path,
        })
    }

    /// Resolves a reference from a document fetched at `self` (absolute URL or absolute path).
    pub fn join(&self, reference: &str) -> Result<HttpUrl, Error> {
        let r = reference.trim();
        // `get`: a reference from the network may have a multi-byte character at byte 7.
        if r.get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
        {
            HttpUrl::parse(r)
        } else if r.starts_with('/') {
            Ok(HttpUrl {
                addr: self.addr,
                path: r.to_owned(),
            })
        } else {
            let base = &self.path[..self.path.rfind('/').map_or(0, |i| i + 1)];
            Ok(HttpUrl {
                addr: self.addr,
                path: format!("{}{r}", if base.is_empty() { "/" } else { base }),
            })
        }
    }
}

/// Parses one SSDP answer datagram: `HTTP/1.1 200 OK` with LOCATION and ST headers.
pub fn parse_response(datagram: &[u8]) -> Result<SearchResponse, Error> {
    let text = std::str::from_utf8(datagram)
        .map_err(|_| Error::Protocol("SSDP answer is not UTF-8".into()))?;
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let status = lines.next().unwrap_or("");
    let mut parts = status.split_whitespace();
    if !parts
        .next()
        .is_some_and(|v| v.eq_ignore_ascii_case("HTTP/1.1") || v.eq_ignore_ascii_case("HTTP/1.0"))
        || parts.next() != Some("200")
    {
        return Err(Error::Protocol(format!(
            "SSDP answer is not 200 OK: {:?}",
            status.chars().take(60).collect::<String>()
        )));
    }
    let (mut location, mut st, mut usn) = (None, None, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "location" => location = Some(value),
            "st" => st = Some(value.to_owned()),
            "usn" => usn = Some(value.to_owned()),
            _ => {}
        }
    }
    let location =
        location.ok_or_else(|| Error::Protocol("SSDP answer without LOCATION".into()))?;
    Ok(SearchResponse {
        location: HttpUrl::parse(location)?,
        st: st.ok_or_else(|| Error::Protocol("SSDP answer without ST".into()))?,
        usn,
    })
}

/// Sends the M-SEARCHes to `to` (normally [`SSDP_ADDR`]) and collects answers for `wait`. Answers whose LOCATION points at
/// another host than the one that answered are dropped: a device on the LAN must not be able
/// to point camward's requests at a third party.
pub async fn search(to: SocketAddrV4, wait: Duration) -> Result<Vec<SearchResponse>, Error> {
    let sock = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
        .await
        .map_err(|e| Error::Io("cannot open the SSDP socket".into(), e))?;
    // Stay on the LAN: a gateway is one hop away.
    let _ = sock.set_multicast_ttl_v4(2);
    for st in SEARCH_TARGETS {
        sock.send_to(m_search(st).as_bytes(), to)
            .await
            .map_err(|e| Error::Io("cannot send the SSDP M-SEARCH".into(), e))?;
    }
    let mut out: Vec<SearchResponse> = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = vec![0u8; 2048];
    // At most 64 answers: a LAN with more gateways than that is not one to forward ports on.
    for _ in 0..64 {
        let got = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await;
        let Ok(Ok((n, from))) = got else { break };
        match parse_response(&buf[..n]) {
            Ok(r) if from.ip() == std::net::IpAddr::V4(*r.location.addr.ip()) => {
                if !out.iter().any(|o| o.location == r.location && o.st == r.st) {
                    out.push(r);
                }
            }
            Ok(r) => {
                tracing::debug!(%from, location = %r.location, "SSDP answer points at another host; ignored")
            }
            Err(e) => tracing::debug!(%from, error = %e, "unusable SSDP answer"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn miniupnpd_answer_parses() {
        let d = b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\nUSN: uuid:1::urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\nEXT:\r\nSERVER: Debian/12 UPnP/2.0 MiniUPnPd/2.3.1\r\nLOCATION: http://10.77.0.1:39443/rootDesc.xml\r\nOPT: \"http://schemas.upnp.org/upnp/1/0/\"; ns=01\r\n\r\n";
        let r = parse_response(d).unwrap();
        assert_eq!(
            r.location.to_string(),
            "http://10.77.0.1:39443/rootDesc.xml"
        );
        assert!(r.st.ends_with("InternetGatewayDevice:2"));
    }

    #[test]
    fn answers_without_location_or_not_ok_are_refused() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nST: x\r\n\r\n").is_err());
        assert!(
            parse_response(b"HTTP/1.1 404 Not Found\r\nLOCATION: http://1.2.3.4/\r\n\r\n").is_err()
        );
        assert!(parse_response(b"NOTIFY * HTTP/1.1\r\n\r\n").is_err());
        assert!(parse_response(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn urls_parse_and_join() {
        let u = HttpUrl::parse("http://10.0.0.1:5000/a/rootDesc.xml").unwrap();
        assert_eq!(
            u.join("/ctl/IPConn").unwrap().to_string(),
            "http://10.0.0.1:5000/ctl/IPConn"
        );
        assert_eq!(
            u.join("ctl").unwrap().to_string(),
            "http://10.0.0.1:5000/a/ctl"
        );
        assert_eq!(
            u.join("http://10.0.0.2:1/x").unwrap().to_string(),
            "http://10.0.0.2:1/x"
        );
        assert_eq!(
            HttpUrl::parse("HTTP://10.0.0.1").unwrap().to_string(),
            "http://10.0.0.1:80/"
        );
        for bad in [
            "https://10.0.0.1/",
            "http://router.lan/",
            "http://10.0.0.1:0/",
            "http://[::1]:80/",
            "ftp://x",
            "",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn join_with_a_multibyte_character_at_byte_seven_does_not_panic() {
        // Found by the ssdp_answer fuzz target (regressions/ssdp_answer/).
        let u = HttpUrl::parse("http://10.0.0.1:5000/rootDesc.xml").unwrap();
        let j = u.join("H88488\u{ed70}-00").unwrap();
        assert_eq!(j.path, "/H88488\u{ed70}-00");
        assert!(u.join("http:/\u{e9}").is_ok());
    }

    #[test]
    fn m_search_names_its_target_and_asks_within_two_seconds() {
        let m = m_search(SEARCH_TARGETS[0]);
        assert!(m.starts_with("M-SEARCH * HTTP/1.1\r\n"));
        assert!(m.contains("MAN: \"ssdp:discover\"\r\n"));
        assert!(m.contains("MX: 2\r\n"));
        assert!(m.ends_with("\r\n\r\n"));
    }
}
