//! The media hub: owns Stream(1)/(2), runs one pipeline per enabled stream (source → encoder →
//! stage → frame bus), applies new settings without a restart, and serves snapshots and MJPEG.

use crate::bus::FrameBus;
use crate::encoder::{EncoderParams, H264Encoder};
use crate::error::{MediaError, SourceError};
use crate::file::FileSource;
use crate::frame::I420;
use crate::jpeg::{self, SnapshotDecoder};
use crate::stage::{AuStage, StageFactory};
use crate::testsrc::TestScene;
use crate::{avc, rtsp_pull, v4l2};
use bytes::Bytes;
use camward_config::{
    JpegConfig, JpegSize, JpegSizeConfig, RtspSource, Source, StreamConfig, StreamsConfig,
};
use camward_h264::{AccessUnit, NalType, StreamInfo};
use futures::Stream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Access units kept for decoding snapshots of pass-through streams: the current GOP, capped
/// so a source with endless GOPs cannot grow memory without bound.
const GOP_CACHE_MAX_AUS: usize = 300;
const GOP_CACHE_MAX_BYTES: usize = 8 << 20;
/// Restart back-off for a failing source: doubles up to the cap, resets after a long good run.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Locks ignoring poisoning: every critical section here leaves its data consistent, and a
/// panicked pipeline must not take snapshots or `apply` down with it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How a failing source is retried: waits start at `min` and double up to `max`, and a run that
/// lasted a minute starts again from `min`. With `jitter`, each wait is cut to a random point
/// between its half and its whole ("equal jitter"), so that many recorders pulling one camera
/// that comes back do not all call it at the same instant, and the wait never exceeds `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    pub min: Duration,
    pub max: Duration,
    pub jitter: bool,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            min: BACKOFF_MIN,
            max: BACKOFF_MAX,
            jitter: false,
        }
    }
}

/// The size of a JPEG made of a stream's picture: one of the configured JPEG(1)/(2)/(3) sizes
/// (scaled), or the picture as the stream carries it (a relayed camera's own size, which no
/// JPEG setting describes), at JPEG(1)'s quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotSize {
    Configured(JpegSize),
    AsSent,
}

impl From<JpegSize> for SnapshotSize {
    fn from(size: JpegSize) -> Self {
        SnapshotSize::Configured(size)
    }
}

/// What `Slot::snapshot` makes: a size from the settings, or the picture's own size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Scaled(JpegSizeConfig),
    AsSent { quality: u8 },
}

impl Reconnect {
    /// The wait before the next attempt, given the current back-off step and a random number.
    pub fn wait(&self, step: Duration, random: u64) -> Duration {
        if !self.jitter || step.is_zero() {
            return step;
        }
        let half = step / 2;
        let span = (step - half).as_micros().max(1) as u64;
        half + Duration::from_micros(random % span)
    }
}

/// A small xorshift generator for jitter: not for secrets, only to spread retries apart.
struct Jitter(u64);

