//! RTSP 1.0 wire format: a pure, bounded parser for requests and `$`-interleaved frames, plus the
//! header grammars the server needs (Transport, Session, request-URI → stream). No I/O here.

use std::fmt::Write as _;
use thiserror::Error;

/// Largest request line + headers accepted. RTSP requests are a few hundred bytes; a Digest
/// `Authorization` header is the biggest part. Anything larger is an attack or a confused peer.
pub const MAX_HEAD: usize = 8 * 1024;
/// Largest request body. Our methods carry no meaningful body (GET_PARAMETER may name
/// parameters); 4 KiB is generous.
pub const MAX_BODY: usize = 4 * 1024;
/// Header lines per request.
pub const MAX_HEADERS: usize = 64;
/// Longest request-URI; ours are `rtsp://host:port/streamN/trackID=0`.
pub const MAX_URI: usize = 2 * 1024;
/// Largest `$`-interleaved frame a client may send (RTCP receiver reports are < 200 bytes).
pub const MAX_INTERLEAVED_IN: usize = 8 * 1024;

/// Protocol token of the request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    Rtsp10,
    /// Any other `RTSP/x.y` (answered 505).
    RtspOther(String),
    /// `HTTP/1.0` or `HTTP/1.1`: one leg of an RTSP-over-HTTP tunnel.
    Http(String),
}

/// One parsed request. Header names keep their case; lookups ignore it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request-URI exactly as sent (Digest binds to it).
    pub uri: String,
    pub version: Version,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn cseq(&self) -> Option<&str> {
        self.header("CSeq")
    }

    /// Session id from the `Session` header, without `;timeout=` parameters.
    pub fn session_id(&self) -> Option<&str> {
        self.header("Session")
            .map(|v| v.split(';').next().unwrap_or("").trim())
            .filter(|s| !s.is_empty())
    }
}

/// What the front of a receive buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// Need more bytes (the buffer is still below every limit).
    Incomplete,
    /// A complete RTSP request (with body) occupying `consumed` bytes.
    Request(Request, usize),
    /// An HTTP request head (tunnel leg). Its body is NOT consumed: a tunnel POST declares a
    /// bogus Content-Length and streams base64 after the head.
    Http(Request, usize),
    /// A `$` frame from the client (RTCP receiver reports on interleaved channels).
    Interleaved {
        channel: u8,
        payload: &'a [u8],
        consumed: usize,
    },
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("request head exceeds {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("request body of {0} bytes exceeds {MAX_BODY}")]
    BodyTooLarge(usize),
    #[error("request-URI of {0} bytes exceeds {MAX_URI}")]
    UriTooLong(usize),
    #[error("interleaved frame of {0} bytes from client exceeds {MAX_INTERLEAVED_IN}")]
    InterleavedTooLarge(usize),
    #[error("request head is not UTF-8")]
    NotUtf8,
    #[error("malformed request line {0:?}")]
    BadRequestLine(String),
    #[error("malformed header line {0:?}")]
    BadHeader(String),
    #[error("more than {MAX_HEADERS} header lines")]
    TooManyHeaders,
    #[error("bad Content-Length {0:?}")]
    BadContentLength(String),
}

impl ParseError {
    /// The status to answer before closing (the framing is lost after any parse error).
    pub fn status(&self) -> u16 {
        match self {
            ParseError::BodyTooLarge(_) => 413,
            ParseError::UriTooLong(_) => 414,
            _ => 400,
        }
    }
}

