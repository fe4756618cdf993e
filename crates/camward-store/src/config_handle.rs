//! `ConfigHandle`: the current configuration, its change notifications, and the one way to change it.
//! A patch is validated, persisted with its audit entry in one transaction, and only then published.
//! The document is stored with every secret sealed (`Config::to_stored`); a document an older
//! version stored with secrets in clear is sealed when it is first loaded.

use crate::audit::{self, Actor, AuditEvent};
use crate::{Store, StoreError, now_secs};
use camward_config::{Config, FieldError};
use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Why a patch was not applied. Nothing changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The merged document is invalid (HTTP 422).
    #[error("invalid configuration: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// A caller's check refused the change (HTTP 409), e.g. it would lock out the requester.
    #[error("{message}")]
    Refused { rule: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shared by every service; clone freely.
#[derive(Clone)]
pub struct ConfigHandle {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    tx: watch::Sender<Arc<Config>>,
    // Serialises writers so "read current, merge, validate, persist, publish" is atomic.
    write: Mutex<()>,
    // Last seen `PRAGMA data_version`, to notice commits by other processes (the console tools).
    seen_version: Mutex<i64>,
}

impl ConfigHandle {
    /// Loads the stored document (creating the default one on a new device) and validates it.
    pub fn load(store: Store) -> Result<ConfigHandle, StoreError> {
        let config = match read_document(&store)? {
            Some(doc) => {
                let (stored, repaired) = parse_stored_repairing(&store, &doc)?;
                report_unreadable(&store, &stored.unreadable);
                if !repaired.is_empty() {
                    tracing::error!(
                        settings = %repaired.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "),
                        "stored settings that this version refuses were reset to their defaults"
                    );
                    let detail = json!({ "reset": repaired });
                    rewrite_document(&store, &stored.config, "config.repair", detail)?;
                } else if stored.needs_reseal && stored.unreadable.is_empty() {
                    rewrite_document(
                        &store,
                        &stored.config,
                        "secrets.sealed",
                        json!({ "config": true }),
                    )?;
                    tracing::info!(
                        "sealed the configuration secrets an older version stored in clear"
                    );
                }
                stored.config
            }
            None => {
                let config = Config::default();
                let mut conn = store.conn();
                let tx = conn.transaction().map_err(|e| store.sql_err(e))?;
                tx.execute(
                    "INSERT OR IGNORE INTO config (id, document, revision, updated_at) VALUES (1, ?1, 1, ?2)",
                    params![config.to_stored(store.key()).to_string(), now_secs()],
                )
                .map_err(|e| store.sql_err(e))?;
                tx.commit().map_err(|e| store.sql_err(e))?;
                config
            }
        };
        let version = store.data_version()?;
        let (tx, _) = watch::channel(Arc::new(config));
        Ok(ConfigHandle {
            inner: Arc::new(Inner {
                store,
                tx,
                write: Mutex::new(()),
                seen_version: Mutex::new(version),
            }),
        })
    }

    /// The configuration in force now.
    pub fn current(&self) -> Arc<Config> {
        self.inner.tx.borrow().clone()
    }

    /// Notified after every applied change; services re-read their section and apply it without restart.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Config>> {
        self.inner.tx.subscribe()
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Applies an RFC 7396 merge patch: validate, persist + audit in one transaction, publish.
    pub fn patch(&self, patch: &Value, actor: &Actor) -> Result<Arc<Config>, PatchError> {
        self.patch_checked(patch, actor, |_, _| Ok(()))
    }

    /// Like [`patch`](Self::patch), with a caller's check on (old, new) run under the write lock,
    /// e.g. the HTTP API refusing a host filter that would exclude the requester.
    pub fn patch_checked(
        &self,
        patch: &Value,
        actor: &Actor,
        check: impl FnOnce(&Config, &Config) -> Result<(), PatchError>,
    ) -> Result<Arc<Config>, PatchError> {
        let _guard = self.inner.write.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.current();
        let new = current
            .apply_merge_patch(patch)
            .map_err(PatchError::Invalid)?;
        check(&current, &new)?;
        if new == *current {
            return Ok(current);
        }
        // A changed password is listed too (as `{"set": true}`: the values written to the audit
        // log come from the redacted form).
        let changed = current.changed_paths(&new);
        let store = &self.inner.store;
        {
            let mut conn = store.conn();
            let tx = conn.transaction().map_err(|e| store.sql_err(e))?;
            tx.execute(
                "UPDATE config SET document = ?1, revision = revision + 1, updated_at = ?2 WHERE id = 1",
                params![new.to_stored(store.key()).to_string(), now_secs()],
            )
            .map_err(|e| store.sql_err(e))?;
            let redacted = new.redacted();
            let after: serde_json::Map<String, Value> = changed
                .iter()
                .map(|p| {
                    (
                        p.clone(),
                        lookup(&redacted, p).cloned().unwrap_or(Value::Null),
                    )
                })
                .collect();
            audit::insert(
                &tx,
                &AuditEvent::new("config.change")
                    .by(actor)
                    .detail(json!({ "changed": after })),
            )
            .map_err(|e| store.sql_err(e))?;
            tx.commit().map_err(|e| store.sql_err(e))?;
        }
        let new = Arc::new(new);
        self.inner.tx.send_replace(new.clone());
        tracing::info!(changed = ?changed, "configuration changed");
        Ok(new)
    }

    /// Re-reads the document if another process (a console tool) committed to the database since the
    /// last look, and publishes it. Returns whether a new configuration was published.
    pub fn reload_if_changed(&self) -> Result<bool, StoreError> {
        let _guard = self.inner.write.lock().unwrap_or_else(|p| p.into_inner());
        let store = &self.inner.store;
        let version = store.data_version()?;
        {
            let mut seen = self
                .inner
                .seen_version
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if *seen == version {
                return Ok(false);
            }
            *seen = version;
        }
        let Some(doc) = read_document(store)? else {
            return Ok(false);
        };
        let config = parse_stored(store, &doc)?.config;
        if config == *self.current() {
            return Ok(false);
        }
        tracing::info!("configuration changed by another process; applying");
        self.inner.tx.send_replace(Arc::new(config));
        Ok(true)
    }
}

fn read_document(store: &Store) -> Result<Option<String>, StoreError> {
    store
        .conn()
        .query_row("SELECT document FROM config WHERE id = 1", [], |r| r.get(0))
        .optional()
        .map_err(|e| store.sql_err(e))
}

fn parse_stored(store: &Store, doc: &str) -> Result<camward_config::Stored, StoreError> {
    let value: Value = serde_json::from_str(doc).map_err(|e| StoreError::BadStoredConfig {
        path: store.path().to_owned(),
        errors: vec![FieldError::new("", "json", e.to_string())],
    })?;
    Config::from_stored(&value, store.key()).map_err(|errors| StoreError::BadStoredConfig {
        path: store.path().to_owned(),
        errors,
    })
}

/// Sealed secrets that did not open load as unset: the device still starts, the log and the audit
/// log say which ones to enter again. The stored document keeps them until the next change, so
/// restoring the right key file first recovers them.
fn report_unreadable(store: &Store, paths: &[String]) {
    if paths.is_empty() {
        return;
    }
    tracing::error!(
        paths = ?paths,
        "stored secrets do not open with this device's secrets key (identity/secrets.key replaced?): they are unset until entered again"
    );
    let e = AuditEvent::new("config.secret_unreadable").detail(json!({ "paths": paths }));
    if let Err(err) = store.audit(&e) {
        tracing::error!(error = %err, "cannot write audit log");
    }
}

/// Writes the document again (every secret sealed) with its audit entry, at start-up.
fn rewrite_document(
    store: &Store,
    config: &Config,
    kind: &str,
    detail: Value,
) -> Result<(), StoreError> {
    let mut conn = store.conn();
    let tx = conn.transaction().map_err(|e| store.sql_err(e))?;
    tx.execute(
        "UPDATE config SET document = ?1, revision = revision + 1, updated_at = ?2 WHERE id = 1",
        params![config.to_stored(store.key()).to_string(), now_secs()],
    )
    .map_err(|e| store.sql_err(e))?;
    audit::insert(
        &tx,
        &AuditEvent::new(kind)
            .by(&Actor {
                user: Some("(start-up)".into()),
                address: None,
            })
            .detail(detail),
    )
    .map_err(|e| store.sql_err(e))?;
    tx.commit().map_err(|e| store.sql_err(e))
}

/// Rounds of repair at most: each resets the settings the previous validation named.
const REPAIR_ROUNDS: usize = 4;

/// Like [`parse_stored`], but a document that an update's tighter rules refuse (an absolute
/// `recording.directory` stored before it was refused) gets each refused setting reset to its
/// default instead of stopping the camera; returns what was reset. A document that cannot be
/// repaired that way (not JSON, an error of the whole document) still stops start-up.
fn parse_stored_repairing(
    store: &Store,
    doc: &str,
) -> Result<(camward_config::Stored, Vec<FieldError>), StoreError> {
    let mut value: Value = serde_json::from_str(doc).map_err(|e| StoreError::BadStoredConfig {
        path: store.path().to_owned(),
        errors: vec![FieldError::new("", "json", e.to_string())],
    })?;
    let mut repaired = Vec::new();
    for _ in 0..REPAIR_ROUNDS {
        let errors = match Config::from_stored(&value, store.key()) {
            Ok(stored) => return Ok((stored, repaired)),
            Err(errors) => errors,
        };
        let mut changed = false;
        for e in &errors {
            // The setting named, or the whole list an element of it belongs to.
            let setting = e.path.split('[').next().unwrap_or("");
            changed |= !setting.is_empty() && remove_path(&mut value, setting);
        }
        if !changed {
            return Err(StoreError::BadStoredConfig {
                path: store.path().to_owned(),
                errors,
            });
        }
        repaired.extend(errors);
    }
    Config::from_stored(&value, store.key())
        .map(|stored| (stored, repaired))
        .map_err(|errors| StoreError::BadStoredConfig {
            path: store.path().to_owned(),
            errors,
        })
}

/// Removes the key at a dotted path (so the setting takes its default); whether it was there.
fn remove_path(v: &mut Value, path: &str) -> bool {
    let (parent, key) = match path.rsplit_once('.') {
        Some((p, k)) => (p.split('.').try_fold(v, |v, k| v.get_mut(k)), k),
        None => (Some(v), path),
    };
    parent
        .and_then(Value::as_object_mut)
        .is_some_and(|o| o.remove(key).is_some())
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle() -> (tempfile::TempDir, ConfigHandle) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, ConfigHandle::load(store).unwrap())
    }

    #[test]
    fn valid_patch_is_persisted_audited_and_published() {
        let (dir, h) = handle();
        let mut rx = h.subscribe();
        h.patch(&json!({"user_auth": {"guest": true}}), &Actor::console())
            .unwrap();
        assert!(rx.has_changed().unwrap());
        assert!(rx.borrow_and_update().user_auth.guest);
        let log = h.store().audit_log(1, None).unwrap();
        assert_eq!(log[0].kind, "config.change");
        assert_eq!(log[0].detail["changed"]["user_auth.guest"], json!(true));
        // Survives a reopen.
        drop(h);
        let h2 = ConfigHandle::load(Store::open(dir.path()).unwrap()).unwrap();
        assert!(h2.current().user_auth.guest);
    }

    #[test]
    fn invalid_patch_changes_nothing() {
        let (_dir, h) = handle();
        let rx = h.subscribe();
        let before = h.current();
        let err = h.patch(
            &json!({"user_auth": {"guest": "yes"}, "host_auth": {"enabled": true}}),
            &Actor::console(),
        );
        assert!(matches!(err, Err(PatchError::Invalid(_))));
        assert_eq!(*h.current(), *before);
        assert!(!rx.has_changed().unwrap());
        assert!(h.store().audit_log(10, None).unwrap().is_empty());
    }

    #[test]
    fn refused_check_changes_nothing() {
        let (_dir, h) = handle();
        let r = h.patch_checked(
            &json!({"user_auth": {"guest": true}}),
            &Actor::console(),
            |_, _| {
                Err(PatchError::Refused {
                    rule: "x".into(),
                    message: "no".into(),
                })
            },
        );
        assert!(matches!(r, Err(PatchError::Refused { .. })));
        assert!(!h.current().user_auth.guest);
    }

    #[test]
    fn secrets_are_sealed_in_the_database_and_clear_ones_of_an_old_one_get_sealed() {
        let (dir, h) = handle();
        h.patch(
            &json!({"smtp": {"password": "SeCrEt-smtp-1"}}),
            &Actor::console(),
        )
        .unwrap();
        let raw = |d: &std::path::Path| -> String {
            let c = rusqlite::Connection::open(d.join(crate::DB_FILE)).unwrap();
            c.query_row("SELECT document FROM config", [], |r| r.get(0))
                .unwrap()
        };
        assert!(!raw(dir.path()).contains("SeCrEt"));
        let log = h.store().audit_log(1, None).unwrap();
        assert_eq!(
            log[0].detail["changed"]["smtp.password"],
            json!({"set": true})
        );
        drop(h);
        // The document as an older version stored it: the same shape, the secret in clear.
        let old = json!({"smtp": {"password": "SeCrEt-smtp-1"}}).to_string();
        rusqlite::Connection::open(dir.path().join(crate::DB_FILE))
            .unwrap()
            .execute("UPDATE config SET document = ?1", [old])
            .unwrap();
        let h = ConfigHandle::load(Store::open(dir.path()).unwrap()).unwrap();
        assert_eq!(h.current().smtp.password.expose(), Some("SeCrEt-smtp-1"));
        assert!(!raw(dir.path()).contains("SeCrEt"));
        assert_eq!(
            h.store().audit_log(1, None).unwrap()[0].kind,
            "secrets.sealed"
        );
    }

    #[test]
    fn secrets_under_a_lost_key_load_unset_and_stay_stored_until_changed() {
        let (dir, h) = handle();
        h.patch(
            &json!({"smtp": {"password": "SeCrEt-smtp-1"}}),
            &Actor::console(),
        )
        .unwrap();
        drop(h);
        let key = crate::secrets_key::key_path(dir.path());
        let saved = std::fs::read(&key).unwrap();
        std::fs::remove_file(&key).unwrap();
        let h = ConfigHandle::load(Store::open(dir.path()).unwrap()).unwrap();
        assert!(!h.current().smtp.password.is_set());
        let log = h.store().audit_log(1, None).unwrap();
        assert_eq!(log[0].kind, "config.secret_unreadable");
        assert_eq!(log[0].detail["paths"], json!(["smtp.password"]));
        drop(h);
        // Restoring the key file recovers the secret.
        std::fs::write(&key, saved).unwrap();
        let h = ConfigHandle::load(Store::open(dir.path()).unwrap()).unwrap();
        assert_eq!(h.current().smtp.password.expose(), Some("SeCrEt-smtp-1"));
    }

    #[test]
    fn settings_an_update_refuses_are_reset_and_audited_instead_of_stopping() {
        let (dir, h) = handle();
        h.patch(
            &json!({"recording": {"enabled": true}, "user_auth": {"guest": true}}),
            &Actor::console(),
        )
        .unwrap();
        drop(h);
        let c = rusqlite::Connection::open(dir.path().join(crate::DB_FILE)).unwrap();
        let doc: String = c
            .query_row("SELECT document FROM config", [], |r| r.get(0))
            .unwrap();
        let mut doc: Value = serde_json::from_str(&doc).unwrap();
        // Stored by a version that accepted it.
        doc["recording"]["directory"] = json!("/etc");
        c.execute("UPDATE config SET document = ?1", [doc.to_string()])
            .unwrap();
        drop(c);
        let h = ConfigHandle::load(Store::open(dir.path()).unwrap()).unwrap();
        let cur = h.current();
        assert_eq!(
            cur.recording.directory,
            std::path::PathBuf::from("recordings")
        );
        assert!(
            cur.recording.enabled && cur.user_auth.guest,
            "the rest is kept"
        );
        let log = h.store().audit_log(1, None).unwrap();
        assert_eq!(log[0].kind, "config.repair");
        assert_eq!(log[0].detail["reset"][0]["path"], "recording.directory");
        // Not JSON at all still stops start-up.
        drop(h);
        rusqlite::Connection::open(dir.path().join(crate::DB_FILE))
            .unwrap()
            .execute("UPDATE config SET document = 'nope'", [])
            .unwrap();
        assert!(matches!(
            ConfigHandle::load(Store::open(dir.path()).unwrap()),
            Err(StoreError::BadStoredConfig { .. })
        ));
    }

    #[test]
    fn changes_by_another_connection_are_picked_up() {
        let (dir, h) = handle();
        let other = ConfigHandle::load(Store::open(dir.path()).unwrap()).unwrap();
        other
            .patch(
                &json!({"user_auth": {"method": "digest_or_basic"}}),
                &Actor::console(),
            )
            .unwrap();
        assert!(h.reload_if_changed().unwrap());
        assert_eq!(
            h.current().user_auth.method,
            camward_config::AuthMethod::DigestOrBasic
        );
        assert!(!h.reload_if_changed().unwrap());
    }
}
