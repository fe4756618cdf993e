//! The media settings of the configuration document: `source`, `streams` and `jpeg`.
//! Light serde types owned here so camward-config can embed them without pulling in the pipeline.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Picture sizes offered for streams and JPEG, as on the paper's Image screen (16:9 family).
pub const SIZES: [(u32, u32); 4] = [(1920, 1080), (1280, 720), (640, 360), (320, 180)];

/// One rule broken by a setting: where (JSON path), which rule, and a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub path: String,
    pub rule: &'static str,
    pub message: String,
}

impl ConfigIssue {
    fn new(path: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        ConfigIssue {
            path: path.into(),
            rule,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.path, self.message, self.rule)
    }
}

/// Where video comes from. Stored as a string (`testsrc`, `file:PATH`, `rtsp://…`,
/// `v4l2:/dev/videoN`) so the document stays readable and diffable.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Source {
    /// Synthetic scene encoded by camward: works on any machine.
    #[default]
    TestSrc,
    /// An H.264 Annex-B (`.h264`/`.264`) or MP4 file, looped without re-encoding.
    File(PathBuf),
    /// An existing camera pulled over RTSP without re-encoding. Credentials may be in the URL.
    Rtsp(String),
    /// A local V4L2 camera (MJPEG or YUYV capture, encoded by camward).
    V4l2(PathBuf),
}

impl Source {
    /// True when camward encodes the pictures itself (so stream size/rate/bit rate/GOP apply).
    pub fn encodes(&self) -> bool {
        matches!(self, Source::TestSrc | Source::V4l2(_))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::TestSrc => f.write_str("testsrc"),
            Source::File(p) => write!(f, "file:{}", p.display()),
            Source::Rtsp(u) => f.write_str(u),
            Source::V4l2(p) => write!(f, "v4l2:{}", p.display()),
        }
    }
}

impl From<Source> for String {
    fn from(s: Source) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for Source {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse().map_err(|e: ConfigIssue| e.message)
    }
}

impl FromStr for Source {
    type Err = ConfigIssue;

    fn from_str(s: &str) -> Result<Self, ConfigIssue> {
        let bad = |rule, msg: String| Err(ConfigIssue::new("/source", rule, msg));
        if s == "testsrc" {
            return Ok(Source::TestSrc);
        }
        if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                return bad(
                    "file_path",
                    "file: needs a path, e.g. file:/var/lib/camward/clip.mp4".into(),
                );
            }
            let lower = path.to_ascii_lowercase();
            let known = [".h264", ".264", ".mp4", ".m4v", ".mov"];
            if !known.iter().any(|ext| lower.ends_with(ext)) {
                return bad(
                    "file_type",
                    format!(
                        "{path:?}: only H.264 Annex-B (.h264, .264) and MP4 (.mp4, .m4v, .mov) files can be looped"
                    ),
                );
            }
            return Ok(Source::File(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("rtsp://") {
            // The host part must be present; the full URL is parsed again by the RTSP client.
            let host = rest.split(['/', '?']).next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or("");
            if host.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return bad(
                    "rtsp_url",
                    format!(
                        "{s:?} is not an RTSP URL of the form rtsp://[user:pass@]host[:port]/path"
                    ),
                );
            }
            return Ok(Source::Rtsp(s.to_string()));
        }
        if let Some(dev) = s.strip_prefix("v4l2:") {
            let ok = dev.strip_prefix("/dev/video").is_some_and(|n| {
                !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit())
            });
            if !ok {
                return bad(
                    "v4l2_device",
                    format!("{dev:?} is not a V4L2 device path like /dev/video0"),
                );
            }
            return Ok(Source::V4l2(PathBuf::from(dev)));
        }
        bad(
            "source_kind",
            format!("{s:?}: the source is testsrc, file:PATH, rtsp://… or v4l2:/dev/videoN"),
        )
    }
}

