//! The recorder: one task per recorded stream turns bus access units into GOP-sized chunks and
//! hands them to a blocking writer thread; a pre-alarm ring feeds alarm recordings.

use crate::error::{Error, Result};
use crate::fmp4::{Sample, TrackParams, sample_data};
use crate::index::{Index, Trigger};
use crate::recover::{RecoveryReport, recover_with};
use crate::retention;
use crate::scan::is_signing_sei;
use crate::transform::{Clear, TransformFactory};
use crate::writer::RecordingFile;
use bytes::{BufMut, Bytes, BytesMut};
use camward_config::RecordingConfig;
use camward_h264::AccessUnit;
use camward_media::{FrameBus, Subscriber};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Chunks queued for the writer before the recorder starts dropping GOPs: ~30 s of 1 s GOPs.
/// Beyond this the disk is too slow, and dropping whole GOPs keeps what is written decodable.
pub const WRITER_QUEUE: usize = 32;
/// A fragment is cut after this much media time even inside a long GOP, bounding what a crash can lose.
pub const FRAGMENT_MAX_90K: u64 = 4 * 90_000;
/// ... or after this many bytes, bounding the writer's memory per fragment.
pub const FRAGMENT_MAX_BYTES: usize = 8 << 20;
/// Longest pre-alarm period kept in memory per stream.
pub const MAX_PRE_ALARM_SECS: u32 = 30;
/// Memory bound of the pre-alarm ring per stream (30 s of an 6 Mbit/s stream).
pub const RING_MAX_BYTES: usize = 24 << 20;
/// How often retention runs besides before each new file.
pub const RETENTION_PERIOD: Duration = Duration::from_secs(30);

/// A run of consecutive access units of one stream, written as one fragment.
#[derive(Debug)]
pub(crate) struct Chunk {
    aus: Vec<Arc<AccessUnit>>,
    /// pts of the access unit after the last one, which gives the last one's duration.
    next_pts: Option<u64>,
    /// Starts with an IDR: a file may start here.
    starts_gop: bool,
    params: Arc<TrackParams>,
    /// Duration of one frame at the nominal rate, for a last frame without a successor.
    nominal: u32,
    signed: bool,
    bytes: usize,
    /// The IDR access unit that ended this chunk, when one did (the chunk is a whole GOP).
    next_gop: Option<NextGop>,
    /// The media pipeline ended after this chunk (stop, restart, source lost): its last sample
    /// carries the pipeline's end-of-stream NAL units (the signature of the open GOP) if it had
    /// any, and the file ends here, because whatever comes next starts a new signature chain,
    /// or none, or the first one (signing switched on).
    ends_stream: bool,
}

/// What the writer needs to know about the GOP after a chunk, before writing the chunk: whether
/// the file will be cut there, and the signature that GOP's first access unit carries.
#[derive(Debug)]
pub(crate) struct NextGop {
    pts: u64,
    params: Arc<TrackParams>,
    /// ONVIF Media Signing SEIs of the picture after that IDR. The signer puts the SEI signing
    /// GOP n in front of the picture after GOP n+1's IDR (where the reference library puts it),
    /// so these sign *this* chunk's GOP.
    signatures: Vec<Bytes>,
}