/// Parses the message at the front of `buf`. Pure and bounded: never looks past
/// `MAX_HEAD + MAX_BODY` bytes and reports `Incomplete` only while below the limits.
pub fn parse(buf: &[u8]) -> Result<Parsed<'_>, ParseError> {
    // Stray CRLFs between messages are tolerated (RFC 2326 §4, some clients send them).
    let skip = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let rest = &buf[skip..];
    if rest.is_empty() {
        return Ok(Parsed::Incomplete);
    }
    if rest[0] == b'$' {
        if rest.len() < 4 {
            return Ok(Parsed::Incomplete);
        }
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        if len > MAX_INTERLEAVED_IN {
            return Err(ParseError::InterleavedTooLarge(len));
        }
        if rest.len() < 4 + len {
            return Ok(Parsed::Incomplete);
        }
        return Ok(Parsed::Interleaved {
            channel: rest[1],
            payload: &rest[4..4 + len],
            consumed: skip + 4 + len,
        });
    }
    let Some(head_len) = find_head_end(rest) else {
        return if rest.len() >= MAX_HEAD {
            Err(ParseError::HeadTooLarge)
        } else {
            Ok(Parsed::Incomplete)
        };
    };
    if head_len > MAX_HEAD {
        return Err(ParseError::HeadTooLarge);
    }
    let mut req = parse_head(&rest[..head_len])?;
    if matches!(req.version, Version::Http(_)) {
        return Ok(Parsed::Http(req, skip + head_len));
    }
    let body_len = content_length(&req)?;
    if body_len > MAX_BODY {
        return Err(ParseError::BodyTooLarge(body_len));
    }
    if rest.len() < head_len + body_len {
        return Ok(Parsed::Incomplete);
    }
    req.body = rest[head_len..head_len + body_len].to_vec();
    Ok(Parsed::Request(req, skip + head_len + body_len))
}

/// Length of the head including its blank line, accepting CRLF or bare LF line ends.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let limit = buf.len().min(MAX_HEAD + 4);
    let b = &buf[..limit];
    (0..b.len()).find_map(|i| {
        if b[i] != b'\n' {
            return None;
        }
        match (b.get(i + 1), b.get(i + 2)) {
            (Some(b'\n'), _) => Some(i + 2),
            (Some(b'\r'), Some(b'\n')) => Some(i + 3),
            _ => None,
        }
    })
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

fn parse_head(head: &[u8]) -> Result<Request, ParseError> {
    let text = std::str::from_utf8(head).map_err(|_| ParseError::NotUtf8)?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().unwrap_or("");
    let bad_line = || ParseError::BadRequestLine(line.chars().take(80).collect());
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_line());
    };
    if !is_token(method) || uri.is_empty() || uri.bytes().any(|c| c.is_ascii_control()) {
        return Err(bad_line());
    }
    if uri.len() > MAX_URI {
        return Err(ParseError::UriTooLong(uri.len()));
    }
    let version = match version {
        "RTSP/1.0" => Version::Rtsp10,
        v if v.starts_with("RTSP/") && v.len() <= 12 => Version::RtspOther(v.to_string()),
        "HTTP/1.0" | "HTTP/1.1" => Version::Http(version.to_string()),
        _ => return Err(bad_line()),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for l in lines {
        if l.is_empty() {
            break;
        }
        if l.starts_with([' ', '\t']) {
            // Obsolete line folding: continue the previous value.
            let Some(last) = headers.last_mut() else {
                return Err(ParseError::BadHeader(l.chars().take(80).collect()));
            };
            last.1.push(' ');
            last.1.push_str(l.trim());
            continue;
        }
        let Some((name, value)) = l.split_once(':') else {
            return Err(ParseError::BadHeader(l.chars().take(80).collect()));
        };
        if !is_token(name) || value.bytes().any(|c| c.is_ascii_control() && c != b'\t') {
            return Err(ParseError::BadHeader(l.chars().take(80).collect()));
        }
        if headers.len() == MAX_HEADERS {
            return Err(ParseError::TooManyHeaders);
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        uri: uri.to_string(),
        version,
        headers,
        body: Vec::new(),
    })
}

fn content_length(req: &Request) -> Result<usize, ParseError> {
    let mut found: Option<usize> = None;
    for (_, v) in req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
    {
        let n = if v.is_empty() || v.len() > 12 || !v.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            v.parse::<usize>().ok()
        };
        match (n, found) {
            (None, _) => return Err(ParseError::BadContentLength(v.chars().take(20).collect())),
            (Some(n), Some(f)) if n != f => return Err(ParseError::BadContentLength(v.clone())),
            (Some(n), _) => found = Some(n),
        }
    }
    Ok(found.unwrap_or(0))
}

