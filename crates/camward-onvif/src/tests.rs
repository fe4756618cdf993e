//! The request path end to end with a fake camera and fake credentials: authentication and level
//! checks come before any operation, every refusal is a SOAP fault with a 4xx status.

use super::*;
use crate::backend::*;
use camward_auth::wsse::UsernameToken;
use camward_config::Config;
use std::sync::Mutex;
use std::time::SystemTime;
use tokio::sync::broadcast;

struct FakeClock(Mutex<Vec<String>>);
impl DeviceClock for FakeClock {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_284_623_445)
    }
    fn timezone(&self) -> String {
        "UTC0".into()
    }
    fn date_time_type(&self) -> DateTimeType {
        DateTimeType::Ntp
    }
    fn set(
        &self,
        _: DateTimeType,
        _: Option<SystemTime>,
        _: Option<String>,
    ) -> Result<(), ClockError> {
        Err(ClockError::Unsupported("no".into()))
    }
    fn ntp_servers(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn set_ntp_servers(&self, s: Vec<String>, _: &str) -> Result<(), ClockError> {
        *self.0.lock().unwrap() = s;
        Ok(())
    }
}

struct FakeDevice {
    clock: FakeClock,
    tx: broadcast::Sender<Notification>,
}
impl Device for FakeDevice {
    fn information(&self) -> DeviceInformation {
        DeviceInformation {
            manufacturer: "camward".into(),
            model: "camward".into(),
            firmware_version: "0.1.0".into(),
            serial_number: "S1".into(),
            hardware_id: "linux".into(),
        }
    }
    fn network_interfaces(&self) -> Vec<NetInterface> {
        vec![NetInterface {
            name: "eth0".into(),
            mac: "02:00:00:00:00:01".into(),
            ipv4: vec![("192.0.2.1".parse().unwrap(), 24)],
        }]
    }
    fn config(&self) -> Arc<Config> {
        Arc::new(Config::default())
    }
    fn ports(&self) -> Ports {
        Ports {
            rtsp: 8554,
            rtsps: None,
        }
    }
    fn scopes(&self) -> Vec<String> {
        vec!["onvif://www.onvif.org/Profile/Streaming".into()]
    }
    fn discoverable(&self) -> bool {
        true
    }
    fn set_discoverable(&self, _: bool, _: &str) {}
    fn users(&self) -> Vec<(String, Level)> {
        vec![
            ("installer".into(), Level::Admin),
            ("viewer".into(), Level::Live),
        ]
    }
    fn reboot(&self, _: &str) -> String {
        "rebooting".into()
    }
    fn clock(&self) -> &dyn DeviceClock {
        &self.clock
    }
    fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.tx.subscribe()
    }
}

/// Accepts the token of user `admin` or `viewer` whatever the digest; refuses others.
struct FakeAuth;
impl Authenticator for FakeAuth {
    fn username_token(&self, t: &UsernameToken, _: IpAddr) -> Outcome {
        match t.username.as_str() {
            "admin" => Outcome::Granted(Principal {
                user: Some("admin".into()),
                level: Level::Admin,
            }),
            "viewer" => Outcome::Granted(Principal {
                user: Some("viewer".into()),
                level: Level::Live,
            }),
            _ => Outcome::Challenge {
                www_authenticate: vec!["Digest x".into()],
            },
        }
    }
    fn http(&self, _: &str, _: Option<&str>, _: IpAddr) -> Outcome {
        Outcome::Challenge {
            www_authenticate: vec!["Digest realm=\"camward\"".into()],
        }
    }
    fn challenge(&self) -> Vec<String> {
        vec!["Digest realm=\"camward\"".into()]
    }
}

fn onvif() -> (Onvif, broadcast::Sender<Notification>) {
    let (tx, _) = broadcast::channel(8);
    let dev = FakeDevice {
        clock: FakeClock(Mutex::new(vec![])),
        tx: tx.clone(),
    };
    (Onvif::new(Arc::new(dev), Arc::new(FakeAuth)), tx)
}

fn envelope(user: Option<&str>, body: &str) -> Vec<u8> {
    let header = user.map(|u| format!(
        r#"<s:Header><wsse:Security xmlns:wsse="{}" xmlns:wsu="{}"><wsse:UsernameToken><wsse:Username>{u}</wsse:Username><wsse:Password Type="{}">x</wsse:Password><wsse:Nonce>LKqI6G/AikKCQrN0zqZFlg==</wsse:Nonce><wsu:Created>2010-09-16T07:50:45Z</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>"#,
        soap::WSSE, soap::WSU, soap::PASSWORD_DIGEST)).unwrap_or_default();
    format!(r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="{}" xmlns:trt="{}" xmlns:tev="{}" xmlns:wsnt="{}" xmlns:tt="{}">{header}<s:Body>{body}</s:Body></s:Envelope>"#,
        soap::TDS, soap::TRT, soap::TEV, soap::WSNT, soap::TT).into_bytes()
}

fn request(path: &str, body: Vec<u8>) -> HttpRequest {
    HttpRequest {
        path: path.into(),
        uri: path.into(),
        body,
        authorization: None,
        peer: "127.0.0.1".parse().unwrap(),
        host: "127.0.0.1:8080".into(),
        tls: false,
    }
}

