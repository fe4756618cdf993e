//! A small, bounded XML reader for the two documents an IGD sends (paper §4.1): the device
//! description and SOAP responses. It keeps elements by local name (namespace prefixes dropped),
//! their text with the five predefined entities and character references decoded, and skips
//! declarations, comments, processing instructions and DOCTYPE. Anything malformed is an error
//! naming the byte offset; nesting is limited so hostile input cannot exhaust the stack.

use crate::Error;

/// Deepest nesting accepted (real descriptions nest about 8 levels).
const MAX_DEPTH: usize = 32;
/// Most elements accepted in one document.
const MAX_ELEMENTS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Local name (`Envelope` for `<s:Envelope>`).
    pub name: String,
    pub children: Vec<Element>,
    /// Text directly inside the element, entities decoded, surrounding whitespace trimmed.
    pub text: String,
}

impl Element {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child with this local name.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// Every element below this one (depth first, document order), this one excluded.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack: Vec<&Element> = self.children.iter().rev().collect();
        while let Some(e) = stack.pop() {
            out.push(e);
            stack.extend(e.children.iter().rev());
        }
        out
    }
}

fn bad(at: usize, what: &str) -> Error {
    Error::Xml(format!("{what} at byte {at}"))
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// Parses a whole document and returns its root element.
pub fn parse(doc: &str) -> Result<Element, Error> {
    let b = doc.as_bytes();
    let mut i = 0;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    while i < b.len() {
        if b[i] != b'<' {
            let end = doc[i..].find('<').map_or(b.len(), |n| i + n);
            let text = &doc[i..end];
            match stack.last_mut() {
                Some(top) => top.text.push_str(&decode(text, i)?),
                None if text.trim().is_empty() => {}
                None => return Err(bad(i, "text outside the root element")),
            }
            i = end;
            continue;
        }
        let rest = &doc[i..];
        if rest.starts_with("<?") {
            i += rest.find("?>").ok_or_else(|| bad(i, "unterminated <?"))? + 2;
        } else if rest.starts_with("<!--") {
            i += rest
                .find("-->")
                .ok_or_else(|| bad(i, "unterminated comment"))?
                + 3;
        } else if rest.starts_with("<![CDATA[") {
            let n = rest
                .find("]]>")
                .ok_or_else(|| bad(i, "unterminated CDATA"))?;
            let top = stack
                .last_mut()
                .ok_or_else(|| bad(i, "CDATA outside the root"))?;
            top.text.push_str(&rest[9..n]);
            i += n + 3;
        } else if rest.starts_with("<!") {
            // DOCTYPE: internal subsets are not supported (an IGD has no reason to send one).
            if rest[..rest.find('>').unwrap_or(rest.len())].contains('[') {
                return Err(bad(i, "DOCTYPE internal subset"));
            }
            i += rest.find('>').ok_or_else(|| bad(i, "unterminated <!"))? + 1;
        } else if let Some(after) = rest.strip_prefix("</") {
            let n = after
                .find('>')
                .ok_or_else(|| bad(i, "unterminated end tag"))?;
            let name = local(after[..n].trim());
            let mut done = stack.pop().ok_or_else(|| bad(i, "end tag without start"))?;
            if done.name != name {
                return Err(bad(i, "mismatched end tag"));
            }
            done.text = done.text.trim().to_owned();
            match stack.last_mut() {
                Some(parent) => parent.children.push(done),
                None => {
                    if root.is_some() {
                        return Err(bad(i, "second root element"));
                    }
                    root = Some(done);
                }
            }
            i += 2 + n + 1;
        } else {
            let end = tag_end(rest).ok_or_else(|| bad(i, "unterminated start tag"))?;
            let inner = &rest[1..end];
            let (inner, empty) = match inner.strip_suffix('/') {
                Some(s) => (s, true),
                None => (inner, false),
            };
            let raw = inner
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .unwrap_or("");
            if raw.is_empty() {
                return Err(bad(i, "empty tag name"));
            }
            count += 1;
            if count > MAX_ELEMENTS {
                return Err(bad(i, "too many elements"));
            }
            if stack.len() >= MAX_DEPTH {
                return Err(bad(i, "nesting too deep"));
            }
            let el = Element {
                name: local(raw).to_owned(),
                ..Element::default()
            };
            if empty {
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(bad(i, "second root element")),
                }
            } else {
                if stack.is_empty() && root.is_some() {
                    return Err(bad(i, "second root element"));
                }
                stack.push(el);
            }
            i += end + 1;
        }
    }
    if !stack.is_empty() {
        return Err(bad(b.len(), "unclosed element"));
    }
    root.ok_or_else(|| bad(0, "no root element"))
}

/// The index of the `>` that ends the tag starting at `s[0]`, skipping quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, &c) in s.as_bytes().iter().enumerate() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'>' => return Some(i),
            None => {}
        }
    }
    None
}

/// Decodes `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` and `&#NN;`/`&#xNN;`.
fn decode(text: &str, at: usize) -> Result<String, Error> {
    if !text.contains('&') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        let n = after
            .find(';')
            .filter(|&n| n <= 10)
            .ok_or_else(|| bad(at, "unterminated entity"))?;
        let ent = &after[..n];
        let c = match ent {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(h) = ent.strip_prefix("#x").or(ent.strip_prefix("#X")) {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = ent.strip_prefix('#') {
                    d.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| bad(at, "unknown entity"))?
            }
        };
        out.push(c);
        rest = &after[n + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Escapes text for an element body or attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_dropped_and_entities_decoded() {
        let e = parse(
            r#"<?xml version="1.0"?><!-- c --><s:Envelope xmlns:s="x" a='>'><s:Body><u:R><v>a &amp; b &#65;&#x42;</v><e/></u:R></s:Body></s:Envelope>"#,
        )
        .unwrap();
        assert_eq!(e.name, "Envelope");
        let r = e.child("Body").unwrap().child("R").unwrap();
        assert_eq!(r.child_text("v"), Some("a & b AB"));
        assert_eq!(r.child_text("e"), Some(""));
    }

    #[test]
    fn malformed_documents_are_errors_not_panics() {
        for doc in [
            "",
            "<a>",
            "<a></b>",
            "</a>",
            "<a/><b/>",
            "text",
            "<a>&bogus;</a>",
            "<a>&#xD800;</a>",
            "<!DOCTYPE a [<!ENTITY x 'y'>]><a/>",
            "<a b='>",
            "<>",
            "<a><![CDATA[x</a>",
        ] {
            assert!(parse(doc).is_err(), "{doc:?} parsed");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let doc = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(parse(&doc).is_err());
        let doc = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
        assert!(parse(&doc).is_ok());
    }

    #[test]
    fn escape_round_trips() {
        let s = "a<b>&\"c'";
        let e = parse(&format!("<x>{}</x>", escape(s))).unwrap();
        assert_eq!(e.text, s);
    }
}
