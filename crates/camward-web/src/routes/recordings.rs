//! `GET /api/v1/recordings`, `GET /api/v1/recordings/{id}.mp4` (Range), `GET
//! /api/v1/recordings/{id}/verification` and `GET /api/v1/export.mp4`: the SD-card recordings
//! (paper §3.8–§3.9), at access level Camera control and above. The files and the verdicts of
//! their signatures come from a [`Recordings`] handle the daemon fills in with camward-record's
//! index and camward-sign's verifier; an encrypted recording is never decrypted on the camera.

use crate::WebState;
use crate::auth::{Control, Require};
use crate::error::ApiError;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    RANGE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, SeekFrom};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Read size for streamed files: large enough for few syscalls, small enough to keep memory flat.
const CHUNK: usize = 256 * 1024;

/// One recording as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RecordingInfo {
    /// Id for `/api/v1/recordings/{id}.mp4`.
    pub id: i64,
    /// The upstream camera it was pulled from (recorder mode, the `cameras` settings); absent
    /// for this device's own streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    /// Stream(1) or Stream(2) (of the upstream camera, for a camera's recording).
    pub stream: u8,
    /// First frame, RFC 3339 UTC.
    pub start: String,
    /// Last frame so far, RFC 3339 UTC.
    pub end: String,
    /// File size.
    pub bytes: u64,
    pub frames: u64,
    /// Frames the recorder could not keep up with.
    pub skipped_frames: u64,
    /// ONVIF Media Signing SEIs in the stream (paper §3.9).
    pub signed: bool,
    /// Samples encrypted with 'cenc' (paper §3.8).
    pub encrypted: bool,
    pub state: RecordingState,
    pub trigger: RecordingTrigger,
    pub width: u32,
    pub height: u32,
    /// Where the recording is kept: on the card, in the object store (uploaded and checked), or
    /// both (not yet removed, or fetched back for playback). Download, export and verification
    /// work the same for each.
    pub location: RecordingLocation,
}

/// Where a recording is kept (paper §3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingLocation {
    /// On the card only.
    Card,
    /// In the object store only (fetched back when played).
    Bucket,
    /// Confirmed in the object store and still on the card.
    CardAndBucket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    /// Being written.
    Recording,
    /// Closed normally.
    Finished,
    /// Closed by crash recovery at start.
    Recovered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingTrigger {
    Continuous,
    Alarm,
}

/// What the camera's own check of a recording's signatures says (paper §3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerificationVerdict {
    /// Every frame matches its signature.
    Authentic,
    /// A frame differs from what was signed, or a signature does not verify.
    Altered,
    /// Frames that were signed are missing.
    MissingFrames,
    /// Signed frames are out of their signed order.
    Reordered,
    /// The video carries no signature (alteration detection was off).
    Unsigned,
    /// Signed, but the signature cannot be checked (no certificate in the stream).
    NotVerifiable,
    /// Encrypted (paper §3.8): the camera cannot check it without decrypting, which it never
    /// does; decrypt it on a viewer's computer, then verify.
    Encrypted,
    /// Still being written and nothing signed yet.
    Pending,
}

/// Where the signing certificate's authority comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignerTrust {
    /// The chain leads to the CA that issued this camera's certificate.
    Trusted,
    /// Signed with a self-signed certificate: proves the video unaltered since signing, not who
    /// signed it.
    SelfSigned,
    /// A CA-issued chain this camera cannot check.
    Untrusted,
}

/// The signer of a recording, as its certificate says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SignerSummary {
    pub trust: SignerTrust,
    pub subject: String,
    pub issuer: String,
    /// The signing key is this camera's.
    pub this_camera: bool,
}

/// `GET /api/v1/recordings/{id}/verification`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Verification {
    pub id: i64,
    pub verdict: VerificationVerdict,
    /// For `altered`: the first altered frame, 1-based in decode order.
    pub first_altered_frame: Option<u64>,
    /// Frames in the file.
    pub frames: u64,
    /// Frames covered by a verified signature.
    pub verified_frames: u64,
    /// Whether the file was still being written (its last frames are not signed yet).
    pub partial: bool,
    pub signer: Option<SignerSummary>,
    /// The verdict in a sentence for people.
    pub message: String,
}

/// `camera`/`stream`/`from`/`to` of a listing or export, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingFilter {
    /// An upstream camera's name; `None`: every recording (listing) or this device's own
    /// streams (export).
    pub camera: Option<String>,
    pub stream: Option<u8>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

/// A file to stream: the reader, its length and the download name.
pub struct Download {
    pub reader: Box<dyn Read + Send>,
    pub len: u64,
    pub name: String,
}

