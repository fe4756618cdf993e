//! Video motion detection: frame differencing of luma planes on a coarse grid, per area, with
//! confirmation and cool-down so one movement raises one alarm. Pure: no I/O, no clock.
//!
//! The algorithm, its numbers and why they were chosen are in
//! docs/design/alarms-and-notifications.md ("Video motion detection").

use camward_config::alarm::{VmdArea, VmdConfig};
use std::time::Duration;

/// Columns and rows of the detection grid. A 16:9 picture gives square cells; 64×36 cells are
/// ~10 px at 640×360, fine enough for a person at a few metres and cheap (2 304 cells).
pub const GRID_W: usize = 64;
pub const GRID_H: usize = 36;
/// Pictures closer together than this are skipped, so the result does not depend on the frame
/// rate fed in (25 fps and 5 fps sources see the same displacement between compared pictures).
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(200);
/// A gap longer than this (source restarted, stream switched) restarts differencing instead of
/// comparing two unrelated pictures.
pub const MAX_GAP: Duration = Duration::from_secs(2);
/// Consecutive compared samples an area must exceed its threshold before it alarms: a single
/// glitch (decoder artefact, a flash) is not motion.
pub const CONFIRM_SAMPLES: u32 = 2;
/// When more than this fraction of the whole picture changes at once, it is a lighting change,
/// an exposure step or a moved camera, not motion: no area alarms on it.
pub const SCENE_CHANGE_FRACTION: f32 = 0.5;

/// The number of an area, 1–4, as on the VMD area screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AreaId(pub u8);

impl std::fmt::Display for AreaId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Luma difference (0–255) a cell's mean must change by to count, for sensitivity 1–10:
/// 44 at 1 (only strong contrast) down to 8 at 10 (faint changes; still above the ±2–3 levels
/// of sensor noise left after averaging a cell of ~100 pixels).
pub fn cell_threshold(sensitivity: u8) -> u8 {
    48 - 4 * sensitivity.clamp(1, 10)
}

#[derive(Debug, Clone)]
struct AreaRule {
    id: AreaId,
    /// Normalised rectangle.
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
    cell_threshold: u8,
    /// Fraction of the area's cells (0..1) needed to count as motion.
    fraction: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Idle {
        over: u32,
    },
    /// Alarmed; ends `cooldown` after the last sample with motion.
    Active {
        last_motion: Duration,
    },
}

#[derive(Debug, Clone)]
struct AreaState {
    rule: AreaRule,
    /// Grid cell indexes whose centre lies inside the area (recomputed per grid size).
    cells: Vec<usize>,
    state: State,
    last_level: f32,
}

/// Per-area motion detector. Feed it luma planes; it returns the areas that just started an
/// alarm (each at most once per movement).
#[derive(Debug)]
pub struct MotionDetector {
    areas: Vec<AreaState>,
    cooldown: Duration,
    dims: (usize, usize),
    grid: (usize, usize),
    prev: Option<Vec<u8>>,
    last_t: Option<Duration>,
}

impl MotionDetector {
    pub fn new(cfg: &VmdConfig) -> Self {
        let mut d = MotionDetector {
            areas: Vec::new(),
            cooldown: Duration::from_secs(5),
            dims: (0, 0),
            grid: (0, 0),
            prev: None,
            last_t: None,
        };
        d.configure(cfg);
        d
    }

    /// Takes new settings; area states restart (a moved area has no meaningful history).
    pub fn configure(&mut self, cfg: &VmdConfig) {
        self.cooldown = Duration::from_secs(cfg.cooldown_seconds.max(1) as u64);
        self.areas = cfg
            .areas
            .iter()
            .enumerate()
            .filter(|(_, a)| a.enabled)
            .map(|(i, a)| AreaState {
                rule: rule(AreaId(i as u8 + 1), a),
                cells: Vec::new(),
                state: State::Idle { over: 0 },
                last_level: 0.0,
            })
            .collect();
        self.assign_cells();
    }

    /// Latest measured change per area, as a fraction (0..1) of its cells: for a level meter on
    /// the settings page and for tuning.
    pub fn levels(&self) -> Vec<(AreaId, f32)> {
        self.areas
            .iter()
            .map(|a| (a.rule.id, a.last_level))
            .collect()
    }

    /// Whether `area` is in its alarmed (cool-down) state.
    pub fn is_active(&self, area: AreaId) -> bool {
        self.areas
            .iter()
            .any(|a| a.rule.id == area && matches!(a.state, State::Active { .. }))
    }

