//! `AccountService`: the daemon's one implementation of [`Gate`] for every protocol, plus account
//! management (setup with its one-time code, users) with the password policy. Audits logins,
//! failures, lockouts.

use crate::digest::{self, Algorithm, NcCheck, NonceCheck, NonceKey, ReplayGuard};
use crate::header::{Credentials, DigestParams, HeaderError, parse_authorization};
use crate::host::HostFilter;
use crate::lockout::{FailureEffect, Lockout, LockoutPolicy};
use crate::password::{REALM, derive_secrets, verify_password};
use crate::policy;
use crate::setup_code::{self, SetupCode};
use crate::{Gate, Level, Outcome, Principal, Protocol, Request};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use camward_config::FieldError;
use camward_config::{AuthMethod, Config};
use camward_store::{AccountSummary, Actor, AuditEvent, ConfigHandle, Store, StoreError};
use serde_json::json;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Tunables; the defaults are the documented behaviour (docs/design/auth.md).
#[derive(Debug, Clone)]
pub struct AuthOptions {
    /// How long a nonce is accepted before the client is told `stale=true`.
    pub nonce_ttl: Duration,
    pub lockout: LockoutPolicy,
    /// Nonces whose nc values are remembered at once (replay refusal).
    pub replay_capacity: usize,
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions {
            nonce_ttl: Duration::from_secs(300),
            lockout: LockoutPolicy::default(),
            replay_capacity: 4096,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{}", .0.iter().map(|v| v.message.clone()).collect::<Vec<_>>().join("; "))]
    Policy(Vec<FieldError>),
    /// First-access registration without the right setup code (counted towards the lockout).
    #[error(
        "the setup code is missing or wrong: it is printed on the camera's console at start and kept in the file `setup-code` of its data directory"
    )]
    SetupCode,
    /// Too many failures from this address.
    #[error("too many failed attempts from this address; try again in {} s", .0.as_secs().max(1))]
    LockedOut(Duration),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Bound of the login-session memory that keeps the audit log to one `login.ok` per session.
const SESSIONS_CAP: usize = 1024;
/// A login session: the same user from the same address over the same protocol, with no pause
/// longer than this and no failure in between. A browser re-authenticates every page, fetch and
/// nonce; an auditor wants to read "logged in", once, not a line per request.
const SESSION_IDLE: Duration = Duration::from_secs(600);
/// A login failure or lockout, for listeners beyond the audit log (SNMP traps, paper §4.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthEvent {
    Failure {
        protocol: Protocol,
        user: Option<String>,
        peer: IpAddr,
        reason: String,
    },
    Lockout {
        protocol: Protocol,
        user: Option<String>,
        peer: IpAddr,
        seconds: u64,
    },
}

/// Called for every [`AuthEvent`], on the thread that checked the credentials: keep it short.
pub type AuthHook = Arc<dyn Fn(&AuthEvent) + Send + Sync>;

pub struct AccountService {
    store: Store,
    config: ConfigHandle,
    opts: AuthOptions,
    nonces: NonceKey,
    replay: Mutex<ReplayGuard>,
    lockout: Mutex<Lockout>,
    // The compiled allow-list and the config it came from: recompiled only when the config changes.
    host: Mutex<(Option<Arc<Config>>, HostFilter)>,
    /// Last granted request per (user, address, protocol): see [`SESSION_IDLE`].
    sessions: Mutex<HashMap<(String, IpAddr, Protocol), Instant>>,
    // HA1 used when the user does not exist, so unknown and known names take the same work.
    dummy_ha1: [String; 2],
    // The one-time code first-access registration needs; `None` once an administrator exists.
    setup_code: Mutex<Option<SetupCode>>,
    hooks: Mutex<Vec<AuthHook>>,
    failures: AtomicU64,
    lockouts: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn proto(p: Protocol) -> &'static str {
    p.as_str()
}

