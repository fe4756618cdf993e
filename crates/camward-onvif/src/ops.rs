//! The operations of the Device (ver10), Media (ver10), Media2 (ver20) and Event services that
//! camward answers: at least every call Home Assistant's ONVIF integration makes on a camera
//! without PTZ (paper §4.5's VMS path). Each operation states the ONVIF access class it needs,
//! mapped to camward's levels (User = Live only, Operator = Camera control, Administrator).
//! Answers are written in the element order of the ONVIF schemas, which strict clients (zeep)
//! rely on.

use crate::backend::{ClockError, DateTimeType, Device};
use crate::events::{self, SubError, Subscriptions};
use crate::soap::{Fault, TDS, TEV, TR2, TRT, WSNT};
use crate::xml::{Element, escape};
use camward_auth::Level;
use camward_config::StreamConfig;
use std::fmt::Write;
use std::time::{Duration, SystemTime};

/// Who may call an operation (ONVIF Core §5.9.4 access classes, mapped to camward's levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// PRE_AUTH: answered without credentials (GetSystemDateAndTime, so clients can fix their
    /// clock before they make a digest).
    PreAuth,
    /// READ_SYSTEM, READ_MEDIA: ONVIF User = camward Live only.
    User,
    /// ACTUATE, READ_SYSTEM_SENSITIVE: ONVIF Operator = camward Camera control.
    Operator,
    /// WRITE_SYSTEM, READ_SYSTEM_SECRET, UNRECOVERABLE: Administrator.
    Admin,
}

impl Access {
    pub fn level(self) -> Option<Level> {
        match self {
            Access::PreAuth => None,
            Access::User => Some(Level::Live),
            Access::Operator => Some(Level::Control),
            Access::Admin => Some(Level::Admin),
        }
    }
}

/// The ONVIF user level of a camward level (GetUsers).
pub fn onvif_level(l: Level) -> &'static str {
    match l {
        Level::Admin => "Administrator",
        Level::Control => "Operator",
        Level::Live => "User",
    }
}

/// The access an operation needs; `None`: camward does not implement it.
pub fn access(ns: &str, op: &str) -> Option<Access> {
    use Access::*;
    Some(match (ns, op) {
        (TDS, "GetSystemDateAndTime") => PreAuth,
        (
            TDS,
            "GetServices"
            | "GetServiceCapabilities"
            | "GetCapabilities"
            | "GetDeviceInformation"
            | "GetNetworkInterfaces"
            | "GetScopes"
            | "GetDiscoveryMode"
            | "GetNTP"
            | "GetHostname",
        ) => User,
        (TDS, "GetUsers") => Admin,
        (TDS, "SetSystemDateAndTime" | "SetDiscoveryMode" | "SetNTP" | "SystemReboot") => Admin,
        (
            TRT | TR2,
            "GetServiceCapabilities"
            | "GetProfiles"
            | "GetProfile"
            | "GetStreamUri"
            | "GetSnapshotUri"
            | "GetVideoSources"
            | "GetVideoSourceConfigurations"
            | "GetVideoSourceConfiguration"
            | "GetVideoEncoderConfigurations"
            | "GetVideoEncoderConfiguration"
            | "GetVideoEncoderConfigurationOptions",
        ) => User,
        (
            TEV,
            "GetServiceCapabilities"
            | "GetEventProperties"
            | "CreatePullPointSubscription"
            | "PullMessages"
            | "SetSynchronizationPoint",
        ) => User,
        (WSNT, "Renew" | "Unsubscribe") => User,
        _ => return None,
    })
}

/// One call, with what the answer needs to know about the request.
pub struct Call<'a> {
    pub op: &'a Element,
    /// `http://host:port` or `https://host:port` as the client reached us.
    pub base: &'a str,
    /// The host (name or address, IPv6 in brackets) the client used, without port.
    pub host: &'a str,
    /// The subscription id from the request path, for PullMessages, Renew, Unsubscribe.
    pub subscription: Option<&'a str>,
    pub user: Option<&'a str>,
    pub level: Level,
}

/// An answer body or a fault.
pub type Answer = Result<String, (Fault, String)>;

fn bad(reason: impl Into<String>) -> (Fault, String) {
    (Fault::InvalidArgVal, reason.into())
}

fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// The enabled streams as (number, settings): one ONVIF profile each.
fn streams(dev: &dyn Device) -> Vec<(u8, StreamConfig)> {
    let c = dev.config();
    [
        (1u8, c.streams.stream1.clone()),
        (2, c.streams.stream2.clone()),
    ]
    .into_iter()
    .filter(|(_, s)| s.enabled)
    .collect()
}

fn profile_stream(
    dev: &dyn Device,
    token: Option<&str>,
) -> Result<(u8, StreamConfig), (Fault, String)> {
    let token = token.ok_or_else(|| bad("ProfileToken is required"))?;
    streams(dev)
        .into_iter()
        .find(|(n, _)| token == format!("profile_{n}"))
        .ok_or_else(|| (Fault::NoEntity, format!("no profile `{token}`")))
}

