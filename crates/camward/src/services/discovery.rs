//! The Easy IP window (paper §4.5): WS-Discovery answered for `discovery.accommodate_period`
//! after each start (20 minutes by default, or unlimited), then the socket is closed. ONVIF's
//! SetDiscoveryMode reopens the window for another period or closes it now ([`Window`]).
//! Changing the setting takes effect at once, counted from the start (or the last reopening).

use camward_config::Config;
use camward_discovery::{Announce, Bind, Responder};
use camward_store::ConfigHandle;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The window's shared state: whether it is open now, and ONVIF's requests to change it.
#[derive(Default)]
pub struct Window {
    open: AtomicBool,
    /// `Some(true)`: reopen for a period; `Some(false)`: close now.
    request: Mutex<Option<bool>>,
    changed: Notify,
}

impl Window {
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    pub fn request(&self, open: bool) {
        *self.request.lock().unwrap_or_else(|p| p.into_inner()) = Some(open);
        self.changed.notify_one();
    }
}

/// What the device announces, from the settings and the listeners.
#[derive(Clone)]
pub struct Facts {
    pub endpoint: String,
    pub serial: Option<String>,
    pub http: SocketAddr,
    /// `--https`: overrides `https.port` in XAddrs.
    pub https_flag: Option<SocketAddr>,
    /// `--discovery-interface`: the only interface discovery uses.
    pub interface: Option<String>,
}

fn uri_safe(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The WS-Discovery scopes (also ONVIF's GetScopes): ONVIF's profile, type, hardware, name and
/// location, and camward's serial and firmware for `camward discover`.
pub fn scopes(c: &Config, serial: Option<&str>) -> Vec<String> {
    let name = serial
        .map(|s| format!("camward-{s}"))
        .unwrap_or_else(|| "camward".into());
    let mut v = vec![
        "onvif://www.onvif.org/type/video_encoder".to_owned(),
        "onvif://www.onvif.org/type/Network_Video_Transmitter".to_owned(),
        "onvif://www.onvif.org/Profile/Streaming".to_owned(),
        "onvif://www.onvif.org/hardware/camward".to_owned(),
        format!("onvif://www.onvif.org/name/{}", uri_safe(&name)),
    ];
    if !c.discovery.location.is_empty() {
        v.push(format!(
            "onvif://www.onvif.org/location/{}",
            c.discovery.location
        ));
    }
    if let Some(s) = serial {
        v.push(format!("https://camward.dev/scope/serial/{}", uri_safe(s)));
    }
    v.push(format!(
        "https://camward.dev/scope/firmware/{}",
        env!("CARGO_PKG_VERSION")
    ));
    v
}

fn host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// The device service addresses: the web listener's address, or every interface's when it
/// listens on all; `https://` while Connection = HTTPS (plain HTTP then only redirects).
pub fn xaddrs(c: &Config, f: &Facts) -> Vec<String> {
    let https = c.https.enabled();
    let (ip, port) = if https {
        match f.https_flag {
            Some(a) => (a.ip(), a.port()),
            None => (f.http.ip(), c.https.port),
        }
    } else {
        (f.http.ip(), f.http.port())
    };
    let scheme = if https { "https" } else { "http" };
    let ips: Vec<IpAddr> = if ip.is_unspecified() {
        camward_discovery::interfaces()
            .into_iter()
            .filter(|i| match &f.interface {
                Some(n) => &i.name == n,
                None => !i.loopback,
            })
            .flat_map(|i| i.ipv4.into_iter().map(|(a, _)| IpAddr::V4(a)))
            .collect()
    } else {
        vec![ip]
    };
    ips.into_iter()
        .map(|ip| format!("{scheme}://{}:{port}/onvif/device_service", host(ip)))
        .collect()
}

/// A stable endpoint reference: made once, kept in the data directory.
pub fn endpoint(data_dir: &Path) -> String {
    let path = data_dir.join("discovery-endpoint");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim();
        if s.starts_with("urn:uuid:") && s.len() == 45 {
            return s.to_owned();
        }
    }
    let id = camward_discovery::message::new_uuid();
    if let Err(e) = std::fs::write(&path, &id) {
        tracing::warn!(error = %e, "cannot keep the discovery endpoint id; it changes at each start");
    }
    id
}

/// The next AppSequence InstanceId: larger than any this data directory used before (kept in a
/// file) and than the current time in seconds, so it grows across restarts and clock resets.
fn next_instance(data_dir: &Path) -> u32 {
    let path = data_dir.join("discovery-instance");
    let last: u32 = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX - 1))
        .unwrap_or(0);
    let next = last.saturating_add(1).max(now);
    if let Err(e) = std::fs::write(&path, next.to_string()) {
        tracing::warn!(error = %e, "cannot keep the WS-Discovery instance id");
    }
    next
}

pub struct Input {
    pub config: ConfigHandle,
    /// The status page's listener list: udp/3702 is in it while the window is open.
    pub listeners: super::device::Listeners,
    pub data_dir: std::path::PathBuf,
    pub window: Arc<Window>,
    pub facts: Facts,
    /// `--discovery-window-secs`: replaces the accommodate period's length (tests).
    pub period_override: Option<Duration>,
    pub shutdown: CancellationToken,
}