impl AccountService {
    pub fn new(config: ConfigHandle, opts: AuthOptions) -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        let mut dummy = [0u8; 16];
        OsRng.fill_bytes(&mut dummy);
        let dummy = digest::hex(&dummy);
        AccountService {
            store: config.store().clone(),
            replay: Mutex::new(ReplayGuard::new(opts.replay_capacity)),
            lockout: Mutex::new(Lockout::new(opts.lockout)),
            host: Mutex::new((None, HostFilter::default())),
            sessions: Mutex::new(HashMap::new()),
            nonces: NonceKey::new(key),
            dummy_ha1: [
                Algorithm::Md5.hex(dummy.as_bytes()),
                Algorithm::Sha256.hex(dummy.as_bytes()),
            ],
            setup_code: Mutex::new(Some(SetupCode::generate())),
            config,
            opts,
            hooks: Mutex::new(Vec::new()),
            failures: AtomicU64::new(0),
            lockouts: AtomicU64::new(0),
        }
    }

    /// Calls `hook` for every login failure and lockout from now on.
    pub fn on_event(&self, hook: AuthHook) {
        lock(&self.hooks).push(hook);
    }

    /// Login failures and lockouts since the daemon started.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.failures.load(Ordering::Relaxed),
            self.lockouts.load(Ordering::Relaxed),
        )
    }

    fn emit(&self, e: AuthEvent) {
        let hooks = lock(&self.hooks).clone();
        for h in hooks {
            h(&e);
        }
    }

    /// Where the setup code is kept while setup is pending: beside the database.
    pub fn setup_code_file(&self) -> PathBuf {
        self.store.path().with_file_name(setup_code::FILE)
    }

    /// At daemon start: while no administrator exists, writes this run's setup code to
    /// [`setup_code_file`](Self::setup_code_file) (0600) and returns it for the console; once
    /// one exists, removes a file left over and returns `None`.
    pub fn publish_setup_code(&self) -> Result<Option<String>, AccountError> {
        let file = self.setup_code_file();
        if self.store.has_admin()? {
            self.retire_setup_code();
            return Ok(None);
        }
        let code = lock(&self.setup_code);
        let Some(code) = code.as_ref() else {
            return Ok(None);
        };
        code.write(&file).map_err(|e| {
            AccountError::Store(StoreError::DataDir {
                path: file.clone(),
                source: e,
            })
        })?;
        Ok(Some(code.as_str().to_owned()))
    }

    /// An administrator exists: the code is void and its file goes.
    fn retire_setup_code(&self) {
        lock(&self.setup_code).take();
        let file = self.setup_code_file();
        match setup_code::remove(&file) {
            Ok(true) => {
                tracing::info!(file = %file.display(), "setup code removed: an administrator exists")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "cannot remove the setup code file")
            }
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &ConfigHandle {
        &self.config
    }

    /// The `WWW-Authenticate` values for a fresh challenge: SHA-256, MD5 (one shared nonce), then
    /// Basic when the configuration allows it.
    pub fn challenges(&self, stale: bool) -> Vec<String> {
        let nonce = self.nonces.issue(unix_now());
        let mut v: Vec<String> = Algorithm::ALL
            .iter()
            .map(|a| digest::challenge(*a, REALM, &nonce, stale))
            .collect();
        if self.config.current().user_auth.method == AuthMethod::DigestOrBasic {
            v.push(format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""));
        }
        v
    }

    // ---- account management -------------------------------------------------------------

    /// First-access registration of the administrator over the network (paper §3.2): needs this
    /// run's setup code (a wrong one counts towards `peer`'s lockout). Fails once one exists.
    pub fn setup_admin(
        &self,
        username: &str,
        password: &str,
        code: Option<&str>,
        peer: IpAddr,
        actor: &Actor,
    ) -> Result<(), AccountError> {
        if let Some(d) = lock(&self.lockout).locked(peer, Instant::now()) {
            return Err(AccountError::LockedOut(d));
        }
        if self.store.has_admin()? {
            self.retire_setup_code();
            return Err(StoreError::AlreadySetUp.into());
        }
        let right = {
            let current = lock(&self.setup_code);
            matches!((current.as_ref(), code), (Some(c), Some(given)) if c.matches(given))
        };
        if !right {
            tracing::info!(%peer, "setup refused: wrong or missing setup code");
            self.audit(
                AuditEvent::new("setup.fail")
                    .actor(Some(username))
                    .address(peer)
                    .detail(
                        json!({ "reason": if code.is_some() { "wrong_code" } else { "no_code" } }),
                    ),
            );
            self.count_failure(peer, None, Protocol::Http, Some(username));
            return Err(AccountError::SetupCode);
        }
        check(policy::check_account(username, password))?;
        self.store
            .create_first_admin(username, &derive_secrets(username, password), actor)?;
        tracing::info!(user = username, "administrator registered");
        self.retire_setup_code();
        Ok(())
    }

    pub fn create_user(
        &self,
        username: &str,
        password: &str,
        level: Level,
        actor: &Actor,
    ) -> Result<(), AccountError> {
        check(policy::check_account(username, password))?;
        self.store.create_account(
            username,
            level.as_str(),
            &derive_secrets(username, password),
            actor,
        )?;
        if level == Level::Admin {
            // Registered from the console (or by another administrator): setup is over.
            self.retire_setup_code();
        }
        Ok(())
    }

    /// Changes password and/or level; refuses to demote the last administrator.
    pub fn update_user(
        &self,
        username: &str,
        password: Option<&str>,
        level: Option<Level>,
        actor: &Actor,
    ) -> Result<(), AccountError> {
        if !self.store.account_exists(username)? {
            return Err(StoreError::NoSuchAccount(username.to_owned()).into());
        }
        let secrets = match password {
            Some(p) => {
                check(policy::check_password(username, p))?;
                Some(derive_secrets(username, p))
            }
            None => None,
        };
        self.store
            .update_account(username, level.map(Level::as_str), secrets.as_ref(), actor)?;
        Ok(())
    }

    pub fn delete_user(&self, username: &str, actor: &Actor) -> Result<(), AccountError> {
        self.store.delete_account(username, actor)?;
        Ok(())
    }

    pub fn list_users(&self) -> Result<Vec<AccountSummary>, AccountError> {
        Ok(self.store.list_accounts()?)
    }

    // ---- authentication -----------------------------------------------------------------

    fn host_filter(&self) -> HostFilter {
        let current = self.config.current();
        let mut h = lock(&self.host);
        if !h.0.as_ref().is_some_and(|c| Arc::ptr_eq(c, &current)) {
            h.1 = HostFilter::from_config(&current.host_auth);
            h.0 = Some(current);
        }
        h.1.clone()
    }

    fn challenge_outcome(&self, stale: bool) -> Outcome {
        Outcome::Challenge {
            www_authenticate: self.challenges(stale),
        }
    }

    fn audit(&self, e: AuditEvent) {
        if let Err(err) = self.store.audit(&e) {
            tracing::error!(error = %err, kind = %e.kind, "cannot write audit log");
        }
    }

    /// A failed login: audit, count towards the lockout, challenge again.
    fn fail(&self, req: &Request<'_>, user: Option<&str>, scheme: &str, reason: &str) -> Outcome {
        tracing::info!(peer = %req.peer, user = user.unwrap_or(""), reason, "login failed");
        // A failure ends the sessions of that name at that address: the next success is logged.
        if let Some(u) = user {
            lock(&self.sessions).retain(|(su, sa, _), _| !(su == u && *sa == req.peer));
        }
        self.audit(
            AuditEvent::new("login.fail")
                .actor(user)
                .address(req.peer)
                .detail(
                    json!({ "protocol": proto(req.protocol), "scheme": scheme, "reason": reason }),
                ),
        );
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.emit(AuthEvent::Failure {
            protocol: req.protocol,
            user: user.map(str::to_owned),
            peer: req.peer,
            reason: reason.to_owned(),
        });
        self.count_failure(req.peer, user, req.protocol, user);
        self.challenge_outcome(false)
    }

    /// Counts a failure for the address and, when `account` is given, for that account name;
    /// audits a lockout it starts.
    fn count_failure(
        &self,
        peer: IpAddr,
        account: Option<&str>,
        protocol: Protocol,
        actor: Option<&str>,
    ) {
        let effect = lock(&self.lockout).record_failure(peer, account, Instant::now());
        let (scope, d) = match effect {
            FailureEffect::Counted => return,
            FailureEffect::Locked(d) => ("address", d),
            FailureEffect::AccountLocked(d) => ("account", d),
        };
        self.lockouts.fetch_add(1, Ordering::Relaxed);
        self.emit(AuthEvent::Lockout {
            protocol,
            user: actor.map(str::to_owned),
            peer,
            seconds: d.as_secs(),
        });
        tracing::warn!(%peer, account = account.unwrap_or(""), scope, seconds = d.as_secs(), "locked out after repeated failures");
        self.audit(
            AuditEvent::new("login.lockout")
                .actor(actor)
                .address(peer)
                .detail(
                    json!({ "protocol": proto(protocol), "seconds": d.as_secs(), "scope": scope }),
                ),
        );
    }

    /// The account's own lockout (failures for this name from many addresses), checked before
    /// its credentials so a locked account is not guessed further.
    fn account_lockout(&self, req: &Request<'_>, username: &str) -> Option<Outcome> {
        lock(&self.lockout)
            .account_locked(username, req.peer, Instant::now())
            .map(|retry_after| Outcome::LockedOut { retry_after })
    }

    fn granted(
        &self,
        req: &Request<'_>,
        user: &str,
        level: &str,
        scheme: &str,
        first: bool,
    ) -> Outcome {
        lock(&self.lockout).record_success(req.peer, user, Instant::now());
        if self.continues_session(user, req) {
            // The same session: this request re-authenticated (a new nonce, a new page).
        } else if first {
            self.audit(
                AuditEvent::new("login.ok")
                    .actor(Some(user))
                    .address(req.peer)
                    .detail(json!({ "protocol": proto(req.protocol), "scheme": scheme })),
            );
        }
        let level = Level::parse(level).unwrap_or(Level::Live);
        Outcome::Granted(Principal {
            user: Some(user.to_owned()),
            level,
        })
    }

    /// Whether a granted request continues a login session of `user` (and records it as the
    /// session's latest activity either way).
    fn continues_session(&self, user: &str, req: &Request<'_>) -> bool {
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        let key = (user.to_owned(), req.peer, req.protocol);
        let continues = sessions
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) <= SESSION_IDLE);
        if sessions.len() >= SESSIONS_CAP && !sessions.contains_key(&key) {
            sessions.retain(|_, t| now.duration_since(*t) <= SESSION_IDLE);
            if sessions.len() >= SESSIONS_CAP {
                sessions.clear();
            }
        }
        sessions.insert(key, now);
        continues
    }

    fn basic(&self, req: &Request<'_>, username: &str, password: &str) -> Outcome {
        // Bound the work an unauthenticated client can ask of argon2.
        if username.len() > 64 || password.len() > 128 {
            return self.fail(req, Some(username), "basic", "malformed");
        }
        if let Some(locked) = self.account_lockout(req, username) {
            return locked;
        }
        let account = match self.store.get_account(username) {
            Ok(a) => a,
            Err(e) => return self.internal_error(e),
        };
        let Some(account) = account else {
            // Same work as a wrong password, so timing does not reveal which names exist.
            let _ = verify_password(
                "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3HmkNsBB3IkFVsJXpPuXBg7ijWFy2VZrA6qwHJ1VASc",
                password,
            );
            return self.fail(req, Some(username), "basic", "unknown_user");
        };
        if !verify_password(&account.secrets.password_hash, password) {
            return self.fail(req, Some(username), "basic", "bad_password");
        }
        self.granted(req, username, &account.level, "basic", true)
    }

    fn digest(&self, req: &Request<'_>, p: &DigestParams) -> Outcome {
        let user = p.username.as_deref();
        let (Some(username), Some(realm), Some(nonce), Some(uri), Some(resp)) = (
            user,
            p.realm.as_deref(),
            p.nonce.as_deref(),
            p.uri.as_deref(),
            p.response.as_deref(),
        ) else {
            return self.fail(req, user, "digest", "malformed");
        };
        // Parameters we never offered: not a guess, just a client we cannot talk to; challenge again.
        let Some(alg) = Algorithm::from_param(p.algorithm.as_deref()) else {
            return self.challenge_outcome(false);
        };
        // RFC 2069 Digest (no qop, MD5) is what RTSP 1.0 (RFC 2326) cites and what deployed RTSP
        // clients such as GStreamer 1.22's rtspsrc send, ignoring our qop="auth". Accepted for RTSP
        // only, never for HTTP. Without nc a nonce can be reused until it expires, which is how
        // those clients run DESCRIBE/SETUP/PLAY on one challenge.
        let legacy = p.qop.is_none()
            && p.nc.is_none()
            && p.cnonce.is_none()
            && req.protocol.is_rtsp()
            && alg == Algorithm::Md5;
        if p.userhash
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case("true"))
            || (!legacy && p.qop.as_deref() != Some("auth"))
        {
            return self.challenge_outcome(false);
        }
        let (nc_s, cnonce) = if legacy {
            ("", "")
        } else {
            let (Some(nc_s), Some(cnonce)) = (p.nc.as_deref(), p.cnonce.as_deref()) else {
                return self.fail(req, user, "digest", "malformed");
            };
            (nc_s, cnonce)
        };
        let nc = if legacy {
            // Stands for "the first use of this nonce" in the replay table, for the audit log.
            1
        } else {
            let Some(nc) = digest::parse_nc(nc_s) else {
                return self.fail(req, user, "digest", "malformed");
            };
            nc
        };
        if realm != REALM {
            return self.fail(req, user, "digest", "wrong_realm");
        }
        let now = unix_now();
        let ttl = self.opts.nonce_ttl.as_secs();
        let issued = match self.nonces.check(nonce, now, ttl) {
            NonceCheck::Fresh { issued } => issued,
            // Expired or not ours (earlier boot): no guess was checked, so nothing is counted.
            NonceCheck::Stale => return self.challenge_outcome(true),
        };
        // HTTP binds the response to the request-target. RTSP clients disagree on which URL they put in
        // `uri` (some reuse the DESCRIBE URL for SETUP), so there the response is checked over the `uri`
        // they sent, which still covers method and nonce.
        if req.protocol.is_http() && uri != req.uri {
            return self.fail(req, user, "digest", "uri_mismatch");
        }
        if let Some(locked) = self.account_lockout(req, username) {
            return locked;
        }
        let account = match self.store.get_account(username) {
            Ok(a) => a,
            Err(e) => return self.internal_error(e),
        };
        let ha1 = match (&account, alg) {
            (Some(a), Algorithm::Md5) => a.secrets.ha1_md5.as_str(),
            (Some(a), Algorithm::Sha256) => a.secrets.ha1_sha256.as_str(),
            (None, Algorithm::Md5) => self.dummy_ha1[0].as_str(),
            (None, Algorithm::Sha256) => self.dummy_ha1[1].as_str(),
        };
        let expected = if legacy {
            digest::response_rfc2069(alg, ha1, nonce, req.method, uri)
        } else {
            digest::response(alg, ha1, nonce, nc_s, cnonce, "auth", req.method, uri)
        };
        let matches = digest::digest_eq(&expected, &resp.to_ascii_lowercase());
        let Some(account) = account else {
            return self.fail(req, user, "digest", "unknown_user");
        };
        if !matches {
            return self.fail(req, user, "digest", "bad_password");
        }
        let scheme = if alg == Algorithm::Md5 {
            "digest-md5"
        } else {
            "digest-sha256"
        };
        let seen = lock(&self.replay).record(nonce, issued, nc, now, ttl);
        if legacy {
            // No nc to check: a reused nonce is the normal case, only its first use is audited.
            let first = matches!(seen, NcCheck::First);
            return self.granted(req, username, &account.level, "digest-md5-rfc2069", first);
        }
        match seen {
            NcCheck::First => self.granted(req, username, &account.level, scheme, true),
            NcCheck::Next => self.granted(req, username, &account.level, scheme, false),
            NcCheck::Replay => self.fail(req, user, scheme, "replay"),
            NcCheck::Forgotten => self.challenge_outcome(true),
        }
    }

    fn internal_error(&self, e: StoreError) -> Outcome {
        // Fail closed: a storage error never lets anyone in.
        tracing::error!(error = %e, "account lookup failed");
        self.challenge_outcome(false)
    }
}

