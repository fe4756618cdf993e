//! `POST /api/v1/firmware`: upload a firmware bundle (administrators only), streamed to the
//! device's installer without being held in memory, capped in size; and the firmware block of
//! `GET /api/v1/status` (both slots, the floor, the trusted keys). Paper §3.11.
//!
//! The installer is a [`Firmware`] handle the daemon fills in with camward-firmware: this crate
//! never parses a bundle. The host filter (on accept), Digest, the CSRF guard and the audit log
//! apply as to every other route.

use super::actor;
use crate::WebState;
use crate::auth::{Admin, Require};
use crate::error::ApiError;
use aide::OperationInput;
use aide::generate::GenContext;
use aide::openapi::{MediaType, Operation, RequestBody, SchemaObject};
use axum::Json;
use axum::body::{Body, BodyDataStream};
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use camward_store::Actor;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// The installer, implemented by the daemon.
pub trait Firmware: Send + Sync {
    /// Slots, floor and keys now.
    fn status(&self) -> FirmwareStatus;
    /// Largest bundle accepted, bytes (the body is cut off beyond it).
    fn max_bundle_bytes(&self) -> u64;
    /// Verifies and installs the streamed bundle; on success the daemon restarts into it.
    fn install(
        &self,
        body: BodyDataStream,
        actor: Actor,
    ) -> BoxFuture<'static, Result<InstallAnswer, ApiError>>;
}

/// A boot target: the base binary the distribution installed, or slot `a` or `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlotName {
    Base,
    A,
    B,
}

/// What a slot holds, from the launcher's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// Nothing installed.
    Empty,
    /// The last version that booted healthy: what boots when no trial is pending.
    Active,
    /// Installed and being tried: it must report healthy in time or the active version boots again.
    Trial,
    /// Installed, neither active nor tried (an older version).
    Installed,
    /// Its trial failed; it never boots again.
    Failed,
}

/// One boot target.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SlotStatus {
    pub slot: SlotName,
    pub state: SlotState,
    /// Whether this is the version running now.
    pub running: bool,
    pub version: Option<String>,
    pub security_version: Option<u32>,
    /// Milliseconds since 1970.
    pub installed_at_ms: Option<i64>,
    /// Id of the key that signed it.
    pub signer: Option<String>,
    /// Why its trial failed.
    pub failed: Option<String>,
}

/// The last update that rolled back by itself.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FirmwareFailure {
    pub slot: SlotName,
    pub version: String,
    pub reason: String,
    /// Milliseconds since 1970.
    pub at_ms: i64,
    pub fell_back_to: SlotName,
}

/// A firmware signing key this device accepts.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TrustedKeyInfo {
    /// First 8 bytes of SHA-256 of the key, hex.
    pub id: String,
    /// `pinned` (in the binary), `owner` (installed from the console), `rotated` (by a manifest).
    pub source: String,
}

/// Firmware of the device (administrators only, in `GET /api/v1/status`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FirmwareStatus {
    pub running: SlotName,
    /// Anti-rollback floor: bundles with a lower security version are refused. It rises when a
    /// version boots healthy, never on install alone.
    pub floor: u32,
    /// `base`, `a` and `b`.
    pub slots: Vec<SlotStatus>,
    pub last_failure: Option<FirmwareFailure>,
    pub trusted_keys: Vec<TrustedKeyInfo>,
    /// The device-class recipient (`cwr1…`) when the device can open encrypted bundles.
    pub class_key: Option<String>,
    /// Largest bundle accepted, bytes.
    pub max_bundle_bytes: u64,
}

/// `POST /api/v1/firmware` succeeded.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct InstallAnswer {
    /// Where it was installed.
    pub slot: SlotName,
    pub version: String,
    pub security_version: u32,
    /// Id of the key whose signature was trusted.
    pub signer: String,
    pub encrypted: bool,
    /// The daemon restarts into the new version right after this answer; it must report
    /// healthy in time or the running version boots again.
    pub restarting: bool,
}

/// The raw bundle body (`application/octet-stream`), handed on as a stream.
pub(crate) struct BundleBody(Body);

impl<S: Send + Sync> FromRequest<S> for BundleBody {
    type Rejection = std::convert::Infallible;
    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        Ok(BundleBody(req.into_body()))
    }
}

impl OperationInput for BundleBody {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        aide::operation::set_body(
            ctx,
            operation,
            RequestBody {
                description: Some("the bundle (`.cfw`) made by `camward firmware pack`".into()),
                content: [(
                    "application/octet-stream".to_owned(),
                    MediaType {
                        schema: Some(SchemaObject {
                            json_schema: schemars::json_schema!({}),
                            example: None,
                            external_docs: None,
                        }),
                        ..Default::default()
                    },
                )]
                .into_iter()
                .collect(),
                required: true,
                extensions: Default::default(),
            },
        );
    }
}

fn firmware(st: &WebState) -> Result<std::sync::Arc<dyn Firmware>, ApiError> {
    st.firmware
        .clone()
        .ok_or_else(|| ApiError::not_found("this server does not install firmware"))
}

pub(crate) async fn upload(
    State(st): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    p: Require<Admin>,
    headers: HeaderMap,
    BundleBody(body): BundleBody,
) -> Result<Json<InstallAnswer>, ApiError> {
    let fw = firmware(&st)?;
    let limit = fw.max_bundle_bytes();
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    fw.install(body.into_data_stream(), actor(p.principal(), peer))
        .await
        .map(Json)
}

/// 413 for a bundle over the device's limit.
pub fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the bundle is larger than the {limit} bytes this device accepts"),
    )
}