/// Which stream (and track) a request-URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// 1 for `/stream1`, 2 for `/stream2`; 0 for an upstream camera.
    pub stream: u8,
    /// `NAME` of `/cameras/NAME`: an upstream camera this device re-serves (recorder mode).
    pub camera: Option<String>,
    /// True when the URI names the media track (`…/trackID=0`) rather than the presentation.
    pub track: bool,
}

/// Maps `rtsp://host:port/stream1[/][trackID=0][?query]` or `…/cameras/NAME[/trackID=0]` (or a
/// bare path) to a target. `None` for anything else, including `*`.
pub fn target(uri: &str) -> Option<Target> {
    let path = match uri.find("://") {
        Some(i) => {
            let after = &uri[i + 3..];
            after.find('/').map(|p| &after[p..]).unwrap_or("/")
        }
        None if uri.starts_with('/') => uri,
        None => return None,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut segs = path.split('/').filter(|s| !s.is_empty());
    let first = segs.next()?;
    if first == "cameras" {
        // Names as the `cameras` settings allow them: nothing a path could be made of.
        let name = segs.next()?;
        let ok = (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return None;
        }
        return Some(Target {
            stream: 0,
            camera: Some(name.to_owned()),
            track: track_tail(segs)?,
        });
    }
    let stream = first.strip_prefix("stream")?;
    if stream.is_empty() || stream.len() > 1 || !stream.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let stream: u8 = stream.parse().ok().filter(|n| *n >= 1)?;
    Some(Target {
        stream,
        camera: None,
        track: track_tail(segs)?,
    })
}

/// What may follow a stream's or a camera's path: nothing (the aggregate, `false`) or its one
/// track, `trackID=0` (`true`); `None` for anything else, so unknown paths are refused, not guessed.
fn track_tail<'a>(mut segs: impl Iterator<Item = &'a str>) -> Option<bool> {
    let track = match segs.next() {
        None => false,
        Some("trackID=0") => true,
        Some(_) => return None,
    };
    segs.next().is_none().then_some(track)
}

/// Lower transport requested in one `Transport` alternative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lower {
    Udp { rtp: u16, rtcp: u16 },
    Tcp { channels: Option<(u8, u8)> },
}

/// One acceptable alternative of a `Transport` header (only the unicast RTP/AVP ones we serve).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportSpec {
    pub lower: Lower,
}

/// Parses a `Transport` header (RFC 2326 §12.39) and keeps, in the client's order of
/// preference, the alternatives we can serve: unicast RTP/AVP over UDP (with client ports)
/// or TCP. Multicast, other profiles, and UDP without `client_port` are dropped.
pub fn transports(header: &str) -> Vec<TransportSpec> {
    let mut out = Vec::new();
    for alt in header.split(',').take(8) {
        let mut params = alt.split(';').map(str::trim);
        let proto = params.next().unwrap_or("").to_ascii_uppercase();
        let tcp = match proto.as_str() {
            "RTP/AVP" | "RTP/AVP/UDP" => false,
            "RTP/AVP/TCP" => true,
            _ => continue,
        };
        let mut multicast = false;
        let mut client_port = None;
        let mut interleaved = None;
        let mut bad = false;
        for p in params {
            let (k, v) = p
                .split_once('=')
                .map(|(k, v)| (k.trim(), Some(v.trim())))
                .unwrap_or((p, None));
            match (k.to_ascii_lowercase().as_str(), v) {
                ("multicast", None) => multicast = true,
                ("client_port", Some(v)) => match pair::<u16>(v) {
                    Some((a, b)) if a != 0 && b != 0 => client_port = Some((a, b)),
                    _ => bad = true,
                },
                ("interleaved", Some(v)) => match pair::<u8>(v) {
                    Some(p) => interleaved = Some(p),
                    None => bad = true,
                },
                ("mode", Some(m)) if !m.trim_matches('"').eq_ignore_ascii_case("play") => {
                    bad = true
                }
                _ => {}
            }
        }
        if multicast || bad {
            continue;
        }
        let lower = if tcp {
            Lower::Tcp {
                channels: interleaved,
            }
        } else {
            match client_port {
                Some((rtp, rtcp)) => Lower::Udp { rtp, rtcp },
                None => continue,
            }
        };
        out.push(TransportSpec { lower });
    }
    out
}

