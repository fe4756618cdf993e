//! RTSP sessions: the server-wide table, per-session RTP state, each viewer's pacing (lateness,
//! skip to a key frame, sender reports), and the player task of UDP and tunnelled sessions (those
//! on RTSP/TCP and RTSPS connections are written by the bus's fan-out driver, `fanout.rs`); a slow
//! viewer never blocks another.

use crate::conn::Writer;
use crate::rtp;
use crate::udp_batch::{Packets, UdpBatch};
use camward_h264::{AccessUnit, NalType};
use camward_media::{FrameBus, Subscriber};
use rand::Rng as _;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A viewer further behind live than this (measured against the stream's own clock) skips to
/// the next key frame instead of queueing more latency.
pub const LATE_LIMIT: Duration = Duration::from_secs(1);
/// Longest time one access unit may take to leave; a client that cannot take a frame in this
/// time is dropped (its connection closed, or its UDP session torn down).
pub const STALL_LIMIT: Duration = Duration::from_secs(10);
/// RTCP sender report interval (RFC 3550 suggests 5 s minimum for small sessions).
pub const SR_INTERVAL: Duration = Duration::from_secs(5);
/// A UDP client whose every send fails (ICMP port unreachable) for this long is gone.
pub const UDP_DEAD_AFTER: Duration = Duration::from_secs(5);
/// NAL units of picture-less access units held for the next picture. A pipeline sends one such
/// unit when it ends; the bound only guards against a bus that never sends a picture again.
const MAX_HELD_NALS: usize = 8;

/// All sessions of the server, by id.
#[derive(Default)]
pub struct Table {
    map: Mutex<HashMap<String, Arc<Session>>>,
    playing: AtomicUsize,
}

impl Table {
    /// Inserts a new session unless `max` are open.
    pub fn insert(&self, s: Arc<Session>, max: usize) -> bool {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= max {
            return false;
        }
        m.insert(s.id.clone(), s);
        true
    }

    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    pub fn remove(&self, id: &str) -> Option<Arc<Session>> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
    }

    /// Sessions per (stream, carrier), for the status page.
    pub fn per_stream(&self) -> Vec<(u8, crate::Carrier, usize)> {
        let mut out: Vec<(u8, crate::Carrier, usize)> = Vec::new();
        let m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        // This device's streams only: an upstream camera's viewers are not Stream(n)'s.
        for s in m.values().filter(|s| s.camera.is_none()) {
            let key = (s.stream, s.carrier);
            match out.iter_mut().find(|(st, c, _)| (*st, *c) == key) {
                Some(e) => e.2 += 1,
                None => out.push((key.0, key.1, 1)),
            }
        }
        out.sort_by_key(|(st, c, _)| (*st, crate::carrier_name(*c)));
        out
    }

    /// Sessions per (upstream camera, carrier) of the cameras re-served at `/cameras/NAME`.
    pub fn per_camera(&self) -> Vec<(String, crate::Carrier, usize)> {
        let mut out: Vec<(String, crate::Carrier, usize)> = Vec::new();
        let m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        for s in m.values() {
            let Some(name) = &s.camera else { continue };
            match out
                .iter_mut()
                .find(|(n, c, _)| n == name && *c == s.carrier)
            {
                Some(e) => e.2 += 1,
                None => out.push((name.clone(), s.carrier, 1)),
            }
        }
        out
    }

    /// Sessions of `stream` whose player is running.
    pub fn playing_for(&self, stream: u8) -> usize {
        let sessions: Vec<Arc<Session>> = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|s| s.stream == stream)
            .cloned()
            .collect();
        // Checked outside the table's lock: `is_playing` takes each session's own lock.
        sessions.iter().filter(|s| s.is_playing()).count()
    }

    pub fn counts(&self) -> (usize, usize) {
        let n = self.map.lock().unwrap_or_else(|e| e.into_inner()).len();
        (n, self.playing.load(Ordering::Relaxed))
    }
}

