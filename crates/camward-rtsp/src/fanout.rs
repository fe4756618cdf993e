//! Fan-out of one stream to its viewers on RTSP/TCP and RTSPS connections (paper §4.4, RTP
//! interleaved on the RTSP connection): one driver task per frame bus writes each access unit to
//! every viewer that keeps up, in one pass, with non-blocking writes; a viewer whose socket cannot take
//! the whole unit at once (or whose connection is busy writing a response) is handed to its own
//! task, which finishes the write, catches up at its own pace and then hands itself back.
//!
//! Why: with one task per viewer, every access unit woke every viewer's task (a wake-up, a task
//! poll, a cancellation check and a lock each), ~10 % of the daemon's CPU at 500 viewers
//! (docs/benchmarks.md, notes). A viewer that keeps up now costs one `writev` per access unit and
//! no wake-up; a slow one still only delays itself: the driver never waits on a socket. Tunnelled
//! viewers keep their own task: their writes go to an in-memory pipe, and written in one pass every
//! tunnel's chunks would be in flight at once (more memory, no CPU saved).

use crate::conn::{AuWrite, Layout, WriteGuard, Writer};
use crate::rtp;
use crate::session::{Pacing, PlayJob, Playing, RtpState, STALL_LIMIT, Transport, send_rtcp};
use camward_media::{FrameBus, Ticks, TryNext};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use tokio::sync::Notify;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The drivers of the server, one per bus that has interleaved viewers.
#[derive(Default)]
pub(crate) struct Groups {
    map: Mutex<HashMap<usize, Arc<Group>>>,
}

struct Group {
    members: Mutex<Vec<Arc<Member>>>,
}

/// Key of a bus in [`Groups`]: its address, stable while the group holds the bus.
fn key(bus: &Arc<FrameBus>) -> usize {
    Arc::as_ptr(bus) as usize
}

/// One interleaved viewer as the driver sees it.
struct Member {
    /// `None` while the viewer's own task holds it (slow lane, or stopping).
    state: Mutex<Option<Viewer>>,
    /// The driver handed the viewer over (see `Viewer::handoff`).
    wake: Notify,
    writer: Arc<Writer>,
    bus: Arc<FrameBus>,
    rtp_ch: u8,
    rtcp_ch: u8,
    max_payload: usize,
    session: String,
}

struct Viewer {
    sub: camward_media::Subscriber,
    rtp: RtpState,
    pacing: Pacing,
    /// Set by the driver for the viewer's task; the driver leaves the viewer alone until then.
    handoff: Option<Handoff>,
}

enum Handoff {
    /// A unit the driver began (`Some` guard: the socket took part of it) or could not begin
    /// (`None`: the connection was writing a response).
    Write(Option<WriteGuard>, AuWrite),
    /// The bus is gone.
    Ended,
    /// The connection's writer failed.
    Failed,
}

impl Member {
    /// Driver side: writes every unit waiting for this viewer, as long as the socket takes them
    /// whole without waiting. `shared`: the packetization of the unit last written in this pass,
    /// reused when this viewer is sent the same NAL units (nearly always).
    fn pump(&self, now: Instant, shared: &mut Option<Arc<Layout>>) {
        let Ok(mut slot) = self.state.try_lock() else {
            return; // the viewer's task is taking or returning it; the next tick will do
        };
        let Some(v) = slot.as_mut() else { return };
        if v.handoff.is_some() {
            return;
        }
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            let au = match v.sub.try_recv() {
                TryNext::Unit(au) => au,
                TryNext::Empty => return,
                TryNext::Closed => return self.hand(v, Handoff::Ended),
            };
            let Some(p) = v
                .pacing
                .prepare(&au, &self.bus, &mut v.rtp, now, &self.session)
            else {
                continue;
            };
            let sr = p.sr_due.then(|| (self.rtcp_ch, rtp::ntp(p.wallclock)));
            v.pacing.sent(&p, &mut v.rtp, now);
            let layout = match shared {
                Some(l) if l.fits(&p.nals, self.max_payload) => l.clone(),
                _ => shared
                    .insert(Arc::new(Layout::new(p.nals, self.max_payload)))
                    .clone(),
            };
            let mut w = AuWrite::with_layout(self.rtp_ch, layout, p.ts, &mut v.rtp, sr);
            match self.writer.try_begin() {
                None => return self.hand(v, Handoff::Write(None, w)),
                Some(Err(_)) => return self.hand(v, Handoff::Failed),
                Some(Ok(mut g)) => match w.poll_write(g.io_mut(), &mut cx) {
                    Poll::Ready(r) => {
                        if self.writer.finish(g, r).is_err() {
                            return self.hand(v, Handoff::Failed);
                        }
                    }
                    Poll::Pending => return self.hand(v, Handoff::Write(Some(g), w)),
                },
            }
        }
    }

    fn hand(&self, v: &mut Viewer, h: Handoff) {
        v.handoff = Some(h);
        self.wake.notify_one();
    }

    fn take(&self) -> Option<Viewer> {
        lock(&self.state).take()
    }

    fn put(&self, v: Viewer) {
        *lock(&self.state) = Some(v);
    }
}

