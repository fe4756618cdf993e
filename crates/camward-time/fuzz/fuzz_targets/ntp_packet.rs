//! Fuzzes what reaches the SNTP/NTS client from the network: the NTP packet parser (header and
//! extension fields), the answer checks that compute offset and delay, the NTS authenticator
//! verification, and the NTS-KE record parser. None may panic; an accepted packet's header
//! encodes back to the same 48 bytes and its extension fields lie inside the datagram.
#![no_main]
// No `forbid(unsafe_code)` here: the libfuzzer entry point macro expands to an `extern "C"` symbol.

use camward_time::nts::{parse_ke_response, verify_response};
use camward_time::packet::{HEADER_LEN, Packet};
use camward_time::sntp::sample_of;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_ke_response(data);
    let Ok(p) = Packet::parse(data) else {
        return;
    };
    assert_eq!(&p.encode()[..HEADER_LEN], &data[..HEADER_LEN]);
    let ext: usize = p.extensions.iter().map(|e| 4 + e.value.len()).sum();
    assert!(HEADER_LEN + ext <= data.len());
    let t = 1_800_000_000_000_000_000i128;
    let _ = sample_of(&p, "127.0.0.1:123".parse().unwrap(), t, t + 1_000_000, false);
    let _ = verify_response(data, &p, &[7; 32], &[9; 32]);
});