/// Where a session's RTP goes.
#[derive(Clone)]
pub enum Transport {
    Udp(Arc<UdpPair>),
    Interleaved {
        writer: Arc<Writer>,
        rtp_ch: u8,
        rtcp_ch: u8,
    },
}

impl Transport {
    pub fn describe(&self, ssrc: u32) -> String {
        match self {
            Transport::Udp(p) => format!(
                "RTP/AVP;unicast;client_port={}-{};server_port={}-{};ssrc={ssrc:08X}",
                p.client_rtp.port(),
                p.client_rtcp.port(),
                p.server_ports.0,
                p.server_ports.1
            ),
            Transport::Interleaved {
                rtp_ch, rtcp_ch, ..
            } => {
                format!("RTP/AVP/TCP;unicast;interleaved={rtp_ch}-{rtcp_ch};ssrc={ssrc:08X}")
            }
        }
    }
}

/// The server's RTP/RTCP socket pair of one UDP session, connected to the client's ports.
pub struct UdpPair {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub server_ports: (u16, u16),
    pub client_rtp: SocketAddr,
    pub client_rtcp: SocketAddr,
    /// Sends an access unit's RTP packets in as few syscalls as the kernel allows.
    batch: UdpBatch,
}

impl UdpPair {
    /// Binds an even/odd port pair on the listener's address and connects it to the client.
    /// RTP goes only to the RTSP peer's address: the `destination` parameter is ignored so the
    /// server can't be used to flood a third party.
    pub async fn bind(
        local: IpAddr,
        client: IpAddr,
        client_rtp: u16,
        client_rtcp: u16,
    ) -> io::Result<UdpPair> {
        Self::bind_batching(
            local,
            client,
            client_rtp,
            client_rtcp,
            crate::udp_batch::enabled_by_env(),
        )
        .await
    }

    /// [`UdpPair::bind`] with RTP batching on or off (off: one `send` per packet).
    pub(crate) async fn bind_batching(
        local: IpAddr,
        client: IpAddr,
        client_rtp: u16,
        client_rtcp: u16,
        batching: bool,
    ) -> io::Result<UdpPair> {
        let mut last_err =
            io::Error::new(io::ErrorKind::AddrInUse, "no free even/odd UDP port pair");
        for _ in 0..32 {
            let rtp = UdpSocket::bind((local, 0)).await?;
            let p = rtp.local_addr()?.port();
            if p % 2 != 0 || p == u16::MAX {
                continue;
            }
            let rtcp = match UdpSocket::bind((local, p + 1)).await {
                Ok(s) => s,
                Err(e) => {
                    last_err = e;
                    continue;
                }
            };
            let client_rtp = SocketAddr::new(client, client_rtp);
            let client_rtcp = SocketAddr::new(client, client_rtcp);
            rtp.connect(client_rtp).await?;
            rtcp.connect(client_rtcp).await?;
            let batch = UdpBatch::new(&rtp, batching)?;
            tracing::debug!(batching = batch.batching(), %client_rtp, "rtsp udp session bound");
            return Ok(UdpPair {
                rtp,
                rtcp,
                server_ports: (p, p + 1),
                client_rtp,
                client_rtcp,
                batch,
            });
        }
        Err(last_err)
    }
}

/// Sequence number and timestamp state of one session's RTP stream; survives PAUSE/PLAY.
#[derive(Debug, Clone)]
pub struct RtpState {
    pub ssrc: u32,
    /// Sequence number of the next packet.
    pub seq: u16,
    /// `rtp_ts = pts90k + offset` once bound by the first access unit after a PLAY.
    offset: Option<u32>,
    /// Timestamp the next access unit will get when `offset` is unbound (announced in RTP-Info).
    pub next_ts: u32,
    last_ts: u32,
    last_pts: Option<u64>,
    /// Wall-clock capture time and monotonic arrival of the last access unit sent (for SR).
    last_wallclock: Option<(SystemTime, Instant)>,
    paused_at: Option<Instant>,
    pub packets: u32,
    pub octets: u32,
}

