//! The RTSP control exchange of one viewer: DESCRIBE, SETUP, PLAY (RFC 2326), answering a 401
//! with Digest MD5 (RFC 7616 with qop=auth, or RFC 2069 when the server offers no qop), over
//! a plain connection or Apple's HTTP tunnel (GET leg for answers, base64 requests on POST).

use crate::{Cfg, Mode, bracket, connect};
use base64::Engine as _;
use md5::{Digest as _, Md5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Where a playing viewer's media arrives.
pub enum Media {
    Interleaved {
        rd: OwnedReadHalf,
        wr: OwnedWriteHalf,
        /// Media bytes read together with the PLAY answer.
        leftover: Vec<u8>,
        /// Requests (and receiver reports) travel base64-encoded: the tunnel's POST leg.
        base64: bool,
        rtcp_ch: u8,
        /// The tunnel's GET leg write half: dropping it would half-close the leg.
        _keep: Option<OwnedWriteHalf>,
    },
    Udp {
        rtp: UdpSocket,
        rtcp: UdpSocket,
        /// The RTSP connection stays open while the session plays.
        _ctl: (OwnedReadHalf, OwnedWriteHalf),
    },
}

pub struct Resp {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Challenge {
    realm: String,
    nonce: String,
    opaque: Option<String>,
    qop: bool,
}

struct Ctl<'a> {
    cfg: &'a Cfg,
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    base64: bool,
    buf: Vec<u8>,
    cseq: u32,
    challenge: Option<Challenge>,
    nc: u32,
    salt: u64,
}

/// Largest RTSP answer head or body accepted (SDPs are a few hundred bytes).
const MAX_MESSAGE: usize = 64 * 1024;

impl Ctl<'_> {
    async fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 4096];
        let n = self
            .rd
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed by server".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    async fn response(&mut self) -> Result<Resp, String> {
        loop {
            // Interleaved frames may precede an answer: skip them.
            while self.buf.first() == Some(&b'$') && self.buf.len() >= 4 {
                let n = u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
                if self.buf.len() < 4 + n {
                    break;
                }
                self.buf.drain(..4 + n);
            }
            if self.buf.first() != Some(&b'$')
                && let Some(end) = find(&self.buf, b"\r\n\r\n")
            {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 4);
                let mut lines = head.split("\r\n");
                let status_line = lines.next().unwrap_or("");
                let status = status_line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("bad status line {status_line:?}"))?;
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                if len > MAX_MESSAGE {
                    return Err(format!("answer body of {len} bytes"));
                }
                while self.buf.len() < len {
                    self.fill().await?;
                }
                let body = self.buf.drain(..len).collect();
                return Ok(Resp {
                    status,
                    headers,
                    body,
                });
            }
            if self.buf.len() > MAX_MESSAGE {
                return Err("no RTSP answer in 64 KiB".into());
            }
            self.fill().await?;
        }
    }

    fn authorization(&mut self, method: &str, uri: &str) -> Option<String> {
        let c = self.challenge.as_ref()?;
        let user = self.cfg.user.as_deref()?;
        let md5 = |s: String| hex(&Md5::digest(s.as_bytes()));
        let ha1 = md5(format!("{user}:{}:{}", c.realm, self.cfg.password));
        let ha2 = md5(format!("{method}:{uri}"));
        let mut h = format!(
            "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", algorithm=MD5",
            c.realm, c.nonce
        );
        if c.qop {
            self.nc += 1;
            let nc = format!("{:08x}", self.nc);
            self.salt = self
                .salt
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let cnonce = format!("{:016x}", self.salt);
            let resp = md5(format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", c.nonce));
            h += &format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{resp}\"");
        } else {
            let resp = md5(format!("{ha1}:{}:{ha2}", c.nonce));
            h += &format!(", response=\"{resp}\"");
        }
        if let Some(o) = &c.opaque {
            h += &format!(", opaque=\"{o}\"");
        }
        Some(h)
    }

    /// One request; a 401 is answered once with Digest when a user is configured.
    async fn request(
        &mut self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> Result<Resp, String> {
        for attempt in 0..2 {
            self.cseq += 1;
            let mut msg = format!("{method} {uri} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
            if let Some(a) = self.authorization(method, uri) {
                msg += &format!("Authorization: {a}\r\n");
            }
            for (k, v) in headers {
                msg += &format!("{k}: {v}\r\n");
            }
            msg += "User-Agent: camward-rtspload\r\n\r\n";
            let out = if self.base64 {
                base64::engine::general_purpose::STANDARD
                    .encode(msg.as_bytes())
                    .into_bytes()
            } else {
                msg.into_bytes()
            };
            self.wr
                .write_all(&out)
                .await
                .map_err(|e| format!("write: {e}"))?;
            let r = self.response().await?;
            if r.status == 401 && attempt == 0 && self.cfg.user.is_some() {
                self.challenge = r.all("WWW-Authenticate").find_map(parse_challenge);
                self.nc = 0;
                if self.challenge.is_none() {
                    return Err("401 without a Digest MD5 challenge".into());
                }
                continue;
            }
            return Ok(r);
        }
        Err(format!("{method}: still 401 after Digest"))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `Digest k=v, k="v, w"`: the MD5 challenge (algorithm MD5 or absent), else `None`.
fn parse_challenge(v: &str) -> Option<Challenge> {
    let rest = v
        .strip_prefix("Digest ")
        .or_else(|| v.strip_prefix("digest "))?;
    let mut params = Vec::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (k, after) = s.split_once('=')?;
        let after = after.trim_start();
        let (val, tail) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim(), &after[end..])
        };
        params.push((k.trim().to_ascii_lowercase(), val.to_string()));
        s = tail.trim_start().trim_start_matches(',').trim_start();
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(a) = get("algorithm")
        && !a.eq_ignore_ascii_case("MD5")
    {
        return None;
    }
    Some(Challenge {
        realm: get("realm")?,
        nonce: get("nonce")?,
        opaque: get("opaque"),
        qop: get("qop").is_some_and(|q| q.split(',').any(|x| x.trim() == "auth")),
    })
}

/// A control connection: a plain RTSP connection, or the two legs of an HTTP tunnel.
async fn open(cfg: &Cfg, i: usize) -> Result<(Ctl<'_>, Option<OwnedWriteHalf>), String> {
    let salt = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
    let s = connect(cfg).await.map_err(|e| format!("connect: {e}"))?;
    if cfg.mode != Mode::Http {
        let (rd, wr) = s.into_split();
        return Ok((
            Ctl {
                cfg,
                rd,
                wr,
                base64: false,
                buf: Vec::new(),
                cseq: 0,
                challenge: None,
                nc: 0,
                salt,
            },
            None,
        ));
    }
    let cookie = format!("{:016x}", salt);
    let (get_rd, mut get_wr) = s.into_split();
    get_wr
        .write_all(
            format!(
                "GET {} HTTP/1.0\r\nx-sessioncookie: {cookie}\r\nAccept: application/x-rtsp-tunnelled\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n\r\n",
                cfg.path
            )
            .as_bytes(),
        )
        .await
        .map_err(|e| format!("tunnel GET: {e}"))?;
    let post = connect(cfg)
        .await
        .map_err(|e| format!("tunnel POST connect: {e}"))?;
    let (_post_rd, mut post_wr) = post.into_split();
    let mut ctl = Ctl {
        cfg,
        rd: get_rd,
        wr: post_wr,
        base64: true,
        buf: Vec::new(),
        cseq: 0,
        challenge: None,
        nc: 0,
        salt,
    };
    // The GET answer's head; what follows it is the tunnelled RTSP byte stream.
    let head = loop {
        if let Some(end) = find(&ctl.buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&ctl.buf[..end]).into_owned();
            ctl.buf.drain(..end + 4);
            break head;
        }
        if ctl.buf.len() > MAX_MESSAGE {
            return Err("tunnel GET: no answer head".into());
        }
        ctl.fill().await?;
    };
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("tunnel GET answered {status:?}"));
    }
    post_wr = ctl.wr;
    post_wr
        .write_all(
            format!(
                "POST {} HTTP/1.0\r\nx-sessioncookie: {cookie}\r\nContent-Type: application/x-rtsp-tunnelled\r\nPragma: no-cache\r\nCache-Control: no-cache\r\nContent-Length: 32767\r\nExpires: Sun, 9 Jan 1972 00:00:00 GMT\r\n\r\n",
                cfg.path
            )
            .as_bytes(),
        )
        .await
        .map_err(|e| format!("tunnel POST: {e}"))?;
    ctl.wr = post_wr;
    // The POST leg's read half is dropped: nothing comes back on it, and dropping a read half
    // does not close the connection.
    Ok((ctl, Some(get_wr)))
}

