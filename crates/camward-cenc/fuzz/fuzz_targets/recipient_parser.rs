//! Fuzzes the recipient string parser, the identity file parser and the key bundle decoder.
//! Accepted recipients must print back to the same (lower-case) string.
#![no_main]

use camward_cenc::{Identity, KeyBundle, Recipient};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = KeyBundle::from_bytes(data)
        .map(|b| assert_eq!(KeyBundle::from_bytes(&b.to_bytes()).unwrap(), b));
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(r) = s.parse::<Recipient>() {
            assert_eq!(r.to_string(), s.to_ascii_lowercase());
        }
        let _ = Identity::from_file_contents(s, Path::new("fuzz.key"));
    }
});