/// Checks a `source` string as stored in the configuration document.
pub fn validate_source(s: &str) -> Result<(), ConfigIssue> {
    s.parse::<Source>().map(|_| ())
}

/// One H.264 stream, as the paper's Stream(1)/Stream(2) block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// "Stream transmission" On/Off.
    pub enabled: bool,
    pub width: u32,
    pub height: u32,
    /// Frames per second, 1–30.
    pub fps: u32,
    /// Target bit rate, 64–16384 kbit/s.
    pub bitrate_kbps: u32,
    /// Frames from one IDR to the next, 1–300.
    pub gop: u32,
    /// "Internet mode (over HTTP)": RTSP tunnelled over the HTTP(S) port. Used by the RTSP
    /// server, not by the encoder, so changing it does not restart the pipeline.
    pub internet_mode: bool,
}

impl StreamConfig {
    /// Stream(1) default: 1280x720 @ 15 fps, 2 Mbit/s, one IDR every 2 s.
    pub fn default_stream1() -> Self {
        StreamConfig {
            enabled: true,
            width: 1280,
            height: 720,
            fps: 15,
            bitrate_kbps: 2048,
            gop: 30,
            internet_mode: false,
        }
    }

    /// Stream(2) default: 640x360 @ 15 fps, 512 kbit/s.
    pub fn default_stream2() -> Self {
        StreamConfig {
            enabled: true,
            width: 640,
            height: 360,
            fps: 15,
            bitrate_kbps: 512,
            gop: 30,
            internet_mode: false,
        }
    }

    /// True when a running encoder must be restarted to honour `other` (internet mode is not
    /// an encoder setting).
    pub fn encoder_differs(&self, other: &StreamConfig) -> bool {
        (
            self.enabled,
            self.width,
            self.height,
            self.fps,
            self.bitrate_kbps,
            self.gop,
        ) != (
            other.enabled,
            other.width,
            other.height,
            other.fps,
            other.bitrate_kbps,
            other.gop,
        )
    }

    fn validate_into(&self, base: &str, out: &mut Vec<ConfigIssue>) {
        if !SIZES.contains(&(self.width, self.height)) {
            out.push(ConfigIssue::new(
                format!("{base}/width"),
                "stream_size",
                format!(
                    "{}x{} is not offered; choose one of {}",
                    self.width,
                    self.height,
                    sizes_list()
                ),
            ));
        }
        if !(1..=30).contains(&self.fps) {
            out.push(ConfigIssue::new(
                format!("{base}/fps"),
                "range",
                format!("frame rate {} is outside 1–30 fps", self.fps),
            ));
        }
        if !(64..=16384).contains(&self.bitrate_kbps) {
            out.push(ConfigIssue::new(
                format!("{base}/bitrate_kbps"),
                "range",
                format!("bit rate {} kbit/s is outside 64–16384", self.bitrate_kbps),
            ));
        }
        if !(1..=300).contains(&self.gop) {
            out.push(ConfigIssue::new(
                format!("{base}/gop"),
                "range",
                format!("GOP length {} is outside 1–300 frames", self.gop),
            ));
        }
    }
}

fn sizes_list() -> String {
    SIZES
        .iter()
        .map(|(w, h)| format!("{w}x{h}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `streams` section: Stream(1) and Stream(2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamsConfig {
    #[serde(default = "StreamConfig::default_stream1")]
    pub stream1: StreamConfig,
    #[serde(default = "StreamConfig::default_stream2")]
    pub stream2: StreamConfig,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig {
            stream1: StreamConfig::default_stream1(),
            stream2: StreamConfig::default_stream2(),
        }
    }
}

impl StreamsConfig {
    /// Stream `n` (1 or 2).
    pub fn get(&self, n: u8) -> Option<&StreamConfig> {
        match n {
            1 => Some(&self.stream1),
            2 => Some(&self.stream2),
            _ => None,
        }
    }

    /// Every broken rule, with JSON paths relative to the document root (`/streams/...`).
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut out = Vec::new();
        self.stream1.validate_into("/streams/stream1", &mut out);
        self.stream2.validate_into("/streams/stream2", &mut out);
        out
    }
}

