//! Fuzzes SDP both ways (RFC 8866, paper §4.4). The SDP camward answers to DESCRIBE is built from
//! the parameter sets of its source, which an RTSP-pulled camera controls: for any SPS/PPS it must
//! parse with the SDP parser retina uses and give the parameter sets back. And an RTSP camera's own
//! SDP is parsed by that parser when camward pulls it: sdp-types 0.1.8 (pinned by retina 0.4)
//! asserts on some malformed SDP, which camward-media contains (a panic of the RTSP client ends the
//! session with an error and the supervisor retries; its test replays regressions/sdp). Panics
//! inside sdp-types are therefore tolerated here; any other panic is a finding.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use camward_h264::{StreamInfo, sps};
use camward_rtsp::sdp::describe;
use libfuzzer_sys::fuzz_target;
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static IN_SDP_TYPES: Cell<bool> = const { Cell::new(false) };
}

/// Parses like retina does, letting a panic of sdp-types unwind to here instead of aborting.
fn parse_camera_sdp(data: &[u8]) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let abort = panic::take_hook(); // libFuzzer's: print, then abort (a finding)
        panic::set_hook(Box::new(move |info| {
            if !IN_SDP_TYPES.with(Cell::get) {
                abort(info);
            }
        }));
    });
    IN_SDP_TYPES.with(|f| f.set(true));
    let _ = panic::catch_unwind(AssertUnwindSafe(|| sdp_types::Session::parse(data)));
    IN_SDP_TYPES.with(|f| f.set(false));
}

fuzz_target!(|data: &[u8]| {
    parse_camera_sdp(data);

    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let cut = (cut as usize).min(rest.len());
    let mut sps_nal = vec![0x67];
    sps_nal.extend_from_slice(&rest[..cut]);
    let mut pps_nal = vec![0x68];
    pps_nal.extend_from_slice(&rest[cut..]);
    let (width, height) = sps::parse(&sps_nal).map_or((0, 0), |s| (s.width, s.height));
    let info = StreamInfo {
        width,
        height,
        fps: u32::from(cut as u8 % 31),
        sps: Bytes::from(sps_nal.clone()),
        pps: Bytes::from(pps_nal.clone()),
    };
    let origin = match cut % 3 {
        0 => None,
        1 => Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
        _ => Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    };
    let text = describe("stream1", &info, origin, data.len() as u64);
    let session = sdp_types::Session::parse(text.as_bytes())
        .unwrap_or_else(|e| panic!("our SDP does not parse: {e:?}\n{text}"));
    assert_eq!(session.medias.len(), 1);
    let fmtp = session.medias[0]
        .get_first_attribute_value("fmtp")
        .expect("fmtp present")
        .expect("fmtp has a value");
    let sets = fmtp
        .split(';')
        .find_map(|p| p.trim().strip_prefix("sprop-parameter-sets="))
        .expect("sprop-parameter-sets present");
    let (s, p) = sets.split_once(',').expect("SPS,PPS");
    assert_eq!(STANDARD.decode(s).unwrap(), sps_nal);
    assert_eq!(STANDARD.decode(p).unwrap(), pps_nal);
});
