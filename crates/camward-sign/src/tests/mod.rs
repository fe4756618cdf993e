//! Crate-level tests: the reference test vectors, and sign/verify round trips through real tools.
//! Kept apart from the modules because they exercise signer, verifier, MP4 reader and CLI together.

mod roundtrip;
mod vectors;
