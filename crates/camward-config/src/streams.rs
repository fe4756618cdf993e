//! The `streams` section (Setup › Image/Audio › Stream(1)/(2)): the H.264 streams' size, rate,
//! bit rate, GOP and "Internet mode (over HTTP)" (paper §4.4). camward-media encodes them.

use crate::audit::{Audit, Context, Finding, Fix, Severity};
use crate::{FieldError, Validate, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Picture sizes offered for streams and JPEG, as on the paper's Image screen (16:9 family).
pub const SIZES: [(u32, u32); 4] = [(1920, 1080), (1280, 720), (640, 360), (320, 180)];

pub(crate) fn sizes_list() -> String {
    SIZES
        .iter()
        .map(|(w, h)| format!("{w}x{h}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One H.264 stream, as the paper's Stream(1)/Stream(2) block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Whether the camera encodes and sends this stream.
    #[schemars(title = "Stream transmission")]
    pub enabled: bool,
    /// Picture width; width × height is one of 1920x1080, 1280x720, 640x360, 320x180.
    #[schemars(
        title = "Image capture size",
        extend("enum" = [1920, 1280, 640, 320], "x-unit" = "px", "x-pair" = "height")
    )]
    pub width: u32,
    /// Picture height; chosen together with the width.
    #[schemars(
        title = "Image capture height",
        extend("enum" = [1080, 720, 360, 180], "x-unit" = "px")
    )]
    pub height: u32,
    /// Pictures per second.
    #[schemars(title = "Frame rate", range(min = 1, max = 30), extend("x-unit" = "fps"))]
    pub fps: u32,
    /// Target bit rate of the encoder.
    #[schemars(
        title = "Bit rate",
        range(min = 64, max = 16384),
        extend("x-unit" = "kbit/s")
    )]
    pub bitrate_kbps: u32,
    /// Pictures from one key frame (a picture a viewer can start from) to the next: a viewer
    /// joining waits at most this long for the first picture.
    #[schemars(
        title = "Key frame interval",
        range(min = 1, max = 300),
        extend("x-unit" = "frames")
    )]
    pub gop: u32,
    /// RTSP tunnelled over the HTTP(S) port, for viewers behind firewalls that pass only web
    /// traffic; over HTTPS the video is encrypted too.
    #[schemars(title = "Internet mode (over HTTP)")]
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

    fn validate_into(&self, base: &str, out: &mut Vec<FieldError>) {
        if !SIZES.contains(&(self.width, self.height)) {
            out.push(FieldError::new(
                join(base, "width"),
                "streams.stream_size",
                format!(
                    "{}x{} is not offered; choose one of {}",
                    self.width,
                    self.height,
                    sizes_list()
                ),
            ));
        }
        if !(1..=30).contains(&self.fps) {
            out.push(FieldError::new(
                join(base, "fps"),
                "streams.range",
                format!("frame rate {} is outside 1–30 fps", self.fps),
            ));
        }
        if !(64..=16384).contains(&self.bitrate_kbps) {
            out.push(FieldError::new(
                join(base, "bitrate_kbps"),
                "streams.range",
                format!("bit rate {} kbit/s is outside 64–16384", self.bitrate_kbps),
            ));
        }
        if !(1..=300).contains(&self.gop) {
            out.push(FieldError::new(
                join(base, "gop"),
                "streams.range",
                format!("GOP length {} is outside 1–300 frames", self.gop),
            ));
        }
    }
}

/// The `streams` section: Stream(1) and Stream(2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamsConfig {
    /// The main stream.
    #[serde(default = "StreamConfig::default_stream1")]
    #[schemars(title = "Stream(1)")]
    pub stream1: StreamConfig,
    /// The small stream (motion detection analyses it by default).
    #[serde(default = "StreamConfig::default_stream2")]
    #[schemars(title = "Stream(2)")]
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
}

impl Validate for StreamsConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        self.stream1.validate_into(&join(at, "stream1"), out);
        self.stream2.validate_into(&join(at, "stream2"), out);
    }
}