/// What the recordings routes need from the recorder. Errors are the API's answers: 503 while
/// storage starts (`starting`, with `Retry-After: 1`) or is unusable (`unavailable`), 404, 422.
/// Every method blocks (the routes call them on blocking threads): they read files, and a
/// recording kept in the object store only is fetched back first (503 `object_store` when it
/// cannot be).
pub trait Recordings: Send + Sync + 'static {
    /// Recordings overlapping the filter, oldest first.
    fn list(&self, filter: &RecordingFilter) -> Result<Vec<RecordingInfo>, ApiError>;
    /// The stored file of recording `id`, positioned at its start, with its current length.
    fn open(&self, id: i64) -> Result<(std::fs::File, u64, String), ApiError>;
    /// One MP4 of the whole GOPs of `stream` (of the upstream camera `camera`, or this
    /// device's own) covering `[from_ms, to_ms)`.
    fn export(
        &self,
        camera: Option<&str>,
        stream: u8,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Download, ApiError>;
    /// Checks recording `id`'s signatures (blocking: it reads the file).
    fn verify(&self, id: i64) -> Result<Verification, ApiError>;
}

/// The query of a listing or an export.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub(crate) struct FilterParams {
    /// An upstream camera's name (recorder mode): only its recordings. Without it, a listing
    /// shows every recording and an export takes this device's own stream.
    #[schemars(length(min = 1, max = 32), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    camera: Option<String>,
    /// Stream(1) or Stream(2); exports default to 1.
    #[schemars(with = "Option<u8>", range(min = 1, max = 2))]
    stream: Option<String>,
    /// RFC 3339 time (`2026-11-22T03:45:00Z`); recordings ending after it.
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    from: Option<String>,
    /// RFC 3339 time; recordings starting before it. Must be after `from`.
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    to: Option<String>,
}

pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

impl FilterParams {
    fn check(&self) -> Result<RecordingFilter, ApiError> {
        let mut f = RecordingFilter::default();
        if let Some(c) = &self.camera {
            if !camward_config::cameras::valid_name(c) {
                return Err(ApiError::bad_query(
                    "camera",
                    "query.camera",
                    "camera must be a camera name (1–32 letters, digits, - or _)",
                ));
            }
            f.camera = Some(c.clone());
        }
        if let Some(v) = &self.stream {
            f.stream = Some(
                v.parse()
                    .ok()
                    .filter(|s: &u8| (1..=2).contains(s))
                    .ok_or_else(|| {
                        ApiError::bad_query(
                            "stream",
                            "query.stream",
                            "stream must be a stream number (1 or 2)",
                        )
                    })?,
            );
        }
        for (name, v, slot) in [
            ("from", &self.from, &mut f.from_ms),
            ("to", &self.to, &mut f.to_ms),
        ] {
            if let Some(v) = v {
                *slot = Some(parse_rfc3339(v).ok_or_else(|| {
                    ApiError::bad_query(
                        name,
                        "query.rfc3339",
                        "an RFC 3339 time is required, e.g. 2026-11-22T03:45:00Z",
                    )
                })?);
            }
        }
        if let (Some(a), Some(b)) = (f.from_ms, f.to_ms)
            && a >= b
        {
            return Err(ApiError::bad_query(
                "to",
                "query.order",
                "`to` must be after `from`",
            ));
        }
        Ok(f)
    }
}

fn recordings(st: &WebState) -> Result<Arc<dyn Recordings>, ApiError> {
    st.recordings
        .clone()
        .ok_or_else(|| ApiError::not_found("this server has no recorder"))
}

/// Percent-decodes a query component; `+` stays `+` so RFC 3339 offsets survive unencoded.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl FilterParams {
    /// From the raw query string; unknown parameters are ignored, as caches and browsers add their own.
    fn parse(q: Option<&str>) -> FilterParams {
        let mut p = FilterParams::default();
        for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = Some(decode(v));
            match decode(k).as_str() {
                "camera" => p.camera = v,
                "stream" => p.stream = v,
                "from" => p.from = v,
                "to" => p.to = v,
                _ => {}
            }
        }
        p
    }
}

fn filter(RawQuery(q): RawQuery) -> Result<RecordingFilter, ApiError> {
    FilterParams::parse(q.as_deref()).check()
}

pub(crate) async fn list(
    _: Require<Control>,
    State(st): State<WebState>,
    q: RawQuery,
) -> Result<Json<Vec<RecordingInfo>>, ApiError> {
    let f = filter(q)?;
    let rec = recordings(&st)?;
    tokio::task::spawn_blocking(move || rec.list(&f))
        .await?
        .map(Json)
}

/// The `{id}.mp4` path segment.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct RecordingPath {
    /// `{id}.mp4`, the id from the listing.
    #[schemars(regex(pattern = r"^[0-9]+\.mp4$"))]
    file: String,
}

/// `{id}.mp4` → id.
pub fn parse_recording_id(segment: &str) -> Option<i64> {
    segment
        .strip_suffix(".mp4")?
        .parse()
        .ok()
        .filter(|id| *id > 0)
}

