//! Network Time Security (RFC 8915): authenticated NTP for the clock that recording and
//! signature timestamps (paper §3.9) depend on. NTS-KE runs over TLS 1.3 (ALPN `ntske/1`, the
//! server's certificate verified against the system roots or the configured CA); its records
//! negotiate NTPv4 with AEAD_AES_SIV_CMAC_256 and hand over cookies, and both directions' keys
//! come from the TLS exporter. Each NTP request then carries a Unique Identifier, one cookie and
//! an NTS Authenticator; an answer counts only when its authenticator verifies with the
//! server-to-client key and its identifier matches, and the new cookies it carries (encrypted)
//! refill the jar. AES-SIV is RustCrypto's `aes-siv`: rustls' provider has no SIV mode.

use crate::packet::{self, ExtensionField, MODE_SERVER, Packet, ext};
use crate::sntp::{self, Sample, SntpError};
use aes_siv::KeyInit;
use aes_siv::siv::Aes128Siv;
use camward_config::NtpServer;
use camward_tls::rustls;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// NTS-KE record types (RFC 8915 §4.1).
mod record {
    pub const END_OF_MESSAGE: u16 = 0;
    pub const NEXT_PROTOCOL: u16 = 1;
    pub const ERROR: u16 = 2;
    pub const WARNING: u16 = 3;
    pub const AEAD_ALGORITHM: u16 = 4;
    pub const NEW_COOKIE: u16 = 5;
    pub const SERVER: u16 = 6;
    pub const PORT: u16 = 7;
}

/// The one protocol (NTPv4) and AEAD (AEAD_AES_SIV_CMAC_256, IANA id 15) camward negotiates.
const PROTOCOL_NTPV4: u16 = 0;
const AEAD_AES_SIV_CMAC_256: u16 = 15;
const EXPORTER_LABEL: &[u8] = b"EXPORTER-network-time-security";
/// Most cookies kept per server (RFC 8915 §5.7 suggests eight).
const MAX_COOKIES: usize = 8;
/// Largest NTS-KE answer read; real ones are under 2 KiB.
const MAX_KE_RESPONSE: usize = 64 * 1024;

/// What NTS-KE established.
#[derive(Clone)]
pub struct KeResult {
    /// Where to send NTP (the server and port records, or the KE host and the configured port).
    pub ntp_host: String,
    pub ntp_port: u16,
    pub c2s: [u8; 32],
    pub s2c: [u8; 32],
    pub cookies: Vec<Vec<u8>>,
}

/// Appends one NTS-KE record.
fn put_record(out: &mut Vec<u8>, critical: bool, kind: u16, body: &[u8]) {
    let t = kind | if critical { 0x8000 } else { 0 };
    out.extend_from_slice(&t.to_be_bytes());
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// The client's request (RFC 8915 §4): NTPv4, AES-SIV-CMAC-256, end of message.
pub fn ke_request() -> Vec<u8> {
    let mut b = Vec::new();
    put_record(
        &mut b,
        true,
        record::NEXT_PROTOCOL,
        &PROTOCOL_NTPV4.to_be_bytes(),
    );
    put_record(
        &mut b,
        true,
        record::AEAD_ALGORITHM,
        &AEAD_AES_SIV_CMAC_256.to_be_bytes(),
    );
    put_record(&mut b, true, record::END_OF_MESSAGE, &[]);
    b
}

/// What the server's records say.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct KeResponse {
    pub cookies: Vec<Vec<u8>>,
    pub server: Option<String>,
    pub port: Option<u16>,
}