impl Chunk {
    fn first_pts(&self) -> u64 {
        self.aus[0].pts90k
    }
    /// Sample durations: up to the next frame, nominal where that is unknown or implausible.
    fn durations(&self) -> impl Iterator<Item = u32> + '_ {
        self.aus.iter().enumerate().map(|(i, au)| {
            let next = self.aus.get(i + 1).map(|n| n.pts90k).or(self.next_pts);
            next.map(|n| n.saturating_sub(au.pts90k))
                .filter(|d| *d > 0 && *d < u32::MAX as u64)
                .map(|d| d as u32)
                .unwrap_or(self.nominal)
        })
    }

    /// The chunk's samples; with `signature_trailer`, the next GOP's signing SEIs are appended
    /// to the last sample, so a file that ends with this GOP carries the signature of it.
    /// NAL units equal to one in `moved` are left out (and removed from `moved`): signatures
    /// the previous file already carries as its trailer.
    fn samples(&self, signature_trailer: bool, moved: &mut Vec<Bytes>) -> Vec<Sample> {
        let mut samples: Vec<Sample> = self
            .aus
            .iter()
            .zip(self.durations())
            .map(|(au, duration)| {
                let data = if !moved.is_empty() && au.nals.iter().any(|n| moved.contains(n)) {
                    let mut kept = AccessUnit::clone(au);
                    kept.nals
                        .retain(|n| match moved.iter().position(|m| m == n) {
                            Some(i) => {
                                moved.remove(i);
                                false
                            }
                            None => true,
                        });
                    sample_data(&kept)
                } else {
                    sample_data(au)
                };
                Sample {
                    data,
                    duration,
                    sync: au.key,
                }
            })
            .collect();
        let trailer = self
            .next_gop
            .as_ref()
            .map(|n| &n.signatures[..])
            .filter(|s| signature_trailer && !s.is_empty());
        if let (Some(seis), Some(last)) = (trailer, samples.last_mut()) {
            // After the last slice of the picture, in the same sample: an SEI after the slices
            // is not where H.264 wants it (SEIs precede the picture), but it is where the
            // reference signer puts its end-of-stream SEI and where validators look for it;
            // `ffmpeg -c copy` keeps it. Same 4-byte length framing as `sample_data`.
            let extra: usize = seis.iter().map(|s| 4 + s.len()).sum();
            let mut data = BytesMut::with_capacity(last.data.len() + extra);
            data.put_slice(&last.data);
            for sei in seis {
                data.put_u32(sei.len() as u32);
                data.put_slice(sei);
            }
            last.data = data.freeze();
        }
        samples
    }

    /// Whether the file will be cut before the next GOP, judged before this chunk is written
    /// to `f`: the same conditions as the rotation in [`Sink::write`], with the next GOP's size
    /// (unknown until it is complete) estimated by this one's.
    fn file_ends_after(&self, f: &RecordingFile, cfg: &RecordingConfig) -> bool {
        let Some(next) = &self.next_gop else {
            return false;
        };
        let end_pts = self.first_pts() + self.durations().map(u64::from).sum::<u64>();
        f.params != next.params
            || next.pts < end_pts
            || f.media_duration_until(end_pts) >= cfg.file_seconds as u64 * 90_000
            || f.bytes() + 2 * self.bytes as u64 > cfg.file_max_bytes
    }
}

enum WriterMsg {
    Chunk {
        chunk: Arc<Chunk>,
        continuous: bool,
        alarm: bool,
        /// Access units lost before this chunk (bus lag, full queue).
        skipped: u64,
        /// Counted against WRITER_QUEUE (live chunks; pre-alarm replays are bounded by the ring).
        counted: bool,
        /// The alarm recording ends after this chunk unless a new trigger extends it (decided
        /// when the next IDR arrived, so the alarm file can carry its last GOP's signature).
        alarm_ends: bool,
    },
    EndAlarm,
    /// Continuous recording was switched off: close the continuous file now.
    EndContinuous,
    /// A media pipeline run ended: close both files, whether or not the run's last chunk
    /// (which closes them itself) reached the writer.
    EndRun,
    Stop,
}

enum Cmd {
    Config(RecordingConfig),
    /// An upstream camera's own choice between continuous and alarm-only recording.
    Continuous(bool),
    Alarm {
        pre_secs: u32,
        post_secs: u32,
    },
    Stop,
}

/// Options beyond the configuration: the sample transform (CENC plugs in here).
#[derive(Clone)]
pub struct RecorderOptions {
    pub transform: Arc<dyn TransformFactory>,
    pub retention_period: Duration,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            transform: Arc::new(Clear),
            retention_period: RETENTION_PERIOD,
        }
    }
}

struct StreamCtl {
    cmd: mpsc::UnboundedSender<Cmd>,
    task: JoinHandle<()>,
}

/// A recorded upstream camera: its task and what it was started with (a new bus or stream
/// number restarts the task).
struct CameraCtl {
    ctl: StreamCtl,
    bus: Arc<FrameBus>,
    stream: u8,
}

struct Inner {
    dir: PathBuf,
    index: Arc<Index>,
    buses: HashMap<u8, Arc<FrameBus>>,
    options: RecorderOptions,
    rt: tokio::runtime::Handle,
    cfg: Arc<RwLock<RecordingConfig>>,
    streams: Mutex<HashMap<u8, StreamCtl>>,
    /// Upstream cameras being recorded (recorder mode), by name; their files carry the name.
    cameras: Mutex<HashMap<String, CameraCtl>>,
    /// Tasks told to stop by `apply`, still finishing their files; `shutdown` waits for them.
    stopping: Mutex<Vec<JoinHandle<()>>>,
    retention: Mutex<Option<JoinHandle<()>>>,
    /// Serialises retention passes (writers before new files, the periodic task).
    retention_lock: Arc<Mutex<()>>,
}

/// Entry point; see [`Recorder::start`].
pub struct Recorder;

impl Recorder {
    /// Recovers `dir` (see [`crate::recover`]), then records every configured stream of `buses`
    /// (stream number, bus). Call inside a tokio runtime; recovery runs synchronously first, so
    /// call it from a blocking context at daemon start when the card may hold large files.
    pub fn start(
        dir: impl Into<PathBuf>,
        config: RecordingConfig,
        buses: Vec<(u8, Arc<FrameBus>)>,
    ) -> Result<RecorderHandle> {
        Self::start_with(dir, config, buses, RecorderOptions::default())
    }