pub(crate) async fn download(
    _: Require<Control>,
    State(st): State<WebState>,
    Path(p): Path<RecordingPath>,
    headers: HeaderMap,
) -> Result<Video, ApiError> {
    let id = parse_recording_id(&p.file)
        .ok_or_else(|| ApiError::not_found("recordings are addressed as {id}.mp4"))?;
    let rec = recordings(&st)?;
    let (mut file, len, name) = tokio::task::spawn_blocking(move || rec.open(id)).await??;
    let (status, start, n) = match parse_range(headers.get(RANGE), len) {
        Ok(None) => (StatusCode::OK, 0, len),
        Ok(Some((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        Err(()) => {
            return Err(ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                "range not satisfiable",
            )
            .header(CONTENT_RANGE, &format!("bytes */{len}")));
        }
    };
    file.seek(SeekFrom::Start(start))
        .map_err(|e| ApiError::internal(format!("seek in recording {id}: {e}")))?;
    Ok(Video {
        status,
        body: stream_body(file.take(n), n),
        len: n,
        name,
        range: (status == StatusCode::PARTIAL_CONTENT)
            .then(|| format!("bytes {start}-{}/{len}", start + n - 1)),
    })
}

/// The `{id}` path segment of a verification.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct RecordingId {
    /// The id from the listing.
    id: i64,
}

pub(crate) async fn verification(
    _: Require<Control>,
    State(st): State<WebState>,
    path: Result<Path<RecordingId>, axum::extract::rejection::PathRejection>,
) -> Result<Json<Verification>, ApiError> {
    // A malformed id gets the API's one error shape, not axum's plain-text rejection.
    let Path(RecordingId { id }) =
        path.map_err(|e| ApiError::bad_request("path.id", e.body_text()))?;
    let rec = recordings(&st)?;
    tokio::task::spawn_blocking(move || rec.verify(id))
        .await?
        .map(Json)
}

pub(crate) async fn export(
    _: Require<Control>,
    State(st): State<WebState>,
    q: RawQuery,
) -> Result<Video, ApiError> {
    let f = filter(q)?;
    let (Some(from), Some(to)) = (f.from_ms, f.to_ms) else {
        let field = if f.from_ms.is_none() { "from" } else { "to" };
        return Err(ApiError::bad_query(
            field,
            "query.required",
            "`from` and `to` are required",
        ));
    };
    let rec = recordings(&st)?;
    let stream = f.stream.unwrap_or(1);
    let camera = f.camera;
    // Export reads and indexes every file of the range: keep it off the async workers.
    let d = tokio::task::spawn_blocking(move || rec.export(camera.as_deref(), stream, from, to))
        .await??;
    Ok(Video {
        status: StatusCode::OK,
        body: stream_body(d.reader, d.len),
        len: d.len,
        name: d.name,
        range: None,
    })
}

/// An MP4 answer: whole (200) or a range (206), as an attachment.
pub struct Video {
    status: StatusCode,
    body: Body,
    len: u64,
    name: String,
    range: Option<String>,
}

impl IntoResponse for Video {
    fn into_response(self) -> Response {
        let mut r = Response::new(self.body);
        *r.status_mut() = self.status;
        let h = r.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
        h.insert(CONTENT_LENGTH, HeaderValue::from(self.len));
        h.insert(
            CONTENT_DISPOSITION,
            HeaderValue::from_str(&format!("attachment; filename=\"{}\"", self.name))
                .unwrap_or(HeaderValue::from_static("attachment")),
        );
        // Video of people: no shared cache keeps a copy.
        h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
        h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if let Some(v) = self.range.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(CONTENT_RANGE, v);
        }
        r
    }
}

super::media::binary_answer!(Video, "the fMP4 file", "video/mp4");

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
            let item = match reader.read(&mut buf) {
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
    Body::new(ChannelBody { rx, len })
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

    fn params(q: &str) -> FilterParams {
        FilterParams::parse(Some(q))
    }

    #[test]
    fn bad_query_names_the_field() {
        let e = params("stream=1&from=yesterday").check().unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.errors[0].path, "from");
        let f = params("stream=2&from=2026-11-22T03%3A45%3A00Z&to=2026-11-22T05:45:00+01:00")
            .check()
            .unwrap();
        assert_eq!(f.stream, Some(2));
        assert_eq!(f.from_ms, parse_rfc3339("2026-11-22T03:45:00Z"));
        assert_eq!(f.to_ms, f.from_ms.map(|t| t + 3_600_000));
        assert_eq!(parse_recording_id("12.mp4"), Some(12));
        assert_eq!(parse_recording_id("0.mp4"), None);
    }

    #[test]
    fn only_streams_1_and_2_exist() {
        // Found by schemathesis: `stream=3` was accepted (and listed nothing) against the document.
        for q in ["stream=0", "stream=3", "stream=255"] {
            let e = params(q).check().unwrap_err();
            assert_eq!(e.errors[0].path, "stream", "{q}");
        }
        assert_eq!(params("stream=1").check().unwrap().stream, Some(1));
    }

    #[test]
    fn camera_filter_takes_configuration_names_only() {
        let f = params("camera=door-1&stream=1").check().unwrap();
        assert_eq!(f.camera.as_deref(), Some("door-1"));
        for q in ["camera=", "camera=..%2Fx", "camera=a%20b"] {
            let e = params(q).check().unwrap_err();
            assert_eq!(e.errors[0].path, "camera", "{q}");
        }
    }
}
