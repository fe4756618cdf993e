//! Remote file names of FTP images and the time formats of the alarm log.
//! Times are UTC (the device has no time zone setting yet), so names sort chronologically.

use camward_config::Trigger;
use std::time::SystemTime;
use time::OffsetDateTime;
use time::macros::format_description;

fn utc(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(t)
}

/// `YYYYMMDD_HHMMSS_mmm` in UTC: the time part of image names.
pub fn stamp(t: SystemTime) -> String {
    let f = format_description!("[year][month][day]_[hour][minute][second]_[subsecond digits:3]");
    utc(t)
        .format(&f)
        .unwrap_or_else(|_| "00000000_000000_000".into())
}

/// RFC 3339 UTC with milliseconds, for log lines and mail bodies.
pub fn rfc3339(t: SystemTime) -> String {
    let f =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    utc(t)
        .format(&f)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".into())
}

/// Whether an image was taken before or after its alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pre,
    Post,
}

/// `{prefix}_{YYYYMMDD_HHMMSS_mmm}_{trigger}_{pre|post}{NNN}.jpg`, with the capture time of the
/// image: e.g. `alarm_20260102_030405_678_vmd_post001.jpg`. Index from 1 within its phase.
pub fn alarm_image_name(
    prefix: &str,
    taken: SystemTime,
    trigger: Trigger,
    phase: Phase,
    index: u32,
) -> String {
    let phase = match phase {
        Phase::Pre => "pre",
        Phase::Post => "post",
    };
    format!(
        "{prefix}_{}_{}_{phase}{index:03}.jpg",
        stamp(taken),
        trigger.as_str()
    )
}

/// Periodic images: `{prefix}_{YYYYMMDD_HHMMSS_mmm}.jpg` ("Name w/time&date") or `{prefix}.jpg`
/// ("Name w/o time&date": the same remote file is replaced each time).
pub fn periodic_image_name(prefix: &str, taken: SystemTime, with_date_time: bool) -> String {
    if with_date_time {
        format!("{prefix}_{}.jpg", stamp(taken))
    } else {
        format!("{prefix}.jpg")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn names_follow_the_documented_patterns() {
        // 2026-01-02T03:04:05.678Z
        let t = UNIX_EPOCH + Duration::from_millis(1_767_323_045_678);
        assert_eq!(stamp(t), "20260102_030405_678");
        assert_eq!(rfc3339(t), "2026-01-02T03:04:05.678Z");
        assert_eq!(
            alarm_image_name("alarm", t, Trigger::Vmd, Phase::Post, 1),
            "alarm_20260102_030405_678_vmd_post001.jpg"
        );
        assert_eq!(
            alarm_image_name("cam", t, Trigger::Terminal2, Phase::Pre, 12),
            "cam_20260102_030405_678_terminal2_pre012.jpg"
        );
        assert_eq!(
            periodic_image_name("image", t, true),
            "image_20260102_030405_678.jpg"
        );
        assert_eq!(periodic_image_name("image", t, false), "image.jpg");
    }
}
