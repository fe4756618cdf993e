//! The `cameras` section: recorder mode. camward pulls other RTSP cameras ("upstream cameras")
//! and records each of them like its own source — fMP4 files on the card, the index, retention,
//! CENC encryption at rest when Data encryption is on (paper §3.8) — keeping a camera's own ONVIF
//! Media Signing SEIs untouched, or counter-signing an unsigned camera with the recorder's key
//! (paper §3.9). Each camera is logged in to with its own user name and Digest password (paper
//! §3.3), stored sealed like every [`Secret`]. Empty by default: no upstream camera is contacted.

use crate::audit::{Audit, Context, Finding, Fix, Severity};
use crate::checks::err;
use crate::{FieldError, Secret, Validate, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most upstream cameras: each costs a pull session, a recorder task and its share of the disk's
/// write rate. 64 cameras of 4 Mbit/s (32 MB/s) is the recorder's capacity goal on a 2-core box
/// (`scripts/bench-recorder`); more belongs on a second recorder.
pub const MAX_CAMERAS: usize = 64;
/// Longest camera name (it is a path segment of `/cameras/NAME` and of the recording directory).
pub const MAX_NAME: usize = 32;
/// Longest upstream user name and password.
pub const MAX_CREDENTIAL: usize = 64;
/// Most Live-only users a camera is shared with.
pub const MAX_LIVE_USERS: usize = 32;
/// Bounds of the reconnect back-off cap.
pub const MIN_RECONNECT_SECS: u32 = 1;
pub const MAX_RECONNECT_SECS: u32 = 60;

/// How the RTP packets of an upstream camera travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CameraTransport {
    /// Interleaved in the RTSP TCP connection: one authenticated connection, through NAT and
    /// firewalls, nothing lost.
    #[default]
    #[schemars(title = "TCP")]
    Tcp,
    /// RTP/UDP on ports negotiated in SETUP: less latency, but packets can be lost or spoofed.
    #[schemars(title = "UDP")]
    Udp,
}

/// When a camera is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CameraRecord {
    /// Always, like "Continuous" recording of the SD memory card.
    #[default]
    #[schemars(title = "Continuous")]
    Continuous,
    /// Only while this device's alarm records (the alarm's record action), with its pre- and
    /// post-alarm periods.
    #[schemars(title = "Alarm")]
    Alarm,
    /// Not recorded: only re-served live.
    #[schemars(title = "Off")]
    Off,
}

/// One upstream RTSP camera.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Camera {
    /// Short name: letters, digits, `-` and `_` (1–32). It names the camera's recordings and its
    /// live stream on this recorder, `rtsp://recorder/cameras/NAME`.
    #[schemars(title = "Name", length(max = 32))]
    pub name: String,
    /// Pull and record this camera. Off keeps the settings without contacting the camera.
    #[schemars(title = "Camera", extend("x-true" = "On", "x-false" = "Off"))]
    pub enabled: bool,
    /// The camera's RTSP URL without user name or password, e.g.
    /// `rtsp://192.168.0.20:554/stream1`: the path chooses which of its streams is pulled.
    #[schemars(title = "RTSP URL", length(max = 512))]
    pub url: String,
    /// User name this recorder logs in to the camera with (Digest, or Basic if the camera
    /// only offers that); empty when the camera asks for none.
    #[schemars(title = "User name", length(max = 64))]
    pub username: String,
    /// The camera user's password; stored sealed, never shown again.
    #[schemars(title = "Password")]
    pub password: Secret,
    /// How the video travels from the camera.
    #[schemars(title = "Transport")]
    pub transport: CameraTransport,
    /// Which of the camera's streams the URL names: 1 (its main stream) or 2. Recordings of
    /// the camera are listed under this stream number.
    #[schemars(title = "Stream", range(min = 1, max = 2))]
    pub stream: u8,
    /// When the camera is recorded.
    #[schemars(title = "Recording")]
    pub record: CameraRecord,
    /// Sign this camera's video with this recorder's key (ONVIF Media Signing) when the camera
    /// does not sign it itself. `camward verify` then names the recorder as the signer, not the
    /// camera. Leave off for a camera that signs: its own signatures are kept untouched.
    #[schemars(title = "Recorder signing", extend("x-true" = "On", "x-false" = "Off"))]
    pub recorder_signing: bool,
    /// Longest wait between two connection attempts while the camera is unreachable; attempts
    /// start after ¼ s and double up to this, each shortened by a random part (jitter) so that
    /// recorders do not all call a restarted camera at the same instant.
    #[schemars(title = "Reconnect at most every", range(min = 1, max = 60), extend("x-unit" = "s"))]
    pub reconnect_max_secs: u32,
    /// Live-only users (access level 3) who may watch this camera over RTSP
    /// (`/cameras/NAME`); other Live-only users are refused. Administrators and Camera control
    /// users may always watch it.
    #[schemars(title = "Live-only users who may watch", length(max = 32))]
    pub live_users: Vec<String>,
}

