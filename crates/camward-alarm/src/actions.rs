//! Event actions: on each alarm, record, mail and send FTP alarm images as configured; also the
//! FTP periodic images. Reaches media, recorder, SMTP and FTP only through the traits below.

use crate::hub::{AlarmEvent, AlarmHub};
use crate::log::{LogEntry, SharedLog};
use crate::naming::{self, Phase};
use async_trait::async_trait;
use bytes::Bytes;
use camward_config::{AlarmConfig, FtpClientConfig, SmtpConfig, Trigger};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::sync::{Semaphore, broadcast, watch};
use tokio::task::JoinHandle;

/// Stream whose picture JPEG(1)/(2)/(3) are taken from: Stream(1) has the best picture.
pub const SNAPSHOT_STREAM: u8 = 1;
/// Pre-alarm ring bound in bytes, on top of the image count: 60 JPEG(1) could reach 12 MB.
pub const MAX_PRE_RING_BYTES: usize = 8 * 1024 * 1024;
/// Alarm mails being prepared or retried at once; beyond this an alarm's mail is skipped and
/// logged (an alarm storm must not pile up unbounded tasks and snapshots).
pub const MAX_PENDING_MAILS: usize = 8;

/// JPEG snapshots (camward-media's `MediaHub::snapshot_jpeg`).
#[async_trait]
pub trait SnapshotSource: Send + Sync + 'static {
    /// The latest picture of `stream` as JPEG(`size`), size 1–3.
    async fn jpeg(&self, stream: u8, size: u8) -> Result<Bytes, String>;
}

/// The recorder's alarm seam (camward-record's `Recorder::trigger_alarm`).
pub trait RecorderHook: Send + Sync + 'static {
    fn trigger_alarm(&self, stream: u8, pre_secs: u32, post_secs: u32) -> Result<(), String>;
}

/// One alarm mail to send.
#[derive(Debug, Clone)]
pub struct AlarmMail {
    pub event: AlarmEvent,
    pub recipients: Vec<String>,
    /// The JPEG to attach, when attachment is on and a picture could be taken.
    pub image: Option<Bytes>,
}

/// Mail delivery (camward-notify's `SmtpMailer`). Delivers with its own retries and logs the
/// outcome itself; returns when it is done or gave up.
#[async_trait]
pub trait MailSink: Send + Sync + 'static {
    async fn send_alarm(&self, mail: AlarmMail);
}

/// One image for the FTP server.
#[derive(Clone, PartialEq, Eq)]
pub struct ImageUpload {
    /// Remote directory, as configured (may be empty: the login directory).
    pub directory: String,
    /// Remote file name.
    pub name: String,
    pub data: Bytes,
}

impl std::fmt::Debug for ImageUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageUpload")
            .field("directory", &self.directory)
            .field("name", &self.name)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// FTP upload (camward-notify's `FtpUploader`): queues on disk and uploads in the background;
/// `Err` means the image was refused (queue full, disk error) with the reason.
#[async_trait]
pub trait ImageSink: Send + Sync + 'static {
    async fn enqueue(&self, upload: ImageUpload) -> Result<(), String>;
}

/// The configuration sections the actions follow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActionSettings {
    pub alarm: AlarmConfig,
    pub smtp: SmtpConfig,
    pub ftp: FtpClientConfig,
}

impl ActionSettings {
    fn ftp_alarm_on(&self) -> bool {
        self.ftp.enabled && self.ftp.alarm.enabled
    }
}

/// The outside world the actions use. Missing pieces disable their action.
#[derive(Clone)]
pub struct ActionDeps {
    pub snapshots: Arc<dyn SnapshotSource>,
    pub recorder: Option<Arc<dyn RecorderHook>>,
    pub mail: Option<Arc<dyn MailSink>>,
    pub ftp: Option<Arc<dyn ImageSink>>,
}

struct Shared {
    deps: ActionDeps,
    log: SharedLog,
    settings: watch::Receiver<ActionSettings>,
    pre_ring: Mutex<PreRing>,
    post: Mutex<Option<PostSeries>>,
    mail_slots: Arc<Semaphore>,
}