    pub fn start_with(
        dir: impl Into<PathBuf>,
        config: RecordingConfig,
        buses: Vec<(u8, Arc<FrameBus>)>,
        options: RecorderOptions,
    ) -> Result<RecorderHandle> {
        let dir = dir.into();
        let index = Arc::new(Index::open(&dir)?);
        let report = recover_with(&index)?;
        if report != RecoveryReport::default() {
            tracing::warn!(?report, dir = %dir.display(), "recording directory recovered after an unclean stop");
        }
        let inner = Arc::new(Inner {
            dir,
            index,
            buses: buses.into_iter().collect(),
            options,
            rt: tokio::runtime::Handle::current(),
            cfg: Arc::new(RwLock::new(config.clone())),
            streams: Mutex::new(HashMap::new()),
            cameras: Mutex::new(HashMap::new()),
            stopping: Mutex::new(Vec::new()),
            retention: Mutex::new(None),
            retention_lock: Arc::new(Mutex::new(())),
        });
        let handle = RecorderHandle {
            inner,
            recovery: report,
        };
        handle.apply(config);
        handle.start_retention();
        Ok(handle)
    }
}

/// Controls a running recorder. Dropping it stops the stream tasks (they close their files).
pub struct RecorderHandle {
    inner: Arc<Inner>,
    /// What start-up recovery did.
    pub recovery: RecoveryReport,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RecorderHandle {
    pub fn index(&self) -> Arc<Index> {
        self.inner.index.clone()
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn config(&self) -> RecordingConfig {
        self.inner
            .cfg
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Streams being recorded right now.
    pub fn streams(&self) -> Vec<u8> {
        let mut s: Vec<u8> = lock(&self.inner.streams).keys().copied().collect();
        s.sort();
        s
    }

    /// Applies a new configuration without a restart: streams start and stop, limits and file
    /// periods take effect at the next file. A changed `directory` needs shutdown + start,
    /// because the index and files live there; the daemon compares and does that.
    pub fn apply(&self, config: RecordingConfig) {
        *self.inner.cfg.write().unwrap_or_else(|p| p.into_inner()) = config.clone();
        let want: Vec<u8> = if config.enabled {
            config.streams.clone()
        } else {
            Vec::new()
        };
        let mut streams = lock(&self.inner.streams);
        let running: Vec<u8> = streams.keys().copied().collect();
        for s in running {
            if !want.contains(&s) {
                let ctl = streams.remove(&s).expect("listed");
                let _ = ctl.cmd.send(Cmd::Stop);
                lock(&self.inner.stopping).push(ctl.task);
                tracing::info!(stream = s, "recording stopped by configuration");
            }
        }
        for s in want {
            if let Some(ctl) = streams.get(&s) {
                let _ = ctl.cmd.send(Cmd::Config(config.clone()));
                continue;
            }
            let Some(bus) = self.inner.buses.get(&s) else {
                tracing::warn!(
                    stream = s,
                    "recording configured for a stream that does not exist"
                );
                continue;
            };
            let (tx, rx) = mpsc::unbounded_channel();
            // Subscribe here, not in the task, so recording covers every frame published after apply returns.
            let sub = bus.subscribe();
            let task = self.inner.rt.spawn(stream_task(
                None,
                s,
                bus.clone(),
                sub,
                rx,
                self.inner.clone(),
                config.continuous,
            ));
            streams.insert(s, StreamCtl { cmd: tx, task });
            tracing::info!(stream = s, "recording started");
        }
    }

    /// Records the upstream camera `name` (recorder mode) from `bus` as its stream `stream`:
    /// files under `cameras/NAME/`, rows with `camera = NAME`, with this recorder's directory,
    /// file period, retention and transform (CENC). `continuous` false records only alarms
    /// ([`trigger_camera_alarm`](Self::trigger_camera_alarm)). Calling it again with the same
    /// bus and stream only changes `continuous`; another bus or stream restarts the camera's
    /// recording (its open file is closed).
    pub fn record_camera(&self, name: &str, stream: u8, bus: Arc<FrameBus>, continuous: bool) {
        let mut cams = lock(&self.inner.cameras);
        if let Some(c) = cams.get(name) {
            if Arc::ptr_eq(&c.bus, &bus) && c.stream == stream {
                let _ = c.ctl.cmd.send(Cmd::Continuous(continuous));
                return;
            }
            let old = cams.remove(name).expect("present");
            let _ = old.ctl.cmd.send(Cmd::Stop);
            lock(&self.inner.stopping).push(old.ctl.task);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let sub = bus.subscribe();
        let task = self.inner.rt.spawn(stream_task(
            Some(Arc::from(name)),
            stream,
            bus.clone(),
            sub,
            rx,
            self.inner.clone(),
            continuous,
        ));
        cams.insert(
            name.to_owned(),
            CameraCtl {
                ctl: StreamCtl { cmd: tx, task },
                bus,
                stream,
            },
        );
        tracing::info!(
            camera = name,
            stream,
            continuous,
            "camera recording started"
        );
    }

    /// Stops recording the upstream camera `name` (its open file is closed and indexed).
    pub fn stop_camera(&self, name: &str) {
        if let Some(c) = lock(&self.inner.cameras).remove(name) {
            let _ = c.ctl.cmd.send(Cmd::Stop);
            lock(&self.inner.stopping).push(c.ctl.task);
            tracing::info!(camera = name, "camera recording stopped");
        }
    }

    /// Upstream cameras being recorded now.
    pub fn cameras(&self) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.inner.cameras).keys().cloned().collect();
        v.sort();
        v
    }

    /// Starts (or extends) an alarm recording of the upstream camera `name`, as
    /// [`trigger_alarm`](Self::trigger_alarm) does for this device's streams.
    pub fn trigger_camera_alarm(&self, name: &str, pre_secs: u32, post_secs: u32) -> Result<()> {
        let cams = lock(&self.inner.cameras);
        let c = cams.get(name).ok_or(Error::Stopped)?;
        c.ctl
            .cmd
            .send(Cmd::Alarm {
                pre_secs,
                post_secs,
            })
            .map_err(|_| Error::Stopped)
    }

    /// Starts (or extends) an alarm recording of `stream`: from `pre_secs` before now (whole
    /// GOPs from the in-memory ring, at most MAX_PRE_ALARM_SECS) to `post_secs` after the latest
    /// trigger. Written as its own file with trigger = alarm.
    pub fn trigger_alarm(&self, stream: u8, pre_secs: u32, post_secs: u32) -> Result<()> {
        let streams = lock(&self.inner.streams);
        let ctl = streams.get(&stream).ok_or(Error::UnknownStream(stream))?;
        ctl.cmd
            .send(Cmd::Alarm {
                pre_secs,
                post_secs,
            })
            .map_err(|_| Error::Stopped)
    }

    /// Runs retention once now (also runs periodically and before each new file).
    pub fn enforce_retention(&self) -> Result<retention::RetentionReport> {
        let _g = lock(&self.inner.retention_lock);
        retention::enforce(&self.inner.index, &self.config(), 0)
    }

    fn start_retention(&self) {
        let inner = Arc::downgrade(&self.inner);
        let period = self.inner.options.retention_period;
        let task = self.inner.rt.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = inner.upgrade() else { return };
                let res = tokio::task::spawn_blocking(move || {
                    let cfg = inner.cfg.read().unwrap_or_else(|p| p.into_inner()).clone();
                    let _g = lock(&inner.retention_lock);
                    retention::enforce(&inner.index, &cfg, 0)
                })
                .await;
                if let Ok(Err(e)) = res {
                    tracing::warn!(error = %e, "periodic retention failed");
                }
            }
        });
        *lock(&self.inner.retention) = Some(task);
    }

    /// Stops every stream, waits until their files are closed and indexed.
    pub async fn shutdown(self) {
        let mut ctls: Vec<StreamCtl> = lock(&self.inner.streams).drain().map(|(_, c)| c).collect();
        ctls.extend(lock(&self.inner.cameras).drain().map(|(_, c)| c.ctl));
        let mut tasks: Vec<JoinHandle<()>> = lock(&self.inner.stopping).drain(..).collect();
        for c in ctls {
            let _ = c.cmd.send(Cmd::Stop);
            tasks.push(c.task);
        }
        for t in tasks {
            let _ = t.await;
        }
        if let Some(t) = lock(&self.inner.retention).take() {
            t.abort();
        }
    }
}