fn check(v: Vec<FieldError>) -> Result<(), AccountError> {
    if v.is_empty() {
        Ok(())
    } else {
        Err(AccountError::Policy(v))
    }
}

impl AccountService {
    /// A user name and password received as such (FTP's USER/PASS): the same checks, lockout
    /// and audit entries as an HTTP Basic login, whatever the HTTP authentication method is.
    pub fn check_password(
        &self,
        protocol: Protocol,
        username: &str,
        password: &str,
        peer: IpAddr,
    ) -> Outcome {
        let req = Request {
            protocol,
            method: "LOGIN",
            uri: "",
            authorization: None,
            peer,
        };
        if let Some(retry_after) = lock(&self.lockout).locked(peer, Instant::now()) {
            return Outcome::LockedOut { retry_after };
        }
        match self.store.has_admin() {
            Ok(true) => self.basic(&req, username, password),
            Ok(false) => Outcome::NeedsSetup,
            Err(e) => self.internal_error(e),
        }
    }
}

impl Gate for AccountService {
    fn host_allowed(&self, peer: IpAddr) -> bool {
        self.host_filter().allows(peer)
    }

    fn authenticate(&self, req: &Request<'_>) -> Outcome {
        if let Some(retry_after) = lock(&self.lockout).locked(req.peer, Instant::now()) {
            return Outcome::LockedOut { retry_after };
        }
        match self.store.has_admin() {
            Ok(true) => {}
            Ok(false) => return Outcome::NeedsSetup,
            Err(e) => return self.internal_error(e),
        }
        let cfg = self.config.current();
        let Some(header) = req.authorization else {
            if cfg.user_auth.anonymous_live() {
                return Outcome::Granted(Principal {
                    user: None,
                    level: Level::Live,
                });
            }
            return self.challenge_outcome(false);
        };
        match parse_authorization(header) {
            // Nothing was checked: a right password on a long URL must not lock its own client
            // out (HTTP answers 431 before asking; RTSP's request head limit is lower).
            Err(HeaderError::TooLong) => self.challenge_outcome(false),
            Err(_) => self.fail(req, None, "unknown", "malformed"),
            Ok(Credentials::Basic { .. }) if cfg.user_auth.method != AuthMethod::DigestOrBasic => {
                // Not checked at all, so not counted: the client merely used a scheme that is off.
                self.challenge_outcome(false)
            }
            Ok(Credentials::Basic { username, password }) => self.basic(req, &username, &password),
            Ok(Credentials::Digest(p)) => self.digest(req, &p),
        }
    }

