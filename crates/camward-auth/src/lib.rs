//! Who may talk to the camera: access levels, RFC 7616 Digest, host filter and lockout.
//! One implementation shared by every listener (HTTP, RTSP, the RTSP tunnel, FTP).
#![forbid(unsafe_code)]

pub mod conn_limit;
pub mod digest;
pub mod header;
pub mod host;
pub mod lockout;
pub mod password;
pub mod policy;
mod service;
pub mod setup_code;

pub use password::REALM;
pub use service::{AccountError, AccountService, AuthEvent, AuthHook, AuthOptions};

use std::net::IpAddr;
use std::time::Duration;

/// Access levels of the paper's User auth. screen. Ordered so that `a >= b` means "a may do what b may".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// 3. Live only.
    Live,
    /// 2. Camera control.
    Control,
    /// 1. Administrator.
    Admin,
}

impl Level {
    /// The name used by the API, the database and the console: `admin`, `control`, `live`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Admin => "admin",
            Level::Control => "control",
            Level::Live => "live",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "admin" => Some(Level::Admin),
            "control" => Some(Level::Control),
            "live" => Some(Level::Live),
            _ => None,
        }
    }
}

/// Which listener asks; used for the audit log and for protocol-specific challenge details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Http,
    /// HTTP over TLS (paper §3.7): the same rules as HTTP; the audit log tells them apart.
    Https,
    Rtsp,
    /// RTSP over TLS: the same rules as RTSP.
    Rtsps,
    Ftp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Rtsp => "rtsp",
            Protocol::Rtsps => "rtsps",
            Protocol::Ftp => "ftp",
        }
    }

    /// HTTP with or without TLS: Digest binds the response to the request-target.
    pub fn is_http(self) -> bool {
        matches!(self, Protocol::Http | Protocol::Https)
    }

    /// RTSP with or without TLS.
    pub fn is_rtsp(self) -> bool {
        matches!(self, Protocol::Rtsp | Protocol::Rtsps)
    }
}

/// One request to authenticate, as seen by a listener after its host filter check.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub protocol: Protocol,
    /// Request method (`GET`, `DESCRIBE`, ...), part of the Digest response.
    pub method: &'a str,
    /// Request-URI exactly as sent on the request line (Digest binds to it).
    pub uri: &'a str,
    /// Value of the `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    pub peer: IpAddr,
}

/// Who was let in. `user == None` means guest access (or user auth switched off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: Option<String>,
    pub level: Level,
}

/// The answer a listener turns into its protocol's response.
#[derive(Debug, Clone)]
pub enum Outcome {
    Granted(Principal),
    /// Answer 401 with one `WWW-Authenticate` header per value (SHA-256 Digest first, then MD5,
    /// then Basic when allowed). `stale` is already folded into the values.
    Challenge {
        www_authenticate: Vec<String>,
    },
    /// No administrator exists yet: HTTP answers 401 saying the device needs setup; RTSP refuses.
    NeedsSetup,
    /// Too many failures from this address, or for this account name: HTTP 429 / RTSP 503 with
    /// Retry-After.
    LockedOut {
        retry_after: Duration,
    },
}

/// What every listener calls. Implemented by the daemon's account service; tests may fake it.
pub trait Gate: Send + Sync + 'static {
    /// Host authentication (paper §3.4): called on accept, before any byte is parsed.
    /// IPv4-mapped IPv6 addresses are matched as IPv4.
    fn host_allowed(&self, peer: IpAddr) -> bool;
    /// Checks credentials, records failures for the lockout, writes the audit log.
    fn authenticate(&self, req: &Request<'_>) -> Outcome;
    /// A fresh set of `WWW-Authenticate` values, for a listener that must ask for credentials on its
    /// own (e.g. an anonymous guest reaching an admin-only page). Empty means "cannot challenge".
    fn challenge(&self, _protocol: Protocol) -> Vec<String> {
        Vec::new()
    }
}
