//! Account rows: create, read, update, delete, with the "at least one administrator" invariant
//! enforced inside the same transaction as the change, so concurrent requests cannot break it.
//! User names are unique ignoring case (`admin` and `Admin` would look alike in every list).
//! The Digest HA1 values are password equivalents for this realm, so they are stored sealed with
//! the device's secrets key, bound to the account, algorithm and realm (docs/design/auth.md).

use crate::audit::{self, Actor, AuditEvent};
use crate::{Store, StoreError, now_secs};
use camward_config::SealKey;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::json;

/// The secrets derived from a password; the password itself is never stored. In memory the HA1
/// values are clear (Digest needs them); in the database they are sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    /// argon2id PHC string.
    pub password_hash: String,
    /// Hex MD5(username:realm:password).
    pub ha1_md5: String,
    /// Hex SHA-256(username:realm:password).
    pub ha1_sha256: String,
    pub realm: String,
}

/// The additional data an HA1 is sealed with: a sealed value copied to another account (or the
/// other algorithm's column) does not open there.
fn ha1_context(alg: &str, realm: &str, username: &str) -> String {
    format!("camward-ha1:{alg}:{realm}:{username}")
}

fn seal_ha1(key: &SealKey, username: &str, s: &Secrets) -> (String, String) {
    (
        key.seal(
            s.ha1_md5.as_bytes(),
            &ha1_context("md5", &s.realm, username),
        ),
        key.seal(
            s.ha1_sha256.as_bytes(),
            &ha1_context("sha-256", &s.realm, username),
        ),
    )
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

#[derive(Debug, Clone)]
pub struct Account {
    pub username: String,
    /// `admin`, `control` or `live`.
    pub level: String,
    pub secrets: Secrets,
    pub created_at: i64,
    pub password_changed_at: i64,
}

/// What the user list shows: no secrets.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccountSummary {
    pub username: String,
    pub level: String,
    pub created_at: i64,
    pub password_changed_at: i64,
}

const LEVELS: [&str; 3] = ["admin", "control", "live"];

fn check_level(level: &str) {
    // Callers map from camward-auth's Level; anything else is a programming error, and the table's CHECK
    // would refuse it anyway.
    debug_assert!(LEVELS.contains(&level), "unknown level {level}");
}