/// Per-stream state of the async side.
struct StreamState {
    stream: u8,
    tx: mpsc::UnboundedSender<WriterMsg>,
    queued: Arc<AtomicUsize>,
    continuous: bool,
    params: Option<Arc<TrackParams>>,
    pending: Vec<Arc<AccessUnit>>,
    pending_bytes: usize,
    pending_params: Option<Arc<TrackParams>>,
    /// A GOP completed by the IDR now in `pending`, held back until the picture after that IDR
    /// arrives with the GOP's signature (see [`NextGop::signatures`]).
    held: Option<Held>,
    nominal: u32,
    last_pts: u64,
    skipped: u64,
    /// After a dropped chunk, drop until the next GOP so what is written stays decodable.
    resync: bool,
    ring: VecDeque<Arc<Chunk>>,
    ring_bytes: usize,
    alarm_until: Option<u64>,
}

/// A complete GOP waiting one frame for its signature.
struct Held {
    aus: Vec<Arc<AccessUnit>>,
    bytes: usize,
    params: Option<Arc<TrackParams>>,
    next_pts: Option<u64>,
    next_gop: NextGop,
}

impl StreamState {
    fn set_continuous(&mut self, on: bool) {
        if self.continuous && !on {
            let _ = self.tx.send(WriterMsg::EndContinuous);
        }
        self.continuous = on;
    }