    fn challenge(&self, _protocol: Protocol) -> Vec<String> {
        self.challenges(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        svc: AccountService,
    }

    fn fixture(opts: AuthOptions) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let svc = AccountService::new(ConfigHandle::load(store).unwrap(), opts);
        Fixture { _dir: dir, svc }
    }

    /// Registers `user` as the first administrator, with the setup code as the daemon shows it.
    fn register(svc: &AccountService, user: &str, password: &str) -> Result<(), AccountError> {
        let code = svc.publish_setup_code()?.expect("setup is pending");
        svc.setup_admin(user, password, Some(&code), peer(), &Actor::console())
    }

    /// A device whose administrator `installer` / `Cam-ward-2026` is registered.
    fn fixture_with_admin() -> Fixture {
        let f = fixture(AuthOptions::default());
        register(&f.svc, "installer", "Cam-ward-2026").unwrap();
        f
    }

    fn peer() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    fn req<'a>(auth: Option<&'a str>, uri: &'a str) -> Request<'a> {
        Request {
            protocol: Protocol::Http,
            method: "GET",
            uri,
            authorization: auth,
            peer: peer(),
        }
    }

    fn nonce_of(o: &Outcome) -> String {
        let Outcome::Challenge { www_authenticate } = o else {
            panic!("not a challenge: {o:?}")
        };
        let v = &www_authenticate[0];
        let i = v.find("nonce=\"").unwrap() + 7;
        v[i..i + 64].to_owned()
    }

