//! The `jpeg` section (Setup › Image/Audio › JPEG(1)/(2)/(3)): the three snapshot sizes with the
//! paper's quality levels, and the MJPEG "refresh interval". camward-media encodes them.

use crate::audit::Audit;
use crate::streams::{SIZES, sizes_list};
use crate::{FieldError, Validate, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// JPEG(1)/(2)/(3): the three snapshot sizes of the Image screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JpegSizeConfig {
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
    /// Compression: 0 gives the finest pictures and the largest files, 9 the smallest.
    #[schemars(
        title = "Image quality",
        range(min = 0, max = 9),
        extend("oneOf" = [
            {"const": 0, "title": "0 Super fine"}, {"const": 1, "title": "1 Fine"},
            {"const": 2, "title": "2"}, {"const": 3, "title": "3"}, {"const": 4, "title": "4"},
            {"const": 5, "title": "5 Normal"}, {"const": 6, "title": "6"}, {"const": 7, "title": "7"},
            {"const": 8, "title": "8"}, {"const": 9, "title": "9 Low"}
        ])
    )]
    pub quality: u8,
}

impl JpegSizeConfig {
    /// The level mapped onto the 1–100 scale of JPEG encoders (5 Normal ≈ 60).
    pub fn encoder_quality(&self) -> u8 {
        95u8.saturating_sub(self.quality.min(9) * 7)
    }
}

/// The `jpeg` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JpegConfig {
    /// The largest snapshot size.
    #[serde(default = "JpegConfig::default_jpeg1")]
    #[schemars(title = "JPEG(1)")]
    pub jpeg1: JpegSizeConfig,
    /// The middle snapshot size (alarm mail and FTP images by default).
    #[serde(default = "JpegConfig::default_jpeg2")]
    #[schemars(title = "JPEG(2)")]
    pub jpeg2: JpegSizeConfig,
    /// The smallest snapshot size.
    #[serde(default = "JpegConfig::default_jpeg3")]
    #[schemars(title = "JPEG(3)")]
    pub jpeg3: JpegSizeConfig,
    /// Pictures per second of the MJPEG live view.
    #[serde(default = "JpegConfig::default_refresh_fps")]
    #[schemars(
        title = "Refresh interval (JPEG)",
        range(min = 1, max = 30),
        extend("x-unit" = "fps")
    )]
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
}

impl Validate for JpegConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        for (name, c) in [
            ("jpeg1", &self.jpeg1),
            ("jpeg2", &self.jpeg2),
            ("jpeg3", &self.jpeg3),
        ] {
            let base = join(at, name);
            if !SIZES.contains(&(c.width, c.height)) {
                out.push(FieldError::new(
                    join(&base, "width"),
                    "jpeg.jpeg_size",
                    format!(
                        "{}x{} is not offered; choose one of {}",
                        c.width,
                        c.height,
                        sizes_list()
                    ),
                ));
            }
            if c.quality > 9 {
                out.push(FieldError::new(
                    join(&base, "quality"),
                    "jpeg.range",
                    format!(
                        "image quality {} is outside 0 (super fine)–9 (low)",
                        c.quality
                    ),
                ));
            }
        }
        if !(1..=30).contains(&self.refresh_fps) {
            out.push(FieldError::new(
                join(at, "refresh_fps"),
                "jpeg.range",
                format!("refresh interval {} fps is outside 1–30", self.refresh_fps),
            ));
        }
    }
}

/// No caution of the paper applies to these settings.
impl Audit for JpegConfig {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_util::errors_of;

    #[test]
    fn defaults_validate() {
        assert!(errors_of(&JpegConfig::default(), "jpeg").is_empty());
        assert_eq!(JpegConfig::default().get(JpegSize::Three).width, 320);
    }

    #[test]
    fn broken_rules_are_each_reported() {
        let mut j = JpegConfig::default();
        j.jpeg2.quality = 10;
        j.refresh_fps = 31;
        assert_eq!(errors_of(&j, "jpeg").len(), 2);
    }
}
