//! Time conversions the index, file names and HTTP API share: UTC milliseconds everywhere inside,
//! RFC 3339 at the API, a compact UTC stamp in file names.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch (UTC); times before 1970 clamp to 0.
pub fn ms_of(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn system_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

fn datetime(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2026-11-22T03:45:00.123Z`
pub fn rfc3339(ms: i64) -> String {
    datetime(ms)
        .format(&Rfc3339)
        .unwrap_or_else(|_| ms.to_string())
}

/// Parses an RFC 3339 time (any offset) to UTC milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// `20261122T034500Z`: sortable, no characters that need quoting on any filesystem.
pub fn file_stamp(ms: i64) -> String {
    let t = datetime(ms);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_milliseconds() {
        let ms = 1_795_000_000_123;
        assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        assert_eq!(
            parse_rfc3339("2026-11-22T04:45:00+01:00"),
            parse_rfc3339("2026-11-22T03:45:00Z")
        );
        assert_eq!(
            file_stamp(parse_rfc3339("2026-11-22T03:45:00Z").unwrap()),
            "20261122T034500Z"
        );
    }
}