/// Dispatches one call. `subs` holds the PullPoint subscriptions.
pub async fn call(dev: &dyn Device, subs: &Subscriptions, c: &Call<'_>) -> Answer {
    let op = c.op;
    match (op.ns.as_str(), op.name.as_str()) {
        (TDS, "GetSystemDateAndTime") => Ok(system_date_and_time(dev)),
        (TDS, "SetSystemDateAndTime") => set_system_date_and_time(dev, op),
        (TDS, "GetServices") => Ok(services(c)),
        (TDS, "GetServiceCapabilities") => Ok(device_service_capabilities()),
        (TDS, "GetCapabilities") => Ok(capabilities(c)),
        (TDS, "GetDeviceInformation") => {
            let i = dev.information();
            Ok(format!(
                "<tds:GetDeviceInformationResponse><tds:Manufacturer>{}</tds:Manufacturer><tds:Model>{}</tds:Model><tds:FirmwareVersion>{}</tds:FirmwareVersion><tds:SerialNumber>{}</tds:SerialNumber><tds:HardwareId>{}</tds:HardwareId></tds:GetDeviceInformationResponse>",
                escape(&i.manufacturer),
                escape(&i.model),
                escape(&i.firmware_version),
                escape(&i.serial_number),
                escape(&i.hardware_id)
            ))
        }
        (TDS, "GetHostname") => Ok(format!(
            "<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP><tt:Name>{}</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>",
            escape(&dev.information().serial_number)
        )),
        (TDS, "GetNetworkInterfaces") => Ok(network_interfaces(dev)),
        (TDS, "GetScopes") => {
            let mut s = String::from("<tds:GetScopesResponse>");
            for scope in dev.scopes() {
                let _ = write!(
                    s,
                    "<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef><tt:ScopeItem>{}</tt:ScopeItem></tds:Scopes>",
                    escape(&scope)
                );
            }
            s.push_str("</tds:GetScopesResponse>");
            Ok(s)
        }
        (TDS, "GetDiscoveryMode") => Ok(format!(
            "<tds:GetDiscoveryModeResponse><tds:DiscoveryMode>{}</tds:DiscoveryMode></tds:GetDiscoveryModeResponse>",
            if dev.discoverable() {
                "Discoverable"
            } else {
                "NonDiscoverable"
            }
        )),
        (TDS, "SetDiscoveryMode") => {
            let on = match op.text_of("DiscoveryMode") {
                Some("Discoverable") => true,
                Some("NonDiscoverable") => false,
                _ => return Err(bad("DiscoveryMode must be Discoverable or NonDiscoverable")),
            };
            dev.set_discoverable(on, c.user.unwrap_or(""));
            Ok("<tds:SetDiscoveryModeResponse/>".into())
        }
        (TDS, "GetUsers") => {
            let mut s = String::from("<tds:GetUsersResponse>");
            for (name, level) in dev.users() {
                let _ = write!(
                    s,
                    "<tds:User><tt:Username>{}</tt:Username><tt:UserLevel>{}</tt:UserLevel></tds:User>",
                    escape(&name),
                    onvif_level(level)
                );
            }
            s.push_str("</tds:GetUsersResponse>");
            Ok(s)
        }
        (TDS, "GetNTP") => Ok(get_ntp(dev)),
        (TDS, "SetNTP") => set_ntp(dev, op, c.user.unwrap_or("")),
        (TDS, "SystemReboot") => Ok(format!(
            "<tds:SystemRebootResponse><tds:Message>{}</tds:Message></tds:SystemRebootResponse>",
            escape(&dev.reboot(c.user.unwrap_or("")))
        )),
        (TRT, _) => media1(dev, c),
        (TR2, _) => media2(dev, c),
        (TEV, _) | (WSNT, _) => events_call(dev, subs, c).await,
        _ => Err((
            Fault::ActionNotSupported,
            format!("camward does not implement {{{}}}{}", op.ns, op.name),
        )),
    }
}

fn system_date_and_time(dev: &dyn Device) -> String {
    let clock = dev.clock();
    let now = time::OffsetDateTime::from_unix_timestamp(
        clock
            .now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    )
    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let kind = match clock.date_time_type() {
        DateTimeType::Manual => "Manual",
        DateTimeType::Ntp => "NTP",
    };
    let dt = |t: time::OffsetDateTime| {
        format!(
            "<tt:Time><tt:Hour>{}</tt:Hour><tt:Minute>{}</tt:Minute><tt:Second>{}</tt:Second></tt:Time><tt:Date><tt:Year>{}</tt:Year><tt:Month>{}</tt:Month><tt:Day>{}</tt:Day></tt:Date>",
            t.hour(),
            t.minute(),
            t.second(),
            t.year(),
            u8::from(t.month()),
            t.day()
        )
    };
    // The local time is the UTC time: camward keeps no time zone database of its own; the `TZ`
    // string tells clients how to show it.
    format!(
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>{kind}</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>{}</tt:TZ></tt:TimeZone><tt:UTCDateTime>{}</tt:UTCDateTime><tt:LocalDateTime>{}</tt:LocalDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>",
        escape(&clock.timezone()),
        dt(now),
        dt(now)
    )
}