/// JPEG(1)/(2)/(3): the three snapshot sizes of the Image screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JpegSize {
    #[serde(rename = "1")]
    One,
    #[serde(rename = "2")]
    Two,
    #[serde(rename = "3")]
    Three,
}

impl JpegSize {
    /// From the `size=1|2|3` query parameter.
    pub fn from_index(n: u8) -> Option<JpegSize> {
        match n {
            1 => Some(JpegSize::One),
            2 => Some(JpegSize::Two),
            3 => Some(JpegSize::Three),
            _ => None,
        }
    }

    pub fn index(self) -> u8 {
        match self {
            JpegSize::One => 1,
            JpegSize::Two => 2,
            JpegSize::Three => 3,
        }
    }
}

/// One JPEG size setting: capture size and the paper's quality level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JpegSizeConfig {
    pub width: u32,
    pub height: u32,
    /// The paper's "Image quality" level: 0 (Super fine) … 5 (Normal) … 9 (Low).
    pub quality: u8,
}

impl JpegSizeConfig {
    /// The level mapped onto the 1–100 scale of JPEG encoders (5 Normal ≈ 60).
    pub fn encoder_quality(&self) -> u8 {
        95u8.saturating_sub(self.quality.min(9) * 7)
    }
}

/// The `jpeg` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JpegConfig {
    #[serde(default = "JpegConfig::default_jpeg1")]
    pub jpeg1: JpegSizeConfig,
    #[serde(default = "JpegConfig::default_jpeg2")]
    pub jpeg2: JpegSizeConfig,
    #[serde(default = "JpegConfig::default_jpeg3")]
    pub jpeg3: JpegSizeConfig,
    /// "Refresh interval (JPEG)": MJPEG frames per second, 1–30.
    #[serde(default = "JpegConfig::default_refresh_fps")]
    pub refresh_fps: u32,
}

impl Default for JpegConfig {
    fn default() -> Self {
        JpegConfig {
            jpeg1: Self::default_jpeg1(),
            jpeg2: Self::default_jpeg2(),
            jpeg3: Self::default_jpeg3(),
            refresh_fps: Self::default_refresh_fps(),
        }
    }
}

impl JpegConfig {
    // The paper's JPEG(1) is 1920x1080 on a 2 MP sensor; camward's Stream(1) default is 720p,
    // so JPEG(1) defaults to 1280x720 to avoid upscaling.
    fn default_jpeg1() -> JpegSizeConfig {
        JpegSizeConfig {
            width: 1280,
            height: 720,
            quality: 5,
        }
    }
    fn default_jpeg2() -> JpegSizeConfig {
        JpegSizeConfig {
            width: 640,
            height: 360,
            quality: 5,
        }
    }
    fn default_jpeg3() -> JpegSizeConfig {
        JpegSizeConfig {
            width: 320,
            height: 180,
            quality: 5,
        }
    }
    fn default_refresh_fps() -> u32 {
        5
    }