    fn digest_header(
        alg: Algorithm,
        user: &str,
        pass: &str,
        nonce: &str,
        nc: &str,
        uri: &str,
    ) -> String {
        let ha1 = digest::ha1(alg, user, REALM, pass);
        let r = digest::response(alg, &ha1, nonce, nc, "c0ffee", "auth", "GET", uri);
        format!(
            "Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm={}, qop=auth, nc={nc}, cnonce=\"c0ffee\", response=\"{r}\"",
            alg.name()
        )
    }

    #[test]
    fn no_admin_means_needs_setup_even_with_default_credentials() {
        let f = fixture(AuthOptions::default());
        assert!(matches!(
            f.svc.authenticate(&req(None, "/")),
            Outcome::NeedsSetup
        ));
        assert!(matches!(
            f.svc
                .authenticate(&req(Some("Basic YWRtaW46YWRtaW4="), "/")),
            Outcome::NeedsSetup
        ));
    }

    #[test]
    fn digest_md5_and_sha256_grant_with_right_password_only() {
        let f = fixture_with_admin();
        for alg in Algorithm::ALL {
            let nonce = nonce_of(&f.svc.authenticate(&req(None, "/x")));
            let h = digest_header(alg, "installer", "Cam-ward-2026", &nonce, "00000001", "/x");
            let Outcome::Granted(p) = f.svc.authenticate(&req(Some(&h), "/x")) else {
                panic!("{alg:?}")
            };
            assert_eq!(p.level, Level::Admin);
            let bad = digest_header(alg, "installer", "Cam-ward-2027", &nonce, "00000002", "/x");
            assert!(matches!(
                f.svc.authenticate(&req(Some(&bad), "/x")),
                Outcome::Challenge { .. }
            ));
        }
    }