fn clock_fault(e: ClockError) -> (Fault, String) {
    match e {
        ClockError::Unsupported(m) => (Fault::ActionNotSupported, m),
        ClockError::Invalid(m) => bad(m),
    }
}

fn set_system_date_and_time(dev: &dyn Device, op: &Element) -> Answer {
    let kind = match op.text_of("DateTimeType") {
        Some("Manual") => DateTimeType::Manual,
        Some("NTP") => DateTimeType::Ntp,
        _ => return Err(bad("DateTimeType must be Manual or NTP")),
    };
    let tz = op
        .child_any("TimeZone")
        .and_then(|t| t.text_of("TZ"))
        .map(str::to_owned);
    let utc = match op.child_any("UTCDateTime") {
        Some(u) => {
            let num = |e: Option<&Element>, n: &str| -> Result<i64, (Fault, String)> {
                e.and_then(|e| e.text_of(n))
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| bad(format!("UTCDateTime needs {n}")))
            };
            let (d, t) = (u.child_any("Date"), u.child_any("Time"));
            let month =
                time::Month::try_from(num(d, "Month")? as u8).map_err(|_| bad("bad month"))?;
            let date =
                time::Date::from_calendar_date(num(d, "Year")? as i32, month, num(d, "Day")? as u8)
                    .map_err(|_| bad("bad date"))?;
            let tod = time::Time::from_hms(
                num(t, "Hour")? as u8,
                num(t, "Minute")? as u8,
                num(t, "Second")? as u8,
            )
            .map_err(|_| bad("bad time"))?;
            let secs = time::PrimitiveDateTime::new(date, tod)
                .assume_utc()
                .unix_timestamp();
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64))
        }
        None => None,
    };
    if kind == DateTimeType::Manual && utc.is_none() {
        return Err(bad("Manual needs UTCDateTime"));
    }
    dev.clock().set(kind, utc, tz).map_err(clock_fault)?;
    Ok("<tds:SetSystemDateAndTimeResponse/>".into())
}

fn get_ntp(dev: &dyn Device) -> String {
    let mut s =
        String::from("<tds:GetNTPResponse><tds:NTPInformation><tt:FromDHCP>false</tt:FromDHCP>");
    for host in dev.clock().ntp_servers() {
        let kind = match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) => ("IPv4", "IPv4Address"),
            Ok(std::net::IpAddr::V6(_)) => ("IPv6", "IPv6Address"),
            Err(_) => ("DNS", "DNSname"),
        };
        let _ = write!(
            s,
            "<tt:NTPManual><tt:Type>{}</tt:Type><tt:{1}>{2}</tt:{1}></tt:NTPManual>",
            kind.0,
            kind.1,
            escape(&host)
        );
    }
    s.push_str("</tds:NTPInformation></tds:GetNTPResponse>");
    s
}

fn set_ntp(dev: &dyn Device, op: &Element, actor: &str) -> Answer {
    if op.text_of("FromDHCP") == Some("true") {
        return Err((
            Fault::ActionNotSupported,
            "NTP servers from DHCP are not supported".into(),
        ));
    }
    let mut servers = Vec::new();
    for m in op.children.iter().filter(|c| c.name == "NTPManual") {
        let v = ["IPv4Address", "IPv6Address", "DNSname"]
            .iter()
            .find_map(|n| m.text_of(n).filter(|v| !v.is_empty()))
            .ok_or_else(|| bad("NTPManual needs an address or a DNS name"))?;
        if v.len() > 253
            || v.chars()
                .any(|c| !(c.is_ascii_alphanumeric() || ".-:".contains(c)))
        {
            return Err(bad(format!("`{v}` is not a host name or address")));
        }
        servers.push(v.to_owned());
    }
    if servers.len() > 4 {
        return Err(bad("at most 4 NTP servers"));
    }
    dev.clock()
        .set_ntp_servers(servers, actor)
        .map_err(clock_fault)?;
    Ok("<tds:SetNTPResponse/>".into())
}

fn services(c: &Call<'_>) -> String {
    let mut s = String::from("<tds:GetServicesResponse>");
    for (ns, path, major, minor) in [
        (TDS, "device_service", 2, 60),
        (TRT, "media_service", 2, 60),
        (TR2, "media2_service", 2, 60),
        (TEV, "event_service", 2, 60),
    ] {
        let _ = write!(
            s,
            "<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{}/onvif/{path}</tds:XAddr><tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor></tds:Version></tds:Service>",
            escape(c.base)
        );
    }
    s.push_str("</tds:GetServicesResponse>");
    s
}

