//! ONVIF Profile S services of camward over SOAP 1.2 (paper §4.5: how a VMS finds and adds the
//! camera): Device (ver10), Media (ver10), Media2 (ver20) and Events (ver10, PullPoint), at the
//! paths `/onvif/device_service`, `/onvif/media_service`, `/onvif/media2_service`,
//! `/onvif/event_service` and `/onvif/subscription/{id}` of the web listeners.
//!
//! Authentication is camward's own (§3.2–§3.4): a WS-Security UsernameToken with PasswordDigest
//! (nonce and `Created` checked, skew bounded, replays refused) or HTTP Digest, both through
//! camward-auth, so lockout and audit apply as for the HTTP API; the host filter is applied by
//! the listener before any byte is read. camward's levels map to ONVIF's Administrator / Operator
//! / User. Every request gets a SOAP answer: a refusal is a SOAP fault (`ter:NotAuthorized`,
//! `ter:ActionNotSupported`, …) with a 4xx status, never a 5xx. XML is read by [`xml`], which
//! refuses DTDs and entities (§3.10). This crate knows neither axum nor the web UI: the daemon
//! hands it an [`HttpRequest`] and sends back the [`HttpResponse`].
#![forbid(unsafe_code)]

pub mod backend;
pub mod events;
pub mod ops;
pub mod soap;
pub mod xml;

pub use backend::{
    Authenticator, ClockError, DateTimeType, Device, DeviceClock, DeviceInformation, NetInterface,
    Notification, Ports,
};

use camward_auth::{Level, Outcome, Principal};
use soap::Fault;
use std::net::IpAddr;
use std::sync::Arc;

/// The service paths (the subscription path has the id appended).
pub const PATHS: [&str; 4] = [
    "/onvif/device_service",
    "/onvif/media_service",
    "/onvif/media2_service",
    "/onvif/event_service",
];
/// Prefix of PullPoint subscription addresses.
pub const SUBSCRIPTION_PREFIX: &str = "/onvif/subscription/";

/// One HTTP POST to an ONVIF path.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Request path (`/onvif/device_service`).
    pub path: String,
    /// The request-target as sent (Digest binds to it).
    pub uri: String,
    pub body: Vec<u8>,
    pub authorization: Option<String>,
    pub peer: IpAddr,
    /// `Host` header (`192.0.2.1:8080`, `[::1]:80`); URIs in answers use it.
    pub host: String,
    /// Whether the request came over TLS.
    pub tls: bool,
}

/// The answer: status, `WWW-Authenticate` values (401 only), SOAP body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub www_authenticate: Vec<String>,
    pub body: String,
}

/// The ONVIF services of one camera.
pub struct Onvif {
    device: Arc<dyn Device>,
    auth: Arc<dyn Authenticator>,
    subs: events::Subscriptions,
}

fn split_host(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest
            .split_once(']')
            .map(|(h, _)| &host[..h.len() + 2])
            .unwrap_or(host);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

/// A Host header is echoed into URIs: only host names, addresses and a port are accepted.
fn sane_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 260
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]%".contains(c))
}

impl Onvif {
    pub fn new(device: Arc<dyn Device>, auth: Arc<dyn Authenticator>) -> Self {
        Onvif {
            device,
            auth,
            subs: events::Subscriptions::default(),
        }
    }

    fn fault(status: u16, f: Fault, reason: &str, relates: Option<&str>) -> HttpResponse {
        HttpResponse {
            status,
            www_authenticate: Vec::new(),
            body: soap::fault(f, reason, relates),
        }
    }

