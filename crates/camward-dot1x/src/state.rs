//! The port state camward shows (paper §3.6): disabled / connecting / authenticated / held /
//! failed, with the reason and the time of the last change, derived from wpa_supplicant's events
//! and its `STATUS` reply. The derivation is pure ([`Tracker`]) so that it is unit-tested
//! without a supplicant.

use crate::message::{Event, Status};
use std::time::SystemTime;

/// Where the switch port stands, as far as the camera can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortState {
    /// IEEE 802.1X is off: no supplicant runs.
    Disabled,
    /// The supplicant runs and has not (yet) completed an EAP exchange.
    Connecting,
    /// The authentication server accepted the camera (EAP-Success): the port is open.
    Authenticated,
    /// The supplicant waits out its held period after the authenticator refused the port, with
    /// no EAP failure reason seen by camward (for instance right after camward restarted).
    Held,
    /// The last attempt failed (the reason says why) or the supplicant cannot run; camward keeps
    /// retrying, so the state returns to authenticated by itself once the cause is gone.
    Failed,
}

impl PortState {
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Disabled => "disabled",
            PortState::Connecting => "connecting",
            PortState::Authenticated => "authenticated",
            PortState::Held => "held",
            PortState::Failed => "failed",
        }
    }
}

/// The port state with its reason and the time it was entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortStatus {
    pub state: PortState,
    /// Why the port is not authenticated (failed, held, connecting with a hint); never contains a
    /// secret: it is built from EAP method names, TLS alerts and certificate subjects only.
    pub reason: Option<String>,
    /// When `state` or `reason` last changed.
    pub since: SystemTime,
    /// The EAP method wpa_supplicant selected last (`MD5`, `PEAP`, `TLS`).
    pub method: Option<String>,
}

impl PortStatus {
    pub fn new(state: PortState, reason: Option<String>) -> Self {
        PortStatus {
            state,
            reason,
            since: SystemTime::now(),
            method: None,
        }
    }

    pub fn disabled() -> Self {
        PortStatus::new(PortState::Disabled, None)
    }
}

/// What was learnt during one EAP exchange, to explain a failure.
#[derive(Debug, Default, Clone)]
struct Attempt {
    method: Option<String>,
    cert_error: Option<String>,
    alert: Option<String>,
    inner: Option<String>,
}

/// Folds events and `STATUS` replies into a [`PortStatus`].
#[derive(Debug, Clone)]
pub struct Tracker {
    status: PortStatus,
    attempt: Attempt,
}

/// The reason shown while the supplicant's PAE claims the port authorized without any EAP
/// exchange: IEEE 802.1X lets it assume an uncontrolled port after unanswered EAPOL-Starts.
pub const NO_AUTHENTICATOR: &str =
    "no authenticator answered EAPOL-Start: the switch port may not be controlled by IEEE 802.1X";

impl Tracker {
    /// Starts in `connecting` (the supplicant was just started).
    pub fn new() -> Self {
        Tracker {
            status: PortStatus::new(PortState::Connecting, None),
            attempt: Attempt::default(),
        }
    }

    pub fn status(&self) -> &PortStatus {
        &self.status
    }

    /// Sets the state; returns whether anything people see changed.
    pub fn set(&mut self, state: PortState, reason: Option<String>) -> bool {
        if self.status.state == state && self.status.reason == reason {
            return false;
        }
        self.status.state = state;
        self.status.reason = reason;
        self.status.since = SystemTime::now();
        true
    }

