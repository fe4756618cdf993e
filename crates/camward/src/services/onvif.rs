//! The ONVIF services (camward-onvif) wired to the camera: device facts, the discovery window,
//! accounts, alarms as ONVIF notifications, and the clock. Mounted on the web application at
//! `/onvif/…` by `services::http::apps`, so the host filter and the listeners' limits apply.
//!
//! The clock is the `time` section's ([`TimeClock`] over camward-time's `TimeService`), so
//! GetSystemDateAndTime/SetSystemDateAndTime/GetNTP/SetNTP and the web UI's NTP page show and
//! change the same settings (paper §4.5, the NTP tab).

use super::discovery::{self, Window};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use camward_alarm::{AlarmEvent, AlarmSource};
use camward_auth::{AccountService, Gate, Level, Outcome, Protocol};
use camward_onvif::{
    Authenticator, ClockError, DateTimeType, Device, DeviceClock, DeviceInformation, HttpRequest,
    NetInterface, Notification, Onvif, Ports,
};
use camward_store::{AuditEvent, ConfigHandle};
use camward_web::AuthContext;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The `time` section's clock (camward-time), so GetSystemDateAndTime, SetSystemDateAndTime,
/// GetNTP and SetNTP show and change the same settings as the web UI's NTP page; the time
/// service validates and audits each change like a PATCH of `time`.
pub struct TimeClock(pub camward_time::TimeService);

fn invalid(errors: Vec<camward_config::FieldError>) -> ClockError {
    ClockError::Invalid(
        errors
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

impl DeviceClock for TimeClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn timezone(&self) -> String {
        self.0.timezone()
    }
    fn date_time_type(&self) -> DateTimeType {
        match self.0.mode() {
            camward_config::TimeMode::Ntp => DateTimeType::Ntp,
            camward_config::TimeMode::Manual => DateTimeType::Manual,
        }
    }
    fn set(
        &self,
        kind: DateTimeType,
        utc: Option<SystemTime>,
        tz: Option<String>,
    ) -> Result<(), ClockError> {
        if let Some(tz) = tz {
            self.0.set_timezone(&tz).map_err(invalid)?;
        }
        match kind {
            DateTimeType::Ntp => self
                .0
                .set_mode(camward_config::TimeMode::Ntp)
                .map_err(invalid),
            DateTimeType::Manual => {
                self.0
                    .set_mode(camward_config::TimeMode::Manual)
                    .map_err(invalid)?;
                match utc {
                    None => Ok(()),
                    Some(t) => self.0.set_manual(t).map_err(|e| match e {
                        camward_time::ManualError::NtpActive => ClockError::Invalid(e.to_string()),
                        camward_time::ManualError::Clock(c) => {
                            ClockError::Unsupported(c.to_string())
                        }
                    }),
                }
            }
        }
    }
    fn ntp_servers(&self) -> Vec<String> {
        self.0
            .servers()
            .into_iter()
            .map(|s| {
                if s.port == 123 {
                    s.host
                } else {
                    format!("{}:{}", s.host, s.port)
                }
            })
            .collect()
    }
    fn set_ntp_servers(&self, servers: Vec<String>, _actor: &str) -> Result<(), ClockError> {
        // A server already configured keeps its NTS settings; a new one starts as plain NTP.
        let current = self.0.servers();
        let list = servers
            .into_iter()
            .map(|name| {
                let (host, port) = match name.rsplit_once(':') {
                    Some((h, p)) if !h.contains(':') => match p.parse::<u16>() {
                        Ok(p) => (h.to_owned(), p),
                        Err(_) => (name.clone(), 123),
                    },
                    _ => (name.clone(), 123),
                };
                current
                    .iter()
                    .find(|s| s.host == host && s.port == port)
                    .cloned()
                    .unwrap_or(camward_config::NtpServer {
                        host,
                        port,
                        ..Default::default()
                    })
            })
            .collect();
        self.0.set_servers(list).map_err(invalid)
    }
}

/// The camera as ONVIF sees it.
pub struct Camera {
    pub config: ConfigHandle,
    pub accounts: Arc<AccountService>,
    pub serial: Option<String>,
    pub rtsp_port: u16,
    pub rtsps_port: u16,
    pub window: Arc<Window>,
    pub clock: Box<dyn DeviceClock>,
    pub notes: broadcast::Sender<Notification>,
    /// SystemReboot restarts camward in-process, as Setup › Maintenance does.
    pub restarter: super::maintenance::Restarter,
}

impl Device for Camera {
    fn information(&self) -> DeviceInformation {
        DeviceInformation {
            manufacturer: "camward".into(),
            model: "camward".into(),
            firmware_version: env!("CARGO_PKG_VERSION").into(),
            serial_number: self.serial.clone().unwrap_or_else(|| "unknown".into()),
            hardware_id: std::env::consts::ARCH.into(),
        }
    }

    fn network_interfaces(&self) -> Vec<NetInterface> {
        camward_discovery::interfaces()
            .into_iter()
            .filter(|i| !i.loopback && i.mac.is_some())
            .map(|i| NetInterface {
                name: i.name,
                mac: i
                    .mac
                    .map(|m| {
                        m.iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<Vec<_>>()
                            .join(":")
                    })
                    .unwrap_or_default(),
                ipv4: i.ipv4,
            })
            .collect()
    }

    fn config(&self) -> Arc<camward_config::Config> {
        self.config.current()
    }

    fn ports(&self) -> Ports {
        Ports {
            rtsp: self.rtsp_port,
            rtsps: self
                .config
                .current()
                .https
                .enabled()
                .then_some(self.rtsps_port),
        }
    }

    fn scopes(&self) -> Vec<String> {
        discovery::scopes(&self.config.current(), self.serial.as_deref())
    }

    fn discoverable(&self) -> bool {
        self.window.is_open()
    }

    fn set_discoverable(&self, on: bool, actor: &str) {
        let _ = self.accounts.store().audit(
            &AuditEvent::new("onvif.discovery_mode")
                .actor(Some(actor))
                .detail(serde_json::json!({ "discoverable": on })),
        );
        self.window.request(on);
    }

    fn users(&self) -> Vec<(String, Level)> {
        self.accounts
            .list_users()
            .unwrap_or_default()
            .into_iter()
            .map(|a| {
                let l = Level::parse(&a.level).unwrap_or(Level::Live);
                (a.username, l)
            })
            .collect()
    }

    fn reboot(&self, actor: &str) -> String {
        let _ = self.accounts.store().audit(
            &AuditEvent::new("daemon.reboot")
                .actor(Some(actor))
                .detail(serde_json::json!({ "via": "onvif" })),
        );
        camward_web::Maintenance::restart(&self.restarter);
        "camward restarts now".into()
    }

    fn clock(&self) -> &dyn DeviceClock {
        self.clock.as_ref()
    }

    fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.notes.subscribe()
    }
}

