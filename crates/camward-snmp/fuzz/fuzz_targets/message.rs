//! Fuzzes what the SNMP agent does with a datagram that passed the host filter: the version peek,
//! the v1/v2c message decoder, and the SNMPv3 path through USM (RFC 3414 §3.2: header, security
//! parameters, digest check, time window, decryption, scoped PDU). It must never panic, and a
//! message without a valid digest must never come out as an authenticated request.
#![no_main]
// No `forbid(unsafe_code)` here: the libfuzzer entry point macro expands to an `extern "C"` symbol.

use camward_config::Secret;
use camward_config::snmp::SnmpUser;
use camward_snmp::Engine;
use camward_snmp::usm::{Inbound, Usm};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

fn usm() -> &'static Usm {
    static USM: OnceLock<Usm> = OnceLock::new();
    USM.get_or_init(|| {
        let engine = Arc::new(Engine::ephemeral(vec![0x80, 0, 0x7e, 0xd9, 5, 1, 2, 3], 1));
        let user = SnmpUser {
            name: "fuzz".into(),
            auth_password: Secret::new("fuzz-auth-1"),
            ..SnmpUser::default()
        };
        Usm::new(engine, &[user]).expect("keys localize")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = camward_snmp::peek_version(data);
    let bytes = bytes::Bytes::copy_from_slice(data);
    let _ = async_snmp_decode(bytes.clone());
    if let Inbound::Request(r) = usm().process(bytes) {
        // Without the key nothing authenticated can be forged; only the unauthenticated level
        // (which the access check then refuses) may come through.
        assert!(!r.level.requires_auth(), "forged authenticated request");
    }
});

fn async_snmp_decode(b: bytes::Bytes) -> bool {
    camward_snmp::decode_community(b).is_some()
}