impl Jitter {
    fn seeded(salt: u64) -> Jitter {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Jitter((nanos ^ salt.rotate_left(32)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// What the status API shows for one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStatus {
    pub enabled: bool,
    /// The stream description consumers see (`None` while off or starting).
    pub info: Option<(u32, u32, u32)>,
    pub frames_published: u64,
    /// Frames not produced because the encoder or source fell behind its pace.
    pub frames_dropped: u64,
    /// Pipeline (re)starts, including reconnects of a failing source.
    pub starts: u64,
    /// The latest source or encoder failure since the hub started. Kept after the pipeline
    /// recovers (a flapping source stays visible); `last_error_at` says when it happened.
    pub last_error: Option<String>,
    /// When `last_error` happened (wall clock).
    pub last_error_at: Option<SystemTime>,
}

/// Camera core of camward. Cheap to clone: clones share the same streams.
#[derive(Clone)]
pub struct MediaHub {
    inner: Arc<Inner>,
}

struct Inner {
    slots: [Arc<Slot>; 2],
    ctl: Mutex<Control>,
}

struct Control {
    source: Source,
    streams: StreamsConfig,
    jpeg: JpegConfig,
    stage: Option<StageFactory>,
    reconnect: Reconnect,
    runtime: Option<tokio::runtime::Handle>,
    tasks: [Option<JoinHandle<()>>; 2],
    capture: Option<Capture>,
}

/// One stream: its bus (which outlives pipelines) and what snapshots need.
struct Slot {
    n: u8,
    bus: Arc<FrameBus>,
    gate: Mutex<Gate>,
    snap: Mutex<SnapshotDecoder>,
    jpeg_cache: Mutex<Vec<(PictureId, JpegSizeConfig, Bytes)>>,
    published: AtomicU64,
    dropped: AtomicU64,
    starts: AtomicU64,
    /// The latest failure and when it happened.
    last_error: Mutex<Option<(String, SystemTime)>>,
    /// The one pipeline run allowed to publish, with its stage. Lock order: `live`, then `gate`.
    live: Mutex<Option<Live>>,
    /// Hands out run ids (a supervised stream starts a new run after each source failure).
    runs: AtomicU64,
}

/// The publishing run of a stream. Its lock is held while an access unit goes through the stage
/// onto the bus, and the run is taken out by whoever ends it (`Slot::supersede`, or the run's
/// `Sink` when its source stops): every access unit the stage saw was published, and the
/// run's end marker (with the stage's end-of-stream output) lands right after the run's last
/// frame, never after a frame of the next run. That is what lets a signature of the open GOP
/// cover exactly what went out, and a recorder cut its file exactly between two runs.
struct Live {
    run: u64,
    stage: Option<Box<dyn AuStage>>,
    /// pts and wall clock of the run's last published access unit.
    last: Option<(u64, SystemTime)>,
}

impl Live {
    /// The run's end marker: a picture-less access unit with the last frame's timing (not a key
    /// frame, so new subscribers never start on it), holding the stage's end-of-stream output,
    /// which may be nothing. Published for every run that published a frame, stage or not:
    /// consumers must learn where one run ends even when nothing is signed, because the next
    /// run may be signed (signing switched on) and a file mixing both fails verification.
    /// `None` when the run published nothing: there is nothing to end.
    fn into_end_marker(mut self) -> Option<AccessUnit> {
        let (pts90k, wallclock) = self.last?;
        let nals = self.stage.as_mut().map(|s| s.finish()).unwrap_or_default();
        Some(AccessUnit {
            pts90k,
            wallclock,
            key: false,
            nals,
        })
    }
}

/// Everything a publish touches, under one lock so that a superseded pipeline can never slip
/// a frame (or stale stream info) onto the bus after `apply` switched to a new one.
struct Gate {
    /// Bumped by every restart; a pipeline only publishes while its epoch is current.
    epoch: u64,
    last_pts: Option<u64>,
    gop_id: u64,
    gop: Vec<Arc<AccessUnit>>,
    gop_bytes: usize,
    raw: Option<Arc<I420>>,
    raw_version: u64,
}

/// Identifies one picture for the JPEG cache and for MJPEG's "anything new?" check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PictureId {
    epoch: u64,
    raw: bool,
    version: u64,
}

/// The shared V4L2 capture: one device open, both streams sample its latest picture.
struct Capture {
    key: (Source, v4l2::CaptureWish),
    latest: watch::Receiver<Option<Arc<I420>>>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl MediaHub {
    pub fn new(source: Source, streams: StreamsConfig, jpeg: JpegConfig) -> MediaHub {
        let slot = |n| {
            Arc::new(Slot {
                n,
                bus: Arc::new(FrameBus::default()),
                gate: Mutex::new(Gate {
                    epoch: 0,
                    last_pts: None,
                    gop_id: 0,
                    gop: Vec::new(),
                    gop_bytes: 0,
                    raw: None,
                    raw_version: 0,
                }),
                snap: Mutex::new(SnapshotDecoder::default()),
                jpeg_cache: Mutex::new(Vec::new()),
                published: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                starts: AtomicU64::new(0),
                last_error: Mutex::new(None),
                live: Mutex::new(None),
                runs: AtomicU64::new(0),
            })
        };
        MediaHub {
            inner: Arc::new(Inner {
                slots: [slot(1), slot(2)],
                ctl: Mutex::new(Control {
                    source,
                    streams,
                    jpeg,
                    stage: None,
                    reconnect: Reconnect::default(),
                    runtime: None,
                    tasks: [None, None],
                    capture: None,
                }),
            }),
        }
    }

    /// Installs the per-stream stage (e.g. media signing) applied to every access unit before
    /// it is published. Running pipelines restart so the stage sees a stream from its IDR.
    pub fn set_stage_factory(&self, factory: Option<StageFactory>) {
        let mut ctl = lock(&self.inner.ctl);
        ctl.stage = factory;
        if ctl.runtime.is_some() {
            self.reconcile(&mut ctl, vec![1, 2], false);
        }
    }

    /// Sets how failing sources are retried (from the next failure on).
    pub fn set_reconnect(&self, reconnect: Reconnect) {
        let mut ctl = lock(&self.inner.ctl);
        if ctl.reconnect != reconnect {
            ctl.reconnect = reconnect;
            if ctl.runtime.is_some() {
                self.reconcile(&mut ctl, vec![1, 2], false);
            }
        }
    }

    /// Builder form of [`set_stage_factory`](Self::set_stage_factory), before `start`.
    pub fn with_stage_factory(self, factory: StageFactory) -> MediaHub {
        self.set_stage_factory(Some(factory));
        self
    }

    /// Starts the pipelines of enabled streams. Must be called within a tokio runtime, which
    /// the hub keeps using for later `apply` calls.
    pub fn start(&self) -> Result<(), MediaError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| MediaError::NoRuntime)?;
        let mut ctl = lock(&self.inner.ctl);
        if ctl.runtime.is_some() {
            return Ok(());
        }
        ctl.runtime = Some(handle);
        self.reconcile(&mut ctl, vec![1, 2], false);
        Ok(())
    }

    /// Stops every pipeline; the buses stay (their subscribers see no more frames).
    pub fn stop(&self) {
        let mut ctl = lock(&self.inner.ctl);
        for n in 1..=2u8 {
            if let Some(t) = ctl.tasks[n as usize - 1].take() {
                t.abort();
            }
            self.inner.slots[n as usize - 1].supersede(true);
        }
        if let Some(c) = ctl.capture.take() {
            c.shutdown();
        }
        ctl.runtime = None;
    }

    /// The frame bus of stream `n` (1 or 2). The same bus for the hub's whole life.
    pub fn stream(&self, n: u8) -> Option<Arc<FrameBus>> {
        self.slot(n).map(|s| s.bus.clone())
    }

    /// Applies new settings without a restart: only streams whose encoder settings or source
    /// changed restart (on the same bus, from a key frame); JPEG settings apply at once.
    pub fn apply(&self, source: Source, streams: StreamsConfig, jpeg: JpegConfig) {
        let mut ctl = lock(&self.inner.ctl);
        let source_changed = ctl.source != source;
        let changed: Vec<u8> = (1..=2u8)
            .filter(|&n| {
                source_changed
                    || ctl
                        .streams
                        .get(n)
                        .expect("1 or 2")
                        .encoder_differs(streams.get(n).expect("1 or 2"))
            })
            .collect();
        ctl.source = source;
        ctl.streams = streams;
        ctl.jpeg = jpeg;
        if ctl.runtime.is_none() {
            return;
        }
        self.reconcile(&mut ctl, changed, source_changed);
    }

    /// Current settings (as last applied).
    pub fn settings(&self) -> (Source, StreamsConfig, JpegConfig) {
        let ctl = lock(&self.inner.ctl);
        (ctl.source.clone(), ctl.streams.clone(), ctl.jpeg.clone())
    }

    pub fn status(&self, n: u8) -> Option<StreamStatus> {
        let slot = self.slot(n)?;
        let enabled = lock(&self.inner.ctl).streams.get(n)?.enabled;
        let last = lock(&slot.last_error).clone();
        Some(StreamStatus {
            enabled,
            info: slot.bus.info().map(|i| (i.width, i.height, i.fps)),
            frames_published: slot.published.load(Ordering::Relaxed),
            frames_dropped: slot.dropped.load(Ordering::Relaxed),
            starts: slot.starts.load(Ordering::Relaxed),
            last_error: last.as_ref().map(|(e, _)| e.clone()),
            last_error_at: last.map(|(_, t)| t),
        })
    }

    /// The latest picture of stream `n` as a JPEG of the configured JPEG(1)/(2)/(3) size and
    /// quality. Cheap when nothing changed since the last call (cached per size).
    pub async fn snapshot_jpeg(
        &self,
        stream: u8,
        size: impl Into<SnapshotSize>,
    ) -> Result<Bytes, MediaError> {
        self.snapshot_with_id(stream, size.into())
            .await
            .map(|(_, j)| j)
    }

    /// The latest raw picture of stream `n` (the source's, or decoded from the stream), for
    /// analysis such as motion detection: its luma plane is `pic.y()`.
    pub async fn latest_picture(&self, stream: u8) -> Result<Arc<I420>, MediaError> {
        let slot = self.live_slot(stream)?;
        // Decoding may take milliseconds: off the async threads.
        tokio::task::spawn_blocking(move || slot.latest_picture().map(|(_, p)| p))
            .await
            .unwrap_or(Err(MediaError::Shutdown))
    }

    /// JPEG frames of stream `n` at most `fps` per second (1–30), only when the picture changed.
    /// Ends when the stream is switched off or the hub stops. Nothing is buffered: a slow
    /// client simply receives fewer frames. Call within a tokio runtime (it creates a timer).
    pub fn mjpeg(
        &self,
        stream: u8,
        size: impl Into<SnapshotSize>,
        fps: u32,
    ) -> impl Stream<Item = Bytes> + Send + 'static {
        let size = size.into();
        let hub = self.clone();
        let mut tick =
            tokio::time::interval(Duration::from_secs_f64(1.0 / fps.clamp(1, 30) as f64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let state = (hub, tick, None::<PictureId>);
        futures::stream::unfold(state, move |(hub, mut tick, mut last)| async move {
            loop {
                tick.tick().await;
                match hub.snapshot_with_id(stream, size).await {
                    Ok((id, jpg)) if Some(id) != last => {
                        last = Some(id);
                        return Some((jpg, (hub, tick, last)));
                    }
                    Ok(_) | Err(MediaError::NotReady(..)) | Err(MediaError::Decode { .. }) => {
                        continue;
                    }
                    Err(_) => return None,
                }
            }
        })
    }

    /// Stream `n`'s slot, provided the hub runs and the stream is switched on.
    fn live_slot(&self, stream: u8) -> Result<Arc<Slot>, MediaError> {
        let slot = self
            .slot(stream)
            .ok_or(MediaError::NoSuchStream(stream))?
            .clone();
        let ctl = lock(&self.inner.ctl);
        if ctl.runtime.is_none() {
            return Err(MediaError::Shutdown);
        }
        if !ctl.streams.get(stream).is_some_and(|s| s.enabled) {
            return Err(MediaError::StreamOff(stream));
        }
        Ok(slot)
    }

    fn slot(&self, n: u8) -> Option<&Arc<Slot>> {
        match n {
            1 | 2 => Some(&self.inner.slots[n as usize - 1]),
            _ => None,
        }
    }

    async fn snapshot_with_id(
        &self,
        stream: u8,
        size: SnapshotSize,
    ) -> Result<(PictureId, Bytes), MediaError> {
        let slot = self.live_slot(stream)?;
        let want = {
            let ctl = lock(&self.inner.ctl);
            match size {
                SnapshotSize::Configured(size) => Want::Scaled(*ctl.jpeg.get(size)),
                SnapshotSize::AsSent => Want::AsSent {
                    quality: ctl.jpeg.get(JpegSize::One).quality,
                },
            }
        };
        // Decoding and JPEG encoding take milliseconds to tens of them: off the async threads.
        tokio::task::spawn_blocking(move || slot.snapshot(want))
            .await
            .unwrap_or(Err(MediaError::Shutdown))
    }

    /// (Re)starts stream `n` under a new epoch, or stops it when disabled. `new_source`: the
    /// old stream description is certainly wrong, so it is withdrawn until the new source's.
    fn restart(&self, ctl: &mut Control, n: u8, new_source: bool) {
        let i = n as usize - 1;
        if let Some(t) = ctl.tasks[i].take() {
            t.abort();
        }
        let slot = self.inner.slots[i].clone();
        let cfg = ctl.streams.get(n).expect("1 or 2").clone();
        let epoch = slot.supersede(!cfg.enabled || new_source);
        let Some(rt) = ctl.runtime.clone() else {
            return;
        };
        if !cfg.enabled {
            return;
        }
        let spec = Spec {
            n,
            source: ctl.source.clone(),
            cfg,
            stage: ctl.stage.clone(),
            capture: ctl.capture.as_ref().map(|c| c.latest.clone()),
            reconnect: ctl.reconnect,
        };
        ctl.tasks[i] = Some(rt.spawn(supervise(slot, spec, epoch)));
    }

    /// Restarts the given streams, and both when the shared capture had to change (their
    /// pipelines hold the capture's receiver).
    fn reconcile(&self, ctl: &mut Control, mut streams: Vec<u8>, new_source: bool) {
        if self.sync_capture(ctl) {
            streams = vec![1, 2];
        }
        for n in streams {
            self.restart(ctl, n, new_source);
        }
    }

    /// Keeps the shared V4L2 capture running exactly when the source is a camera and a stream
    /// is on, at the largest enabled size. True when it changed.
    fn sync_capture(&self, ctl: &mut Control) -> bool {
        let want = match (&ctl.source, &ctl.runtime) {
            (Source::V4l2(_), Some(_)) => {
                let on: Vec<&StreamConfig> = [&ctl.streams.stream1, &ctl.streams.stream2]
                    .into_iter()
                    .filter(|s| s.enabled)
                    .collect();
                on.iter()
                    .max_by_key(|s| s.width * s.height)
                    .map(|big| v4l2::CaptureWish {
                        width: big.width,
                        height: big.height,
                        fps: on.iter().map(|s| s.fps).max().unwrap_or(15),
                    })
            }
            _ => None,
        };
        let key = want.map(|w| (ctl.source.clone(), w));
        if ctl.capture.as_ref().map(|c| &c.key) == key.as_ref() {
            return false;
        }
        if let Some(c) = ctl.capture.take() {
            c.shutdown();
        }
        if let (Some((Source::V4l2(path), wish)), Some(rt)) = (key, ctl.runtime.clone()) {
            let (tx, rx) = watch::channel(None);
            let stop = Arc::new(AtomicBool::new(false));
            let task = rt.spawn(run_capture(
                path.clone(),
                wish,
                tx,
                stop.clone(),
                self.inner.slots.clone(),
            ));
            ctl.capture = Some(Capture {
                key: (Source::V4l2(path), wish),
                latest: rx,
                stop,
                task,
            });
        }
        true
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let ctl = self.ctl.get_mut().unwrap_or_else(|e| e.into_inner());
        for t in ctl.tasks.iter_mut().filter_map(Option::take) {
            t.abort();
        }
        if let Some(c) = ctl.capture.take() {
            c.shutdown();
        }
        for s in &self.slots {
            s.supersede(true);
        }
    }
}

impl Capture {
    fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.abort();
    }
}

impl Slot {
    /// Invalidates the running pipeline: publishes its end marker (with its stage's
    /// end-of-stream output), bumps the epoch and forgets its pictures. The stream description is cleared only when the stream
    /// goes off: a restarted pipeline replaces it from its first key frame, and consumers must
    /// not mistake a settings change for "off".
    fn supersede(&self, off: bool) -> u64 {
        // Held until the epoch has moved on: the old run can publish nothing after its marker,
        // and the new run (installed only under the new epoch) nothing before it. Done here
        // rather than when the old worker notices, so the marker is on the bus when `stop` or
        // `apply` returns (the daemon stops the hub before the recorder closes its files).
        let mut live = lock(&self.live);
        let marker = live.take().and_then(Live::into_end_marker);
        let mut g = lock(&self.gate);
        if let Some(m) = marker {
            self.bus.publish(Arc::new(m));
        }
        g.epoch += 1;
        g.gop_id += 1;
        g.gop.clear();
        g.gop_bytes = 0;
        g.raw = None;
        if off {
            self.bus.set_info(None);
        }
        g.epoch
    }

