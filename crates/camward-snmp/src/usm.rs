//! The User-based Security Model (RFC 3414) on the authoritative side, as camward answers it
//! (paper §4.7: SNMPv3 with authentication and encryption): engine discovery, the 150-second time
//! window, HMAC verification with keys localized to this engine, replay refusal, decryption, and a
//! Report PDU with the matching usmStats counter for each failure. Outgoing messages (responses,
//! reports, traps) are encoded, encrypted and signed here too.
//!
//! The message codec and the cryptographic primitives (key localization, HMAC-MD5/SHA-1/SHA-2
//! per RFC 7860, DES-CBC, AES-CFB with the Blumenthal key extension net-snmp uses) are async-snmp's;
//! the processing rules are this file's.

use crate::engine::{Counters, Engine};
use async_snmp::ber::Decoder;
use async_snmp::message::{
    MsgFlags, MsgGlobalData, RawMsgData, RawV3Message, ScopedPdu, SecurityLevel, V3Message,
    V3SecurityModel,
};
use async_snmp::pdu::{Pdu, PduType, ResponsePdu};
use async_snmp::v3::auth::verify_message;
use async_snmp::v3::{
    AuthProtocol, LocalizedKey, PrivKey, PrivProtocol, UsmSecurityParams, report_oids,
};
use async_snmp::{DecodeConfig, MessageSize, Oid, Value, VarBind};
use bytes::Bytes;
use camward_config::snmp::{SnmpAuth, SnmpPrivacy, SnmpUser};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

/// RFC 3414 §3.2 step 7: messages more than this far from the engine's clock are refused.
pub const TIME_WINDOW: u32 = 150;
/// Authenticated messages remembered for replay refusal (one time window's worth at most).
const REPLAY_CAPACITY: usize = 4096;
/// The largest message this engine accepts and sends (one UDP datagram).
pub const MAX_MESSAGE: usize = 65_507;

/// A user's keys, localized to this engine (RFC 3414 §2.6).
pub struct UserKeys {
    pub name: Bytes,
    pub auth: LocalizedKey,
    pub privacy: PrivKey,
}

impl std::fmt::Debug for UserKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys never reach a log.
        f.debug_struct("UserKeys")
            .field("name", &self.name)
            .field("auth", &self.auth.protocol())
            .field("privacy", &self.privacy.protocol())
            .finish()
    }
}

pub fn auth_protocol(a: SnmpAuth) -> AuthProtocol {
    match a {
        SnmpAuth::Md5 => AuthProtocol::Md5,
        SnmpAuth::Sha1 => AuthProtocol::Sha1,
        SnmpAuth::Sha224 => AuthProtocol::Sha224,
        SnmpAuth::Sha256 => AuthProtocol::Sha256,
        SnmpAuth::Sha384 => AuthProtocol::Sha384,
        SnmpAuth::Sha512 => AuthProtocol::Sha512,
    }
}

pub fn priv_protocol(p: SnmpPrivacy) -> PrivProtocol {
    match p {
        SnmpPrivacy::Des => PrivProtocol::Des,
        SnmpPrivacy::Aes128 => PrivProtocol::Aes128,
        // net-snmp extends short keys the Blumenthal way (draft-blumenthal-aes-usm-04).
        SnmpPrivacy::Aes192 => PrivProtocol::Aes192Blumenthal,
        SnmpPrivacy::Aes256 => PrivProtocol::Aes256Blumenthal,
    }
}

impl UserKeys {
    /// Password-to-key (1 MB of hashing per password) and localization to `engine_id`.
    pub fn localize(user: &SnmpUser, engine_id: &[u8]) -> Result<UserKeys, String> {
        let auth_pw = user
            .auth_password
            .expose()
            .ok_or_else(|| format!("user {:?} has no password", user.name))?;
        let priv_pw = user.privacy_password().unwrap_or(auth_pw);
        let ap = auth_protocol(user.auth);
        let auth = LocalizedKey::from_str_password(ap, auth_pw, engine_id)
            .map_err(|e| format!("user {:?}: authentication key: {e}", user.name))?;
        let privacy = PrivKey::from_password(
            ap,
            priv_protocol(user.privacy),
            priv_pw.as_bytes(),
            engine_id,
        )
        .map_err(|e| format!("user {:?}: privacy key: {e}", user.name))?;
        Ok(UserKeys {
            name: Bytes::copy_from_slice(user.name.as_bytes()),
            auth,
            privacy,
        })
    }
}

