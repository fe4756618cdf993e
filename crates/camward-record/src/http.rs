//! HTTP handlers for recordings as plain functions over `http` types, so the web layer mounts
//! them behind its own routing and access levels (control and above) without this crate knowing axum.

use crate::error::Error;
use crate::export::export as build_export;
use crate::index::{Index, ListFilter};
use crate::timeutil::{file_stamp, parse_rfc3339};
use bytes::Bytes;
use http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    RANGE,
};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use std::io::{Read, Seek, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Response body of every handler here.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// Read size for streamed files: large enough for few syscalls, small enough to keep memory flat.
const CHUNK: usize = 256 * 1024;

fn full(b: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(b.into())
        .map_err(|never| match never {})
        .boxed()
}

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(full(serde_json::to_vec(v).expect("JSON value serialises")));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, field: Option<&str>, message: &str) -> Response<Body> {
    let mut v = serde_json::json!({ "error": message });
    if let Some(f) = field {
        v["field"] = f.into();
    }
    json_response(status, &v)
}

fn index_error(e: &Error) -> Response<Body> {
    match e {
        Error::NotFound(_) | Error::NothingToExport { .. } => {
            error(StatusCode::NOT_FOUND, None, &e.to_string())
        }
        Error::FormatChange { .. } => error(StatusCode::UNPROCESSABLE_ENTITY, None, &e.to_string()),
        _ => {
            tracing::error!(error = %e, "recordings API");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "recording storage error (see the log)",
            )
        }
    }
}

/// Percent-decodes a query component; `+` stays `+` so RFC 3339 offsets survive unencoded.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Parsed `stream`/`from`/`to` query; errors name the field (400).
fn parse_filter(q: Option<&str>) -> Result<ListFilter, Box<Response<Body>>> {
    let mut f = ListFilter::default();
    for (k, v) in query_pairs(q) {
        match k.as_str() {
            "stream" => {
                f.stream = Some(v.parse().ok().filter(|s: &u8| *s >= 1).ok_or_else(|| {
                    Box::new(error(
                        StatusCode::BAD_REQUEST,
                        Some("stream"),
                        "stream must be a stream number (1 or 2)",
                    ))
                })?)
            }
            "from" | "to" => {
                let t = parse_rfc3339(&v).ok_or_else(|| {
                    Box::new(error(
                        StatusCode::BAD_REQUEST,
                        Some(&k),
                        "an RFC 3339 time is required, e.g. 2026-11-22T03:45:00Z",
                    ))
                })?;
                if k == "from" {
                    f.from_ms = Some(t)
                } else {
                    f.to_ms = Some(t)
                }
            }
            // Unknown parameters are ignored, as caches and browsers add their own.
            _ => {}
        }
    }
    if let (Some(a), Some(b)) = (f.from_ms, f.to_ms) {
        if a >= b {
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                Some("to"),
                "`to` must be after `from`",
            )));
        }
    }
    Ok(f)
}

/// `GET /api/v1/recordings?stream=&from=&to=`: JSON array of recordings, oldest first.
pub fn list(index: &Index, query: Option<&str>) -> Response<Body> {
    let f = match parse_filter(query) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    match index.list(&f) {
        Ok(rows) => json_response(
            StatusCode::OK,
            &serde_json::to_value(rows).expect("rows serialise"),
        ),
        Err(e) => index_error(&e),
    }
}

/// `{id}.mp4` → id, for the web layer's route.
pub fn parse_recording_id(segment: &str) -> Option<i64> {
    segment
        .strip_suffix(".mp4")?
        .parse()
        .ok()
        .filter(|id| *id > 0)
}

/// A body fed by a blocking reader on tokio's blocking pool.
struct ChannelBody {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    len: u64,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// Streams `len` bytes of `reader`; the reading thread stops when the client goes away.
fn stream_body<R: Read + Send + 'static>(mut reader: R, len: u64) -> Body {
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut left = len;
        while left > 0 {
            let mut buf = vec![0u8; CHUNK.min(left as usize)];
            let res = reader.read(&mut buf);
            let item = match res {
                Ok(0) => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "recording shorter than announced",
                )),
                Ok(n) => {
                    buf.truncate(n);
                    left -= n as u64;
                    Ok(Bytes::from(buf))
                }
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    BoxBody::new(ChannelBody { rx, len })
}

/// One `bytes=` range against a file of `len` bytes: Ok(None) = serve it whole.
fn parse_range(h: Option<&HeaderValue>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(h) = h else { return Ok(None) };
    let Some(spec) = h
        .to_str()
        .ok()
        .and_then(|s| s.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Multipart ranges are optional (RFC 9110 §14.2); players ask for one range.
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len.saturating_sub(1))
    } else {
        let s: u64 = a.parse().map_err(|_| ())?;
        let e: u64 = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1))
        };
        (s, e)
    };
    if len == 0 || start >= len || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

