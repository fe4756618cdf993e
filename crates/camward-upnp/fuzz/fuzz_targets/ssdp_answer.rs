//! Fuzzes the parsing of SSDP answers (any datagram on the M-SEARCH socket): a parsed answer's
//! LOCATION is an http:// URL with an IPv4 host and a non-zero port, and it prints back to a URL
//! that parses to the same value.
#![no_main]

use camward_upnp::ssdp::{HttpUrl, parse_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = parse_response(data) {
        assert_ne!(r.location.addr.port(), 0);
        assert!(r.location.path.starts_with('/'));
        let again = HttpUrl::parse(&r.location.to_string()).expect("a parsed URL prints back");
        assert_eq!(again, r.location);
        let _ = r.location.join(&r.st);
    }
});
