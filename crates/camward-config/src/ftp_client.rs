//! The `ftp_client` section (Setup › Network › Advanced › FTP, paper §4.3): alarm images and
//! periodic images sent to an FTP server, FTPS (AUTH TLS) by default. camward-notify uploads them.

use crate::alarm::{Trigger, validate_triggers, warn_audio};
use crate::audit::{Audit, Context, Finding, Fix, Severity};
use crate::checks::{
    err, validate_ca, validate_file_prefix, validate_host, validate_image_size, validate_login,
    validate_remote_dir,
};
use crate::{FieldError, Secret, Validate, Warning, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most pre-alarm images kept in memory for FTP (bounded: each is a JPEG of up to ~200 kB).
pub const MAX_PRE_ALARM_IMAGES: u32 = 60;
/// Most post-alarm images one alarm may send.
pub const MAX_POST_ALARM_IMAGES: u32 = 1000;
/// Image interval bounds for FTP alarm images, in milliseconds (10 fps … one per minute).
pub const MIN_IMAGE_INTERVAL_MS: u32 = 100;
pub const MAX_IMAGE_INTERVAL_MS: u32 = 60_000;
/// Periodic FTP interval bounds, in seconds (the paper offers 1 s up to 24 h).
pub const MIN_PERIODIC_SECONDS: u32 = 1;
pub const MAX_PERIODIC_SECONDS: u32 = 86_400;

/// FTPS policy of the FTP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FtpTls {
    /// AUTH TLS on the control port, then protected data (PROT P). A server that refuses AUTH
    /// TLS is an error, never a silent fall-back to plain FTP.
    #[default]
    #[schemars(title = "On (FTPS, AUTH TLS)")]
    Explicit,
    /// Plain FTP: only on a trusted network (paper §4.3).
    #[schemars(title = "Off (plain FTP)")]
    None,
}

/// Pre- or post-alarm image series ("Transmission interval" and "number of images").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageSeries {
    /// Time between two images (1 s = the paper's "1fps").
    #[schemars(
        title = "Transmission interval",
        range(min = 100, max = 60000),
        extend("x-unit" = "ms")
    )]
    pub interval_ms: u32,
    /// Number of images sent; the recording duration is images × interval. At most 60 before an
    /// alarm, 1000 after it.
    #[schemars(title = "Number of images", range(max = 1000))]
    pub images: u32,
}

impl ImageSeries {
    /// The paper's read-only "Recording duration".
    pub fn duration_ms(&self) -> u64 {
        self.interval_ms as u64 * self.images as u64
    }

    fn validate(&self, at: &str, max_images: u32, out: &mut Vec<FieldError>) {
        if !(MIN_IMAGE_INTERVAL_MS..=MAX_IMAGE_INTERVAL_MS).contains(&self.interval_ms) {
            err(
                out,
                join(at, "interval_ms"),
                "ftp.interval.range",
                format!(
                    "between {} and {} seconds",
                    MIN_IMAGE_INTERVAL_MS as f64 / 1000.0,
                    MAX_IMAGE_INTERVAL_MS / 1000
                ),
            );
        }
        if self.images > max_images {
            err(
                out,
                join(at, "images"),
                "ftp.images.range",
                format!("at most {max_images} images"),
            );
        }
    }
}

/// "Alarm image FTP transmission".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FtpAlarmImages {
    /// Send pictures of each alarm to the FTP server.
    #[schemars(title = "Alarm image FTP transmission")]
    pub enabled: bool,
    /// Folder on the server (created when missing); empty = the login folder.
    #[schemars(title = "Directory name")]
    pub directory: String,
    /// Start of each file name: 1–32 letters, digits, _ and -; time, date and alarm are added.
    #[schemars(title = "File name")]
    pub file_name: String,
    /// Alarms whose pictures are sent.
    #[schemars(title = "Alarms")]
    pub alarms: Vec<Trigger>,
    /// Pictures from before the alarm (kept in memory).
    #[schemars(title = "Pre alarm")]
    pub pre_alarm: ImageSeries,
    /// Pictures after the alarm.
    #[schemars(title = "Post alarm")]
    pub post_alarm: ImageSeries,
    /// Size of the pictures.
    #[schemars(title = "Image capture size", range(min = 1, max = 3), extend("oneOf" = [{"const": 1, "title": "JPEG(1)"}, {"const": 2, "title": "JPEG(2)"}, {"const": 3, "title": "JPEG(3)"}]))]
    pub image_size: u8,
}

impl Default for FtpAlarmImages {
    fn default() -> Self {
        FtpAlarmImages {
            enabled: false,
            directory: String::new(),
            file_name: "alarm".into(),
            alarms: Trigger::all_but_audio(),
            pre_alarm: ImageSeries {
                interval_ms: 1000,
                images: 0,
            },
            post_alarm: ImageSeries {
                interval_ms: 1000,
                images: 100,
            },
            image_size: 2,
        }
    }
}

