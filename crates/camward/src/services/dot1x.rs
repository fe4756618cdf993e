//! IEEE 802.1X (paper §3.6): runs camward-dot1x's supervised wpa_supplicant while
//! `dot1x.enabled` is on, restarts it when the section or the device certificate changes, stops
//! it and deletes its files when switched off, and records every port state change in the audit
//! log. Its port status is what `GET /api/v1/status` shows and, through [`Dot1x::subscribe`],
//! what the SNMP agent serves and traps (paper §4.7). Opens no listener: the supplicant talks
//! EAPOL on the interface and a Unix socket in the data directory.

use camward_config::{Config, Dot1xConfig, EapMethod, FieldError};
use camward_dot1x::{Files, Plan, PortState, PortStatus, Supervisor};
use camward_store::{AuditEvent, ConfigHandle, Store};
use camward_tls::DeviceIdentity;
use camward_web::{Dot1xStatus, PortAccess, PortStateName};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the device certificate is compared with what the supplicant presents (EAP-TLS):
/// an installed certificate reaches the port without an operator restarting anything.
const IDENTITY_CHECK: Duration = Duration::from_secs(10);

/// The service's face towards the HTTP API: the port state and the checks before enabling.
pub struct Dot1x {
    status: watch::Receiver<PortStatus>,
    program: Option<PathBuf>,
    identity: Arc<DeviceIdentity>,
}

impl Dot1x {
    /// The handle and the sender the service publishes on.
    pub fn new(
        program: Option<PathBuf>,
        identity: Arc<DeviceIdentity>,
    ) -> (Arc<Dot1x>, watch::Sender<PortStatus>) {
        let (tx, rx) = watch::channel(PortStatus::disabled());
        (
            Arc::new(Dot1x {
                status: rx,
                program,
                identity,
            }),
            tx,
        )
    }

    /// The live port status, for the SNMP agent (paper §4.7's enterprise subtree).
    pub fn subscribe(&self) -> watch::Receiver<PortStatus> {
        self.status.clone()
    }
}

fn state_name(s: PortState) -> PortStateName {
    match s {
        PortState::Disabled => PortStateName::Disabled,
        PortState::Connecting => PortStateName::Connecting,
        PortState::Authenticated => PortStateName::Authenticated,
        PortState::Held => PortStateName::Held,
        PortState::Failed => PortStateName::Failed,
    }
}

impl PortAccess for Dot1x {
    fn status(&self) -> Dot1xStatus {
        let s = self.status.borrow().clone();
        Dot1xStatus {
            state: state_name(s.state),
            reason: s.reason,
            method: s.method,
            changed_at: s
                .since
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    fn preflight(&self, section: &Dot1xConfig) -> Vec<FieldError> {
        let mut out = camward_dot1x::preflight(section, "dot1x", self.program.as_deref());
        if section.method == EapMethod::Tls
            && !section.client_certificate.trim().is_empty()
            && let Err(e) = self.identity.check_chain(&section.client_certificate)
        {
            out.push(FieldError::new(
                "dot1x.client_certificate",
                "dot1x.client_certificate.key",
                format!("not a certificate chain for this device's key: {e}"),
            ));
        }
        out
    }
}

pub struct Input {
    pub handle: Arc<Dot1x>,
    pub status: watch::Sender<PortStatus>,
    pub data_dir: PathBuf,
    pub config: ConfigHandle,
    pub identity: Arc<DeviceIdentity>,
    pub store: Store,
    pub shutdown: CancellationToken,
}

fn plan_of(c: &Config, identity: &DeviceIdentity) -> Option<Plan> {
    let s = &c.dot1x;
    s.enabled.then(|| {
        Plan::from_config(
            s,
            &identity.certificate_chain_pem(),
            identity.dir().join(camward_tls::identity::KEY_FILE),
        )
    })
}

pub fn start(input: Input) -> JoinHandle<()> {
    let Input {
        handle,
        status,
        data_dir,
        config,
        identity,
        store,
        shutdown,
    } = input;
    let files = Files::new(&data_dir);
    // Files of a run that ended without cleanup (power loss) must not outlive "off".
    if !config.current().dot1x.enabled
        && let Err(e) = files.remove()
    {
        tracing::warn!(error = %e, "cannot remove stale IEEE 802.1X files");
    }
    tokio::spawn(audit_changes(
        handle.status.clone(),
        store,
        shutdown.clone(),
    ));
    tokio::spawn(async move {
        let mut rx = config.subscribe();
        let mut running: Option<(Plan, Supervisor)> = None;
        let mut tick = tokio::time::interval(IDENTITY_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let cfg = rx.borrow_and_update().clone();
            let want = plan_of(&cfg, &identity);
            if running.as_ref().map(|(p, _)| p) != want.as_ref() {
                if let Some((_, sup)) = running.take() {
                    sup.stop().await;
                    tracing::info!("IEEE 802.1X supplicant stopped");
                }
                match want {
                    Some(plan) => {
                        tracing::info!(plan = ?plan, "IEEE 802.1X on");
                        let sup = Supervisor::start(
                            plan.clone(),
                            handle.program.clone(),
                            files.clone(),
                            status.clone(),
                        );
                        running = Some((plan, sup));
                    }
                    None => {
                        status.send_replace(PortStatus::disabled());
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = rx.changed() => if r.is_err() { break },
                _ = tick.tick() => {}
            }
        }
        if let Some((_, sup)) = running {
            sup.stop().await;
        }
    })
}

/// One audit entry per port state change (reason included: it never holds a secret).
async fn audit_changes(
    mut rx: watch::Receiver<PortStatus>,
    store: Store,
    shutdown: CancellationToken,
) {
    let mut last = {
        let s = rx.borrow();
        (s.state, s.reason.clone())
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            r = rx.changed() => if r.is_err() { break },
        }
        let s = rx.borrow_and_update().clone();
        if (s.state, s.reason.clone()) == last {
            continue;
        }
        last = (s.state, s.reason.clone());
        tracing::info!(
            state = s.state.as_str(),
            reason = s.reason.as_deref().unwrap_or(""),
            "IEEE 802.1X port"
        );
        let event = AuditEvent::new("dot1x.state")
            .target(s.state.as_str())
            .detail(serde_json::json!({
                "state": s.state.as_str(),
                "reason": s.reason,
                "method": s.method,
            }));
        let store = store.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = store.audit(&event) {
                tracing::warn!(error = %e, "cannot write the IEEE 802.1X audit entry");
            }
        })
        .await;
    }
}