/// A viewer's place in its bus's group; leaving it (drop) stops the driver from touching it.
struct Joined {
    server: Arc<crate::RtspServer>,
    key: usize,
    member: Arc<Member>,
}

impl Groups {
    fn join(server: &Arc<crate::RtspServer>, member: Arc<Member>) -> Joined {
        let k = key(&member.bus);
        let mut map = lock(&server.fanout.map);
        let group = map.entry(k).or_insert_with(|| {
            let g = Arc::new(Group {
                members: Mutex::new(Vec::new()),
            });
            // Unconstrained: one pass writes to hundreds of sockets, more than tokio's
            // per-poll budget of I/O operations, and a budget-exhausted write would look like
            // a full socket and send the viewer to the slow lane for nothing.
            tokio::spawn(tokio::task::unconstrained(drive(
                server.clone(),
                k,
                g.clone(),
                member.bus.ticks(),
            )));
            g
        });
        lock(&group.members).push(member.clone());
        Joined {
            server: server.clone(),
            key: k,
            member,
        }
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        let map = lock(&self.server.fanout.map);
        if let Some(g) = map.get(&self.key) {
            lock(&g.members).retain(|m| !Arc::ptr_eq(m, &self.member));
        }
    }
}

/// The driver of one bus: on every access unit, one pass over the viewers that keep up. Ends
/// (and leaves the map) when the bus ends or its last viewer has left.
async fn drive(server: Arc<crate::RtspServer>, k: usize, group: Arc<Group>, mut ticks: Ticks) {
    loop {
        let alive = ticks.next().await;
        let now = Instant::now();
        {
            let members = lock(&group.members);
            let mut shared = None;
            for m in members.iter() {
                m.pump(now, &mut shared);
            }
        }
        let mut map = lock(&server.fanout.map);
        let empty = lock(&group.members).is_empty();
        if !alive || empty {
            if map.get(&k).is_some_and(|g| Arc::ptr_eq(g, &group)) {
                map.remove(&k);
            }
            // Anyone still here learns of the end through their own subscriber: `pump` above
            // found it closed, or the viewer's task will when it next looks.
            return;
        }
    }
}

/// How the slow lane ended.
enum Lane {
    /// Caught up: back to the driver.
    CaughtUp,
    /// The viewer is done (bus gone, connection failed or stalled).
    Done,
}

