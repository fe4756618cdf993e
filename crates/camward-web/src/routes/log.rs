//! `GET /api/v1/log`: the audit log, newest first, a page at a time (administrators only), and
//! `GET /api/v1/log/download`: the same selection as a CSV or JSON file for an auditor's tools.
//!
//! Filters (both routes): `kind` (comma-separated kind prefixes: `login` selects `login.ok`,
//! `login.fail`, …), `actor` (exact user name), `from`/`to` (RFC 3339, `from` inclusive);
//! paging: `limit` (1–1000, default 100) and `before` (an entry id: older entries).

use super::types::{LogEntry, LogPage, LogQuery};
use crate::WebState;
use crate::auth::{Admin, Require};
use crate::error::ApiError;
use aide::OperationOutput;
use aide::generate::GenContext;
use aide::openapi::{Operation, Response as DocResponse};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use camward_store::{AuditEntry, AuditQuery};
use schemars::JsonSchema;
use serde::Deserialize;

/// Most entries one download holds: the whole table (it is pruned at 20,000 rows).
const DOWNLOAD_LIMIT: u32 = camward_store::MAX_AUDIT_ROWS as u32;

fn time_ms(name: &str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    let Some(v) = v.as_deref().filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    super::recordings::parse_rfc3339(v)
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_query(
                name,
                "query.rfc3339",
                format!("{name}: an RFC 3339 time is required, e.g. 2026-11-22T03:45:00Z"),
            )
        })
}

/// The filters shared by the page and the download, checked.
fn selection(
    kind: &Option<String>,
    actor: &Option<String>,
    from: &Option<String>,
    to: &Option<String>,
) -> Result<AuditQuery, ApiError> {
    let kinds: Vec<String> = kind
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    if kinds.len() > 32
        || kinds.iter().any(|k| {
            k.len() > 64
                || !k
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_')
        })
    {
        return Err(ApiError::bad_query(
            "kind",
            "query.kind",
            "kind: comma-separated event kinds such as login,config.change",
        ));
    }
    let q = AuditQuery {
        kinds,
        actor: actor.clone().filter(|a| !a.is_empty()),
        from_ms: time_ms("from", from)?,
        to_ms: time_ms("to", to)?,
        ..Default::default()
    };
    if let (Some(a), Some(b)) = (q.from_ms, q.to_ms)
        && a >= b
    {
        return Err(ApiError::bad_query(
            "to",
            "query.order",
            "`to` must be after `from`",
        ));
    }
    Ok(q)
}

fn entry(e: AuditEntry) -> LogEntry {
    LogEntry {
        id: e.id,
        time_ms: e.time_ms,
        kind: e.kind,
        actor: e.actor,
        address: e.address,
        target: e.target,
        detail: e.detail,
    }
}

pub(crate) async fn log(
    State(st): State<WebState>,
    _p: Require<Admin>,
    q: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LogPage>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("query", e.body_text()))?;
    // Out of range is refused, as the document says, rather than silently clamped.
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "query",
            format!("limit {limit}: between 1 and 1000"),
        ));
    }
    let mut sel = selection(&q.kind, &q.actor, &q.from, &q.to)?;
    sel.before = q.before;
    // One more than asked tells whether an older page exists.
    sel.limit = limit + 1;
    let store = st.config.store().clone();
    let mut entries = tokio::task::spawn_blocking(move || store.audit_query(&sel)).await??;
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let next_before = more.then(|| entries.last().map(|e| e.id)).flatten();
    Ok(Json(LogPage {
        entries: entries.into_iter().map(entry).collect(),
        next_before,
    }))
}

/// `GET /api/v1/log/download` query.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DownloadQuery {
    /// `csv` (default) or `json`.
    format: Option<String>,
    /// Comma-separated kind prefixes.
    kind: Option<String>,
    /// Exact user name.
    actor: Option<String>,
    /// RFC 3339; entries at or after it.
    #[schemars(extend("format" = "date-time"))]
    from: Option<String>,
    /// RFC 3339; entries before it.
    #[schemars(extend("format" = "date-time"))]
    to: Option<String>,
}

pub(crate) async fn download(
    State(st): State<WebState>,
    _p: Require<Admin>,
    q: Result<Query<DownloadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<LogFile, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("query", e.body_text()))?;
    let csv = match q.format.as_deref().unwrap_or("csv") {
        "csv" => true,
        "json" => false,
        _ => {
            return Err(ApiError::bad_query(
                "format",
                "query.format",
                "format: csv or json",
            ));
        }
    };
    let mut sel = selection(&q.kind, &q.actor, &q.from, &q.to)?;
    sel.limit = DOWNLOAD_LIMIT;
    let store = st.config.store().clone();
    let entries = tokio::task::spawn_blocking(move || store.audit_query(&sel)).await??;
    let entries: Vec<LogEntry> = entries.into_iter().map(entry).collect();
    let stamp = super::device::rfc3339(std::time::SystemTime::now())
        .replace([':', '-'], "")
        .chars()
        .take(15)
        .collect::<String>();
    let serial = st.info.serial.clone().unwrap_or_else(|| "camward".into());
    if csv {
        Ok(LogFile {
            body: to_csv(&entries),
            content_type: "text/csv; charset=utf-8",
            name: format!("{serial}-log-{stamp}.csv"),
        })
    } else {
        Ok(LogFile {
            body: serde_json::to_string_pretty(&LogPage {
                entries,
                next_before: None,
            })
            .map_err(ApiError::internal)?,
            content_type: "application/json",
            name: format!("{serial}-log-{stamp}.json"),
        })
    }
}