#[derive(Default)]
struct PreRing {
    images: VecDeque<(SystemTime, Bytes)>,
    bytes: usize,
}

impl PreRing {
    fn push(&mut self, t: SystemTime, jpeg: Bytes, max_images: usize) {
        self.bytes += jpeg.len();
        self.images.push_back((t, jpeg));
        while self.images.len() > max_images || self.bytes > MAX_PRE_RING_BYTES {
            let Some((_, old)) = self.images.pop_front() else {
                break;
            };
            self.bytes -= old.len();
        }
    }

    fn take(&mut self) -> Vec<(SystemTime, Bytes)> {
        self.bytes = 0;
        self.images.drain(..).collect()
    }
}

/// A running post-alarm series; `remaining` is reset by an alarm that arrives meanwhile.
struct PostSeries {
    remaining: Arc<AtomicU32>,
    task: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The running action engine; dropping it stops every action task.
pub struct ActionEngine {
    settings: watch::Sender<ActionSettings>,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for ActionEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionEngine")
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

impl ActionEngine {
    /// Subscribes to `hub` and starts the action tasks (needs a tokio runtime).
    pub fn start(hub: &AlarmHub, deps: ActionDeps, settings: ActionSettings) -> Self {
        let (tx, rx) = watch::channel(settings);
        let shared = Arc::new(Shared {
            deps,
            log: hub.log_sink(),
            settings: rx,
            pre_ring: Mutex::new(PreRing::default()),
            post: Mutex::new(None),
            mail_slots: Arc::new(Semaphore::new(MAX_PENDING_MAILS)),
        });
        let tasks = vec![
            tokio::spawn(dispatch(shared.clone(), hub.subscribe())),
            tokio::spawn(pre_sampler(shared.clone())),
            tokio::spawn(periodic(shared.clone())),
        ];
        ActionEngine {
            settings: tx,
            shared,
            tasks,
        }
    }

    /// Takes new `alarm`, `smtp` and `ftp_client` sections; running tasks follow at once.
    pub fn apply(&self, settings: ActionSettings) {
        self.settings.send_replace(settings);
    }

    /// Whether a post-alarm image series is running (for status pages and tests).
    pub fn post_series_running(&self) -> bool {
        lock(&self.shared.post)
            .as_ref()
            .is_some_and(|p| !p.task.is_finished())
    }
}

impl Drop for ActionEngine {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(p) = lock(&self.shared.post).take() {
            p.task.abort();
        }
    }
}

async fn dispatch(shared: Arc<Shared>, mut rx: broadcast::Receiver<AlarmEvent>) {
    loop {
        let event = match rx.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                shared.log.log(&LogEntry::warning(
                    "alarm.lagged",
                    format!("{n} alarms arrived too fast and got no event action"),
                ));
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let settings = shared.settings.borrow().clone();
        let trigger = event.source.trigger();
        record(&shared, &settings, &event, trigger);
        mail(&shared, &settings, &event, trigger);
        ftp_alarm(&shared, &settings, &event, trigger).await;
    }
}

fn record(shared: &Shared, s: &ActionSettings, event: &AlarmEvent, trigger: Trigger) {
    let r = &s.alarm.recording;
    if !r.enabled || !r.triggers.contains(&trigger) {
        return;
    }
    let Some(rec) = &shared.deps.recorder else {
        return;
    };
    match rec.trigger_alarm(r.stream, r.pre_seconds, r.post_seconds) {
        Ok(()) => shared.log.log(&LogEntry::info(
            "record.alarm",
            format!(
                "alarm #{}: recording Stream({}) from {} s before to {} s after",
                event.id, r.stream, r.pre_seconds, r.post_seconds
            ),
        )),
        Err(e) => shared.log.log(&LogEntry::error(
            "record.failed",
            format!("alarm #{}: alarm recording did not start: {e}", event.id),
        )),
    }
}

fn mail(shared: &Arc<Shared>, s: &ActionSettings, event: &AlarmEvent, trigger: Trigger) {
    if !s.smtp.enabled {
        return;
    }
    let Some(sink) = shared.deps.mail.clone() else {
        return;
    };
    let recipients = s.smtp.recipients_for(trigger);
    if recipients.is_empty() {
        return;
    }
    let Ok(permit) = shared.mail_slots.clone().try_acquire_owned() else {
        shared.log.log(&LogEntry::error(
            "mail.skipped",
            format!(
                "alarm #{}: no mail sent, {MAX_PENDING_MAILS} earlier alarm mails are still pending",
                event.id
            ),
        ));
        return;
    };
    let (attach, size) = (s.smtp.attach_image, s.smtp.image_size);
    let shared = shared.clone();
    let event = event.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let image = if attach {
            match shared.deps.snapshots.jpeg(SNAPSHOT_STREAM, size).await {
                Ok(j) => Some(j),
                Err(e) => {
                    shared.log.log(&LogEntry::warning(
                        "mail.no_image",
                        format!("alarm #{}: mail goes without a picture: {e}", event.id),
                    ));
                    None
                }
            }
        } else {
            None
        };
        sink.send_alarm(AlarmMail {
            event,
            recipients,
            image,
        })
        .await;
    });
}