fn device_service_capabilities() -> String {
    concat!(
        "<tds:GetServiceCapabilitiesResponse><tds:Capabilities>",
        r#"<tds:Network IPFilter="false" ZeroConfiguration="false" IPVersion6="true" DynDNS="false" NTP="4" HostnameFromDHCP="false"/>"#,
        r#"<tds:Security TLS1.0="false" TLS1.1="false" TLS1.2="true" OnboardKeyGeneration="true" AccessPolicyConfig="false" DefaultAccessPolicy="false" Dot1X="false" RemoteUserHandling="false" X.509Token="false" SAMLToken="false" KerberosToken="false" UsernameToken="true" HttpDigest="true" RELToken="false"/>"#,
        r#"<tds:System DiscoveryResolve="true" DiscoveryBye="true" RemoteDiscovery="false" SystemBackup="false" SystemLogging="false" FirmwareUpgrade="false" HttpFirmwareUpgrade="false" HttpSystemBackup="false" HttpSystemLogging="false" HttpSupportInformation="false"/>"#,
        "</tds:Capabilities></tds:GetServiceCapabilitiesResponse>"
    )
    .into()
}

fn capabilities(c: &Call<'_>) -> String {
    let b = escape(c.base);
    format!(
        concat!(
            "<tds:GetCapabilitiesResponse><tds:Capabilities>",
            "<tt:Device><tt:XAddr>{b}/onvif/device_service</tt:XAddr>",
            "<tt:Network><tt:IPFilter>false</tt:IPFilter><tt:ZeroConfiguration>false</tt:ZeroConfiguration><tt:IPVersion6>true</tt:IPVersion6><tt:DynDNS>false</tt:DynDNS></tt:Network>",
            "<tt:System><tt:DiscoveryResolve>true</tt:DiscoveryResolve><tt:DiscoveryBye>true</tt:DiscoveryBye><tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup><tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade><tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tt:SupportedVersions></tt:System>",
            "<tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>true</tt:TLS1.2><tt:OnboardKeyGeneration>true</tt:OnboardKeyGeneration><tt:AccessPolicyConfig>false</tt:AccessPolicyConfig><tt:X.509Token>false</tt:X.509Token><tt:SAMLToken>false</tt:SAMLToken><tt:KerberosToken>false</tt:KerberosToken><tt:RELToken>false</tt:RELToken></tt:Security>",
            "</tt:Device>",
            "<tt:Events><tt:XAddr>{b}/onvif/event_service</tt:XAddr><tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport><tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>",
            "<tt:Media><tt:XAddr>{b}/onvif/media_service</tt:XAddr><tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>",
            "</tds:Capabilities></tds:GetCapabilitiesResponse>"
        ),
        b = b
    )
}

fn network_interfaces(dev: &dyn Device) -> String {
    let mut s = String::from("<tds:GetNetworkInterfacesResponse>");
    for (i, nic) in dev.network_interfaces().iter().enumerate() {
        let _ = write!(
            s,
            r#"<tds:NetworkInterfaces token="eth{i}"><tt:Enabled>true</tt:Enabled><tt:Info><tt:Name>{}</tt:Name><tt:HwAddress>{}</tt:HwAddress></tt:Info>"#,
            escape(&nic.name),
            escape(&nic.mac)
        );
        s.push_str("<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config>");
        for (a, p) in &nic.ipv4 {
            let _ = write!(
                s,
                "<tt:Manual><tt:Address>{a}</tt:Address><tt:PrefixLength>{p}</tt:PrefixLength></tt:Manual>"
            );
        }
        s.push_str("<tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4></tds:NetworkInterfaces>");
    }
    s.push_str("</tds:GetNetworkInterfacesResponse>");
    s
}

// ---- media ---------------------------------------------------------------------------------

const SOURCE_TOKEN: &str = "vs1";
const SOURCE_CONFIG_TOKEN: &str = "vsc1";

fn source_size(dev: &dyn Device) -> (u32, u32) {
    streams(dev)
        .iter()
        .map(|(_, s)| (s.width, s.height))
        .max()
        .unwrap_or((1920, 1080))
}

fn video_source_configuration(dev: &dyn Device, elem: &str) -> String {
    let (w, h) = source_size(dev);
    let uses = streams(dev).len();
    format!(
        r#"<{elem} token="{SOURCE_CONFIG_TOKEN}"><tt:Name>VideoSource</tt:Name><tt:UseCount>{uses}</tt:UseCount><tt:SourceToken>{SOURCE_TOKEN}</tt:SourceToken><tt:Bounds x="0" y="0" width="{w}" height="{h}"/></{elem}>"#
    )
}

fn video_encoder_configuration(n: u8, s: &StreamConfig, elem: &str) -> String {
    format!(
        r#"<{elem} token="vec_{n}"><tt:Name>Stream({n})</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>{}</tt:Width><tt:Height>{}</tt:Height></tt:Resolution><tt:Quality>5</tt:Quality><tt:RateControl><tt:FrameRateLimit>{}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>{}</tt:BitrateLimit></tt:RateControl><tt:H264><tt:GovLength>{}</tt:GovLength><tt:H264Profile>Baseline</tt:H264Profile></tt:H264><tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port><tt:TTL>1</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast><tt:SessionTimeout>PT60S</tt:SessionTimeout></{elem}>"#,
        s.width, s.height, s.fps, s.bitrate_kbps, s.gop
    )
}