    #[test]
    fn failures_and_lockouts_reach_the_event_hooks_and_counts() {
        let f = fixture_with_admin();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        f.svc.on_event(Arc::new(move |e: &AuthEvent| {
            s2.lock().unwrap().push(e.clone())
        }));
        for _ in 0..LockoutPolicy::default().max_failures {
            let o = f
                .svc
                .check_password(Protocol::Ftp, "installer", "Wrong-pass-1", peer());
            assert!(matches!(o, Outcome::Challenge { .. }));
        }
        let seen = seen.lock().unwrap();
        let failures = seen
            .iter()
            .filter(|e| matches!(e, AuthEvent::Failure { reason, .. } if reason == "bad_password"))
            .count();
        assert_eq!(failures, LockoutPolicy::default().max_failures);
        assert!(matches!(
            seen.last(),
            Some(AuthEvent::Lockout { seconds: 30, .. })
        ));
        assert_eq!(f.svc.counts(), (failures as u64, 1));
    }

    #[test]
    fn replayed_nc_is_refused() {
        let f = fixture_with_admin();
        let nonce = nonce_of(&f.svc.authenticate(&req(None, "/x")));
        let h = digest_header(
            Algorithm::Md5,
            "installer",
            "Cam-ward-2026",
            &nonce,
            "00000001",
            "/x",
        );
        assert!(matches!(
            f.svc.authenticate(&req(Some(&h), "/x")),
            Outcome::Granted(_)
        ));
        assert!(matches!(
            f.svc.authenticate(&req(Some(&h), "/x")),
            Outcome::Challenge { .. }
        ));
        let log = f.svc.store().audit_log(1, None).unwrap();
        assert_eq!(log[0].detail["reason"], "replay");
    }

    #[test]
    fn response_is_bound_to_the_request_uri() {
        let f = fixture_with_admin();
        let nonce = nonce_of(&f.svc.authenticate(&req(None, "/x")));
        let h = digest_header(
            Algorithm::Md5,
            "installer",
            "Cam-ward-2026",
            &nonce,
            "00000001",
            "/x",
        );
        assert!(matches!(
            f.svc.authenticate(&req(Some(&h), "/y")),
            Outcome::Challenge { .. }
        ));
    }

    #[test]
    fn expired_nonce_is_answered_stale() {
        let f = fixture(AuthOptions {
            nonce_ttl: Duration::from_secs(0),
            ..AuthOptions::default()
        });
        register(&f.svc, "installer", "Cam-ward-2026").unwrap();
        let nonce = f.svc.nonces.issue(unix_now() - 5);
        let h = digest_header(
            Algorithm::Md5,
            "installer",
            "Cam-ward-2026",
            &nonce,
            "00000001",
            "/x",
        );
        let Outcome::Challenge { www_authenticate } = f.svc.authenticate(&req(Some(&h), "/x"))
        else {
            panic!()
        };
        assert!(www_authenticate[0].contains("stale=true"));
    }