    fn record_error(&self, e: &SourceError) {
        tracing::warn!(stream = self.n, error = %e, "media pipeline failed; retrying");
        *lock(&self.last_error) = Some((e.to_string(), SystemTime::now()));
    }

    /// Blocking: the latest picture, scaled and JPEG-encoded (or from the cache).
    fn snapshot(&self, want: Want) -> Result<(PictureId, Bytes), MediaError> {
        let (id, pic) = self.latest_picture()?;
        let jcfg = match want {
            Want::Scaled(jcfg) => jcfg,
            Want::AsSent { quality } => JpegSizeConfig {
                width: pic.width,
                height: pic.height,
                quality,
            },
        };
        if let Some((_, _, jpg)) = lock(&self.jpeg_cache)
            .iter()
            .find(|(i, c, _)| *i == id && *c == jcfg)
        {
            return Ok((id, jpg.clone()));
        }
        let scaled = pic.scaled(jcfg.width & !1, jcfg.height & !1);
        let jpg = Bytes::from(
            jpeg::encode(&scaled, jcfg.encoder_quality()).map_err(|source| MediaError::Jpeg {
                stream: self.n,
                source,
            })?,
        );
        let mut cache = lock(&self.jpeg_cache);
        // One entry per JPEG size is enough: older pictures are never asked for again.
        cache.retain(|(i, c, _)| *i == id && *c != jcfg);
        cache.push((id, jcfg, jpg.clone()));
        Ok((id, jpg))
    }

