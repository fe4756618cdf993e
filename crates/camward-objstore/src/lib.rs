//! Object storage for recordings (paper §3.8: recordings stay encrypted "on the card or in the
//! cloud"; §3.7: TLS with a pinned CA): the S3 client ([`store`]) and the uploader that moves
//! closed recordings from the card to a bucket, checks them and fetches them back for playback
//! ([`uploader`]), and lists the bucket back into a lost or replaced index ([`adopt`]). Where each
//! recording lives is kept in the recording index (`camward-record`'s `upload` table); this crate
//! holds no state of its own.
#![forbid(unsafe_code)]

pub mod adopt;
pub mod store;
pub mod uploader;

pub use store::{Checked, Confirmed, Listed, Receipt, Store, StoreError, Uploaded, store_id};
pub use uploader::{Handle, Input, State, Status, run};