    #[test]
    fn basic_only_when_configured() {
        let f = fixture_with_admin();
        // installer:Cam-ward-2026
        let h = "Basic aW5zdGFsbGVyOkNhbS13YXJkLTIwMjY=";
        assert!(matches!(
            f.svc.authenticate(&req(Some(h), "/")),
            Outcome::Challenge { .. }
        ));
        f.svc
            .config()
            .patch(
                &json!({"user_auth": {"method": "digest_or_basic"}}),
                &Actor::console(),
            )
            .unwrap();
        assert!(matches!(
            f.svc.authenticate(&req(Some(h), "/")),
            Outcome::Granted(_)
        ));
        let Outcome::Challenge { www_authenticate } = f.svc.authenticate(&req(None, "/")) else {
            panic!()
        };
        assert!(www_authenticate.last().unwrap().starts_with("Basic "));
    }

    #[test]
    fn lockout_after_eight_failures_and_audit_never_holds_password() {
        let f = fixture_with_admin();
        let nonce = nonce_of(&f.svc.authenticate(&req(None, "/x")));
        for i in 1..=8 {
            let bad = digest_header(
                Algorithm::Md5,
                "installer",
                "Wrong-pass-1",
                &nonce,
                &format!("{i:08x}"),
                "/x",
            );
            assert!(matches!(
                f.svc.authenticate(&req(Some(&bad), "/x")),
                Outcome::Challenge { .. }
            ));
        }
        let good = digest_header(
            Algorithm::Md5,
            "installer",
            "Cam-ward-2026",
            &nonce,
            "00000009",
            "/x",
        );
        assert!(matches!(
            f.svc.authenticate(&req(Some(&good), "/x")),
            Outcome::LockedOut { .. }
        ));
        let other = Request {
            peer: "127.0.0.2".parse().unwrap(),
            ..req(Some(&good), "/x")
        };
        assert!(matches!(f.svc.authenticate(&other), Outcome::Granted(_)));
        let log = serde_json::to_string(&f.svc.store().audit_log(100, None).unwrap()).unwrap();
        assert!(log.contains("login.lockout"));
        assert!(!log.contains("Wrong-pass-1") && !log.contains("Cam-ward-2026"));
    }

    #[test]
    fn guest_gets_live_without_credentials_only_when_enabled() {
        let f = fixture_with_admin();
        assert!(matches!(
            f.svc.authenticate(&req(None, "/")),
            Outcome::Challenge { .. }
        ));
        f.svc
            .config()
            .patch(&json!({"user_auth": {"guest": true}}), &Actor::console())
            .unwrap();
        let Outcome::Granted(p) = f.svc.authenticate(&req(None, "/")) else {
            panic!()
        };
        assert_eq!(
            p,
            Principal {
                user: None,
                level: Level::Live
            }
        );
    }

    #[test]
    fn policy_violations_are_reported_per_rule() {
        let f = fixture(AuthOptions::default());
        let Err(AccountError::Policy(v)) = register(&f.svc, "admin", "admin") else {
            panic!()
        };
        let rules: Vec<_> = v.iter().map(|v| v.rule.as_str()).collect();
        assert!(rules.contains(&"password.length") && rules.contains(&"password.equals_username"));
    }