/// "FTP periodic image transmission".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FtpPeriodicImages {
    /// Send a picture at a fixed interval.
    #[schemars(title = "FTP periodic image transmission")]
    pub enabled: bool,
    /// Folder on the server (created when missing); empty = the login folder.
    #[schemars(title = "Directory name")]
    pub directory: String,
    /// Start of each file name: 1–32 letters, digits, _ and -.
    #[schemars(title = "File name")]
    pub file_name: String,
    /// With time and date each picture is a new file; without, the same file is replaced each
    /// time (for a "latest picture" web page).
    #[schemars(
        title = "File name style",
        extend("x-true" = "Name w/ time & date", "x-false" = "Name w/o time & date")
    )]
    pub with_date_time: bool,
    /// Time between two pictures.
    #[schemars(
        title = "Transmission interval",
        range(min = 1, max = 86400),
        extend("x-unit" = "s")
    )]
    pub interval_seconds: u32,
    /// Size of the pictures.
    #[schemars(title = "Image capture size", range(min = 1, max = 3), extend("oneOf" = [{"const": 1, "title": "JPEG(1)"}, {"const": 2, "title": "JPEG(2)"}, {"const": 3, "title": "JPEG(3)"}]))]
    pub image_size: u8,
}

impl Default for FtpPeriodicImages {
    fn default() -> Self {
        FtpPeriodicImages {
            enabled: false,
            directory: String::new(),
            file_name: "image".into(),
            with_date_time: true,
            interval_seconds: 60,
            image_size: 2,
        }
    }
}

/// The `ftp_client` section (Setup › Network › Advanced › FTP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FtpClientConfig {
    /// Send pictures to an FTP server; nothing connects to a server while off.
    #[schemars(title = "FTP transmission")]
    pub enabled: bool,
    /// Host name or IP address of the FTP server (required while transmission is on).
    #[schemars(title = "FTP server address")]
    pub server: String,
    /// Control port of the FTP server (21 for FTP and FTPS with AUTH TLS).
    #[schemars(title = "Control port", range(min = 1, max = 65535))]
    pub port: u16,
    /// Login name; empty = anonymous.
    #[schemars(title = "User name", length(max = 128))]
    pub username: String,
    /// Login password.
    #[schemars(title = "Password")]
    pub password: Secret,
    /// Encrypt the login and the pictures. Off sends both in clear: only on a trusted network.
    #[schemars(title = "FTPS")]
    pub tls: FtpTls,
    /// PEM text of the CA that signed the FTP server's certificate; empty = the usual public
    /// roots.
    #[schemars(title = "CA certificate of the FTP server")]
    pub ca_certificate: String,
    /// Passive mode: the camera opens every connection (works through firewalls and NAT).
    #[schemars(title = "FTP mode", extend("x-true" = "Passive", "x-false" = "Active"))]
    pub passive: bool,
    /// Try again, with growing pauses, when an upload fails; what is given up on is logged
    /// either way.
    #[schemars(title = "FTP transmission retry")]
    pub retry: bool,
    /// Tries per picture while retry is on.
    #[schemars(title = "Tries per picture", range(min = 1, max = 100))]
    pub retry_limit: u32,
    /// Pictures sent when an alarm is raised.
    #[schemars(title = "Alarm image FTP transmission")]
    pub alarm: FtpAlarmImages,
    /// Pictures sent at a fixed interval.
    #[schemars(title = "FTP periodic image transmission")]
    pub periodic: FtpPeriodicImages,
}

impl Default for FtpClientConfig {
    fn default() -> Self {
        FtpClientConfig {
            enabled: false,
            server: String::new(),
            port: 21,
            username: String::new(),
            password: Secret::default(),
            tls: FtpTls::Explicit,
            ca_certificate: String::new(),
            passive: true,
            retry: true,
            retry_limit: 10,
            alarm: FtpAlarmImages::default(),
            periodic: FtpPeriodicImages::default(),
        }
    }
}

impl FtpClientConfig {
    /// Tries per upload (the first one included).
    pub fn max_attempts(&self) -> u32 {
        if self.retry {
            self.retry_limit.max(1)
        } else {
            1
        }
    }
}