/// The users of the current settings, with their keys localized to the engine.
pub struct Usm {
    pub engine: Arc<Engine>,
    users: HashMap<Bytes, Arc<UserKeys>>,
}

/// MACs of accepted messages, oldest first: the time window alone lets a captured request be
/// replayed for 150 s; remembering what was accepted closes that.
#[derive(Default)]
pub(crate) struct Replay {
    seen: HashMap<Vec<u8>, Instant>,
    order: VecDeque<(Instant, Vec<u8>)>,
}

impl Replay {
    /// Records `mac`; false when it was already accepted within the window.
    pub(crate) fn first_use(&mut self, mac: &[u8], now: Instant) -> bool {
        let window = Duration::from_secs(2 * TIME_WINDOW as u64);
        while let Some((t, _)) = self.order.front() {
            if now.duration_since(*t) <= window && self.order.len() < REPLAY_CAPACITY {
                break;
            }
            let (_, m) = self.order.pop_front().expect("front exists");
            self.seen.remove(&m);
        }
        if self.seen.contains_key(mac) {
            return false;
        }
        self.seen.insert(mac.to_vec(), now);
        self.order.push_back((now, mac.to_vec()));
        true
    }
}

/// What an incoming SNMPv3 message turned out to be.
pub enum Inbound {
    /// An authenticated (and, at authPriv, decrypted) request for the agent to answer.
    Request(V3Request),
    /// Answer with this Report PDU (already encoded).
    Report(Bytes),
    /// Say nothing.
    Drop(&'static str),
}

pub struct V3Request {
    pub msg_id: i32,
    pub max_size: usize,
    pub level: SecurityLevel,
    pub user: Arc<UserKeys>,
    pub scoped: ScopedPdu,
}

impl Usm {
    pub fn new(engine: Arc<Engine>, users: &[SnmpUser]) -> Result<Usm, String> {
        let mut map = HashMap::new();
        for u in users {
            let k = UserKeys::localize(u, engine.id())?;
            map.insert(k.name.clone(), Arc::new(k));
        }
        Ok(Usm { engine, users: map })
    }

    pub fn user(&self, name: &[u8]) -> Option<Arc<UserKeys>> {
        self.users.get(name).cloned()
    }

    fn counters(&self) -> &Counters {
        &self.engine.counters
    }

