//! The daemon's services, one module each. Every `start` takes a small input struct of the handles
//! it needs (never the daemon's own state) and returns a task that ends on shutdown; daemon.rs
//! builds the inputs and starts every listener and task (paper §3.5: only the listeners asked for).

pub mod alarm;
pub mod cameras;
pub mod config_watch;
pub mod device;
pub mod discovery;
pub mod dot1x;
pub mod firmware;
pub mod ftp;
pub mod http;
pub mod https;
pub mod listen;
pub mod maintenance;
pub mod media;
pub mod objstore;
pub mod onvif;
pub mod record;
pub mod rtsp;
pub mod signing;
pub mod snmp;
pub mod time;
pub mod upnp;
