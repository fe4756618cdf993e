//! Motion detection on testsrc's scene: its moving box raises an alarm inside an area, nothing
//! outside every area, and its clock alone raises nothing.
//!
//! The scene is rebuilt here with testsrc's geometry (camward-media `testsrc.rs`: bars, a box of
//! side h/5 crossing the picture and back every 6 s at mid height, 5×7 clock digits scaled h/90
//! at the top-left, a frame counter at the top-right) so this crate stays free of the media
//! pipeline; the daemon's end-to-end test runs the real one.

use camward_alarm::vmd::{AreaId, MotionDetector};
use camward_config::alarm::{VmdArea, VmdConfig};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const GLYPHS: [(char, [u8; 7]); 12] = [
    ('0', [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e]),
    ('1', [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e]),
    ('2', [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f]),
    ('3', [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e]),
    ('4', [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02]),
    ('5', [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e]),
    ('6', [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e]),
    ('7', [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08]),
    ('8', [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e]),
    ('9', [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c]),
    (':', [0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00]),
    ('#', [0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a]),
];
const BARS: [u8; 8] = [180, 162, 131, 112, 84, 65, 35, 16];

/// Luma plane of testsrc.
struct Picture {
    w: i64,
    h: i64,
    y: Vec<u8>,
}

impl Picture {
    fn rect(&mut self, x: i64, y: i64, w: i64, h: i64, v: u8) {
        for yy in y.max(0)..(y + h).min(self.h) {
            for xx in x.max(0)..(x + w).min(self.w) {
                self.y[(yy * self.w + xx) as usize] = v;
            }
        }
    }

    fn text(&mut self, x: i64, y: i64, scale: i64, text: &str) {
        self.rect(x, y, text_width(text, scale), 9 * scale, 16);
        for (i, ch) in text.chars().enumerate() {
            let Some((_, rows)) = GLYPHS.iter().find(|(c, _)| *c == ch) else {
                continue;
            };
            let gx = x + scale + i as i64 * 6 * scale;
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        self.rect(
                            gx + col * scale,
                            y + scale + r as i64 * scale,
                            scale,
                            scale,
                            235,
                        );
                    }
                }
            }
        }
    }
}

fn text_width(text: &str, scale: i64) -> i64 {
    text.chars().count() as i64 * 6 * scale + 2 * scale
}

struct TestScene {
    fps: u32,
    background: Picture,
}

impl TestScene {
    fn new(width: u32, height: u32, fps: u32) -> TestScene {
        let (w, h) = (width as i64, height as i64);
        let mut bg = Picture {
            w,
            h,
            y: vec![16; (w * h) as usize],
        };
        let bar_w = (w / 8) & !1;
        for (i, v) in BARS.iter().enumerate() {
            bg.rect(
                i as i64 * bar_w,
                0,
                if i == 7 { w } else { bar_w },
                h * 2 / 3,
                *v,
            );
        }
        let step_w = ((w / 16) & !1).max(2);
        for i in 0..16 {
            let x = i * step_w;
            bg.rect(
                x,
                h * 2 / 3,
                if i == 15 { w - x } else { step_w },
                h,
                16 + (i * 219 / 15) as u8,
            );
        }
        TestScene {
            fps,
            background: bg,
        }
    }

    fn render(&self, n: u64, wall: SystemTime) -> Picture {
        let mut f = Picture {
            y: self.background.y.clone(),
            ..self.background
        };
        let (w, h) = (f.w, f.h);
        let side = ((h / 5) & !1).max(4);
        let t = n as f64 / self.fps as f64;
        let phase = (t % 6.0) / 6.0;
        let tri = if phase < 0.5 {
            phase * 2.0
        } else {
            2.0 - phase * 2.0
        };
        let x = (((w - side) as f64 * tri) as i64) & !1;
        let y = ((h - side) / 2) & !1;
        f.rect(x - 4, y - 4, side + 8, side + 8, 16);
        f.rect(x, y, side, side, 235);
        let scale = (h / 90).max(1);
        let secs = wall
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let clock = format!(
            "{:02}:{:02}:{:02}",
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60
        );
        let counter = format!("#{:06}", n % 1_000_000);
        f.text(2 * scale, 2 * scale, scale, &clock);
        let cw = text_width(&counter, scale);
        f.text(w - cw - 2 * scale, 2 * scale, scale, &counter);
        f
    }
}

const FPS: u32 = 10;

/// Runs `secs` seconds of testsrc at 640×360 through a detector, returning (time, area) alarms.
fn run(areas: Vec<VmdArea>, cooldown: u32, secs: u32) -> Vec<(f64, AreaId)> {
    let scene = TestScene::new(640, 360, FPS);
    let mut d = MotionDetector::new(&VmdConfig {
        enabled: true,
        areas,
        cooldown_seconds: cooldown,
        ..VmdConfig::default()
    });
    let start = UNIX_EPOCH + Duration::from_secs(1_767_323_045);
    let mut out = Vec::new();
    for n in 0..(secs * FPS) as u64 {
        let t = Duration::from_millis(n * 1000 / FPS as u64);
        let wall: SystemTime = start + t;
        let pic = scene.render(n, wall);
        for a in d.feed(&pic.y, pic.w as usize, pic.h as usize, t) {
            out.push((t.as_secs_f64(), a));
        }
    }
    out
}

fn area(x: f64, y: f64, width: f64, height: f64) -> VmdArea {
    VmdArea {
        x,
        y,
        width,
        height,
        ..VmdArea::default()
    }
}

#[test]
fn testsrc_box_inside_area_raises_one_alarm_per_pass() {
    // Left half of the box's path: the box is inside ~3 s of each 6 s period.
    let a = run(vec![area(0.0, 0.3, 0.5, 0.4)], 10, 12);
    assert_eq!(a.len(), 1, "one movement, one alarm: {a:?}");
    assert_eq!(a[0].1, AreaId(1));
    assert!(a[0].0 < 1.0, "late: {a:?}");
    // With a cool-down shorter than the box's 3 s absence, each pass is a new alarm: the box
    // is in the left half at 0–1.5 s, 4.5–7.5 s and from 10.5 s.
    let a = run(vec![area(0.0, 0.3, 0.5, 0.4)], 2, 12);
    let times: Vec<u64> = a.iter().map(|(t, _)| t.round() as u64).collect();
    assert_eq!(times, vec![0, 5, 11], "{a:?}");
}

#[test]
fn testsrc_motion_outside_every_area_is_ignored() {
    // Below the box's band, and the top strip between the clock and the frame counter.
    let a = run(
        vec![area(0.0, 0.75, 1.0, 0.25), area(0.4, 0.0, 0.25, 0.12)],
        5,
        12,
    );
    assert!(a.is_empty(), "{a:?}");
}

#[test]
fn testsrc_clock_alone_raises_nothing() {
    // An area over the clock only (it changes once a second): not sustained motion.
    let a = run(vec![area(0.0, 0.0, 0.35, 0.14)], 5, 15);
    assert!(a.is_empty(), "{a:?}");
}
