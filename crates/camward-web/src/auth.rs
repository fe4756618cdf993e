//! Authentication of HTTP requests through the shared `Gate`, as extractors other crates reuse:
//! `Require<Admin>`, `Require<Control>`, `Require<Live>` (and `Authed` = any principal).

use crate::error::ApiError;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use camward_auth::{Gate, Level, Outcome, Principal, Protocol, Request};
use serde_json::json;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

/// Put in every request's extensions by the front layer: the gate to ask and the peer address.
#[derive(Clone)]
pub struct AuthContext {
    pub gate: Arc<dyn Gate>,
    pub peer: SocketAddr,
}

/// Marker types naming the minimum level of a [`Require`] extractor.
pub trait MinLevel: Send + Sync + 'static {
    const LEVEL: Level;
}
pub struct Admin;
pub struct Control;
pub struct Live;
impl MinLevel for Admin {
    const LEVEL: Level = Level::Admin;
}
impl MinLevel for Control {
    const LEVEL: Level = Level::Control;
}
impl MinLevel for Live {
    const LEVEL: Level = Level::Live;
}

/// Extractor: the request's principal, refused unless it has at least level `L`.
/// `async fn snapshot(Require(p, ..): Require<Live>) -> ...`. Answers 401 (with challenges),
/// 401 needs-setup, 403 or 429 itself.
pub struct Require<L: MinLevel>(pub Principal, pub PhantomData<L>);

impl<L: MinLevel> Require<L> {
    pub fn principal(&self) -> &Principal {
        &self.0
    }
}

/// Extractor: any principal the gate lets in (guest included, at level Live).
pub type Authed = Require<Live>;

impl<S: Send + Sync, L: MinLevel> FromRequestParts<S> for Require<L> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        authorize(parts, L::LEVEL)
            .await
            .map(|p| Require(p, PhantomData))
    }
}

/// Middleware form of [`Require`], for guarding a whole router:
/// `Router::new().route(...).route_layer(axum::middleware::from_fn(require(Level::Live)))`.
/// The principal is put in the request extensions for handlers that want it.
pub fn require(
    level: Level,
) -> impl Fn(
    axum::extract::Request,
    axum::middleware::Next,
) -> futures::future::BoxFuture<'static, Response>
+ Clone
+ Send
+ Sync
+ 'static {
    move |req, next| {
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            match authorize(&mut parts, level).await {
                Ok(p) => {
                    parts.extensions.insert(p);
                    next.run(axum::extract::Request::from_parts(parts, body))
                        .await
                }
                Err(resp) => resp,
            }
        })
    }
}

/// The outcome of authenticating one request, cached in its extensions so that a request is
/// authenticated exactly once (a second Digest check of the same nc would look like a replay).
#[derive(Clone)]
struct Authenticated(Result<Principal, OutcomeKind>);

#[derive(Clone)]
enum OutcomeKind {
    Challenge(Vec<String>),
    NeedsSetup,
    LockedOut(std::time::Duration),
}

/// Authenticates the request (once) and checks `level`. Usable from middleware and handlers alike.
pub async fn authorize(parts: &mut Parts, level: Level) -> Result<Principal, Response> {
    let Some(ctx) = parts.extensions.get::<AuthContext>().cloned() else {
        return Err(
            ApiError::internal("route mounted outside camward_web::app: no AuthContext")
                .into_response(),
        );
    };
    let cached = parts.extensions.get::<Authenticated>().cloned();
    let result = match cached {
        Some(a) => a.0,
        None => {
            let uri = parts
                .extensions
                .get::<OriginalUri>()
                .map(|u| u.0.clone())
                .unwrap_or_else(|| parts.uri.clone());
            let method = parts.method.as_str().to_owned();
            let authorization = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let gate = ctx.gate.clone();
            let peer = ctx.peer.ip();
            // The gate may hash (Basic → argon2) and touches SQLite: keep it off the async workers.
            let outcome = tokio::task::spawn_blocking(move || {
                let uri = uri.to_string();
                gate.authenticate(&Request {
                    protocol: Protocol::Http,
                    method: &method,
                    uri: &uri,
                    authorization: authorization.as_deref(),
                    peer,
                })
            })
            .await
            .map_err(|e| ApiError::internal(e).into_response())?;
            let r = match outcome {
                Outcome::Granted(p) => Ok(p),
                Outcome::Challenge { www_authenticate } => {
                    Err(OutcomeKind::Challenge(www_authenticate))
                }
                Outcome::NeedsSetup => Err(OutcomeKind::NeedsSetup),
                Outcome::LockedOut { retry_after } => Err(OutcomeKind::LockedOut(retry_after)),
            };
            parts.extensions.insert(Authenticated(r.clone()));
            r
        }
    };
    match result {
        Ok(p) if p.level >= level => Ok(p),
        // A guest asking for more than live view: ask for credentials rather than refuse.
        Ok(p) if p.user.is_none() => Err(unauthorized(ctx.gate.challenge(Protocol::Http), None)),
        Ok(p) => Err(ApiError::forbidden(format!(
            "this needs access level `{}`; user `{}` has `{}`",
            level.as_str(),
            p.user.as_deref().unwrap_or(""),
            p.level.as_str()
        ))
        .into_response()),
        Err(OutcomeKind::Challenge(v)) => Err(unauthorized(v, None)),
        Err(OutcomeKind::NeedsSetup) => Err(unauthorized(
            ctx.gate.challenge(Protocol::Http),
            Some((
                "needs_setup",
                "this device has no administrator yet: register one with POST /api/v1/setup {\"username\", \"password\"}",
            )),
        )),
        Err(OutcomeKind::LockedOut(d)) => Err(locked_out(d)),
    }
}

fn unauthorized(challenges: Vec<String>, body: Option<(&str, &str)>) -> Response {
    let (code, message) = body.unwrap_or(("unauthorized", "authentication required (HTTP Digest)"));
    let mut resp = (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({ "error": code, "message": message })),
    )
        .into_response();
    for c in challenges {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::WWW_AUTHENTICATE, v);
        }
    }
    resp
}

fn locked_out(d: std::time::Duration) -> Response {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let mut resp = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({
            "error": "locked_out",
            "message": format!("too many failed logins from this address; try again in {secs} s"),
            "retry_after": secs,
        })),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}
