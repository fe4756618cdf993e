//! Fuzzes what a gateway's HTTP server sends: the HTTP/1.x framing (Content-Length, chunked,
//! read-to-close), the XML reader, the device description (the chosen control URL stays on the
//! gateway's host) and SOAP answers and faults. Nothing may panic; escaped text must read back.
#![no_main]

use camward_upnp::ssdp::HttpUrl;
use camward_upnp::{http, igd, xml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = http::parse_response(data, false);
    let body = match http::parse_response(data, true) {
        Ok(Some(r)) => r.body,
        _ => match std::str::from_utf8(data) {
            Ok(s) => s.to_owned(),
            Err(_) => return,
        },
    };
    let location = HttpUrl::parse("http://10.77.0.1:5000/rootDesc.xml").unwrap();
    if let Ok((_, control)) = igd::parse_description(&body, &location) {
        assert_eq!(control.addr.ip(), location.addr.ip());
    }
    for action in ["AddAnyPortMapping", "GetSpecificPortMappingEntry"] {
        let _ = igd::parse_soap_response(200, &body, action);
        let _ = igd::parse_soap_response(500, &body, action);
    }
    let text = String::from_utf8_lossy(data);
    let e = xml::parse(&format!("<v>{}</v>", xml::escape(&text))).expect("escaped text parses");
    assert_eq!(e.text, text.trim());
});