async fn ftp_alarm(shared: &Arc<Shared>, s: &ActionSettings, event: &AlarmEvent, trigger: Trigger) {
    if !s.ftp_alarm_on() || !s.ftp.alarm.alarms.contains(&trigger) {
        return;
    }
    let Some(sink) = shared.deps.ftp.clone() else {
        return;
    };
    let cfg = &s.ftp.alarm;
    {
        let mut post = lock(&shared.post);
        if let Some(p) = post.as_ref().filter(|p| !p.task.is_finished()) {
            // One series at a time: an alarm during a running series extends it instead of
            // doubling the uploads; its pre-alarm pictures are already being sent as post ones.
            p.remaining.store(cfg.post_alarm.images, Ordering::Relaxed);
            shared.log.log(&LogEntry::info(
                "ftp.alarm_extended",
                format!("alarm #{}: post-alarm images extended", event.id),
            ));
            return;
        }
        *post = None;
    }
    let pre = lock(&shared.pre_ring).take();
    for (i, (t, jpeg)) in pre.into_iter().enumerate() {
        let name = naming::alarm_image_name(&cfg.file_name, t, trigger, Phase::Pre, i as u32 + 1);
        enqueue(shared, &*sink, &cfg.directory, name, jpeg).await;
    }
    if cfg.post_alarm.images == 0 {
        return;
    }
    let remaining = Arc::new(AtomicU32::new(cfg.post_alarm.images));
    let task = tokio::spawn(post_series(
        shared.clone(),
        sink,
        event.clone(),
        trigger,
        remaining.clone(),
    ));
    *lock(&shared.post) = Some(PostSeries { remaining, task });
}

async fn post_series(
    shared: Arc<Shared>,
    sink: Arc<dyn ImageSink>,
    event: AlarmEvent,
    trigger: Trigger,
    remaining: Arc<AtomicU32>,
) {
    let mut index = 0u32;
    loop {
        let s = shared.settings.borrow().clone();
        if !s.ftp_alarm_on() {
            shared.log.log(&LogEntry::info(
                "ftp.alarm_stopped",
                format!(
                    "alarm #{}: post-alarm images stopped, FTP alarm transmission switched off",
                    event.id
                ),
            ));
            return;
        }
        // Claim one image; the count may have been raised by a later alarm meanwhile.
        if remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_err()
        {
            return;
        }
        let cfg = &s.ftp.alarm;
        index += 1;
        match shared
            .deps
            .snapshots
            .jpeg(SNAPSHOT_STREAM, cfg.image_size)
            .await
        {
            Ok(jpeg) => {
                let name = naming::alarm_image_name(
                    &cfg.file_name,
                    SystemTime::now(),
                    trigger,
                    Phase::Post,
                    index,
                );
                enqueue(&shared, &*sink, &cfg.directory, name, jpeg).await;
            }
            Err(e) => shared.log.log(&LogEntry::warning(
                "ftp.no_image",
                format!(
                    "alarm #{}: post-alarm image {index} not taken: {e}",
                    event.id
                ),
            )),
        }
        if remaining.load(Ordering::Relaxed) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(cfg.post_alarm.interval_ms as u64)).await;
    }
}

