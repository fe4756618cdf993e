//! A/B slots in the data directory, the boot state the launcher and the daemon share, and the
//! install that writes a verified bundle into the inactive slot (paper §3.11: an update is
//! installed beside the running version, so a bad one rolls back by itself).
//!
//! ```text
//! DATA/firmware/
//!   state.json        the boot state (below); replaced atomically (write, fsync, rename, fsync dir)
//!   state.lock        flock held while state.json or the journal is changed
//!   install.lock      flock held by the one install in progress
//!   journal.jsonl     launcher events not yet copied into the audit log
//!   slots/a/, slots/b/  one complete version each: its payloads and `bundle-head.cfw`
//!   staging/          the bundle being installed (never booted)
//!   keys/*.pub        owner keys, installed from the console only
//!   class.key         the device-class X25519 identity that opens encrypted bundles (0600)
//! ```
//!
//! Crash safety: a slot is bootable only when `state.json` lists it AND its files verify against
//! its signed head (checked before every boot). An install marks the target slot empty in
//! `state.json` before touching it and lists it again only after its files and directory are
//! fsynced, so a kill -9 at any moment leaves the running version's slot as it was and at most an
//! unlisted, half-written inactive slot.

use crate::bundle::{self, DirSink, Policy, Progress, Verified};
use crate::error::{Error, Result};
use crate::keys::TrustStore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub const DIR: &str = "firmware";
/// The signed head of the bundle a slot was installed from.
pub const MANIFEST_FILE: &str = "bundle-head.cfw";
const STATE_FORMAT: u32 = 1;

/// Which version boots: the binary the launcher itself is (`base`, what the distribution
/// installed), or one of the two slots.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    #[default]
    Base,
    A,
    B,
}

impl Slot {
    pub fn name(self) -> &'static str {
        match self {
            Slot::Base => "base",
            Slot::A => "a",
            Slot::B => "b",
        }
    }
    pub fn parse(s: &str) -> Option<Slot> {
        match s {
            "base" => Some(Slot::Base),
            "a" => Some(Slot::A),
            "b" => Some(Slot::B),
            _ => None,
        }
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Paths under `DATA/firmware`.
#[derive(Clone, Debug)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(data_dir: &Path) -> Self {
        Layout {
            root: data_dir.join(DIR),
        }
    }
    pub fn state(&self) -> PathBuf {
        self.root.join("state.json")
    }
    fn state_lock(&self) -> PathBuf {
        self.root.join("state.lock")
    }
    fn install_lock(&self) -> PathBuf {
        self.root.join("install.lock")
    }
    pub fn journal(&self) -> PathBuf {
        self.root.join("journal.jsonl")
    }
    pub fn slots(&self) -> PathBuf {
        self.root.join("slots")
    }
    pub fn slot(&self, s: Slot) -> PathBuf {
        self.slots().join(s.name())
    }
    pub fn staging(&self) -> PathBuf {
        self.root.join("staging")
    }
    fn trash(&self) -> PathBuf {
        self.root.join("trash")
    }
    pub fn keys(&self) -> PathBuf {
        self.root.join("keys")
    }
    pub fn class_key(&self) -> PathBuf {
        self.root.join("class.key")
    }

    /// Creates `firmware/` and `firmware/slots/` (0700).
    pub fn ensure(&self) -> Result<()> {
        for d in [&self.root, &self.slots()] {
            make_dir(d)?;
        }
        Ok(())
    }
}

pub(crate) fn make_dir(d: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(d).map_err(|e| Error::io("cannot create", d, e))
}

/// What is installed in a slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlotInfo {
    pub version: String,
    pub security_version: u32,
    pub bundle_id: String,
    /// Key id of the signature that was trusted.
    pub signer: String,
    pub installed_at_ms: i64,
    /// Why the slot's trial failed; a failed slot is never booted again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// The rotation the manifest asks for, applied when the slot is committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retire_keys: Vec<String>,
}

/// A freshly installed slot being booted until it reports healthy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub slot: Slot,
    /// Boot attempts started so far.
    pub attempts: u32,
    pub since_ms: i64,
}

