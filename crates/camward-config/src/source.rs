//! The `source` setting (Setup › Image/Audio): where video comes from — the synthetic test
//! pattern, a looped file, an existing RTSP camera, or a local V4L2 camera.
//!
//! An RTSP camera's password is a [`Secret`] like every other (paper §3.2: nothing secret is
//! returned or logged): `rtsp://user:pass@host/path` is accepted as written, but the password is
//! split off at once. The document then shows `{"url": "rtsp://user@host/path", "password":
//! {"set": true}}`, and the URL alone is what `Display`, `Debug` and error messages print.

use crate::audit::Audit;
use crate::{FieldError, Secret, Validate};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::Deserializer;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where video comes from. Written as a string (`testsrc`, `file:PATH`, `rtsp://…`,
/// `v4l2:/dev/videoN`) so the document stays readable and diffable; an RTSP camera with a
/// password is an object, so that the password can be a [`Secret`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Source {
    /// Synthetic scene encoded by camward: works on any machine.
    #[default]
    TestSrc,
    /// An H.264 Annex-B (`.h264`/`.264`) or MP4 file, looped without re-encoding.
    File(PathBuf),
    /// An existing camera pulled over RTSP without re-encoding.
    Rtsp(RtspSource),
    /// A local V4L2 camera (MJPEG or YUYV capture, encoded by camward).
    V4l2(PathBuf),
}

/// An RTSP camera: its URL without a password (a user name may stay in it) and the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspSource {
    url: String,
    password: Secret,
    /// RTP over UDP instead of interleaved in the TCP connection (an upstream camera of the
    /// `cameras` section may ask for it; the `source` string form is always TCP).
    udp: bool,
}

impl RtspSource {
    /// The camera's URL, without a password: safe to show and log.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The user name of the URL, percent-decoded; empty when there is none.
    pub fn username(&self) -> String {
        let authority = authority(&self.url);
        match authority.rsplit_once('@') {
            Some((user, _)) => percent_decode(user),
            None => String::new(),
        }
    }

    pub fn password(&self) -> &Secret {
        &self.password
    }

    /// Whether RTP travels over UDP rather than in the RTSP connection.
    pub fn udp(&self) -> bool {
        self.udp
    }

    /// The same camera pulled with RTP over UDP.
    pub fn over_udp(mut self) -> RtspSource {
        self.udp = true;
        self
    }
}

impl Source {
    /// True when camward encodes the pictures itself (so stream size/rate/bit rate/GOP apply).
    pub fn encodes(&self) -> bool {
        matches!(self, Source::TestSrc | Source::V4l2(_))
    }

    /// An RTSP source from a URL (credentials in it are split off) and, if given, a password
    /// that replaces the URL's.
    pub fn rtsp(url: &str, password: Option<Secret>) -> Result<Source, FieldError> {
        let (url, in_url) = split_rtsp(url)?;
        Ok(Source::Rtsp(RtspSource {
            url,
            password: password.unwrap_or(in_url),
            udp: false,
        }))
    }
}

/// The `://` part up to the path: `user[:pass]@host:port`.
fn authority(url: &str) -> &str {
    let rest = url.strip_prefix("rtsp://").unwrap_or(url);
    rest.split(['/', '?', '#']).next().unwrap_or("")
}

fn invalid(message: String) -> FieldError {
    FieldError::new("source", "invalid", message)
}

/// Checks an `rtsp://` URL and takes its password out: (URL without password, password).
fn split_rtsp(s: &str) -> Result<(String, Secret), FieldError> {
    let bad = || {
        // The input may hold a password: never echo it.
        let shown = match s.strip_prefix("rtsp://") {
            Some(rest) => match rest
                .split(['/', '?', '#'])
                .next()
                .unwrap_or("")
                .rsplit_once('@')
            {
                Some((_, host)) => format!("rtsp://…@{host}/…"),
                None => s.to_owned(),
            },
            None => "this value".to_owned(),
        };
        invalid(format!(
            "{shown} is not an RTSP URL of the form rtsp://[user:pass@]host[:port]/path"
        ))
    };
    let Some(rest) = s.strip_prefix("rtsp://") else {
        return Err(bad());
    };
    let auth = authority(s);
    let (userinfo, host) = match auth.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, auth),
    };
    if host.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let tail = &rest[auth.len()..];
    let (user, password) = match userinfo {
        None => (None, Secret::default()),
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (Some(user), Secret::new(percent_decode(pass))),
            None => (Some(u), Secret::default()),
        },
    };
    let url = match user {
        Some(user) if !user.is_empty() => format!("rtsp://{user}@{host}{tail}"),
        _ => format!("rtsp://{host}{tail}"),
    };
    Ok((url, password))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Display for Source {
    /// The source as shown to people and logs: an RTSP URL never carries its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::TestSrc => f.write_str("testsrc"),
            Source::File(p) => write!(f, "file:{}", p.display()),
            Source::Rtsp(r) => f.write_str(&r.url),
            Source::V4l2(p) => write!(f, "v4l2:{}", p.display()),
        }
    }
}