fn subcode(r: &HttpResponse) -> String {
    let e = xml::parse(r.body.as_bytes()).unwrap();
    e.find_any("Subcode")
        .and_then(|s| s.text_of("Value"))
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn system_date_and_time_needs_no_credentials_but_other_operations_do() {
    let (o, _) = onvif();
    let r = o
        .handle(request(
            "/onvif/device_service",
            envelope(None, "<tds:GetSystemDateAndTime/>"),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = xml::parse(r.body.as_bytes()).unwrap();
    assert_eq!(
        e.find_any("UTCDateTime")
            .unwrap()
            .find_any("Year")
            .unwrap()
            .text,
        "2010"
    );
    let r = o
        .handle(request(
            "/onvif/device_service",
            envelope(None, "<tds:GetDeviceInformation/>"),
        ))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(subcode(&r), "ter:NotAuthorized");
    assert!(!r.www_authenticate.is_empty());
}

#[tokio::test]
async fn a_refused_token_is_a_not_authorized_fault() {
    let (o, _) = onvif();
    let r = o
        .handle(request(
            "/onvif/device_service",
            envelope(Some("mallory"), "<tds:GetDeviceInformation/>"),
        ))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(subcode(&r), "ter:NotAuthorized");
}

#[tokio::test]
async fn a_live_only_user_reads_stream_uris_but_cannot_change_the_device() {
    let (o, _) = onvif();
    let r = o.handle(request("/onvif/media_service", envelope(Some("viewer"),
        "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>TCP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>profile_1</trt:ProfileToken></trt:GetStreamUri>"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("rtsp://127.0.0.1:8554/stream1"),
        "{}",
        r.body
    );
    for op in [
        "<tds:SystemReboot/>",
        "<tds:SetNTP><tds:FromDHCP>false</tds:FromDHCP></tds:SetNTP>",
        "<tds:GetUsers/>",
    ] {
        let r = o
            .handle(request(
                "/onvif/device_service",
                envelope(Some("viewer"), op),
            ))
            .await;
        assert_eq!(
            (r.status, subcode(&r).as_str()),
            (400, "ter:NotAuthorized"),
            "{op}"
        );
    }
    let r = o
        .handle(request(
            "/onvif/device_service",
            envelope(Some("admin"), "<tds:SystemReboot/>"),
        ))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn unknown_operations_are_action_not_supported_never_5xx() {
    let (o, _) = onvif();
    let r = o
        .handle(request(
            "/onvif/device_service",
            envelope(Some("admin"), "<tds:GetRelayOutputs/>"),
        ))
        .await;
    assert_eq!(
        (r.status, subcode(&r).as_str()),
        (400, "ter:ActionNotSupported")
    );
    let r = o
        .handle(request(
            "/onvif/device_service",
            envelope(Some("admin"), r#"<x:Bogus xmlns:x="urn:x"/>"#),
        ))
        .await;
    assert_eq!(
        (r.status, subcode(&r).as_str()),
        (400, "ter:ActionNotSupported")
    );
}

#[tokio::test]
async fn xml_with_a_dtd_is_refused_as_not_well_formed() {
    let (o, _) = onvif();
    let body = br#"<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&x;</s:Body></s:Envelope>"#;
    let r = o
        .handle(request("/onvif/device_service", body.to_vec()))
        .await;
    assert_eq!((r.status, subcode(&r).as_str()), (400, "ter:WellFormed"));
}

#[tokio::test]
async fn a_pull_point_delivers_alarms_and_is_renewed_and_removed() {
    let (o, tx) = onvif();
    let r = o.handle(request("/onvif/event_service", envelope(Some("viewer"),
        "<tev:CreatePullPointSubscription><tev:InitialTerminationTime>PT60S</tev:InitialTerminationTime></tev:CreatePullPointSubscription>"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = xml::parse(r.body.as_bytes()).unwrap();
    let addr = e.find_any("Address").unwrap().text.clone();
    let path = addr
        .strip_prefix("http://127.0.0.1:8080")
        .unwrap()
        .to_owned();
    tx.send(Notification {
        topic: "cw:Alarm/Command".into(),
        time: SystemTime::now(),
        source: vec![],
        data: vec![("State".into(), "true".into())],
    })
    .unwrap();
    let r = o.handle(request(&path, envelope(Some("viewer"),
        "<tev:PullMessages><tev:Timeout>PT5S</tev:Timeout><tev:MessageLimit>10</tev:MessageLimit></tev:PullMessages>"))).await;
    assert!(r.body.contains("cw:Alarm/Command"), "{}", r.body);
    let r = o
        .handle(request(
            &path,
            envelope(
                Some("viewer"),
                "<wsnt:Renew><wsnt:TerminationTime>PT120S</wsnt:TerminationTime></wsnt:Renew>",
            ),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = o
        .handle(request(
            &path,
            envelope(Some("viewer"), "<wsnt:Unsubscribe/>"),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = o
        .handle(request(
            &path,
            envelope(Some("viewer"), "<wsnt:Unsubscribe/>"),
        ))
        .await;
    assert_eq!(r.status, 400);
}

#[test]
fn hosts_split_from_ports() {
    assert_eq!(split_host("192.0.2.1:80"), "192.0.2.1");
    assert_eq!(split_host("[::1]:80"), "[::1]");
    assert_eq!(split_host("cam"), "cam");
    assert!(!sane_host("a/b"));
}