/// The last trial that failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub slot: Slot,
    pub version: String,
    pub reason: String,
    pub at_ms: i64,
    /// The slot booted instead.
    pub fell_back_to: Slot,
}

/// `state.json`. Unknown fields (written by a newer version) are kept on rewrite.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    #[serde(default = "state_format")]
    pub format: u32,
    /// Anti-rollback floor: bundles with a lower security version are refused. Raised when a
    /// version boots healthy, never on install alone.
    #[serde(default)]
    pub floor: u32,
    /// The last version that booted healthy (booted whenever no trial is pending).
    #[serde(default)]
    pub active: Slot,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<Trial>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<SlotInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<SlotInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rotated_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<Failure>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

fn state_format() -> u32 {
    STATE_FORMAT
}

impl Default for State {
    fn default() -> Self {
        State {
            format: STATE_FORMAT,
            floor: 0,
            active: Slot::Base,
            trial: None,
            a: None,
            b: None,
            rotated_keys: Vec::new(),
            retired_keys: Vec::new(),
            last_failure: None,
            extra: Default::default(),
        }
    }
}

impl State {
    pub fn slot(&self, s: Slot) -> Option<&SlotInfo> {
        match s {
            Slot::Base => None,
            Slot::A => self.a.as_ref(),
            Slot::B => self.b.as_ref(),
        }
    }

    fn slot_mut(&mut self, s: Slot) -> Option<&mut SlotInfo> {
        match s {
            Slot::Base => None,
            Slot::A => self.a.as_mut(),
            Slot::B => self.b.as_mut(),
        }
    }

    pub fn set_slot(&mut self, s: Slot, info: Option<SlotInfo>) {
        match s {
            Slot::Base => {}
            Slot::A => self.a = info,
            Slot::B => self.b = info,
        }
    }

    /// What the launcher boots next: the trial if one is pending, else the last good version.
    pub fn boot_target(&self) -> Slot {
        self.trial.as_ref().map_or(self.active, |t| t.slot)
    }

    /// The slot an install writes: never the active one (the fallback of the new version).
    pub fn install_target(&self) -> Slot {
        match self.active {
            Slot::A => Slot::B,
            Slot::B | Slot::Base => Slot::A,
        }
    }

    pub fn trust(&self, layout: &Layout) -> Result<TrustStore> {
        TrustStore::load(&layout.keys(), &self.rotated_keys, &self.retired_keys)
    }

    /// `slot` booted healthy with security version `sv`: it becomes the active version, the floor
    /// rises to its security version, and a rotation it carries takes effect. Returns whether a
    /// trial ended.
    pub fn commit(&mut self, slot: Slot, sv: u32) -> bool {
        let was_trial = self.trial.as_ref().is_some_and(|t| t.slot == slot);
        if was_trial {
            self.trial = None;
            self.active = slot;
        }
        self.floor = self.floor.max(sv);
        if let Some(info) = self.slot(slot).cloned() {
            if let Some(k) = info.next_key
                && !self.rotated_keys.contains(&k)
            {
                self.rotated_keys.push(k);
            }
            for r in info.retire_keys {
                if !self.retired_keys.contains(&r) {
                    self.retired_keys.push(r);
                }
            }
        }
        was_trial
    }

    /// The trial failed: the slot is marked failed and the last good version boots again.
    pub fn rollback(&mut self, reason: &str, now_ms: i64) -> Option<Failure> {
        let t = self.trial.take()?;
        let version = self
            .slot(t.slot)
            .map(|i| i.version.clone())
            .unwrap_or_default();
        if let Some(info) = self.slot_mut(t.slot) {
            info.failed = Some(reason.to_owned());
        }
        let f = Failure {
            slot: t.slot,
            version,
            reason: reason.to_owned(),
            at_ms: now_ms,
            fell_back_to: self.active,
        };
        self.last_failure = Some(f.clone());
        Some(f)
    }
}

/// An exclusive `flock`, released on drop.
pub struct FileLock {
    _file: File,
}

fn open_lock(path: &Path) -> Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).map_err(|e| Error::io("cannot open", path, e))
}

fn lock(path: &Path) -> Result<FileLock> {
    let f = open_lock(path)?;
    f.lock().map_err(|e| Error::io("cannot lock", path, e))?;
    Ok(FileLock { _file: f })
}