impl FromStr for Source {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, FieldError> {
        if s == "testsrc" {
            return Ok(Source::TestSrc);
        }
        if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                return Err(invalid(
                    "file: needs a path, e.g. file:/var/lib/camward/clip.mp4".into(),
                ));
            }
            let lower = path.to_ascii_lowercase();
            let known = [".h264", ".264", ".mp4", ".m4v", ".mov"];
            if !known.iter().any(|ext| lower.ends_with(ext)) {
                return Err(invalid(format!(
                    "{path:?}: only H.264 Annex-B (.h264, .264) and MP4 (.mp4, .m4v, .mov) files can be looped"
                )));
            }
            return Ok(Source::File(PathBuf::from(path)));
        }
        if s.starts_with("rtsp://") {
            return Source::rtsp(s, None);
        }
        if let Some(dev) = s.strip_prefix("v4l2:") {
            let ok = dev.strip_prefix("/dev/video").is_some_and(|n| {
                !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit())
            });
            if !ok {
                return Err(invalid(format!(
                    "{dev:?} is not a V4L2 device path like /dev/video0"
                )));
            }
            return Ok(Source::V4l2(PathBuf::from(dev)));
        }
        Err(invalid(format!(
            "{:?}: the source is testsrc, file:PATH, rtsp://… or v4l2:/dev/videoN",
            s.chars().take(16).collect::<String>()
        )))
    }
}

impl Serialize for Source {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Source::Rtsp(r) if r.password.is_set() => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("url", &r.url)?;
                m.serialize_entry("password", &r.password)?;
                m.end()
            }
            other => s.serialize_str(&other.to_string()),
        }
    }
}

/// The object form: an RTSP URL and its password.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "RTSP camera with a password")]
struct RtspForm {
    /// rtsp://[user@]host[:port]/path; a password written into it replaces the one below.
    #[schemars(title = "Camera address (RTSP URL)", regex(pattern = r"^rtsp://"))]
    url: String,
    /// The camera's password (Digest or Basic, as the camera asks).
    #[serde(default)]
    #[schemars(title = "Camera password")]
    password: Secret,
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            Rtsp(RtspForm),
        }
        let form = Form::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "a string (testsrc, file:PATH, rtsp://…, v4l2:/dev/videoN) or {\"url\": \"rtsp://…\", \"password\": …}",
            )
        })?;
        let parsed = match form {
            Form::Text(s) => s.parse(),
            Form::Rtsp(r) => {
                let (url, in_url) = split_rtsp(&r.url).map_err(serde::de::Error::custom)?;
                let password = if in_url.is_set() { in_url } else { r.password };
                Ok(Source::Rtsp(RtspSource {
                    url,
                    password,
                    udp: false,
                }))
            }
        };
        parsed.map_err(|e| serde::de::Error::custom(e.message))
    }
}

impl JsonSchema for Source {
    fn schema_name() -> Cow<'static, str> {
        "Source".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let rtsp = generator.subschema_for::<RtspForm>();
        json_schema!({
            "title": "Video source",
            "description": "testsrc (synthetic scene), file:PATH (.h264/.264 Annex-B or .mp4/.m4v/.mov, looped), \
                            rtsp://[user:pass@]host[:port]/path (an existing camera, not re-encoded) or \
                            v4l2:/dev/videoN (a local camera). An RTSP camera with a password reads back as \
                            {\"url\", \"password\": {\"set\": true}}.",
            "anyOf": [
                {"type": "string", "pattern": "^(testsrc|file:.+|rtsp://.+|v4l2:/dev/video[0-9]{1,3})$"},
                rtsp
            ],
            "default": "testsrc"
        })
    }
}

