//! The UPnP block of `GET /api/v1/status` (paper §4.1): the gateway, its external address and
//! each port mapping with its state. The forwarder is reached through a [`PortForwarding`]
//! handle the daemon fills in with camward-upnp's status.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// State of one port mapping on the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpnpMappingState {
    /// Not asked yet, or waiting for the gateway.
    Pending,
    /// Forwarded by the gateway.
    Mapped,
    /// The external port is held by another host (`taken_by`); camward does not take it over.
    PortTaken,
    /// The gateway refused (UPnP error in `message`).
    Refused,
    /// No gateway answered, or it could not be reached; retried with back-off.
    Failed,
}

/// One port mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UpnpMapping {
    /// `https`, `http` or `rtsp`.
    pub service: String,
    /// `TCP` or `UDP`.
    pub protocol: String,
    pub internal_port: u16,
    /// The external port asked for.
    pub requested_external_port: u16,
    /// The external port the gateway forwards, while mapped (may differ when another host held the one asked for).
    pub external_port: Option<u16>,
    pub state: UpnpMappingState,
    /// The LAN host holding the requested external port, when another one does.
    pub taken_by: Option<String>,
    /// Why it is not mapped, or how it differs from what was asked.
    pub message: Option<String>,
    /// Lease granted in seconds (0: permanent).
    pub lease_secs: u32,
    /// Seconds since 1970 of the last add or renewal.
    pub renewed_at: Option<u64>,
}

/// The gateway in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UpnpGateway {
    /// URL of its device description.
    pub location: String,
    /// The WAN connection service used (`urn:schemas-upnp-org:service:WANIPConnection:2`).
    pub service: String,
    /// The camera's address towards the gateway.
    pub internal_client: String,
}

/// UPnP auto port forwarding as it runs now.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct UpnpStatus {
    /// Whether auto port forwarding is running (`upnp.auto_port_forwarding` and something to forward).
    pub enabled: bool,
    pub gateway: Option<UpnpGateway>,
    /// The gateway's Internet-side address.
    pub external_address: Option<String>,
    pub mappings: Vec<UpnpMapping>,
    /// Why the last attempt failed as a whole (no gateway, unreachable).
    pub error: Option<String>,
    /// Seconds since 1970 of the next attempt or renewal.
    pub next_attempt_at: Option<u64>,
}

/// What the status route needs from the forwarder.
pub trait PortForwarding: Send + Sync + 'static {
    fn status(&self) -> UpnpStatus;
}