    /// Analyses one picture. `luma` is the Y plane, `width × height` bytes with no padding;
    /// `t` is the picture's time on any monotonic clock (e.g. since the stream started).
    /// Returns the areas whose alarm starts with this picture. Malformed input (a plane shorter
    /// than `width × height`) is ignored rather than panicking on a decoder's odd output.
    pub fn feed(&mut self, luma: &[u8], width: usize, height: usize, t: Duration) -> Vec<AreaId> {
        if width == 0 || height == 0 || luma.len() < width * height || self.areas.is_empty() {
            return Vec::new();
        }
        if let Some(last) = self.last_t {
            if t < last || t - last > MAX_GAP {
                self.prev = None;
            } else if t - last < SAMPLE_INTERVAL {
                return Vec::new();
            }
        }
        if (width, height) != self.dims {
            self.dims = (width, height);
            self.grid = (GRID_W.min(width), GRID_H.min(height));
            self.prev = None;
            self.assign_cells();
        }
        self.last_t = Some(t);
        let cur = downscale(luma, width, height, self.grid);
        let Some(prev) = self.prev.replace(cur) else {
            return Vec::new();
        };
        let cur = self.prev.as_ref().expect("just stored");
        let diff: Vec<u8> = prev.iter().zip(cur).map(|(a, b)| a.abs_diff(*b)).collect();

        // Scene change: judged with the most sensitive threshold in use, over the whole picture.
        let global_thr = self
            .areas
            .iter()
            .map(|a| a.rule.cell_threshold)
            .min()
            .unwrap_or(u8::MAX);
        let global = diff.iter().filter(|d| **d >= global_thr).count() as f32 / diff.len() as f32;
        let scene_change = global >= SCENE_CHANGE_FRACTION;

        let mut fired = Vec::new();
        for a in &mut self.areas {
            if a.cells.is_empty() {
                continue;
            }
            let changed = a
                .cells
                .iter()
                .filter(|&&i| diff[i] >= a.rule.cell_threshold)
                .count();
            let level = changed as f32 / a.cells.len() as f32;
            a.last_level = level;
            // At least two cells, so one noisy cell never alarms a small area on its own.
            let motion = !scene_change && level >= a.rule.fraction && changed >= 2;
            // Hysteresis: once alarmed, half the threshold keeps the area busy, so a movement
            // that briefly weakens (a person pausing) does not end and restart the alarm.
            let still_moving = !scene_change && level >= a.rule.fraction / 2.0 && changed >= 1;
            a.state = match a.state {
                State::Idle { over } if motion => {
                    if over + 1 >= CONFIRM_SAMPLES {
                        fired.push(a.rule.id);
                        State::Active { last_motion: t }
                    } else {
                        State::Idle { over: over + 1 }
                    }
                }
                State::Idle { .. } => State::Idle { over: 0 },
                State::Active { .. } if still_moving => State::Active { last_motion: t },
                State::Active { last_motion } if t.saturating_sub(last_motion) >= self.cooldown => {
                    State::Idle { over: 0 }
                }
                s @ State::Active { .. } => s,
            };
        }
        fired
    }

    fn assign_cells(&mut self) {
        let (gw, gh) = self.grid;
        for a in &mut self.areas {
            a.cells.clear();
            for gy in 0..gh {
                let cy = (gy as f64 + 0.5) / gh as f64;
                if cy < a.rule.y0 || cy >= a.rule.y1 {
                    continue;
                }
                for gx in 0..gw {
                    let cx = (gx as f64 + 0.5) / gw as f64;
                    if cx >= a.rule.x0 && cx < a.rule.x1 {
                        a.cells.push(gy * gw + gx);
                    }
                }
            }
        }
    }
}

fn rule(id: AreaId, a: &VmdArea) -> AreaRule {
    AreaRule {
        id,
        x0: a.x.clamp(0.0, 1.0),
        y0: a.y.clamp(0.0, 1.0),
        x1: (a.x + a.width).clamp(0.0, 1.0),
        y1: (a.y + a.height).clamp(0.0, 1.0),
        cell_threshold: cell_threshold(a.sensitivity),
        fraction: a.threshold.clamp(1, 100) as f32 / 100.0,
    }
}