async fn enqueue(shared: &Shared, sink: &dyn ImageSink, dir: &str, name: String, data: Bytes) {
    let upload = ImageUpload {
        directory: dir.to_owned(),
        name: name.clone(),
        data,
    };
    if let Err(e) = sink.enqueue(upload).await {
        // Nothing is dropped silently: a refused image is a log line.
        shared.log.log(&LogEntry::error(
            "ftp.dropped",
            format!("image {name} not queued for FTP: {e}"),
        ));
    }
}

/// Keeps the last pre-alarm images while FTP alarm transmission wants any.
async fn pre_sampler(shared: Arc<Shared>) {
    let mut settings = shared.settings.clone();
    loop {
        let s = settings.borrow_and_update().clone();
        let pre = s.ftp.alarm.pre_alarm;
        if !s.ftp_alarm_on() || pre.images == 0 || shared.deps.ftp.is_none() {
            lock(&shared.pre_ring).take();
            if settings.changed().await.is_err() {
                return;
            }
            continue;
        }
        let interval = Duration::from_millis(pre.interval_ms.max(1) as u64);
        tokio::select! {
            r = settings.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(interval) => {
                match shared.deps.snapshots.jpeg(SNAPSHOT_STREAM, s.ftp.alarm.image_size).await {
                    Ok(j) => lock(&shared.pre_ring).push(SystemTime::now(), j, pre.images as usize),
                    // A missing picture (stream restarting) just leaves a gap in the ring.
                    Err(e) => tracing::debug!("pre-alarm image not taken: {e}"),
                }
            }
        }
    }
}

