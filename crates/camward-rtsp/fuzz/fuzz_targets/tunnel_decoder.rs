//! Fuzz target: the tunnel POST base64 decoder must give the same result however the input is
//! chunked, never panic, and never hold more than 3 pending characters.
#![no_main]

use camward_rtsp::tunnel::Base64Decoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let mut whole = Base64Decoder::new();
    let mut out_whole = Vec::new();
    let r_whole = whole.push(input, &mut out_whole);

    let cut = (split as usize).min(input.len());
    let mut parts = Base64Decoder::new();
    let mut out_parts = Vec::new();
    let r_parts = parts
        .push(&input[..cut], &mut out_parts)
        .and_then(|()| parts.push(&input[cut..], &mut out_parts));

    assert_eq!(r_whole, r_parts);
    if r_whole.is_ok() {
        assert_eq!(out_whole, out_parts);
        assert!(whole.pending() <= 3);
        assert!(out_whole.len() <= input.len() * 3 / 4 + 3);
    }
});