    fn on_au(&mut self, au: Arc<AccessUnit>, bus: &FrameBus) {
        if !au.has_picture() {
            self.on_end_of_run(&au);
            return;
        }
        if self.held.is_some() {
            let seis = au
                .nals
                .iter()
                .filter(|n| is_signing_sei(n))
                .cloned()
                .collect();
            self.release_held(seis);
        }
        if au.key {
            let info = bus.info();
            if let Some(p) = TrackParams::from_au(&au, info.as_deref())
                && self.params.as_deref() != Some(&p)
            {
                self.params = Some(Arc::new(p));
            }
            if let Some(i) = info {
                self.nominal = 90_000 / i.fps.max(1);
            }
        }
        if self.params.is_none() {
            // No SPS/PPS seen yet: an init segment can't be written.
            self.skipped += 1;
            return;
        }
        if let Some(first) = self.pending.first() {
            let regress = au.pts90k < self.last_pts;
            let long = au.pts90k.saturating_sub(first.pts90k) >= FRAGMENT_MAX_90K;
            // After a pts regression (source restart) the gap is unknown: nominal duration.
            let next_pts = if regress { None } else { Some(au.pts90k) };
            if au.key {
                // The IDR completes a GOP, whose signature comes with the next picture: the GOP
                // waits for it, so a file ending here carries its own last signature. One frame
                // of latency; the crash-loss bound (about one GOP) is unchanged.
                self.held = Some(Held {
                    aus: std::mem::take(&mut self.pending),
                    bytes: std::mem::take(&mut self.pending_bytes),
                    params: self.pending_params.take(),
                    next_pts,
                    next_gop: NextGop {
                        pts: au.pts90k,
                        params: self.params.clone().expect("checked above"),
                        signatures: Vec::new(),
                    },
                });
            } else if regress || long || self.pending_bytes >= FRAGMENT_MAX_BYTES {
                self.dispatch(next_pts, None, false);
            }
        }
        if self.pending.is_empty() {
            self.pending_params = self.params.clone();
        }
        self.last_pts = au.pts90k;
        self.pending_bytes += au.len();
        self.pending.push(au);
    }

    /// A unit without a picture is a pipeline run's end marker, published right after the
    /// run's last picture, with the run's end-of-stream output (`AuStage::finish`: the SEI
    /// signing the open GOP) or, unsigned, with nothing. Its NAL units join that picture's
    /// sample, still buffered in `pending` (a fragment is sent only when the next one starts),
    /// rather than becoming a sample of their own: a sample without a picture would be a frame
    /// of zero duration to players. The chunk goes out at once and the files close after it,
    /// as at a stop, even when nothing is signed: the next run may be (signing switched on),
    /// and signed GOPs after unsigned ones in one file verify as altered.
    fn on_end_of_run(&mut self, au: &AccessUnit) {
        if self.held.is_some() {
            // The run ended right after an IDR: the signer's end-of-stream output is the SEI of
            // the held GOP, then the one of the IDR's own one-frame GOP.
            let seis: Vec<Bytes> = au
                .nals
                .iter()
                .filter(|n| is_signing_sei(n))
                .cloned()
                .collect();
            let n = seis.len().saturating_sub(1).max(seis.len().min(1));
            self.release_held(seis[..n].to_vec());
        }
        if let Some(last) = self.pending.last_mut() {
            if !au.nals.is_empty() {
                let mut merged = AccessUnit::clone(last);
                merged.nals.extend(au.nals.iter().cloned());
                *last = Arc::new(merged);
                self.pending_bytes += au.len();
            }
            // The file's last frame: a nominal duration, as at a stop.
            self.dispatch(None, None, true);
        }
        // The chunk may not have reached the writer (dropped while the disk catches up, or
        // nothing buffered): the files end here all the same. In order after it, so a no-op
        // when it did.
        let _ = self.tx.send(WriterMsg::EndRun);
    }

