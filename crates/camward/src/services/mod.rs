//! The daemon's services, one module each; every `start` takes the shared state and returns a task
//! that ends when `shared.shutdown` is cancelled. Add yours here (rtsp, ftp, ...) and in daemon.rs.

pub mod alarm;
pub mod config_watch;
pub mod ftp;
pub mod http;
pub mod https;
pub mod media;
pub mod record;
pub mod rtsp;
pub mod signing;