/// The player of an interleaved session: joins its bus's driver and steps in only when the
/// driver hands the viewer over. Returns the RTP state for the next PLAY.
pub(crate) async fn play(job: PlayJob) -> RtpState {
    let PlayJob {
        session,
        sub,
        bus,
        transport,
        rtp,
        stop,
        max_payload,
        table,
    } = job;
    let Transport::Interleaved {
        writer,
        rtp_ch,
        rtcp_ch,
    } = transport
    else {
        // UDP sessions have their own player.
        return rtp;
    };
    // A guard, not a decrement at the end: the task may be aborted when its connection dies.
    let _playing = Playing::enter(table.clone());
    let member = Arc::new(Member {
        state: Mutex::new(Some(Viewer {
            sub,
            rtp,
            pacing: Pacing::default(),
            handoff: None,
        })),
        wake: Notify::new(),
        writer,
        bus,
        rtp_ch,
        rtcp_ch,
        max_payload,
        session: session.id.clone(),
    });
    let joined = Groups::join(&table, member.clone());
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = member.wake.notified() => {}
        }
        let Some(mut v) = member.take() else { continue };
        match slow_lane(&member, &mut v, &stop).await {
            Lane::CaughtUp => member.put(v),
            Lane::Done => {
                member.put(v);
                break;
            }
        }
    }
    // Stopping (PAUSE, TEARDOWN) or done: out of the driver's reach first, then finish a unit
    // it began, so that the connection's framing stays intact for the next response.
    drop(joined);
    let mut v = member
        .take()
        .expect("the viewer's state is back once its task stops");
    if let Some(Handoff::Write(g, mut w)) = v.handoff.take() {
        let _ = tokio::time::timeout(STALL_LIMIT, finish(&member.writer, g, &mut w)).await;
    }
    v.rtp.pause();
    v.rtp
}

async fn finish(writer: &Writer, g: Option<WriteGuard>, w: &mut AuWrite) -> std::io::Result<()> {
    match g {
        Some(g) => writer.resume(g, w).await,
        None => writer.send_au(w).await,
    }
}

/// The viewer's own task at work: finish what the driver handed over, then write waiting units
/// one by one (each may wait for the socket, up to the stall limit) until none is waiting.
async fn slow_lane(m: &Member, v: &mut Viewer, stop: &tokio_util::sync::CancellationToken) -> Lane {
    let done = match v.handoff.take() {
        None => false,
        Some(Handoff::Ended) => {
            bye(m, v.rtp.ssrc).await;
            true
        }
        Some(Handoff::Failed) => true,
        Some(Handoff::Write(g, mut w)) => !written(m, finish(&m.writer, g, &mut w)).await,
    };
    if done {
        return Lane::Done;
    }
    loop {
        if stop.is_cancelled() {
            return Lane::CaughtUp;
        }
        let au = match v.sub.try_recv() {
            TryNext::Unit(au) => au,
            TryNext::Empty => return Lane::CaughtUp,
            TryNext::Closed => {
                bye(m, v.rtp.ssrc).await;
                return Lane::Done;
            }
        };
        let now = Instant::now();
        let Some(p) = v.pacing.prepare(&au, &m.bus, &mut v.rtp, now, &m.session) else {
            continue;
        };
        let sr = p.sr_due.then(|| (m.rtcp_ch, rtp::ntp(p.wallclock)));
        v.pacing.sent(&p, &mut v.rtp, now);
        let mut w = AuWrite::new(m.rtp_ch, p.nals, p.ts, &mut v.rtp, m.max_payload, sr);
        if !written(m, m.writer.send_au(&mut w)).await {
            return Lane::Done;
        }
    }
}

/// Awaits one access unit's write for at most the stall limit; a viewer that cannot take it in
/// that time is dropped (its connection closed). `false` when the viewer is done.
async fn written(
    m: &Member,
    write: impl std::future::Future<Output = std::io::Result<()>>,
) -> bool {
    match tokio::time::timeout(STALL_LIMIT, write).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::debug!(session = %m.session, error = %e, "rtsp interleaved write failed");
            false
        }
        Err(_) => {
            tracing::info!(session = %m.session, "rtsp viewer stalled for {STALL_LIMIT:?}; dropping it");
            m.writer.kill();
            false
        }
    }
}

/// The stream is gone for good: say BYE, keep the session until teardown/timeout.
async fn bye(m: &Member, ssrc: u32) {
    let t = Transport::Interleaved {
        writer: m.writer.clone(),
        rtp_ch: m.rtp_ch,
        rtcp_ch: m.rtcp_ch,
    };
    send_rtcp(&t, &rtp::bye(ssrc)).await;
}