/// An alarm as an ONVIF notification (paper's alarm sources → ONVIF topics).
pub fn notification(ev: &AlarmEvent) -> Option<Notification> {
    let (topic, source, data) = match ev.source {
        AlarmSource::Vmd(area) => (
            "tns1:VideoSource/MotionAlarm",
            vec![("Source".to_owned(), "vs1".to_owned())],
            vec![
                ("State".to_owned(), "true".to_owned()),
                ("Area".to_owned(), area.to_string()),
            ],
        ),
        AlarmSource::Terminal(n) => (
            "tns1:Device/Trigger/DigitalInput",
            vec![("InputToken".to_owned(), format!("terminal{n}"))],
            vec![("LogicalState".to_owned(), "true".to_owned())],
        ),
        AlarmSource::Command => (
            "cw:Alarm/Command",
            vec![("Source".to_owned(), "command".to_owned())],
            vec![("State".to_owned(), "true".to_owned())],
        ),
        AlarmSource::Audio => return None,
    };
    Some(Notification {
        topic: topic.into(),
        time: ev.time,
        source,
        data,
    })
}

/// Forwards alarms to the ONVIF notification bus until shutdown.
pub fn forward_alarms(
    mut rx: broadcast::Receiver<AlarmEvent>,
    tx: broadcast::Sender<Notification>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = rx.recv() => match r {
                    Ok(ev) => if let Some(n) = notification(&ev) { let _ = tx.send(n); },
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
    })
}

/// camward-auth as ONVIF's credential check.
pub struct Accounts(pub Arc<AccountService>);

impl Authenticator for Accounts {
    fn username_token(&self, token: &camward_auth::wsse::UsernameToken, peer: IpAddr) -> Outcome {
        self.0.check_username_token(token, peer)
    }
    fn http(&self, uri: &str, authorization: Option<&str>, peer: IpAddr) -> Outcome {
        self.0.authenticate(&camward_auth::Request {
            protocol: Protocol::Http,
            method: "POST",
            uri,
            authorization,
            peer,
        })
    }
    fn challenge(&self) -> Vec<String> {
        self.0.challenges(false)
    }
}

#[derive(Clone)]
struct Routes {
    onvif: Arc<Onvif>,
    config: ConfigHandle,
}

/// `POST /onvif/{service}` and `/onvif/subscription/{id}`.
pub fn router(onvif: Arc<Onvif>, config: ConfigHandle) -> Router {
    Router::new()
        .route("/onvif/{*rest}", axum::routing::post(handle))
        .with_state(Routes { onvif, config })
}

async fn handle(State(s): State<Routes>, req: Request) -> Response {
    let soap = |status: StatusCode, body: String| {
        let mut r = (status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/soap+xml; charset=utf-8"),
        );
        r
    };
    // A browser holding Digest credentials for the camera must not be made to post SOAP by
    // another site (ONVIF clients send neither header).
    let h = req.headers();
    let cross_site = h.contains_key(header::ORIGIN)
        || h.get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v != "same-origin" && v != "none");
    if cross_site {
        return soap(
            StatusCode::FORBIDDEN,
            camward_onvif::soap::fault(
                camward_onvif::soap::Fault::NotAuthorized,
                "cross-site requests are refused",
                None,
            ),
        );
    }
    let Some(ctx) = req.extensions().get::<AuthContext>().cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let path = req.uri().path().to_owned();
    let uri = req.uri().to_string();
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let authorization = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match axum::body::to_bytes(req.into_body(), camward_onvif::xml::MAX_BYTES).await {
        Ok(b) => b.to_vec(),
        Err(_) => {
            return soap(
                StatusCode::PAYLOAD_TOO_LARGE,
                camward_onvif::soap::fault(
                    camward_onvif::soap::Fault::WellFormed,
                    "request larger than 64 KiB",
                    None,
                ),
            );
        }
    };
    let r = s
        .onvif
        .handle(HttpRequest {
            path,
            uri,
            body,
            authorization,
            peer: ctx.peer.ip(),
            host,
            // Plain HTTP only redirects while Connection = HTTPS, so a request that gets here
            // then came over TLS.
            tls: s.config.current().https.enabled(),
        })
        .await;
    let mut resp = soap(
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
        r.body,
    );
    for v in r.www_authenticate {
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp.headers_mut().append(header::WWW_AUTHENTICATE, v);
        }
    }
    resp
}
