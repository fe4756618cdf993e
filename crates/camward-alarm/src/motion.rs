//! Connects the pure [`MotionDetector`] to the alarm bus: the daemon feeds luma planes of the
//! configured stream, areas that start moving raise `Vmd(area)` alarms.

use crate::hub::{AlarmHub, AlarmSource};
use crate::vmd::{AreaId, MotionDetector};
use camward_config::alarm::VmdConfig;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// VMD as an alarm source. Cheap to call at any frame rate: the detector samples every 200 ms.
#[derive(Debug)]
pub struct VmdAlarms {
    hub: Arc<AlarmHub>,
    inner: Mutex<(VmdConfig, MotionDetector)>,
}

impl VmdAlarms {
    pub fn new(hub: Arc<AlarmHub>, config: &VmdConfig) -> Self {
        VmdAlarms {
            hub,
            inner: Mutex::new((config.clone(), MotionDetector::new(config))),
        }
    }

    /// Takes a new `alarm.vmd` section; the detector restarts only when it changed.
    pub fn apply(&self, config: &VmdConfig) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.0 != *config {
            g.1.configure(config);
            g.0 = config.clone();
        }
    }

    /// The stream the daemon should feed (`alarm.vmd.stream`), or `None` while VMD is off.
    pub fn wanted_stream(&self) -> Option<u8> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0.enabled.then_some(g.0.stream)
    }

    /// Analyses one Y plane (`width × height`, no padding) taken at `t` (monotonic).
    /// Returns the areas that raised an alarm.
    pub fn feed(&self, luma: &[u8], width: usize, height: usize, t: Duration) -> Vec<AreaId> {
        let fired = {
            let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if !g.0.enabled {
                return Vec::new();
            }
            g.1.feed(luma, width, height, t)
        };
        for a in &fired {
            self.hub.raise(AlarmSource::Vmd(*a));
        }
        fired
    }

    /// Latest change level per area (0..1), for a level meter.
    pub fn levels(&self) -> Vec<(AreaId, f32)> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .levels()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemoryLog;
    use camward_config::AlarmConfig;
    use camward_config::alarm::VmdArea;

    #[test]
    fn vmd_off_raises_nothing_and_on_raises_vmd_alarms() {
        let log = MemoryLog::new();
        let hub = Arc::new(AlarmHub::new(AlarmConfig::default(), log.shared()));
        let mut cfg = VmdConfig {
            areas: vec![VmdArea::default()],
            ..VmdConfig::default()
        };
        let vmd = VmdAlarms::new(hub.clone(), &cfg);
        assert_eq!(vmd.wanted_stream(), None);
        let (w, h) = (64usize, 36usize);
        let dark = vec![16u8; w * h];
        let mut half = dark.clone();
        half[..w * h / 4].fill(235);
        let frames = [&dark, &half, &dark, &half, &dark];
        for (i, f) in frames.iter().enumerate() {
            assert!(
                vmd.feed(f, w, h, Duration::from_millis(i as u64 * 200))
                    .is_empty()
            );
        }
        cfg.enabled = true;
        vmd.apply(&cfg);
        assert_eq!(vmd.wanted_stream(), Some(2));
        let mut fired = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            fired.extend(vmd.feed(f, w, h, Duration::from_millis(2000 + i as u64 * 200)));
        }
        assert_eq!(fired, vec![AreaId(1)]);
        assert_eq!(log.of_kind("alarm").len(), 1);
        assert!(log.of_kind("alarm")[0].message.contains("VMD area 1"));
    }
}
