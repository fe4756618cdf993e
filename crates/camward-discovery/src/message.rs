//! WS-Discovery 2005/04 messages as ONVIF uses them (ONVIF Core §7.3): Hello, Bye, ProbeMatches
//! and ResolveMatches written by the camera, Probe written by `camward discover`, and the reading
//! of Probe, Resolve and ProbeMatches through camward-onvif's safe XML reader (no DTD, no
//! entities, bounded size).

use camward_onvif::xml::{self, Element, escape};

pub const ENV: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const WSA: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
pub const D: &str = "http://schemas.xmlsoap.org/ws/2005/04/discovery";
pub const DN: &str = "http://www.onvif.org/ver10/network/wsdl";
pub const TDS: &str = "http://www.onvif.org/ver10/device/wsdl";
/// `To` of multicast messages.
pub const TO_MULTICAST: &str = "urn:schemas-xmlsoap-org:ws:2005:04:discovery";
pub const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";
/// The default scope matching rule (RFC 3986 prefix match by path segments).
pub const MATCH_RFC3986: &str = "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986";
pub const MATCH_STRCMP0: &str = "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0";

/// What the camera announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// `urn:uuid:…`, stable across restarts.
    pub endpoint: String,
    pub xaddrs: Vec<String>,
    pub scopes: Vec<String>,
    pub metadata_version: u32,
}

/// The types camward is: an ONVIF network video transmitter and device.
pub const TYPES: &[(&str, &str)] = &[(DN, "NetworkVideoTransmitter"), (TDS, "Device")];

/// A fresh `urn:uuid:` (version 4).
pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS random source works");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// AppSequence state: InstanceId changes at each start, MessageNumber counts.
#[derive(Debug, Clone)]
pub struct Sequence {
    pub instance_id: u64,
    pub number: u64,
}

fn header(
    action: &str,
    to: &str,
    relates_to: Option<&str>,
    seq: &mut Sequence,
    message_id: &str,
) -> String {
    seq.number += 1;
    let relates = relates_to
        .map(|r| format!("<a:RelatesTo>{}</a:RelatesTo>", escape(r)))
        .unwrap_or_default();
    format!(
        r#"<s:Header><a:Action>{D}/{action}</a:Action><a:MessageID>{message_id}</a:MessageID>{relates}<a:To>{to}</a:To><d:AppSequence InstanceId="{}" MessageNumber="{}"/></s:Header>"#,
        seq.instance_id, seq.number
    )
}

fn envelope(header: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{ENV}" xmlns:a="{WSA}" xmlns:d="{D}" xmlns:dn="{DN}" xmlns:tds="{TDS}">{header}<s:Body>{body}</s:Body></s:Envelope>"#
    )
}

fn description(a: &Announce) -> String {
    format!(
        "<a:EndpointReference><a:Address>{}</a:Address></a:EndpointReference><d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types><d:Scopes>{}</d:Scopes><d:XAddrs>{}</d:XAddrs><d:MetadataVersion>{}</d:MetadataVersion>",
        escape(&a.endpoint),
        escape(&a.scopes.join(" ")),
        escape(&a.xaddrs.join(" ")),
        a.metadata_version
    )
}

pub fn hello(a: &Announce, seq: &mut Sequence) -> String {
    let h = header("Hello", TO_MULTICAST, None, seq, &new_uuid());
    envelope(&h, &format!("<d:Hello>{}</d:Hello>", description(a)))
}

pub fn bye(a: &Announce, seq: &mut Sequence) -> String {
    let h = header("Bye", TO_MULTICAST, None, seq, &new_uuid());
    envelope(
        &h,
        &format!(
            "<d:Bye><a:EndpointReference><a:Address>{}</a:Address></a:EndpointReference></d:Bye>",
            escape(&a.endpoint)
        ),
    )
}

/// The answer to a Probe (`kind` = `Probe`) or a Resolve (`Resolve`): `{kind}Matches`.
fn matches(kind: &str, a: &Announce, relates_to: &str, seq: &mut Sequence) -> String {
    let h = header(
        &format!("{kind}Matches"),
        ANONYMOUS,
        Some(relates_to),
        seq,
        &new_uuid(),
    );
    envelope(
        &h,
        &format!(
            "<d:{kind}Matches><d:{kind}Match>{}</d:{kind}Match></d:{kind}Matches>",
            description(a)
        ),
    )
}

pub fn probe_matches(a: &Announce, relates_to: &str, seq: &mut Sequence) -> String {
    matches("Probe", a, relates_to, seq)
}