    fn latest_picture(&self) -> Result<(PictureId, Arc<I420>), MediaError> {
        let (epoch, raw, gop_id, gop) = {
            let g = lock(&self.gate);
            let raw = g.raw.clone().map(|r| (g.raw_version, r));
            let gop = if raw.is_none() {
                g.gop.clone()
            } else {
                Vec::new()
            };
            (g.epoch, raw, g.gop_id, gop)
        };
        if let Some((version, pic)) = raw {
            return Ok((
                PictureId {
                    epoch,
                    raw: true,
                    version,
                },
                pic,
            ));
        }
        if gop.is_empty() {
            let why = lock(&self.last_error)
                .clone()
                .map(|(e, _)| e)
                .unwrap_or_else(|| "no error reported".into());
            return Err(MediaError::NotReady(self.n, why));
        }
        // gop_id is unique per slot over time, so it also tells the decoder about restarts.
        let mut snap = lock(&self.snap);
        match snap.update(gop_id, &gop) {
            Ok(Some((version, pic))) => Ok((
                PictureId {
                    epoch,
                    raw: false,
                    version,
                },
                pic,
            )),
            Ok(None) => Err(MediaError::NotReady(
                self.n,
                "decoder has no picture yet".into(),
            )),
            Err(source) => Err(MediaError::Decode {
                stream: self.n,
                source,
            }),
        }
    }
}

/// Everything one pipeline run needs.
#[derive(Clone)]
struct Spec {
    n: u8,
    source: Source,
    cfg: StreamConfig,
    stage: Option<StageFactory>,
    capture: Option<watch::Receiver<Option<Arc<I420>>>>,
    reconnect: Reconnect,
}

/// Runs a stream until superseded: restarts its source with back-off after failures.
async fn supervise(slot: Arc<Slot>, spec: Spec, epoch: u64) {
    let policy = spec.reconnect;
    let mut jitter = Jitter::seeded(Arc::as_ptr(&slot) as u64 ^ epoch);
    let mut backoff = policy.min;
    loop {
        let began = Instant::now();
        slot.starts.fetch_add(1, Ordering::Relaxed);
        let sink = Sink::new(slot.clone(), epoch, &spec);
        let result = match &spec.source {
            Source::TestSrc | Source::V4l2(_) => run_raw(&spec, sink).await,
            Source::File(path) => run_file(&spec, path.clone(), sink).await,
            Source::Rtsp(src) => run_rtsp(src, sink).await,
        };
        match result {
            Ok(()) => return, // superseded by a newer pipeline
            Err(e) => slot.record_error(&e),
        }
        if began.elapsed() > Duration::from_secs(60) {
            backoff = policy.min;
        }
        tokio::time::sleep(policy.wait(backoff, jitter.next())).await;
        backoff = (backoff * 2).min(policy.max);
    }
}

/// The end of every pipeline: stage, stream description, bus, snapshot material.
/// Source NAL units held for the next picture at most (see [`StrayNals`]).
const MAX_STRAY_NALS: usize = 64;

/// NAL units a source sent in a unit without a picture (a relayed camera's lone SEI — maybe its
/// own media signature — or parameter sets). They join the next picture, before its first slice.
#[derive(Default)]
struct StrayNals(Vec<Bytes>);

impl StrayNals {
    /// `None` when `au` had no picture (its NAL units are held); else `au` with any held units.
    fn hold_or_attach(&mut self, mut au: AccessUnit) -> Option<AccessUnit> {
        if !au.has_picture() {
            // Bounded: a source sending only such units cannot grow it without limit.
            if self.0.len() + au.nals.len() <= MAX_STRAY_NALS {
                self.0.extend(au.nals);
            }
            return None;
        }
        if !self.0.is_empty() {
            let at = au
                .nals
                .iter()
                .position(|n| camward_h264::NalType::of(n).is_slice())
                .unwrap_or(au.nals.len());
            au.nals.splice(at..at, self.0.drain(..));
        }
        Some(au)
    }
}

struct Sink {
    slot: Arc<Slot>,
    epoch: u64,
    /// This run's id; its stage lives in `slot.live` while the run may publish.
    run: u64,
    /// Nominal rate for `StreamInfo` when the source knows it; else from the SPS or settings.
    fps: Option<u32>,
    fallback_fps: u32,
    /// Shifts this run's times to continue after the previous run's, so consumers never see
    /// presentation time go back when a pipeline restarts on the same bus.
    pts_shift: Option<u64>,
    /// A source's picture-less units, held for the next picture.
    stray: StrayNals,
}

impl Sink {
    fn new(slot: Arc<Slot>, epoch: u64, spec: &Spec) -> Sink {
        let stage = spec.stage.as_ref().map(|f| f(spec.n));
        let run = slot.runs.fetch_add(1, Ordering::Relaxed) + 1;
        {
            let mut live = lock(&slot.live);
            let g = lock(&slot.gate);
            // A superseded epoch's run never becomes live: its `deliver` finds no stage of its
            // own and reports itself superseded.
            if g.epoch == epoch {
                let previous = live.replace(Live {
                    run,
                    stage,
                    last: None,
                });
                // Normally the previous run's sink ended it already; if not, its source is gone
                // (this run replaces it), so it ends here, still ahead of this run's frames.
                if let Some(m) = previous.and_then(Live::into_end_marker) {
                    slot.bus.publish(Arc::new(m));
                }
            }
        }
        Sink {
            slot,
            epoch,
            run,
            fps: None,
            fallback_fps: spec.cfg.fps,
            pts_shift: None,
            stray: StrayNals::default(),
        }
    }

