//! Account rows: create, read, update, delete, with the "at least one administrator" invariant
//! enforced inside the same transaction as the change, so concurrent requests cannot break it.

use crate::audit::{self, Actor, AuditEvent};
use crate::{Store, StoreError, now_secs};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::json;

/// The secrets derived from a password; the password itself is never stored.
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
        let exists: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM account WHERE username = ?1)",
                [username],
                |r| r.get(0),
            )
            .map_err(|e| self.sql_err(e))?;
        if exists {
            return Err(StoreError::AccountExists(username.to_owned()));
        }
        let now = now_secs();
        tx.execute(
            "INSERT INTO account (username, level, password_hash, ha1_md5, ha1_sha256, realm, created_at, password_changed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            params![username, level, s.password_hash, s.ha1_md5, s.ha1_sha256, s.realm, now],
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

    pub fn get_account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        self.conn()
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
            .map_err(|e| self.sql_err(e))
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
            tx.execute(
                "UPDATE account SET password_hash = ?2, ha1_md5 = ?3, ha1_sha256 = ?4, realm = ?5, password_changed_at = ?6
                 WHERE username = ?1",
                params![username, s.password_hash, s.ha1_md5, s.ha1_sha256, s.realm, now_secs()],
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
                camward_config::Config::default().to_stored().to_string(),
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
    fn duplicate_usernames_are_refused_case_sensitively() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let a = Actor::console();
        s.create_first_admin("Boss", &secrets(), &a).unwrap();
        assert!(matches!(
            s.create_account("Boss", "live", &secrets(), &a),
            Err(StoreError::AccountExists(_))
        ));
        s.create_account("boss", "live", &secrets(), &a).unwrap();
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