impl Store {
    pub fn has_admin(&self) -> Result<bool, StoreError> {
        self.conn()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM account WHERE level = 'admin')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.sql_err(e))
    }

    /// First-access registration: creates the administrator only if none exists, atomically.
    pub fn create_first_admin(
        &self,
        username: &str,
        secrets: &Secrets,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        self.insert_account(username, "admin", secrets, actor, true)
    }

    pub fn create_account(
        &self,
        username: &str,
        level: &str,
        secrets: &Secrets,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        self.insert_account(username, level, secrets, actor, false)
    }

    fn insert_account(
        &self,
        username: &str,
        level: &str,
        s: &Secrets,
        actor: &Actor,
        first: bool,
    ) -> Result<(), StoreError> {
        check_level(level);
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql_err(e))?;
        if first {
            let any: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM account WHERE level = 'admin')",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| self.sql_err(e))?;
            if any {
                return Err(StoreError::AlreadySetUp);
            }
        }
        // ASCII case folding (user names are 1-byte characters): `Admin` is taken when `admin` is.
        let existing: Option<String> = tx
            .query_row(
                "SELECT username FROM account WHERE username = ?1 COLLATE NOCASE",
                [username],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql_err(e))?;
        if let Some(existing) = existing {
            return Err(StoreError::AccountExists(existing));
        }
        let now = now_secs();
        let (md5, sha256) = seal_ha1(self.key(), username, s);
        tx.execute(
            "INSERT INTO account (username, level, password_hash, ha1_md5, ha1_sha256, realm, created_at, password_changed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            params![username, level, s.password_hash, md5, sha256, s.realm, now],
        )
        .map_err(|e| self.sql_err(e))?;
        let kind = if first { "setup" } else { "account.create" };
        audit::insert(
            &tx,
            &AuditEvent::new(kind)
                .by(actor)
                .target(username)
                .detail(json!({ "level": level })),
        )
        .map_err(|e| self.sql_err(e))?;
        tx.commit().map_err(|e| self.sql_err(e))
    }

    /// The account named exactly `username`, its HA1 values opened. An HA1 that does not open
    /// (the secrets key was replaced) is an error: Digest then fails closed for that account.
    pub fn get_account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        let row = self
            .conn()
            .query_row(
                "SELECT username, level, password_hash, ha1_md5, ha1_sha256, realm, created_at, password_changed_at
                 FROM account WHERE username = ?1",
                [username],
                |r| {
                    Ok(Account {
                        username: r.get(0)?,
                        level: r.get(1)?,
                        secrets: Secrets {
                            password_hash: r.get(2)?,
                            ha1_md5: r.get(3)?,
                            ha1_sha256: r.get(4)?,
                            realm: r.get(5)?,
                        },
                        created_at: r.get(6)?,
                        password_changed_at: r.get(7)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.sql_err(e))?;
        let Some(mut a) = row else { return Ok(None) };
        let realm = a.secrets.realm.clone();
        for (alg, v) in [
            ("md5", &mut a.secrets.ha1_md5),
            ("sha-256", &mut a.secrets.ha1_sha256),
        ] {
            // A clear value can only be one this process has not sealed yet (an older version's
            // row written by a concurrent console tool); it is sealed at the next start.
            if SealKey::is_sealed(v) {
                *v = self
                    .key()
                    .open_str(v, &ha1_context(alg, &realm, &a.username))
                    .map_err(|_| StoreError::Unsealable {
                        path: self.path().to_owned(),
                        what: format!("Digest secret of `{}`", a.username),
                        remedy: format!(
                            "set the password again with `camward user passwd {}`",
                            a.username
                        ),
                    })?
                    .to_string();
            }
        }
        Ok(Some(a))
    }

    /// Whether an account named exactly `username` exists.
    pub fn account_exists(&self, username: &str) -> Result<bool, StoreError> {
        self.conn()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM account WHERE username = ?1)",
                [username],
                |r| r.get(0),
            )
            .map_err(|e| self.sql_err(e))
    }

    /// Seals the HA1 values an older version stored in clear (run at every open; a no-op once done).
    pub(crate) fn seal_clear_accounts(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql_err(e))?;
        let rows: Vec<(i64, String, Secrets)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT id, username, ha1_md5, ha1_sha256, realm FROM account
                     WHERE ha1_md5 NOT LIKE 'cw1:%' OR ha1_sha256 NOT LIKE 'cw1:%'",
                )
                .map_err(|e| self.sql_err(e))?;
            stmt.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    Secrets {
                        password_hash: String::new(),
                        ha1_md5: r.get(2)?,
                        ha1_sha256: r.get(3)?,
                        realm: r.get(4)?,
                    },
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql_err(e))?
        };
        let mut n = 0;
        for (id, username, s) in &rows {
            let (mut md5, mut sha256) = seal_ha1(self.key(), username, s);
            // A column already sealed stays as it is.
            if SealKey::is_sealed(&s.ha1_md5) {
                md5 = s.ha1_md5.clone();
            }
            if SealKey::is_sealed(&s.ha1_sha256) {
                sha256 = s.ha1_sha256.clone();
            }
            tx.execute(
                "UPDATE account SET ha1_md5 = ?2, ha1_sha256 = ?3 WHERE id = ?1",
                params![id, md5, sha256],
            )
            .map_err(|e| self.sql_err(e))?;
            n += 1;
        }
        if n > 0 {
            audit::insert(
                &tx,
                &AuditEvent::new("secrets.sealed")
                    .by(&Actor {
                        user: Some("(start-up)".into()),
                        address: None,
                    })
                    .detail(json!({ "accounts": n })),
            )
            .map_err(|e| self.sql_err(e))?;
        }
        tx.commit().map_err(|e| self.sql_err(e))?;
        if n > 0 {
            tracing::info!(
                accounts = n,
                "sealed the Digest secrets an older version stored in clear"
            );
        }
        Ok(n)
    }

    pub fn list_accounts(&self) -> Result<Vec<AccountSummary>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT username, level, created_at, password_changed_at FROM account ORDER BY username")
            .map_err(|e| self.sql_err(e))?;
        stmt.query_map([], |r| {
            Ok(AccountSummary {
                username: r.get(0)?,
                level: r.get(1)?,
                created_at: r.get(2)?,
                password_changed_at: r.get(3)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.sql_err(e))
    }

    /// Changes the level and/or the password secrets. Demoting the last administrator is refused.
    pub fn update_account(
        &self,
        username: &str,
        level: Option<&str>,
        secrets: Option<&Secrets>,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql_err(e))?;
        let current: Option<String> = tx
            .query_row(
                "SELECT level FROM account WHERE username = ?1",
                [username],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql_err(e))?;
        let Some(current) = current else {
            return Err(StoreError::NoSuchAccount(username.to_owned()));
        };
        let mut changed = Vec::new();
        if let Some(level) = level {
            check_level(level);
            if current == "admin"
                && level != "admin"
                && admin_count(&tx).map_err(|e| self.sql_err(e))? <= 1
            {
                return Err(StoreError::LastAdmin(username.to_owned()));
            }
            tx.execute(
                "UPDATE account SET level = ?2 WHERE username = ?1",
                params![username, level],
            )
            .map_err(|e| self.sql_err(e))?;
            changed.push("level");
        }
        if let Some(s) = secrets {
            let (md5, sha256) = seal_ha1(self.key(), username, s);
            tx.execute(
                "UPDATE account SET password_hash = ?2, ha1_md5 = ?3, ha1_sha256 = ?4, realm = ?5, password_changed_at = ?6
                 WHERE username = ?1",
                params![username, s.password_hash, md5, sha256, s.realm, now_secs()],
            )
            .map_err(|e| self.sql_err(e))?;
            changed.push("password");
        }
        let detail = json!({ "changed": changed, "level": level.unwrap_or(&current) });
        audit::insert(
            &tx,
            &AuditEvent::new("account.update")
                .by(actor)
                .target(username)
                .detail(detail),
        )
        .map_err(|e| self.sql_err(e))?;
        tx.commit().map_err(|e| self.sql_err(e))
    }

    /// Deletes an account; the last administrator is refused.
    pub fn delete_account(&self, username: &str, actor: &Actor) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql_err(e))?;
        let current: Option<String> = tx
            .query_row(
                "SELECT level FROM account WHERE username = ?1",
                [username],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql_err(e))?;
        let Some(current) = current else {
            return Err(StoreError::NoSuchAccount(username.to_owned()));
        };
        if current == "admin" && admin_count(&tx).map_err(|e| self.sql_err(e))? <= 1 {
            return Err(StoreError::LastAdmin(username.to_owned()));
        }
        tx.execute("DELETE FROM account WHERE username = ?1", [username])
            .map_err(|e| self.sql_err(e))?;
        audit::insert(
            &tx,
            &AuditEvent::new("account.delete")
                .by(actor)
                .target(username)
                .detail(json!({ "level": current })),
        )
        .map_err(|e| self.sql_err(e))?;
        tx.commit().map_err(|e| self.sql_err(e))
    }
}