    /// Publishes one access unit. `false` once this pipeline has been superseded.
    fn deliver(&mut self, au: AccessUnit, raw: Option<Arc<I420>>) -> bool {
        // Not the gate: snapshots take that one and must not wait for the stage. Only
        // `supersede` and the next run wait on this lock, for at most one stage call.
        let slot = self.slot.clone();
        let mut live = lock(&slot.live);
        let Some(live) = live.as_mut().filter(|l| l.run == self.run) else {
            return false;
        };
        // On the bus a unit without a picture means "a run ended here" (consumers close files
        // on it); a source's stray one must not pass for that, nor be lost.
        let Some(mut au) = self.stray.hold_or_attach(au) else {
            return true;
        };
        let shift = match self.pts_shift {
            Some(s) => s,
            None => {
                let g = lock(&self.slot.gate);
                if g.epoch != self.epoch {
                    return false;
                }
                let frame = 90_000 / self.fps.unwrap_or(self.fallback_fps).max(1) as u64;
                let floor = g.last_pts.map_or(0, |p| p + frame);
                let s = floor.saturating_sub(au.pts90k);
                self.pts_shift = Some(s);
                s
            }
        };
        au.pts90k += shift;
        // The stage runs outside the gate lock: signing may take a moment and snapshots must
        // not wait.
        if let Some(stage) = live.stage.as_mut() {
            stage.process(&mut au);
        }
        let info = if au.key { self.info_for(&au) } else { None };
        let au = Arc::new(au);
        let mut g = lock(&self.slot.gate);
        // Cannot differ while this run is live (superseding takes `live` first); kept so a
        // future change there cannot put a stale frame on the bus.
        if g.epoch != self.epoch {
            return false;
        }
        if let Some(info) = info {
            self.slot.bus.set_info(Some(info));
        }
        if au.key {
            g.gop_id += 1;
            g.gop.clear();
            g.gop_bytes = 0;
        }
        let size = au.len();
        // Pictures made here are kept raw for snapshots; only relayed streams need the GOP.
        let keep = raw.is_none() && g.gop.len() < GOP_CACHE_MAX_AUS;
        if keep && g.gop_bytes + size <= GOP_CACHE_MAX_BYTES {
            g.gop.push(au.clone());
            g.gop_bytes += size;
        }
        if let Some(pic) = raw {
            g.raw = Some(pic);
            g.raw_version += 1;
        }
        g.last_pts = Some(g.last_pts.map_or(au.pts90k, |p| p.max(au.pts90k)));
        live.last = Some((au.pts90k, au.wallclock));
        self.slot.bus.publish(au);
        drop(g);
        self.slot.published.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// A new stream description when this key frame's parameter sets differ from the bus's.
    fn info_for(&self, au: &AccessUnit) -> Option<StreamInfo> {
        let sps = au.nals.iter().find(|n| NalType::of(n) == NalType::Sps)?;
        let pps = au.nals.iter().find(|n| NalType::of(n) == NalType::Pps)?;
        let current = self.slot.bus.info();
        if current
            .as_ref()
            .is_some_and(|c| c.sps == *sps && c.pps == *pps)
        {
            return None;
        }
        let parsed = camward_h264::sps::parse(sps)?;
        let fps = self
            .fps
            .or_else(|| avc::sps_frame_rate(sps).map(|f| f.round() as u32))
            .unwrap_or(self.fallback_fps)
            .max(1);
        Some(StreamInfo {
            width: parsed.width,
            height: parsed.height,
            fps,
            sps: sps.clone(),
            pps: pps.clone(),
        })
    }
}

impl Drop for Sink {
    /// A run whose source stopped by itself (failure, end, worker gone) ends here and publishes
    /// its end marker; a superseded run was ended by `supersede` already.
    fn drop(&mut self) {
        let mut live = lock(&self.slot.live);
        let Some(mut ended) = live.take_if(|l| l.run == self.run) else {
            return;
        };
        // After a panic (possibly inside the stage) its state is unknown: no signature at all
        // is better than one over frames that never went out. The run still ends on the bus.
        if std::thread::panicking() {
            ended.stage = None;
        }
        if let Some(m) = ended.into_end_marker() {
            let g = lock(&self.slot.gate);
            if g.epoch == self.epoch {
                self.slot.bus.publish(Arc::new(m));
            }
        }
    }
}

/// One beat of a paced pipeline.
struct Tick {
    n: u64,
    pts90k: u64,
    wall: SystemTime,
}

/// Paces a blocking worker with a tokio interval: the worker gets at most one pending tick, so
/// when it falls behind frames are dropped (and counted) instead of queueing up latency.
async fn pace(
    fps: f64,
    slot: &Slot,
    tx: SyncSender<Tick>,
    done: oneshot::Receiver<Result<bool, SourceError>>,
    what: &'static str,
) -> Result<(), SourceError> {
    let mut iv = tokio::time::interval(Duration::from_secs_f64(1.0 / fps.max(0.1)));
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut done = done;
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = iv.tick() => {
                let tick = Tick { n, pts90k: (n as f64 * 90_000.0 / fps).round() as u64, wall: SystemTime::now() };
                n += 1;
                match tx.try_send(tick) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => { slot.dropped.fetch_add(1, Ordering::Relaxed); }
                    Err(TrySendError::Disconnected(_)) => {
                        return match (&mut done).await {
                            Ok(Ok(_)) => Ok(()),
                            Ok(Err(e)) => Err(e),
                            Err(_) => Err(SourceError::ThreadGone(what)),
                        };
                    }
                }
            }
            r = &mut done => {
                return match r {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(SourceError::ThreadGone(what)),
                };
            }
        }
    }
}

/// Spawns the blocking half of a paced pipeline on its own named thread.
fn spawn_worker<F>(
    name: String,
    body: F,
) -> Result<oneshot::Receiver<Result<bool, SourceError>>, SourceError>
where
    F: FnOnce() -> Result<bool, SourceError> + Send + 'static,
{
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let _ = done_tx.send(body());
        })
        .map_err(SourceError::Spawn)?;
    Ok(done_rx)
}

/// testsrc and V4L2: pictures made or captured here, encoded here.
async fn run_raw(spec: &Spec, mut sink: Sink) -> Result<(), SourceError> {
    let cfg = spec.cfg.clone();
    let params = EncoderParams {
        width: cfg.width,
        height: cfg.height,
        fps: cfg.fps,
        bitrate_kbps: cfg.bitrate_kbps,
        gop: cfg.gop,
    };
    sink.fps = Some(cfg.fps);
    let capture = spec.capture.clone();
    let is_camera = matches!(spec.source, Source::V4l2(_));
    let slot = sink.slot.clone();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Tick>(1);
    let done = spawn_worker(format!("cw-enc{}", spec.n), move || {
        let mut enc = H264Encoder::new(params)?;
        let scene = (!is_camera).then(|| TestScene::new(cfg.width, cfg.height, cfg.fps));
        encode_loop(rx, &mut enc, &mut sink, |tick| match (&scene, &capture) {
            (Some(scene), _) => Some(scene.render(tick.n, tick.wall)),
            (None, Some(cap)) => {
                let latest = cap.borrow().clone()?;
                Some(latest.scaled(cfg.width, cfg.height))
            }
            (None, None) => None,
        })
    })?;
    pace(spec.cfg.fps as f64, &slot, tx, done, "encoder").await
}