    /// RFC 3414 §3.2, the authoritative side.
    pub fn process(&self, data: Bytes) -> Inbound {
        let c = self.counters();
        let raw = match RawV3Message::decode(data.clone(), DecodeConfig::DEFAULT) {
            Ok(r) => r.value,
            Err(_) => {
                Counters::bump(&c.parse_errors);
                return Inbound::Drop("malformed SNMPv3 message");
            }
        };
        let global = raw.global_data();
        if global.msg_security_model() != V3SecurityModel::Usm {
            Counters::bump(&c.unknown_security_models);
            return Inbound::Drop("not USM");
        }
        let msg_id = global.msg_id();
        let level = raw.security_level();
        let reportable = global.msg_flags().reportable;
        let max_size = global.msg_max_size().as_usize().min(MAX_MESSAGE);
        let usm =
            match UsmSecurityParams::decode(raw.security_params().clone(), DecodeConfig::DEFAULT) {
                Ok(u) => u.value,
                Err(_) => {
                    Counters::bump(&c.parse_errors);
                    return Inbound::Drop("malformed USM parameters");
                }
            };
        // The request-id of a plaintext scoped PDU, so that reports echo it (RFC 3412 §7.1 3b).
        let plain_request_id = || match raw.msg_data() {
            RawMsgData::Plaintext { data, .. } => decode_scoped(data.clone())
                .map(|s| s.pdu.request_id())
                .unwrap_or(0),
            RawMsgData::Encrypted(_) => 0,
        };
        let report = |counter: &AtomicU32, oid: Oid, user: Option<&UserKeys>| -> Inbound {
            let n = Counters::bump(counter);
            if !reportable {
                return Inbound::Drop("unreportable USM failure");
            }
            match self.encode_report(msg_id, max_size, plain_request_id(), oid, n, user) {
                Ok(b) => Inbound::Report(b),
                Err(_) => Inbound::Drop("report not encodable"),
            }
        };
        // Step 3: an unknown engine, or discovery (RFC 3414 §4).
        if usm.engine_id().as_ref() != self.engine.id() {
            return report(
                &c.unknown_engine_ids,
                report_oids::unknown_engine_ids(),
                None,
            );
        }
        // Step 3b: an unknown user.
        let Some(user) = self.user(usm.username()) else {
            return report(
                &c.unknown_user_names,
                report_oids::unknown_user_names(),
                None,
            );
        };
        if !level.requires_auth() {
            // Every camward user has authentication and privacy keys, so USM accepts the level;
            // the access control (minimum level) refuses it, as VACM does.
            return match raw.msg_data() {
                RawMsgData::Plaintext { data, .. } => match decode_scoped(data.clone()) {
                    Some(scoped) => Inbound::Request(V3Request {
                        msg_id,
                        max_size,
                        level,
                        user,
                        scoped,
                    }),
                    None => {
                        Counters::bump(&c.parse_errors);
                        Inbound::Drop("malformed scoped PDU")
                    }
                },
                RawMsgData::Encrypted(_) => Inbound::Drop("encrypted without authentication"),
            };
        }
        // Step 6: the digest, over the whole message with the MAC field zeroed.
        let auth_ok = usm.auth_params().len() == user.auth.mac_len()
            && UsmSecurityParams::find_auth_params_offset(&data).is_some_and(|(off, len)| {
                verify_message(&user.auth, &data, off, len).unwrap_or(false)
            });
        if !auth_ok {
            return report(&c.wrong_digests, report_oids::wrong_digests(), None);
        }
        // Step 7: the time window. Reported authenticated, so the manager can trust the clock
        // it learns from it.
        let boots = self.engine.boots();
        let now = self.engine.time();
        if usm.engine_boots() != boots
            || boots >= crate::engine::MAX_BOOTS
            || usm.engine_time().abs_diff(now) > TIME_WINDOW
        {
            return report(
                &c.not_in_time_windows,
                report_oids::not_in_time_windows(),
                Some(&user),
            );
        }
        {
            let mut r = self.engine.replay.lock().unwrap_or_else(|p| p.into_inner());
            if !r.first_use(usm.auth_params(), Instant::now()) {
                Counters::bump(&c.replays);
                return Inbound::Drop("replayed message");
            }
        }
        // Step 8: privacy.
        let scoped = match raw.msg_data() {
            RawMsgData::Encrypted(ct) => {
                let plain = user.privacy.decrypt(
                    ct,
                    usm.engine_boots(),
                    usm.engine_time(),
                    usm.priv_params(),
                );
                match plain.ok().and_then(decode_scoped) {
                    Some(s) => s,
                    None => {
                        return report(
                            &c.decryption_errors,
                            report_oids::decryption_errors(),
                            None,
                        );
                    }
                }
            }
            RawMsgData::Plaintext { data, .. } => match decode_scoped(data.clone()) {
                Some(s) => s,
                None => {
                    Counters::bump(&c.parse_errors);
                    return Inbound::Drop("malformed scoped PDU");
                }
            },
        };
        Inbound::Request(V3Request {
            msg_id,
            max_size,
            level,
            user,
            scoped,
        })
    }

    fn encode_report(
        &self,
        msg_id: i32,
        max_size: usize,
        request_id: i32,
        oid: Oid,
        count: u32,
        user: Option<&UserKeys>,
    ) -> Result<Bytes, String> {
        let pdu = ResponsePdu::report(request_id, vec![VarBind::new(oid, Value::Counter32(count))])
            .map_err(|e| e.to_string())?;
        let scoped = ScopedPdu::new(Bytes::copy_from_slice(self.engine.id()), Bytes::new(), pdu);
        let level = if user.is_some() {
            SecurityLevel::AuthNoPriv
        } else {
            SecurityLevel::NoAuthNoPriv
        };
        self.encode(msg_id, max_size, level, user, scoped, false)
    }

