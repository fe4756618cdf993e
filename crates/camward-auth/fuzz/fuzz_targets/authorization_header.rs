//! Fuzzes the `Authorization` header parser shared by HTTP, RTSP and the tunnel: it must never panic,
//! and whatever it accepts must survive the Digest nonce-count parsing that follows.
#![no_main]
// No `forbid(unsafe_code)` here: the libfuzzer entry point macro expands to an `extern "C"` symbol.

use camward_auth::digest::parse_nc;
use camward_auth::header::{Credentials, parse_authorization};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Credentials::Digest(p)) = parse_authorization(s)
        && let Some(nc) = p.nc.as_deref()
    {
        let _ = parse_nc(nc);
    }
});