/// The encoder thread's loop; `Ok(true)` when the pacer went away, `Ok(false)` when superseded.
fn encode_loop(
    rx: Receiver<Tick>,
    enc: &mut H264Encoder,
    sink: &mut Sink,
    mut picture: impl FnMut(&Tick) -> Option<I420>,
) -> Result<bool, SourceError> {
    while let Ok(tick) = rx.recv() {
        let Some(pic) = picture(&tick) else { continue };
        let pic = Arc::new(pic);
        let Some(coded) = enc.encode(&pic, tick.pts90k / 90)? else {
            continue;
        };
        let au = AccessUnit {
            pts90k: tick.pts90k,
            wallclock: tick.wall,
            key: coded.key,
            nals: coded.nals,
        };
        if !sink.deliver(au, Some(pic)) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// file: read on a blocking thread, paced at the file's frame rate.
async fn run_file(
    spec: &Spec,
    path: std::path::PathBuf,
    mut sink: Sink,
) -> Result<(), SourceError> {
    let fallback = spec.cfg.fps;
    let src = tokio::task::spawn_blocking(move || FileSource::open(&path, fallback))
        .await
        .map_err(|_| SourceError::ThreadGone("file open"))??;
    let fps = src.fps();
    sink.fps = Some(fps.round().max(1.0) as u32);
    let slot = sink.slot.clone();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Tick>(1);
    let done = spawn_worker(format!("cw-file{}", spec.n), move || {
        let mut src = src;
        while let Ok(tick) = rx.recv() {
            let f = src.next_frame()?;
            let au = AccessUnit {
                pts90k: f.pts90k,
                wallclock: tick.wall,
                key: f.key,
                nals: f.nals,
            };
            if !sink.deliver(au, None) {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    pace(fps, &slot, tx, done, "file reader").await
}

/// rtsp: frames arrive at the camera's pace; the stage runs on this task.
async fn run_rtsp(src: &RtspSource, mut sink: Sink) -> Result<(), SourceError> {
    let mut superseded = false;
    let r = rtsp_pull::pull(src, |f| {
        if superseded {
            return;
        }
        let au = AccessUnit {
            pts90k: f.pts90k,
            wallclock: SystemTime::now(),
            key: f.key,
            nals: f.nals,
        };
        superseded = !sink.deliver(au, None);
    });
    // pull() never ends by itself; being superseded ends it via abort, so any return is a failure.
    r.await.map_err(SourceError::from)
}

/// The shared V4L2 capture with its own retry loop; failures show on both streams' status.
async fn run_capture(
    path: std::path::PathBuf,
    wish: v4l2::CaptureWish,
    tx: watch::Sender<Option<Arc<I420>>>,
    stop: Arc<AtomicBool>,
    slots: [Arc<Slot>; 2],
) {
    let tx = Arc::new(tx);
    let mut backoff = BACKOFF_MIN;
    while !stop.load(Ordering::Relaxed) {
        let (p, t, s) = (path.clone(), tx.clone(), stop.clone());
        let r = tokio::task::spawn_blocking(move || v4l2::capture(&p, wish, &t, &s)).await;
        match r {
            Ok(Ok(())) => return,
            Ok(Err(e)) => {
                let e = SourceError::from(e);
                for s in &slots {
                    s.record_error(&e);
                }
            }
            Err(_) => return,
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use tokio::time::timeout;

    fn unit(nals: &[&'static [u8]]) -> AccessUnit {
        AccessUnit {
            pts90k: 0,
            wallclock: std::time::SystemTime::UNIX_EPOCH,
            key: false,
            nals: nals.iter().map(|n| Bytes::from_static(n)).collect(),
        }
    }

    #[test]
    fn reconnect_jitter_waits_between_half_and_whole_step_never_above_it() {
        let p = Reconnect {
            min: Duration::from_millis(250),
            max: Duration::from_secs(1),
            jitter: true,
        };
        let mut j = Jitter::seeded(7);
        let step = Duration::from_secs(1);
        let waits: Vec<Duration> = (0..200).map(|_| p.wait(step, j.next())).collect();
        assert!(
            waits.iter().all(|w| *w >= step / 2 && *w <= step),
            "{waits:?}"
        );
        // Spread out, not one value.
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 100, "{}", distinct.len());
        let fixed = Reconnect { jitter: false, ..p };
        assert_eq!(fixed.wait(step, j.next()), step);
    }

    #[test]
    fn a_sources_lone_sei_is_kept_for_the_next_picture_not_published_as_a_run_end() {
        const SEI: &[u8] = &[0x06, 0x05, 0x01, 0xaa, 0x80];
        const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];
        const SLICE: &[u8] = &[0x41, 0x9a, 0x00];
        let mut stray = StrayNals::default();
        assert!(stray.hold_or_attach(unit(&[SEI])).is_none());
        let au = stray
            .hold_or_attach(unit(&[PPS, SLICE]))
            .expect("a picture passes");
        assert_eq!(
            au.nals,
            vec![PPS, SEI, SLICE],
            "held units go before the first slice"
        );
        let au = stray.hold_or_attach(unit(&[SLICE])).unwrap();
        assert_eq!(au.nals, vec![SLICE], "held units are attached once");
        for _ in 0..(2 * MAX_STRAY_NALS) {
            assert!(stray.hold_or_attach(unit(&[SEI])).is_none());
        }
        let au = stray.hold_or_attach(unit(&[SLICE])).unwrap();
        assert_eq!(au.nals.len(), MAX_STRAY_NALS + 1, "held units are bounded");
    }

    fn streams(w: u32, h: u32, fps: u32) -> StreamsConfig {
        StreamsConfig {
            stream1: StreamConfig {
                enabled: true,
                width: w,
                height: h,
                fps,
                bitrate_kbps: 512,
                gop: 10,
                internet_mode: false,
            },
            stream2: StreamConfig {
                enabled: false,
                ..StreamConfig::default_stream2()
            },
        }
    }

    async fn next_key(sub: &mut crate::Subscriber) -> Arc<AccessUnit> {
        loop {
            let au = timeout(Duration::from_secs(10), sub.recv())
                .await
                .expect("frames keep coming")
                .expect("bus alive");
            if au.key {
                return au;
            }
        }
    }

    fn sps_size(au: &AccessUnit) -> (u32, u32) {
        let sps = au
            .nals
            .iter()
            .find(|n| NalType::of(n) == NalType::Sps)
            .expect("key frames carry SPS");
        let s = camward_h264::sps::parse(sps).unwrap();
        (s.width, s.height)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn apply_keeps_subscribers_and_changes_resolution() {
        let hub = MediaHub::new(
            Source::TestSrc,
            streams(320, 180, 30),
            JpegConfig::default(),
        );
        hub.start().unwrap();
        let bus = hub.stream(1).unwrap();
        let mut sub = bus.subscribe();
        let first = next_key(&mut sub).await;
        assert_eq!(sps_size(&first), (320, 180));
        assert_eq!(
            bus.info().map(|i| (i.width, i.height, i.fps)),
            Some((320, 180, 30))
        );
        let mut info_rx = bus.watch_info();

        hub.apply(
            Source::TestSrc,
            streams(640, 360, 30),
            JpegConfig::default(),
        );
        // Same subscriber, same bus: the next key frame has the new size, and time never goes back.
        let mut last_pts = first.pts90k;
        let changed = loop {
            let au = timeout(Duration::from_secs(10), sub.recv())
                .await
                .unwrap()
                .unwrap();
            if !au.has_picture() {
                // The old run's end marker, timed like its last frame.
                assert_eq!(au.pts90k, last_pts);
                continue;
            }
            assert!(
                au.pts90k > last_pts,
                "pts went back: {} after {last_pts}",
                au.pts90k
            );
            last_pts = au.pts90k;
            if au.key && sps_size(&au) == (640, 360) {
                break au;
            }
        };
        assert!(changed.key);
        timeout(
            Duration::from_secs(5),
            info_rx.wait_for(|i| i.as_ref().is_some_and(|i| i.width == 640)),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(Arc::ptr_eq(&bus, &hub.stream(1).unwrap()));
        // After the switch, no frame of the old pipeline shows up.
        for _ in 0..10 {
            let au = timeout(Duration::from_secs(5), sub.recv())
                .await
                .unwrap()
                .unwrap();
            if au.key {
                assert_eq!(sps_size(&au), (640, 360));
            }
        }
        hub.stop();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn disabling_a_stream_clears_its_info_and_enabling_restarts_it() {
        let hub = MediaHub::new(
            Source::TestSrc,
            streams(320, 180, 30),
            JpegConfig::default(),
        );
        hub.start().unwrap();
        let bus = hub.stream(1).unwrap();
        let mut info = bus.watch_info();
        timeout(Duration::from_secs(10), info.wait_for(|i| i.is_some()))
            .await
            .unwrap()
            .unwrap();
        let mut off = streams(320, 180, 30);
        off.stream1.enabled = false;
        hub.apply(Source::TestSrc, off.clone(), JpegConfig::default());
        assert!(bus.info().is_none(), "a disabled stream has no description");
        assert!(matches!(
            hub.snapshot_jpeg(1, JpegSize::Three).await,
            Err(MediaError::StreamOff(1))
        ));
        assert!(hub.stream(3).is_none() && hub.stream(0).is_none());
        // Internet mode is for the RTSP server: toggling it must not restart anything.
        let mut on = streams(320, 180, 30);
        hub.apply(Source::TestSrc, on.clone(), JpegConfig::default());
        timeout(Duration::from_secs(10), info.wait_for(|i| i.is_some()))
            .await
            .unwrap()
            .unwrap();
        let starts = hub.status(1).unwrap().starts;
        on.stream1.internet_mode = true;
        hub.apply(Source::TestSrc, on, JpegConfig::default());
        assert_eq!(hub.status(1).unwrap().starts, starts);
        hub.stop();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshot_decodes_as_jpeg_of_configured_size_or_as_sent() {
        let jpeg = JpegConfig {
            jpeg2: JpegSizeConfig {
                width: 320,
                height: 180,
                quality: 0,
            },
            ..JpegConfig::default()
        };
        let hub = MediaHub::new(Source::TestSrc, streams(640, 360, 30), jpeg);
        hub.start().unwrap();
        let bus = hub.stream(1).unwrap();
        timeout(
            Duration::from_secs(10),
            bus.watch_info().wait_for(|i| i.is_some()),
        )
        .await
        .unwrap()
        .unwrap();
        for (size, want) in [
            (JpegSize::One, (1280, 720)),
            (JpegSize::Two, (320, 180)),
            (JpegSize::Three, (320, 180)),
        ] {
            let jpg = hub.snapshot_jpeg(1, size).await.unwrap();
            let img = image::load_from_memory_with_format(&jpg, image::ImageFormat::Jpeg).unwrap();
            assert_eq!((img.width(), img.height()), want, "{size:?}");
        }
        // A relayed camera's view: the picture as the stream carries it, whatever the settings.
        let jpg = hub.snapshot_jpeg(1, SnapshotSize::AsSent).await.unwrap();
        let img = image::load_from_memory_with_format(&jpg, image::ImageFormat::Jpeg).unwrap();
        assert_eq!((img.width(), img.height()), (640, 360));
        hub.stop();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stage_processes_every_access_unit_before_publish() {
        let calls = Arc::new(AtomicU64::new(0));
        let c = calls.clone();
        let factory: StageFactory = Arc::new(move |n| {
            let c = c.clone();
            let mut seq = 0u8;
            Box::new(move |au: &mut AccessUnit| {
                c.fetch_add(1, Ordering::Relaxed);
                seq = seq.wrapping_add(1);
                // An SEI marks the frame, as media signing will.
                au.nals.push(Bytes::from(vec![0x06, 0x05, n, seq, 0x80]));
            }) as Box<dyn AuStage>
        });
        let hub = MediaHub::new(
            Source::TestSrc,
            streams(320, 180, 30),
            JpegConfig::default(),
        )
        .with_stage_factory(factory);
        hub.start().unwrap();
        let mut sub = hub.stream(1).unwrap().subscribe();
        for _ in 0..5 {
            let au = timeout(Duration::from_secs(10), sub.recv())
                .await
                .unwrap()
                .unwrap();
            let sei = au.nals.last().unwrap();
            assert_eq!(
                (sei[0], sei[2]),
                (0x06, 1),
                "stage output is what consumers receive"
            );
        }
        assert!(calls.load(Ordering::Relaxed) >= 5);
        hub.stop();
    }

    /// Tags every frame with (run, sequence) in an SEI; its end-of-stream output names the
    /// run and the last sequence number it processed.
    struct Tagging {
        run: u8,
        seq: u16,
    }

    impl AuStage for Tagging {
        fn process(&mut self, au: &mut AccessUnit) {
            self.seq = self.seq.wrapping_add(1);
            let [hi, lo] = self.seq.to_be_bytes();
            au.nals
                .push(Bytes::from(vec![0x06, 0x05, self.run, hi, lo, 0x80]));
        }
        fn finish(&mut self) -> Vec<Bytes> {
            let [hi, lo] = self.seq.to_be_bytes();
            vec![Bytes::from(vec![0x06, 0x05, 0xee, self.run, hi, lo, 0x80])]
        }
    }

    /// (run, seq) of a tagged frame, or of a trailer.
    fn tag(au: &AccessUnit) -> (u8, u16) {
        let t = au.nals.last().expect("tagged");
        let t = if t[2] == 0xee { &t[1..] } else { &t[..] };
        (t[2], u16::from_be_bytes([t[3], t[4]]))
    }

    /// Reads up to the next picture-less unit, `last` being the frame received before; returns
    /// it and the frame before it.
    async fn until_trailer(
        sub: &mut crate::Subscriber,
        mut last: Arc<AccessUnit>,
    ) -> (Arc<AccessUnit>, Arc<AccessUnit>) {
        for _ in 0..300 {
            let au = timeout(Duration::from_secs(10), sub.recv())
                .await
                .expect("frames keep coming")
                .expect("bus alive");
            if !au.has_picture() {
                return (au, last);
            }
            last = au;
        }
        panic!("no trailer within 300 access units");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stage_finish_output_follows_the_last_frame_when_the_pipeline_restarts_or_stops() {
        let runs = Arc::new(AtomicU64::new(0));
        let r = runs.clone();
        let factory: StageFactory = Arc::new(move |_| {
            let run = r.fetch_add(1, Ordering::Relaxed) as u8 + 1;
            Box::new(Tagging { run, seq: 0 }) as Box<dyn AuStage>
        });
        let hub = MediaHub::new(
            Source::TestSrc,
            streams(320, 180, 30),
            JpegConfig::default(),
        )
        .with_stage_factory(factory);
        hub.start().unwrap();
        let mut sub = hub.stream(1).unwrap().subscribe();
        let mut seen = next_key(&mut sub).await;
        for _ in 0..4 {
            seen = next_key(&mut sub).await;
        }

        // A settings change restarts the pipeline: the old stage's output is on the bus when
        // `apply` returns, right after the old run's last frame and before the new run's IDR.
        let mut bigger = streams(320, 180, 30);
        bigger.stream1.bitrate_kbps = 768;
        hub.apply(Source::TestSrc, bigger, JpegConfig::default());
        let (trailer, last) = until_trailer(&mut sub, seen).await;
        assert_eq!(
            tag(&trailer),
            tag(&last),
            "signs exactly what was published"
        );
        assert_eq!(tag(&trailer).0, 1);
        assert_eq!(trailer.pts90k, last.pts90k, "the last frame's time");
        assert!(!trailer.key && trailer.nals.len() == 1);
        let first = timeout(Duration::from_secs(10), sub.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(
            first.key && tag(&first) == (2, 1),
            "the new run starts at its IDR"
        );
        assert!(first.pts90k > trailer.pts90k);

        // Stopping the hub ends the running pipeline the same way.
        let mut seen = first;
        for _ in 0..3 {
            seen = next_key(&mut sub).await;
        }
        hub.stop();
        let (trailer, last) = until_trailer(&mut sub, seen).await;
        assert_eq!(tag(&trailer), tag(&last));
        assert_eq!(tag(&trailer).0, 2);
        assert_eq!(trailer.pts90k, last.pts90k);
        assert_eq!(
            hub.status(1).unwrap().starts,
            2,
            "no restart besides the settings change"
        );
    }

    /// What the bus shows around the end of a run.
    struct RunEnd {
        /// The ended run's last frame, its end marker, the next run's first frame.
        last: Arc<AccessUnit>,
        marker: Arc<AccessUnit>,
        first: Arc<AccessUnit>,
        /// The latest frame read (a few frames into the next run).
        latest: Arc<AccessUnit>,
    }

    async fn recv1(sub: &mut crate::Subscriber) -> Arc<AccessUnit> {
        timeout(Duration::from_secs(10), sub.recv())
            .await
            .expect("frames keep coming")
            .expect("bus alive")
    }

    /// Reads past the next end marker, `last` being the frame received before, and `more`
    /// frames into the next run.
    async fn past_run_end(
        sub: &mut crate::Subscriber,
        mut last: Arc<AccessUnit>,
        more: usize,
    ) -> RunEnd {
        for _ in 0..300 {
            let au = recv1(sub).await;
            if au.has_picture() {
                last = au;
                continue;
            }
            let first = recv1(sub).await;
            let mut latest = first.clone();
            for _ in 0..more {
                latest = recv1(sub).await;
            }
            return RunEnd {
                last,
                marker: au,
                first,
                latest,
            };
        }
        panic!("no end marker within 300 access units");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipeline_end_without_a_stage_still_publishes_the_end_marker() {
        // No stage at first: switching signing on (`set_stage_factory`) restarts the pipeline,
        // and the unsigned run's end must be on the bus, or a recorder would carry on into
        // the signed run in the same file.
        let hub = MediaHub::new(
            Source::TestSrc,
            streams(320, 180, 30),
            JpegConfig::default(),
        );
        hub.start().unwrap();
        let mut sub = hub.stream(1).unwrap().subscribe();
        let mut seen = next_key(&mut sub).await;
        for _ in 0..3 {
            seen = recv1(&mut sub).await;
        }
        let factory: StageFactory = Arc::new(|_| {
            Box::new(|au: &mut AccessUnit| au.nals.push(Bytes::from_static(&[0x06, 0x05, 0x80])))
                as Box<dyn AuStage>
        });
        hub.set_stage_factory(Some(factory));
        let end = past_run_end(&mut sub, seen, 3).await;
        let (last, marker, first) = (&end.last, &end.marker, &end.first);
        assert!(
            marker.nals.is_empty() && !marker.key,
            "no stage: an empty marker, never a start point"
        );
        assert!(last.has_picture() && last.nals.last().unwrap()[0] != 0x06);
        assert_eq!(
            (marker.pts90k, marker.wallclock),
            (last.pts90k, last.wallclock),
            "timed like the run's last frame"
        );
        assert!(first.key && first.pts90k > marker.pts90k);
        assert_eq!(first.nals.last().unwrap()[..], [0x06, 0x05, 0x80]);

        // Without a stage again, and for a plain settings change: one marker per run end.
        hub.set_stage_factory(None);
        let end = past_run_end(&mut sub, end.latest, 3).await;
        assert!(
            end.marker.nals.is_empty(),
            "this stage has no end-of-stream output"
        );
        assert!(end.first.key && end.first.nals.last().unwrap()[0] != 0x06);
        let mut bigger = streams(320, 180, 30);
        bigger.stream1.bitrate_kbps = 768;
        hub.apply(Source::TestSrc, bigger, JpegConfig::default());
        let end = past_run_end(&mut sub, end.latest, 3).await;
        assert!(end.marker.nals.is_empty() && end.first.key);
        assert_eq!(end.marker.pts90k, end.last.pts90k);

        // Stopping ends the last run the same way, and the marker is there when `stop` returns.
        hub.stop();
        let mut tail = Vec::new();
        while let Ok(Some(au)) = timeout(Duration::from_millis(300), sub.recv()).await {
            tail.push(au);
        }
        let marker = tail.last().expect("the stopped run's marker");
        assert!(!marker.has_picture() && marker.nals.is_empty(), "{tail:?}");
        assert_eq!(
            tail.iter().filter(|a| !a.has_picture()).count(),
            1,
            "one marker per run"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mjpeg_yields_fresh_jpeg_frames_at_a_bounded_rate() {
        let hub = MediaHub::new(
            Source::TestSrc,
            streams(320, 180, 30),
            JpegConfig::default(),
        );
        hub.start().unwrap();
        let began = Instant::now();
        let frames: Vec<Bytes> = timeout(
            Duration::from_secs(15),
            hub.mjpeg(1, JpegSize::Three, 10).take(5).collect(),
        )
        .await
        .unwrap();
        assert_eq!(frames.len(), 5);
        assert!(
            began.elapsed() >= Duration::from_millis(350),
            "10 fps cap: 5 frames take ≥ 0.4 s"
        );
        assert!(
            frames.windows(2).all(|w| w[0] != w[1]),
            "each part is a new picture"
        );
        for f in &frames {
            let img = image::load_from_memory_with_format(f, image::ImageFormat::Jpeg).unwrap();
            assert_eq!((img.width(), img.height()), (320, 180));
        }
        // Switching the stream off ends the MJPEG stream.
        let mut m = Box::pin(hub.mjpeg(1, JpegSize::Three, 5));
        let mut off = streams(320, 180, 30);
        off.stream1.enabled = false;
        hub.apply(Source::TestSrc, off, JpegConfig::default());
        assert!(
            timeout(Duration::from_secs(5), m.next())
                .await
                .unwrap()
                .is_none()
        );
        hub.stop();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failing_rtsp_source_reports_error_and_retries() {
        // Port 9 on loopback: nothing listens, the connection is refused at once.
        let src: Source = "rtsp://user:hunter2@127.0.0.1:9/cam".parse().unwrap();
        let hub = MediaHub::new(src, streams(320, 180, 15), JpegConfig::default());
        hub.start().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = hub.status(1).unwrap();
            if let (true, Some(e)) = (st.starts >= 2, st.last_error.clone()) {
                assert!(e.contains("127.0.0.1:9"), "{e}");
                // Dated, so a status reader can tell a current failure from an old one.
                let at = st.last_error_at.expect("an error has its time");
                assert!(
                    at <= SystemTime::now() && at > SystemTime::now() - Duration::from_secs(10)
                );
                assert!(
                    !e.contains("hunter2"),
                    "password must not leak into status: {e}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "no retry seen: {st:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(matches!(
            hub.snapshot_jpeg(1, JpegSize::One).await,
            Err(MediaError::NotReady(1, _))
        ));
        hub.stop();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn v4l2_source_without_camera_reports_a_clear_error() {
        let hub = MediaHub::new(
            "v4l2:/dev/video7".parse().unwrap(),
            streams(320, 180, 15),
            JpegConfig::default(),
        );
        hub.start().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let err = loop {
            if let Some(e) = hub.status(1).unwrap().last_error {
                break e;
            }
            assert!(Instant::now() < deadline, "no error reported");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            err.contains("/dev/video7") && err.contains("camera attached"),
            "{err}"
        );
        assert!(hub.stream(1).unwrap().info().is_none());
        // Switching to testsrc replaces the failing camera without a restart of the daemon.
        hub.apply(
            Source::TestSrc,
            streams(320, 180, 15),
            JpegConfig::default(),
        );
        let bus = hub.stream(1).unwrap();
        timeout(
            Duration::from_secs(10),
            bus.watch_info().wait_for(|i| i.is_some()),
        )
        .await
        .unwrap()
        .unwrap();
        hub.stop();
    }
}