impl Default for Camera {
    fn default() -> Self {
        Camera {
            name: String::new(),
            enabled: true,
            url: String::new(),
            username: String::new(),
            password: Secret::default(),
            transport: CameraTransport::Tcp,
            stream: 1,
            record: CameraRecord::Continuous,
            recorder_signing: false,
            reconnect_max_secs: 2,
            live_users: Vec::new(),
        }
    }
}

impl Camera {
    /// The camera as an RTSP source for the puller: the user name goes into the URL
    /// (percent-encoded), the password stays a [`Secret`].
    pub fn source(&self) -> Result<crate::RtspSource, FieldError> {
        let url = if self.username.is_empty() {
            self.url.clone()
        } else {
            let rest = self.url.strip_prefix("rtsp://").unwrap_or(&self.url);
            let user: String = self
                .username
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("rtsp://{user}@{rest}")
        };
        match crate::Source::rtsp(&url, Some(self.password.clone()))? {
            crate::Source::Rtsp(r) if self.transport == CameraTransport::Udp => Ok(r.over_udp()),
            crate::Source::Rtsp(r) => Ok(r),
            _ => Err(FieldError::new(
                "url",
                "cameras.url.invalid",
                "not an rtsp:// URL",
            )),
        }
    }
}

/// The `cameras` section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CamerasConfig {
    /// The upstream cameras this device records (recorder mode); empty by default.
    #[schemars(title = "Cameras", length(max = 64))]
    pub cameras: Vec<Camera>,
}

impl CamerasConfig {
    /// The camera called `name`.
    pub fn camera(&self, name: &str) -> Option<&Camera> {
        self.cameras.iter().find(|c| c.name == name)
    }
}

/// Whether `name` is usable as a camera name (a URL path segment and a directory name).
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks an upstream URL: `rtsp://host[:port][/path]`, no credentials in it (they belong in
/// `username`/`password`, where the password is sealed). The message never echoes the URL's
/// user part, which may hold a password.
fn check_url(url: &str) -> Result<(), &'static str> {
    let Some(rest) = url.strip_prefix("rtsp://") else {
        return Err("an rtsp:// URL is required, e.g. rtsp://192.168.0.20:554/stream1");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("put the user name and password in their own fields, not in the URL");
    }
    if authority.is_empty()
        || url.len() > 512
        || url.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err("an rtsp:// URL with a host is required, e.g. rtsp://192.168.0.20:554/stream1");
    }
    let host_ok = if let Some(v6) = authority.strip_prefix('[') {
        v6.split_once(']').is_some_and(|(h, port)| {
            h.parse::<std::net::Ipv6Addr>().is_ok()
                && (port.is_empty()
                    || port
                        .strip_prefix(':')
                        .is_some_and(|p| p.parse::<u16>().is_ok_and(|p| p > 0)))
        })
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
    };
    if !host_ok {
        return Err("the host must be an IP address or host name, with an optional :port");
    }
    Ok(())
}