/// `a-b` or `a` (then `b = a + 1`).
fn pair<T: std::str::FromStr + Copy + TryFrom<u32> + Into<u32>>(v: &str) -> Option<(T, T)> {
    match v.split_once('-') {
        Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        None => {
            let a: T = v.trim().parse().ok()?;
            let b = T::try_from(a.into() + 1).ok()?;
            Some((a, b))
        }
    }
}

/// One response; serialized with the request's CSeq echoed.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Close the connection after sending (framing lost, or the peer is refused).
    pub close: bool,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            reason: reason(status).to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            close: false,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Replaces the reason phrase; clients like ffmpeg print it, so it can say *why*.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        // Keep the status line one clean line whatever the caller passes.
        self.reason = reason.into().chars().filter(|c| !c.is_control()).collect();
        self
    }

    pub fn body(mut self, content_type: &'static str, body: Vec<u8>) -> Self {
        self.headers
            .push(("Content-Type", content_type.to_string()));
        self.body = body;
        self
    }

    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    pub fn serialize(&self, cseq: Option<&str>) -> Vec<u8> {
        let mut s = String::with_capacity(256 + self.body.len());
        let _ = write!(s, "RTSP/1.0 {} {}\r\n", self.status, self.reason);
        if let Some(c) = cseq.filter(|c| c.len() <= 16 && c.bytes().all(|b| b.is_ascii_digit())) {
            let _ = write!(s, "CSeq: {c}\r\n");
        }
        s.push_str("Server: camward\r\n");
        for (n, v) in &self.headers {
            let _ = write!(s, "{n}: {v}\r\n");
        }
        if !self.body.is_empty() {
            let _ = write!(s, "Content-Length: {}\r\n", self.body.len());
        }
        if self.close {
            s.push_str("Connection: close\r\n");
        }
        s.push_str("\r\n");
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// Reason phrases of RFC 2326 §7.1.1 for the codes we send.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        451 => "Parameter Not Understood",
        453 => "Not Enough Bandwidth",
        454 => "Session Not Found",
        455 => "Method Not Valid in This State",
        459 => "Aggregate Operation Not Allowed",
        461 => "Unsupported Transport",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "RTSP Version Not Supported",
        551 => "Option not supported",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> Request {
        match parse(text.as_bytes()).unwrap() {
            Parsed::Request(r, n) => {
                assert_eq!(n, text.len());
                r
            }
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[test]
    fn parses_request_line_headers_and_cseq() {
        let r = req(
            "DESCRIBE rtsp://h:554/stream1 RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n",
        );
        assert_eq!(r.method, "DESCRIBE");
        assert_eq!(r.uri, "rtsp://h:554/stream1");
        assert_eq!(r.version, Version::Rtsp10);
        assert_eq!(r.cseq(), Some("2"));
        assert_eq!(r.header("accept"), Some("application/sdp"));
    }

    #[test]
    fn incomplete_until_blank_line_and_full_body() {
        let full =
            b"SET_PARAMETER rtsp://h/stream1 RTSP/1.0\r\nCSeq: 3\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..full.len() {
            assert_eq!(
                parse(&full[..cut]).unwrap(),
                Parsed::Incomplete,
                "cut at {cut}"
            );
        }
        let Parsed::Request(r, n) = parse(full).unwrap() else {
            panic!()
        };
        assert_eq!((r.body.as_slice(), n), (&b"hello"[..], full.len()));
    }

    #[test]
    fn pipelined_requests_are_consumed_one_at_a_time() {
        let two = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\nOPTIONS * RTSP/1.0\r\nCSeq: 2\r\n\r\n";
        let Parsed::Request(a, n) = parse(two).unwrap() else {
            panic!()
        };
        let Parsed::Request(b, _) = parse(&two[n..]).unwrap() else {
            panic!()
        };
        assert_eq!((a.cseq(), b.cseq()), (Some("1"), Some("2")));
    }

    #[test]
    fn bare_lf_line_ends_and_stray_crlf_are_tolerated() {
        let r = req("\r\nOPTIONS * RTSP/1.0\nCSeq: 9\n\n");
        assert_eq!(r.cseq(), Some("9"));
    }

    #[test]
    fn interleaved_frame_is_split_out() {
        let buf = [b'$', 1, 0, 3, 0xaa, 0xbb, 0xcc, b'O'];
        assert_eq!(
            parse(&buf).unwrap(),
            Parsed::Interleaved {
                channel: 1,
                payload: &[0xaa, 0xbb, 0xcc],
                consumed: 7
            }
        );
        assert_eq!(parse(&buf[..5]).unwrap(), Parsed::Incomplete);
    }

    #[test]
    fn oversized_head_is_refused_without_waiting_for_more() {
        let mut big = b"OPTIONS * RTSP/1.0\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 10, b'a');
        assert_eq!(parse(&big), Err(ParseError::HeadTooLarge));
    }

    #[test]
    fn oversized_body_is_refused_before_it_arrives() {
        let r = parse(b"SET_PARAMETER * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 999999\r\n\r\n");
        assert_eq!(r, Err(ParseError::BodyTooLarge(999_999)));
        assert_eq!(r.unwrap_err().status(), 413);
    }

    #[test]
    fn oversized_interleaved_frame_is_refused() {
        assert_eq!(
            parse(&[b'$', 0, 0xff, 0xff]),
            Err(ParseError::InterleavedTooLarge(65535))
        );
    }

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        for bad in [
            "OPTIONS\r\n\r\n",
            "OPTIONS  * RTSP/1.0\r\n\r\n",
            "OPTIONS * FTP/1.0\r\n\r\n",
            "OPT(IONS * RTSP/1.0\r\n\r\n",
            "OPTIONS * RTSP/1.0\r\nno colon\r\n\r\n",
            "OPTIONS * RTSP/1.0\r\n folded-first\r\n\r\n",
            "OPTIONS * RTSP/1.0\r\nContent-Length: -1\r\n\r\n",
            "OPTIONS * RTSP/1.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            parse(b"OPTIONS \xff RTSP/1.0\r\n\r\n"),
            Err(ParseError::NotUtf8)
        );
    }

    #[test]
    fn too_many_headers_are_refused() {
        let mut s = String::from("OPTIONS * RTSP/1.0\r\n");
        for i in 0..=MAX_HEADERS {
            s.push_str(&format!("X{i}: y\r\n"));
        }
        s.push_str("\r\n");
        assert_eq!(parse(s.as_bytes()), Err(ParseError::TooManyHeaders));
    }

    #[test]
    fn other_rtsp_versions_parse_so_they_can_get_505() {
        let Parsed::Request(r, _) = parse(b"OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n").unwrap() else {
            panic!()
        };
        assert_eq!(r.version, Version::RtspOther("RTSP/2.0".into()));
    }

    #[test]
    fn http_tunnel_head_leaves_its_bogus_body_unconsumed() {
        let post = b"POST /stream1 HTTP/1.0\r\nx-sessioncookie: abc\r\nContent-Length: 32767\r\n\r\nT1BUSU9OUw==";
        let Parsed::Http(r, n) = parse(post).unwrap() else {
            panic!()
        };
        assert_eq!(r.header("X-SessionCookie"), Some("abc"));
        assert_eq!(&post[n..], b"T1BUSU9OUw==");
    }

    #[test]
    fn session_header_drops_timeout_parameter() {
        let r = req("PLAY * RTSP/1.0\r\nCSeq: 1\r\nSession: 1234abcd;timeout=60\r\n\r\n");
        assert_eq!(r.session_id(), Some("1234abcd"));
    }

    #[test]
    fn target_accepts_stream_urls_with_trailing_slash_and_track_control() {
        let t = |s| target(s);
        assert_eq!(
            t("rtsp://h:554/stream1"),
            Some(Target {
                stream: 1,
                camera: None,
                track: false
            })
        );
        assert_eq!(
            t("rtsp://h/stream2/"),
            Some(Target {
                stream: 2,
                camera: None,
                track: false
            })
        );
        assert_eq!(
            t("rtsp://u:p@[::1]:8554/stream1/trackID=0"),
            Some(Target {
                stream: 1,
                camera: None,
                track: true
            })
        );
        assert_eq!(
            t("/stream1?x=1"),
            Some(Target {
                stream: 1,
                camera: None,
                track: false
            })
        );
        assert_eq!(
            t("rtsps://h/stream1/trackID=0/"),
            Some(Target {
                stream: 1,
                camera: None,
                track: true
            })
        );
        for bad in [
            "*",
            "rtsp://h/",
            "rtsp://h/stream0",
            "rtsp://h/stream12",
            "rtsp://h/live",
            "rtsp://h/stream1/trackID=1",
            "rtsp://h/stream1/a/b",
            "stream1",
            "rtsp://h/cameras",
            "rtsp://h/cameras/",
            "rtsp://h/cameras/a.b",
            "rtsp://h/cameras/gate/trackID=1",
            "rtsp://h/cameras/gate/x/y",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
        assert_eq!(
            t("rtsp://h:554/cameras/gate-1/trackID=0"),
            Some(Target {
                stream: 0,
                camera: Some("gate-1".into()),
                track: true
            })
        );
    }

    #[test]
    fn transport_keeps_servable_alternatives_in_client_order() {
        let v = transports(
            "RTP/AVP/TCP;unicast;interleaved=2-3, RTP/AVP;unicast;client_port=5000-5001",
        );
        assert_eq!(
            v,
            vec![
                TransportSpec {
                    lower: Lower::Tcp {
                        channels: Some((2, 3))
                    }
                },
                TransportSpec {
                    lower: Lower::Udp {
                        rtp: 5000,
                        rtcp: 5001
                    }
                }
            ]
        );
        assert_eq!(
            transports("RTP/AVP;unicast;client_port=6000")[0].lower,
            Lower::Udp {
                rtp: 6000,
                rtcp: 6001
            }
        );
        assert_eq!(
            transports("RTP/AVP/TCP;unicast")[0].lower,
            Lower::Tcp { channels: None }
        );
    }

    #[test]
    fn transport_drops_multicast_record_and_unknown_profiles() {
        assert!(transports("RTP/AVP;multicast;port=5000-5001").is_empty());
        assert!(transports("RTP/SAVP;unicast;client_port=5000-5001").is_empty());
        assert!(transports("RTP/AVP;unicast;client_port=5000-5001;mode=record").is_empty());
        assert!(transports("RTP/AVP;unicast").is_empty());
        assert!(transports("RTP/AVP;unicast;client_port=0-1").is_empty());
        assert!(transports("RTP/AVP/TCP;interleaved=255").is_empty());
        assert!(transports("garbage;;;==,").is_empty());
    }

    #[test]
    fn response_echoes_numeric_cseq_only() {
        let r = Response::new(454).header("Session", "x");
        let text = String::from_utf8(r.serialize(Some("7"))).unwrap();
        assert!(text.starts_with("RTSP/1.0 454 Session Not Found\r\nCSeq: 7\r\n"));
        let text = String::from_utf8(Response::new(400).serialize(Some("1\r\nX: y"))).unwrap();
        assert!(!text.contains("X: y"));
    }

    #[test]
    fn reason_phrase_cannot_inject_lines() {
        let r = Response::new(403).reason("Forbidden\r\nX-Evil: 1");
        assert!(
            !String::from_utf8(r.serialize(None))
                .unwrap()
                .contains("\r\nX-Evil")
        );
    }
}
