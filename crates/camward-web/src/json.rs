//! `JsonBody<T>`: the request body extractor of the API, with the same errors everywhere:
//! 413 over the limit, 415 wrong type, 400 not JSON, 422 wrong shape naming the JSON path.
//! It documents its body schema and those answers in the OpenAPI document.

use crate::error::ApiError;
use aide::OperationInput;
use aide::generate::GenContext;
use aide::openapi::{MediaType, Operation, RequestBody, SchemaObject, StatusCode as DocStatus};
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use bytes::Bytes;
use camward_config::FieldError;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

/// A JSON request body deserialised into `T` (use `serde_json::Value` for merge patches).
pub struct JsonBody<T>(pub T);

fn json_content_type(req: &Request) -> bool {
    let Some(ct) = req.headers().get(header::CONTENT_TYPE) else {
        // curl -d without -H sends form type; a missing type is accepted as JSON.
        return true;
    };
    let Ok(ct) = ct.to_str() else { return false };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<S: Send + Sync, T: DeserializeOwned + JsonSchema> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(&req) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json (or application/merge-patch+json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("request body larger than {} bytes", crate::BODY_LIMIT),
                )
            } else {
                ApiError::bad_request("body", format!("cannot read the request body: {rej}"))
            }
        })?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad_request("json.syntax", format!("body is not valid JSON: {e}"))
        })?;
        // serde would also read a struct from a positional array; the API takes only the
        // documented object form.
        let positional =
            camward_config::positional_structs(&value, &schemars::schema_for!(T).to_value());
        if !positional.is_empty() {
            return Err(ApiError::invalid(positional));
        }
        let t = serde_path_to_error::deserialize(&value)
            .map_err(|e| ApiError::invalid(vec![FieldError::from_serde(e)]))?;
        Ok(JsonBody(t))
    }
}

impl<T: JsonSchema> OperationInput for JsonBody<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        let json_schema = ctx.schema.subschema_for::<T>();
        aide::operation::set_body(
            ctx,
            operation,
            RequestBody {
                description: None,
                content: ["application/json", "application/merge-patch+json"]
                    .into_iter()
                    .map(|t| {
                        (
                            t.to_owned(),
                            MediaType {
                                schema: Some(SchemaObject {
                                    json_schema: json_schema.clone(),
                                    example: None,
                                    external_docs: None,
                                }),
                                ..Default::default()
                            },
                        )
                    })
                    .collect(),
                required: true,
                extensions: Default::default(),
            },
        );
        let responses = operation.responses.get_or_insert_with(Default::default);
        for (code, text) in [
            (
                400,
                "the body is not JSON (`bad_request`, rule `json.syntax`)",
            ),
            (413, "the body is larger than 64 KiB (`too_large`)"),
            (
                415,
                "the body is neither `application/json` nor `application/*+json` (`unsupported_media_type`)",
            ),
            (
                422,
                "the body has the wrong shape or breaks a rule (`invalid`, one entry per field in `errors`)",
            ),
        ] {
            responses
                .responses
                .entry(DocStatus::Code(code))
                .or_insert_with(|| crate::auth::error_response(ctx, text));
        }
    }
}
