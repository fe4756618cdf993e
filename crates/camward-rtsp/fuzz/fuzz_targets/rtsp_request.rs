//! Fuzz target: the RTSP request parser and the header grammars it feeds (Transport, URI).
//! Run with `cargo +nightly fuzz run rtsp_request` from crates/camward-rtsp.
#![no_main]

use camward_rtsp::parse::{self, MAX_BODY, MAX_HEAD, MAX_INTERLEAVED_IN, Parsed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Consume the buffer message by message, as the connection loop does.
    let mut rest = data;
    for _ in 0..1024 {
        match parse::parse(rest) {
            Ok(Parsed::Incomplete) => {
                // Incomplete is only allowed while under the limits: memory stays bounded.
                assert!(rest.len() < MAX_HEAD + MAX_BODY + 4 + MAX_INTERLEAVED_IN + 4);
                break;
            }
            Ok(Parsed::Request(req, n)) | Ok(Parsed::Http(req, n)) => {
                assert!(n > 0 && n <= rest.len());
                assert!(req.body.len() <= MAX_BODY);
                if let Some(t) = req.header("Transport") {
                    let _ = parse::transports(t);
                }
                let _ = parse::target(&req.uri);
                let _ = req.session_id();
                let _ = parse::Response::new(400)
                    .reason(req.uri.clone())
                    .serialize(req.cseq());
                rest = &rest[n..];
            }
            Ok(Parsed::Interleaved {
                payload, consumed, ..
            }) => {
                assert!(
                    consumed > 0 && consumed <= rest.len() && payload.len() <= MAX_INTERLEAVED_IN
                );
                rest = &rest[consumed..];
            }
            Err(e) => {
                assert!(matches!(e.status(), 400 | 413 | 414));
                break;
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse::transports(s);
        let _ = parse::target(s);
    }
});
