//! The XML reader every SOAP message (ONVIF services, WS-Discovery) goes through: a small
//! namespace-resolved tree built with quick-xml's pull parser, that refuses what XML attacks need
//! (paper §3.10): no DTD (so no entity definitions, no external entities, no billion laughs),
//! only the five predefined entities and character references, bounded size, depth and node count.

use quick_xml::events::Event;
use std::borrow::Cow;

/// Largest document read (SOAP requests of ONVIF clients are a few KiB).
pub const MAX_BYTES: usize = 64 * 1024;
/// Deepest element nesting.
pub const MAX_DEPTH: usize = 32;
/// Most elements in one document.
pub const MAX_NODES: usize = 2048;

/// Why a document was refused; the message is safe to return to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("document larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("document nested deeper than {MAX_DEPTH} elements")]
    TooDeep,
    #[error("document has more than {MAX_NODES} elements")]
    TooManyNodes,
    #[error("DTDs are not accepted")]
    Dtd,
    #[error("entity `{0}` is not one of XML's predefined entities")]
    Entity(String),
    #[error("namespace prefix `{0}` is not declared")]
    UnboundPrefix(String),
    #[error("no root element")]
    Empty,
    #[error("malformed XML at byte {at}: {what}")]
    Syntax { at: u64, what: String },
}

/// One element: namespace URI (empty when none), local name, attributes, text, children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub ns: String,
    pub name: String,
    /// (namespace, local name, value); xmlns declarations are not included.
    pub attrs: Vec<(String, String, String)>,
    /// Text and CDATA directly inside, entities resolved.
    pub text: String,
    pub children: Vec<Element>,
    /// Prefix declarations in scope at this element (for QNames inside text, e.g. WS-Discovery
    /// `Types`), innermost last.
    pub scope: Vec<(String, String)>,
}

impl Element {
    /// First child with this namespace and local name.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name && c.ns == ns)
    }

    /// First child with this local name, whatever its namespace (ONVIF clients disagree on
    /// which schema namespace some elements belong to).
    pub fn child_any(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// First descendant (depth first) with this local name.
    pub fn find_any(&self, name: &str) -> Option<&Element> {
        for c in &self.children {
            if c.name == name {
                return Some(c);
            }
            if let Some(f) = c.find_any(name) {
                return Some(f);
            }
        }
        None
    }

    /// Text of the first child with this local name, trimmed.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child_any(name).map(|c| c.text.trim())
    }

    /// An attribute by local name (any namespace).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(_, n, _)| n == name)
            .map(|(_, _, v)| v.as_str())
    }

    /// Resolves a QName written in text (`dn:NetworkVideoTransmitter`) with the declarations in
    /// scope here: (namespace, local name).
    pub fn resolve_qname(&self, qname: &str) -> Option<(String, String)> {
        let (prefix, local) = match qname.split_once(':') {
            Some((p, l)) => (p, l),
            None => ("", qname),
        };
        let ns = self
            .scope
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, n)| n.clone());
        match ns {
            Some(ns) => Some((ns, local.to_owned())),
            None if prefix.is_empty() => Some((String::new(), local.to_owned())),
            None => None,
        }
    }
}

fn unescape(raw: &str) -> Result<Cow<'_, str>, XmlError> {
    if !raw.contains('&') {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let Some(end) = after.find(';') else {
            return Err(XmlError::Entity(after.chars().take(16).collect()));
        };
        out.push(resolve_ref(&after[..end])?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

fn resolve_ref(name: &str) -> Result<char, XmlError> {
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            let code = if let Some(h) = name.strip_prefix("#x") {
                u32::from_str_radix(h, 16).ok()
            } else if let Some(d) = name.strip_prefix('#') {
                d.parse::<u32>().ok()
            } else {
                None
            };
            return code
                .and_then(char::from_u32)
                .filter(|c| *c != '\0')
                .ok_or_else(|| XmlError::Entity(name.chars().take(16).collect()));
        }
    };
    Ok(c)
}