    fn send(&self, chunk: Arc<Chunk>, continuous: bool, alarm: bool, skipped: u64, counted: bool) {
        if counted {
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
        // The alarm ends at the first GOP starting at or after `alarm_until` (see `dispatch`).
        let alarm_ends = alarm
            && self
                .alarm_until
                .zip(chunk.next_gop.as_ref())
                .is_some_and(|(until, n)| n.pts >= until);
        let _ = self.tx.send(WriterMsg::Chunk {
            chunk,
            continuous,
            alarm,
            skipped,
            counted,
            alarm_ends,
        });
    }

    /// Sends the held GOP on with `signatures`, the signing SEIs of the picture after its IDR.
    fn release_held(&mut self, signatures: Vec<Bytes>) {
        if let Some(mut h) = self.held.take() {
            h.next_gop.signatures = signatures;
            self.send_chunk(
                h.aus,
                h.bytes,
                h.params,
                h.next_pts,
                Some(h.next_gop),
                false,
            );
        }
    }

    fn dispatch(&mut self, next_pts: Option<u64>, next_gop: Option<NextGop>, ends_stream: bool) {
        let aus = std::mem::take(&mut self.pending);
        let bytes = std::mem::take(&mut self.pending_bytes);
        let params = self.pending_params.take();
        self.send_chunk(aus, bytes, params, next_pts, next_gop, ends_stream);
    }

    fn send_chunk(
        &mut self,
        aus: Vec<Arc<AccessUnit>>,
        bytes: usize,
        params: Option<Arc<TrackParams>>,
        next_pts: Option<u64>,
        next_gop: Option<NextGop>,
        ends_stream: bool,
    ) {
        let Some(params) = params else {
            return;
        };
        if aus.is_empty() {
            return;
        }
        let signed = aus
            .iter()
            .any(|au| au.nals.iter().any(|n| is_signing_sei(n)));
        let chunk = Arc::new(Chunk {
            starts_gop: aus[0].key,
            aus,
            next_pts,
            params,
            nominal: self.nominal,
            signed,
            bytes,
            next_gop,
            ends_stream,
        });
        if let Some(until) = self.alarm_until
            && chunk.starts_gop
            && chunk.first_pts() >= until
        {
            let _ = self.tx.send(WriterMsg::EndAlarm);
            self.alarm_until = None;
            tracing::info!(stream = self.stream, "alarm recording ended");
        }
        self.ring.push_back(chunk.clone());
        self.ring_bytes += chunk.bytes;
        self.trim_ring();

        let alarm = self.alarm_until.is_some();
        if !self.continuous && !alarm {
            return;
        }
        let n = chunk.aus.len() as u64;
        if self.resync && !chunk.starts_gop {
            self.skipped += n;
            return;
        }
        if self.queued.load(Ordering::Relaxed) >= WRITER_QUEUE {
            if !self.resync {
                tracing::warn!(
                    stream = self.stream,
                    "recorder: disk too slow, dropping GOPs until it catches up"
                );
            }
            self.skipped += n;
            self.resync = true;
            return;
        }
        self.resync = false;
        let skipped = std::mem::take(&mut self.skipped);
        if skipped > 0 {
            tracing::warn!(
                stream = self.stream,
                skipped,
                "recorder skipped access units (bus lag or slow disk)"
            );
        }
        self.send(chunk, self.continuous, alarm, skipped, true);
    }

    /// Keeps at most MAX_PRE_ALARM_SECS / RING_MAX_BYTES, dropping whole GOPs from the front.
    fn trim_ring(&mut self) {
        let newest = self.ring.back().map(|c| c.first_pts()).unwrap_or(0);
        let too_old =
            |c: &Chunk| newest.saturating_sub(c.first_pts()) > MAX_PRE_ALARM_SECS as u64 * 90_000;
        while self.ring.len() > 1
            && (self.ring_bytes > RING_MAX_BYTES || self.ring.front().is_some_and(|c| too_old(c)))
        {
            let c = self.ring.pop_front().expect("len > 1");
            self.ring_bytes -= c.bytes;
            while self.ring.len() > 1 && self.ring.front().is_some_and(|c| !c.starts_gop) {
                let c = self.ring.pop_front().expect("len > 1");
                self.ring_bytes -= c.bytes;
            }
        }
    }

    fn on_alarm(&mut self, pre_secs: u32, post_secs: u32) {
        let until = self.last_pts + post_secs as u64 * 90_000;
        if let Some(u) = self.alarm_until.as_mut() {
            *u = (*u).max(until);
            return;
        }
        let cutoff = self
            .last_pts
            .saturating_sub(pre_secs.min(MAX_PRE_ALARM_SECS) as u64 * 90_000);
        let pending_covers = self
            .pending
            .first()
            .is_some_and(|a| a.key && a.pts90k <= cutoff);
        if !pending_covers {
            let start = self
                .ring
                .iter()
                .rposition(|c| c.starts_gop && c.first_pts() <= cutoff)
                .or_else(|| self.ring.iter().position(|c| c.starts_gop));
            if let Some(start) = start {
                for c in self.ring.range(start..) {
                    self.send(c.clone(), false, true, 0, false);
                }
            }
        }
        self.alarm_until = Some(until);
        tracing::info!(
            stream = self.stream,
            pre_secs,
            post_secs,
            "alarm recording started"
        );
    }
}

async fn stream_task(
    camera: Option<Arc<str>>,
    stream: u8,
    bus: Arc<FrameBus>,
    mut sub: Subscriber,
    mut cmd: mpsc::UnboundedReceiver<Cmd>,
    inner: Arc<Inner>,
    continuous: bool,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let writer = {
        let ctx = WriterCtx {
            camera,
            stream,
            index: inner.index.clone(),
            cfg: inner.cfg.clone(),
            factory: inner.options.transform.clone(),
            retention_lock: inner.retention_lock.clone(),
            queued: queued.clone(),
        };
        // A thread of its own, not the runtime's blocking pool: a writer lives as long as its
        // stream is recorded, and with many upstream cameras the writers alone would fill a
        // bounded pool, starving every short blocking call of the daemon (settings, accounts).
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let rt = inner.rt.clone();
        let name = match &ctx.camera {
            Some(c) => format!("cw-rec-{c}"),
            None => format!("cw-rec-s{stream}"),
        };
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            let _runtime = rt.enter();
            writer_loop(ctx, rx);
            let _ = done_tx.send(());
        });
        if let Err(e) = spawned {
            tracing::error!(stream, error = %e, "cannot start the recording writer thread");
        }
        done_rx
    };
    drop(inner);
    let mut st = StreamState {
        stream,
        tx,
        queued,
        continuous,
        params: None,
        pending: Vec::new(),
        pending_bytes: 0,
        pending_params: None,
        held: None,
        nominal: bus.info().map(|i| 90_000 / i.fps.max(1)).unwrap_or(3_000),
        last_pts: 0,
        skipped: 0,
        resync: false,
        ring: VecDeque::new(),
        ring_bytes: 0,
        alarm_until: None,
    };
    let mut seen_skipped = 0;
    loop {
        tokio::select! {
            // Frames first: a command (stop, alarm) applies after every frame already published.
            biased;
            au = sub.recv() => {
                let Some(au) = au else { break };
                let s = sub.skipped();
                st.skipped += s - seen_skipped;
                seen_skipped = s;
                st.on_au(au, &bus);
            }
            c = cmd.recv() => match c {
                Some(Cmd::Config(c)) => st.set_continuous(c.continuous),
                Some(Cmd::Continuous(on)) => st.set_continuous(on),
                Some(Cmd::Alarm { pre_secs, post_secs }) => st.on_alarm(pre_secs, post_secs),
                Some(Cmd::Stop) | None => break,
            }
        }
    }
    // The last chunks have no successor: the last frame gets the nominal duration. A GOP still
    // waiting for its signature (recording stopped while the stream goes on) goes without.
    st.release_held(Vec::new());
    st.dispatch(None, None, false);
    let _ = st.tx.send(WriterMsg::Stop);
    if writer.await.is_err() {
        tracing::error!(
            stream,
            "recording writer ended without finishing (panicked)"
        );
    }
}

