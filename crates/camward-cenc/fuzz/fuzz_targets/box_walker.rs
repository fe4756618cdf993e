//! Fuzzes the ISO BMFF walker and the decrypting rewrite with arbitrary files.
//! Any input must give Ok or Err, never a panic, hang or huge allocation.
#![no_main]

use camward_cenc::{
    ContentKey, Identity, bmff, content_key_from_bytes, decrypt_to_vec_with_key, is_encrypted,
};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn walk(data: &[u8], offset: u64, depth: usize) {
    if depth > 8 {
        return;
    }
    if let Ok(kids) = bmff::children(data, offset) {
        for k in kids {
            let _ = bmff::parse_tfhd(&k);
            let _ = bmff::parse_trun(&k);
            let _ = bmff::parse_senc(&k, 8);
            let _ = bmff::parse_pssh(&k);
            let _ = bmff::parse_sinf(&k);
            walk(k.body(), k.body_offset(), depth + 1);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    static ID: OnceLock<Identity> = OnceLock::new();
    let id = ID.get_or_init(Identity::generate);
    walk(data, 0, 0);
    let _ = is_encrypted(data);
    let _ = content_key_from_bytes(data, id);
    // A fixed key reaches the moof/mdat paths that a random bundle never would.
    let _ = decrypt_to_vec_with_key(data, &ContentKey::from_bytes([7; 16]));
});