impl Validate for FtpClientConfig {
    fn validate(&self, at: &str, out: &mut Vec<FieldError>) {
        if self.enabled || !self.server.is_empty() {
            validate_host(&self.server, &join(at, "server"), self.enabled, out);
        }
        if self.port == 0 {
            err(
                out,
                join(at, "port"),
                "ftp.port.range",
                "between 1 and 65535",
            );
        }
        validate_login(&self.username, &self.password, at, "ftp", self.enabled, out);
        validate_ca(&self.ca_certificate, &join(at, "ca_certificate"), out);
        if !(1..=100).contains(&self.retry_limit) {
            err(
                out,
                join(at, "retry_limit"),
                "ftp.retry.range",
                "between 1 and 100 tries",
            );
        }
        let a = join(at, "alarm");
        validate_remote_dir(&self.alarm.directory, &join(&a, "directory"), out);
        validate_file_prefix(&self.alarm.file_name, &join(&a, "file_name"), out);
        validate_triggers(&self.alarm.alarms, &join(&a, "alarms"), out);
        self.alarm
            .pre_alarm
            .validate(&join(&a, "pre_alarm"), MAX_PRE_ALARM_IMAGES, out);
        self.alarm
            .post_alarm
            .validate(&join(&a, "post_alarm"), MAX_POST_ALARM_IMAGES, out);
        validate_image_size(self.alarm.image_size, &join(&a, "image_size"), out);
        let p = join(at, "periodic");
        validate_remote_dir(&self.periodic.directory, &join(&p, "directory"), out);
        validate_file_prefix(&self.periodic.file_name, &join(&p, "file_name"), out);
        if !(MIN_PERIODIC_SECONDS..=MAX_PERIODIC_SECONDS).contains(&self.periodic.interval_seconds)
        {
            err(
                out,
                join(&p, "interval_seconds"),
                "ftp.periodic.interval",
                format!("between {MIN_PERIODIC_SECONDS} and {MAX_PERIODIC_SECONDS} seconds"),
            );
        }
        validate_image_size(self.periodic.image_size, &join(&p, "image_size"), out);
    }

    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        if self.enabled && self.tls == FtpTls::None {
            out.push(Warning::new(
                join(at, "tls"),
                "ftp_client.plaintext",
                "FTPS is off: the FTP password and the pictures cross the network in clear; use only on a trusted network",
            ));
        }
        if self.enabled && !self.passive {
            out.push(Warning::new(
                join(at, "passive"),
                "ftp_client.active",
                "active mode: the server connects back to the camera for each picture",
            ));
        }
        warn_audio(&self.alarm.alarms, &join(&join(at, "alarm"), "alarms"), out);
    }
}

impl Audit for FtpClientConfig {
    fn audit(&self, at: &str, _cx: &Context<'_>, out: &mut Vec<Finding>) {
        if self.enabled && self.tls == FtpTls::None {
            out.push(Finding::new(
                "ftp_client.unencrypted",
                Severity::High,
                "§4.3",
                "images go to the FTP server without TLS: the FTP password and the pictures cross the network in clear",
                "FTP does not encrypt, so IDs, passwords and transferred data can be snooped; outside a secured network the FTP client must not send in clear.",
                Fix::set(join(at, "tls"), "explicit".into()),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests_util::{errors_of, warnings_of};
    use serde_json::json;

    #[test]
    fn defaults_are_off_and_valid() {
        let f = FtpClientConfig::default();
        assert!(!f.enabled && f.tls == FtpTls::Explicit && f.passive && f.port == 21);
        assert!(errors_of(&f, "ftp_client").is_empty());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_value::<FtpClientConfig>(json!({"bogus": 1})).is_err());
    }

    #[test]
    fn plaintext_warns() {
        let f = FtpClientConfig {
            enabled: true,
            tls: FtpTls::None,
            ..FtpClientConfig::default()
        };
        assert_eq!(
            warnings_of(&f, "ftp_client")[0].rule,
            "ftp_client.plaintext"
        );
    }

    #[test]
    fn remote_names_cannot_escape() {
        let mut f = FtpClientConfig::default();
        f.alarm.directory = "cams/../../etc".into();
        f.periodic.file_name = "a b;rm".into();
        let e = errors_of(&f, "ftp_client");
        assert!(e.iter().any(|e| e.path == "ftp_client.alarm.directory"));
        assert!(e.iter().any(|e| e.path == "ftp_client.periodic.file_name"));
        f.alarm.directory = "/cams/front-door".into();
        f.periodic.file_name = "front_door".into();
        assert!(errors_of(&f, "ftp_client").is_empty());
    }

    #[test]
    fn password_never_in_debug_output() {
        let f = FtpClientConfig {
            password: Secret::new("hunter22-ftp"),
            ..FtpClientConfig::default()
        };
        assert!(!format!("{f:?}").contains("hunter22"));
    }

    #[test]
    fn image_series_duration_is_count_times_interval() {
        let s = ImageSeries {
            interval_ms: 1000,
            images: 100,
        };
        assert_eq!(s.duration_ms(), 100_000);
    }
}