struct WriterCtx {
    camera: Option<Arc<str>>,
    stream: u8,
    index: Arc<Index>,
    cfg: Arc<RwLock<RecordingConfig>>,
    factory: Arc<dyn TransformFactory>,
    retention_lock: Arc<Mutex<()>>,
    queued: Arc<AtomicUsize>,
}

/// One output (continuous or alarm) of a stream's writer.
struct Sink {
    trigger: Trigger,
    file: Option<RecordingFile>,
    /// Signatures written as the trailer of this output's previous GOP: their original copies,
    /// in front of a picture of the next GOP, are left out, so each SEI is stored once (a
    /// repeated SEI reads as an old one to the reference validator).
    moved: Vec<Bytes>,
    skipped: u64,
    last_error: Option<String>,
}

impl Sink {
    fn close(&mut self) {
        if let Some(f) = self.file.take() {
            let path = f.path.clone();
            if let Err(e) = f.finish() {
                tracing::error!(path = %path.display(), error = %e, "closing recording failed");
            }
        }
    }

    fn report(&mut self, what: &str, e: &Error) {
        let msg = e.to_string();
        if self.last_error.as_deref() != Some(&msg) {
            tracing::error!(trigger = self.trigger.as_str(), error = %msg, "{what}");
            self.last_error = Some(msg);
        }
    }