impl Validate for CamerasConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        let list = join(at, "cameras");
        if self.cameras.len() > MAX_CAMERAS {
            err(
                out,
                list.clone(),
                "cameras.count",
                format!("at most {MAX_CAMERAS} cameras"),
            );
        }
        for (i, c) in self.cameras.iter().enumerate() {
            let p = format!("{list}[{i}]");
            if !valid_name(&c.name) {
                err(
                    out,
                    join(&p, "name"),
                    "cameras.name.invalid",
                    "1–32 letters, digits, - or _",
                );
            } else if self.cameras[..i].iter().any(|o| o.name == c.name) {
                err(
                    out,
                    join(&p, "name"),
                    "cameras.name.duplicate",
                    "camera names must be unique",
                );
            }
            if let Err(m) = check_url(&c.url) {
                err(out, join(&p, "url"), "cameras.url.invalid", m);
            }
            if c.username.chars().count() > MAX_CREDENTIAL
                || c.username.chars().any(char::is_control)
            {
                err(
                    out,
                    join(&p, "username"),
                    "cameras.username.invalid",
                    "at most 64 characters, no control characters",
                );
            }
            if c.password.expose().is_some_and(|s| {
                s.chars().count() > MAX_CREDENTIAL || s.chars().any(char::is_control)
            }) {
                err(
                    out,
                    join(&p, "password"),
                    "cameras.password.invalid",
                    "at most 64 characters, no control characters",
                );
            }
            if !(1..=2).contains(&c.stream) {
                err(
                    out,
                    join(&p, "stream"),
                    "cameras.stream.range",
                    "1 (the camera's main stream) or 2",
                );
            }
            if c.live_users.len() > MAX_LIVE_USERS
                || c.live_users.iter().any(|u| {
                    !(1..=32).contains(&u.chars().count()) || u.chars().any(char::is_control)
                })
            {
                err(
                    out,
                    join(&p, "live_users"),
                    "cameras.live_users.invalid",
                    format!("at most {MAX_LIVE_USERS} user names of 1–32 characters"),
                );
            }
            if !(MIN_RECONNECT_SECS..=MAX_RECONNECT_SECS).contains(&c.reconnect_max_secs) {
                err(
                    out,
                    join(&p, "reconnect_max_secs"),
                    "cameras.reconnect_max_secs.range",
                    format!("between {MIN_RECONNECT_SECS} and {MAX_RECONNECT_SECS} seconds"),
                );
            }
        }
    }
}