pub fn resolve_matches(a: &Announce, relates_to: &str, seq: &mut Sequence) -> String {
    matches("Resolve", a, relates_to, seq)
}

/// The Probe `camward discover` sends: every NetworkVideoTransmitter.
pub fn probe(message_id: &str) -> String {
    let mut seq = Sequence {
        instance_id: 0,
        number: 0,
    };
    let mut h = header("Probe", TO_MULTICAST, None, &mut seq, message_id);
    // A client sends no AppSequence.
    if let Some(i) = h.find("<d:AppSequence") {
        let end = h[i..].find("/>").map(|e| i + e + 2).unwrap_or(h.len());
        h.replace_range(i..end, "");
    }
    envelope(
        &h,
        "<d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe>",
    )
}

/// One incoming message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Probe {
        message_id: String,
        /// (namespace, local name) of each wanted type.
        types: Vec<(String, String)>,
        scopes: Vec<String>,
        match_by: Option<String>,
        /// A QName prefix in Types was not declared: matches nothing.
        unresolvable: bool,
    },
    Resolve {
        message_id: String,
        endpoint: String,
    },
    /// A camera's answer (for `camward discover`).
    ProbeMatch(Found),
    /// Hello, Bye and anything else: ignored by the camera.
    Other,
}

/// One camera that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub endpoint: String,
    pub xaddrs: Vec<String>,
    pub scopes: Vec<String>,
    pub relates_to: Option<String>,
}