/// Parses the server's records up to End of Message; `Ok(None)` when more bytes are needed.
pub fn parse_ke_response(b: &[u8]) -> Result<Option<KeResponse>, String> {
    let mut r = KeResponse::default();
    let (mut protocol_ok, mut aead_ok) = (false, false);
    let mut i = 0;
    loop {
        if b.len() - i < 4 {
            return Ok(None);
        }
        let t = u16::from_be_bytes([b[i], b[i + 1]]);
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        if b.len() - i - 4 < len {
            return Ok(None);
        }
        let body = &b[i + 4..i + 4 + len];
        let (critical, kind) = (t & 0x8000 != 0, t & 0x7fff);
        let at = i;
        i += 4 + len;
        let u16s = || {
            body.chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
        };
        match kind {
            record::END_OF_MESSAGE => break,
            record::NEXT_PROTOCOL => {
                if !u16s().any(|p| p == PROTOCOL_NTPV4) {
                    return Err("the server does not offer NTPv4".into());
                }
                protocol_ok = true;
            }
            record::ERROR => {
                let code = u16s().next().unwrap_or(u16::MAX);
                return Err(match code {
                    0 => "the server refused an unrecognised critical record (error 0)".into(),
                    1 => "the server found the request malformed (error 1)".into(),
                    2 => "the server has an internal error (error 2)".into(),
                    c => format!("the server sent error {c}"),
                });
            }
            record::WARNING => {
                tracing::warn!(code = ?u16s().next(), "NTS-KE server warning");
            }
            record::AEAD_ALGORITHM => {
                if !u16s().any(|a| a == AEAD_AES_SIV_CMAC_256) {
                    return Err("the server does not offer AEAD_AES_SIV_CMAC_256".into());
                }
                aead_ok = true;
            }
            record::NEW_COOKIE if !body.is_empty() && r.cookies.len() < MAX_COOKIES => {
                r.cookies.push(body.to_vec());
            }
            record::NEW_COOKIE => {}
            record::SERVER => {
                let s = std::str::from_utf8(body)
                    .ok()
                    .filter(|s| !s.is_empty() && s.len() <= 253 && s.is_ascii())
                    .ok_or_else(|| format!("bad NTPv4 server record at byte {at}"))?;
                r.server = Some(s.to_owned());
            }
            record::PORT => {
                if len != 2 {
                    return Err(format!("bad NTPv4 port record at byte {at}"));
                }
                r.port = Some(u16::from_be_bytes([body[0], body[1]]));
            }
            other if critical => {
                return Err(format!("unknown critical record type {other} at byte {at}"));
            }
            _ => {}
        }
    }
    if !protocol_ok || !aead_ok {
        return Err("the server did not confirm NTPv4 with AES-SIV-CMAC-256".into());
    }
    if r.cookies.is_empty() {
        return Err("the server sent no cookie".into());
    }
    Ok(Some(r))
}

fn client_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    if ca_pem.trim().is_empty() {
        let found = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(found.certs);
        if roots.is_empty() {
            return Err("no system CA certificates: install ca-certificates or set the server's ca_certificate".into());
        }
    } else {
        for c in camward_config::parse_ca_pem(ca_pem)? {
            roots.add(c).map_err(|e| e.to_string())?;
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(camward_tls::crypto_provider())
        // RFC 8915 §3: TLS 1.3 or later only.
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"ntske/1".to_vec()];
    Ok(Arc::new(config))
}

fn exporter_context(direction: u8) -> [u8; 5] {
    let p = PROTOCOL_NTPV4.to_be_bytes();
    let a = AEAD_AES_SIV_CMAC_256.to_be_bytes();
    [p[0], p[1], a[0], a[1], direction]
}

/// NTS-KE with `host:ke_port`, bounded by `timeout` as a whole.
pub async fn key_exchange(
    host: &str,
    ke_port: u16,
    default_ntp_port: u16,
    ca_pem: &str,
    timeout: Duration,
) -> Result<KeResult, String> {
    let config = client_config(ca_pem)?;
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host} is not a server name: {e}"))?;
    let work = async {
        let tcp = tokio::net::TcpStream::connect((host, ke_port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{ke_port}: {e}"))?;
        let connector = camward_tls::tokio_rustls::TlsConnector::from(config);
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host}:{ke_port}: {e}"))?;
        if tls.get_ref().1.alpn_protocol() != Some(b"ntske/1") {
            return Err("the server did not agree to ALPN ntske/1".into());
        }
        tls.write_all(&ke_request())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let resp = loop {
            let mut chunk = [0u8; 4096];
            let n = tls.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the server closed the connection before End of Message".into());
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_KE_RESPONSE {
                return Err("the NTS-KE answer is too long".into());
            }
            if let Some(r) = parse_ke_response(&buf)? {
                break r;
            }
        };
        let conn = tls.get_ref().1;
        let c2s = conn
            .export_keying_material([0u8; 32], EXPORTER_LABEL, Some(&exporter_context(0)))
            .map_err(|e| e.to_string())?;
        let s2c = conn
            .export_keying_material([0u8; 32], EXPORTER_LABEL, Some(&exporter_context(1)))
            .map_err(|e| e.to_string())?;
        let _ = tls.shutdown().await;
        Ok(KeResult {
            ntp_host: resp.server.unwrap_or_else(|| host.to_owned()),
            ntp_port: resp.port.unwrap_or(default_ntp_port),
            c2s,
            s2c,
            cookies: resp.cookies,
        })
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no NTS-KE answer from {host}:{ke_port} within {} ms",
            timeout.as_millis()
        )),
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source works");
    b
}

