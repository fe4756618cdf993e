//! HTTP handlers for `GET /api/v1/snapshot.jpg` and `GET /api/v1/mjpeg`, as framework-free
//! functions returning `http::Response`s; camward-web mounts them behind its auth layer.

use crate::config::JpegSize;
use crate::error::MediaError;
use crate::hub::MediaHub;
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use http::{HeaderValue, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use std::convert::Infallible;

/// Response body of these handlers: a whole JPEG, a JSON error, or an endless multipart stream.
pub type MediaBody = UnsyncBoxBody<Bytes, Infallible>;

/// Multipart boundary of MJPEG responses (RFC 2046: must not occur in the parts; JPEG data
/// is binary, but every part carries a Content-Length so clients never scan for it).
pub const MJPEG_BOUNDARY: &str = "camward-mjpeg-frame";

/// `stream`, `size` and `fps` from a query string such as `stream=2&size=3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaQuery {
    pub stream: u8,
    pub size: JpegSize,
    /// MJPEG only; `None` = the configured "Refresh interval (JPEG)".
    pub fps: Option<u32>,
}

impl MediaQuery {
    /// Defaults: stream 1; size JPEG(1) for stream 1 and JPEG(2) for stream 2 (the sizes that
    /// match the default streams). Unknown parameters are ignored, as browsers add their own.
    pub fn parse(query: Option<&str>) -> Result<MediaQuery, String> {
        let mut stream = None;
        let mut size = None;
        let mut fps = None;
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*k {
                "stream" => {
                    stream = Some(
                        v.parse::<u8>()
                            .ok()
                            .filter(|n| (1..=2).contains(n))
                            .ok_or(format!("stream={v}: use 1 or 2"))?,
                    )
                }
                "size" => {
                    size = Some(
                        v.parse::<u8>()
                            .ok()
                            .and_then(JpegSize::from_index)
                            .ok_or(format!("size={v}: use 1, 2 or 3"))?,
                    )
                }
                "fps" => {
                    fps = Some(
                        v.parse::<u32>()
                            .ok()
                            .filter(|f| (1..=30).contains(f))
                            .ok_or(format!("fps={v}: use 1 to 30"))?,
                    )
                }
                _ => {}
            }
        }
        let stream = stream.unwrap_or(1);
        let size = size.unwrap_or(if stream == 2 {
            JpegSize::Two
        } else {
            JpegSize::One
        });
        Ok(MediaQuery { stream, size, fps })
    }
}

/// HTTP status for a media error: 400 for a bad request, 503 (retry) for a stream that is off
/// or not producing, 500 for internal failures.
pub fn error_status(e: &MediaError) -> StatusCode {
    match e {
        MediaError::NoSuchStream(_) => StatusCode::BAD_REQUEST,
        MediaError::StreamOff(_) | MediaError::NotReady(..) | MediaError::Shutdown => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        MediaError::Decode { .. } | MediaError::Jpeg { .. } | MediaError::NoRuntime => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

fn error_code(e: &MediaError) -> &'static str {
    match e {
        MediaError::NoSuchStream(_) => "no_such_stream",
        MediaError::StreamOff(_) => "stream_off",
        MediaError::NotReady(..) => "not_ready",
        MediaError::Shutdown | MediaError::NoRuntime => "unavailable",
        MediaError::Decode { .. } => "decode_failed",
        MediaError::Jpeg { .. } => "jpeg_failed",
    }
}

/// A JSON error response `{"error": code, "message": text}`.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response<MediaBody> {
    let body = format!(
        "{{\"error\":{},\"message\":{}}}",
        json_str(code),
        json_str(message)
    );
    let mut r = Response::new(full(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn full(b: Bytes) -> MediaBody {
    Full::new(b).boxed_unsync()
}

fn media_error(e: &MediaError) -> Response<MediaBody> {
    json_error(error_status(e), error_code(e), &e.to_string())
}

/// `GET /api/v1/snapshot.jpg?stream=1&size=1|2|3`: one JPEG of the latest picture.
pub async fn snapshot_response(hub: &MediaHub, stream: u8, size: JpegSize) -> Response<MediaBody> {
    match hub.snapshot_jpeg(stream, size).await {
        Ok(jpg) => {
            let len = jpg.len();
            let mut r = Response::new(full(jpg));
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            // Live pictures: a cached snapshot would show the past.
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => media_error(&e),
    }
}

/// Same, from the raw query string (400 on bad parameters).
pub async fn snapshot_from_query(hub: &MediaHub, query: Option<&str>) -> Response<MediaBody> {
    match MediaQuery::parse(query) {
        Ok(q) => snapshot_response(hub, q.stream, q.size).await,
        Err(msg) => json_error(StatusCode::BAD_REQUEST, "bad_query", &msg),
    }
}

/// `GET /api/v1/mjpeg?stream=1`: `multipart/x-mixed-replace` of JPEG parts at the configured
/// refresh rate (or `fps`). Answers 503 at once when the stream is off; ends when it goes off.
pub fn mjpeg_response(
    hub: &MediaHub,
    stream: u8,
    size: JpegSize,
    fps: Option<u32>,
) -> Response<MediaBody> {
    let Some(status) = hub.status(stream) else {
        return media_error(&MediaError::NoSuchStream(stream));
    };
    if !status.enabled {
        return media_error(&MediaError::StreamOff(stream));
    }
    let fps = fps.unwrap_or_else(|| hub.settings().2.refresh_fps);
    let parts = hub
        .mjpeg(stream, size, fps)
        .map(|jpg| Ok::<_, Infallible>(Frame::data(multipart_part(&jpg))));
    let mut r = Response::new(StreamBody::new(parts).boxed_unsync());
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

/// Same, from the raw query string.
pub fn mjpeg_from_query(hub: &MediaHub, query: Option<&str>) -> Response<MediaBody> {
    match MediaQuery::parse(query) {
        Ok(q) => mjpeg_response(hub, q.stream, q.size, q.fps),
        Err(msg) => json_error(StatusCode::BAD_REQUEST, "bad_query", &msg),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_defaults_and_rejections() {
        assert_eq!(
            MediaQuery::parse(None).unwrap(),
            MediaQuery {
                stream: 1,
                size: JpegSize::One,
                fps: None
            }
        );
        assert_eq!(
            MediaQuery::parse(Some("stream=2")).unwrap().size,
            JpegSize::Two
        );
        assert_eq!(
            MediaQuery::parse(Some("stream=2&size=3&fps=2&_=123")).unwrap(),
            MediaQuery {
                stream: 2,
                size: JpegSize::Three,
                fps: Some(2)
            }
        );
        for bad in [
            "stream=3", "stream=x", "size=0", "size=4", "fps=0", "fps=31",
        ] {
            assert!(MediaQuery::parse(Some(bad)).is_err(), "{bad}");
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
    fn json_errors_escape_text() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
        let r = json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "stream_off",
            "stream 2 is switched off",
        );
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }
}