/// FTP periodic image transmission.
async fn periodic(shared: Arc<Shared>) {
    let mut settings = shared.settings.clone();
    loop {
        let s = settings.borrow_and_update().clone();
        let p = &s.ftp.periodic;
        let Some(sink) = shared
            .deps
            .ftp
            .clone()
            .filter(|_| s.ftp.enabled && p.enabled)
        else {
            if settings.changed().await.is_err() {
                return;
            }
            continue;
        };
        let mut tick = tokio::time::interval(Duration::from_secs(p.interval_seconds.max(1) as u64));
        // A slow snapshot or queue must not be followed by a burst of catch-up images.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                r = settings.changed() => {
                    if r.is_err() { return }
                    break;
                }
                _ = tick.tick() => {
                    match shared.deps.snapshots.jpeg(SNAPSHOT_STREAM, p.image_size).await {
                        Ok(j) => {
                            let name = naming::periodic_image_name(&p.file_name, SystemTime::now(), p.with_date_time);
                            enqueue(&shared, &*sink, &p.directory, name, j).await;
                        }
                        Err(e) => shared.log.log(&LogEntry::warning(
                            "ftp.no_image",
                            format!("periodic image not taken: {e}"),
                        )),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::AlarmSource;
    use crate::log::MemoryLog;
    use camward_config::SmtpSecurity;
    use camward_config::ftp_client::ImageSeries;

    #[derive(Default)]
    struct FakeCamera(AtomicU32);

    #[async_trait]
    impl SnapshotSource for FakeCamera {
        async fn jpeg(&self, stream: u8, size: u8) -> Result<Bytes, String> {
            let n = self.0.fetch_add(1, Ordering::Relaxed);
            Ok(Bytes::from(format!("jpeg s{stream} z{size} #{n}")))
        }
    }

    #[derive(Default)]
    struct Collect(
        Mutex<Vec<ImageUpload>>,
        Mutex<Vec<AlarmMail>>,
        Mutex<Vec<(u8, u32, u32)>>,
    );

    #[async_trait]
    impl ImageSink for Collect {
        async fn enqueue(&self, upload: ImageUpload) -> Result<(), String> {
            lock(&self.0).push(upload);
            Ok(())
        }
    }

    #[async_trait]
    impl MailSink for Collect {
        async fn send_alarm(&self, mail: AlarmMail) {
            lock(&self.1).push(mail);
        }
    }

    impl RecorderHook for Collect {
        fn trigger_alarm(&self, stream: u8, pre: u32, post: u32) -> Result<(), String> {
            lock(&self.2).push((stream, pre, post));
            Ok(())
        }
    }

    fn setup(settings: ActionSettings) -> (Arc<AlarmHub>, Arc<Collect>, ActionEngine, MemoryLog) {
        let log = MemoryLog::new();
        let hub = Arc::new(AlarmHub::new(settings.alarm.clone(), log.shared()));
        let sink = Arc::new(Collect::default());
        let deps = ActionDeps {
            snapshots: Arc::new(FakeCamera::default()),
            recorder: Some(sink.clone()),
            mail: Some(sink.clone()),
            ftp: Some(sink.clone()),
        };
        let engine = ActionEngine::start(&hub, deps, settings);
        (hub, sink, engine, log)
    }

    fn ftp_settings() -> ActionSettings {
        let mut s = ActionSettings::default();
        s.alarm.command.enabled = true;
        s.ftp.enabled = true;
        s.ftp.alarm.enabled = true;
        s.ftp.alarm.directory = "cams/door".into();
        s.ftp.alarm.file_name = "door".into();
        s.ftp.alarm.pre_alarm = ImageSeries {
            interval_ms: 500,
            images: 3,
        };
        s.ftp.alarm.post_alarm = ImageSeries {
            interval_ms: 1000,
            images: 4,
        };
        s
    }

    #[tokio::test(start_paused = true)]
    async fn alarm_images_follow_pre_and_post_counts() {
        let (hub, sink, engine, _log) = setup(ftp_settings());
        // Let the pre-alarm ring fill (more than 3 samples: the ring keeps only the last 3).
        tokio::time::sleep(Duration::from_secs(5)).await;
        hub.command().unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(engine.post_series_running());
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!engine.post_series_running());
        let up = lock(&sink.0).clone();
        let names: Vec<&str> = up.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(up.len(), 7, "{names:?}");
        assert!(up.iter().all(|u| u.directory == "cams/door"));
        for (i, n) in names[..3].iter().enumerate() {
            assert!(
                n.starts_with("door_") && n.ends_with(&format!("_command_pre{:03}.jpg", i + 1)),
                "{n}"
            );
        }
        for (i, n) in names[3..].iter().enumerate() {
            assert!(
                n.ends_with(&format!("_command_post{:03}.jpg", i + 1)),
                "{n}"
            );
        }
        // Pre images are the newest in the ring, in order (later samples have higher numbers).
        let nums: Vec<u32> = up[..3]
            .iter()
            .map(|u| {
                String::from_utf8_lossy(&u.data)
                    .rsplit('#')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert!(
            nums.windows(2).all(|w| w[1] == w[0] + 1) && nums[0] >= 5,
            "{nums:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn alarm_during_series_extends_it() {
        let mut s = ftp_settings();
        s.ftp.alarm.pre_alarm.images = 0;
        let (hub, sink, _engine, log) = setup(s);
        hub.command().unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        hub.command().unwrap();
        tokio::time::sleep(Duration::from_secs(20)).await;
        // 3 images before the second alarm restarted the count of 4.
        assert_eq!(lock(&sink.0).len(), 7);
        assert_eq!(log.of_kind("ftp.alarm_extended").len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn untriggered_or_disabled_actions_do_nothing() {
        let mut s = ftp_settings();
        s.ftp.alarm.alarms = vec![Trigger::Vmd];
        s.smtp.enabled = false;
        s.smtp.destinations = vec![camward_config::smtp::Destination {
            address: "a@b.c".into(),
            alarms: vec![Trigger::Command],
        }];
        let (hub, sink, engine, _log) = setup(s.clone());
        hub.command().unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(lock(&sink.0).is_empty());
        assert!(lock(&sink.1).is_empty());
        assert!(lock(&sink.2).is_empty());
        // Switching FTP off also stops the pre-alarm sampling (no snapshots wasted).
        s.ftp.enabled = false;
        engine.apply(s);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(lock(&engine.shared.pre_ring).images.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn mail_goes_to_destinations_whose_triggers_match() {
        let mut s = ActionSettings::default();
        s.alarm.command.enabled = true;
        s.smtp.enabled = true;
        s.smtp.security = SmtpSecurity::Tls;
        s.smtp.image_size = 3;
        s.smtp.destinations = vec![
            camward_config::smtp::Destination {
                address: "a@example.com".into(),
                alarms: vec![Trigger::Command],
            },
            camward_config::smtp::Destination {
                address: "b@example.com".into(),
                alarms: vec![Trigger::Vmd],
            },
            camward_config::smtp::Destination {
                address: "c@example.com".into(),
                alarms: vec![Trigger::Vmd, Trigger::Command],
            },
        ];
        let (hub, sink, _engine, _log) = setup(s);
        let e = hub.command().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mails = lock(&sink.1).clone();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].recipients, vec!["a@example.com", "c@example.com"]);
        assert_eq!(mails[0].event, e);
        assert_eq!(mails[0].image.as_deref(), Some(&b"jpeg s1 z3 #0"[..]));
    }

    #[tokio::test(start_paused = true)]
    async fn alarm_recording_uses_the_recorder_hook() {
        let mut s = ActionSettings::default();
        s.alarm.recording.enabled = true;
        s.alarm.recording.pre_seconds = 7;
        s.alarm.recording.post_seconds = 20;
        let (hub, sink, _engine, log) = setup(s);
        hub.raise(AlarmSource::Terminal(1));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(*lock(&sink.2), vec![(1, 7, 20)]);
        assert_eq!(log.of_kind("record.alarm").len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn periodic_images_use_configured_names() {
        let mut s = ActionSettings::default();
        s.ftp.enabled = true;
        s.ftp.periodic.enabled = true;
        s.ftp.periodic.interval_seconds = 2;
        s.ftp.periodic.file_name = "gate".into();
        s.ftp.periodic.directory = "periodic".into();
        let (_hub, sink, engine, _log) = setup(s.clone());
        tokio::time::sleep(Duration::from_millis(5500)).await;
        let up = lock(&sink.0).clone();
        // Ticks at 0, 2 and 4 s.
        assert_eq!(up.len(), 3, "{up:?}");
        assert!(up.iter().all(|u| u.directory == "periodic"
            && u.name.starts_with("gate_2")
            && u.name.ends_with(".jpg")
            && u.name.len() == "gate_YYYYMMDD_HHMMSS_mmm.jpg".len()));
        s.ftp.periodic.with_date_time = false;
        engine.apply(s);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(lock(&sink.0).last().unwrap().name, "gate.jpg");
    }

    #[test]
    fn pre_ring_is_bounded_by_count_and_bytes() {
        let mut r = PreRing::default();
        for _ in 0..10 {
            r.push(SystemTime::now(), Bytes::from(vec![0u8; 10]), 4);
        }
        assert_eq!(r.images.len(), 4);
        assert_eq!(r.bytes, 40);
        for _ in 0..10 {
            r.push(
                SystemTime::now(),
                Bytes::from(vec![0u8; MAX_PRE_RING_BYTES / 3]),
                60,
            );
        }
        assert!(r.bytes <= MAX_PRE_RING_BYTES);
        assert_eq!(r.take().len(), 3);
        assert_eq!(r.bytes, 0);
    }
}