    #[test]
    fn host_filter_follows_configuration_changes() {
        let f = fixture(AuthOptions::default());
        assert!(f.svc.host_allowed("192.0.2.1".parse().unwrap()));
        f.svc
            .config()
            .patch(
                &json!({"host_auth": {"enabled": true, "allow": ["127.0.0.1"]}}),
                &Actor::console(),
            )
            .unwrap();
        assert!(!f.svc.host_allowed("192.0.2.1".parse().unwrap()));
        assert!(f.svc.host_allowed("::ffff:127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn rfc2069_digest_is_accepted_for_rtsp_only_and_reusable_on_its_nonce() {
        let f = fixture_with_admin();
        let nonce = nonce_of(&f.svc.authenticate(&req(None, "/x")));
        let uri = "rtsp://127.0.0.1/stream1";
        let header = |pass: &str, method: &str| {
            let ha1 = digest::ha1(Algorithm::Md5, "installer", REALM, pass);
            let r = digest::response_rfc2069(Algorithm::Md5, &ha1, &nonce, method, uri);
            format!(
                "Digest username=\"installer\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{r}\""
            )
        };
        let rtsp = |h: &str, method: &'static str| {
            f.svc.authenticate(&Request {
                protocol: Protocol::Rtsp,
                method,
                uri,
                authorization: Some(h),
                peer: peer(),
            })
        };
        // DESCRIBE, SETUP, PLAY on one challenge, as GStreamer 1.22 does.
        for m in ["DESCRIBE", "SETUP", "PLAY"] {
            assert!(
                matches!(rtsp(&header("Cam-ward-2026", m), m), Outcome::Granted(_)),
                "{m}"
            );
        }
        assert!(matches!(
            rtsp(&header("Wrong-pass-1", "PLAY"), "PLAY"),
            Outcome::Challenge { .. }
        ));
        let log = f.svc.store().audit_log(1, None).unwrap();
        assert_eq!(log[0].detail["reason"], "bad_password");
        // HTTP keeps requiring qop=auth.
        let h = header("Cam-ward-2026", "GET");
        assert!(matches!(
            f.svc.authenticate(&req(Some(&h), uri)),
            Outcome::Challenge { .. }
        ));
    }

    #[test]
    fn setup_needs_the_code_and_wrong_codes_lock_the_address_out() {
        let f = fixture(AuthOptions::default());
        let code = f.svc.publish_setup_code().unwrap().unwrap();
        let file = f.svc.setup_code_file();
        assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), code);
        let try_setup = |c: Option<&str>, ip: &str| {
            f.svc.setup_admin(
                "installer",
                "Cam-ward-2026",
                c,
                ip.parse().unwrap(),
                &Actor::console(),
            )
        };
        assert!(matches!(
            try_setup(None, "127.0.0.1"),
            Err(AccountError::SetupCode)
        ));
        for _ in 0..7 {
            assert!(matches!(
                try_setup(Some("AAAA-BBBB-CCCC"), "127.0.0.1"),
                Err(AccountError::SetupCode)
            ));
        }
        // The eighth failure locked the address: even the right code is refused there.
        assert!(matches!(
            try_setup(Some(&code), "127.0.0.1"),
            Err(AccountError::LockedOut(_))
        ));
        assert!(!f.svc.store().has_admin().unwrap());
        let log = f.svc.store().audit_log(20, None).unwrap();
        assert!(log.iter().any(|e| e.kind == "setup.fail"));
        assert!(!serde_json::to_string(&log).unwrap().contains(&code));
        // Another address with the right code (typed loosely) registers; the code is then void.
        try_setup(Some(&code.to_lowercase().replace('-', " ")), "127.0.0.2").unwrap();
        assert!(!file.exists());
        assert!(matches!(
            try_setup(Some(&code), "127.0.0.3"),
            Err(AccountError::Store(StoreError::AlreadySetUp))
        ));
        assert_eq!(f.svc.publish_setup_code().unwrap(), None);
    }

    #[test]
    fn an_administrator_made_on_the_console_ends_setup() {
        let f = fixture(AuthOptions::default());
        f.svc.publish_setup_code().unwrap().unwrap();
        f.svc
            .create_user(
                "installer",
                "Cam-ward-2026",
                Level::Admin,
                &Actor::console(),
            )
            .unwrap();
        assert!(!f.svc.setup_code_file().exists());
    }

    #[test]
    fn a_live_login_between_guesses_does_not_reset_the_lockout() {
        let f = fixture_with_admin();
        f.svc
            .create_user("viewer", "View-only-2026", Level::Live, &Actor::console())
            .unwrap();
        let nonce = nonce_of(&f.svc.authenticate(&req(None, "/x")));
        let mut nc = 0u32;
        let mut next = || {
            nc += 1;
            format!("{nc:08x}")
        };
        let mut locked = false;
        for _round in 0..4 {
            for _ in 0..7 {
                let bad = digest_header(
                    Algorithm::Md5,
                    "installer",
                    "Wrong-pass-1",
                    &nonce,
                    &next(),
                    "/x",
                );
                match f.svc.authenticate(&req(Some(&bad), "/x")) {
                    Outcome::LockedOut { .. } => locked = true,
                    Outcome::Challenge { .. } => {}
                    o => panic!("{o:?}"),
                }
            }
            let good = digest_header(
                Algorithm::Md5,
                "viewer",
                "View-only-2026",
                &nonce,
                &next(),
                "/x",
            );
            let _ = f.svc.authenticate(&req(Some(&good), "/x"));
        }
        assert!(
            locked,
            "guesses for the administrator were never locked out"
        );
    }

    #[test]
    fn an_over_long_authorization_header_is_not_a_failure() {
        let f = fixture_with_admin();
        let long = format!(
            "Digest username=\"installer\", uri=\"/{}\"",
            "x".repeat(20_000)
        );
        for _ in 0..20 {
            assert!(matches!(
                f.svc.authenticate(&req(Some(&long), "/x")),
                Outcome::Challenge { .. }
            ));
        }
        assert!(
            lock(&f.svc.lockout)
                .locked(peer(), Instant::now())
                .is_none()
        );
    }
}
