//! Fuzzes the XML reader and the SOAP envelope reader of the ONVIF services: no panic, bounded
//! work (no DTD, no entity expansion), and text the reader accepted survives escaping and
//! reading again unchanged (what answers echo back stays well-formed).
#![no_main]
// No `forbid(unsafe_code)` here: the libfuzzer entry point macro expands to an `extern "C"` symbol.

use camward_onvif::{soap, xml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(root) = xml::parse(data) {
        let doc = format!("<a>{}</a>", xml::escape(&root.text));
        let back = xml::parse(doc.as_bytes()).expect("escaped text parses");
        assert_eq!(back.text, root.text);
    }
    if let Ok(env) = soap::parse(data) {
        assert!(!env.operation.name.is_empty());
        let _ = camward_onvif::ops::access(&env.operation.ns, &env.operation.name);
    }
});