    /// Encodes a message from this (authoritative) engine: responses, reports and traps.
    pub fn encode(
        &self,
        msg_id: i32,
        _max_size: usize,
        level: SecurityLevel,
        user: Option<&UserKeys>,
        scoped: ScopedPdu,
        reportable: bool,
    ) -> Result<Bytes, String> {
        let e = |e: Box<async_snmp::Error>| e.to_string();
        let global = MsgGlobalData::new(
            msg_id,
            MessageSize::new(MAX_MESSAGE).map_err(|e| e.to_string())?,
            MsgFlags::new(level, reportable),
        )
        .map_err(e)?;
        let name = user.map(|u| u.name.clone()).unwrap_or_default();
        let boots = self.engine.boots();
        let time = self.engine.time();
        let mut params =
            UsmSecurityParams::new(Bytes::copy_from_slice(self.engine.id()), boots, time, name)
                .map_err(e)?;
        let msg = match (level, user) {
            (SecurityLevel::NoAuthNoPriv, _) => {
                V3Message::new(global, params.encode().map_err(e)?, scoped).map_err(e)?
            }
            (SecurityLevel::AuthNoPriv, Some(u)) => {
                params = params.with_auth_placeholder(u.auth.mac_len()).map_err(e)?;
                V3Message::new(global, params.encode().map_err(e)?, scoped).map_err(e)?
            }
            (SecurityLevel::AuthPriv, Some(u)) => {
                let plain = scoped.encode_to_bytes().map_err(e)?;
                let (ct, salt) = match u.privacy.protocol() {
                    PrivProtocol::Des | PrivProtocol::Des3 => {
                        u.privacy.encrypt_des_family(&plain, &self.engine.des_salt)
                    }
                    _ => u
                        .privacy
                        .encrypt_aes(&plain, boots, time, &self.engine.aes_salt),
                }
                .map_err(|e| e.to_string())?;
                params = params
                    .with_auth_placeholder(u.auth.mac_len())
                    .map_err(e)?
                    .with_priv_params(salt)
                    .map_err(e)?;
                V3Message::new_with_opaque_encrypted_scoped_pdu(
                    global,
                    params.encode().map_err(e)?,
                    ct,
                )
                .map_err(e)?
            }
            _ => return Err("an authenticated message needs a user".into()),
        };
        let mut bytes = msg.encode().map_err(e)?.to_vec();
        if let Some(u) = user.filter(|_| level.requires_auth()) {
            let (off, len) = UsmSecurityParams::find_auth_params_offset(&bytes)
                .ok_or("no authentication parameters in the encoded message")?;
            async_snmp::v3::auth::authenticate_message(&u.auth, &mut bytes, off, len)
                .map_err(|e| e.to_string())?;
        }
        Ok(Bytes::from(bytes))
    }
}

pub fn decode_scoped(data: Bytes) -> Option<ScopedPdu> {
    let mut d = Decoder::new(data).with_decode_config(DecodeConfig::DEFAULT);
    // Bytes after the scoped PDU are DES-CBC padding (RFC 3414 §8.1.1.2), ignored by definition.
    let s = ScopedPdu::decode(&mut d).ok()?;
    // Only the request PDUs a manager sends are processed; anything else is not for an agent.
    matches!(
        s.pdu.pdu_type(),
        PduType::GetRequest
            | PduType::GetNextRequest
            | PduType::GetBulkRequest
            | PduType::SetRequest
            | PduType::Response
            | PduType::Report
    )
    .then_some(s)
}

/// The PDU's type and request id, for logs.
pub fn describe(p: &Pdu) -> String {
    format!("{:?} #{}", p.pdu_type(), p.request_id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_snmp::v3::MasterKey;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 3414 appendix A.3.1/A.3.2: password "maplesyrup", engine ID 000000000000000000000002.
    #[test]
    fn key_localization_matches_rfc3414_a3() {
        let engine = hex("000000000000000000000002");
        let md5 =
            LocalizedKey::from_str_password(AuthProtocol::Md5, "maplesyrup", &engine).unwrap();
        assert_eq!(md5.as_bytes(), hex("526f5eed9fcce26f8964c2930787d82b"));
        let sha =
            LocalizedKey::from_str_password(AuthProtocol::Sha1, "maplesyrup", &engine).unwrap();
        assert_eq!(
            sha.as_bytes(),
            hex("6695febc9288e36282235fc7151f128497b38f3f")
        );
        let master = MasterKey::from_str_password(AuthProtocol::Md5, "maplesyrup").unwrap();
        assert_eq!(master.as_bytes(), hex("9faf3283884e92834ebc9847d8edd963"));
    }

    /// RFC 7860 prints no localized keys. These come from an independent implementation of RFC
    /// 3414 A.2's password-to-key and §2.6 localization with the SHA-2 hashes (RFC 7860 §9.3): a
    /// dozen lines of Python hashlib, which also reproduces the MD5 and SHA-1 vectors above. MAC
    /// lengths are RFC 7860 §4.1's.
    #[test]
    fn sha2_keys_match_an_independent_implementation_and_rfc7860_mac_lengths() {
        let engine = hex("000000000000000000000002");
        for (p, mac) in [
            (AuthProtocol::Sha224, 16),
            (AuthProtocol::Sha256, 24),
            (AuthProtocol::Sha384, 32),
            (AuthProtocol::Sha512, 48),
        ] {
            let k = LocalizedKey::from_str_password(p, "maplesyrup", &engine).unwrap();
            assert_eq!(k.mac_len(), mac, "{p}");
        }
        let k = |p| LocalizedKey::from_str_password(p, "maplesyrup", &engine).unwrap();
        assert_eq!(
            k(AuthProtocol::Sha256).as_bytes(),
            hex("8982e0e549e866db361a6b625d84cccc11162d453ee8ce3a6445c2d6776f0f8b")
        );
        assert_eq!(
            k(AuthProtocol::Sha512).as_bytes(),
            hex(
                "22a5a36cedfcc085807a128d7bc6c2382167ad6c0dbc5fdff856740f3d84c099\
                 ad1ea87a8db096714d9788bd544047c9021e4229ce27e4c0a69250adfcffbb0b"
            )
        );
    }

    /// The fuzz target's property as a quick unit test: an authPriv request the engine's own keys
    /// made is accepted once (then refused as a replay), and no single-byte change of it, nor any
    /// truncation, ever comes out as an authenticated request or panics.
    #[test]
    fn altered_messages_never_authenticate_and_never_panic() {
        use async_snmp::Version;
        use async_snmp::pdu::RequestPdu;
        let engine = Arc::new(Engine::ephemeral(vec![0x80, 0, 0x7e, 0xd9, 5, 9, 9, 9], 2));
        for (auth, privacy) in [
            (SnmpAuth::Sha256, SnmpPrivacy::Aes128),
            (SnmpAuth::Md5, SnmpPrivacy::Des),
        ] {
            let user = SnmpUser {
                name: "ops".into(),
                auth,
                privacy,
                auth_password: camward_config::Secret::new("auth-pass-1"),
                ..SnmpUser::default()
            };
            let usm = Usm::new(engine.clone(), &[user]).unwrap();
            let keys = usm.user(b"ops").unwrap();
            let req =
                RequestPdu::get(Version::V3, 7, &[Oid::from_slice(crate::mib::SYS_NAME)]).unwrap();
            let scoped = ScopedPdu::new(Bytes::copy_from_slice(engine.id()), Bytes::new(), req);
            let msg = usm
                .encode(
                    1,
                    MAX_MESSAGE,
                    SecurityLevel::AuthPriv,
                    Some(&keys),
                    scoped,
                    true,
                )
                .unwrap();
            let mut rng = 0x9e37_79b9_7f4a_7c15u64;
            let mut next = || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            for i in 0..600 {
                let mut m = msg.to_vec();
                if i % 10 == 9 {
                    m.truncate(next() as usize % m.len());
                } else {
                    let at = next() as usize % m.len();
                    m[at] ^= (next() as u8) | 1;
                }
                if let Inbound::Request(r) = usm.process(Bytes::from(m)) {
                    assert!(
                        !r.level.requires_auth(),
                        "altered message authenticated (try {i})"
                    );
                }
            }
            assert!(
                matches!(usm.process(msg.clone()), Inbound::Request(_)),
                "{auth:?}"
            );
            assert!(matches!(
                usm.process(msg),
                Inbound::Drop("replayed message")
            ));
        }
    }

    #[test]
    fn replay_memory_refuses_a_second_use_and_is_bounded() {
        let mut r = Replay::default();
        let t = Instant::now();
        assert!(r.first_use(b"mac-1", t));
        assert!(!r.first_use(b"mac-1", t));
        for i in 0..(REPLAY_CAPACITY + 10) {
            r.first_use(format!("m{i}").as_bytes(), t);
        }
        assert!(r.seen.len() <= REPLAY_CAPACITY);
        assert_eq!(r.seen.len(), r.order.len());
    }
}
