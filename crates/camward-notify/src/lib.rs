//! camward's notifications: alarm mail over SMTP/TLS, FTP(S) image upload through a bounded
//! on-disk queue, and the read-only FTP(S) server of "FTP access to camera".
//!
//! Settings come from camward-alarm's config sections; outcomes go to camward-alarm's log sink.
//! The mailer and uploader implement camward-alarm's `MailSink` and `ImageSink`.
#![forbid(unsafe_code)]

pub mod error;
pub mod ftp_client;
pub mod ftp_server;
pub mod ftp_storage;
pub mod queue;
pub mod smtp;
pub mod tls;

pub use error::NotifyError;
pub use ftp_client::{FtpFailure, FtpUploader, UploaderOptions};
pub use ftp_server::{FtpAuthenticator, FtpServer, FtpServerOptions, FtpUser};
pub use queue::QueueLimits;
pub use smtp::{MailError, RetryPolicy, SmtpMailer};
