//! The alarm service: alarm sources (VMD on the media hub, terminal files, command alarm), event
//! actions (alarm recording, mail §4.6, FTP images §4.3), the alarm log, and the alarm bus as the
//! web API's [`AlarmControl`] handle.

use async_trait::async_trait;
use bytes::Bytes;
use camward_alarm::log::LogLevel;
use camward_alarm::{
    ActionDeps, ActionEngine, ActionSettings, AlarmEvent, AlarmHub, AlarmSource, ImageSink,
    LogEntry, MailSink, RecorderHook, SharedLog, SnapshotSource, TerminalPoller, VmdAlarms,
};
use camward_config::{Config, JpegSize};
use camward_media::MediaHub;
use camward_notify::{FtpUploader, SmtpMailer, UploaderOptions};
use camward_store::{AuditEvent, ConfigHandle, Store};
use camward_web::{AlarmControl, AlarmInfo, AlarmStatus, ApiError};
use serde_json::json;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// An alarm counts as "active" (the Live page's indicator) this long after it was raised.
const ACTIVE_FOR: Duration = Duration::from_secs(10);
/// Alarms kept in memory for `GET /api/v1/alarm/log` (the audit log keeps them all).
const RECENT: usize = 100;
/// Pictures per second analysed by motion detection: enough for a walking person, cheap on a SoC.
const VMD_FPS: u64 = 5;

/// The alarm bus and what the API shows of it; cheap to clone.
#[derive(Clone)]
pub struct Alarms {
    hub: Arc<AlarmHub>,
    recent: Arc<Mutex<VecDeque<(AlarmEvent, Instant)>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every alarm-side log entry (alarms, mail and FTP outcomes) goes to the audit log, which
/// `GET /api/v1/log` shows, and to the daemon's log.
fn audit_sink(store: Store) -> SharedLog {
    Arc::new(move |e: &LogEntry| {
        let level = match e.level {
            LogLevel::Error => {
                tracing::error!(kind = e.kind, "{}", e.message);
                "error"
            }
            LogLevel::Warning => {
                tracing::warn!(kind = e.kind, "{}", e.message);
                "warning"
            }
            LogLevel::Info => {
                tracing::info!(kind = e.kind, "{}", e.message);
                "info"
            }
        };
        let ev = AuditEvent::new(e.kind).detail(json!({"level": level, "message": e.message}));
        if let Err(err) = store.audit(&ev) {
            tracing::error!(error = %err, "cannot write the alarm log entry to the audit log");
        }
    })
}

impl Alarms {
    pub fn new(config: &Config, store: Store) -> Alarms {
        Alarms {
            hub: Arc::new(AlarmHub::new(config.alarm.clone(), audit_sink(store))),
            recent: Arc::default(),
        }
    }
}

struct Snapshots(MediaHub);

#[async_trait]
impl SnapshotSource for Snapshots {
    async fn jpeg(&self, stream: u8, size: u8) -> Result<Bytes, String> {
        let size = match size {
            1 => JpegSize::One,
            2 => JpegSize::Two,
            _ => JpegSize::Three,
        };
        self.0
            .snapshot_jpeg(stream, size)
            .await
            .map_err(|e| e.to_string())
    }
}

struct RecorderAction(super::record::Recording);

impl RecorderHook for RecorderAction {
    fn trigger_alarm(&self, stream: u8, pre_secs: u32, post_secs: u32) -> Result<(), String> {
        self.0.trigger_alarm(stream, pre_secs, post_secs)
    }
}

fn settings(c: &Config) -> ActionSettings {
    ActionSettings {
        alarm: c.alarm.clone(),
        smtp: c.smtp.clone(),
        ftp: c.ftp_client.clone(),
    }
}

/// Audit entries for switching a transport to clear text (paper §4.6: "SSL Off" is allowed but
/// must leave a trace), written when the setting turns on, not on every restart.
fn audit_plaintext(store: &Store, before: Option<&Config>, now: &Config) {
    let smtp_off =
        |c: &Config| c.smtp.enabled && c.smtp.security == camward_config::SmtpSecurity::None;
    let ftp_off =
        |c: &Config| c.ftp_client.enabled && c.ftp_client.tls == camward_config::FtpTls::None;
    for (kind, off, what) in [
        ("smtp.ssl_off", smtp_off as fn(&Config) -> bool, "SMTP"),
        ("ftp_client.ssl_off", ftp_off, "the FTP client"),
    ] {
        if off(now) && !before.is_some_and(off) {
            let ev = AuditEvent::new(kind).detail(json!({
                "message": format!("SSL is off for {what}: passwords and pictures cross the network in clear"),
            }));
            if let Err(e) = store.audit(&ev) {
                tracing::error!(error = %e, "cannot write audit log");
            }
        }
    }
}

pub struct Input {
    pub alarms: Alarms,
    pub data_dir: PathBuf,
    pub config: ConfigHandle,
    pub store: Store,
    pub media: MediaHub,
    /// The alarm-recording action's recorder.
    pub recording: super::record::Recording,
    /// Names the camera in mail subjects.
    pub device_name: String,
    pub shutdown: CancellationToken,
}

/// Starts the sources and actions and keeps them in step with the configuration.
pub fn start(input: Input) -> JoinHandle<()> {
    let Input {
        alarms,
        data_dir,
        config,
        store,
        media,
        recording,
        device_name,
        shutdown,
    } = input;
    tokio::spawn(async move {
        let hub = alarms.hub.clone();
        let log = hub.log_sink();
        let mut cfg = config.current();
        audit_plaintext(&store, None, &cfg);
        let mailer = Arc::new(SmtpMailer::new(log.clone()).with_device_name(device_name));
        if let Err(e) = mailer.apply(&cfg.smtp) {
            log.log(&LogEntry::error("smtp.config", e.to_string()));
        }
        let uploader = match FtpUploader::start(
            data_dir.join("ftp-queue"),
            cfg.ftp_client.clone(),
            UploaderOptions::default(),
            log.clone(),
        ) {
            Ok(u) => Some(Arc::new(u)),
            Err(e) => {
                log.log(&LogEntry::error(
                    "ftp.queue",
                    format!("FTP images are off: {e}"),
                ));
                None
            }
        };
        let deps = ActionDeps {
            snapshots: Arc::new(Snapshots(media.clone())),
            recorder: Some(Arc::new(RecorderAction(recording))),
            mail: Some(mailer.clone() as Arc<dyn MailSink>),
            ftp: uploader.clone().map(|u| u as Arc<dyn ImageSink>),
        };
        let engine = ActionEngine::start(&hub, deps, settings(&cfg));
        let terminals =
            TerminalPoller::start(data_dir.join("alarm"), hub.clone(), cfg.alarm.clone());
        let vmd = Arc::new(VmdAlarms::new(hub.clone(), &cfg.alarm.vmd));
        let vmd_task = tokio::spawn(feed_vmd(vmd.clone(), media.clone()));
        let recent_task = tokio::spawn(keep_recent(hub.clone(), alarms.recent.clone()));
        let mut rx = config.subscribe();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = rx.changed() => if r.is_err() { break },
            }
            let new = rx.borrow_and_update().clone();
            if Arc::ptr_eq(&new, &cfg) {
                continue;
            }
            audit_plaintext(&store, Some(&cfg), &new);
            hub.apply(&new.alarm);
            vmd.apply(&new.alarm.vmd);
            terminals.apply(&new.alarm);
            if new.smtp != cfg.smtp
                && let Err(e) = mailer.apply(&new.smtp)
            {
                log.log(&LogEntry::error("smtp.config", e.to_string()));
            }
            if let Some(u) = &uploader {
                u.apply(&new.ftp_client);
            }
            engine.apply(settings(&new));
            cfg = new;
        }
        vmd_task.abort();
        recent_task.abort();
        drop(engine);
        drop(terminals);
    })
}

