//! Fuzzes the strings the configuration parses itself: host filter entries (paper §3.4), viewer
//! recipients (§3.8; camward-cenc uses the same parser), CA certificates in PEM (SMTP/FTP TLS) and
//! video sources. Accepted values must print back to what was parsed.
#![no_main]

use camward_config::data_encryption::{format_recipient, parse_recipient};
use camward_config::host_auth::parse_entry;
use camward_config::{Source, parse_ca_pem};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(net) = parse_entry(s) {
        assert_eq!(parse_entry(&net.to_string()), Ok(net));
    }
    if let Ok(key) = parse_recipient(s) {
        assert_eq!(format_recipient(&key), s.to_ascii_lowercase());
    }
    let _ = parse_ca_pem(s);
    if let Ok(src) = s.parse::<Source>() {
        // What is shown (password removed) parses again.
        let shown = src.to_string();
        assert!(
            shown.parse::<Source>().is_ok(),
            "{shown:?} does not parse back"
        );
    }
});
