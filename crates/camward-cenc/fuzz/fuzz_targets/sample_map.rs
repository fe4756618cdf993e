//! Fuzzes the AVC subsample map and sample decryption with arbitrary samples and maps.
//! Encrypt-then-decrypt must give the input back whenever encryption accepts it.
#![no_main]

use camward_cenc::{ContentKey, Subsample, decrypt_sample, encrypt_sample_with};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = ContentKey::from_bytes([1; 16]);
    let iv = [2u8; 8];
    for ls in [1, 2, 4] {
        if let Ok((ct, map)) = encrypt_sample_with(data, ls, &key, &iv) {
            assert_eq!(decrypt_sample(&ct, &key, &iv, &map).unwrap(), data);
        }
    }
    // Arbitrary maps from the first bytes: must be refused or applied, never panic.
    let map: Vec<Subsample> = data
        .chunks_exact(6)
        .take(8)
        .map(|c| Subsample {
            clear: u16::from_be_bytes([c[0], c[1]]),
            protected: u32::from_be_bytes([c[2], c[3], c[4], c[5]]) % 4096,
        })
        .collect();
    let _ = decrypt_sample(data, &key, &iv, &map);
});