impl RtpState {
    /// Random SSRC, initial sequence number and timestamp (RFC 3550 §5.1).
    pub fn new() -> Self {
        let mut r = rand::thread_rng();
        RtpState {
            ssrc: r.r#gen(),
            seq: r.r#gen(),
            offset: None,
            next_ts: r.r#gen(),
            last_ts: 0,
            last_pts: None,
            last_wallclock: None,
            paused_at: None,
            packets: 0,
            octets: 0,
        }
    }

    /// Called on PLAY: after a pause, the timeline continues from where it stopped plus the
    /// time spent paused, so receivers see monotonic timestamps.
    pub fn resume(&mut self) {
        if let Some(at) = self.paused_at.take() {
            let gap = (at.elapsed().as_micros() as u64 * rtp::CLOCK_RATE / 1_000_000).max(1);
            self.next_ts = self.last_ts.wrapping_add(gap as u32);
            self.offset = None;
        }
    }

    pub fn pause(&mut self) {
        self.paused_at = Some(Instant::now());
    }

    /// RTP timestamp of an access unit. Rebinds the offset after PLAY and after a source restart
    /// (presentation times jumping back or ahead by more than 10 s), keeping the RTP clock going.
    pub fn timestamp(&mut self, pts90k: u64) -> u32 {
        if let (Some(last), Some(_)) = (self.last_pts, self.offset)
            && (pts90k < last || pts90k - last > 10 * rtp::CLOCK_RATE)
        {
            self.next_ts = self.last_ts.wrapping_add((rtp::CLOCK_RATE / 25) as u32);
            self.offset = None;
        }
        let offset = *self
            .offset
            .get_or_insert_with(|| self.next_ts.wrapping_sub(pts90k as u32));
        let ts = (pts90k as u32).wrapping_add(offset);
        self.last_pts = Some(pts90k);
        self.last_ts = ts;
        ts
    }

    /// NTP and RTP times of "now" for a sender report, from the last access unit's capture time.
    fn report_times(&self) -> Option<(u64, u32)> {
        let (wall, arrived) = self.last_wallclock?;
        let elapsed = arrived.elapsed().min(Duration::from_secs(10));
        let ts = self
            .last_ts
            .wrapping_add((elapsed.as_micros() as u64 * rtp::CLOCK_RATE / 1_000_000) as u32);
        Some((rtp::ntp(wall + elapsed), ts))
    }
}

impl Default for RtpState {
    fn default() -> Self {
        Self::new()
    }
}

/// A running player: its stop signal and the task that returns the RTP state when it ends.
pub struct Player {
    pub stop: CancellationToken,
    pub task: JoinHandle<RtpState>,
}

/// Mutable part of a session.
pub struct State {
    pub transport: Option<Transport>,
    /// The SETUP request-URI, echoed in RTP-Info.
    pub track_url: String,
    pub rtp: Option<RtpState>,
    pub player: Option<Player>,
    /// Stops the tasks of the current transport (the UDP reader), so a re-SETUP frees the old one.
    pub transport_stop: Option<CancellationToken>,
}

/// One RTSP session (one stream, one track).
pub struct Session {
    pub id: String,
    /// Stream(n) of this device; 0 for an upstream camera.
    pub stream: u8,
    /// The upstream camera (`/cameras/NAME`) it plays, if any.
    pub camera: Option<String>,
    /// How the viewer is connected (for the status page's viewer counts).
    pub carrier: crate::Carrier,
    /// User that created it; only that user may control it (`None` = guest).
    pub owner: Option<String>,
    /// Connection that created it; interleaved sessions can only be used there.
    pub conn_id: u64,
    pub state: Mutex<State>,
    last_seen: Mutex<Instant>,
    /// Ends the session's background tasks (watchdog, UDP reader, player).
    pub stop: CancellationToken,
}

