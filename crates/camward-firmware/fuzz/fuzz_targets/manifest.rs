//! Fuzzes what a device reads from an uploaded bundle before and after the signature check: the
//! header and signature block (`parse_head_bytes`, `read_head`), the manifest JSON and its strict
//! checks, and the policy that follows. None may panic; the head must re-encode to what was read.
#![no_main]
// No `forbid(unsafe_code)` here: the libfuzzer entry point macro expands to an `extern "C"` symbol.

use camward_firmware::bundle::{Policy, check_policy, parse_head_bytes, read_head};
use camward_firmware::{Manifest, TrustStore};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sm) = parse_head_bytes(data) {
        assert_eq!(sm.head_bytes(), data, "a parsed head re-encodes byte for byte");
        // No trusted key: always refused, never a panic.
        assert!(sm.verify(&TrustStore::default()).is_err());
    }
    let _ = read_head(&mut &data[..]);
    // The manifest as it is parsed once its signature verified.
    if let Ok(m) = serde_json::from_slice::<Manifest>(data)
        && m.check().is_ok()
    {
        let _ = m.payload_bytes();
        let policy = Policy {
            product: camward_firmware::PRODUCT.into(),
            now: time::OffsetDateTime::now_utc(),
            floor: 1,
            running: semver::Version::new(0, 1, 0),
        };
        let _ = check_policy(&m, &policy);
    }
});
