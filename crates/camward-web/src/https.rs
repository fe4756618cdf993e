//! HTTPS around the web app: HSTS on responses sent over TLS, and the plain HTTP port's
//! redirect-only mode when Connection = HTTPS (credentials there are refused, never checked).

use crate::error::ApiError;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use camward_auth::Gate;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// One year, the value HSTS preload lists and scanners expect. No `includeSubDomains`: a camera
/// does not own the domain it is reached under.
pub const HSTS: &str = "max-age=31536000";

/// Adds `Strict-Transport-Security` to every response of `app`. For the HTTPS listener only:
/// browsers ignore the header over plain HTTP (RFC 6797 §8.1).
pub fn with_hsts(app: Router) -> Router {
    app.layer(middleware::map_response(|mut r: Response| async move {
        r.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
        r
    }))
}

/// Asked on every plain HTTP request: `Some(port)` when Connection = HTTPS (answer with a redirect to
/// that HTTPS port), `None` to serve the app. Per request, so a change applies to open keep-alive
/// connections too.
pub type RedirectTarget = Arc<dyn Fn() -> Option<u16> + Send + Sync>;

#[derive(Clone)]
struct RedirectState {
    target: RedirectTarget,
    gate: Arc<dyn Gate>,
}

/// Wraps the plain HTTP app: while `target` names an HTTPS port, every request gets a 308 to the
/// same path over HTTPS, and a request carrying credentials gets 400 instead. Neither reaches the
/// app, so no Digest is processed, no lockout counted, no tunnel opened in clear.
pub fn redirect_when_https(app: Router, target: RedirectTarget, gate: Arc<dyn Gate>) -> Router {
    app.layer(middleware::from_fn_with_state(
        RedirectState { target, gate },
        redirect,
    ))
}

async fn redirect(State(st): State<RedirectState>, req: Request, next: Next) -> Response {
    let Some(port) = (st.target)() else {
        return next.run(req).await;
    };
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>()
        && !st.gate.host_allowed(peer.ip())
    {
        return (StatusCode::FORBIDDEN, "host not allowed\n").into_response();
    }
    let credentials = req.headers().contains_key(header::AUTHORIZATION)
        || req.headers().contains_key(header::PROXY_AUTHORIZATION);
    let location = location(&req, port);
    // Read (a bounded part of) any body first: answering while the client still sends would
    // reset the connection and the client could miss the answer.
    let body = req.into_body();
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        axum::body::to_bytes(body, crate::BODY_LIMIT),
    )
    .await;
    if credentials {
        // The password (Basic) or a Digest response has already crossed the network in clear;
        // accepting it would teach clients that this is fine. It is not even checked, so a
        // sniffed-and-replayed header learns nothing and a wrong one counts toward no lockout.
        tracing::warn!("refused credentials sent over plain HTTP while HTTPS is on");
        let message = match &location {
            Some(l) => format!("this camera accepts credentials over HTTPS only: use {l}"),
            None => "this camera accepts credentials over HTTPS only".to_owned(),
        };
        return ApiError::new(StatusCode::BAD_REQUEST, "https_required", message)
            .header(header::CONNECTION, "close")
            .into_response();
    }
    match location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        Some(l) => {
            let mut r = (
                StatusCode::PERMANENT_REDIRECT,
                "this camera is reached over HTTPS\n",
            )
                .into_response();
            r.headers_mut().insert(header::LOCATION, l);
            r
        }
        None => ApiError::new(
            StatusCode::BAD_REQUEST,
            "https_required",
            "missing or invalid Host header: cannot build the HTTPS address",
        )
        .into_response(),
    }
}

/// `https://HOST[:PORT]/path?query` from the request's Host, or `None` when Host is absent or not
/// a plain host name or address (it is echoed into a header: accept nothing exotic).
fn location(req: &Request, port: u16) -> Option<String> {
    let host = req.headers().get(header::HOST)?.to_str().ok()?;
    let name = host_name(host)?;
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let pq = if pq.starts_with('/') { pq } else { "/" };
    Some(if port == 443 {
        format!("https://{name}{pq}")
    } else {
        format!("https://{name}:{port}{pq}")
    })
}

/// The host part of a Host header, without its port: `cam.local`, `10.0.0.5`, `[2001:db8::1]`.
fn host_name(host: &str) -> Option<&str> {
    let name = if let Some(rest) = host.strip_prefix('[') {
        let end = rest.find(']')?;
        let inner = &rest[..end];
        if inner.is_empty()
            || !inner
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return None;
        }
        &host[..end + 2]
    } else {
        let name = host.split(':').next()?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        {
            return None;
        }
        name
    };
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn host_names_lose_their_port_and_odd_ones_are_refused() {
        assert_eq!(host_name("cam.local:8080"), Some("cam.local"));
        assert_eq!(host_name("10.0.0.5"), Some("10.0.0.5"));
        assert_eq!(host_name("[::1]:80"), Some("[::1]"));
        assert_eq!(host_name("evil/x"), None);
        assert_eq!(host_name("[zz]"), None);
        assert_eq!(host_name(""), None);
    }
}