fn period(c: &Config, o: Option<Duration>) -> Option<Duration> {
    match (c.discovery.accommodate_period.duration(), o) {
        // 0 means no window at all, whatever the setting (tests that must not multicast).
        (_, Some(Duration::ZERO)) => Some(Duration::ZERO),
        (None, _) => None,
        (Some(_), Some(o)) => Some(o),
        (Some(d), None) => Some(d),
    }
}

pub fn start(input: Input) -> JoinHandle<()> {
    let Input {
        config,
        listeners,
        data_dir,
        window,
        facts,
        period_override,
        shutdown,
    } = input;
    tokio::spawn(async move {
        let mut rx = config.subscribe();
        let mut opened_at = Instant::now();
        let mut forced_closed = false;
        let mut running: Option<Responder> = None;
        let bind = facts
            .interface
            .clone()
            .map(Bind::Interface)
            .unwrap_or(Bind::All);
        let announce: Arc<dyn Fn() -> Announce + Send + Sync> = {
            let config = config.clone();
            let facts = facts.clone();
            Arc::new(move || {
                let c = config.current();
                Announce {
                    endpoint: facts.endpoint.clone(),
                    xaddrs: xaddrs(&c, &facts),
                    scopes: scopes(&c, facts.serial.as_deref()),
                    metadata_version: 1,
                }
            })
        };
        loop {
            let cfg = rx.borrow_and_update().clone();
            let p = period(&cfg, period_override);
            let closes = p.map(|d| opened_at + d);
            let want = !forced_closed && closes.is_none_or(|t| Instant::now() < t);
            if want && running.is_none() {
                match Responder::start(bind.clone(), announce.clone(), next_instance(&data_dir))
                    .await
                {
                    Ok(r) => running = Some(r),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot open the WS-Discovery socket (udp/3702)")
                    }
                }
            } else if !want && let Some(r) = running.take() {
                r.stop().await;
            }
            // A settings change may change the XAddrs (HTTPS) or the scopes (location): the
            // responder says a new Hello when it does.
            if let Some(r) = &running {
                r.recheck();
            }
            window.open.store(running.is_some(), Ordering::Relaxed);
            if running.is_some() {
                listeners.open(
                    "WS-Discovery",
                    SocketAddr::from(([0, 0, 0, 0], camward_discovery::PORT)),
                );
            } else {
                listeners.close("WS-Discovery");
            }
            let wake = async {
                match closes {
                    Some(t) if running.is_some() => tokio::time::sleep_until(t).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = rx.changed() => if r.is_err() { break },
                _ = window.changed.notified() => {
                    match window.request.lock().unwrap_or_else(|p| p.into_inner()).take() {
                        Some(true) => { opened_at = Instant::now(); forced_closed = false; }
                        Some(false) => forced_closed = true,
                        None => {}
                    }
                }
                _ = wake => {}
            }
        }
        if let Some(r) = running {
            r.stop().await;
        }
        window.open.store(false, Ordering::Relaxed);
        listeners.close("WS-Discovery");
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use camward_config::Connection;

    fn facts(http: &str) -> Facts {
        Facts {
            endpoint: "urn:uuid:x".into(),
            serial: Some("A 1/ü".into()),
            http: http.parse().unwrap(),
            https_flag: None,
            interface: None,
        }
    }

    #[test]
    fn scopes_are_uris_whatever_the_serial_and_name_the_location_when_set() {
        let mut c = Config::default();
        let s = scopes(&c, Some("A 1/ü"));
        assert!(s.contains(&"onvif://www.onvif.org/Profile/Streaming".to_owned()));
        assert!(s.contains(&"onvif://www.onvif.org/name/camward-A%201%2F%C3%BC".to_owned()));
        assert!(s.iter().all(|x| !x.contains(' ')));
        assert!(!s.iter().any(|x| x.contains("/location/")));
        c.discovery.location = "site-1/hall".into();
        assert!(
            scopes(&c, None).contains(&"onvif://www.onvif.org/location/site-1/hall".to_owned())
        );
    }

    #[test]
    fn addresses_follow_the_listener_and_the_connection() {
        let mut c = Config::default();
        assert_eq!(
            xaddrs(&c, &facts("192.0.2.7:8080")),
            vec!["http://192.0.2.7:8080/onvif/device_service"]
        );
        assert_eq!(
            xaddrs(&c, &facts("[2001:db8::7]:80")),
            vec!["http://[2001:db8::7]:80/onvif/device_service"]
        );
        c.https.connection = Connection::Https;
        c.https.port = 8443;
        assert_eq!(
            xaddrs(&c, &facts("192.0.2.7:8080")),
            vec!["https://192.0.2.7:8443/onvif/device_service"]
        );
    }

    #[test]
    fn zero_means_no_window_even_when_unlimited() {
        let mut c = Config::default();
        assert_eq!(period(&c, None), Some(Duration::from_secs(1200)));
        assert_eq!(
            period(&c, Some(Duration::from_secs(5))),
            Some(Duration::from_secs(5))
        );
        c.discovery.accommodate_period = camward_config::AccommodatePeriod::Unlimited;
        assert_eq!(period(&c, None), None);
        assert_eq!(period(&c, Some(Duration::from_secs(5))), None);
        assert_eq!(period(&c, Some(Duration::ZERO)), Some(Duration::ZERO));
    }
}
