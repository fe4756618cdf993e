//! SOAP 1.2 envelopes as ONVIF uses them: reading a request (its operation, its WS-Addressing
//! headers and its WS-Security UsernameToken) and writing answers and faults with the ONVIF
//! fault subcodes (ONVIF Core §5.11) that VMSs switch on.

use crate::xml::{self, Element, XmlError, escape};
use camward_auth::wsse::UsernameToken;

pub const ENV: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const ENV11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub const WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
pub const PASSWORD_DIGEST: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
pub const WSA: &str = "http://www.w3.org/2005/08/addressing";
pub const TDS: &str = "http://www.onvif.org/ver10/device/wsdl";
pub const TRT: &str = "http://www.onvif.org/ver10/media/wsdl";
pub const TR2: &str = "http://www.onvif.org/ver20/media/wsdl";
pub const TEV: &str = "http://www.onvif.org/ver10/events/wsdl";
pub const TT: &str = "http://www.onvif.org/ver10/schema";
pub const TER: &str = "http://www.onvif.org/ver10/error";
pub const WSNT: &str = "http://docs.oasis-open.org/wsn/b-2";
pub const WSTOP: &str = "http://docs.oasis-open.org/wsn/t-1";
pub const TNS1: &str = "http://www.onvif.org/ver10/topics";
/// camward's own event topics (the command alarm has no ONVIF topic).
pub const CW: &str = "https://camward.dev/onvif/topics";

/// The namespace declarations every answer carries.
const DECLS: &str = concat!(
    r#"xmlns:env="http://www.w3.org/2003/05/soap-envelope" "#,
    r#"xmlns:wsa="http://www.w3.org/2005/08/addressing" "#,
    r#"xmlns:tds="http://www.onvif.org/ver10/device/wsdl" "#,
    r#"xmlns:trt="http://www.onvif.org/ver10/media/wsdl" "#,
    r#"xmlns:tr2="http://www.onvif.org/ver20/media/wsdl" "#,
    r#"xmlns:tev="http://www.onvif.org/ver10/events/wsdl" "#,
    r#"xmlns:tt="http://www.onvif.org/ver10/schema" "#,
    r#"xmlns:ter="http://www.onvif.org/ver10/error" "#,
    r#"xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" "#,
    r#"xmlns:wstop="http://docs.oasis-open.org/wsn/t-1" "#,
    r#"xmlns:tns1="http://www.onvif.org/ver10/topics" "#,
    r#"xmlns:cw="https://camward.dev/onvif/topics""#,
);

/// A UsernameToken as sent, with its password type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub token: UsernameToken,
    /// True for PasswordDigest; PasswordText (the password in clear) is refused.
    pub digest: bool,
}

/// One parsed request.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The first element of the Body: the operation and its arguments.
    pub operation: Element,
    /// WS-Addressing MessageID, echoed as RelatesTo.
    pub message_id: Option<String>,
    /// WS-Addressing Action, when the client sent one.
    pub action: Option<String>,
    pub token: Option<Token>,
    /// A Security header without a usable UsernameToken (e.g. missing parts).
    pub bad_security: bool,
}

/// Why a request could not be read (answered with env:Sender faults).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("not a SOAP envelope")]
    NotEnvelope,
    #[error("the SOAP body is empty")]
    EmptyBody,
}

/// Reads a SOAP 1.2 (or 1.1) envelope.
pub fn parse(body: &[u8]) -> Result<Envelope, EnvelopeError> {
    let root = xml::parse(body)?;
    if root.name != "Envelope" || !(root.ns == ENV || root.ns == ENV11) {
        return Err(EnvelopeError::NotEnvelope);
    }
    let env_ns = root.ns.clone();
    let header = root.child(&env_ns, "Header");
    let body = root
        .child(&env_ns, "Body")
        .ok_or(EnvelopeError::NotEnvelope)?;
    let operation = body
        .children
        .first()
        .cloned()
        .ok_or(EnvelopeError::EmptyBody)?;
    let mut env = Envelope {
        operation,
        message_id: None,
        action: None,
        token: None,
        bad_security: false,
    };
    if let Some(h) = header {
        env.message_id = h.text_of("MessageID").map(str::to_owned);
        env.action = h.text_of("Action").map(str::to_owned);
        if let Some(sec) = h.child(WSSE, "Security") {
            env.token = username_token(sec);
            env.bad_security = env.token.is_none();
        }
    }
    Ok(env)
}

fn username_token(sec: &Element) -> Option<Token> {
    let ut = sec.child(WSSE, "UsernameToken")?;
    let pw = ut.child(WSSE, "Password")?;
    let digest = pw.attr("Type") == Some(PASSWORD_DIGEST);
    Some(Token {
        token: UsernameToken {
            username: ut.child(WSSE, "Username")?.text.trim().to_owned(),
            password_digest: pw.text.trim().to_owned(),
            nonce: ut.child(WSSE, "Nonce").map(|n| n.text.trim().to_owned())?,
            created: ut
                .child(WSU, "Created")
                .or_else(|| ut.child_any("Created"))?
                .text
                .trim()
                .to_owned(),
        },
        digest,
    })
}