fn words(e: Option<&Element>) -> Vec<String> {
    e.map(|e| e.text.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Reads one datagram; `None` when it is not a SOAP envelope we can read.
pub fn parse(datagram: &[u8]) -> Option<Incoming> {
    let root = xml::parse(datagram).ok()?;
    if root.name != "Envelope" || root.ns != ENV {
        return None;
    }
    let header = root.child(ENV, "Header");
    let body = root.child(ENV, "Body")?;
    let op = body.children.first()?;
    let message_id = header
        .and_then(|h| h.child(WSA, "MessageID"))
        .map(|m| m.text.trim().to_owned());
    match (op.ns.as_str(), op.name.as_str()) {
        (D, "Probe") => {
            let mut unresolvable = false;
            let types = op
                .child(D, "Types")
                .map(|t| {
                    t.text
                        .split_whitespace()
                        .filter_map(|q| {
                            let r = t.resolve_qname(q);
                            unresolvable |= r.is_none();
                            r
                        })
                        .collect()
                })
                .unwrap_or_default();
            let scopes_el = op.child(D, "Scopes");
            Some(Incoming::Probe {
                message_id: message_id?,
                types,
                scopes: words(scopes_el),
                match_by: scopes_el.and_then(|s| s.attr("MatchBy")).map(str::to_owned),
                unresolvable,
            })
        }
        (D, "Resolve") => Some(Incoming::Resolve {
            message_id: message_id?,
            endpoint: op
                .child(WSA, "EndpointReference")?
                .child(WSA, "Address")?
                .text
                .trim()
                .to_owned(),
        }),
        (D, "ProbeMatches") => {
            let m = op.child(D, "ProbeMatch")?;
            Some(Incoming::ProbeMatch(Found {
                endpoint: m
                    .child(WSA, "EndpointReference")?
                    .child(WSA, "Address")?
                    .text
                    .trim()
                    .to_owned(),
                xaddrs: words(m.child(D, "XAddrs")),
                scopes: words(m.child(D, "Scopes")),
                relates_to: header
                    .and_then(|h| h.child(WSA, "RelatesTo"))
                    .map(|r| r.text.trim().to_owned()),
            }))
        }
        _ => Some(Incoming::Other),
    }
}

fn segments(uri: &str) -> Option<(String, Vec<&str>)> {
    let (scheme, rest) = uri.split_once(':')?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let head = format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    );
    Some((head, path.split('/').filter(|s| !s.is_empty()).collect()))
}

/// RFC 3986 matching of WS-Discovery §5.1: scheme and authority equal (case-insensitively),
/// the probe's path segments a prefix of ours.
fn rfc3986_match(probe: &str, ours: &str) -> bool {
    match (segments(probe), segments(ours)) {
        (Some((ph, pp)), Some((oh, op))) => {
            ph == oh && pp.len() <= op.len() && pp.iter().zip(&op).all(|(a, b)| a == b)
        }
        _ => false,
    }
}

/// Whether a Probe asks for this camera.
pub fn probe_matches_us(
    types: &[(String, String)],
    scopes: &[String],
    match_by: Option<&str>,
    unresolvable: bool,
    ours: &[String],
) -> bool {
    if unresolvable {
        return false;
    }
    let types_ok = types
        .iter()
        .all(|(ns, n)| TYPES.iter().any(|(tn, tl)| tn == ns && tl == n));
    let scopes_ok = match match_by.unwrap_or(MATCH_RFC3986) {
        MATCH_RFC3986 => scopes
            .iter()
            .all(|s| ours.iter().any(|o| rfc3986_match(s, o))),
        MATCH_STRCMP0 => scopes.iter().all(|s| ours.iter().any(|o| o == s)),
        // Other rules (LDAP, UUID) are not offered: nothing matches them.
        _ => scopes.is_empty(),
    };
    types_ok && scopes_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announce() -> Announce {
        Announce {
            endpoint: "urn:uuid:6a4e9b1c-0000-4000-8000-000000000001".into(),
            xaddrs: vec!["http://192.0.2.1/onvif/device_service".into()],
            scopes: vec![
                "onvif://www.onvif.org/Profile/Streaming".into(),
                "onvif://www.onvif.org/hardware/camward".into(),
            ],
            metadata_version: 1,
        }
    }

    // A Probe as python-onvif / WSDiscovery send it (prefixes differ from ours on purpose).
    const PROBE: &str = r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:nvt="http://www.onvif.org/ver10/network/wsdl"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>urn:uuid:abc</a:MessageID><a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header><s:Body><d:Probe><d:Types>nvt:NetworkVideoTransmitter</d:Types><d:Scopes>onvif://www.onvif.org/Profile/Streaming</d:Scopes></d:Probe></s:Body></s:Envelope>"#;

    #[test]
    fn a_probe_for_streaming_transmitters_matches() {
        let Some(Incoming::Probe {
            message_id,
            types,
            scopes,
            match_by,
            unresolvable,
        }) = parse(PROBE.as_bytes())
        else {
            panic!("not a probe")
        };
        assert_eq!(message_id, "urn:uuid:abc");
        assert!(probe_matches_us(
            &types,
            &scopes,
            match_by.as_deref(),
            unresolvable,
            &announce().scopes
        ));
        assert!(!probe_matches_us(
            &types,
            &["onvif://www.onvif.org/Profile/G".into()],
            None,
            false,
            &announce().scopes
        ));
        assert!(!probe_matches_us(
            &[(DN.into(), "Printer".into())],
            &[],
            None,
            false,
            &announce().scopes
        ));
    }

    #[test]
    fn scope_matching_is_by_whole_segments() {
        assert!(rfc3986_match(
            "onvif://www.onvif.org/hardware",
            "onvif://www.onvif.org/hardware/camward"
        ));
        assert!(rfc3986_match(
            "ONVIF://WWW.onvif.org/Profile/",
            "onvif://www.onvif.org/Profile/Streaming"
        ));
        assert!(!rfc3986_match(
            "onvif://www.onvif.org/hard",
            "onvif://www.onvif.org/hardware/camward"
        ));
    }

    #[test]
    fn our_answers_parse_back() {
        let a = announce();
        let mut seq = Sequence {
            instance_id: 7,
            number: 0,
        };
        let m = probe_matches(&a, "urn:uuid:abc", &mut seq);
        let Some(Incoming::ProbeMatch(f)) = parse(m.as_bytes()) else {
            panic!("{m}")
        };
        assert_eq!(f.endpoint, a.endpoint);
        assert_eq!(f.xaddrs, a.xaddrs);
        assert_eq!(f.relates_to.as_deref(), Some("urn:uuid:abc"));
        assert_eq!(parse(hello(&a, &mut seq).as_bytes()), Some(Incoming::Other));
        assert_eq!(parse(bye(&a, &mut seq).as_bytes()), Some(Incoming::Other));
        assert!(matches!(
            parse(probe("urn:uuid:1").as_bytes()),
            Some(Incoming::Probe { .. })
        ));
        assert_eq!(seq.number, 3);
    }

    #[test]
    fn hostile_datagrams_are_ignored() {
        let bomb = br#"<!DOCTYPE x [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&b;</s:Body></s:Envelope>"#;
        assert_eq!(parse(bomb), None);
        assert_eq!(parse(b"\x00\x01garbage"), None);
        assert_eq!(parse(&vec![b'<'; 70_000]), None);
    }
}
