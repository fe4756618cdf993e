//! What the ONVIF services need from the running camera, as traits the daemon implements: the
//! device's facts and actions ([`Device`]), its clock ([`DeviceClock`], the seam the `time`
//! settings section fills), credentials ([`Authenticator`]) and its alarms as ONVIF
//! notifications ([`Notification`]). This crate builds none of them.

use camward_auth::wsse::UsernameToken;
use camward_auth::{Level, Outcome};
use camward_config::Config;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::broadcast;

/// GetDeviceInformation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInformation {
    pub manufacturer: String,
    pub model: String,
    pub firmware_version: String,
    pub serial_number: String,
    pub hardware_id: String,
}

/// One network interface for GetNetworkInterfaces (VMSs use the MAC as the camera's identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetInterface {
    pub name: String,
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// IPv4 addresses with prefix length.
    pub ipv4: Vec<(std::net::Ipv4Addr, u8)>,
}

/// The listeners a client reaches the camera on, for URIs in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub rtsp: u16,
    /// The RTSPS port while Connection = HTTPS.
    pub rtsps: Option<u16>,
}

/// How the clock is set (tt:SetDateTimeType).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTimeType {
    Manual,
    Ntp,
}

/// Why the clock refused a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockError {
    /// The device cannot do this (answered ter:ActionNotSupported).
    Unsupported(String),
    /// A value is not acceptable (answered ter:InvalidArgVal).
    Invalid(String),
}

/// The device clock as ONVIF's Device service sees it (GetSystemDateAndTime,
/// SetSystemDateAndTime, GetNTP, SetNTP). The daemon implements it; where the `time` settings
/// section exists it is the one that answers, so ONVIF and the web UI show the same clock.
pub trait DeviceClock: Send + Sync + 'static {
    fn now(&self) -> SystemTime;
    /// POSIX TZ string (`UTC0`, `CET-1CEST,M3.5.0,M10.5.0/3`).
    fn timezone(&self) -> String;
    fn date_time_type(&self) -> DateTimeType;
    /// Manual time (and optionally a time zone), or `ntp` switched on.
    fn set(
        &self,
        kind: DateTimeType,
        utc: Option<SystemTime>,
        tz: Option<String>,
    ) -> Result<(), ClockError>;
    /// The NTP servers (host names or addresses).
    fn ntp_servers(&self) -> Vec<String>;
    fn set_ntp_servers(&self, servers: Vec<String>, actor: &str) -> Result<(), ClockError>;
}

/// One alarm as an ONVIF notification: its topic and its simple items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Topic expression with the prefixes `tns1:` or `cw:` (`tns1:VideoSource/MotionAlarm`).
    pub topic: String,
    pub time: SystemTime,
    /// Source simple items (name, value), e.g. `("VideoSourceToken", "vs1")`.
    pub source: Vec<(String, String)>,
    /// Data simple items, e.g. `("State", "true")`.
    pub data: Vec<(String, String)>,
}

/// The camera as the ONVIF services need it.
pub trait Device: Send + Sync + 'static {
    fn information(&self) -> DeviceInformation;
    fn network_interfaces(&self) -> Vec<NetInterface>;
    /// The configuration in force (streams, JPEG sizes, HTTPS, discovery).
    fn config(&self) -> Arc<Config>;
    fn ports(&self) -> Ports;
    /// The WS-Discovery scopes announced (GetScopes lists them as Fixed).
    fn scopes(&self) -> Vec<String>;
    /// Whether the discovery window is open (GetDiscoveryMode).
    fn discoverable(&self) -> bool;
    /// SetDiscoveryMode: `true` opens the window again for the accommodate period, `false`
    /// closes it now.
    fn set_discoverable(&self, on: bool, actor: &str);
    /// Accounts and levels for GetUsers (no passwords).
    fn users(&self) -> Vec<(String, Level)>;
    /// SystemReboot: restarts camward shortly after the answer is sent; the message for the client.
    fn reboot(&self, actor: &str) -> String;
    fn clock(&self) -> &dyn DeviceClock;
    /// A new receiver of alarm notifications (one per PullPoint subscription).
    fn subscribe(&self) -> broadcast::Receiver<Notification>;
}

/// The credential checks of camward-auth, blocking (they may touch SQLite): called off the async
/// workers.
pub trait Authenticator: Send + Sync + 'static {
    /// WS-Security UsernameToken PasswordDigest.
    fn username_token(&self, token: &UsernameToken, peer: IpAddr) -> Outcome;
    /// An HTTP `Authorization` header (Digest; Basic where allowed) for `POST uri`.
    fn http(&self, uri: &str, authorization: Option<&str>, peer: IpAddr) -> Outcome;
    /// Fresh `WWW-Authenticate` values.
    fn challenge(&self) -> Vec<String>;
}
