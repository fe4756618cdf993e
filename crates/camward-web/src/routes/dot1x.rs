//! The IEEE 802.1X port state as `GET /api/v1/status` shows it (paper §3.6), and the handle the
//! daemon fills in with the running supplicant ([`PortAccess`]): its state, and the checks only
//! the device can make before `dot1x.enabled` is switched on (422 from `PATCH /api/v1/config`).

use camward_config::{Dot1xConfig, FieldError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the switch port stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PortStateName {
    /// IEEE 802.1X is off.
    Disabled,
    /// The supplicant runs; no EAP exchange has completed yet.
    Connecting,
    /// The authentication server accepted the camera: the port is open.
    Authenticated,
    /// The supplicant waits out its held period after a refusal whose reason camward did not see.
    Held,
    /// The last attempt failed (see `reason`) or the supplicant cannot run; retried by itself.
    Failed,
}

/// `status.dot1x`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Dot1xStatus {
    pub state: PortStateName,
    /// Why the port is not authenticated: the EAP failure, TLS alert or certificate error, or
    /// why the supplicant cannot run. Never contains a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The EAP method wpa_supplicant last selected (`MD5`, `PEAP`, `TLS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// When `state` or `reason` last changed, seconds since 1970.
    pub changed_at: u64,
}

/// What the status and configuration routes need from the 802.1X service.
pub trait PortAccess: Send + Sync + 'static {
    fn status(&self) -> Dot1xStatus;
    /// Checks before the section is switched on (or changed while on): wpa_supplicant installed,
    /// interface present, client certificate issued to the device key. Empty = fine.
    fn preflight(&self, section: &Dot1xConfig) -> Vec<FieldError>;
}
