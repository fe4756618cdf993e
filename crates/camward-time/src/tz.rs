//! The time zone: a POSIX TZ string (IEEE 1003.1 §8.3, the form ONVIF's TimeZone carries),
//! evaluated with jiff's POSIX rules, so no tz database is needed on the board. A string the
//! configuration accepted but jiff cannot evaluate shows as UTC rather than failing the status.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use std::time::SystemTime;

fn zone(posix: &str) -> TimeZone {
    TimeZone::posix(posix).unwrap_or(TimeZone::UTC)
}

fn timestamp(t: SystemTime) -> Timestamp {
    Timestamp::try_from(t).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Seconds east of UTC in `posix` at `at`.
pub fn offset_seconds(posix: &str, at: SystemTime) -> i32 {
    zone(posix).to_offset(timestamp(at)).seconds()
}

/// Whether daylight-saving time is in effect in `posix` at `at` (ONVIF's DaylightSavings).
pub fn is_dst(posix: &str, at: SystemTime) -> bool {
    zone(posix).to_offset_info(timestamp(at)).dst().is_dst()
}

/// RFC 3339 with milliseconds and the zone's offset (`Z` for UTC).
pub fn local_rfc3339(posix: &str, at: SystemTime) -> String {
    let ts = timestamp(at);
    let off = zone(posix).to_offset(ts);
    if off.seconds() == 0 {
        format!("{ts:.3}")
    } else {
        format!("{:.3}", ts.display_with_offset(off))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn daylight_saving_rules_apply_on_their_dates() {
        let berlin = "CET-1CEST,M3.5.0,M10.5.0/3";
        // 2026-01-15T12:00:00Z: winter, UTC+1.
        assert_eq!(offset_seconds(berlin, at(1_768_478_400)), 3600);
        // 2026-07-15T12:00:00Z: summer, UTC+2.
        assert_eq!(offset_seconds(berlin, at(1_784_116_800)), 7200);
        assert_eq!(
            local_rfc3339(berlin, at(1_784_116_800)),
            "2026-07-15T14:00:00.000+02:00"
        );
        assert!(!is_dst(berlin, at(1_768_478_400)));
        assert!(is_dst(berlin, at(1_784_116_800)));
        let ny = "EST5EDT,M3.2.0,M11.1.0";
        assert_eq!(offset_seconds(ny, at(1_768_478_400)), -5 * 3600);
    }

    #[test]
    fn utc_prints_with_z_and_fractional_zones_work() {
        assert_eq!(local_rfc3339("UTC0", at(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(offset_seconds("<+0530>-5:30", at(0)), 5 * 3600 + 1800);
    }
}