impl Audit for StreamsConfig {
    /// RTSP (§4.4): the plain RTSP port is always open; it is the only way in while Connection is
    /// HTTP, because RTSPS and the tunnel over HTTPS only exist with HTTPS.
    fn audit(&self, _at: &str, cx: &Context<'_>, out: &mut Vec<Finding>) {
        if !cx.config.https.enabled() {
            out.push(Finding::new(
                "rtsp.unencrypted",
                Severity::Medium,
                "§4.4",
                "RTSP is only offered unencrypted (no RTSPS, no tunnel over HTTPS)",
                "RTSP does not encrypt, so IDs, passwords and video can be snooped unless streams go over HTTPS or RTSP over TLS.",
                Fix {
                    path: Some("https.connection".into()),
                    value: Some("https".into()),
                    example: false,
                    action: "set https.connection to \"https\" (opens RTSPS; with streams.streamN.internet_mode \
                             the tunnel then runs over HTTPS) and give VMS clients rtsps:// URLs"
                        .into(),
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::tests_util::errors_of;
    use serde_json::json;

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
        assert!(errors_of(&s, "streams").is_empty());
    }

    #[test]
    fn validate_names_each_broken_rule_by_json_path() {
        let mut s = StreamsConfig::default();
        s.stream1.width = 1000;
        s.stream2.fps = 0;
        s.stream2.bitrate_kbps = 20000;
        s.stream2.gop = 301;
        let issues = errors_of(&s, "streams");
        let paths: Vec<_> = issues
            .iter()
            .map(|i| (i.path.as_str(), i.rule.as_str()))
            .collect();
        assert_eq!(
            paths,
            vec![
                ("streams.stream1.width", "streams.stream_size"),
                ("streams.stream2.fps", "streams.range"),
                ("streams.stream2.bitrate_kbps", "streams.range"),
                ("streams.stream2.gop", "streams.range"),
            ]
        );
    }

    #[test]
    fn serde_rejects_unknown_fields_and_fills_defaults() {
        let s: StreamsConfig = serde_json::from_str(
            r#"{"stream1":{"enabled":false,"width":640,"height":360,"fps":5,"bitrate_kbps":256,"gop":10,"internet_mode":true}}"#,
        )
        .unwrap();
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

    #[test]
    fn internet_mode_change_does_not_restart_the_encoder() {
        let a = StreamConfig::default_stream1();
        let mut b = a.clone();
        b.internet_mode = true;
        assert!(!a.encoder_differs(&b));
        b.fps = 10;
        assert!(a.encoder_differs(&b));
    }

    #[test]
    fn defaults_are_the_media_defaults() {
        let c = Config::default();
        assert_eq!(c.source.to_string(), "testsrc");
        assert_eq!(
            (c.streams.stream1.width, c.streams.stream1.height),
            (1280, 720)
        );
        assert_eq!(c.jpeg.refresh_fps, 5);
        let v = c.to_clear();
        assert_eq!(v["source"], "testsrc");
        assert_eq!(v["streams"]["stream2"]["width"], 640);
    }

    #[test]
    fn bad_stream_settings_name_their_field() {
        let e = Config::default()
            .apply_merge_patch(
                &json!({"streams": {"stream1": {"width": 1000}, "stream2": {"fps": 0}}}),
            )
            .unwrap_err();
        let got: Vec<_> = e
            .iter()
            .map(|e| (e.path.as_str(), e.rule.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("streams.stream1.width", "streams.stream_size"),
                ("streams.stream2.fps", "streams.range"),
            ]
        );
        let e = Config::default()
            .apply_merge_patch(&json!({"jpeg": {"jpeg3": {"quality": 12}}}))
            .unwrap_err();
        assert_eq!(e[0].path, "jpeg.jpeg3.quality");
    }

    #[test]
    fn unknown_stream_keys_are_refused_with_their_path() {
        let e = Config::default()
            .apply_merge_patch(&json!({"streams": {"stream3": {}}}))
            .unwrap_err();
        assert_eq!(
            (e[0].path.as_str(), e[0].rule.as_str()),
            ("streams.stream3", "unknown_field")
        );
    }

    #[test]
    fn valid_changes_apply() {
        let c = Config::default()
            .apply_merge_patch(&json!({
                "source": "file:/var/lib/camward/clip.mp4",
                "streams": {"stream2": {"width": 320, "height": 180, "internet_mode": true}},
            }))
            .unwrap();
        assert_eq!(c.streams.stream2.width, 320);
        assert!(c.streams.stream2.internet_mode);
        assert_eq!(c.source.to_string(), "file:/var/lib/camward/clip.mp4");
    }
}
