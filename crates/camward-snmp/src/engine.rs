//! The local SNMP engine (RFC 3411 §3.1.1, RFC 3414 §2.2): a stable snmpEngineID made once and
//! kept in the data directory, snmpEngineBoots incremented and written before the engine answers
//! anything, snmpEngineTime counted from then, and the USM/MPD counters of this boot (paper §4.7:
//! SNMPv3 protects against replay through this clock).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::usm::Replay;
use async_snmp::v3::{DesSaltState, PersistedDesSaltState, SaltCounter};

/// The IANA enterprise number reserved for documentation (RFC 5612). camward uses it until a real
/// Private Enterprise Number is registered; the MIB and the engine ID say so (docs/snmp.md).
pub const ENTERPRISE: u32 = 32473;
/// File in the data directory holding the engine ID and the boots counter.
pub const STATE_FILE: &str = "snmp-engine.json";
/// RFC 3414 §2.2.3: snmpEngineBoots stops here; an engine that reaches it must be re-keyed.
pub const MAX_BOOTS: u32 = i32::MAX as u32;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a camward SNMP engine state file: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "snmpEngineBoots reached its maximum ({MAX_BOOTS}): delete {path} and re-key the managers"
    )]
    Exhausted { path: PathBuf },
    #[error("no random source: {0}")]
    Random(String),
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    /// Hex of the engine ID.
    engine_id: String,
    boots: u32,
}

/// RFC 3414 §3.2 and RFC 3412 §4.1 counters, for the `usmStats` group and `snmpEngine` MIB.
#[derive(Debug, Default)]
pub struct Counters {
    pub unsupported_sec_levels: AtomicU32,
    pub not_in_time_windows: AtomicU32,
    pub unknown_user_names: AtomicU32,
    pub unknown_engine_ids: AtomicU32,
    pub wrong_digests: AtomicU32,
    pub decryption_errors: AtomicU32,
    /// snmpInASNParseErrs: datagrams that are not SNMP messages.
    pub parse_errors: AtomicU32,
    /// snmpUnknownSecurityModels.
    pub unknown_security_models: AtomicU32,
    /// snmpInBadCommunityNames.
    pub bad_community_names: AtomicU32,
    /// Authenticated messages seen twice within the time window (dropped).
    pub replays: AtomicU32,
    /// Datagrams dropped by the host filter before decoding.
    pub filtered: AtomicU32,
    /// Notifications that left for a destination: traps sent, informs acknowledged
    /// (camwardNotificationsSent).
    pub notifications_sent: AtomicU32,
    /// Informs (v2c or v3) that no receiver acknowledged after every try, or that could not be
    /// sent at all (camwardInformsUnacknowledged): a receiver that is down or refuses our user.
    pub informs_unacknowledged: AtomicU32,
}

impl Counters {
    pub fn bump(c: &AtomicU32) -> u32 {
        c.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
    }
    pub fn get(c: &AtomicU32) -> u32 {
        c.load(Ordering::Relaxed)
    }
}