/// Mean luma of each grid cell. Every second pixel of every second row is enough for a mean
/// and halves the cost twice; cells always contain at least one sampled pixel.
fn downscale(luma: &[u8], width: usize, height: usize, (gw, gh): (usize, usize)) -> Vec<u8> {
    let mut out = Vec::with_capacity(gw * gh);
    for gy in 0..gh {
        let y0 = gy * height / gh;
        let y1 = ((gy + 1) * height / gh).max(y0 + 1);
        for gx in 0..gw {
            let x0 = gx * width / gw;
            let x1 = ((gx + 1) * width / gw).max(x0 + 1);
            let (mut sum, mut n) = (0u32, 0u32);
            for y in (y0..y1).step_by(2) {
                let row = &luma[y * width..y * width + width];
                for x in (x0..x1).step_by(2) {
                    sum += row[x] as u32;
                    n += 1;
                }
            }
            out.push((sum / n.max(1)) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 640;
    const H: usize = 360;

    /// A picture like testsrc's: dark background with bars, a bright moving box in the middle
    /// band, and a clock + frame counter at the top that change every second / every frame.
    struct Scene {
        bg: Vec<u8>,
    }

    impl Scene {
        fn new() -> Scene {
            let mut bg = vec![16u8; W * H];
            for y in 0..H * 2 / 3 {
                for x in 0..W {
                    bg[y * W + x] = [180, 162, 131, 112, 84, 65, 35, 16][x * 8 / W];
                }
            }
            Scene { bg }
        }

        fn rect(p: &mut [u8], x: usize, y: usize, w: usize, h: usize, v: u8) {
            for yy in y..(y + h).min(H) {
                for xx in x..(x + w).min(W) {
                    p[yy * W + xx] = v;
                }
            }
        }

        /// Picture at time `t` seconds; `box_on` draws the moving box.
        fn render(&self, t: f64, box_on: bool, frame: u64) -> Vec<u8> {
            let mut p = self.bg.clone();
            if box_on {
                let side = 72;
                let phase = (t % 6.0) / 6.0;
                let tri = if phase < 0.5 {
                    phase * 2.0
                } else {
                    2.0 - phase * 2.0
                };
                let x = ((W - side) as f64 * tri) as usize;
                let y = (H - side) / 2;
                Self::rect(&mut p, x, y, side, side, 235);
            }
            // Clock (seconds change glyphs) and frame counter (changes every frame), top band.
            Self::rect(&mut p, 8, 8, 200, 36, 16);
            Self::rect(&mut p, W - 230, 8, 222, 36, 16);
            let secs = t as u64;
            for (i, d) in [secs / 10 % 6, secs % 10].iter().enumerate() {
                Self::glyph(&mut p, 8 + 150 + i * 24, 12, *d);
            }
            for (i, d) in [frame / 10 % 10, frame % 10].iter().enumerate() {
                Self::glyph(&mut p, W - 60 + i * 24, 12, *d);
            }
            p
        }

        /// A crude digit: a different set of 4×4 blocks lit per value.
        fn glyph(p: &mut [u8], x: usize, y: usize, d: u64) {
            for k in 0..20u64 {
                if (k * 7 + d * 13).is_multiple_of(3) {
                    Self::rect(
                        p,
                        x + (k % 5) as usize * 4,
                        y + (k / 5) as usize * 7,
                        4,
                        6,
                        235,
                    );
                }
            }
        }
    }

    fn cfg(areas: Vec<VmdArea>) -> VmdConfig {
        VmdConfig {
            enabled: true,
            areas,
            ..VmdConfig::default()
        }
    }

    fn area(x: f64, y: f64, w: f64, h: f64) -> VmdArea {
        VmdArea {
            x,
            y,
            width: w,
            height: h,
            ..VmdArea::default()
        }
    }

    /// Feeds `secs` seconds at `fps` and collects every alarm raised.
    fn run(
        d: &mut MotionDetector,
        scene: &Scene,
        secs: f64,
        fps: f64,
        box_on: bool,
    ) -> Vec<(f64, AreaId)> {
        let mut out = Vec::new();
        let n = (secs * fps) as u64;
        for i in 0..n {
            let t = i as f64 / fps;
            let p = scene.render(t, box_on, i);
            for a in d.feed(&p, W, H, Duration::from_secs_f64(t)) {
                out.push((t, a));
            }
        }
        out
    }

    #[test]
    fn motion_inside_area_raises_one_alarm() {
        let scene = Scene::new();
        // Left half of the box's path; the box is inside it during 0–~1.5 s and 4.5–6 s.
        let mut d = MotionDetector::new(&VmdConfig {
            cooldown_seconds: 10,
            ..cfg(vec![area(0.0, 0.3, 0.5, 0.4)])
        });
        let alarms = run(&mut d, &scene, 6.0, 25.0, true);
        assert_eq!(alarms.len(), 1, "{alarms:?}");
        assert_eq!(alarms[0].1, AreaId(1));
        assert!(alarms[0].0 < 1.0, "detected late: {alarms:?}");
    }

    #[test]
    fn motion_outside_every_area_is_ignored() {
        let scene = Scene::new();
        // Bottom strip (below the box) and a top-middle patch between clock and counter.
        let mut d = MotionDetector::new(&cfg(vec![
            area(0.0, 0.75, 1.0, 0.25),
            area(0.4, 0.0, 0.2, 0.2),
        ]));
        let alarms = run(&mut d, &scene, 12.0, 25.0, true);
        assert!(alarms.is_empty(), "{alarms:?}");
    }

    #[test]
    fn clock_alone_does_not_alarm_an_area_next_to_it() {
        let scene = Scene::new();
        // The whole picture except the top overlay band, at the highest sensitivity.
        let mut a = area(0.0, 0.15, 1.0, 0.85);
        a.sensitivity = 10;
        let mut d = MotionDetector::new(&cfg(vec![a]));
        assert!(run(&mut d, &scene, 20.0, 25.0, false).is_empty());
    }

    #[test]
    fn clock_alone_does_not_alarm_a_whole_picture_area_at_default_settings() {
        let scene = Scene::new();
        let mut d = MotionDetector::new(&cfg(vec![area(0.0, 0.0, 1.0, 1.0)]));
        assert!(run(&mut d, &scene, 20.0, 25.0, false).is_empty());
    }

    #[test]
    fn each_movement_after_the_cooldown_alarms_again() {
        let scene = Scene::new();
        // The box passes a small area at the right edge once per 6 s period (in for ~1.3 s).
        let mut d = MotionDetector::new(&VmdConfig {
            cooldown_seconds: 2,
            ..cfg(vec![area(0.8, 0.3, 0.2, 0.4)])
        });
        let alarms = run(&mut d, &scene, 18.0, 25.0, true);
        assert_eq!(alarms.len(), 3, "{alarms:?}");
    }

    #[test]
    fn frame_rate_does_not_change_the_result() {
        let scene = Scene::new();
        for fps in [5.0, 10.0, 30.0] {
            let mut d = MotionDetector::new(&VmdConfig {
                cooldown_seconds: 10,
                ..cfg(vec![area(0.0, 0.3, 0.5, 0.4)])
            });
            assert_eq!(run(&mut d, &scene, 6.0, fps, true).len(), 1, "at {fps} fps");
        }
    }

    #[test]
    fn lighting_change_is_not_motion() {
        let mut d = MotionDetector::new(&cfg(vec![area(0.0, 0.0, 1.0, 1.0)]));
        for i in 0..20u64 {
            // Lights switching on and off every 400 ms.
            let v = if (i / 2) % 2 == 0 { 40 } else { 200 };
            let p = vec![v; W * H];
            assert!(d.feed(&p, W, H, Duration::from_millis(i * 200)).is_empty());
        }
    }

    #[test]
    fn areas_report_their_own_id() {
        let scene = Scene::new();
        let mut d = MotionDetector::new(&VmdConfig {
            cooldown_seconds: 10,
            ..cfg(vec![
                area(0.0, 0.75, 1.0, 0.25),
                VmdArea {
                    enabled: false,
                    ..area(0.0, 0.3, 0.5, 0.4)
                },
                area(0.0, 0.3, 0.5, 0.4),
            ])
        });
        let alarms = run(&mut d, &scene, 3.0, 25.0, true);
        assert_eq!(
            alarms.iter().map(|a| a.1).collect::<Vec<_>>(),
            vec![AreaId(3)]
        );
        assert!(d.is_active(AreaId(3)));
    }

    #[test]
    fn malformed_input_and_gaps_are_harmless() {
        let mut d = MotionDetector::new(&cfg(vec![area(0.0, 0.0, 1.0, 1.0)]));
        assert!(d.feed(&[0u8; 10], W, H, Duration::ZERO).is_empty());
        assert!(d.feed(&[], 0, 0, Duration::ZERO).is_empty());
        // A tiny picture (smaller than the grid) works.
        assert!(d.feed(&[0u8; 16], 4, 4, Duration::from_secs(1)).is_empty());
        // A jump back in time or a long gap restarts differencing instead of comparing.
        let a = vec![16u8; W * H];
        let b = vec![235u8; W * H / 2]
            .into_iter()
            .chain(vec![16u8; W * H / 2])
            .collect::<Vec<_>>();
        d.feed(&a, W, H, Duration::from_secs(10));
        assert!(d.feed(&b, W, H, Duration::from_secs(20)).is_empty());
        assert!(d.feed(&a, W, H, Duration::from_secs(5)).is_empty());
    }

    #[test]
    fn sensitivity_maps_to_documented_thresholds() {
        assert_eq!(cell_threshold(1), 44);
        assert_eq!(cell_threshold(5), 28);
        assert_eq!(cell_threshold(10), 8);
        assert_eq!(cell_threshold(0), 44);
    }
}