/// An answer: the body's inner XML (already built with the prefixes of [`DECLS`]).
pub fn envelope(body: &str, relates_to: Option<&str>, action: Option<&str>) -> String {
    let mut header = String::new();
    if relates_to.is_some() || action.is_some() {
        header.push_str("<env:Header>");
        if let Some(a) = action {
            header.push_str(&format!("<wsa:Action>{}</wsa:Action>", escape(a)));
        }
        if let Some(r) = relates_to {
            header.push_str(&format!("<wsa:RelatesTo>{}</wsa:RelatesTo>", escape(r)));
        }
        header.push_str("</env:Header>");
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><env:Envelope {DECLS}>{header}<env:Body>{body}</env:Body></env:Envelope>"#
    )
}

/// The faults camward answers with (ONVIF Core §5.11.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// env:Sender / ter:NotAuthorized: credentials missing, wrong, replayed, or a level too low.
    NotAuthorized,
    /// env:Receiver / ter:ActionNotSupported: an operation camward does not implement.
    ActionNotSupported,
    /// env:Sender / ter:InvalidArgVal: an argument camward cannot accept.
    InvalidArgVal,
    /// env:Sender / ter:WellFormed: the XML could not be read (or was refused: DTD, entities).
    WellFormed,
    /// env:Sender / ter:InvalidArgVal / ter:NoProfile or similar "no such thing" answers.
    NoEntity,
    /// env:Receiver / ter:Action: the device cannot do it now.
    ActionFailed,
}

impl Fault {
    fn codes(self) -> (&'static str, &'static str, Option<&'static str>) {
        match self {
            Fault::NotAuthorized => ("env:Sender", "ter:NotAuthorized", None),
            Fault::ActionNotSupported => ("env:Receiver", "ter:ActionNotSupported", None),
            Fault::InvalidArgVal => ("env:Sender", "ter:InvalidArgVal", None),
            Fault::WellFormed => ("env:Sender", "ter:WellFormed", None),
            Fault::NoEntity => ("env:Sender", "ter:InvalidArgVal", Some("ter:NoEntity")),
            Fault::ActionFailed => ("env:Receiver", "ter:Action", None),
        }
    }

    pub fn subcode(self) -> &'static str {
        self.codes().1
    }
}

/// A fault envelope with a reason for people.
pub fn fault(f: Fault, reason: &str, relates_to: Option<&str>) -> String {
    let (code, sub, sub2) = f.codes();
    let inner = match sub2 {
        Some(s2) => format!(
            "<env:Subcode><env:Value>{sub}</env:Value><env:Subcode><env:Value>{s2}</env:Value></env:Subcode></env:Subcode>"
        ),
        None => format!("<env:Subcode><env:Value>{sub}</env:Value></env:Subcode>"),
    };
    let body = format!(
        r#"<env:Fault><env:Code><env:Value>{code}</env:Value>{inner}</env:Code><env:Reason><env:Text xml:lang="en">{}</env:Text></env:Reason></env:Fault>"#,
        escape(reason)
    );
    envelope(
        &body,
        relates_to,
        Some("http://www.w3.org/2005/08/addressing/soap/fault"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><Security s:mustUnderstand="1" xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><UsernameToken><Username>installer</Username><Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">tuOSpGlFlIXsozq4HFNeeGeFLEI=</Password><Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-soap-message-security-1.0#Base64Binary">LKqI6G/AikKCQrN0zqZFlg==</Nonce><Created xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">2010-09-16T07:50:45Z</Created></UsernameToken></Security></s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>"#;

    #[test]
    fn reads_operation_and_username_token() {
        let e = parse(REQ.as_bytes()).unwrap();
        assert_eq!(e.operation.ns, TDS);
        assert_eq!(e.operation.name, "GetDeviceInformation");
        let t = e.token.unwrap();
        assert!(t.digest);
        assert_eq!(t.token.username, "installer");
        assert_eq!(t.token.created, "2010-09-16T07:50:45Z");
        assert_eq!(t.token.nonce, "LKqI6G/AikKCQrN0zqZFlg==");
    }

    #[test]
    fn plain_text_passwords_are_not_digests() {
        let req = REQ.replace("#PasswordDigest", "#PasswordText");
        assert!(!parse(req.as_bytes()).unwrap().token.unwrap().digest);
    }

    #[test]
    fn faults_carry_the_onvif_subcode_and_parse_back() {
        let f = fault(
            Fault::ActionNotSupported,
            "no <such> thing",
            Some("urn:uuid:1"),
        );
        let e = xml::parse(f.as_bytes()).unwrap();
        let fault = e.find_any("Fault").unwrap();
        assert_eq!(
            fault.find_any("Subcode").unwrap().text_of("Value"),
            Some("ter:ActionNotSupported")
        );
        assert_eq!(fault.find_any("Text").unwrap().text, "no <such> thing");
    }

    #[test]
    fn non_envelopes_are_refused() {
        assert_eq!(parse(b"<a/>").unwrap_err(), EnvelopeError::NotEnvelope);
        assert_eq!(
            parse(br#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>"#)
                .unwrap_err(),
            EnvelopeError::EmptyBody
        );
    }
}
