//! `GET /api/v1/snapshot.jpg`, `GET /api/v1/mjpeg` and `GET /api/v1/live.mp4`: live JPEG
//! snapshots, MJPEG and the H.264 stream as endless fragmented MP4 (one fragment per picture, for
//! a browser's Media Source Extensions), at access level Live (guest when on), like RTSP viewing.
//! The pictures come from a [`LiveMedia`] handle the daemon fills in with the media hub, so this
//! crate does not build the media pipeline.

use crate::WebState;
use crate::auth::{Live, Require};
use crate::error::ApiError;
use aide::openapi::{MediaType, Response as DocResponse};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use camward_config::JpegSize;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;

/// Multipart boundary of MJPEG responses (RFC 2046: must not occur in the parts; JPEG data
/// is binary, but every part carries a Content-Length so clients never scan for it).
pub const MJPEG_BOUNDARY: &str = "camward-mjpeg-frame";

/// What the media routes need from the media hub. Errors are the API's answers: 400
/// `no_such_stream`, 503 `stream_off`/`not_ready`/`unavailable` (with `Retry-After: 1`), 500.
pub trait LiveMedia: Send + Sync + 'static {
    /// One JPEG of the latest picture of `stream` at JPEG(`size`).
    fn snapshot(&self, stream: u8, size: JpegSize) -> BoxFuture<'static, Result<Bytes, ApiError>>;
    /// JPEGs at most `fps` a second (`None`: the configured refresh rate), only when the picture
    /// changed; ends when the stream is switched off.
    fn mjpeg(
        &self,
        stream: u8,
        size: JpegSize,
        fps: Option<u32>,
    ) -> Result<BoxStream<'static, Bytes>, ApiError>;
    /// The H.264 stream as fragmented MP4: an init segment (`ftyp`+`moov`), then `prft`+`moof`
    /// +`mdat` per picture, starting at a key frame; the stream as signed (SEIs included). Ends
    /// when the stream is switched off.
    fn fmp4(&self, stream: u8) -> Result<BoxStream<'static, Bytes>, ApiError>;
}

/// `stream`, `size` and `fps`. Unknown parameters are ignored, as browsers add their own.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub(crate) struct MediaParams {
    /// Stream(1) or Stream(2); default 1.
    #[schemars(with = "Option<u8>", range(min = 1, max = 2))]
    stream: Option<String>,
    /// JPEG(1), (2) or (3); default 1 for stream 1, 2 for stream 2.
    #[schemars(with = "Option<u8>", range(min = 1, max = 3))]
    size: Option<String>,
    /// MJPEG only: parts per second, 1–30; default `jpeg.refresh_fps`.
    #[schemars(with = "Option<u8>", range(min = 1, max = 30))]
    fps: Option<String>,
}

/// Parsed and checked query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MediaQuery {
    pub stream: u8,
    pub size: JpegSize,
    pub fps: Option<u32>,
}

impl MediaParams {
    fn check(&self) -> Result<MediaQuery, ApiError> {
        fn num<T: std::str::FromStr + PartialOrd>(
            v: &Option<String>,
            name: &str,
            lo: T,
            hi: T,
            hint: &str,
        ) -> Result<Option<T>, ApiError> {
            match v {
                None => Ok(None),
                Some(s) => s
                    .parse::<T>()
                    .ok()
                    .filter(|n| *n >= lo && *n <= hi)
                    .map(Some)
                    .ok_or_else(|| {
                        ApiError::bad_query(name, "query.range", format!("{name}={s}: use {hint}"))
                    }),
            }
        }
        let stream = num(&self.stream, "stream", 1u8, 2, "1 or 2")?.unwrap_or(1);
        let size = num(&self.size, "size", 1u8, 3, "1, 2 or 3")?
            .and_then(JpegSize::from_index)
            .unwrap_or(if stream == 2 {
                JpegSize::Two
            } else {
                JpegSize::One
            });
        let fps = num(&self.fps, "fps", 1u32, 30, "1 to 30")?;
        Ok(MediaQuery { stream, size, fps })
    }
}

fn media(st: &WebState) -> Result<Arc<dyn LiveMedia>, ApiError> {
    st.media
        .clone()
        .ok_or_else(|| ApiError::not_found("this server has no video"))
}

fn query(
    q: Result<Query<MediaParams>, axum::extract::rejection::QueryRejection>,
) -> Result<MediaQuery, ApiError> {
    let Query(p) = q.map_err(|e| ApiError::bad_query("", "query", e.body_text()))?;
    p.check()
}

/// A whole JPEG (`image/jpeg`, `Cache-Control: no-store`).
pub struct Jpeg(pub Bytes);

