//! `/api/v1/certificate`: the paper's HTTPS certificate rows (information, self-signed, CSR,
//! CA-signed install, delete, download), administrators only; every change goes to the audit log.
//! Paper §3.7.

use super::types::{CsrRequest, PemBody};
use crate::WebState;
use crate::auth::{Admin, Require};
use crate::error::ApiError;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use camward_config::FieldError;
use camward_tls::{CertError, CertInfo, DeviceIdentity};
use serde_json::{Value, json};
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

fn identity(st: &WebState) -> Result<Arc<DeviceIdentity>, ApiError> {
    st.identity
        .clone()
        .ok_or_else(|| ApiError::not_found("this server has no device identity"))
}

/// The served certificate as the API shows it: `CertInfo` plus the device serial and, when the
/// certificate needs attention, a sentence saying what to do.
pub(crate) fn describe(id: &DeviceIdentity, info: &CertInfo) -> Value {
    let mut v = json!(info);
    v["device_serial"] = json!(id.serial());
    if let Some(w) = expiry_warning(info) {
        v["warning"] = json!(w);
    }
    v
}

/// The renewal warning for `info`, shared with `GET /api/v1/config` and the daemon's audit.
pub fn expiry_warning(info: &CertInfo) -> Option<String> {
    if info.expired {
        Some(format!(
            "the device certificate expired on {}: clients refuse it; install a renewed certificate",
            info.not_after
        ))
    } else if info.expiring_soon {
        Some(format!(
            "the device certificate expires in {} days ({}): renew it",
            info.days_left, info.not_after
        ))
    } else {
        None
    }
}

pub(crate) async fn get(
    State(st): State<WebState>,
    _p: Require<Admin>,
) -> Result<Json<Value>, ApiError> {
    let id = identity(&st)?;
    let info = id.info();
    Ok(Json(describe(&id, &info)))
}

fn audit(st: &WebState, p: &Require<Admin>, peer: SocketAddr, kind: &str, detail: Value) {
    super::audit(st, p.principal(), peer, kind, detail);
}

fn cert_detail(info: &CertInfo) -> Value {
    json!({
        "subject": info.subject, "issuer": info.issuer, "kind": info.kind,
        "fingerprint_sha256": info.fingerprint_sha256, "not_after": info.not_after,
    })
}

pub(crate) async fn self_signed(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    p: Require<Admin>,
) -> Result<Json<Value>, ApiError> {
    let id = identity(&st)?;
    let id2 = id.clone();
    let info = tokio::task::spawn_blocking(move || id2.regenerate_self_signed())
        .await?
        .map_err(ApiError::internal)?;
    audit(&st, &p, peer, "certificate.self_signed", cert_detail(&info));
    let mut v = describe(&id, &info);
    // A CA-issued chain keeps precedence: say which certificate is actually served.
    v["served"] = json!(id.kind());
    Ok(Json(v))
}

pub(crate) async fn csr(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    p: Require<Admin>,
    body: Bytes,
) -> Result<Pem<Csr>, ApiError> {
    let id = identity(&st)?;
    // The body is optional: an empty POST asks for the default subject and SANs.
    let req: CsrRequest = if body.iter().all(|b| b.is_ascii_whitespace()) {
        CsrRequest::default()
    } else {
        let de = &mut serde_json::Deserializer::from_slice(&body);
        serde_path_to_error::deserialize(de)
            .map_err(|e| ApiError::invalid(vec![FieldError::from_serde(e)]))?
    };
    let id2 = id.clone();
    let (cn, sans) = (req.cn.clone(), req.sans.clone());
    let pem = tokio::task::spawn_blocking(move || id2.csr(cn.as_deref(), &sans))
        .await?
        .map_err(cert_error)?;
    audit(
        &st,
        &p,
        peer,
        "certificate.csr",
        json!({"cn": req.cn, "sans": req.sans}),
    );
    Ok(Pem {
        body: pem,
        filename: format!("camward-{}.csr", id.serial()),
        kind: PhantomData,
    })
}

