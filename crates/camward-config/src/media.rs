//! Setup › Image/Audio: `source`, `streams` (Stream(1)/(2)) and `jpeg` (JPEG(1)/(2)/(3), MJPEG rate).
//! The types are camward-media's (one definition, no drift); this file only plugs their rules into [`Validate`].

use crate::{FieldError, Validate, join};
pub use camward_media::config::{
    ConfigIssue, JpegConfig, JpegSize, JpegSizeConfig, SIZES, Source, StreamConfig, StreamsConfig,
};

/// Turns camward-media's issues (JSON-pointer paths from the document root, `/streams/stream1/width`)
/// into field errors under `at` (`streams.stream1.width`), so the section could move without
/// camward-media knowing. Rules get the section as prefix (`streams.range`), like every other
/// section's rule ids.
fn push_issues(at: &str, issues: Vec<ConfigIssue>, errors: &mut Vec<FieldError>) {
    for issue in issues {
        // The first pointer segment is the section name camward-media assumes; `at` replaces it.
        let rest: Vec<&str> = issue
            .path
            .trim_start_matches('/')
            .split('/')
            .skip(1)
            .collect();
        let mut path = at.to_owned();
        for seg in rest {
            path = join(&path, seg);
        }
        let section = at.rsplit('.').next().unwrap_or(at);
        errors.push(FieldError::new(
            path,
            format!("{section}.{}", issue.rule),
            issue.message,
        ));
    }
}

/// `source` is checked while parsing (its serde form is a validated string): a bad value is
/// refused with path `source` before this runs, so there is nothing left to check here.
impl Validate for Source {
    fn validate(&self, _at: &str, _errors: &mut Vec<FieldError>) {}
}

impl Validate for StreamsConfig {
    fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        push_issues(at, StreamsConfig::validate(self), errors);
    }
}

impl Validate for JpegConfig {
    fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        push_issues(at, JpegConfig::validate(self), errors);
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use serde_json::json;

    #[test]
    fn defaults_are_the_media_defaults() {
        let c = Config::default();
        assert_eq!(c.source.to_string(), "testsrc");
        assert_eq!(
            (c.streams.stream1.width, c.streams.stream1.height),
            (1280, 720)
        );
        assert_eq!(c.jpeg.refresh_fps, 5);
        let v = c.to_value();
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
    fn bad_source_and_unknown_stream_keys_are_refused_with_their_path() {
        let e = Config::default()
            .apply_merge_patch(&json!({"source": "ftp://cam/x"}))
            .unwrap_err();
        assert_eq!(e[0].path, "source");
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
