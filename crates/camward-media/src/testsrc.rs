//! The synthetic scene behind `source = testsrc`: colour bars, a bright box crossing the picture,
//! and a burned-in UTC clock and frame counter, so any machine has a live-looking camera.

use crate::frame::I420;
use std::time::{SystemTime, UNIX_EPOCH};

/// 5x7 glyphs, one byte per row (low 5 bits, MSB = leftmost column). Digits, ':' and '#'
/// are all the overlay needs; keeping the font tiny avoids a font-rendering dependency.
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

/// 75% colour bars in BT.601 limited range: white, yellow, cyan, green, magenta, red, blue, black.
const BARS: [(u8, u8, u8); 8] = [
    (180, 128, 128),
    (162, 44, 142),
    (131, 156, 44),
    (112, 72, 58),
    (84, 184, 198),
    (65, 100, 212),
    (35, 212, 114),
    (16, 128, 128),
];

/// Seconds for the box to cross the picture and come back; independent of the frame rate so
/// the motion detector sees the same speed on every stream.
const BOX_PERIOD_S: f64 = 6.0;

/// Renders frames of one size; the static background is drawn once and copied per frame.
pub struct TestScene {
    fps: u32,
    background: I420,
}

impl TestScene {
    pub fn new(width: u32, height: u32, fps: u32) -> TestScene {
        let mut background = I420::filled(width, height, (16, 128, 128));
        let bar_w = (width as i64 / 8) & !1;
        for (i, c) in BARS.iter().enumerate() {
            background.fill_rect(
                i as i64 * bar_w,
                0,
                if i == 7 { width as i64 } else { bar_w },
                height as i64 * 2 / 3,
                *c,
            );
        }
        // A grey ramp in the lower third gives the encoder some texture to chew on.
        let steps = 16i64;
        let step_w = ((width as i64 / steps) & !1).max(2);
        for i in 0..steps {
            let y = 16 + (i * 219 / (steps - 1)) as u8;
            let x = i * step_w;
            let w = if i == steps - 1 {
                width as i64 - x
            } else {
                step_w
            };
            background.fill_rect(x, height as i64 * 2 / 3, w, height as i64, (y, 128, 128));
        }
        TestScene {
            fps: fps.max(1),
            background,
        }
    }

    pub fn width(&self) -> u32 {
        self.background.width
    }

    pub fn height(&self) -> u32 {
        self.background.height
    }

    /// Frame `n` of the stream, stamped with `wall` (UTC).
    pub fn render(&self, n: u64, wall: SystemTime) -> I420 {
        let mut f = self.background.clone();
        let (w, h) = (f.width as i64, f.height as i64);

        let side = ((h / 5) & !1).max(4);
        let t = n as f64 / self.fps as f64;
        let phase = (t % BOX_PERIOD_S) / BOX_PERIOD_S; // 0..1: there and back again
        let tri = if phase < 0.5 {
            phase * 2.0
        } else {
            2.0 - phase * 2.0
        };
        let x = (((w - side) as f64 * tri) as i64) & !1;
        let y = ((h - side) / 2) & !1;
        f.fill_rect(x - 4, y - 4, side + 8, side + 8, (16, 128, 128));
        f.fill_rect(x, y, side, side, (235, 128, 128));

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
        draw_text(&mut f, 2 * scale, 2 * scale, scale, &clock);
        let cw = text_width(&counter, scale);
        draw_text(&mut f, w - cw - 2 * scale, 2 * scale, scale, &counter);
        f
    }
}

fn text_width(text: &str, scale: i64) -> i64 {
    text.chars().count() as i64 * 6 * scale + 2 * scale
}

/// White glyphs on a black band, so the text reads on any background and is easy to OCR-check.
fn draw_text(f: &mut I420, x: i64, y: i64, scale: i64, text: &str) {
    f.fill_rect(x, y, text_width(text, scale), 9 * scale, (16, 128, 128));
    for (i, ch) in text.chars().enumerate() {
        let Some((_, rows)) = GLYPHS.iter().find(|(c, _)| *c == ch) else {
            continue;
        };
        let gx = x + scale + i as i64 * 6 * scale;
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    paint_luma(f, gx + col * scale, y + scale + r as i64 * scale, scale);
                }
            }
        }
    }
}

/// Luma-only square: glyph strokes are thinner than a chroma block, and the band under them is
/// already neutral grey in chroma.
fn paint_luma(f: &mut I420, x: i64, y: i64, s: i64) {
    let (w, h) = (f.width as i64, f.height as i64);
    let (yp, _, _) = f.planes_mut();
    for row in y.max(0)..(y + s).min(h) {
        for col in x.max(0)..(x + s).min(w) {
            yp[(row * w + col) as usize] = 235;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn testsrc_frames_change_over_time() {
        let scene = TestScene::new(320, 180, 15);
        let t0 = UNIX_EPOCH + Duration::from_secs(3600 * 12 + 34 * 60 + 56);
        let a = scene.render(0, t0);
        let b = scene.render(15, t0 + Duration::from_secs(1));
        assert_eq!(
            (a.width, a.height, a.data.len()),
            (320, 180, 320 * 180 * 3 / 2)
        );
        let changed = a.y().iter().zip(b.y()).filter(|(p, q)| p != q).count();
        // The box (36x36) moved, and the clock and counter changed: well over a few hundred pixels.
        assert!(changed > 1000, "only {changed} luma samples changed");
    }

    #[test]
    fn testsrc_box_moves_across_the_picture() {
        let scene = TestScene::new(640, 360, 10);
        let t = UNIX_EPOCH;
        let centroid = |f: &I420| {
            // Bright (235) pixels in the middle band: the box, not the overlay text.
            let (w, h) = (f.width as usize, f.height as usize);
            let (mut sum, mut cnt) = (0usize, 0usize);
            for y in h / 3..h * 2 / 3 {
                for x in 0..w {
                    if f.y()[y * w + x] == 235 {
                        sum += x;
                        cnt += 1;
                    }
                }
            }
            sum as f64 / cnt.max(1) as f64
        };
        let xs: Vec<f64> = (0..4).map(|i| centroid(&scene.render(i * 10, t))).collect();
        assert!(
            xs.windows(2).all(|p| p[1] > p[0] + 50.0),
            "box should move right: {xs:?}"
        );
    }

    #[test]
    fn clock_digits_are_drawn() {
        let scene = TestScene::new(320, 180, 15);
        let f = scene.render(0, UNIX_EPOCH);
        let lit = f.y()[..320 * 20].iter().filter(|&&p| p == 235).count();
        assert!(
            lit > 100,
            "overlay text should light up the top band ({lit})"
        );
    }
}