pub(crate) async fn install(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    p: Require<Admin>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = identity(&st)?;
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    let pem = if json_body {
        let de = &mut serde_json::Deserializer::from_slice(&body);
        let b: PemBody = serde_path_to_error::deserialize(de)
            .map_err(|e| ApiError::invalid(vec![FieldError::from_serde(e)]))?;
        b.pem
    } else {
        String::from_utf8(body.to_vec()).map_err(|_| {
            ApiError::invalid(vec![FieldError::new(
                "certificate",
                "pem",
                "the body is not text: send the PEM certificate chain",
            )])
        })?
    };
    let id2 = id.clone();
    match tokio::task::spawn_blocking(move || id2.install_chain(&pem)).await? {
        Ok(info) => {
            audit(&st, &p, peer, "certificate.install", cert_detail(&info));
            Ok(Json(describe(&id, &info)))
        }
        Err(e) => {
            let err = cert_error(e);
            if err.status == StatusCode::UNPROCESSABLE_ENTITY {
                audit(
                    &st,
                    &p,
                    peer,
                    "certificate.install_refused",
                    json!({"rule": err.errors.first().map(|e| e.rule.clone()), "message": err.message}),
                );
            }
            Err(err)
        }
    }
}

pub(crate) async fn delete(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    p: Require<Admin>,
) -> Result<Json<Value>, ApiError> {
    let id = identity(&st)?;
    let id2 = id.clone();
    let info = tokio::task::spawn_blocking(move || id2.delete_ca_chain())
        .await?
        .map_err(ApiError::internal)?;
    audit(&st, &p, peer, "certificate.delete", cert_detail(&info));
    Ok(Json(describe(&id, &info)))
}

pub(crate) async fn chain_pem(
    State(st): State<WebState>,
    _p: Require<Admin>,
) -> Result<Pem<Chain>, ApiError> {
    let id = identity(&st)?;
    Ok(Pem {
        body: id.certificate_chain_pem(),
        filename: format!("camward-{}.pem", id.serial()),
        kind: PhantomData,
    })
}

/// What a PEM download is: its content type and the OpenAPI description.
pub(crate) trait PemKind: Send + 'static {
    const CONTENT_TYPE: &'static str;
    const DESCRIPTION: &'static str;
}

/// A certificate signing request.
pub(crate) struct Csr;
impl PemKind for Csr {
    const CONTENT_TYPE: &'static str = "application/pkcs10";
    const DESCRIPTION: &'static str = "the CSR (PEM), as an attachment";
}

/// The served certificate chain.
pub(crate) struct Chain;
impl PemKind for Chain {
    const CONTENT_TYPE: &'static str = "application/x-pem-file";
    const DESCRIPTION: &'static str = "the served chain (PEM), as an attachment";
}

/// A PEM text sent as an attachment named `filename`.
pub(crate) struct Pem<K: PemKind> {
    body: String,
    filename: String,
    kind: PhantomData<K>,
}

impl<K: PemKind> IntoResponse for Pem<K> {
    fn into_response(self) -> Response {
        let mut r = (StatusCode::OK, self.body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(K::CONTENT_TYPE),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", self.filename))
        {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        r
    }
}

impl<K: PemKind> aide::OperationOutput for Pem<K> {
    type Inner = ();
    fn operation_response(
        _: &mut aide::generate::GenContext,
        _: &mut aide::openapi::Operation,
    ) -> Option<aide::openapi::Response> {
        Some(super::media::binary(K::DESCRIPTION, K::CONTENT_TYPE))
    }
    fn inferred_responses(
        ctx: &mut aide::generate::GenContext,
        op: &mut aide::openapi::Operation,
    ) -> Vec<(Option<aide::openapi::StatusCode>, aide::openapi::Response)> {
        Self::operation_response(ctx, op)
            .map(|r| vec![(Some(aide::openapi::StatusCode::Code(200)), r)])
            .unwrap_or_default()
    }
}

/// Refusals of the input become 422 with a stable rule; anything else is the device's fault (500).
fn cert_error(e: CertError) -> ApiError {
    let rule = match &e {
        CertError::KeyMismatch { .. } => "key_mismatch",
        CertError::ChainBroken { .. } => "chain_broken",
        CertError::NotCa { .. } => "not_ca",
        CertError::Expired { .. } => "expired",
        CertError::SelfSignedLeaf { .. } => "self_signed",
        CertError::NotServerAuth { .. } => "not_server_auth",
        CertError::PrivateKeyInInput { .. } => "private_key_in_input",
        CertError::NoCertificate => "no_certificate",
        CertError::Pem(_) => "pem",
        CertError::Parse { .. } => "parse",
        CertError::Invalid { .. } | CertError::Csr(_) => "invalid",
        _ => return ApiError::internal(e),
    };
    ApiError::invalid(vec![FieldError::new("certificate", rule, e.to_string())])
}
