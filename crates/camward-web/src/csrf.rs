//! Cross-site request forgery guard for every state-changing `/api/` request (POST, PATCH, PUT, DELETE).
//! Browsers say where a request comes from (`Sec-Fetch-Site`, `Origin`); only same-origin ones pass.

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use camward_config::FieldError;

/// The decision for one request: `None` lets it through, `Some(reason)` refuses it.
///
/// A browser's cached Digest credentials are sent with any request to the camera, whoever's page
/// caused it, so a page on another site could otherwise change settings with the victim's login.
/// Non-browser clients (curl, Python, ffmpeg, VMS software) send neither header and are let through:
/// they act for their own user, and no other site can make them send a request.
fn verdict(method: &Method, path: &str, headers: &HeaderMap) -> Option<String> {
    if matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) || !path.starts_with("/api/")
    {
        return None;
    }
    // Sec-Fetch-Site is set by the browser itself and cannot be changed by a page: trust it first.
    // `none` is a user-initiated navigation (typed URL, bookmark), which cannot carry a body.
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return match site.trim().to_ascii_lowercase().as_str() {
            "same-origin" | "none" => None,
            // `same-site` includes another port of the same host, which may be another program.
            other => Some(format!("Sec-Fetch-Site: {other}")),
        };
    }
    // Older browsers: Origin on every cross-origin POST (and on same-origin non-GET in current ones).
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let authority = origin
            .split_once("://")
            .map(|(_, rest)| rest.trim_end_matches('/'))
            .unwrap_or("");
        if !host.is_empty() && authority.eq_ignore_ascii_case(host) {
            return None;
        }
        return Some(format!("Origin: {origin} (this device: {host})"));
    }
    None
}

/// Middleware: refuses cross-site state-changing API requests with 403 `csrf.cross_site`, before
/// authentication, so such a request neither changes anything nor counts as a failed login.
pub(crate) async fn guard(req: Request, next: Next) -> Response {
    match verdict(req.method(), req.uri().path(), req.headers()) {
        None => next.run(req).await,
        Some(reason) => {
            let message = format!(
                "cross-site request refused ({reason}): settings can only be changed from this \
                 device's own pages or by non-browser clients"
            );
            let mut e = ApiError::new(StatusCode::FORBIDDEN, "forbidden", message.clone());
            e.errors = vec![FieldError::new("", "csrf.cross_site", message)];
            e.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn non_browser_clients_and_reads_pass() {
        assert!(verdict(&Method::POST, "/api/v1/users", &h(&[("host", "cam")])).is_none());
        let cross = h(&[("sec-fetch-site", "cross-site")]);
        assert!(verdict(&Method::GET, "/api/v1/config", &cross).is_none());
        // RTSP-over-HTTP tunnels POST to arbitrary paths outside /api/.
        assert!(verdict(&Method::POST, "/stream1", &cross).is_none());
    }

    #[test]
    fn browser_requests_must_be_same_origin() {
        let ok = h(&[("sec-fetch-site", "same-origin"), ("origin", "http://x")]);
        assert!(verdict(&Method::PATCH, "/api/v1/config", &ok).is_none());
        for site in ["cross-site", "same-site"] {
            let mut m = HeaderMap::new();
            m.insert("sec-fetch-site", HeaderValue::from_str(site).unwrap());
            assert!(
                verdict(&Method::POST, "/api/v1/setup", &m).is_some(),
                "{site}"
            );
        }
        let same = h(&[("origin", "http://cam:8080"), ("host", "cam:8080")]);
        assert!(verdict(&Method::DELETE, "/api/v1/users/a", &same).is_none());
        let other = h(&[("origin", "http://evil.example"), ("host", "cam:8080")]);
        assert!(verdict(&Method::POST, "/api/v1/users", &other).is_some());
        let null = h(&[("origin", "null"), ("host", "cam")]);
        assert!(verdict(&Method::POST, "/api/v1/users", &null).is_some());
    }
}