fn track_url(r: &Resp, uri: &str) -> String {
    let base = r
        .header("Content-Base")
        .map(str::to_string)
        .unwrap_or_else(|| format!("{uri}/"));
    let sdp = String::from_utf8_lossy(&r.body);
    let control = sdp
        .lines()
        .filter_map(|l| l.trim().strip_prefix("a=control:"))
        .next_back()
        .unwrap_or("*")
        .trim()
        .to_string();
    if control == "*" {
        uri.to_string()
    } else if control.starts_with("rtsp://") {
        control
    } else {
        format!("{}/{control}", base.trim_end_matches('/'))
    }
}

async fn udp_pair(cfg: &Cfg) -> Result<(UdpSocket, UdpSocket, u16), String> {
    let host = bracket(&cfg.host);
    for _ in 0..32 {
        let rtp = UdpSocket::bind(format!("{host}:0"))
            .await
            .map_err(|e| format!("udp bind: {e}"))?;
        let p = rtp.local_addr().map_err(|e| e.to_string())?.port();
        if p % 2 != 0 || p == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(format!("{host}:{}", p + 1)).await {
            return Ok((rtp, rtcp, p));
        }
    }
    Err("no free even/odd UDP port pair".into())
}

fn param<'a>(transport: &'a str, key: &str) -> Option<&'a str> {
    transport
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// DESCRIBE, SETUP and PLAY; returns where the media arrives.
pub async fn setup(cfg: &Cfg, i: usize) -> Result<Media, String> {
    let (mut ctl, keep) = open(cfg, i).await?;
    let uri = format!("rtsp://{}:{}{}", bracket(&cfg.host), cfg.port, cfg.path);
    let r = ctl
        .request("DESCRIBE", &uri, &[("Accept", "application/sdp")])
        .await?;
    if r.status != 200 {
        return Err(format!("DESCRIBE {}", r.status));
    }
    let track = track_url(&r, &uri);
    let udp = if cfg.mode == Mode::Udp {
        Some(udp_pair(cfg).await?)
    } else {
        None
    };
    let transport = match &udp {
        Some((_, _, p)) => format!("RTP/AVP;unicast;client_port={}-{}", p, p + 1),
        None => "RTP/AVP/TCP;unicast;interleaved=0-1".to_string(),
    };
    let r = ctl
        .request("SETUP", &track, &[("Transport", &transport)])
        .await?;
    if r.status != 200 {
        return Err(format!("SETUP {}", r.status));
    }
    let session = r
        .header("Session")
        .and_then(|s| s.split(';').next())
        .ok_or("SETUP without Session")?
        .trim()
        .to_string();
    let answered = r.header("Transport").unwrap_or("").to_string();
    let r = ctl
        .request(
            "PLAY",
            &uri,
            &[("Session", &session), ("Range", "npt=0.000-")],
        )
        .await?;
    if r.status != 200 {
        return Err(format!("PLAY {}", r.status));
    }
    match udp {
        None => {
            let rtcp_ch = param(&answered, "interleaved")
                .and_then(|v| v.split('-').nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            Ok(Media::Interleaved {
                rd: ctl.rd,
                wr: ctl.wr,
                leftover: ctl.buf,
                base64: ctl.base64,
                rtcp_ch,
                _keep: keep,
            })
        }
        Some((rtp, rtcp, _)) => {
            if let Some(port) = param(&answered, "server_port")
                .and_then(|v| v.split('-').nth(1))
                .and_then(|v| v.parse::<u16>().ok())
            {
                let _ = rtcp.connect(format!("{}:{port}", bracket(&cfg.host))).await;
            }
            Ok(Media::Udp {
                rtp,
                rtcp,
                _ctl: (ctl.rd, ctl.wr),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_challenge_is_picked_from_quoted_and_bare_parameters() {
        let c = parse_challenge(
            r#"Digest realm="cam, ward", nonce="abc", algorithm=MD5, qop="auth,auth-int", opaque="o""#,
        )
        .unwrap();
        assert_eq!(c.realm, "cam, ward");
        assert_eq!(c.nonce, "abc");
        assert!(c.qop);
        assert_eq!(c.opaque.as_deref(), Some("o"));
        assert!(parse_challenge(r#"Digest realm="r", nonce="n", algorithm=SHA-256"#).is_none());
        let legacy =
            parse_challenge(r#"Digest realm="LIVE555 Streaming Media", nonce="n""#).unwrap();
        assert!(!legacy.qop);
    }
}