fn video_encoder2_configuration(n: u8, s: &StreamConfig, elem: &str) -> String {
    format!(
        r#"<{elem} token="vec_{n}" GovLength="{}" Profile="Baseline"><tt:Name>Stream({n})</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>{}</tt:Width><tt:Height>{}</tt:Height></tt:Resolution><tt:RateControl ConstantBitRate="false"><tt:FrameRateLimit>{}</tt:FrameRateLimit><tt:BitrateLimit>{}</tt:BitrateLimit></tt:RateControl><tt:Quality>5</tt:Quality></{elem}>"#,
        s.gop, s.width, s.height, s.fps, s.bitrate_kbps
    )
}

/// The resolutions camward's encoder offers, and its highest frame rate.
fn encoder_options() -> (String, u32) {
    let mut res = String::new();
    for (w, h) in camward_config::SIZES {
        let _ = write!(
            res,
            "<tt:ResolutionsAvailable><tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height></tt:ResolutionsAvailable>"
        );
    }
    (res, 30)
}

/// A URI for stream `n` over `transport` (`UDP`, `TCP`, `RTSP`: the RTSP port; `HTTP`: the
/// RTSP-over-HTTP tunnel on the port the client used for this request).
fn stream_uri(dev: &dyn Device, c: &Call<'_>, n: u8, transport: &str) -> String {
    let ports = dev.ports();
    match transport {
        // The tunnel is served on the web port; an rtsp:// URL with that port is what ffmpeg
        // (`-rtsp_transport http`) and GStreamer (`rtsph://`) take.
        "HTTP" => {
            let port = c.base.rsplit(':').next().unwrap_or("80");
            format!("rtsp://{}:{port}/stream{n}", c.host)
        }
        "RTSPS" => format!(
            "rtsps://{}:{}/stream{n}",
            c.host,
            ports.rtsps.unwrap_or(322)
        ),
        _ => format!("rtsp://{}:{}/stream{n}", c.host, ports.rtsp),
    }
}

fn snapshot_uri(c: &Call<'_>, n: u8) -> String {
    format!("{}/api/v1/snapshot.jpg?stream={n}", c.base)
}

fn media_uri(elem: &str, uri: &str) -> String {
    format!(
        "<{elem}><tt:Uri>{}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></{elem}>",
        escape(uri)
    )
}