impl Store {
    /// Factory state (Setup › Maintenance): every account deleted, so the next visitor registers
    /// a new administrator (paper §3.2), and the settings at their defaults. The audit log stays:
    /// an auditor must be able to see that, and when, the device was reset.
    pub fn factory_reset(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql_err(e))?;
        let n = tx
            .execute("DELETE FROM account", [])
            .map_err(|e| self.sql_err(e))?;
        tx.execute(
            "UPDATE config SET document = ?1, revision = revision + 1, updated_at = ?2 WHERE id = 1",
            rusqlite::params![
                camward_config::Config::default()
                    .to_stored(self.key())
                    .to_string(),
                crate::now_secs()
            ],
        )
        .map_err(|e| self.sql_err(e))?;
        audit::insert(
            &tx,
            &AuditEvent::new("maintenance.factory_reset_done")
                .detail(json!({ "accounts_deleted": n })),
        )
        .map_err(|e| self.sql_err(e))?;
        tx.commit().map_err(|e| self.sql_err(e))
    }
}

fn admin_count(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<i64> {
    tx.query_row(
        "SELECT count(*) FROM account WHERE level = 'admin'",
        [],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        Secrets {
            password_hash: "$argon2id$x".into(),
            ha1_md5: "a".into(),
            ha1_sha256: "b".into(),
            realm: "camward".into(),
        }
    }

    #[test]
    fn first_admin_can_be_created_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(!s.has_admin().unwrap());
        s.create_first_admin("root1", &secrets(), &Actor::console())
            .unwrap();
        assert!(s.has_admin().unwrap());
        assert!(matches!(
            s.create_first_admin("other", &secrets(), &Actor::console()),
            Err(StoreError::AlreadySetUp)
        ));
    }

    #[test]
    fn factory_reset_leaves_no_account_default_settings_and_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.create_first_admin("boss", &secrets(), &Actor::console())
            .unwrap();
        let h = crate::ConfigHandle::load(s.clone()).unwrap();
        h.patch(
            &json!({"host_auth": {"enabled": true, "allow": ["10.0.0.0/8"]}}),
            &Actor::console(),
        )
        .unwrap();
        s.factory_reset().unwrap();
        assert!(!s.has_admin().unwrap());
        let again = crate::ConfigHandle::load(s.clone()).unwrap();
        assert_eq!(*again.current(), camward_config::Config::default());
        let log = s.audit_log(10, None).unwrap();
        assert_eq!(log[0].kind, "maintenance.factory_reset_done");
        assert!(log.iter().any(|e| e.kind == "setup"), "the log is kept");
    }

    #[test]
    fn last_admin_cannot_be_deleted_or_demoted() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let a = Actor::console();
        s.create_first_admin("boss", &secrets(), &a).unwrap();
        assert!(matches!(
            s.delete_account("boss", &a),
            Err(StoreError::LastAdmin(_))
        ));
        assert!(matches!(
            s.update_account("boss", Some("live"), None, &a),
            Err(StoreError::LastAdmin(_))
        ));
        s.create_account("boss2", "admin", &secrets(), &a).unwrap();
        s.update_account("boss", Some("live"), None, &a).unwrap();
        assert!(matches!(
            s.delete_account("boss2", &a),
            Err(StoreError::LastAdmin(_))
        ));
        s.delete_account("boss", &a).unwrap();
        assert_eq!(s.list_accounts().unwrap().len(), 1);
    }

    #[test]
    fn duplicate_usernames_are_refused_ignoring_case() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let a = Actor::console();
        s.create_first_admin("Boss", &secrets(), &a).unwrap();
        for other in ["Boss", "boss", "BOSS"] {
            match s.create_account(other, "live", &secrets(), &a) {
                Err(StoreError::AccountExists(existing)) => assert_eq!(existing, "Boss"),
                r => panic!("{other}: {r:?}"),
            }
        }
        // Logins stay exact: the row is found by its own spelling only.
        assert!(s.get_account("Boss").unwrap().is_some());
        assert!(s.get_account("boss").unwrap().is_none());
    }

    fn raw_ha1(dir: &std::path::Path) -> Vec<(String, String)> {
        let c = rusqlite::Connection::open(dir.join(crate::DB_FILE)).unwrap();
        let mut st = c
            .prepare("SELECT ha1_md5, ha1_sha256 FROM account")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn ha1_values_are_sealed_on_disk_and_open_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.create_first_admin("boss", &secrets(), &Actor::console())
            .unwrap();
        for (md5, sha) in raw_ha1(dir.path()) {
            assert!(
                md5.starts_with("cw1:") && sha.starts_with("cw1:"),
                "{md5} {sha}"
            );
        }
        let got = s.get_account("boss").unwrap().unwrap();
        assert_eq!(got.secrets, secrets());
    }

    #[test]
    fn clear_ha1_of_an_old_database_is_sealed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        {
            let c = rusqlite::Connection::open(dir.path().join(crate::DB_FILE)).unwrap();
            c.execute(
                "INSERT INTO account (username, level, password_hash, ha1_md5, ha1_sha256, realm, created_at, password_changed_at)
                 VALUES ('old', 'admin', '$argon2id$x', 'a', 'b', 'camward', 1, 1)",
                [],
            )
            .unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        let raw = raw_ha1(dir.path());
        assert!(
            raw[0].0.starts_with("cw1:") && raw[0].1.starts_with("cw1:"),
            "{raw:?}"
        );
        assert_eq!(s.get_account("old").unwrap().unwrap().secrets, secrets());
        assert_eq!(s.audit_log(1, None).unwrap()[0].kind, "secrets.sealed");
        // A second open finds nothing left to seal.
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.seal_clear_accounts().unwrap(), 0);
    }

    #[test]
    fn a_replaced_secrets_key_fails_closed_with_the_remedy() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.create_first_admin("boss", &secrets(), &Actor::console())
            .unwrap();
        drop(s);
        std::fs::remove_file(crate::secrets_key::key_path(dir.path())).unwrap();
        let s = Store::open(dir.path()).unwrap();
        let e = s.get_account("boss").unwrap_err().to_string();
        assert!(e.contains("camward user passwd boss"), "{e}");
        assert!(s.account_exists("boss").unwrap());
    }

    #[test]
    fn account_changes_are_audited_without_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let a = Actor::console();
        s.create_first_admin("boss", &secrets(), &a).unwrap();
        s.update_account("boss", None, Some(&secrets()), &a)
            .unwrap();
        let log = s.audit_log(10, None).unwrap();
        assert_eq!(log[0].kind, "account.update");
        assert_eq!(log[1].kind, "setup");
        let text = serde_json::to_string(&log).unwrap();
        assert!(!text.contains("argon2"));
    }
}