    pub fn get(&self, size: JpegSize) -> &JpegSizeConfig {
        match size {
            JpegSize::One => &self.jpeg1,
            JpegSize::Two => &self.jpeg2,
            JpegSize::Three => &self.jpeg3,
        }
    }

    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut out = Vec::new();
        for (name, c) in [
            ("jpeg1", &self.jpeg1),
            ("jpeg2", &self.jpeg2),
            ("jpeg3", &self.jpeg3),
        ] {
            if !SIZES.contains(&(c.width, c.height)) {
                out.push(ConfigIssue::new(
                    format!("/jpeg/{name}/width"),
                    "jpeg_size",
                    format!(
                        "{}x{} is not offered; choose one of {}",
                        c.width,
                        c.height,
                        sizes_list()
                    ),
                ));
            }
            if c.quality > 9 {
                out.push(ConfigIssue::new(
                    format!("/jpeg/{name}/quality"),
                    "range",
                    format!(
                        "image quality {} is outside 0 (super fine)–9 (low)",
                        c.quality
                    ),
                ));
            }
        }
        if !(1..=30).contains(&self.refresh_fps) {
            out.push(ConfigIssue::new(
                "/jpeg/refresh_fps",
                "range",
                format!("refresh interval {} fps is outside 1–30", self.refresh_fps),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_image_screen_and_validate() {
        let s = StreamsConfig::default();
        assert_eq!(
            (
                s.stream1.width,
                s.stream1.height,
                s.stream1.fps,
                s.stream1.bitrate_kbps,
                s.stream1.gop
            ),
            (1280, 720, 15, 2048, 30)
        );
        assert_eq!(
            (s.stream2.width, s.stream2.height, s.stream2.bitrate_kbps),
            (640, 360, 512)
        );
        assert!(s.stream1.enabled && s.stream2.enabled && !s.stream1.internet_mode);
        assert!(s.validate().is_empty());
        assert!(JpegConfig::default().validate().is_empty());
        assert_eq!(JpegConfig::default().get(JpegSize::Three).width, 320);
    }

    #[test]
    fn validate_names_each_broken_rule_by_json_path() {
        let mut s = StreamsConfig::default();
        s.stream1.width = 1000;
        s.stream2.fps = 0;
        s.stream2.bitrate_kbps = 20000;
        s.stream2.gop = 301;
        let issues = s.validate();
        let paths: Vec<_> = issues.iter().map(|i| (i.path.as_str(), i.rule)).collect();
        assert_eq!(
            paths,
            vec![
                ("/streams/stream1/width", "stream_size"),
                ("/streams/stream2/fps", "range"),
                ("/streams/stream2/bitrate_kbps", "range"),
                ("/streams/stream2/gop", "range"),
            ]
        );
        let mut j = JpegConfig::default();
        j.jpeg2.quality = 10;
        j.refresh_fps = 31;
        assert_eq!(j.validate().len(), 2);
    }

    #[test]
    fn serde_rejects_unknown_fields_and_fills_defaults() {
        let s: StreamsConfig = serde_json_like(
            r#"{"stream1":{"enabled":false,"width":640,"height":360,"fps":5,"bitrate_kbps":256,"gop":10,"internet_mode":true}}"#,
        );
        assert!(!s.stream1.enabled && s.stream1.internet_mode);
        assert_eq!(s.stream2, StreamConfig::default_stream2());
        let err = serde_json::from_str::<StreamsConfig>(r#"{"stream3":{}}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = serde_json::from_str::<StreamConfig>(
            r#"{"enabled":true,"width":640,"height":360,"fps":5,"bitrate_kbps":256,"gop":10,"internet_mode":true,"codec":"h265"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    fn serde_json_like<T: serde::de::DeserializeOwned>(s: &str) -> T {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn source_strings_parse_and_round_trip() {
        for s in [
            "testsrc",
            "file:/tmp/a.mp4",
            "file:clip.H264",
            "rtsp://user:pw@10.0.0.5:554/stream1",
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
            assert!(validate_source(s).is_err(), "{s:?} accepted");
        }
        let v: Source = serde_json::from_str(r#""file:/x.264""#).unwrap();
        assert_eq!(v, Source::File("/x.264".into()));
        assert!(serde_json::from_str::<Source>(r#""ftp://x""#).is_err());
        assert!(Source::TestSrc.encodes() && !Source::Rtsp("rtsp://h/".into()).encodes());
    }

    #[test]
    fn internet_mode_change_does_not_restart_the_encoder() {
        let a = StreamConfig::default_stream1();
        let mut b = a.clone();
        b.internet_mode = true;
        assert!(!a.encoder_differs(&b));
        b.fps = 10;
        assert!(a.encoder_differs(&b));
    }
}