fn try_lock(path: &Path) -> Result<Option<FileLock>> {
    let f = open_lock(path)?;
    match f.try_lock() {
        Ok(()) => Ok(Some(FileLock { _file: f })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("cannot lock", path, e)),
    }
}

/// Reads `state.json`; a missing file is the fresh-machine state (base, no slots).
pub fn load_state(layout: &Layout) -> Result<State> {
    let p = layout.state();
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Slot {
            slot: "state".into(),
            reason: format!("{} is not readable: {e}", p.display()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(Error::io("cannot read", &p, e)),
    }
}

/// Whether any firmware state exists (a fresh machine has none).
pub fn has_state(layout: &Layout) -> bool {
    layout.state().exists()
}

/// Changes `state.json` under the state lock: read, `f`, write atomically.
pub fn update_state<R>(layout: &Layout, f: impl FnOnce(&mut State) -> R) -> Result<R> {
    layout.ensure()?;
    let _l = lock(&layout.state_lock())?;
    let mut s = load_state(layout)?;
    let r = f(&mut s);
    let bytes = serde_json::to_vec_pretty(&s).expect("state serialises");
    write_atomic(&layout.state(), &bytes)?;
    Ok(r)
}

/// Write to `path.tmp`, fsync, rename over `path`, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o
        .open(&tmp)
        .map_err(|e| Error::io("cannot create", &tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io("cannot write", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io("cannot replace", path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("cannot sync the directory", dir, e))
}

/// One launcher event waiting for the daemon to copy it into the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub kind: String,
    pub at_ms: i64,
    pub detail: Value,
}

/// Appends an event to the journal (fsynced).
pub fn journal(layout: &Layout, kind: &str, detail: Value) -> Result<()> {
    layout.ensure()?;
    let _l = lock(&layout.state_lock())?;
    let p = layout.journal();
    let mut o = std::fs::OpenOptions::new();
    o.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(&p).map_err(|e| Error::io("cannot open", &p, e))?;
    let e = JournalEntry {
        kind: kind.into(),
        at_ms: now_ms(),
        detail,
    };
    let mut line = serde_json::to_vec(&e).expect("entry serialises");
    line.push(b'\n');
    f.write_all(&line)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io("cannot write", &p, e))
}

/// The journal's entries (a torn last line, from a crash mid-append, is skipped).
pub fn read_journal(layout: &Layout) -> Vec<JournalEntry> {
    std::fs::read_to_string(layout.journal())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Removes the first `n` entries (those copied into the audit log).
pub fn clear_journal(layout: &Layout, n: usize) -> Result<()> {
    let _l = lock(&layout.state_lock())?;
    let rest: Vec<String> = std::fs::read_to_string(layout.journal())
        .unwrap_or_default()
        .lines()
        .filter(|l| serde_json::from_str::<JournalEntry>(l).is_ok())
        .skip(n)
        .map(|l| format!("{l}\n"))
        .collect();
    if rest.is_empty() {
        match std::fs::remove_file(layout.journal()) {
            Ok(()) => sync_dir(&layout.root),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("cannot remove", &layout.journal(), e)),
        }
    } else {
        write_atomic(&layout.journal(), rest.concat().as_bytes())
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The version running the install.
#[derive(Clone, Debug)]
pub struct Running {
    pub slot: Slot,
    pub version: semver::Version,
    pub security_version: u32,
}

pub struct InstallContext<'a> {
    pub layout: &'a Layout,
    pub running: Running,
    /// The device-class key, when the device holds one.
    pub identity: Option<camward_cenc::Identity>,
    pub product: &'a str,
    pub now: OffsetDateTime,
}

/// A bundle installed into a slot, to be tried at the next boot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Installed {
    pub slot: Slot,
    pub version: String,
    pub security_version: u32,
    pub signer: String,
    pub bundle_id: String,
    pub encrypted: bool,
}

/// Verifies the bundle read from `r` in one pass and installs it into the inactive slot; the
/// launcher tries it at the next boot. Refusals leave every slot and `state.json` untouched.
pub fn install(
    ctx: &InstallContext<'_>,
    r: &mut impl Read,
    progress: Progress<'_>,
) -> Result<Installed> {
    let layout = ctx.layout;
    layout.ensure()?;
    let Some(_busy) = try_lock(&layout.install_lock())? else {
        return Err(Error::Busy(
            "another firmware install is in progress".into(),
        ));
    };
    let state = load_state(layout)?;
    if let Some(t) = &state.trial {
        return Err(Error::Busy(format!(
            "the update in slot {} is being tried: wait until it is confirmed or rolled back",
            t.slot
        )));
    }
    let target = state.install_target();
    let trust = state.trust(layout)?;
    // 1. The signature, before anything else of the bundle is looked at.
    let v = bundle::read_head(r)?.verify(&trust)?;
    // 2. What the device allows.
    let policy = Policy {
        product: ctx.product.to_owned(),
        now: ctx.now,
        floor: state.floor.max(ctx.running.security_version),
        running: ctx.running.version.clone(),
    };
    bundle::check_policy(&v.manifest, &policy)?;
    bundle::content_key(&v.manifest, ctx.identity.as_ref())?;
    // 3. Payloads, decrypted and hashed while they stream into staging (not a slot).
    let staging = layout.staging();
    remove_dir(&staging)?;
    make_dir(&staging)?;
    let extracted = bundle::extract(
        r,
        &v,
        ctx.identity.as_ref(),
        &mut DirSink::new(&staging),
        progress,
    )
    .and_then(|()| {
        crate::keys::write_new(&staging.join(MANIFEST_FILE), &v.head, 0o644)?;
        sync_dir(&staging)
    });
    if let Err(e) = extracted {
        let _ = remove_dir(&staging);
        return Err(e);
    }
    // 4. The switch: unlist the target, replace its files, list it again as the trial.
    let info = slot_info(&v, ctx.now);
    update_state(layout, |s| s.set_slot(target, None))?;
    replace_slot(layout, target, &staging)?;
    update_state(layout, |s| {
        s.set_slot(target, Some(info.clone()));
        s.trial = Some(Trial {
            slot: target,
            attempts: 0,
            since_ms: now_ms(),
        });
    })?;
    Ok(Installed {
        slot: target,
        version: info.version,
        security_version: info.security_version,
        signer: info.signer,
        bundle_id: info.bundle_id,
        encrypted: v.manifest.encryption.is_some(),
    })
}

fn slot_info(v: &Verified, now: OffsetDateTime) -> SlotInfo {
    SlotInfo {
        version: v.manifest.version.clone(),
        security_version: v.manifest.security_version,
        bundle_id: v.manifest.bundle_id.clone(),
        signer: v.signer.key.id().to_string(),
        installed_at_ms: (now.unix_timestamp_nanos() / 1_000_000) as i64,
        failed: None,
        next_key: v.manifest.next_key.clone(),
        retire_keys: v.manifest.retire_keys.clone(),
    }
}

fn remove_dir(d: &Path) -> Result<()> {
    match std::fs::remove_dir_all(d) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("cannot remove", d, e)),
    }
}

