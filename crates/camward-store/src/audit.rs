//! The audit log: logins and failures, lockouts, account and setting changes, with time and address.
//! Written in the same transaction as the change it describes; pruned to a fixed number of rows.

use crate::{Store, StoreError, now_ms};
use rusqlite::{Transaction, params};
use serde::Serialize;
use serde_json::{Value, json};
use std::net::IpAddr;

/// Rows kept; older ones are pruned so a flood of failures cannot fill the storage.
pub const MAX_AUDIT_ROWS: i64 = 20_000;

/// Who made a change: a user over the network, or the console (no address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: Option<String>,
    pub address: Option<IpAddr>,
}

impl Actor {
    pub fn console() -> Actor {
        Actor {
            user: Some("(console)".into()),
            address: None,
        }
    }
    pub fn remote(user: Option<&str>, address: IpAddr) -> Actor {
        Actor {
            user: user.map(str::to_owned),
            address: Some(address),
        }
    }
}

/// One event to record. `detail` must never contain a password or other secret.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub kind: String,
    pub actor: Option<String>,
    pub address: Option<IpAddr>,
    pub target: Option<String>,
    pub detail: Value,
}

impl AuditEvent {
    pub fn new(kind: impl Into<String>) -> Self {
        AuditEvent {
            kind: kind.into(),
            actor: None,
            address: None,
            target: None,
            detail: json!({}),
        }
    }
    pub fn by(mut self, actor: &Actor) -> Self {
        self.actor = actor.user.clone();
        self.address = actor.address;
        self
    }
    pub fn actor(mut self, user: Option<&str>) -> Self {
        self.actor = user.map(str::to_owned);
        self
    }
    pub fn address(mut self, address: IpAddr) -> Self {
        self.address = Some(address);
        self
    }
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// One row of the log as served by `GET /api/v1/log` and `camward log`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub time_ms: i64,
    pub kind: String,
    pub actor: Option<String>,
    pub address: Option<String>,
    pub target: Option<String>,
    pub detail: Value,
}

pub(crate) fn insert(tx: &Transaction<'_>, e: &AuditEvent) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO audit (time_ms, kind, actor, address, target, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![now_ms(), e.kind, e.actor, e.address.map(|a| a.to_string()), e.target, e.detail.to_string()],
    )?;
    let id = tx.last_insert_rowid();
    // Prune in batches rather than on every insert: one DELETE per 100 events is enough to bound the table.
    if id % 100 == 0 {
        tx.execute(
            "DELETE FROM audit WHERE id <= ?1",
            params![id - MAX_AUDIT_ROWS],
        )?;
    }
    Ok(())
}

/// Which entries [`Store::audit_query`] returns: newest first, at most `limit`, older than
/// `before` (an id), and only those matching every filter given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub limit: u32,
    pub before: Option<i64>,
    /// Kind prefixes: `login` matches `login` and `login.ok`, `login.fail`, …; empty = all kinds.
    pub kinds: Vec<String>,
    /// Exact actor (user name as given).
    pub actor: Option<String>,
    /// Time range in milliseconds since 1970: `from_ms` inclusive, `to_ms` exclusive.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

impl Store {
    /// Records one event in its own transaction.
    pub fn audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql_err(e))?;
        insert(&tx, event).map_err(|e| self.sql_err(e))?;
        tx.commit().map_err(|e| self.sql_err(e))
    }

    /// Newest first: at most `limit` entries with id below `before` (all when `None`).
    pub fn audit_log(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_query(&AuditQuery {
            limit,
            before,
            ..Default::default()
        })
    }

    /// The entries `q` selects, newest first. Filters are SQL parameters, never text spliced into
    /// the statement.
    pub fn audit_query(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let mut sql = String::from(
            "SELECT id, time_ms, kind, actor, address, target, detail FROM audit WHERE id < ?",
        );
        let mut args: Vec<rusqlite::types::Value> = vec![q.before.unwrap_or(i64::MAX).into()];
        if !q.kinds.is_empty() {
            let alts = vec!["(kind = ? OR kind LIKE ? ESCAPE '\\')"; q.kinds.len()].join(" OR ");
            sql.push_str(&format!(" AND ({alts})"));
            for k in &q.kinds {
                let escaped = k
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                args.push(k.clone().into());
                args.push(format!("{escaped}.%").into());
            }
        }
        if let Some(a) = &q.actor {
            sql.push_str(" AND actor = ?");
            args.push(a.clone().into());
        }
        if let Some(t) = q.from_ms {
            sql.push_str(" AND time_ms >= ?");
            args.push(t.into());
        }
        if let Some(t) = q.to_ms {
            sql.push_str(" AND time_ms < ?");
            args.push(t.into());
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        args.push(i64::from(q.limit).into());
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql).map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                let detail: String = r.get(6)?;
                Ok(AuditEntry {
                    id: r.get(0)?,
                    time_ms: r.get(1)?,
                    kind: r.get(2)?,
                    actor: r.get(3)?,
                    address: r.get(4)?,
                    target: r.get(5)?,
                    detail: serde_json::from_str(&detail).unwrap_or(Value::String(detail)),
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.sql_err(e))?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_log_is_newest_first_and_paginates() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for i in 0..5 {
            s.audit(&AuditEvent::new("t").target(format!("{i}")))
                .unwrap();
        }
        let page = s.audit_log(2, None).unwrap();
        assert_eq!(
            page.iter()
                .map(|e| e.target.clone().unwrap())
                .collect::<Vec<_>>(),
            ["4", "3"]
        );
        let next = s.audit_log(2, Some(page[1].id)).unwrap();
        assert_eq!(next[0].target.as_deref(), Some("2"));
    }

    #[test]
    fn audit_query_filters_by_kind_prefix_actor_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let ev = |k: &str, who: &str| AuditEvent::new(k).actor(Some(who));
        for e in [
            ev("login.ok", "ann"),
            ev("login.fail", "bob"),
            ev("loginx", "ann"),
            ev("config.change", "ann"),
            ev("login_ok", "ann"),
        ] {
            s.audit(&e).unwrap();
        }
        let kinds = |q: AuditQuery| {
            s.audit_query(&AuditQuery { limit: 10, ..q })
                .unwrap()
                .into_iter()
                .map(|e| e.kind)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(AuditQuery {
                kinds: vec!["login".into()],
                ..Default::default()
            }),
            ["login.fail", "login.ok"],
            "a prefix matches whole dotted parts; `_` is no wildcard"
        );
        assert_eq!(
            kinds(AuditQuery {
                kinds: vec!["login".into(), "config".into()],
                actor: Some("ann".into()),
                ..Default::default()
            }),
            ["config.change", "login.ok"]
        );
        let all = s.audit_log(10, None).unwrap();
        let t = all[2].time_ms;
        let q = AuditQuery {
            from_ms: Some(t),
            to_ms: Some(t + 1),
            ..Default::default()
        };
        assert!(kinds(q).contains(&"loginx".to_string()));
    }

    #[test]
    fn audit_table_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        {
            let mut conn = s.conn();
            let tx = conn.transaction().unwrap();
            tx.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('audit', ?1)",
                [MAX_AUDIT_ROWS * 2 - 50],
            )
            .ok();
            tx.commit().unwrap();
        }
        for _ in 0..100 {
            s.audit(&AuditEvent::new("t")).unwrap();
        }
        let n: i64 = s
            .conn()
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
            .unwrap();
        assert!(n <= MAX_AUDIT_ROWS);
    }
}
