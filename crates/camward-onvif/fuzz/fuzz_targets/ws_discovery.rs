//! Fuzzes the reading of WS-Discovery datagrams (Probe, Resolve, ProbeMatches) as the camera's
//! responder and `camward discover` read them from the network: no panic, and scope matching on
//! whatever a Probe carries terminates.
#![no_main]
// No `forbid(unsafe_code)` here: the libfuzzer entry point macro expands to an `extern "C"` symbol.

use camward_discovery::message::{self, Incoming};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(Incoming::Probe {
        types,
        scopes,
        match_by,
        unresolvable,
        ..
    }) = message::parse(data)
    {
        let ours = vec![
            "onvif://www.onvif.org/Profile/Streaming".to_owned(),
            "onvif://www.onvif.org/hardware/camward".to_owned(),
        ];
        let _ =
            message::probe_matches_us(&types, &scopes, match_by.as_deref(), unresolvable, &ours);
    }
});