/// Builds an NTS request: header, Unique Identifier, one cookie, placeholders asking for
/// `want` more cookies, and the authenticator over all of it (empty plaintext).
pub fn build_request(
    nonce: packet::Timestamp,
    uid: &[u8; 32],
    cookie: &[u8],
    want: usize,
    c2s: &[u8; 32],
    siv_nonce: &[u8; 16],
) -> Vec<u8> {
    let mut b = Packet::client_request(nonce).encode();
    packet::encode_extension(&mut b, ext::UNIQUE_IDENTIFIER, uid);
    packet::encode_extension(&mut b, ext::NTS_COOKIE, cookie);
    for _ in 0..want {
        packet::encode_extension(&mut b, ext::NTS_COOKIE_PLACEHOLDER, &vec![0; cookie.len()]);
    }
    let mut siv = Aes128Siv::new(c2s.into());
    let tag = siv
        .encrypt([&b[..], &siv_nonce[..]], b"")
        .expect("SIV encryption of an empty plaintext cannot fail");
    let mut body = Vec::new();
    body.extend_from_slice(&(siv_nonce.len() as u16).to_be_bytes());
    body.extend_from_slice(&(tag.len() as u16).to_be_bytes());
    body.extend_from_slice(siv_nonce);
    body.extend_from_slice(&tag);
    packet::encode_extension(&mut b, ext::NTS_AUTHENTICATOR, &body);
    b
}

/// Verifies a server answer: the Unique Identifier echoes ours and the authenticator verifies
/// with `s2c` over everything before it. Returns the cookies from its encrypted fields.
pub fn verify_response(
    raw: &[u8],
    p: &Packet,
    uid: &[u8; 32],
    s2c: &[u8; 32],
) -> Result<Vec<Vec<u8>>, String> {
    let mut offset = packet::HEADER_LEN;
    let mut uid_ok = false;
    for e in &p.extensions {
        let here = offset;
        offset += 4 + e.value.len();
        match e.field_type {
            ext::UNIQUE_IDENTIFIER => uid_ok = e.value.get(..32) == Some(&uid[..]),
            ext::NTS_AUTHENTICATOR => {
                if !uid_ok {
                    return Err("no matching Unique Identifier before the authenticator".into());
                }
                let plain = open_authenticator(&raw[..here], e, s2c)?;
                return Ok(cookies_in(&plain));
            }
            _ => {}
        }
    }
    Err("no NTS authenticator".into())
}

fn open_authenticator(aad: &[u8], e: &ExtensionField, s2c: &[u8; 32]) -> Result<Vec<u8>, String> {
    let v = &e.value;
    if v.len() < 4 {
        return Err("authenticator too short".into());
    }
    let nonce_len = usize::from(u16::from_be_bytes([v[0], v[1]]));
    let ct_len = usize::from(u16::from_be_bytes([v[2], v[3]]));
    let nonce_end = 4 + nonce_len;
    let ct_start = 4 + nonce_len.div_ceil(4) * 4;
    if nonce_len == 0 || ct_len < 16 || ct_start.checked_add(ct_len).is_none_or(|end| end > v.len())
    {
        return Err("authenticator lengths do not fit".into());
    }
    let nonce = &v[4..nonce_end];
    let ct = &v[ct_start..ct_start + ct_len];
    let mut siv = Aes128Siv::new(s2c.into());
    siv.decrypt([aad, nonce], ct)
        .map_err(|_| "the authenticator does not verify".to_owned())
}

/// NTS Cookie fields inside decrypted extension fields.
fn cookies_in(plain: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while plain.len() - i >= 4 {
        let t = u16::from_be_bytes([plain[i], plain[i + 1]]);
        let len = usize::from(u16::from_be_bytes([plain[i + 2], plain[i + 3]]));
        if len < 4 || len > plain.len() - i {
            break;
        }
        if t == ext::NTS_COOKIE && out.len() < MAX_COOKIES {
            out.push(plain[i + 4..i + len].to_vec());
        }
        i += len;
    }
    out
}

/// Keys and cookies per NTS server, kept between polls so one key exchange serves many queries.
#[derive(Default)]
pub struct Sessions {
    jar: Mutex<HashMap<String, KeResult>>,
}

/// A session belongs to the whole server setting: a changed CA or port means a new key
/// exchange, never keys that were negotiated under the old trust.
fn session_key(s: &NtpServer) -> String {
    serde_json::to_string(s).expect("a server setting serialises")
}