fn media1(dev: &dyn Device, c: &Call<'_>) -> Answer {
    let op = c.op;
    match op.name.as_str() {
        "GetServiceCapabilities" => Ok(r#"<trt:GetServiceCapabilitiesResponse><trt:Capabilities SnapshotUri="true" Rotation="false" VideoSourceMode="false" OSD="false"><trt:ProfileCapabilities MaximumNumberOfProfiles="2"/><trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true" NonAggregateControl="false" NoRTSPStreaming="false"/></trt:Capabilities></trt:GetServiceCapabilitiesResponse>"#.into()),
        "GetProfiles" | "GetProfile" => {
            let one = op.name == "GetProfile";
            let list: Vec<_> = if one {
                vec![profile_stream(dev, op.text_of("ProfileToken"))?]
            } else {
                streams(dev)
            };
            let (outer, item) = if one { ("trt:GetProfileResponse", "trt:Profile") } else { ("trt:GetProfilesResponse", "trt:Profiles") };
            let mut s = format!("<{outer}>");
            for (n, st) in list {
                let _ = write!(s, r#"<{item} token="profile_{n}" fixed="true"><tt:Name>Stream{n}</tt:Name>{}{}</{item}>"#,
                    video_source_configuration(dev, "tt:VideoSourceConfiguration"),
                    video_encoder_configuration(n, &st, "tt:VideoEncoderConfiguration"));
            }
            let _ = write!(s, "</{outer}>");
            Ok(s)
        }
        "GetStreamUri" => {
            let (n, _) = profile_stream(dev, op.text_of("ProfileToken"))?;
            let setup = op.child_any("StreamSetup");
            if let Some(stream) = setup.and_then(|s| s.text_of("Stream"))
                && stream != "RTP-Unicast"
            {
                return Err(bad(format!("only RTP-Unicast is offered, not {stream}")));
            }
            let transport = setup
                .and_then(|s| s.child_any("Transport"))
                .and_then(|t| t.text_of("Protocol"))
                .unwrap_or("RTSP");
            if !["UDP", "TCP", "RTSP", "HTTP"].contains(&transport) {
                return Err(bad(format!("unknown transport {transport}")));
            }
            Ok(format!("<trt:GetStreamUriResponse>{}</trt:GetStreamUriResponse>", media_uri("trt:MediaUri", &stream_uri(dev, c, n, transport))))
        }
        "GetSnapshotUri" => {
            let (n, _) = profile_stream(dev, op.text_of("ProfileToken"))?;
            Ok(format!("<trt:GetSnapshotUriResponse>{}</trt:GetSnapshotUriResponse>", media_uri("trt:MediaUri", &snapshot_uri(c, n))))
        }
        "GetVideoSources" => {
            let (w, h) = source_size(dev);
            let fps = streams(dev).iter().map(|(_, s)| s.fps).max().unwrap_or(30);
            Ok(format!(r#"<trt:GetVideoSourcesResponse><trt:VideoSources token="{SOURCE_TOKEN}"><tt:Framerate>{fps}</tt:Framerate><tt:Resolution><tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height></tt:Resolution></trt:VideoSources></trt:GetVideoSourcesResponse>"#))
        }
        "GetVideoSourceConfigurations" => Ok(format!("<trt:GetVideoSourceConfigurationsResponse>{}</trt:GetVideoSourceConfigurationsResponse>", video_source_configuration(dev, "trt:Configurations"))),
        "GetVideoSourceConfiguration" => Ok(format!("<trt:GetVideoSourceConfigurationResponse>{}</trt:GetVideoSourceConfigurationResponse>", video_source_configuration(dev, "trt:Configuration"))),
        "GetVideoEncoderConfigurations" => {
            let mut s = String::from("<trt:GetVideoEncoderConfigurationsResponse>");
            for (n, st) in streams(dev) {
                s.push_str(&video_encoder_configuration(n, &st, "trt:Configurations"));
            }
            s.push_str("</trt:GetVideoEncoderConfigurationsResponse>");
            Ok(s)
        }
        "GetVideoEncoderConfiguration" => {
            let token = op.text_of("ConfigurationToken").unwrap_or("");
            let (n, st) = streams(dev).into_iter().find(|(n, _)| token == format!("vec_{n}"))
                .ok_or_else(|| (Fault::NoEntity, format!("no encoder configuration `{token}`")))?;
            Ok(format!("<trt:GetVideoEncoderConfigurationResponse>{}</trt:GetVideoEncoderConfigurationResponse>", video_encoder_configuration(n, &st, "trt:Configuration")))
        }
        "GetVideoEncoderConfigurationOptions" => {
            let (res, fps) = encoder_options();
            Ok(format!("<trt:GetVideoEncoderConfigurationOptionsResponse><trt:Options><tt:QualityRange><tt:Min>1</tt:Min><tt:Max>10</tt:Max></tt:QualityRange><tt:H264>{res}<tt:GovLengthRange><tt:Min>1</tt:Min><tt:Max>300</tt:Max></tt:GovLengthRange><tt:FrameRateRange><tt:Min>1</tt:Min><tt:Max>{fps}</tt:Max></tt:FrameRateRange><tt:EncodingIntervalRange><tt:Min>1</tt:Min><tt:Max>1</tt:Max></tt:EncodingIntervalRange><tt:H264ProfilesSupported>Baseline</tt:H264ProfilesSupported></tt:H264></trt:Options></trt:GetVideoEncoderConfigurationOptionsResponse>"))
        }
        other => Err((Fault::ActionNotSupported, format!("camward does not implement Media {other}"))),
    }
}

fn media2(dev: &dyn Device, c: &Call<'_>) -> Answer {
    let op = c.op;
    match op.name.as_str() {
        "GetServiceCapabilities" => Ok(r#"<tr2:GetServiceCapabilitiesResponse><tr2:Capabilities SnapshotUri="true" Rotation="false" VideoSourceMode="false" OSD="false" Mask="false" SourceMask="false"><tr2:ProfileCapabilities MaximumNumberOfProfiles="2" ConfigurationsSupported="VideoSource VideoEncoder"/><tr2:StreamingCapabilities RTSPStreaming="true" RTPMulticast="false" RTP_RTSP_TCP="true" NonAggregateControl="false" AutoStartMulticast="false"/></tr2:Capabilities></tr2:GetServiceCapabilitiesResponse>"#.into()),
        "GetProfiles" => {
            let want = op.text_of("Token");
            let mut s = String::from("<tr2:GetProfilesResponse>");
            for (n, st) in streams(dev) {
                if want.is_some_and(|t| t != format!("profile_{n}")) {
                    continue;
                }
                let _ = write!(s, r#"<tr2:Profiles token="profile_{n}" fixed="true"><tr2:Name>Stream{n}</tr2:Name><tr2:Configurations>{}{}</tr2:Configurations></tr2:Profiles>"#,
                    video_source_configuration(dev, "tr2:VideoSource"),
                    video_encoder2_configuration(n, &st, "tr2:VideoEncoder"));
            }
            s.push_str("</tr2:GetProfilesResponse>");
            Ok(s)
        }
        "GetStreamUri" => {
            let (n, _) = profile_stream(dev, op.text_of("ProfileToken"))?;
            let transport = match op.text_of("Protocol").unwrap_or("RTSP") {
                "RtspUnicast" | "RTSP" => "RTSP",
                "RtspOverHttp" => "HTTP",
                // RTSP over TLS, offered while Connection = HTTPS (RTSPS listener open).
                "RtspsUnicast" if dev.ports().rtsps.is_some() => "RTSPS",
                other => return Err(bad(format!("protocol {other} is not offered"))),
            };
            Ok(format!("<tr2:GetStreamUriResponse><tr2:Uri>{}</tr2:Uri></tr2:GetStreamUriResponse>", escape(&stream_uri(dev, c, n, transport))))
        }
        "GetSnapshotUri" => {
            let (n, _) = profile_stream(dev, op.text_of("ProfileToken"))?;
            Ok(format!("<tr2:GetSnapshotUriResponse><tr2:Uri>{}</tr2:Uri></tr2:GetSnapshotUriResponse>", escape(&snapshot_uri(c, n))))
        }
        "GetVideoSourceConfigurations" => Ok(format!("<tr2:GetVideoSourceConfigurationsResponse>{}</tr2:GetVideoSourceConfigurationsResponse>", video_source_configuration(dev, "tr2:Configurations"))),
        "GetVideoEncoderConfigurations" => {
            let mut s = String::from("<tr2:GetVideoEncoderConfigurationsResponse>");
            for (n, st) in streams(dev) {
                s.push_str(&video_encoder2_configuration(n, &st, "tr2:Configurations"));
            }
            s.push_str("</tr2:GetVideoEncoderConfigurationsResponse>");
            Ok(s)
        }
        "GetVideoEncoderConfigurationOptions" => {
            let (res, fps) = encoder_options();
            let rates: Vec<String> = (1..=fps).map(|f| f.to_string()).collect();
            Ok(format!(r#"<tr2:GetVideoEncoderConfigurationOptionsResponse><tr2:Options GovLengthRange="1 300" FrameRatesSupported="{}" ProfilesSupported="Baseline"><tt:Encoding>H264</tt:Encoding><tt:QualityRange><tt:Min>1</tt:Min><tt:Max>10</tt:Max></tt:QualityRange>{res}<tt:BitrateRange><tt:Min>64</tt:Min><tt:Max>8192</tt:Max></tt:BitrateRange></tr2:Options></tr2:GetVideoEncoderConfigurationOptionsResponse>"#, rates.join(" ")))
        }
        other => Err((Fault::ActionNotSupported, format!("camward does not implement Media2 {other}"))),
    }
}

// ---- events --------------------------------------------------------------------------------

/// The topics camward raises (GetEventProperties), with their message descriptions.
pub const TOPICS: &[(&str, &str, &str, &str)] = &[
    // (topic path under its prefix, source item, data item, data type)
    (
        "tns1:VideoSource/MotionAlarm",
        "Source",
        "State",
        "xs:boolean",
    ),
    (
        "tns1:Device/Trigger/DigitalInput",
        "InputToken",
        "LogicalState",
        "xs:boolean",
    ),
    ("cw:Alarm/Command", "Source", "State", "xs:boolean"),
];

fn topic_set() -> String {
    // Nested elements per topic path segment, the last one marked as a topic with its message.
    let mut s = String::from("<wstop:TopicSet>");
    for (topic, src, data, ty) in TOPICS {
        let (_prefix, path) = topic.split_once(':').unwrap_or(("", topic));
        let prefix = if topic.starts_with("cw:") {
            "cw"
        } else {
            "tns1"
        };
        let parts: Vec<&str> = path.split('/').collect();
        for (i, p) in parts.iter().enumerate() {
            if i == parts.len() - 1 {
                let _ = write!(
                    s,
                    r#"<{prefix}:{p} wstop:topic="true"><tt:MessageDescription IsProperty="false"><tt:Source><tt:SimpleItemDescription Name="{src}" Type="tt:ReferenceToken"/></tt:Source><tt:Data><tt:SimpleItemDescription Name="{data}" Type="{ty}" xmlns:xs="http://www.w3.org/2001/XMLSchema"/></tt:Data></tt:MessageDescription></{prefix}:{p}>"#
                );
            } else {
                let _ = write!(s, "<{prefix}:{p}>");
            }
        }
        for p in parts.iter().rev().skip(1) {
            let _ = write!(s, "</{prefix}:{p}>");
        }
    }
    s.push_str("</wstop:TopicSet>");
    s
}

fn sub_fault(e: SubError) -> (Fault, String) {
    match e {
        SubError::Unknown => (
            Fault::NoEntity,
            "no such subscription (expired or unsubscribed)".into(),
        ),
        SubError::Full => (
            Fault::ActionFailed,
            format!(
                "at most {} subscriptions at once",
                events::MAX_SUBSCRIPTIONS
            ),
        ),
    }
}

async fn events_call(dev: &dyn Device, subs: &Subscriptions, c: &Call<'_>) -> Answer {
    let op = c.op;
    let admin = c.level == Level::Admin;
    let sub_id = || {
        c.subscription.ok_or_else(|| {
            (
                Fault::NoEntity,
                "this operation is sent to a subscription's address".to_owned(),
            )
        })
    };
    let now = SystemTime::now();
    match (op.ns.as_str(), op.name.as_str()) {
        (TEV, "GetServiceCapabilities") => Ok(format!(
            r#"<tev:GetServiceCapabilitiesResponse><tev:Capabilities WSSubscriptionPolicySupport="false" WSPullPointSupport="true" WSPausableSubscriptionManagerInterfaceSupport="false" MaxNotificationProducers="0" MaxPullPoints="{}" PersistentNotificationStorage="false"/></tev:GetServiceCapabilitiesResponse>"#,
            events::MAX_SUBSCRIPTIONS
        )),
        (TEV, "GetEventProperties") => Ok(format!(
            "<tev:GetEventPropertiesResponse><tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</tev:TopicNamespaceLocation><wsnt:FixedTopicSet>true</wsnt:FixedTopicSet>{}<wsnt:TopicExpressionDialect>http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet</wsnt:TopicExpressionDialect><wsnt:TopicExpressionDialect>http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete</wsnt:TopicExpressionDialect><tev:MessageContentFilterDialect>http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter</tev:MessageContentFilterDialect><tev:MessageContentSchemaLocation>http://www.onvif.org/onvif/ver10/schema/onvif.xsd</tev:MessageContentSchemaLocation></tev:GetEventPropertiesResponse>",
            topic_set()
        )),
        (TEV, "CreatePullPointSubscription") => {
            let ttl = match op.text_of("InitialTerminationTime") {
                Some(t) if !t.is_empty() => events::parse_termination(t, now)
                    .ok_or_else(|| bad(format!("bad InitialTerminationTime `{t}`")))?,
                _ => events::DEFAULT_TERMINATION,
            };
            let (id, until) = subs
                .create(dev.subscribe(), ttl, c.user.map(str::to_owned))
                .map_err(sub_fault)?;
            Ok(format!(
                "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>{}/onvif/subscription/{id}</wsa:Address></tev:SubscriptionReference><wsnt:CurrentTime>{}</wsnt:CurrentTime><wsnt:TerminationTime>{}</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>",
                escape(c.base),
                rfc3339(now),
                rfc3339(until)
            ))
        }
        (TEV, "PullMessages") => {
            let id = sub_id()?;
            let wait = op
                .text_of("Timeout")
                .and_then(events::parse_duration)
                .ok_or_else(|| bad("PullMessages needs a Timeout (xs:duration)"))?;
            let limit: usize = op
                .text_of("MessageLimit")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("PullMessages needs a MessageLimit"))?;
            let (notes, until) = subs
                .pull(id, c.user, admin, wait, limit.min(100))
                .await
                .map_err(sub_fault)?;
            let mut s = format!(
                "<tev:PullMessagesResponse><tev:CurrentTime>{}</tev:CurrentTime><tev:TerminationTime>{}</tev:TerminationTime>",
                rfc3339(SystemTime::now()),
                rfc3339(until)
            );
            for n in notes {
                let items = |v: &[(String, String)]| {
                    v.iter()
                        .map(|(k, x)| {
                            format!(
                                r#"<tt:SimpleItem Name="{}" Value="{}"/>"#,
                                escape(k),
                                escape(x)
                            )
                        })
                        .collect::<String>()
                };
                let _ = write!(
                    s,
                    r#"<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">{}</wsnt:Topic><wsnt:Message><tt:Message UtcTime="{}" PropertyOperation="Changed"><tt:Source>{}</tt:Source><tt:Data>{}</tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>"#,
                    escape(&n.topic),
                    rfc3339(n.time),
                    items(&n.source),
                    items(&n.data)
                );
            }
            s.push_str("</tev:PullMessagesResponse>");
            Ok(s)
        }
        (TEV, "SetSynchronizationPoint") => {
            // camward's alarms are events, not properties: there is no state to send again.
            if let Some(id) = c.subscription
                && !subs.exists(id, c.user, admin)
            {
                return Err(sub_fault(SubError::Unknown));
            }
            Ok("<tev:SetSynchronizationPointResponse/>".into())
        }
        (WSNT, "Renew") => {
            let id = sub_id()?;
            let ttl = match op.text_of("TerminationTime") {
                Some(t) if !t.is_empty() => events::parse_termination(t, now)
                    .ok_or_else(|| bad(format!("bad TerminationTime `{t}`")))?,
                _ => events::DEFAULT_TERMINATION,
            };
            let until = subs.renew(id, c.user, admin, ttl).map_err(sub_fault)?;
            Ok(format!(
                "<wsnt:RenewResponse><wsnt:TerminationTime>{}</wsnt:TerminationTime><wsnt:CurrentTime>{}</wsnt:CurrentTime></wsnt:RenewResponse>",
                rfc3339(until),
                rfc3339(SystemTime::now())
            ))
        }
        (WSNT, "Unsubscribe") => {
            subs.unsubscribe(sub_id()?, c.user, admin)
                .map_err(sub_fault)?;
            Ok("<wsnt:UnsubscribeResponse/>".into())
        }
        _ => Err((
            Fault::ActionNotSupported,
            format!("camward does not implement Events {}", op.name),
        )),
    }
}

/// The SOAP action of an answer (WS-Addressing), for clients that check it.
pub fn response_action(ns: &str, op: &str) -> Option<String> {
    let base = match ns {
        TEV if op == "PullMessages" => {
            "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"
        }
        TEV if op == "CreatePullPointSubscription" || op == "GetEventProperties" => {
            "http://www.onvif.org/ver10/events/wsdl/EventPortType"
        }
        TEV if op == "SetSynchronizationPoint" => {
            "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"
        }
        WSNT => "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager",
        _ => return None,
    };
    Some(format!("{base}/{op}Response"))
}