/// RFC 4180 CSV: a header line, then one line per entry; `time` in RFC 3339 UTC, `detail` as
/// its JSON text. Fields are quoted when they hold a comma, quote or line break, and a field
/// that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a leading `'`.
fn to_csv(entries: &[LogEntry]) -> String {
    fn field(out: &mut String, v: &str) {
        let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{v}")
        } else {
            v.to_owned()
        };
        if v.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&v.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&v);
        }
    }
    let mut out = String::from("id,time,kind,actor,address,target,detail\r\n");
    for e in entries {
        let time = time::OffsetDateTime::from_unix_timestamp_nanos(e.time_ms as i128 * 1_000_000)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let detail = if e.detail == serde_json::json!({}) {
            String::new()
        } else {
            e.detail.to_string()
        };
        let cells = [
            e.id.to_string(),
            time,
            e.kind.clone(),
            e.actor.clone().unwrap_or_default(),
            e.address.clone().unwrap_or_default(),
            e.target.clone().unwrap_or_default(),
            detail,
        ];
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            field(&mut out, c);
        }
        out.push_str("\r\n");
    }
    out
}

/// A log file sent as an attachment.
pub(crate) struct LogFile {
    body: String,
    content_type: &'static str,
    name: String,
}

impl IntoResponse for LogFile {
    fn into_response(self) -> Response {
        let mut r = self.body.into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", self.name)) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        r
    }
}

impl OperationOutput for LogFile {
    type Inner = ();
    fn operation_response(ctx: &mut GenContext, _: &mut Operation) -> Option<DocResponse> {
        let mut r = super::media::binary(
            "the selected entries as an attachment: CSV (id,time,kind,actor,address,target,detail) or JSON",
            "text/csv",
        );
        let json = aide::openapi::MediaType {
            schema: Some(aide::openapi::SchemaObject {
                json_schema: ctx.schema.subschema_for::<LogPage>(),
                example: None,
                external_docs: None,
            }),
            ..Default::default()
        };
        r.content.insert("application/json".into(), json);
        Some(r)
    }
    fn inferred_responses(
        ctx: &mut GenContext,
        op: &mut Operation,
    ) -> Vec<(Option<aide::openapi::StatusCode>, DocResponse)> {
        super::media::as_200(Self::operation_response(ctx, op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: &str, actor: &str, detail: serde_json::Value) -> LogEntry {
        LogEntry {
            id: 7,
            time_ms: 1_700_000_000_123,
            kind: kind.into(),
            actor: Some(actor.into()),
            address: Some("192.0.2.7".into()),
            target: None,
            detail,
        }
    }

    #[test]
    fn csv_quotes_what_needs_it_and_defuses_formulas() {
        let csv = to_csv(&[
            e("login.ok", "ann", serde_json::json!({"protocol": "https"})),
            e("login.fail", "=cmd|'/c calc'!A1", serde_json::json!({})),
        ]);
        let lines: Vec<_> = csv.split("\r\n").collect();
        assert_eq!(lines[0], "id,time,kind,actor,address,target,detail");
        assert_eq!(
            lines[1],
            "7,2023-11-14T22:13:20.123Z,login.ok,ann,192.0.2.7,,\"{\"\"protocol\"\":\"\"https\"\"}\""
        );
        assert!(lines[2].contains(",'=cmd|'/c calc'!A1,"), "{}", lines[2]);
    }

    #[test]
    fn filters_are_checked() {
        let s = |k: &str| Some(k.to_owned());
        let q = selection(&s("login, config.change"), &s("ann"), &None, &None).unwrap();
        assert_eq!(q.kinds, ["login", "config.change"]);
        assert_eq!(q.actor.as_deref(), Some("ann"));
        let e = selection(&s("login'--"), &None, &None, &None).unwrap_err();
        assert_eq!(e.errors[0].path, "kind");
        let e = selection(&None, &None, &s("yesterday"), &None).unwrap_err();
        assert_eq!(e.errors[0].path, "from");
        let e = selection(
            &None,
            &None,
            &s("2026-01-02T00:00:00Z"),
            &s("2026-01-01T00:00:00Z"),
        )
        .unwrap_err();
        assert_eq!(e.errors[0].path, "to");
    }
}
