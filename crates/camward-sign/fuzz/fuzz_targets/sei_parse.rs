//! Fuzzes the ONVIF SEI parser (size fields, UUID, TLVs, EPB mapping of the signed document).
//! Any input must yield Ok/Err, never a panic or an out-of-bounds read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Force the SEI prefix half of the time so the TLV code is reached, not just the UUID check.
    let _ = camward_sign::format::parse_oms_sei(data);
    let mut nal = vec![0x06, 0x05];
    nal.extend_from_slice(data.get(..1).unwrap_or(&[]));
    nal.extend_from_slice(&camward_sign::format::UUID);
    nal.extend_from_slice(data.get(1..).unwrap_or(&[]));
    if let Ok(Some(sei)) = camward_sign::format::parse_oms_sei(&nal) {
        let _ = sei.hashes().count();
    }
    let _ = camward_sign::format::parse_tlvs(data);
});
