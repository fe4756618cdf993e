//! Parsers for what wpa_supplicant writes on its control socket (paper §3.6): the `STATUS`
//! reply (`key=value` lines) and the unsolicited event messages an `ATTACH`ed client receives
//! (`<3>CTRL-EVENT-EAP-SUCCESS …`). Both are total: any input gives a value, never a panic,
//! since the socket's peer is another program.

use std::collections::BTreeMap;

/// The longest control message read (wpa_supplicant's own client uses 4096 for replies).
pub const MAX_MESSAGE: usize = 8192;

/// One unsolicited message, split into its priority and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsolicited<'a> {
    /// wpa_supplicant's message level (`<3>` = MSG_INFO).
    pub level: u8,
    pub text: &'a str,
}

/// Splits `<N>text`; `None` for a message that is not unsolicited (a command reply).
pub fn unsolicited(msg: &str) -> Option<Unsolicited<'_>> {
    let rest = msg.strip_prefix('<')?;
    let end = rest.find('>')?;
    let level = rest[..end].parse().ok()?;
    Some(Unsolicited {
        level,
        text: rest[end + 1..].trim_end_matches(['\n', '\0']),
    })
}

/// The events camward follows; everything else is `Other` with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `CTRL-EVENT-EAP-STARTED`: an EAP exchange began (first or re-authentication).
    EapStarted,
    /// `CTRL-EVENT-EAP-METHOD EAP vendor 0 method 25 (PEAP) selected`.
    EapMethod { name: String },
    /// `CTRL-EVENT-EAP-STATUS status='…' parameter='…'`.
    EapStatus { status: String, parameter: String },
    /// `CTRL-EVENT-EAP-TLS-CERT-ERROR reason=N depth=N subject='…' err='…'`: the server's
    /// certificate was not accepted.
    TlsCertError {
        reason: String,
        depth: String,
        subject: String,
        err: String,
    },
    /// `CTRL-EVENT-EAP-SUCCESS`.
    EapSuccess,
    /// `CTRL-EVENT-EAP-FAILURE`.
    EapFailure,
    /// `CTRL-EVENT-EAP-TIMEOUT-FAILURE`: the authenticator stopped answering mid-exchange.
    EapTimeoutFailure,
    /// `CTRL-EVENT-TERMINATING`: wpa_supplicant is exiting.
    Terminating,
    /// `CTRL-REQ-PASSWORD-0:Password needed for SSID `: the EAP method needs a value the
    /// configuration file does not hold; answered with `CTRL-RSP-<field>-<network>:<value>`.
    Request { field: String, network: String },
    /// `EAP-MSCHAPV2: failure message: 'FAILED' (retry not allowed, error 691)`: the inner
    /// method's own failure text (the server's message, never the password).
    MethodFailure(String),
    /// Any other message: its first word.
    Other(String),
}

/// Parses the text of an unsolicited message (after [`unsolicited`]).
pub fn parse_event(text: &str) -> Event {
    let (name, rest) = match text.split_once(' ') {
        Some((n, r)) => (n, r),
        None => (text, ""),
    };
    match name {
        "CTRL-EVENT-EAP-STARTED" => Event::EapStarted,
        "CTRL-EVENT-EAP-SUCCESS" => Event::EapSuccess,
        "CTRL-EVENT-EAP-FAILURE" => Event::EapFailure,
        "CTRL-EVENT-EAP-TIMEOUT-FAILURE" => Event::EapTimeoutFailure,
        "CTRL-EVENT-TERMINATING" => Event::Terminating,
        "EAP-MSCHAPV2:" if rest.starts_with("failure message:") => {
            Event::MethodFailure(rest.chars().take(200).collect())
        }
        "CTRL-EVENT-EAP-METHOD" => Event::EapMethod {
            // "EAP vendor 0 method 4 (MD5) selected": the name in parentheses.
            name: rest
                .split_once('(')
                .and_then(|(_, r)| r.split_once(')'))
                .map(|(n, _)| n.to_owned())
                .unwrap_or_default(),
        },
        "CTRL-EVENT-EAP-STATUS" => {
            let f = fields(rest);
            Event::EapStatus {
                status: field(&f, "status"),
                parameter: field(&f, "parameter"),
            }
        }
        "CTRL-EVENT-EAP-TLS-CERT-ERROR" => {
            let f = fields(rest);
            Event::TlsCertError {
                reason: field(&f, "reason"),
                depth: field(&f, "depth"),
                subject: field(&f, "subject"),
                err: field(&f, "err"),
            }
        }
        other if other.starts_with("CTRL-REQ-") => {
            // CTRL-REQ-<FIELD>-<network id>:<text>; the text follows the colon.
            let head = text["CTRL-REQ-".len()..]
                .split(':')
                .next()
                .unwrap_or_default();
            match head.rsplit_once('-') {
                Some((field, network))
                    if !field.is_empty()
                        && !network.is_empty()
                        && network.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    Event::Request {
                        field: field.to_owned(),
                        network: network.to_owned(),
                    }
                }
                _ => Event::Other("CTRL-REQ".into()),
            }
        }
        other => Event::Other(other.chars().take(64).collect()),
    }
}

