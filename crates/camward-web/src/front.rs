//! The layers in front of every route: security headers, host re-check per request, the auth
//! context, and dispatch of RTSP-over-HTTP tunnel requests before any HTTP authentication.

use crate::WebState;
use crate::auth::AuthContext;
use crate::error::ApiError;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

pub(crate) fn wrap(router: Router, state: WebState) -> Router {
    router
        // Inside `front`: runs after the host check and the body read, before any authentication.
        .layer(middleware::from_fn(crate::csrf::guard))
        .layer(middleware::from_fn_with_state(state, front))
        .layer(middleware::from_fn(security_headers))
}

async fn front(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    // The accept loop already checked the peer; a keep-alive connection can outlive a host_auth change,
    // so check again per request.
    if !st.gate.host_allowed(peer.ip()) {
        let mut r = (StatusCode::FORBIDDEN, "host not allowed\n").into_response();
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    if let Some(tunnel) = &st.tunnel
        && req.headers().contains_key("x-sessioncookie")
    {
        return tunnel(req, peer).await;
    }
    req.extensions_mut().insert(AuthContext {
        gate: st.gate.clone(),
        peer,
    });
    match prepare_body(req).await {
        Ok(req) => next.run(req).await,
        Err(resp) => resp,
    }
}

/// Most bytes of an oversized JSON body read (and dropped) before answering 413.
const DRAIN_LIMIT: usize = 4 * 1024 * 1024;

/// Reads small announced bodies (Content-Length up to the API limit) before the handler runs, and
/// answers oversized JSON bodies with 413 at once. Either way the body is consumed before the answer:
/// a 401 or 413 sent while the client is still sending would leave unread bytes, and closing such a
/// socket resets the connection, so the client could lose the answer or its Digest retry.
/// Streaming bodies (chunked, or large non-JSON uploads) pass through untouched.
async fn prepare_body(req: Request) -> Result<Request, Response> {
    let len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    let deadline = std::time::Duration::from_secs(30);
    match len {
        Some(n) if n > 0 && n <= crate::BODY_LIMIT => {
            let (parts, body) = req.into_parts();
            match tokio::time::timeout(deadline, axum::body::to_bytes(body, crate::BODY_LIMIT))
                .await
            {
                Ok(Ok(bytes)) => Ok(Request::from_parts(parts, axum::body::Body::from(bytes))),
                _ => Err(closing(ApiError::bad_request(
                    "body",
                    "the request body could not be read completely",
                ))),
            }
        }
        Some(n) if n > crate::BODY_LIMIT && json => {
            if n <= DRAIN_LIMIT {
                let body = req.into_body();
                let _ =
                    tokio::time::timeout(deadline, axum::body::to_bytes(body, DRAIN_LIMIT)).await;
            }
            Err(closing(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("request body larger than {} bytes", crate::BODY_LIMIT),
            )))
        }
        _ => Ok(req),
    }
}

fn closing(e: ApiError) -> Response {
    let mut r = e.into_response();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

async fn security_headers(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (name, value) in EVERY_ANSWER {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if api {
        // API answers carry accounts, settings and logs: never cache them anywhere.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    } else if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Headers on every answer of the web listeners, whatever route or layer makes it. One list, so
/// that a tunnel leg answered on its raw socket ([`crate::TakenLeg::headers`]) carries them too.
pub(crate) const EVERY_ANSWER: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// [`EVERY_ANSWER`], plus HSTS over TLS ([`crate::https::HSTS`], as the HTTPS listener's layer
/// adds it), as header lines each ending in CRLF.
pub(crate) fn raw_headers(over_tls: bool) -> String {
    let mut lines: String = EVERY_ANSWER
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    if over_tls {
        lines.push_str(&format!(
            "strict-transport-security: {}\r\n",
            crate::https::HSTS
        ));
    }
    lines
}