/// Puts the staged files into `slot`: one rename of the directory when the slot lives in the data
/// directory; file by file (copy, fsync) when a distribution mounted a partition there.
fn replace_slot(layout: &Layout, slot: Slot, staging: &Path) -> Result<()> {
    let dir = layout.slot(slot);
    let slots = layout.slots();
    let trash = layout.trash();
    remove_dir(&trash)?;
    let mounted = match std::fs::rename(&dir, &trash) {
        Ok(()) => false,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        // EBUSY (a mount point) or EXDEV: keep the directory, replace its contents.
        Err(_) => true,
    };
    if !mounted {
        std::fs::rename(staging, &dir)
            .map_err(|e| Error::io("cannot move the staged bundle to", &dir, e))?;
        sync_dir(&slots)?;
        sync_dir(&layout.root)?;
        return remove_dir(&trash);
    }
    for e in std::fs::read_dir(&dir).map_err(|e| Error::io("cannot list", &dir, e))? {
        let p = e.map_err(|e| Error::io("cannot list", &dir, e))?.path();
        if p.is_dir() {
            remove_dir(&p)?;
        } else {
            std::fs::remove_file(&p).map_err(|e| Error::io("cannot remove", &p, e))?;
        }
    }
    for e in std::fs::read_dir(staging).map_err(|e| Error::io("cannot list", staging, e))? {
        let src = e.map_err(|e| Error::io("cannot list", staging, e))?.path();
        let dst = dir.join(src.file_name().expect("a file"));
        std::fs::copy(&src, &dst).map_err(|e| Error::io("cannot copy to", &dst, e))?;
        File::open(&dst)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io("cannot sync", &dst, e))?;
    }
    sync_dir(&dir)?;
    remove_dir(staging)
}