    /// Answers one request.
    pub async fn handle(&self, req: HttpRequest) -> HttpResponse {
        let env = match soap::parse(&req.body) {
            Ok(e) => e,
            Err(e) => return Self::fault(400, Fault::WellFormed, &e.to_string(), None),
        };
        let relates = env.message_id.as_deref();
        let op = &env.operation;
        let subscription = req.path.strip_prefix(SUBSCRIPTION_PREFIX);
        let access = ops::access(&op.ns, &op.name);
        // Operations camward does not know still need credentials: their names are not for
        // anonymous probing.
        let needed = access.unwrap_or(ops::Access::User).level();

        let principal = match self.authenticate(&req, &env, needed).await {
            Ok(p) => p,
            Err(resp) => return resp,
        };
        if let (Some(need), Some(p)) = (needed, principal.as_ref())
            && p.level < need
        {
            return Self::fault(
                400,
                Fault::NotAuthorized,
                &format!(
                    "{} needs ONVIF level {}; user `{}` is {}",
                    op.name,
                    ops::onvif_level(need),
                    p.user.as_deref().unwrap_or(""),
                    ops::onvif_level(p.level)
                ),
                relates,
            );
        }
        if access.is_none() {
            return Self::fault(
                400,
                Fault::ActionNotSupported,
                &format!("camward does not implement {{{}}}{}", op.ns, op.name),
                relates,
            );
        }
        if !sane_host(&req.host) {
            return Self::fault(400, Fault::InvalidArgVal, "bad Host header", relates);
        }
        let scheme = if req.tls { "https" } else { "http" };
        let base = format!("{scheme}://{}", req.host);
        let call = ops::Call {
            op,
            base: &base,
            host: split_host(&req.host),
            subscription,
            user: principal.as_ref().and_then(|p| p.user.as_deref()),
            level: principal.as_ref().map(|p| p.level).unwrap_or(Level::Live),
        };
        match ops::call(self.device.as_ref(), &self.subs, &call).await {
            Ok(body) => HttpResponse {
                status: 200,
                www_authenticate: Vec::new(),
                body: soap::envelope(
                    &body,
                    relates,
                    ops::response_action(&op.ns, &op.name).as_deref(),
                ),
            },
            Err((f, reason)) => Self::fault(400, f, &reason, relates),
        }
    }

    /// The principal, `None` for an anonymous pre-auth call, or the refusal to send.
    async fn authenticate(
        &self,
        req: &HttpRequest,
        env: &soap::Envelope,
        needed: Option<Level>,
    ) -> Result<Option<Principal>, HttpResponse> {
        let relates = env.message_id.as_deref();
        let not_authorized = |reason: &str| Self::fault(400, Fault::NotAuthorized, reason, relates);
        let auth = self.auth.clone();
        let peer = req.peer;
        let outcome = if let Some(t) = &env.token {
            if !t.digest {
                return Err(not_authorized(
                    "only UsernameToken PasswordDigest is accepted (PasswordText would carry the password in clear)",
                ));
            }
            let token = t.token.clone();
            tokio::task::spawn_blocking(move || auth.username_token(&token, peer)).await
        } else if env.bad_security {
            return Err(not_authorized(
                "the WS-Security header has no complete UsernameToken",
            ));
        } else if req.authorization.is_some() {
            let (uri, a) = (req.uri.clone(), req.authorization.clone());
            tokio::task::spawn_blocking(move || auth.http(&uri, a.as_deref(), peer)).await
        } else if needed.is_none() {
            return Ok(None);
        } else {
            // No credentials at all: offer HTTP Digest, and say in SOAP what is wrong.
            let auth = self.auth.clone();
            let challenges = tokio::task::spawn_blocking(move || auth.challenge())
                .await
                .unwrap_or_default();
            let mut r = Self::fault(
                401,
                Fault::NotAuthorized,
                "credentials required (WS-Security UsernameToken PasswordDigest or HTTP Digest)",
                relates,
            );
            r.www_authenticate = challenges;
            return Err(r);
        };
        match outcome {
            Ok(Outcome::Granted(p)) => Ok(Some(p)),
            Ok(Outcome::Challenge { www_authenticate }) => {
                let mut r = not_authorized("the credentials were not accepted");
                // HTTP Digest clients need 401 and a fresh challenge to try again.
                if env.token.is_none() {
                    r.status = 401;
                    r.www_authenticate = www_authenticate;
                }
                Err(r)
            }
            Ok(Outcome::NeedsSetup) => Err(not_authorized(
                "this device has no administrator yet: register one first (POST /api/v1/setup)",
            )),
            Ok(Outcome::LockedOut { retry_after }) => Err(not_authorized(&format!(
                "too many failed logins from this address: try again in {} s",
                retry_after.as_secs().max(1)
            ))),
            Err(_) => Err(Self::fault(
                400,
                Fault::ActionFailed,
                "authentication failed internally",
                relates,
            )),
        }
    }
}

#[cfg(test)]
mod tests;