fn split(qname: &str) -> (&str, &str) {
    match qname.split_once(':') {
        Some((p, l)) => (p, l),
        None => ("", qname),
    }
}

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Parses a whole document into its root element.
pub fn parse(input: &[u8]) -> Result<Element, XmlError> {
    if input.len() > MAX_BYTES {
        return Err(XmlError::TooLarge);
    }
    let text = std::str::from_utf8(input).map_err(|e| XmlError::Syntax {
        at: e.valid_up_to() as u64,
        what: "not UTF-8".into(),
    })?;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    reader.config_mut().check_end_names = true;
    // Open elements with their raw qualified name (to resolve once complete).
    struct Open {
        el: Element,
        qname: String,
        raw_attrs: Vec<(String, String)>,
    }
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Element> = None;
    let mut nodes = 0usize;
    let syntax = |reader: &quick_xml::Reader<&[u8]>, e: &dyn std::fmt::Display| XmlError::Syntax {
        at: reader.buffer_position(),
        what: e.to_string(),
    };
    loop {
        let ev = reader.read_event().map_err(|e| syntax(&reader, &e))?;
        match ev {
            Event::DocType(_) => return Err(XmlError::Dtd),
            Event::Start(s) => {
                if root.is_some() {
                    return Err(syntax(&reader, &"content after the root element"));
                }
                nodes += 1;
                if nodes > MAX_NODES {
                    return Err(XmlError::TooManyNodes);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let qname = s.name().0.to_owned();
                // quick-xml reads `< x="1"/>` as an element named "" (the name ends at the
                // space): a QName needs a local part, and a prefix when it has a colon.
                let (prefix, local) = split(&qname);
                if local.is_empty() || (prefix.is_empty() && qname.contains(':')) {
                    return Err(syntax(
                        &reader,
                        &format!("`{qname}` is not an element name"),
                    ));
                }
                let mut scope = stack.last().map(|o| o.el.scope.clone()).unwrap_or_default();
                let mut raw_attrs = Vec::new();
                for a in s.attributes().with_checks(true) {
                    let a = a.map_err(|e| syntax(&reader, &e))?;
                    let key = a.key.0;
                    let value = unescape(&a.value)?.into_owned();
                    if key == "xmlns" {
                        scope.push((String::new(), value));
                    } else if let Some(p) = key.strip_prefix("xmlns:") {
                        scope.push((p.to_owned(), value));
                    } else {
                        raw_attrs.push((key.to_owned(), value));
                    }
                }
                stack.push(Open {
                    el: Element {
                        ns: String::new(),
                        name: String::new(),
                        attrs: Vec::new(),
                        text: String::new(),
                        children: Vec::new(),
                        scope,
                    },
                    qname,
                    raw_attrs,
                });
            }
            Event::End(_) => {
                let Some(open) = stack.pop() else {
                    return Err(syntax(&reader, &"unmatched end tag"));
                };
                let mut el = open.el;
                let (prefix, local) = split(&open.qname);
                let lookup = |p: &str| -> Result<String, XmlError> {
                    if p == "xml" {
                        return Ok(XML_NS.into());
                    }
                    el.scope
                        .iter()
                        .rev()
                        .find(|(q, _)| q == p)
                        .map(|(_, n)| n.clone())
                        .ok_or_else(|| XmlError::UnboundPrefix(p.to_owned()))
                };
                el.ns = if prefix.is_empty() {
                    lookup("").unwrap_or_default()
                } else {
                    lookup(prefix)?
                };
                el.name = local.to_owned();
                for (k, v) in open.raw_attrs {
                    let (p, l) = split(&k);
                    // Unprefixed attributes have no namespace (Namespaces in XML §6.2).
                    let ns = if p.is_empty() {
                        String::new()
                    } else {
                        lookup(p)?
                    };
                    el.attrs.push((ns, l.to_owned(), v));
                }
                match stack.last_mut() {
                    Some(parent) => parent.el.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let raw = t.into_inner();
                match stack.last_mut() {
                    Some(o) => o.el.text.push_str(&unescape(&raw)?),
                    None if raw.trim().is_empty() => {}
                    None => return Err(syntax(&reader, &"text outside the root element")),
                }
            }
            Event::CData(c) => {
                let raw = c.into_inner();
                match stack.last_mut() {
                    Some(o) => o.el.text.push_str(&raw),
                    None => return Err(syntax(&reader, &"CDATA outside the root element")),
                }
            }
            Event::GeneralRef(r) => {
                let name = r.into_inner();
                let c = resolve_ref(&name)?;
                match stack.last_mut() {
                    Some(o) => o.el.text.push(c),
                    None => return Err(syntax(&reader, &"reference outside the root element")),
                }
            }
            Event::Empty(_) => unreachable!("expand_empty_elements is on"),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(syntax(&reader, &"unclosed element"));
    }
    root.ok_or(XmlError::Empty)
}

/// Escapes text for element content and attribute values.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['<', '>', '&', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_text_and_predefined_entities_resolve() {
        let doc = br#"<?xml version="1.0"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:d="urn:d">
  <s:Body><d:Op a="1 &amp; 2" d:b="x">fish &lt;&#x26;&#38;&gt; <![CDATA[<raw>]]></d:Op><Plain/></s:Body>
</s:Envelope>"#;
        let e = parse(doc).unwrap();
        assert_eq!(e.ns, "http://www.w3.org/2003/05/soap-envelope");
        assert_eq!(e.name, "Envelope");
        let body = e
            .child("http://www.w3.org/2003/05/soap-envelope", "Body")
            .unwrap();
        let op = body.child("urn:d", "Op").unwrap();
        assert_eq!(op.text, "fish <&&> <raw>");
        assert_eq!(op.attr("a"), Some("1 & 2"));
        assert_eq!(op.attrs[1].0, "urn:d");
        assert_eq!(body.children[1].ns, "");
        assert_eq!(
            op.resolve_qname("d:NVT"),
            Some(("urn:d".to_owned(), "NVT".to_owned()))
        );
        assert_eq!(op.resolve_qname("zz:NVT"), None);
    }

    #[test]
    fn dtds_and_entity_definitions_are_refused() {
        let bomb = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<lolz>&lol2;</lolz>"#;
        assert_eq!(parse(bomb), Err(XmlError::Dtd));
        let xxe = br#"<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>"#;
        assert_eq!(parse(xxe), Err(XmlError::Dtd));
        let external = br#"<!DOCTYPE foo SYSTEM "http://example.invalid/x.dtd"><foo/>"#;
        assert_eq!(parse(external), Err(XmlError::Dtd));
    }

    #[test]
    fn undefined_entities_are_refused_not_expanded() {
        assert!(matches!(parse(b"<a>&xxe;</a>"), Err(XmlError::Entity(_))));
        assert!(matches!(parse(b"<a b='&lol;'/>"), Err(XmlError::Entity(_))));
        assert!(matches!(parse(b"<a>&#0;</a>"), Err(XmlError::Entity(_))));
    }

    #[test]
    fn size_depth_and_count_are_bounded() {
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooDeep));
        let wide = format!("<r>{}</r>", "<a/>".repeat(MAX_NODES));
        assert_eq!(parse(wide.as_bytes()), Err(XmlError::TooManyNodes));
        assert_eq!(parse(&vec![b' '; MAX_BYTES + 1]), Err(XmlError::TooLarge));
    }

    #[test]
    fn malformed_documents_are_errors() {
        for bad in [
            &b""[..],
            b"<a>",
            b"<a></b>",
            b"<a/><b/>",
            b"<p:a/>",
            b"text",
            b"<a x='1' x='2'/>",
            b"\xff\xfe",
            // Elements without a name, or with an empty prefix or local part.
            b"< a='1'/>",
            b"<a>< /></a>",
            b"<p:/>",
            b"<:a/>",
            b"<a xmlns:p='u'><p: /></a>",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn elements_without_a_name_are_refused() {
        // Found by the `soap_envelope` fuzz target (fuzz/regressions/soap_envelope): an operation
        // `< xmlns:s="…"/>` in the Body came out as an element named "".
        let found = include_bytes!("../fuzz/regressions/soap_envelope/element-without-a-name");
        assert!(matches!(parse(found), Err(XmlError::Syntax { .. })));
        assert!(crate::soap::parse(found).is_err());
        assert_eq!(
            parse(b"<a xmlns:p='u'><p:b/></a>").unwrap().children[0].name,
            "b"
        );
    }

    #[test]
    fn escape_round_trips() {
        let s = r#"a<b>&"c'"#;
        let doc = format!("<a>{}</a>", escape(s));
        assert_eq!(parse(doc.as_bytes()).unwrap().text, s);
    }
}
