//! Crate-level tests: the reference test vectors, sign/verify round trips through real tools, and
//! the ONVIF reference validator on camward's own output (white paper §3.9).
//! Kept apart from the modules because they exercise signer, verifier, MP4 reader and CLI together.

mod reference;
mod roundtrip;
mod vectors;
