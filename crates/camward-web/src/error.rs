//! The API's error answers: one JSON shape `{"error", "message", "errors"?}` for every status.
//! 422 lists every invalid field as `{"path", "rule", "message"}`, as the configuration does.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use camward_config::FieldError;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub errors: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            errors: Vec::new(),
        }
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let message = errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid",
            message,
            errors,
        }
    }

    pub fn bad_request(rule: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            errors: vec![FieldError::new("", rule, message.clone())],
            message,
        }
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

    pub fn internal(err: impl std::fmt::Display) -> Self {
        // The detail goes to the log, not to the client.
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the device log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code, "message": self.message });
        if !self.errors.is_empty() {
            body["errors"] = json!(self.errors);
        }
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status.is_server_error() || self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The body may not have been read; the connection cannot be reused safely.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
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
            camward_auth::AccountError::Policy(v) => ApiError::invalid(
                v.into_iter()
                    .map(|v| FieldError::new(v.field, v.rule, v.message))
                    .collect(),
            ),
            camward_auth::AccountError::Store(s) => s.into(),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(e)
    }
}