/// `source` is checked while parsing: a bad value is refused with path `source` before this runs.
impl Validate for Source {
    fn validate(&self, _at: &str, _errors: &mut Vec<FieldError>) {}
}

/// No caution of the paper applies to these settings.
impl Audit for Source {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use serde_json::json;

    #[test]
    fn source_strings_parse_and_round_trip() {
        for s in [
            "testsrc",
            "file:/tmp/a.mp4",
            "file:clip.H264",
            "rtsp://user@10.0.0.5:554/stream1",
            "rtsp://10.0.0.5/x",
            "v4l2:/dev/video0",
        ] {
            let parsed: Source = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(parsed.to_string(), s);
        }
        for s in [
            "",
            "file:",
            "file:/tmp/a.avi",
            "rtsp://",
            "rtsp:///x",
            "http://cam/",
            "v4l2:/dev/sda",
            "v4l2:/dev/video",
            "testsrc2",
        ] {
            assert!(s.parse::<Source>().is_err(), "{s:?} accepted");
        }
        let v: Source = serde_json::from_str(r#""file:/x.264""#).unwrap();
        assert_eq!(v, Source::File("/x.264".into()));
        assert!(serde_json::from_str::<Source>(r#""ftp://x""#).is_err());
        assert!(Source::TestSrc.encodes() && !"rtsp://h/".parse::<Source>().unwrap().encodes());
    }

    #[test]
    fn rtsp_password_is_a_secret() {
        let s: Source = "rtsp://user:pw%40x@10.0.0.5:554/stream1".parse().unwrap();
        let Source::Rtsp(r) = &s else { panic!() };
        assert_eq!(r.url(), "rtsp://user@10.0.0.5:554/stream1");
        assert_eq!(r.username(), "user");
        assert_eq!(r.password().expose(), Some("pw@x"));
        assert_eq!(s.to_string(), "rtsp://user@10.0.0.5:554/stream1");
        assert!(!format!("{s:?}").contains("pw"));
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            json!({"url": "rtsp://user@10.0.0.5:554/stream1", "password": {"set": true}})
        );
        let e = "rtsp://user:hunter2@ /x".parse::<Source>().unwrap_err();
        assert!(!e.message.contains("hunter2"), "{e}");
    }

    #[test]
    fn rtsp_password_survives_storage_and_a_patch_of_what_get_showed() {
        let c = Config::default()
            .apply_merge_patch(&json!({"source": "rtsp://cam:Hunter-22@127.0.0.1:9/x"}))
            .unwrap();
        let shown = c.redacted();
        assert!(!shown.to_string().contains("Hunter-22"));
        assert_eq!(shown["source"]["password"], json!({"set": true}));
        let clear = c.to_clear();
        assert_eq!(clear["source"]["password"], "Hunter-22");
        assert_eq!(Config::from_value(&clear).unwrap(), c);
        let key = crate::SealKey::from_bytes(&[7u8; 32]).unwrap();
        let stored = c.to_stored(&key);
        assert!(!stored.to_string().contains("Hunter-22"));
        assert_eq!(Config::from_stored(&stored, &key).unwrap().config, c);
        // Sending back what GET showed keeps the password.
        let again = c.apply_merge_patch(&shown).unwrap();
        assert_eq!(again, c);
        // A plain string replaces it all.
        let plain = c.apply_merge_patch(&json!({"source": "testsrc"})).unwrap();
        assert_eq!(plain.source, Source::TestSrc);
        // The object form with a password set in clear.
        let obj = Config::default()
            .apply_merge_patch(&json!({"source": {"url": "rtsp://cam@h/x", "password": "pw-2"}}))
            .unwrap();
        let Source::Rtsp(r) = &obj.source else {
            panic!()
        };
        assert_eq!(r.password().expose(), Some("pw-2"));
    }

    #[test]
    fn bad_source_is_refused_with_its_path() {
        let e = Config::default()
            .apply_merge_patch(&json!({"source": "ftp://cam/x"}))
            .unwrap_err();
        assert_eq!(e[0].path, "source");
    }
}
