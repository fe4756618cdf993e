//! Fuzzes the whole verifier on arbitrary bytes (Annex-B or MP4, detected by content).
//! Pairing SEIs with GOPs must cope with any order, count and content of NAL units.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = camward_sign::verify_bytes(data, &camward_sign::VerifyOptions::default(), &mut |_| {});
});
