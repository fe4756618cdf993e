//! The HTTP/1.1 exchange UPnP control needs (paper §4.1): one request per connection
//! (`Connection: close`), a bounded answer (size and time), Content-Length, chunked or
//! read-to-close bodies. Only ever talks to the gateway found by SSDP, on the LAN.

use crate::Error;
use crate::ssdp::HttpUrl;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer read (a description is a few KiB; SOAP answers far less).
pub const MAX_RESPONSE: usize = 64 * 1024;
/// Time for one whole exchange, connect included.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Sends a request and reads the answer; also returns the local address the connection used,
/// which is the camera's address on the gateway's LAN (the internal client of a mapping).
pub async fn exchange(
    url: &HttpUrl,
    method: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Result<(Response, IpAddr), Error> {
    tokio::time::timeout(TIMEOUT, exchange_inner(url, method, headers, body))
        .await
        .map_err(|_| Error::Timeout(format!("{method} {url}")))?
}

async fn exchange_inner(
    url: &HttpUrl,
    method: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Result<(Response, IpAddr), Error> {
    let mut s = TcpStream::connect(SocketAddr::V4(url.addr))
        .await
        .map_err(|e| Error::Io(format!("cannot connect to {url}"), e))?;
    let local = s
        .local_addr()
        .map_err(|e| Error::Io("no local address".into(), e))?
        .ip();
    let mut req = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: Linux/1 UPnP/1.1 camward/1\r\nContent-Length: {}\r\n",
        url.path,
        url.addr,
        body.len()
    );
    for (name, value) in headers {
        req.push_str(name);
        req.push_str(": ");
        req.push_str(value);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| Error::Io(format!("cannot send to {url}"), e))?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s
            .read(&mut chunk)
            .await
            .map_err(|e| Error::Io(format!("cannot read the answer of {url}"), e))?;
        if n == 0 {
            break;
        }
        if buf.len() + n > MAX_RESPONSE {
            return Err(Error::Protocol(format!(
                "answer of {url} is larger than {MAX_RESPONSE} bytes"
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
        // Stop as soon as a Content-Length body is complete: some gateways keep the
        // connection open despite `Connection: close`.
        if let Ok(Some(r)) = parse_response(&buf, false) {
            return Ok((r, local));
        }
    }
    let r = parse_response(&buf, true)?
        .ok_or_else(|| Error::Protocol(format!("truncated answer from {url}")))?;
    Ok((r, local))
}

/// Parses an HTTP/1.x answer. `Ok(None)`: incomplete so far. `eof`: the peer closed, so a body
/// without length ends here.
pub fn parse_response(buf: &[u8], eof: bool) -> Result<Option<Response>, Error> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return if eof {
            Err(Error::Protocol("answer without a complete header".into()))
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| Error::Protocol("answer header is not UTF-8".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(Error::Protocol(format!(
            "not an HTTP/1.x answer: {:?}",
            status_line.chars().take(40).collect::<String>()
        )));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| Error::Protocol("bad HTTP status".into()))?;
    let (mut length, mut chunked) = (None, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| Error::Protocol("bad Content-Length".into()))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let raw = &buf[head_end + 4..];
    let body: Vec<u8> = if chunked {
        match dechunk(raw)? {
            Some(b) => b,
            None if eof => return Err(Error::Protocol("truncated chunked body".into())),
            None => return Ok(None),
        }
    } else if let Some(len) = length {
        if len > MAX_RESPONSE {
            return Err(Error::Protocol("Content-Length too large".into()));
        }
        if raw.len() < len {
            return if eof {
                Err(Error::Protocol("body shorter than Content-Length".into()))
            } else {
                Ok(None)
            };
        }
        raw[..len].to_vec()
    } else if eof {
        raw.to_vec()
    } else {
        return Ok(None);
    };
    let body = String::from_utf8(body).map_err(|_| Error::Protocol("body is not UTF-8".into()))?;
    Ok(Some(Response { status, body }))
}

/// Decodes a chunked body; `Ok(None)` while incomplete.
fn dechunk(mut raw: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = find(raw, b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&raw[..eol])
            .map_err(|_| Error::Protocol("bad chunk size".into()))?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| Error::Protocol("bad chunk size".into()))?;
        if size > MAX_RESPONSE || out.len() + size > MAX_RESPONSE {
            return Err(Error::Protocol("chunk too large".into()));
        }
        raw = &raw[eol + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if raw.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_bodies_complete_before_eof() {
        let a = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel";
        assert_eq!(parse_response(a, false).unwrap(), None);
        let a = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nhello";
        let r = parse_response(a, false).unwrap().unwrap();
        assert_eq!((r.status, r.body.as_str()), (500, "hello"));
    }

    #[test]
    fn chunked_and_close_delimited_bodies() {
        let a = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(a, false).unwrap().unwrap().body, "abcde");
        let a = b"HTTP/1.0 200 OK\r\n\r\nxyz";
        assert_eq!(parse_response(a, false).unwrap(), None);
        assert_eq!(parse_response(a, true).unwrap().unwrap().body, "xyz");
    }

    #[test]
    fn broken_answers_are_errors() {
        assert!(parse_response(b"SSH-2.0\r\n\r\n", true).is_err());
        assert!(parse_response(b"HTTP/1.1 abc\r\n\r\n", true).is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab", true).is_err());
        assert!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                true
            )
            .is_err()
        );
        assert!(parse_response(b"HTTP/1.1 200", true).is_err());
    }
}