async fn keep_recent(hub: Arc<AlarmHub>, recent: Arc<Mutex<VecDeque<(AlarmEvent, Instant)>>>) {
    let mut rx = hub.subscribe();
    loop {
        match rx.recv().await {
            Ok(ev) => {
                let mut r = lock(&recent);
                if r.len() >= RECENT {
                    r.pop_front();
                }
                r.push_back((ev, Instant::now()));
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        }
    }
}

/// Samples the analysed stream's latest picture a few times a second into the detector.
async fn feed_vmd(vmd: Arc<VmdAlarms>, media: MediaHub) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / VMD_FPS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_error = String::new();
    loop {
        tick.tick().await;
        let Some(stream) = vmd.wanted_stream() else {
            continue;
        };
        match media.latest_picture(stream).await {
            Ok(pic) => {
                last_error.clear();
                vmd.feed(
                    pic.y(),
                    pic.width as usize,
                    pic.height as usize,
                    started.elapsed(),
                );
            }
            Err(e) => {
                // Once per distinct problem: a stream that is off stays off for a while.
                let e = e.to_string();
                if e != last_error {
                    tracing::warn!(stream, error = %e, "motion detection has no picture");
                    last_error = e;
                }
            }
        }
    }
}

fn source_name(s: &AlarmSource) -> String {
    match s {
        AlarmSource::Vmd(a) => format!("vmd{a}"),
        other => other.trigger().as_str().to_owned(),
    }
}

fn event_info(ev: &AlarmEvent) -> AlarmInfo {
    AlarmInfo {
        id: ev.id,
        source: source_name(&ev.source),
        trigger: ev.source.trigger().as_str().to_owned(),
        description: ev.source.to_string(),
        time: camward_alarm::naming::rfc3339(ev.time),
        unix_time: ev
            .time
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    }
}

/// The alarm bus as the web API's command alarm, indicator and recent list.
impl AlarmControl for Alarms {
    fn command(&self) -> Result<AlarmInfo, ApiError> {
        match self.hub.command() {
            Ok(ev) => Ok(event_info(&ev)),
            Err(e) => {
                let m = e.to_string();
                Err(
                    ApiError::conflict("alarm.command.disabled", m.clone()).field(
                        "source",
                        "alarm.command.disabled",
                        m,
                    ),
                )
            }
        }
    }

    fn status(&self) -> AlarmStatus {
        let r = lock(&self.recent);
        AlarmStatus {
            active: r.back().is_some_and(|(_, at)| at.elapsed() < ACTIVE_FOR),
            last: r.back().map(|(ev, _)| event_info(ev)),
        }
    }

    fn recent(&self) -> Vec<AlarmInfo> {
        lock(&self.recent)
            .iter()
            .rev()
            .map(|(ev, _)| event_info(ev))
            .collect()
    }
}

impl Alarms {
    /// Alarms raised from now on (the SNMP traps).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<AlarmEvent> {
        self.hub.subscribe()
    }

    /// The alarm log (audit log + daemon log), for services started beside the alarm service.
    pub fn log_sink(&self) -> SharedLog {
        self.hub.log_sink()
    }
}