/// Checks a slot before it boots: its head verifies against the trusted keys, and every payload
/// is present with the signed size and SHA-256 (a torn or altered slot never boots).
pub fn verify_slot(layout: &Layout, slot: Slot, trust: &TrustStore) -> Result<Verified> {
    let err = |reason: String| Error::Slot {
        slot: slot.name().into(),
        reason,
    };
    let dir = layout.slot(slot);
    let head_path = dir.join(MANIFEST_FILE);
    let mut head = Vec::new();
    File::open(&head_path)
        .and_then(|f| {
            f.take(bundle::MAX_MANIFEST as u64 + 4096)
                .read_to_end(&mut head)
        })
        .map_err(|e| err(format!("{}: {e}", head_path.display())))?;
    let v = bundle::parse_head_bytes(&head)
        .and_then(|sm| sm.verify(trust))
        .map_err(|e| err(e.to_string()))?;
    for p in &v.manifest.payloads {
        let path = dir.join(&p.name);
        let (size, sha) = bundle::hash_file(&path).map_err(|e| err(e.to_string()))?;
        if size != p.size || sha != p.sha256 {
            return Err(err(format!(
                "{} does not match its manifest (size {size}, SHA-256 {sha})",
                p.name
            )));
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{PackInput, PackOptions, pack};
    use crate::keys::SigningKey;

    struct Dev {
        data: tempfile::TempDir,
        key: SigningKey,
        layout: Layout,
    }

    fn dev() -> Dev {
        let data = tempfile::tempdir().unwrap();
        let layout = Layout::new(data.path());
        let key = SigningKey::generate().unwrap();
        layout.ensure().unwrap();
        make_dir(&layout.keys()).unwrap();
        std::fs::write(layout.keys().join("test.pub"), key.public().to_string()).unwrap();
        Dev { data, key, layout }
    }

    fn bundle(d: &Dev, version: &str, sv: u32) -> Vec<u8> {
        let bin = d.data.path().join(format!("payload-{version}"));
        std::fs::write(&bin, format!("#!/bin/sh\necho {version}\n")).unwrap();
        let now = OffsetDateTime::now_utc();
        let o = PackOptions {
            product: "camward".into(),
            version: version.into(),
            security_version: sv,
            min_version: None,
            created: now,
            expires: now + time::Duration::days(1),
            encrypt_to: vec![],
            chunk_size: 65536,
            retire_keys: vec![],
        };
        let mut out = Vec::new();
        let inputs = [PackInput {
            name: "camward".into(),
            path: bin,
            exec: true,
        }];
        pack(&d.key, None, &o, &inputs, &mut out, &mut |_| {}).unwrap();
        out
    }

    fn ctx(d: &Dev) -> InstallContext<'_> {
        InstallContext {
            layout: &d.layout,
            running: Running {
                slot: Slot::Base,
                version: semver::Version::new(0, 1, 0),
                security_version: 1,
            },
            identity: None,
            product: "camward",
            now: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn install_goes_to_the_inactive_slot_as_a_trial_and_commit_raises_the_floor() {
        let d = dev();
        let got = install(&ctx(&d), &mut &bundle(&d, "0.2.0", 2)[..], &mut |_| {}).unwrap();
        assert_eq!(got.slot, Slot::A);
        let s = load_state(&d.layout).unwrap();
        assert_eq!(s.boot_target(), Slot::A);
        assert_eq!(s.active, Slot::Base);
        assert_eq!(s.floor, 0, "the floor does not rise on install");
        verify_slot(&d.layout, Slot::A, &s.trust(&d.layout).unwrap()).unwrap();
        // A second install while the trial is pending is refused.
        let e = install(&ctx(&d), &mut &bundle(&d, "0.3.0", 3)[..], &mut |_| {}).unwrap_err();
        assert_eq!(e.rule(), "busy");
        update_state(&d.layout, |s| assert!(s.commit(Slot::A, 2))).unwrap();
        let s = load_state(&d.layout).unwrap();
        assert_eq!((s.active, s.floor, s.trial.clone()), (Slot::A, 2, None));
        assert_eq!(s.install_target(), Slot::B);
        let e = install(&ctx(&d), &mut &bundle(&d, "0.1.5", 1)[..], &mut |_| {}).unwrap_err();
        assert_eq!(e.rule(), "security_version.below_floor");
    }

    #[test]
    fn refused_bundle_leaves_slots_and_state_untouched() {
        let d = dev();
        install(&ctx(&d), &mut &bundle(&d, "0.2.0", 2)[..], &mut |_| {}).unwrap();
        update_state(&d.layout, |s| s.commit(Slot::A, 2)).unwrap();
        let before = std::fs::read(d.layout.state()).unwrap();
        let mut b = bundle(&d, "0.3.0", 3);
        let n = b.len();
        b[n - 3] ^= 1;
        let e = install(&ctx(&d), &mut &b[..], &mut |_| {}).unwrap_err();
        assert_eq!(e.rule(), "payload.altered");
        assert_eq!(std::fs::read(d.layout.state()).unwrap(), before);
        assert!(!d.layout.slot(Slot::B).exists());
        assert!(!d.layout.staging().exists());
    }

    #[test]
    fn rollback_marks_the_slot_failed_and_boots_the_last_good_version() {
        let d = dev();
        install(&ctx(&d), &mut &bundle(&d, "0.2.0", 2)[..], &mut |_| {}).unwrap();
        let f = update_state(&d.layout, |s| s.rollback("exited 3 times", 5))
            .unwrap()
            .unwrap();
        assert_eq!((f.slot, f.fell_back_to), (Slot::A, Slot::Base));
        let s = load_state(&d.layout).unwrap();
        assert_eq!(s.boot_target(), Slot::Base);
        assert_eq!(s.a.unwrap().failed.as_deref(), Some("exited 3 times"));
    }

    #[test]
    fn altered_slot_file_does_not_boot() {
        let d = dev();
        install(&ctx(&d), &mut &bundle(&d, "0.2.0", 2)[..], &mut |_| {}).unwrap();
        std::fs::write(d.layout.slot(Slot::A).join("camward"), "#!/bin/sh\nevil\n").unwrap();
        let t = load_state(&d.layout).unwrap().trust(&d.layout).unwrap();
        assert_eq!(
            verify_slot(&d.layout, Slot::A, &t).unwrap_err().rule(),
            "slot"
        );
    }

    #[test]
    fn journal_survives_a_torn_line_and_clears_what_was_copied() {
        let d = dev();
        journal(&d.layout, "firmware.boot", serde_json::json!({"slot": "a"})).unwrap();
        journal(&d.layout, "firmware.commit", serde_json::json!({})).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(d.layout.journal())
            .unwrap();
        f.write_all(b"{\"kind\":\"torn").unwrap();
        let e = read_journal(&d.layout);
        assert_eq!(e.len(), 2);
        clear_journal(&d.layout, 1).unwrap();
        assert_eq!(read_journal(&d.layout)[0].kind, "firmware.commit");
        clear_journal(&d.layout, 1).unwrap();
        assert!(read_journal(&d.layout).is_empty());
    }

    #[test]
    fn unknown_state_fields_survive_a_rewrite() {
        let d = dev();
        std::fs::write(
            d.layout.state(),
            br#"{"format":1,"floor":4,"from_the_future":{"x":1}}"#,
        )
        .unwrap();
        update_state(&d.layout, |s| s.floor = 5).unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(d.layout.state()).unwrap()).unwrap();
        assert_eq!(v["from_the_future"]["x"], 1);
        assert_eq!(v["floor"], 5);
    }
}