impl Sessions {
    /// Forgets the sessions of servers no longer configured.
    pub fn retain(&self, servers: &[NtpServer]) {
        let keep: Vec<String> = servers.iter().map(session_key).collect();
        self.jar
            .lock()
            .expect("NTS jar lock")
            .retain(|k, _| keep.contains(k));
    }

    /// One authenticated query; runs NTS-KE first when there is no session or no cookie left.
    pub async fn query(&self, s: &NtpServer, timeout: Duration) -> Result<Sample, SntpError> {
        let key = session_key(s);
        let name = format!("{}:{}", s.host, s.nts_ke_port);
        let nts_err = |message: String| SntpError::Nts {
            server: name.clone(),
            message,
        };
        let taken = self.jar.lock().expect("NTS jar lock").remove(&key);
        let mut session = match taken.filter(|k| !k.cookies.is_empty()) {
            Some(k) => k,
            None => key_exchange(&s.host, s.nts_ke_port, s.port, &s.ca_certificate, timeout)
                .await
                .map_err(nts_err)?,
        };
        let addr = sntp::resolve(&session.ntp_host, session.ntp_port, timeout).await?;
        let cookie = session.cookies.pop().expect("a session has a cookie");
        let want = MAX_COOKIES.saturating_sub(session.cookies.len() + 1);
        let uid = random::<32>();
        let nonce = sntp::nonce();
        let request = build_request(nonce, &uid, &cookie, want, &session.c2s, &random::<16>());
        let fresh = Mutex::new(None::<Vec<Vec<u8>>>);
        let nak = Mutex::new(false);
        let s2c = session.s2c;
        let result = sntp::exchange(addr, timeout, &request, nonce, |raw, p| {
            let uid_echoed = p.extensions.iter().any(|e| {
                e.field_type == ext::UNIQUE_IDENTIFIER && e.value.get(..32) == Some(&uid[..])
            });
            if p.kiss_code().as_deref() == Some("NTSN") && uid_echoed {
                // RFC 8915 §5.7: the server cannot use our cookie; a new key exchange follows.
                *nak.lock().expect("nak lock") = true;
                return Err(nts_err("the server sent NTS NAK (NTSN)".into()));
            }
            if p.mode != MODE_SERVER {
                return Err(nts_err(format!("mode {}", p.mode)));
            }
            let cookies = verify_response(raw, p, &uid, &s2c).map_err(nts_err)?;
            *fresh.lock().expect("cookie lock") = Some(cookies);
            Ok(())
        })
        .await;
        if let Some(c) = fresh.into_inner().expect("cookie lock") {
            session.cookies.extend(c);
            session.cookies.truncate(MAX_COOKIES);
        }
        if !*nak.lock().expect("nak lock") && !session.cookies.is_empty() {
            self.jar
                .lock()
                .expect("NTS jar lock")
                .insert(key.clone(), session);
        }
        result.map(|mut sample| {
            sample.authenticated = true;
            sample
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ke_request_is_the_rfc8915_record_sequence() {
        // RFC 8915 §4: critical Next Protocol [0], critical AEAD [15], critical End of Message.
        assert_eq!(
            ke_request(),
            [
                0x80, 0x01, 0x00, 0x02, 0x00, 0x00, 0x80, 0x04, 0x00, 0x02, 0x00, 0x0f, 0x80, 0x00,
                0x00, 0x00
            ]
        );
    }

    fn server_records(extra: &[(bool, u16, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        put_record(&mut b, true, record::NEXT_PROTOCOL, &[0, 0]);
        put_record(&mut b, true, record::AEAD_ALGORITHM, &[0, 15]);
        for (c, k, body) in extra {
            put_record(&mut b, *c, *k, body);
        }
        put_record(&mut b, true, record::END_OF_MESSAGE, &[]);
        b
    }

    #[test]
    fn ke_answers_yield_cookies_server_and_port() {
        let b = server_records(&[
            (false, record::NEW_COOKIE, b"cookie-1"),
            (false, record::NEW_COOKIE, b"cookie-2"),
            (false, record::SERVER, b"ntp.example.com"),
            (false, record::PORT, &[0x2b, 0x73]),
            (false, 0x1234, b"ignored non-critical"),
        ]);
        let r = parse_ke_response(&b).unwrap().unwrap();
        assert_eq!(r.cookies, vec![b"cookie-1".to_vec(), b"cookie-2".to_vec()]);
        assert_eq!(r.server.as_deref(), Some("ntp.example.com"));
        assert_eq!(r.port, Some(11123));
        // Every prefix is "need more", never an error or a panic.
        for n in 0..b.len() {
            assert_eq!(parse_ke_response(&b[..n]), Ok(None), "prefix {n}");
        }
    }

    #[test]
    fn ke_errors_and_unknown_critical_records_are_refused() {
        let b = server_records(&[(true, record::ERROR, &[0, 1])]);
        assert!(parse_ke_response(&b).unwrap_err().contains("malformed"));
        let b = server_records(&[(true, 0x1234, b"")]);
        assert!(parse_ke_response(&b).unwrap_err().contains("critical"));
        let b = server_records(&[]);
        assert!(parse_ke_response(&b).unwrap_err().contains("no cookie"));
        let mut b = Vec::new();
        put_record(&mut b, true, record::NEXT_PROTOCOL, &[0, 0]);
        put_record(&mut b, true, record::AEAD_ALGORITHM, &[0, 30]);
        put_record(&mut b, false, record::NEW_COOKIE, b"c");
        put_record(&mut b, true, record::END_OF_MESSAGE, &[]);
        assert!(parse_ke_response(&b).unwrap_err().contains("AES_SIV"));
    }

    /// RFC 5297 Appendix A.1 (deterministic AES-SIV): the vector for the AEAD camward uses.
    #[test]
    fn aes_siv_cmac_256_matches_rfc5297_a1() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let key: [u8; 32] = hex("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
            .try_into()
            .unwrap();
        let ad = hex("101112131415161718191a1b1c1d1e1f2021222324252627");
        let pt = hex("112233445566778899aabbccddee");
        let mut siv = Aes128Siv::new((&key).into());
        let out = siv.encrypt([&ad[..]], &pt).unwrap();
        assert_eq!(
            out,
            hex("85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c")
        );
    }

    #[test]
    fn a_request_authenticates_and_a_server_answer_verifies_only_with_its_key() {
        let c2s = [1u8; 32];
        let s2c = [2u8; 32];
        let uid = [7u8; 32];
        let req = build_request(
            packet::Timestamp(9),
            &uid,
            b"COOKIE-BYTES",
            2,
            &c2s,
            &[3; 16],
        );
        let p = Packet::parse(&req).unwrap();
        let kinds: Vec<u16> = p.extensions.iter().map(|e| e.field_type).collect();
        assert_eq!(
            kinds,
            [
                ext::UNIQUE_IDENTIFIER,
                ext::NTS_COOKIE,
                ext::NTS_COOKIE_PLACEHOLDER,
                ext::NTS_COOKIE_PLACEHOLDER,
                ext::NTS_AUTHENTICATOR
            ]
        );
        // The server's view: the authenticator verifies with c2s over the bytes before it.
        let auth_at = req.len() - (4 + p.extensions[4].value.len());
        assert!(open_authenticator(&req[..auth_at], &p.extensions[4], &c2s).is_ok());
        assert!(open_authenticator(&req[..auth_at], &p.extensions[4], &s2c).is_err());

        // An answer sealed with s2c carrying one new cookie.
        let mut a = Packet {
            version: 4,
            mode: MODE_SERVER,
            stratum: 2,
            ..Packet::default()
        }
        .encode();
        packet::encode_extension(&mut a, ext::UNIQUE_IDENTIFIER, &uid);
        let mut plain = Vec::new();
        packet::encode_extension(&mut plain, ext::NTS_COOKIE, b"NEW-COOKIE-0001");
        let nonce = [5u8; 16];
        let ct = Aes128Siv::new((&s2c).into())
            .encrypt([&a[..], &nonce[..]], &plain)
            .unwrap();
        let mut body = Vec::new();
        body.extend_from_slice(&16u16.to_be_bytes());
        body.extend_from_slice(&(ct.len() as u16).to_be_bytes());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&ct);
        packet::encode_extension(&mut a, ext::NTS_AUTHENTICATOR, &body);
        let pa = Packet::parse(&a).unwrap();
        let cookies = verify_response(&a, &pa, &uid, &s2c).unwrap();
        assert_eq!(cookies[0].get(..15), Some(&b"NEW-COOKIE-0001"[..]));
        // Wrong key, wrong identifier, or one flipped bit: refused.
        assert!(verify_response(&a, &pa, &uid, &c2s).is_err());
        assert!(verify_response(&a, &pa, &[8; 32], &s2c).is_err());
        let mut bad = a.clone();
        bad[40] ^= 1;
        let pb = Packet::parse(&bad).unwrap();
        assert!(verify_response(&bad, &pb, &uid, &s2c).is_err());
        // Truncations never panic.
        for n in 0..a.len() {
            if let Ok(p) = Packet::parse(&a[..n]) {
                let _ = verify_response(&a[..n], &p, &uid, &s2c);
            }
        }
    }
}