impl Session {
    pub fn new(
        stream: u8,
        camera: Option<String>,
        carrier: crate::Carrier,
        owner: Option<String>,
        conn_id: u64,
        stop: CancellationToken,
    ) -> Arc<Session> {
        let mut id = [0u8; 8];
        rand::thread_rng().fill(&mut id);
        Arc::new(Session {
            id: id.iter().map(|b| format!("{b:02X}")).collect(),
            stream,
            camera,
            carrier,
            owner,
            conn_id,
            state: Mutex::new(State {
                transport: None,
                track_url: String::new(),
                rtp: Some(RtpState::new()),
                player: None,
                transport_stop: None,
            }),
            last_seen: Mutex::new(Instant::now()),
            stop,
        })
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keep-alive: any request naming the session, RTCP from its client, or (interleaved)
    /// any bytes on its connection.
    pub fn touch(&self) {
        *self.last_seen.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn idle(&self) -> Duration {
        self.last_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    pub fn is_playing(&self) -> bool {
        self.lock()
            .player
            .as_ref()
            .is_some_and(|p| !p.task.is_finished())
    }
}

/// Expires a session nothing has refreshed for `timeout` (checked every second or so).
pub fn spawn_watchdog(server: Arc<crate::RtspServer>, s: Arc<Session>, timeout: Duration) {
    tokio::spawn(async move {
        loop {
            let left = timeout.saturating_sub(s.idle());
            if left.is_zero() {
                tracing::info!(session = %s.id, stream = s.stream, "rtsp session timed out");
                teardown(&server, &s).await;
                return;
            }
            tokio::select! {
                _ = s.stop.cancelled() => return,
                _ = tokio::time::sleep(left + Duration::from_millis(250)) => {}
            }
        }
    });
}

/// Removes a session and stops its player; the caller's connection stays usable.
pub async fn teardown(server: &crate::RtspServer, s: &Arc<Session>) {
    server.sessions.remove(&s.id);
    let player = s.lock().player.take();
    s.stop.cancel();
    if let Some(p) = player {
        p.stop.cancel();
        // The player finishes its current access unit (bounded by STALL_LIMIT) so interleaved
        // framing stays intact for the next response on this connection.
        let _ = tokio::time::timeout(STALL_LIMIT + Duration::from_secs(1), p.task).await;
    }
    let transport = s.lock().transport.take();
    drop(transport);
}

/// Reads what a UDP client sends us (RTCP receiver reports, NAT keep-alives on the RTP port)
/// only to refresh the session; the content is ignored.
pub fn spawn_udp_reader(s: Arc<Session>, pair: Arc<UdpPair>, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        let mut buf2 = [0u8; 256];
        loop {
            let r = tokio::select! {
                _ = stop.cancelled() => return,
                r = pair.rtcp.recv(&mut buf) => r,
                r = pair.rtp.recv(&mut buf2) => r,
            };
            match r {
                Ok(_) => s.touch(),
                // ICMP errors from earlier sends surface here; don't spin on them.
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
}

/// Tracks how far behind live a viewer is, using the stream's own presentation clock: the
/// smallest (arrival − pts) seen is "on time"; anything later by more than LATE_LIMIT is late.
#[derive(Default)]
struct Lateness {
    origin: Option<Instant>,
    base: Option<(Instant, u64)>,
    min_lag: Option<i128>,
}

impl Lateness {
    fn lateness_at(&mut self, now: Instant, pts90k: u64) -> Duration {
        let origin = *self.origin.get_or_insert(now);
        if let Some((_, last)) = self.base
            && (pts90k < last || pts90k - last > 10 * rtp::CLOCK_RATE)
        {
            self.min_lag = None;
        }
        self.base = Some((now, pts90k));
        let lag =
            now.duration_since(origin).as_micros() as i128 - (pts90k as i128 * 1_000_000 / 90_000);
        let min = self.min_lag.unwrap_or(lag).min(lag);
        self.min_lag = Some(min);
        Duration::from_micros((lag - min) as u64)
    }

    fn reset(&mut self) {
        self.min_lag = None;
    }
}

/// Everything a player needs, moved into its task.
pub struct PlayJob {
    pub session: Arc<Session>,
    pub sub: Subscriber,
    pub bus: Arc<FrameBus>,
    pub transport: Transport,
    pub rtp: RtpState,
    pub stop: CancellationToken,
    pub max_payload: usize,
    pub table: Arc<crate::RtspServer>,
}

/// What one viewer sends for one access unit, decided by [`Pacing::prepare`].
pub(crate) struct Prepared {
    /// NAL units in sending order: missing parameter sets, the unit's NAL units before its
    /// first slice, held picture-less NAL units, then its slices.
    pub nals: Vec<bytes::Bytes>,
    pub ts: u32,
    pub wallclock: SystemTime,
    /// A sender report is due with this unit.
    pub sr_due: bool,
}

/// One viewer's pacing: lateness and the skip to the next key frame, picture-less units held
/// for the next picture, and when the next sender report is due. Shared by the player task and
/// the fan-out driver (`fanout.rs`), whichever is writing the viewer's access units.
#[derive(Default)]
pub(crate) struct Pacing {
    late: Lateness,
    skipping: bool,
    dropped: u64,
    held: Vec<bytes::Bytes>,
    next_sr: Option<Instant>,
}

impl Pacing {
    /// `None` when the unit is held (no picture) or skipped (the viewer is late); otherwise what
    /// to send, with the RTP timestamp taken from `rtp`.
    pub(crate) fn prepare(
        &mut self,
        au: &AccessUnit,
        bus: &FrameBus,
        rtp: &mut RtpState,
        now: Instant,
        session: &str,
    ) -> Option<Prepared> {
        if !au.has_picture() {
            // A pipeline run's end marker: empty (nothing to send, no timing to take from it),
            // or with the run's end-of-stream output (the SEI signing its last GOP). Sent on its
            // own that would be a packet group without a picture at the previous timestamp,
            // which depacketisers take for a broken access unit. It goes out ahead of the next
            // picture's slices instead, where H.264 wants SEIs; verifiers accept a signature
            // anywhere after its GOP, so a viewer recording across a pipeline restart keeps it.
            if self.held.len() + au.nals.len() <= MAX_HELD_NALS {
                self.held.extend(au.nals.iter().cloned());
            }
            return None;
        }
        if self.late.lateness_at(now, au.pts90k) > LATE_LIMIT && !au.key {
            self.skipping = true;
        }
        if self.skipping {
            if !au.key {
                self.dropped += 1;
                return None;
            }
            self.skipping = false;
            self.late.reset();
            tracing::debug!(
                session,
                dropped = self.dropped,
                "rtsp viewer resynced at key frame"
            );
        }
        let ts = rtp.timestamp(au.pts90k);
        let first_slice = au
            .nals
            .iter()
            .position(|n| NalType::of(n).is_slice())
            .unwrap_or(au.nals.len());
        let mut nals = if au.key {
            missing_parameter_sets(au, bus)
        } else {
            Vec::new()
        };
        nals.reserve(au.nals.len() + self.held.len());
        nals.extend(au.nals[..first_slice].iter().cloned());
        nals.append(&mut self.held);
        nals.extend(au.nals[first_slice..].iter().cloned());
        Some(Prepared {
            nals,
            ts,
            wallclock: au.wallclock,
            sr_due: self.next_sr.is_none_or(|t| now >= t),
        })
    }

    /// Records that `p` went (or is going) out at `now`: the SR mapping and the next SR time.
    pub(crate) fn sent(&mut self, p: &Prepared, rtp: &mut RtpState, now: Instant) {
        rtp.last_wallclock = Some((p.wallclock, now));
        if p.sr_due {
            self.next_sr = Some(now + SR_INTERVAL);
        }
    }
}

/// The player of a UDP or tunnelled session: one task that owns its subscriber, so a slow client
/// only delays itself; the bus never waits for it. (Sessions on RTSP/TCP and RTSPS connections
/// are played by `fanout::play`, which lets one task per bus write to all viewers that keep up.)
pub async fn play(job: PlayJob) -> RtpState {
    let PlayJob {
        session,
        mut sub,
        bus,
        transport,
        mut rtp,
        stop,
        max_payload,
        table,
    } = job;
    // A guard, not a decrement at the end: the task may be aborted when its connection dies.
    let _playing = Playing::enter(table.clone());
    let mut pacing = Pacing::default();
    let mut udp_failing_since: Option<Instant> = None;
    // UDP only: one access unit's packets, allocated on the first send.
    let mut pkts = Packets::default();
    loop {
        let au = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            au = sub.recv() => au,
        };
        let Some(au) = au else {
            // The stream is gone for good: say BYE, keep the session until teardown/timeout.
            send_rtcp(&transport, &rtp::bye(rtp.ssrc)).await;
            break;
        };
        let now = Instant::now();
        let Some(p) = pacing.prepare(&au, &bus, &mut rtp, now, &session.id) else {
            continue;
        };
        // Interleaved, a due sender report rides in the access unit's write, mapping this
        // access unit's RTP timestamp to its capture time.
        let inline_sr = match &transport {
            Transport::Interleaved { rtcp_ch, .. } if p.sr_due => {
                Some((*rtcp_ch, rtp::ntp(p.wallclock)))
            }
            _ => None,
        };
        let sent = tokio::time::timeout(
            STALL_LIMIT,
            send_au(&transport, &p, &mut rtp, max_payload, &mut pkts, inline_sr),
        )
        .await;
        match sent {
            Ok(Ok(())) => udp_failing_since = None,
            Ok(Err(e)) if matches!(transport, Transport::Udp(_)) => {
                // Usually ICMP port unreachable: the client is gone (or briefly not listening).
                let since = *udp_failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > UDP_DEAD_AFTER {
                    tracing::info!(session = %session.id, error = %e, "rtsp udp client unreachable; ending session");
                    let (srv, s) = (table.clone(), session.clone());
                    tokio::spawn(async move { teardown(&srv, &s).await });
                    break;
                }
            }
            Ok(Err(e)) => {
                tracing::debug!(session = %session.id, error = %e, "rtsp interleaved write failed");
                break;
            }
            Err(_) => {
                tracing::info!(session = %session.id, "rtsp viewer stalled for {STALL_LIMIT:?}; dropping it");
                if let Transport::Interleaved { writer, .. } = &transport {
                    writer.kill();
                } else {
                    let (srv, s) = (table.clone(), session.clone());
                    tokio::spawn(async move { teardown(&srv, &s).await });
                }
                break;
            }
        }
        pacing.sent(&p, &mut rtp, now);
        if p.sr_due
            && inline_sr.is_none()
            && let Some((ntp, ts)) = rtp.report_times()
        {
            send_rtcp(
                &transport,
                &rtp::sender_report(rtp.ssrc, ntp, ts, rtp.packets, rtp.octets),
            )
            .await;
        }
    }
    rtp.pause();
    rtp
}

/// Counts a running player for `Stats::playing` while it lives.
pub(crate) struct Playing(Arc<crate::RtspServer>);

impl Playing {
    pub(crate) fn enter(server: Arc<crate::RtspServer>) -> Playing {
        server.sessions.playing.fetch_add(1, Ordering::Relaxed);
        Playing(server)
    }
}

impl Drop for Playing {
    fn drop(&mut self) {
        self.0.sessions.playing.fetch_sub(1, Ordering::Relaxed);
    }
}

/// SPS/PPS to send before an IDR whose access unit lacks them (decoders joining mid-stream,
/// and after resolution changes, need them in-band).
fn missing_parameter_sets(au: &AccessUnit, bus: &FrameBus) -> Vec<bytes::Bytes> {
    let has = |t| au.nals.iter().any(|n| NalType::of(n) == t);
    if has(NalType::Sps) && has(NalType::Pps) {
        return Vec::new();
    }
    match bus.info() {
        Some(info) => vec![info.sps.clone(), info.pps.clone()],
        None => Vec::new(),
    }
}

async fn send_au(
    transport: &Transport,
    p: &Prepared,
    rtp: &mut RtpState,
    max_payload: usize,
    pkts: &mut Packets,
    sr: Option<(u8, u64)>,
) -> io::Result<()> {
    match transport {
        Transport::Udp(pair) => {
            let nals: Vec<&[u8]> = p.nals.iter().map(|b| &b[..]).collect();
            pkts.clear();
            for f in rtp::packetize(&nals, max_payload) {
                pkts.buf
                    .extend_from_slice(&rtp::header(f.last, rtp.seq, p.ts, rtp.ssrc));
                pkts.buf.extend_from_slice(f.prefix.as_slice());
                pkts.buf.extend_from_slice(f.data);
                pkts.end_packet();
                // Sequence numbers advance even for lost sends: the receiver sees a gap, as it should.
                rtp.seq = rtp.seq.wrapping_add(1);
                rtp.packets = rtp.packets.wrapping_add(1);
                rtp.octets = rtp.octets.wrapping_add(f.payload_len() as u32);
            }
            pair.batch.send(&pair.rtp, pkts).await
        }
        Transport::Interleaved { writer, rtp_ch, .. } => {
            let mut w =
                crate::conn::AuWrite::new(*rtp_ch, p.nals.clone(), p.ts, rtp, max_payload, sr);
            writer.send_au(&mut w).await
        }
    }
}

pub(crate) async fn send_rtcp(transport: &Transport, pkt: &[u8]) {
    match transport {
        Transport::Udp(pair) => {
            let _ = pair.rtcp.send(pkt).await;
        }
        Transport::Interleaved {
            writer, rtcp_ch, ..
        } => {
            let _ = tokio::time::timeout(STALL_LIMIT, writer.send_frame(*rtcp_ch, pkt)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_timestamp_after_play_is_the_announced_rtptime() {
        let mut r = RtpState::new();
        let announced = r.next_ts;
        assert_eq!(r.timestamp(123_456), announced);
        assert_eq!(r.timestamp(123_456 + 3600), announced.wrapping_add(3600));
    }

    #[test]
    fn source_restart_keeps_rtp_timestamps_moving_forward() {
        let mut r = RtpState::new();
        let a = r.timestamp(900_000);
        let b = r.timestamp(3600); // source restarted: pts back near 0
        assert_eq!(b, a.wrapping_add(3600));
        assert_eq!(r.timestamp(7200), b.wrapping_add(3600));
    }

    #[test]
    fn resume_after_pause_continues_the_timeline() {
        let mut r = RtpState::new();
        let a = r.timestamp(1000);
        r.pause();
        r.resume();
        let b = r.timestamp(500_000);
        assert!(
            b.wrapping_sub(a) < 90_000,
            "continues near the paused timestamp, not at the new pts offset"
        );
        assert_ne!(b, a);
    }

    #[test]
    fn lateness_is_zero_on_time_and_grows_when_behind() {
        let t0 = Instant::now();
        let mut l = Lateness::default();
        assert_eq!(l.lateness_at(t0, 0), Duration::ZERO);
        assert_eq!(
            l.lateness_at(t0 + Duration::from_millis(40), 3600),
            Duration::ZERO
        );
        // 3 s of wall time passed but only 1 s of stream time was delivered: 2 s behind live.
        assert_eq!(
            l.lateness_at(t0 + Duration::from_secs(3), 90_000),
            Duration::from_secs(2)
        );
        // A source restart (pts back near 0) starts a new baseline instead of looking late.
        assert_eq!(
            l.lateness_at(t0 + Duration::from_secs(4), 0),
            Duration::ZERO
        );
    }

    #[tokio::test]
    async fn udp_pair_is_even_odd_and_connected_to_the_client() {
        let p = UdpPair::bind(
            "127.0.0.1".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
            5000,
            5001,
        )
        .await
        .unwrap();
        assert_eq!(p.server_ports.0 % 2, 0);
        assert_eq!(p.server_ports.1, p.server_ports.0 + 1);
        assert_eq!(p.rtp.peer_addr().unwrap().port(), 5000);
        assert!(
            Transport::Udp(Arc::new(p))
                .describe(0xAB)
                .ends_with(";ssrc=000000AB")
        );
    }

    /// Every datagram the receiver gets within a short bounded wait, in arrival order.
    async fn drain(rx: &UdpSocket) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65_536];
        for _ in 0..10_000 {
            match tokio::time::timeout(Duration::from_millis(300), rx.recv(&mut buf)).await {
                Ok(Ok(n)) => out.push(buf[..n].to_vec()),
                _ => break,
            }
        }
        out
    }

    /// Sends three access units (a key frame with small parameter sets and a fragmented IDR
    /// whose last fragment is shorter, a frame of one small packet, a frame of two slices of
    /// different fragment sizes) to a viewer, with batching on or off, and returns what arrived.
    async fn udp_viewer_receives(batching: bool) -> Vec<Vec<u8>> {
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = rx.local_addr().unwrap().port();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let pair = UdpPair::bind_batching(lo, lo, port, port.wrapping_add(1), batching)
            .await
            .unwrap();
        assert!(!batching || pair.batch.batching() || !cfg!(target_os = "linux"));
        let transport = Transport::Udp(Arc::new(pair));
        let mut rtp = RtpState::new();
        rtp.ssrc = 0x1234_5678;
        rtp.seq = 65_530; // wraps within the run
        let nal = |t: u8, len: usize| {
            let mut v = vec![t];
            v.extend((1..len).map(|i| (i * 7 % 251) as u8));
            bytes::Bytes::from(v)
        };
        let frames = [
            vec![nal(0x67, 12), nal(0x68, 4), nal(0x65, 5_000)],
            vec![nal(0x41, 60)],
            vec![nal(0x41, 3_000), nal(0x41, 2_800)],
        ];
        let mut pkts = Packets::default();
        for (k, nals) in frames.into_iter().enumerate() {
            let p = Prepared {
                nals,
                ts: 3_000 * k as u32,
                wallclock: SystemTime::UNIX_EPOCH,
                sr_due: false,
            };
            send_au(&transport, &p, &mut rtp, 1_200, &mut pkts, None)
                .await
                .unwrap();
        }
        drain(&rx).await
    }

    #[tokio::test]
    async fn udp_batching_sends_the_same_packets_in_the_same_order_as_per_packet_sends() {
        let batched = udp_viewer_receives(true).await;
        let single = udp_viewer_receives(false).await;
        // SPS, PPS, 5 IDR fragments (the last one shorter); 1 packet; 3 + 3 fragments.
        assert_eq!(single.len(), 14);
        assert_eq!(batched, single, "byte-identical datagrams");
        let seqs: Vec<u16> = batched
            .iter()
            .map(|p| u16::from_be_bytes([p[2], p[3]]))
            .collect();
        for w in seqs.windows(2) {
            assert_eq!(w[1], w[0].wrapping_add(1), "contiguous sequence numbers");
        }
        let sizes: Vec<usize> = batched.iter().map(Vec::len).collect();
        assert!(sizes[6] < sizes[5], "the IDR's last fragment is shorter");
        assert_eq!(sizes[7], 12 + 60, "the single small packet frame");
        let markers = batched.iter().filter(|p| p[1] & 0x80 != 0).count();
        assert_eq!(markers, 3, "one marker bit per access unit");
    }
}
