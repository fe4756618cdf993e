//! Fuzzes Annex-B splitting, emulation prevention and SPS parsing with arbitrary byte streams.
//! NAL units found must be non-empty and free of start codes, joining them and splitting again
//! must find the same units, escaping must be undone by unescaping, and no SPS may panic.
#![no_main]

use camward_h264::{NalType, annexb, nal, sps};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let nals: Vec<&[u8]> = annexb::split(data).collect();
    for n in &nals {
        assert!(!n.is_empty());
        assert!(
            !n.windows(3).any(|w| w == [0, 0, 1]),
            "start code inside a NAL unit"
        );
        let _ = (
            NalType::of(n),
            nal::ref_idc(n),
            nal::is_first_slice_of_picture(n),
        );
        if let Some(info) = sps::parse(n) {
            let _ = (info.width, info.height);
        }
    }
    let mut joined = Vec::new();
    annexb::join(nals.iter().copied(), &mut joined);
    let again: Vec<&[u8]> = annexb::split(&joined).collect();
    assert_eq!(again, nals);
    assert_eq!(annexb::unescape(&annexb::escape(data)), data);
    let _ = annexb::first_gops(data, 1);
    // Force the SPS path with arbitrary bits behind a valid header.
    let mut s = vec![0x67];
    s.extend_from_slice(data);
    let _ = sps::parse(&s);
});