    /// Applies one event; returns whether the status changed.
    pub fn on_event(&mut self, event: &Event) -> bool {
        match event {
            Event::EapStarted => {
                let method = self.attempt.method.take();
                self.attempt = Attempt {
                    method,
                    ..Attempt::default()
                };
                false
            }
            Event::EapMethod { name } if !name.is_empty() => {
                self.attempt.method = Some(name.clone());
                self.status.method = Some(name.clone());
                false
            }
            Event::TlsCertError {
                depth,
                subject,
                err,
                ..
            } => {
                self.attempt.cert_error = Some(format!(
                    "the authentication server's certificate is not trusted: {err} \
                     (depth {depth}, subject '{subject}'); check dot1x.ca_certificate"
                ));
                false
            }
            Event::EapStatus { status, parameter } => {
                match status.as_str() {
                    "remote TLS alert" => {
                        self.attempt.alert = Some(format!(
                            "the authentication server ended the TLS handshake with the alert \
                             '{parameter}'{}",
                            if self.attempt.method.as_deref() == Some("TLS") {
                                ": it does not trust the device certificate"
                            } else {
                                ""
                            }
                        ))
                    }
                    "local TLS alert" if self.attempt.cert_error.is_none() => {
                        self.attempt.alert = Some(format!(
                            "the camera ended the TLS handshake with the alert '{parameter}'"
                        ))
                    }
                    _ => {}
                }
                false
            }
            Event::MethodFailure(text) => {
                self.attempt.inner = Some(text.clone());
                false
            }
            Event::EapSuccess => self.set(PortState::Authenticated, None),
            Event::EapFailure => {
                let reason = self.failure_reason();
                self.set(PortState::Failed, Some(reason))
            }
            Event::EapTimeoutFailure => self.set(
                PortState::Failed,
                Some("the authentication server stopped answering (EAP timeout)".into()),
            ),
            _ => false,
        }
    }

    fn failure_reason(&self) -> String {
        let a = &self.attempt;
        if let Some(e) = a.cert_error.as_ref().or(a.alert.as_ref()) {
            return e.clone();
        }
        match a.method.as_deref() {
            Some("TLS") => {
                "the authentication server refused the device certificate (EAP-Failure)".into()
            }
            Some(m) => format!(
                "the authentication server refused the credentials (EAP-Failure after EAP-{m}{}): \
                 check dot1x.identity and dot1x.password",
                a.inner
                    .as_ref()
                    .map(|i| format!(", MSCHAPv2 {i}"))
                    .unwrap_or_default()
            ),
            None => "the authentication server refused the identity (EAP-Failure before a method \
                     was agreed): check dot1x.identity and dot1x.method"
                .into(),
        }
    }

    /// Applies a `STATUS` reply; returns whether the status changed. Events are authoritative
    /// for success and failure; the poll catches what events cannot tell (held, a missed event).
    pub fn on_status(&mut self, s: &Status) -> bool {
        let pae = s.pae_state();
        let current = self.status.state;
        match pae {
            "AUTHENTICATED" if s.eap_state() == "SUCCESS" => {
                self.set(PortState::Authenticated, None)
            }
            "AUTHENTICATED" => self.set(PortState::Connecting, Some(NO_AUTHENTICATOR.into())),
            "HELD" if current == PortState::Failed => false,
            "HELD" => self.set(
                PortState::Held,
                Some(
                    "the authenticator refused the port; the supplicant waits before retrying"
                        .into(),
                ),
            ),
            // A re-authentication keeps the port open until it fails.
            "RESTART" | "AUTHENTICATING" | "CONNECTING"
                if current == PortState::Authenticated && s.port_status() == "Authorized" =>
            {
                false
            }
            // Retrying after a failure: keep the reason until it succeeds.
            _ if current == PortState::Failed => false,
            _ => self.set(PortState::Connecting, None),
        }
    }
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{parse_event, parse_status};

    fn feed(t: &mut Tracker, lines: &[&str]) {
        for l in lines {
            t.on_event(&parse_event(l));
        }
    }

    #[test]
    fn success_event_authenticates() {
        let mut t = Tracker::new();
        feed(
            &mut t,
            &[
                "CTRL-EVENT-EAP-STARTED EAP authentication started",
                "CTRL-EVENT-EAP-METHOD EAP vendor 0 method 4 (MD5) selected",
                "CTRL-EVENT-EAP-SUCCESS EAP authentication completed successfully",
            ],
        );
        assert_eq!(t.status().state, PortState::Authenticated);
        assert_eq!(t.status().method.as_deref(), Some("MD5"));
        assert!(t.status().reason.is_none());
    }

    #[test]
    fn wrong_password_fails_naming_the_method() {
        let mut t = Tracker::new();
        feed(
            &mut t,
            &[
                "CTRL-EVENT-EAP-STARTED EAP authentication started",
                "CTRL-EVENT-EAP-METHOD EAP vendor 0 method 25 (PEAP) selected",
                "EAP-MSCHAPV2: failure message: 'FAILED' (retry not allowed, error 691)",
                "CTRL-EVENT-EAP-STATUS status='completion' parameter='failure'",
                "CTRL-EVENT-EAP-FAILURE EAP authentication failed",
            ],
        );
        assert_eq!(t.status().state, PortState::Failed);
        let r = t.status().reason.clone().unwrap();
        assert!(r.contains("EAP-PEAP") && r.contains("password"), "{r}");
        assert!(r.contains("error 691"), "{r}");
    }