fn attachment(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or(HeaderValue::from_static("attachment"))
}

fn video_headers(h: &mut HeaderMap, len: u64, name: &str) {
    h.insert(CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(CONTENT_DISPOSITION, attachment(name));
    // Video of people: no shared cache keeps a copy.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
}

/// `GET /api/v1/recordings/{id}.mp4` with `Range` support. Call inside a tokio runtime.
pub fn download(index: &Index, id: i64, req: &HeaderMap) -> Response<Body> {
    let row = match index.get(id) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                None,
                &format!("recording {id} does not exist"),
            );
        }
        Err(e) => return index_error(&e),
    };
    let path = index.dir().join(&row.path);
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Retention removed it between listing and download.
            return error(
                StatusCode::NOT_FOUND,
                None,
                &format!("recording {id} was deleted"),
            );
        }
        Err(e) => {
            return index_error(&Error::Io {
                op: "open",
                path,
                source: e,
            });
        }
    };
    // The file's own length, not the row's: a file being written grows, and only this is served.
    let len = match file.metadata() {
        Ok(m) => m.len(),
        Err(e) => {
            return index_error(&Error::Io {
                op: "stat",
                path,
                source: e,
            });
        }
    };
    let name = format!(
        "camward-stream{}-{}-{id}.mp4",
        row.stream,
        file_stamp(row.start_ms)
    );
    let (status, start, n) = match parse_range(req.get(RANGE), len) {
        Ok(None) => (StatusCode::OK, 0, len),
        Ok(Some((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        Err(()) => {
            let mut r = error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                None,
                "range not satisfiable",
            );
            r.headers_mut().insert(
                CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
            );
            return r;
        }
    };
    if let Err(e) = file.seek(SeekFrom::Start(start)) {
        return index_error(&Error::Io {
            op: "seek",
            path,
            source: e,
        });
    }
    let mut r = Response::new(stream_body(file.take(n), n));
    *r.status_mut() = status;
    video_headers(r.headers_mut(), n, &name);
    r.headers_mut()
        .insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        let v = format!("bytes {start}-{}/{len}", start + n - 1);
        r.headers_mut()
            .insert(CONTENT_RANGE, HeaderValue::from_str(&v).expect("ascii"));
    }
    r
}

/// `GET /api/v1/export.mp4?stream=1&from=…&to=…`: one MP4 of whole GOPs covering the range.
/// Call inside a tokio runtime.
pub fn export(index: &Index, query: Option<&str>) -> Response<Body> {
    let f = match parse_filter(query) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let (Some(from), Some(to)) = (f.from_ms, f.to_ms) else {
        let field = if f.from_ms.is_none() { "from" } else { "to" };
        return error(
            StatusCode::BAD_REQUEST,
            Some(field),
            "`from` and `to` are required",
        );
    };
    let stream = f.stream.unwrap_or(1);
    match build_export(index, stream, from, to) {
        Ok(x) => {
            let len = x.len();
            let name = format!(
                "camward-stream{stream}-{}-{}.mp4",
                file_stamp(x.start_ms),
                file_stamp(x.end_ms)
            );
            let mut r = Response::new(stream_body(x, len));
            video_headers(r.headers_mut(), len, &name);
            r
        }
        Err(e) => index_error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(parse_range(Some(&h("bytes=0-99")), 1000), Ok(Some((0, 99))));
        assert_eq!(
            parse_range(Some(&h("bytes=900-")), 1000),
            Ok(Some((900, 999)))
        );
        assert_eq!(
            parse_range(Some(&h("bytes=-100")), 1000),
            Ok(Some((900, 999)))
        );
        assert_eq!(
            parse_range(Some(&h("bytes=990-2000")), 1000),
            Ok(Some((990, 999)))
        );
        assert_eq!(parse_range(Some(&h("bytes=1000-")), 1000), Err(()));
        assert_eq!(parse_range(Some(&h("bytes=0-1,5-6")), 1000), Ok(None));
        assert_eq!(parse_range(None, 1000), Ok(None));
    }

    #[test]
    fn bad_query_names_the_field() {
        let r = parse_filter(Some("stream=1&from=yesterday")).unwrap_err();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let f = parse_filter(Some(
            "stream=2&from=2026-11-22T03%3A45%3A00Z&to=2026-11-22T05:45:00+01:00",
        ))
        .unwrap();
        assert_eq!(f.stream, Some(2));
        assert_eq!(f.from_ms, parse_rfc3339("2026-11-22T03:45:00Z"));
        assert_eq!(f.to_ms, f.from_ms.map(|t| t + 3_600_000));
    }
}