/// This boot of the local engine. One per daemon run; the agent's socket and users may come and
/// go (settings change) without a new boot, and the privacy salts and replay memory stay with
/// the boot so that no salt is used twice within it.
pub struct Engine {
    id: Vec<u8>,
    boots: u32,
    started: Instant,
    pub counters: Counters,
    pub(crate) aes_salt: SaltCounter,
    pub(crate) des_salt: DesSaltState,
    pub(crate) replay: Mutex<Replay>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("id", &to_hex(&self.id))
            .field("boots", &self.boots)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Reads `dir/snmp-engine.json` (making a new engine ID on first use), increments the boots
    /// counter and writes it back durably before returning, so no two boots share a value.
    pub fn start(dir: &Path) -> Result<Engine, EngineError> {
        let path = dir.join(STATE_FILE);
        let (id, boots) = match std::fs::read(&path) {
            Ok(bytes) => {
                let corrupt = |reason: String| EngineError::Corrupt {
                    path: path.clone(),
                    reason,
                };
                let s: Stored =
                    serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
                let id = from_hex(&s.engine_id).ok_or_else(|| corrupt("engine_id".into()))?;
                if !(5..=32).contains(&id.len()) {
                    return Err(corrupt("engine_id must be 5–32 bytes".into()));
                }
                if s.boots >= MAX_BOOTS {
                    return Err(EngineError::Exhausted { path });
                }
                (id, s.boots + 1)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (new_engine_id()?, 1),
            Err(source) => return Err(EngineError::Read { path, source }),
        };
        write_state(&path, &id, boots)?;
        Engine::with_state(id, boots)
    }

    /// An engine that is never written (tests, the fuzz target).
    pub fn ephemeral(id: Vec<u8>, boots: u32) -> Engine {
        Engine::with_state(id, boots).expect("random source for the privacy salt")
    }

    fn with_state(id: Vec<u8>, boots: u32) -> Result<Engine, EngineError> {
        let random = |e: String| EngineError::Random(e);
        // DES salts start with this boot's counter (RFC 3414 §8.1.1.1); the boots value was just
        // written durably, so the DES state needs no store of its own.
        let des_salt = match boots {
            0 | 1 => DesSaltState::install(|_| Ok::<(), std::io::Error>(())),
            b => DesSaltState::restart(
                PersistedDesSaltState::new(b - 1).map_err(|e| random(e.to_string()))?,
                |_| Ok::<(), std::io::Error>(()),
            ),
        }
        .map_err(|e| random(e.to_string()))?;
        Ok(Engine {
            id,
            boots,
            started: Instant::now(),
            counters: Counters::default(),
            aes_salt: SaltCounter::new().map_err(|e| random(e.to_string()))?,
            des_salt,
            replay: Mutex::new(Replay::default()),
        })
    }

    pub fn id(&self) -> &[u8] {
        &self.id
    }

    pub fn boots(&self) -> u32 {
        self.boots
    }

    /// snmpEngineTime: seconds since this boot.
    pub fn time(&self) -> u32 {
        self.started.elapsed().as_secs().min(MAX_BOOTS as u64) as u32
    }

    /// sysUpTime in hundredths of a second (wraps like TimeTicks).
    pub fn uptime_ticks(&self) -> u32 {
        (self.started.elapsed().as_millis() / 10) as u32
    }
}

/// RFC 3411 SnmpEngineID: the enterprise number with the high bit set, format 5 (octets chosen by
/// the enterprise), then 12 random bytes: unique without depending on a MAC address.
fn new_engine_id() -> Result<Vec<u8>, EngineError> {
    let mut id = (ENTERPRISE | 0x8000_0000).to_be_bytes().to_vec();
    id.push(5);
    let mut random = [0u8; 12];
    getrandom::fill(&mut random).map_err(|e| EngineError::Random(e.to_string()))?;
    id.extend_from_slice(&random);
    Ok(id)
}

fn write_state(path: &Path, id: &[u8], boots: u32) -> Result<(), EngineError> {
    let err = |source| EngineError::Write {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec(&Stored {
        engine_id: to_hex(id),
        boots,
    })
    .expect("state serialises");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(err)?;
        f.write_all(&body).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)?;
    // The rename itself must be durable, or a power cut could bring back the old boots value.
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_id_is_stable_and_boots_increase_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let a = Engine::start(dir.path()).unwrap();
        assert_eq!(a.boots(), 1);
        assert_eq!(&a.id()[..5], &[0x80, 0x00, 0x7e, 0xd9, 5]);
        assert_eq!(a.id().len(), 17);
        let b = Engine::start(dir.path()).unwrap();
        assert_eq!(b.id(), a.id());
        assert_eq!(b.boots(), 2);
    }

    #[test]
    fn a_corrupt_state_file_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(STATE_FILE),
            b"{\"engine_id\":\"zz\",\"boots\":1}",
        )
        .unwrap();
        assert!(matches!(
            Engine::start(dir.path()),
            Err(EngineError::Corrupt { .. })
        ));
    }

    #[test]
    fn boots_stop_at_the_rfc_maximum() {
        let dir = tempfile::tempdir().unwrap();
        write_state(
            &dir.path().join(STATE_FILE),
            &[0x80, 0, 0x7e, 0xd9, 5, 1],
            MAX_BOOTS,
        )
        .unwrap();
        assert!(matches!(
            Engine::start(dir.path()),
            Err(EngineError::Exhausted { .. })
        ));
    }
}