impl Audit for CamerasConfig {
    /// What the configuration tells about each enabled upstream camera: one that asks for no
    /// password lets anyone on its network take its video (§3.2/§3.3); UDP transport sends the
    /// video on ports outside the authenticated connection, where packets can be injected
    /// (§4.4); a recorded camera without recorder signing keeps only what the camera itself
    /// signs, which the configuration cannot know (§3.9), so it is listed for information.
    fn audit(&self, at: &str, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        for (i, c) in self.cameras.iter().enumerate().filter(|(_, c)| c.enabled) {
            let p = format!("{}[{i}]", join(at, "cameras"));
            if c.username.is_empty() && !c.password.is_set() {
                out.push(
                    Finding::new(
                        "cameras.no_credentials",
                        Severity::Medium,
                        "§3.3",
                        format!("upstream camera {} is pulled without a user name or password", c.name),
                        "A camera that streams to anyone who asks lets anyone on its network watch and record it; give it a user and a Digest password, and enter them here.",
                        Fix::example(
                            join(&p, "username"),
                            "recorder".into(),
                            "create a user on the camera for this recorder, then enter its name and password here",
                        ),
                    )
                    .about(c.name.clone()),
                );
            }
            if c.transport == CameraTransport::Udp {
                out.push(
                    Finding::new(
                        "cameras.udp",
                        Severity::Low,
                        "§4.4",
                        format!("upstream camera {} sends its video over RTP/UDP", c.name),
                        "RTP/UDP packets travel outside the authenticated RTSP connection, so anyone on the path can inject or drop them; interleaved TCP keeps the video in the connection that logged in.",
                        Fix::set(join(&p, "transport"), "tcp".into()),
                    )
                    .about(c.name.clone()),
                );
            }
            if c.record != CameraRecord::Off && !c.recorder_signing {
                out.push(
                    Finding::new(
                        "cameras.unsigned_possible",
                        Severity::Info,
                        "§3.9",
                        format!("recordings of upstream camera {} are signed only if the camera signs its stream", c.name),
                        "A recording whose frames carry no signature cannot be shown to be unaltered; for a camera without ONVIF Media Signing, let the recorder sign what it receives.",
                        Fix::set(join(&p, "recorder_signing"), true.into()),
                    )
                    .about(c.name.clone()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use serde_json::json;

    fn errors(patch: serde_json::Value) -> Vec<(String, String)> {
        Config::default()
            .apply_merge_patch(&json!({ "cameras": patch }))
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.path, e.rule))
            .collect()
    }

    #[test]
    fn default_is_empty_and_a_minimal_camera_is_valid() {
        assert!(Config::default().cameras.cameras.is_empty());
        let c = Config::default()
            .apply_merge_patch(&json!({"cameras": {"cameras": [
                {"name": "door", "url": "rtsp://127.0.0.1:8554/cam", "username": "rec", "password": "pw-1234"}
            ]}}))
            .unwrap();
        let door = c.cameras.camera("door").unwrap();
        assert!(door.enabled);
        assert_eq!(door.stream, 1);
        assert_eq!(door.reconnect_max_secs, 2);
        assert_eq!(door.password.expose(), Some("pw-1234"));
        let src = door.source().unwrap();
        assert_eq!(src.url(), "rtsp://rec@127.0.0.1:8554/cam");
        assert_eq!(src.username(), "rec");
        assert!(!src.udp());
        // Read back redacted; the placeholder written back keeps the password.
        let red = c.redacted();
        assert_eq!(
            red["cameras"]["cameras"][0]["password"],
            json!({"set": true})
        );
        let again = c
            .apply_merge_patch(&json!({"cameras": {"cameras": [
                {"name": "door", "url": "rtsp://127.0.0.1:8554/cam2", "username": "rec", "password": {"set": true}}
            ]}}))
            .unwrap();
        assert_eq!(
            again.cameras.camera("door").unwrap().password.expose(),
            Some("pw-1234")
        );
    }

    #[test]
    fn bad_names_urls_and_ranges_are_refused_with_their_rules() {
        let e = errors(json!({"cameras": [
            {"name": "a b", "url": "rtsp://h/s"},
            {"name": "x", "url": "http://h/s"},
            {"name": "x", "url": "rtsp://u:p@h/s"},
            {"name": "y", "url": "rtsp://h:99999/s", "stream": 3, "reconnect_max_secs": 0}
        ]}));
        let want = [
            ("cameras.cameras[0].name", "cameras.name.invalid"),
            ("cameras.cameras[1].url", "cameras.url.invalid"),
            ("cameras.cameras[2].name", "cameras.name.duplicate"),
            ("cameras.cameras[2].url", "cameras.url.invalid"),
            ("cameras.cameras[3].url", "cameras.url.invalid"),
            ("cameras.cameras[3].stream", "cameras.stream.range"),
            (
                "cameras.cameras[3].reconnect_max_secs",
                "cameras.reconnect_max_secs.range",
            ),
        ];
        for (path, rule) in want {
            assert!(
                e.contains(&(path.to_owned(), rule.to_owned())),
                "{path} {rule} in {e:?}"
            );
        }
        assert!(
            errors(json!({"cameras": [{"name": "v6", "url": "rtsp://[::1]:8554/s"}]})).is_empty()
        );
    }

    #[test]
    fn audit_names_cameras_without_credentials_on_udp_or_unsigned() {
        let c = Config::default()
            .apply_merge_patch(&json!({"cameras": {"cameras": [
                {"name": "open", "url": "rtsp://h/s", "transport": "udp"},
                {"name": "ok", "url": "rtsp://h/s", "username": "u", "password": "p", "recorder_signing": true},
                {"name": "off", "url": "rtsp://h/s", "enabled": false}
            ]}}))
            .unwrap();
        let r = c.audit(&crate::audit::Facts::default());
        let ids: Vec<(String, Option<String>)> = r
            .findings
            .into_iter()
            .filter(|f| f.id.starts_with("cameras."))
            .map(|f| (f.id, f.subject))
            .collect();
        let open = Some("open".to_owned());
        assert_eq!(
            ids,
            [
                ("cameras.no_credentials".to_owned(), open.clone()),
                ("cameras.udp".to_owned(), open.clone()),
                ("cameras.unsigned_possible".to_owned(), open),
            ]
        );
    }
}
