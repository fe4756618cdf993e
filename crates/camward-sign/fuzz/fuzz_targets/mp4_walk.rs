//! Fuzzes the MP4 box walker and sample-table / fragment reader that feeds the verifier.
//! Every returned NAL range must lie inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(track) = camward_sign::mp4::read_h264(data) {
        for r in track.nals.iter().chain(&track.parameter_sets) {
            assert!(r.start <= r.end && r.end <= data.len());
        }
    }
});