    #[test]
    fn foreign_server_ca_names_the_certificate_error() {
        let mut t = Tracker::new();
        feed(
            &mut t,
            &[
                "CTRL-EVENT-EAP-STARTED EAP authentication started",
                "CTRL-EVENT-EAP-METHOD EAP vendor 0 method 13 (TLS) selected",
                "CTRL-EVENT-EAP-TLS-CERT-ERROR reason=1 depth=0 subject='/CN=radius' err='unable to get local issuer certificate'",
                "CTRL-EVENT-EAP-STATUS status='local TLS alert' parameter='unknown CA'",
                "CTRL-EVENT-EAP-FAILURE EAP authentication failed",
            ],
        );
        let r = t.status().reason.clone().unwrap();
        assert!(r.contains("not trusted") && r.contains("/CN=radius"), "{r}");
    }

    #[test]
    fn untrusted_device_certificate_names_the_alert() {
        let mut t = Tracker::new();
        feed(
            &mut t,
            &[
                "CTRL-EVENT-EAP-STARTED EAP authentication started",
                "CTRL-EVENT-EAP-METHOD EAP vendor 0 method 13 (TLS) selected",
                "CTRL-EVENT-EAP-STATUS status='remote TLS alert' parameter='unknown CA'",
                "CTRL-EVENT-EAP-FAILURE EAP authentication failed",
            ],
        );
        let r = t.status().reason.clone().unwrap();
        assert!(
            r.contains("unknown CA") && r.contains("device certificate"),
            "{r}"
        );
    }

    #[test]
    fn failure_survives_held_and_retries_until_success() {
        let mut t = Tracker::new();
        feed(
            &mut t,
            &["CTRL-EVENT-EAP-FAILURE EAP authentication failed"],
        );
        let since = t.status().since;
        assert!(!t.on_status(&parse_status("Supplicant PAE state=HELD\n")));
        assert!(!t.on_status(&parse_status("Supplicant PAE state=CONNECTING\n")));
        assert_eq!(t.status().state, PortState::Failed);
        assert_eq!(t.status().since, since);
        assert!(t.on_status(&parse_status(
            "Supplicant PAE state=AUTHENTICATED\nsuppPortStatus=Authorized\nEAP state=SUCCESS\n"
        )));
        assert_eq!(t.status().state, PortState::Authenticated);
    }

    #[test]
    fn held_without_a_known_failure_is_held() {
        let mut t = Tracker::new();
        assert!(t.on_status(&parse_status("Supplicant PAE state=HELD\n")));
        assert_eq!(t.status().state, PortState::Held);
    }

    #[test]
    fn an_unanswered_port_is_not_called_authenticated() {
        let mut t = Tracker::new();
        t.on_status(&parse_status(
            "Supplicant PAE state=AUTHENTICATED\nsuppPortStatus=Authorized\nEAP state=IDLE\n",
        ));
        assert_eq!(t.status().state, PortState::Connecting);
        assert_eq!(t.status().reason.as_deref(), Some(NO_AUTHENTICATOR));
    }

    #[test]
    fn reauthentication_keeps_the_port_authenticated() {
        let mut t = Tracker::new();
        feed(
            &mut t,
            &["CTRL-EVENT-EAP-SUCCESS EAP authentication completed successfully"],
        );
        feed(
            &mut t,
            &["CTRL-EVENT-EAP-STARTED EAP authentication started"],
        );
        assert!(!t.on_status(&parse_status(
            "Supplicant PAE state=AUTHENTICATING\nsuppPortStatus=Authorized\nEAP state=METHOD\n"
        )));
        assert_eq!(t.status().state, PortState::Authenticated);
    }

    #[test]
    fn timeouts_fail_with_a_reason() {
        let mut t = Tracker::new();
        feed(
            &mut t,
            &[
                "CTRL-EVENT-EAP-TIMEOUT-FAILURE EAP authentication failed due to no response received",
            ],
        );
        assert_eq!(t.status().state, PortState::Failed);
        assert!(t.status().reason.as_deref().unwrap().contains("timeout"));
    }
}
