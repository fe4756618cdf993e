//! camward's date and time (the NTP tab of the paper's Setup › Network › Advanced screen, next to
//! §4.5–§4.7): the time zone, manual time, and synchronisation with NTP servers through an SNTP
//! client (RFC 4330/5905), optionally authenticated with NTS (RFC 8915) because recording and
//! signature timestamps (§3.9) are only as trustworthy as the clock.
//!
//! [`TimeService`] is the one handle: `status()`, `set_manual(utc)`, `servers()`/`set_servers()`,
//! `mode()`/`set_mode()`, `timezone()`/`set_timezone()` (POSIX TZ strings). The web API and ONVIF
//! both call it; it knows neither. Settings come and go through [`TimeSettings`] (the daemon's
//! stored configuration); the clock is set only through a [`ClockSetter`].
#![forbid(unsafe_code)]

pub mod clock;
pub mod nts;
pub mod packet;
mod service;
pub mod sntp;
pub mod tz;

pub use clock::{ClockError, ClockSetter, RecordingClock, SetReason, SystemClock};
pub use service::{
    ClockSet, ClockStatus, ManualError, STEP_THRESHOLD, ServerStatus, SyncState, TimeService,
    TimeSettings, TimeStatus, rfc3339,
};
pub use sntp::{Sample, SntpError};
