//! UPnP automatic port forwarding (paper §4.1): a small Internet Gateway Device client (SSDP
//! discovery in [`ssdp`], the WANIPConnection SOAP actions in [`igd`]) and the [`forwarder`]
//! that maps the camera's chosen ports on the router, renews them before their lease ends,
//! re-creates them after the router restarts and deletes them when switched off or stopped.
//!
//! Nothing here runs unless the daemon starts a forwarder, which it only does while
//! `upnp.auto_port_forwarding` is on: with the default settings camward sends no SSDP or SOAP.
#![forbid(unsafe_code)]

pub mod forwarder;
pub mod http;
pub mod igd;
pub mod ssdp;
pub mod xml;

pub use forwarder::{
    Event, EventSink, GatewayInfo, MappingState, MappingStatus, Options, Plan, Status,
    StatusHandle, Wanted, run,
};

/// Transport protocol of a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

/// What went wrong talking to a gateway; each carries what is needed to find the cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no UPnP gateway answered the SSDP search")]
    NoGateway,
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("no answer in time: {0}")]
    Timeout(String),
    #[error("unexpected answer: {0}")]
    Protocol(String),
    #[error("malformed XML: {0}")]
    Xml(String),
    /// A UPnP error the gateway returned (`718 ConflictInMappingEntry`, `606 Action not authorized`, …).
    #[error("the gateway refused: UPnP error {code} {description}")]
    Upnp { code: u16, description: String },
}

impl Error {
    /// Whether the gateway itself could not be reached (it may have restarted on another port):
    /// the next attempt searches for it again.
    pub fn is_transport(&self) -> bool {
        matches!(self, Error::Io(..) | Error::Timeout(_))
    }
}