impl IntoResponse for Jpeg {
    fn into_response(self) -> Response {
        let len = self.0.len();
        let mut r = Response::new(Body::from(self.0));
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        // Live pictures: a cached snapshot would show the past.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

binary_answer!(Jpeg, "the latest picture as a JPEG", "image/jpeg");

/// Documents `$ty` as a `200` whose body is binary of `$ct`, described as `$what`.
macro_rules! binary_answer {
    ($ty:ty, $what:expr, $ct:expr) => {
        impl aide::OperationOutput for $ty {
            type Inner = ();
            fn operation_response(
                _: &mut aide::generate::GenContext,
                _: &mut aide::openapi::Operation,
            ) -> Option<aide::openapi::Response> {
                Some($crate::routes::media::binary($what, $ct))
            }
            fn inferred_responses(
                ctx: &mut aide::generate::GenContext,
                op: &mut aide::openapi::Operation,
            ) -> Vec<(Option<aide::openapi::StatusCode>, aide::openapi::Response)> {
                $crate::routes::media::as_200(Self::operation_response(ctx, op))
            }
        }
    };
}
pub(crate) use binary_answer;

/// The one answer an output documents, as status 200.
pub(crate) fn as_200(
    r: Option<DocResponse>,
) -> Vec<(Option<aide::openapi::StatusCode>, DocResponse)> {
    r.map(|r| vec![(Some(aide::openapi::StatusCode::Code(200)), r)])
        .unwrap_or_default()
}

/// A response documented as a binary body of `content_type`.
pub(crate) fn binary(description: &str, content_type: &str) -> DocResponse {
    DocResponse {
        description: description.into(),
        content: [(
            content_type.to_owned(),
            MediaType {
                schema: Some(aide::openapi::SchemaObject {
                    // Any bytes: the content type says what they are (OpenAPI 3.1 §4.8.14.3).
                    json_schema: schemars::json_schema!({}),
                    example: None,
                    external_docs: None,
                }),
                ..Default::default()
            },
        )]
        .into_iter()
        .collect(),
        ..Default::default()
    }
}

/// `multipart/x-mixed-replace` of JPEG parts.
pub struct Mjpeg(pub(crate) BoxStream<'static, Bytes>);

impl IntoResponse for Mjpeg {
    fn into_response(self) -> Response {
        let parts = self
            .0
            .map(|jpg| Ok::<_, std::convert::Infallible>(multipart_part(&jpg)));
        let mut r = Response::new(Body::from_stream(parts));
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&format!(
                "multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}"
            ))
            .expect("ASCII"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

binary_answer!(
    Mjpeg,
    "JPEG parts, each `--camward-mjpeg-frame` + Content-Type + Content-Length + the JPEG",
    "multipart/x-mixed-replace"
);

/// An endless fragmented MP4 (`video/mp4`, `Cache-Control: no-store`).
pub struct LiveMp4(pub(crate) BoxStream<'static, Bytes>);

impl IntoResponse for LiveMp4 {
    fn into_response(self) -> Response {
        let mut r = Response::new(Body::from_stream(
            self.0.map(Ok::<_, std::convert::Infallible>),
        ));
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

binary_answer!(
    LiveMp4,
    "fragmented MP4 without end: ftyp+moov, then prft+moof+mdat per picture (prft: capture time)",
    "video/mp4"
);

/// One part: boundary line, headers, the JPEG, CRLF. Each part is one body frame, so a part
/// is never split across writes by us.
pub fn multipart_part(jpg: &[u8]) -> Bytes {
    let head = format!(
        "--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        jpg.len()
    );
    let mut b = BytesMut::with_capacity(head.len() + jpg.len() + 2);
    b.put_slice(head.as_bytes());
    b.put_slice(jpg);
    b.put_slice(b"\r\n");
    b.freeze()
}

pub(crate) async fn snapshot(
    _: Require<Live>,
    State(st): State<WebState>,
    q: Result<Query<MediaParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Jpeg, ApiError> {
    let q = query(q)?;
    media(&st)?.snapshot(q.stream, q.size).await.map(Jpeg)
}

pub(crate) async fn mjpeg(
    _: Require<Live>,
    State(st): State<WebState>,
    q: Result<Query<MediaParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Mjpeg, ApiError> {
    let q = query(q)?;
    media(&st)?.mjpeg(q.stream, q.size, q.fps).map(Mjpeg)
}

pub(crate) async fn live_mp4(
    _: Require<Live>,
    State(st): State<WebState>,
    q: Result<Query<MediaParams>, axum::extract::rejection::QueryRejection>,
) -> Result<LiveMp4, ApiError> {
    let q = query(q)?;
    media(&st)?.fmp4(q.stream).map(LiveMp4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<MediaQuery, ApiError> {
        let p: MediaParams = serde_urlencoded_like(q);
        p.check()
    }

    fn serde_urlencoded_like(q: &str) -> MediaParams {
        let uri: axum::http::Uri = format!("/x?{q}").parse().unwrap();
        Query::<MediaParams>::try_from_uri(&uri).unwrap().0
    }

    #[test]
    fn query_defaults_and_rejections() {
        assert_eq!(
            parse("").unwrap(),
            MediaQuery {
                stream: 1,
                size: JpegSize::One,
                fps: None
            }
        );
        assert_eq!(parse("stream=2").unwrap().size, JpegSize::Two);
        assert_eq!(
            parse("stream=2&size=3&fps=2&_=123").unwrap(),
            MediaQuery {
                stream: 2,
                size: JpegSize::Three,
                fps: Some(2)
            }
        );
        for bad in [
            "stream=3", "stream=x", "size=0", "size=4", "fps=0", "fps=31",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!((e.status.as_u16(), e.code), (400, "bad_query"), "{bad}");
            assert_eq!(e.errors[0].path, bad.split('=').next().unwrap());
        }
    }

    #[test]
    fn multipart_parts_are_self_delimiting() {
        let p = multipart_part(b"\xff\xd8abc\xff\xd9");
        let s = String::from_utf8_lossy(&p);
        assert!(s.starts_with(
            "--camward-mjpeg-frame\r\nContent-Type: image/jpeg\r\nContent-Length: 7\r\n\r\n"
        ));
        assert!(p.ends_with(b"\xff\xd9\r\n"));
    }

    #[test]
    fn unavailable_streams_say_when_to_retry() {
        let r =
            ApiError::unavailable("stream_off", "stream 2 is switched off", true).into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }
}
