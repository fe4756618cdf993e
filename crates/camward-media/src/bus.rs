//! The frame bus: one encoded stream, fanned out as reference-counted access units.
//! The source never waits for a consumer; a consumer that falls behind skips to the next key frame.

use camward_h264::{AccessUnit, StreamInfo};
use std::sync::Arc;
use tokio::sync::{broadcast, watch};

/// Access units buffered per bus. At 30 fps this is ~4 s: enough slack for a viewer's hiccup,
/// small enough that memory stays bounded however many viewers attach (they share the buffer).
pub const DEFAULT_CAPACITY: usize = 128;

/// One stream's fan-out point. Outlives source restarts (e.g. a resolution change), so
/// consumers keep their subscription and see the new SPS in-band on the next key frame.
#[derive(Debug)]
pub struct FrameBus {
    tx: broadcast::Sender<Arc<AccessUnit>>,
    info: watch::Sender<Option<Arc<StreamInfo>>>,
}

impl Default for FrameBus {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl FrameBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity);
        let (info, _) = watch::channel(None);
        FrameBus { tx, info }
    }

    /// Publishes one access unit; never blocks. Returns the number of current subscribers.
    pub fn publish(&self, au: Arc<AccessUnit>) -> usize {
        self.tx.send(au).unwrap_or(0)
    }

    /// Sets (or clears, when the stream stops) what consumers need before the first frame.
    pub fn set_info(&self, info: Option<StreamInfo>) {
        self.info.send_replace(info.map(Arc::new));
    }

    /// `None` while the stream is off or its source has not produced parameter sets yet.
    pub fn info(&self) -> Option<Arc<StreamInfo>> {
        self.info.borrow().clone()
    }

    /// Watch for stream description changes (resolution change, stream switched off).
    pub fn watch_info(&self) -> watch::Receiver<Option<Arc<StreamInfo>>> {
        self.info.subscribe()
    }

    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }

    /// A wake-up per access unit published (or missed), without taking part in the units: for a
    /// consumer that reads them through other subscribers (the RTSP fan-out, which writes each
    /// unit to many viewers in one pass, each viewer keeping its own [`Subscriber`]).
    pub fn ticks(&self) -> Ticks {
        Ticks {
            rx: self.tx.subscribe(),
        }
    }

    /// A new consumer; its first access unit is the next key frame.
    pub fn subscribe(&self) -> Subscriber {
        Subscriber {
            rx: self.tx.subscribe(),
            synced: false,
            skipped: 0,
        }
    }
}

/// One consumer's view of a bus.
#[derive(Debug)]
pub struct Subscriber {
    rx: broadcast::Receiver<Arc<AccessUnit>>,
    /// False until a key frame is delivered, and again after a lag: decoders need a key frame.
    synced: bool,
    skipped: u64,
}

impl Subscriber {
    /// Next access unit, starting at a key frame. `None` when the bus is gone.
    pub async fn recv(&mut self) -> Option<Arc<AccessUnit>> {
        loop {
            match self.rx.recv().await {
                Ok(au) => {
                    if !self.synced && !au.key {
                        self.skipped += 1;
                        continue;
                    }
                    self.synced = true;
                    return Some(au);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.skipped += n;
                    self.synced = false;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next access unit if one is already waiting, with the same rules as [`recv`](Self::recv)
    /// (a key frame first, and again after a lag); never waits, so it registers no wake-up.
    pub fn try_recv(&mut self) -> TryNext {
        loop {
            match self.rx.try_recv() {
                Ok(au) => {
                    if !self.synced && !au.key {
                        self.skipped += 1;
                        continue;
                    }
                    self.synced = true;
                    return TryNext::Unit(au);
                }
                Err(broadcast::error::TryRecvError::Empty) => return TryNext::Empty,
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    self.skipped += n;
                    self.synced = false;
                }
                Err(broadcast::error::TryRecvError::Closed) => return TryNext::Closed,
            }
        }
    }

    /// Access units this consumer missed or skipped (lag, or waiting for a key frame).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// What [`Subscriber::try_recv`] found.
#[derive(Debug)]
pub enum TryNext {
    Unit(Arc<AccessUnit>),
    /// Nothing waiting yet.
    Empty,
    /// The bus is gone and everything it sent was taken.
    Closed,
}

/// See [`FrameBus::ticks`].
#[derive(Debug)]
pub struct Ticks {
    rx: broadcast::Receiver<Arc<AccessUnit>>,
}

impl Ticks {
    /// Waits for the next access unit (or a lag); `false` once the bus is gone.
    pub async fn next(&mut self) -> bool {
        !matches!(
            self.rx.recv().await,
            Err(broadcast::error::RecvError::Closed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn au(key: bool, pts: u64) -> Arc<AccessUnit> {
        Arc::new(AccessUnit {
            pts90k: pts,
            wallclock: SystemTime::now(),
            key,
            nals: vec![],
        })
    }

    #[tokio::test]
    async fn new_subscriber_starts_at_a_key_frame() {
        let bus = FrameBus::new(8);
        let mut s = bus.subscribe();
        bus.publish(au(false, 1));
        bus.publish(au(true, 2));
        assert_eq!(s.recv().await.unwrap().pts90k, 2);
    }

    #[tokio::test]
    async fn try_recv_starts_at_a_key_frame_and_resyncs_after_a_lag() {
        let bus = FrameBus::new(4);
        let mut s = bus.subscribe();
        let mut t = bus.ticks();
        assert!(matches!(s.try_recv(), TryNext::Empty));
        bus.publish(au(false, 1));
        bus.publish(au(true, 2));
        assert!(t.next().await, "a tick per unit");
        assert!(matches!(s.try_recv(), TryNext::Unit(a) if a.pts90k == 2));
        for i in 3..20 {
            bus.publish(au(i % 8 == 0, i));
        }
        match s.try_recv() {
            TryNext::Unit(a) => assert!(a.key, "after a lag, a key frame first"),
            other => panic!("{other:?}"),
        }
        drop(bus);
        while !matches!(s.try_recv(), TryNext::Closed) {}
    }

    #[tokio::test]
    async fn slow_subscriber_skips_to_next_key_frame_without_blocking_source() {
        let bus = FrameBus::new(4);
        let mut s = bus.subscribe();
        for i in 0..20 {
            bus.publish(au(i % 10 == 0, i)); // never blocks though nobody reads
        }
        bus.publish(au(true, 100));
        bus.publish(au(false, 101));
        let first = s.recv().await.unwrap();
        assert!(first.key, "after a lag delivery resumes at a key frame");
        assert!(s.skipped() > 0);
    }
}
