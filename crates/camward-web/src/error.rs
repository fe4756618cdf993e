//! `ApiError`: the one error answer of every route — `{"error", "message", "errors"?}` with the
//! status, and the headers a refusal needs (`WWW-Authenticate`, `Retry-After`). Paper §3.3: a
//! client learns why it was refused, never a secret.
//!
//! 422 lists every invalid field as `{"path", "rule", "message"}` ([`FieldError`]), as the
//! configuration does; other statuses may list the offending query parameter the same way.

use aide::OperationOutput;
use aide::generate::GenContext;
use aide::openapi::{MediaType, Operation, Response as DocResponse, SchemaObject};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use camward_config::FieldError;
use schemars::JsonSchema;
use serde::Serialize;

/// The error body of every API route.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorBody {
    /// Stable error code (`invalid`, `not_found`, `unauthorized`, `needs_setup`, `locked_out`,
    /// `stream_off`, `alarm.command.disabled`, …): what programs switch on.
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
    /// Each offending field or parameter; present on 422 and on refusals that name one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds to wait before trying again (429 lockout); also sent as `Retry-After`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub errors: Vec<FieldError>,
    /// `Retry-After` seconds (429, and 503 while something starts).
    pub retry_after: Option<u64>,
    /// Whether `retry_after` also goes into the body (the lockout's documented `retry_after`).
    retry_in_body: bool,
    /// Headers the answer needs (`WWW-Authenticate` challenges of a 401, `Content-Range` of a 416).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            errors: Vec::new(),
            retry_after: None,
            retry_in_body: false,
            headers: Vec::new(),
        }
    }

    /// Adds a header to the answer (ignored when `value` is not a valid header value).
    pub fn header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    /// Adds one offending field or parameter.
    pub fn field(mut self, path: &str, rule: &str, message: impl Into<String>) -> Self {
        self.errors.push(FieldError::new(path, rule, message));
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let message = errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        ApiError {
            errors,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
        }
    }

    pub fn bad_request(rule: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message.clone()).field("", rule, message)
    }

    /// 400 for a bad query parameter `name` (the `path` of its field error).
    pub fn bad_query(name: &str, rule: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(StatusCode::BAD_REQUEST, "bad_query", message.clone()).field(name, rule, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 401 with the gate's challenges.
    pub fn unauthorized(code: &'static str, message: &str, challenges: Vec<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, code, message);
        for c in challenges {
            e = e.header(header::WWW_AUTHENTICATE, &c);
        }
        e
    }

    /// 429 after too many failed logins, with `Retry-After` and `retry_after`.
    pub fn locked_out(secs: u64) -> Self {
        ApiError {
            retry_after: Some(secs),
            retry_in_body: true,
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "locked_out",
                format!(
                    "too many failed logins from this address or for this account; try again in {secs} s"
                ),
            )
        }
    }

    /// 503 for something that is not running (yet); `retry` adds `Retry-After: 1`.
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry: bool) -> Self {
        let e = Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
        if retry { e.retry_after(1) } else { e }
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        // The detail goes to the log, not to the client.
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the device log",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code.to_owned(),
            message: self.message.clone(),
            errors: self.errors.clone(),
            retry_after: self.retry_after.filter(|_| self.retry_in_body),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        let h = resp.headers_mut();
        for (k, v) in self.headers {
            h.append(k, v);
        }
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status.is_server_error() || self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The body may not have been read; the connection cannot be reused safely.
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

/// The OpenAPI response of an error: the [`ErrorBody`] schema. Which statuses a route answers
/// is written beside the route (see `routes::doc`), not inferred.
impl OperationOutput for ApiError {
    type Inner = ErrorBody;

    fn operation_response(ctx: &mut GenContext, _op: &mut Operation) -> Option<DocResponse> {
        Some(DocResponse {
            description: "error".into(),
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
}

impl From<camward_store::StoreError> for ApiError {
    fn from(e: camward_store::StoreError) -> Self {
        use camward_store::StoreError as E;
        match e {
            E::AccountExists(_) => ApiError::conflict("exists", e.to_string()),
            E::NoSuchAccount(_) => ApiError::not_found(e.to_string()),
            E::AlreadySetUp => ApiError::conflict("already_set_up", e.to_string()),
            E::LastAdmin(_) => ApiError::conflict("last_admin", e.to_string()),
            other => ApiError::internal(other),
        }
    }
}

impl From<camward_auth::AccountError> for ApiError {
    fn from(e: camward_auth::AccountError) -> Self {
        match e {
            camward_auth::AccountError::Policy(v) => ApiError::invalid(v),
            camward_auth::AccountError::SetupCode => {
                ApiError::new(StatusCode::FORBIDDEN, "setup_code", e.to_string())
            }
            camward_auth::AccountError::LockedOut(d) => {
                ApiError::locked_out(d.as_secs() + u64::from(d.subsec_nanos() > 0))
            }
            camward_auth::AccountError::Store(s) => s.into(),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(e)
    }
}