    /// Writes `chunk` to this output's file, rotating files as configured. `ends` says the
    /// output stops after this chunk (alarm over), so the chunk is the file's last GOP.
    fn write(
        &mut self,
        chunk: &Chunk,
        skipped: u64,
        ends: bool,
        ctx: &WriterCtx,
        cfg: &RecordingConfig,
    ) {
        self.skipped += skipped;
        if let Some(f) = &self.file {
            let regress = chunk.first_pts() < f.end_pts();
            if regress && !chunk.starts_gop {
                // The timeline went backwards mid-GOP: nothing decodable to write until a key frame.
                self.skipped += chunk.aus.len() as u64;
                return;
            }
            let rotate = chunk.starts_gop
                && (f.params != chunk.params
                    || regress
                    || f.media_duration() >= cfg.file_seconds as u64 * 90_000
                    || f.bytes() + chunk.bytes as u64 > cfg.file_max_bytes);
            if rotate {
                // Only when the next GOP turned out larger than `file_ends_after` estimated:
                // the file ends without its last GOP's signature, which is in the next file.
                tracing::debug!(
                    trigger = self.trigger.as_str(),
                    "file cut without predicting it: its last GOP verifies as pending"
                );
                self.close();
            }
        }
        if self.file.is_none() {
            if !chunk.starts_gop {
                self.skipped += chunk.aus.len() as u64;
                return;
            }
            {
                let _g = lock(&ctx.retention_lock);
                if let Err(e) = retention::enforce(&ctx.index, cfg, cfg.file_max_bytes) {
                    self.report("retention failed", &e);
                }
            }
            match RecordingFile::create(
                &ctx.index,
                crate::writer::Origin {
                    camera: ctx.camera.as_deref(),
                    stream: ctx.stream,
                },
                self.trigger,
                chunk.params.clone(),
                chunk.first_pts(),
                chunk.aus[0].wallclock,
                ctx.factory.make(ctx.stream),
            ) {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    self.report("cannot create recording file", &e);
                    self.skipped += chunk.aus.len() as u64;
                    return;
                }
            }
        }
        let f = self.file.as_mut().expect("opened above");
        f.add_skipped(std::mem::take(&mut self.skipped));
        // The GOP is written now, when the next IDR has arrived, as without a trailer: carrying
        // the signature costs no latency and the crash-loss bound (one GOP) is unchanged.
        let rotates = chunk.file_ends_after(f, cfg);
        let last_gop = rotates || ends;
        let trailer = last_gop
            && chunk
                .next_gop
                .as_ref()
                .is_some_and(|n| !n.signatures.is_empty());
        let samples = chunk.samples(last_gop, &mut self.moved);
        // A copy not found in this chunk sits in a later one only when this chunk was a single
        // (IDR) picture; otherwise it was never there.
        if chunk.aus.len() > 1 {
            self.moved.clear();
        }
        if trailer {
            self.moved = chunk
                .next_gop
                .as_ref()
                .map(|n| n.signatures.clone())
                .unwrap_or_default();
        }
        match f.append(
            samples,
            chunk.first_pts(),
            chunk.aus[0].wallclock,
            chunk.signed || trailer,
        ) {
            // Cut the file now, so the rotation the signature was added for is the one that
            // happens (the next chunk's own check could disagree on size). An alarm file is
            // closed by EndAlarm instead: a new trigger may still extend it, and then the
            // signature stays where it is, the next GOP's copy being left out. The end of the
            // pipeline closes both: the next run may be signed differently or not at all.
            Ok(()) if rotates || chunk.ends_stream => {
                self.last_error = None;
                self.close();
            }
            Ok(()) => self.last_error = None,
            Err(e) => {
                self.report(
                    "writing recording failed; file closed at its last complete fragment",
                    &e,
                );
                self.close();
            }
        }
    }
}

fn writer_loop(ctx: WriterCtx, mut rx: mpsc::UnboundedReceiver<WriterMsg>) {
    let mut cont = Sink {
        trigger: Trigger::Continuous,
        file: None,
        moved: Vec::new(),
        skipped: 0,
        last_error: None,
    };
    let mut alarm = Sink {
        trigger: Trigger::Alarm,
        file: None,
        moved: Vec::new(),
        skipped: 0,
        last_error: None,
    };
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            WriterMsg::Chunk {
                chunk,
                continuous,
                alarm: to_alarm,
                skipped,
                counted,
                alarm_ends,
            } => {
                if counted {
                    ctx.queued.fetch_sub(1, Ordering::Relaxed);
                }
                let cfg = ctx.cfg.read().unwrap_or_else(|p| p.into_inner()).clone();
                if continuous {
                    cont.write(&chunk, skipped, false, &ctx, &cfg);
                }
                if to_alarm {
                    alarm.write(&chunk, skipped, alarm_ends, &ctx, &cfg);
                }
            }
            WriterMsg::EndAlarm => alarm.close(),
            WriterMsg::EndContinuous => cont.close(),
            WriterMsg::EndRun => {
                cont.close();
                alarm.close();
            }
            WriterMsg::Stop => break,
        }
    }
    cont.close();
    alarm.close();
}
