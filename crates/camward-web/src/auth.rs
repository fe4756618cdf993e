//! Authentication of HTTP requests through the shared `Gate` (paper §3.2–§3.4), as extractors:
//! `Require<Admin>`, `Require<Control>`, `Require<Live>` (and `Authed` = any principal).
//! Each documents itself in the OpenAPI document: HTTP Digest, and its 401/403/429 answers.

use crate::error::{ApiError, ErrorBody};
use aide::OperationInput;
use aide::generate::GenContext;
use aide::openapi::{
    MediaType, Operation, ReferenceOr, Response as DocResponse, SchemaObject,
    StatusCode as DocStatus,
};
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use camward_auth::{Gate, Level, Outcome, Principal, Protocol, Request};
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
            let protocol = match parts.extensions.get::<crate::serve::OverTls>() {
                Some(crate::serve::OverTls(true)) => Protocol::Https,
                _ => Protocol::Http,
            };
            let authorization = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if authorization
                .as_ref()
                .is_some_and(|a| a.len() > camward_auth::header::MAX_HEADER_LEN)
            {
                // Not a login attempt the gate could check: refused, never counted, so a right
                // password on a very long URL cannot lock its own client out.
                return Err(ApiError::new(
                    axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "header_too_large",
                    format!(
                        "the Authorization header is longer than {} bytes (a Digest header repeats the URL: use a shorter one)",
                        camward_auth::header::MAX_HEADER_LEN
                    ),
                )
                .into_response());
            }
            let gate = ctx.gate.clone();
            let peer = ctx.peer.ip();
            // The gate may hash (Basic → argon2) and touches SQLite: keep it off the async workers.
            let outcome = tokio::task::spawn_blocking(move || {
                let uri = uri.to_string();
                gate.authenticate(&Request {
                    protocol,
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
                "this device has no administrator yet: register one with POST /api/v1/setup {\"username\", \"password\", \"setup_code\"} (the code is on the camera's console and in its data directory's `setup-code` file)",
            )),
        )),
        Err(OutcomeKind::LockedOut(d)) => Err(locked_out(d)),
    }
}

fn unauthorized(challenges: Vec<String>, body: Option<(&'static str, &str)>) -> Response {
    let (code, message) = body.unwrap_or(("unauthorized", "authentication required (HTTP Digest)"));
    ApiError::unauthorized(code, message, challenges).into_response()
}

fn locked_out(d: std::time::Duration) -> Response {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    ApiError::locked_out(secs).into_response()
}

/// The name of the security scheme in the OpenAPI document.
pub const SECURITY_SCHEME: &str = "digest";

pub(crate) fn error_response(ctx: &mut GenContext, description: &str) -> ReferenceOr<DocResponse> {
    ReferenceOr::Item(DocResponse {
        description: description.into(),
        content: [(
            "application/json".into(),
            MediaType {
                schema: Some(SchemaObject {
                    json_schema: ctx.schema.subschema_for::<ErrorBody>(),
                    example: None,
                    external_docs: None,
                }),
                ..Default::default()
            },
        )]
        .into_iter()
        .collect(),
        ..Default::default()
    })
}

/// Every guarded route: HTTP Digest, and the answers of the gate.
impl<L: MinLevel> OperationInput for Require<L> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        let mut req = aide::openapi::SecurityRequirement::default();
        req.insert(SECURITY_SCHEME.to_owned(), Vec::new());
        if !operation.security.contains(&req) {
            operation.security.push(req);
        }
        let level = L::LEVEL.as_str();
        // The least level the route admits, machine-readable: the API fuzzing test checks that a
        // user below it always gets 403.
        operation
            .extensions
            .insert("x-camward-level".to_owned(), level.into());
        let responses = operation.responses.get_or_insert_with(Default::default);
        for (code, text) in [
            (401, "no, wrong, stale or replayed credentials (`unauthorized`, with one `WWW-Authenticate` Digest challenge per algorithm), or no administrator yet (`needs_setup`)".to_owned()),
            (403, format!("the user's level is below `{level}` (`forbidden`), or a cross-site browser request (`forbidden`, rule `csrf.cross_site`)")),
            (429, "too many failed logins from this address or for this account (`locked_out`, `Retry-After`)".to_owned()),
            (431, "the Authorization header is over 16 KiB (`header_too_large`; not counted as a failed login)".to_owned()),
        ] {
            responses
                .responses
                .entry(DocStatus::Code(code))
                .or_insert_with(|| error_response(ctx, &text));
        }
    }
}
