//! UPnP automatic port forwarding (paper §4.1): while `upnp.auto_port_forwarding` is on (and
//! something is chosen to forward), a camward-upnp forwarder keeps the chosen ports mapped on
//! the router; switching it off, changing what is forwarded, or stopping the daemon deletes the
//! mappings first. While off, this service sends nothing at all. Mapping changes and failures go
//! to the audit log; the state is shown by `GET /api/v1/status`.

use camward_config::{Config, ForwardedService};
use camward_store::{AuditEvent, ConfigHandle, Store};
use camward_upnp::{Event, EventSink, Options, Plan, Protocol, StatusHandle, Wanted};
use camward_web::{PortForwarding, UpnpStatus};
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The ports camward actually listens on, which are the internal ports of the mappings.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub http: u16,
    pub rtsp: u16,
    /// `--https`: overrides `https.port`.
    pub https_flag: Option<SocketAddr>,
}

pub struct Input {
    pub config: ConfigHandle,
    pub status: StatusHandle,
    pub ports: Ports,
    /// `--upnp-ssdp`: where discovery searches instead of the SSDP group.
    pub ssdp: Option<SocketAddrV4>,
    pub store: Store,
    pub shutdown: CancellationToken,
}

/// The mappings the settings ask for; `None` while nothing is to be forwarded.
fn plan(c: &Config, ports: Ports) -> Option<Plan> {
    let mappings: Vec<Wanted> = c
        .upnp
        .forwarded(c.https.enabled())
        .into_iter()
        .map(|(s, external)| {
            let internal = match s {
                ForwardedService::Https => ports.https_flag.map_or(c.https.port, |a| a.port()),
                ForwardedService::Http => ports.http,
                ForwardedService::Rtsp => ports.rtsp,
            };
            Wanted {
                service: s.name().to_owned(),
                protocol: Protocol::Tcp,
                internal_port: internal,
                external_port: if external == 0 { internal } else { external },
            }
        })
        .collect();
    if mappings.is_empty() {
        return None;
    }
    Some(Plan {
        mappings,
        lease_secs: c.upnp.lease_secs,
    })
}

pub fn start(input: Input) -> JoinHandle<()> {
    let Input {
        config,
        status,
        ports,
        ssdp,
        store,
        shutdown,
    } = input;
    let mut options = Options::default();
    if let Some(to) = ssdp {
        options.ssdp = to;
    }
    let events: EventSink = Arc::new(move |e: Event| {
        let detail = serde_json::to_value(&e).unwrap_or_default();
        if let Err(err) = store.audit(&AuditEvent::new(e.kind).detail(detail)) {
            tracing::error!(error = %err, "cannot write the UPnP event to the audit log");
        }
    });
    tokio::spawn(async move {
        let mut rx = config.subscribe();
        let mut running: Option<(Plan, CancellationToken, JoinHandle<()>)> = None;
        loop {
            let want = plan(&rx.borrow_and_update(), ports);
            if running.as_ref().map(|(p, _, _)| p) != want.as_ref() {
                if let Some((_, stop, task)) = running.take() {
                    stop.cancel();
                    let _ = task.await;
                    tracing::info!("UPnP port forwarding stopped");
                }
                if let Some(p) = want {
                    let stop = shutdown.child_token();
                    let task = tokio::spawn(camward_upnp::run(
                        p.clone(),
                        status.clone(),
                        events.clone(),
                        options,
                        stop.clone(),
                    ));
                    running = Some((p, stop, task));
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = rx.changed() => if r.is_err() { break },
            }
        }
        // The forwarder's stop token is a child of `shutdown`: it is deleting its mappings now.
        if let Some((_, _, task)) = running {
            let _ = task.await;
        }
    })
}

/// The forwarder's status as the HTTP API shows it.
pub struct Forwarding(pub StatusHandle);

impl PortForwarding for Forwarding {
    fn status(&self) -> UpnpStatus {
        // Both types serialise to the same JSON shape (the API's is the documented one).
        serde_json::to_value(self.0.get())
            .and_then(serde_json::from_value)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ports() -> Ports {
        Ports {
            http: 8080,
            rtsp: 8554,
            https_flag: None,
        }
    }

    #[test]
    fn default_settings_plan_nothing() {
        assert_eq!(plan(&Config::default(), ports()), None);
    }

    #[test]
    fn plan_maps_listening_ports_and_chosen_external_ports() {
        let c = Config::default()
            .apply_merge_patch(&json!({"https": {"connection": "https", "port": 8443},
                "upnp": {"auto_port_forwarding": true, "forward_rtsp": true, "rtsp_external_port": 10554, "lease_secs": 60}}))
            .unwrap();
        let p = plan(&c, ports()).unwrap();
        assert_eq!(p.lease_secs, 60);
        let got: Vec<_> = p
            .mappings
            .iter()
            .map(|w| (w.service.as_str(), w.internal_port, w.external_port))
            .collect();
        assert_eq!(got, [("https", 8443, 8443), ("rtsp", 8554, 10554)]);
        let flag = Ports {
            https_flag: Some("127.0.0.1:9443".parse().unwrap()),
            ..ports()
        };
        assert_eq!(plan(&c, flag).unwrap().mappings[0].internal_port, 9443);
    }

    #[test]
    fn forwarder_status_converts_to_the_api_shape() {
        let h = StatusHandle::default();
        let s = Forwarding(h).status();
        assert_eq!(s, UpnpStatus::default());
        let full = camward_upnp::Status {
            enabled: true,
            gateway: Some(camward_upnp::GatewayInfo {
                location: "http://10.0.0.1:5000/rootDesc.xml".into(),
                service: "urn:schemas-upnp-org:service:WANIPConnection:2".into(),
                internal_client: "10.0.0.2".into(),
            }),
            external_address: Some("198.20.19.1".into()),
            mappings: vec![camward_upnp::MappingStatus {
                service: "https".into(),
                protocol: Protocol::Tcp,
                internal_port: 443,
                requested_external_port: 443,
                external_port: Some(444),
                state: camward_upnp::MappingState::PortTaken,
                taken_by: Some("10.0.0.3".into()),
                message: Some("m".into()),
                lease_secs: 60,
                renewed_at: Some(1),
            }],
            error: None,
            next_attempt_at: Some(2),
        };
        let api: UpnpStatus =
            serde_json::from_value(serde_json::to_value(&full).unwrap()).expect("same shape");
        assert_eq!(api.mappings[0].protocol, "TCP");
        assert_eq!(
            api.mappings[0].state,
            camward_web::UpnpMappingState::PortTaken
        );
        assert_eq!(api.gateway.unwrap().internal_client, "10.0.0.2");
    }
}