fn field(f: &[(&str, &str)], key: &str) -> String {
    f.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| (*v).to_owned())
        .unwrap_or_default()
}

/// `key=value key='quoted value' …` as wpa_supplicant formats event parameters. A quoted value
/// ends at a `'` followed by a space and another `key=`, or at the end: subjects may contain `'`.
pub fn fields(s: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while let Some(eq) = rest.find('=') {
        let key = &rest[..eq];
        if key.is_empty() || key.contains(' ') {
            // Not a parameter list (free text before the first key): skip one word.
            match rest.split_once(' ') {
                Some((_, r)) => {
                    rest = r.trim_start();
                    continue;
                }
                None => break,
            }
        }
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(q) = after.strip_prefix('\'') {
            let end = quoted_end(q);
            (&q[..end], q.get(end + 1..).unwrap_or(""))
        } else {
            match after.find(' ') {
                Some(sp) => (&after[..sp], &after[sp..]),
                None => (after, ""),
            }
        };
        out.push((key, value));
        rest = next.trim_start();
    }
    out
}

/// Index of the `'` closing a quoted value in `q` (which starts after the opening quote).
fn quoted_end(q: &str) -> usize {
    let mut from = 0;
    while let Some(i) = q[from..].find('\'').map(|i| i + from) {
        let tail = &q[i + 1..];
        let next_is_key = tail
            .strip_prefix(' ')
            .and_then(|t| t.split(' ').next())
            .is_some_and(|w| {
                w.find('=').is_some_and(|e| {
                    e > 0
                        && w[..e]
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            });
        if tail.is_empty() || next_is_key {
            return i;
        }
        from = i + 1;
    }
    q.len()
}

/// The reply to `STATUS`: `key=value` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub values: BTreeMap<String, String>,
}

impl Status {
    fn get(&self, key: &str) -> &str {
        self.values.get(key).map(String::as_str).unwrap_or("")
    }
    /// The IEEE 802.1X supplicant PAE state (`CONNECTING`, `AUTHENTICATING`, `AUTHENTICATED`,
    /// `HELD`, …); empty before EAPOL started.
    pub fn pae_state(&self) -> &str {
        self.get("Supplicant PAE state")
    }
    /// `Authorized` or `Unauthorized`.
    pub fn port_status(&self) -> &str {
        self.get("suppPortStatus")
    }
    /// The EAP peer state (`IDLE`, `METHOD`, `SUCCESS`, `FAILURE`, …).
    pub fn eap_state(&self) -> &str {
        self.get("EAP state")
    }
    /// `25 (EAP-PEAP)`.
    pub fn selected_method(&self) -> &str {
        self.get("selectedMethod")
    }
    /// `wpa_state` (`COMPLETED`, `ASSOCIATED`, `DISCONNECTED`, `INTERFACE_DISABLED`, …).
    pub fn wpa_state(&self) -> &str {
        self.get("wpa_state")
    }
}

/// Parses a `STATUS` reply; lines without `=` are ignored.
pub fn parse_status(reply: &str) -> Status {
    let values = reply
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_end_matches('\0').to_owned()))
        .collect();
    Status { values }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsolicited_messages_have_a_level_replies_do_not() {
        let u =
            unsolicited("<3>CTRL-EVENT-EAP-SUCCESS EAP authentication completed successfully\n")
                .unwrap();
        assert_eq!(u.level, 3);
        assert_eq!(parse_event(u.text), Event::EapSuccess);
        assert!(unsolicited("wpa_state=COMPLETED\n").is_none());
        assert!(unsolicited("<x>CTRL").is_none());
        assert!(unsolicited("<3").is_none());
        assert!(unsolicited("").is_none());
    }

    #[test]
    fn eap_method_names_the_method() {
        assert_eq!(
            parse_event("CTRL-EVENT-EAP-METHOD EAP vendor 0 method 25 (PEAP) selected"),
            Event::EapMethod {
                name: "PEAP".into()
            }
        );
        assert_eq!(
            parse_event("CTRL-EVENT-EAP-METHOD garbage"),
            Event::EapMethod {
                name: String::new()
            }
        );
    }

    #[test]
    fn eap_status_keeps_quoted_parameters_with_spaces() {
        assert_eq!(
            parse_event("CTRL-EVENT-EAP-STATUS status='remote TLS alert' parameter='unknown CA'"),
            Event::EapStatus {
                status: "remote TLS alert".into(),
                parameter: "unknown CA".into()
            }
        );
        assert_eq!(
            parse_event("CTRL-EVENT-EAP-STATUS status='completion' parameter='failure'"),
            Event::EapStatus {
                status: "completion".into(),
                parameter: "failure".into()
            }
        );
    }

    #[test]
    fn certificate_errors_keep_subjects_with_quotes() {
        let e = parse_event(
            "CTRL-EVENT-EAP-TLS-CERT-ERROR reason=1 depth=0 subject='/CN=O'Brien radius' \
             err='unable to get local issuer certificate'",
        );
        assert_eq!(
            e,
            Event::TlsCertError {
                reason: "1".into(),
                depth: "0".into(),
                subject: "/CN=O'Brien radius".into(),
                err: "unable to get local issuer certificate".into()
            }
        );
    }

    #[test]
    fn fields_survive_odd_input() {
        assert!(fields("").is_empty());
        assert_eq!(fields("a=1 b=2"), vec![("a", "1"), ("b", "2")]);
        assert_eq!(fields("free text a='x"), vec![("a", "x")]);
        assert_eq!(fields("=x a=1"), vec![("a", "1")]);
        assert_eq!(fields("a='' b=2"), vec![("a", ""), ("b", "2")]);
        assert_eq!(fields("a='é' b='ü"), vec![("a", "é"), ("b", "ü")]);
    }

    #[test]
    fn password_requests_name_field_and_network() {
        assert_eq!(
            parse_event("CTRL-REQ-PASSWORD-0:Password needed for SSID "),
            Event::Request {
                field: "PASSWORD".into(),
                network: "0".into()
            }
        );
        assert_eq!(
            parse_event("CTRL-REQ-NEW_PASSWORD-12:New password needed"),
            Event::Request {
                field: "NEW_PASSWORD".into(),
                network: "12".into()
            }
        );
        for bad in [
            "CTRL-REQ-",
            "CTRL-REQ-PASSWORD",
            "CTRL-REQ--0:x",
            "CTRL-REQ-PASSWORD-x:y",
        ] {
            assert_eq!(parse_event(bad), Event::Other("CTRL-REQ".into()), "{bad}");
        }
    }

    #[test]
    fn unknown_events_are_named_not_lost() {
        assert_eq!(
            parse_event("CTRL-EVENT-NEW-THING x=1"),
            Event::Other("CTRL-EVENT-NEW-THING".into())
        );
        assert_eq!(parse_event("CTRL-EVENT-EAP-FAILURE"), Event::EapFailure);
        assert_eq!(
            parse_event("EAP-MSCHAPV2: failure message: 'FAILED' (retry not allowed, error 691)"),
            Event::MethodFailure("failure message: 'FAILED' (retry not allowed, error 691)".into())
        );
    }

    #[test]
    fn status_reply_of_wpa_supplicant_2_10_wired() {
        // A STATUS reply captured from wpa_supplicant 2.10 (-D wired, ap_scan=0) after EAP-MD5.
        let s = parse_status(
            "bssid=01:80:c2:00:00:03\nfreq=0\nssid=\nid=0\nmode=station\npairwise_cipher=NONE\n\
             group_cipher=NONE\nkey_mgmt=IEEE 802.1X (no WPA)\nwpa_state=COMPLETED\n\
             address=6a:1f:3c:aa:bb:cc\nSupplicant PAE state=AUTHENTICATED\n\
             suppPortStatus=Authorized\nEAP state=SUCCESS\nselectedMethod=4 (EAP-MD5)\n\
             uuid=1a2b\n",
        );
        assert_eq!(s.pae_state(), "AUTHENTICATED");
        assert_eq!(s.port_status(), "Authorized");
        assert_eq!(s.eap_state(), "SUCCESS");
        assert_eq!(s.selected_method(), "4 (EAP-MD5)");
        assert_eq!(s.wpa_state(), "COMPLETED");
        assert_eq!(parse_status("junk\n\n=\n").pae_state(), "");
    }
}
