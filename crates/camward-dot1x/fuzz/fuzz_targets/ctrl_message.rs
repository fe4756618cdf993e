//! Fuzzes the control-socket parsers of camward-dot1x (paper §3.6): each input is split into
//! datagrams at NUL bytes, as they would arrive from wpa_supplicant, and every one goes through
//! `unsolicited`/`parse_event` or `parse_status` and into one port-state tracker. Nothing may
//! panic, and a failure reason is never empty.
#![no_main]

use camward_dot1x::message::{fields, parse_event, parse_status, unsolicited};
use camward_dot1x::{PortState, Tracker};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut tracker = Tracker::new();
    for datagram in data.split(|b| *b == 0) {
        let text = String::from_utf8_lossy(datagram);
        match unsolicited(&text) {
            Some(u) => {
                let _ = fields(u.text);
                tracker.on_event(&parse_event(u.text));
            }
            None => {
                tracker.on_status(&parse_status(&text));
            }
        }
        let s = tracker.status();
        if s.state == PortState::Failed {
            assert!(s.reason.as_deref().is_some_and(|r| !r.is_empty()));
        }
    }
});
