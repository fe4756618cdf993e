//! Raw pictures in I420 (planar Y, then U and V at half resolution): what sources produce,
//! what the encoder eats and what snapshots scale; plus a bilinear scaler.

use std::fmt;

/// One I420 picture with tightly packed planes (stride = width). Width and height are even.
#[derive(Clone, PartialEq, Eq)]
pub struct I420 {
    pub width: u32,
    pub height: u32,
    /// Y plane (`width*height`), then U and V (`width/2 * height/2` each).
    pub data: Vec<u8>,
}

impl fmt::Debug for I420 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "I420({}x{})", self.width, self.height)
    }
}

impl I420 {
    /// A picture filled with one colour (Y, U, V).
    pub fn filled(width: u32, height: u32, yuv: (u8, u8, u8)) -> I420 {
        assert!(
            width.is_multiple_of(2) && height.is_multiple_of(2) && width > 0 && height > 0,
            "I420 needs even, non-zero sizes"
        );
        let (w, h) = (width as usize, height as usize);
        let mut data = vec![yuv.0; w * h + 2 * (w / 2) * (h / 2)];
        let c = (w / 2) * (h / 2);
        data[w * h..w * h + c].fill(yuv.1);
        data[w * h + c..].fill(yuv.2);
        I420 {
            width,
            height,
            data,
        }
    }

    /// Copies planes with arbitrary strides (e.g. a decoder's padded output) into a packed picture.
    pub fn from_planes(width: u32, height: u32, planes: [(&[u8], usize); 3]) -> I420 {
        let (w, h) = (width as usize, height as usize);
        let mut data = Vec::with_capacity(w * h * 3 / 2);
        for (i, (plane, stride)) in planes.iter().enumerate() {
            let (pw, ph) = if i == 0 { (w, h) } else { (w / 2, h / 2) };
            for row in 0..ph {
                data.extend_from_slice(&plane[row * stride..row * stride + pw]);
            }
        }
        I420 {
            width,
            height,
            data,
        }
    }

    fn chroma_len(&self) -> usize {
        (self.width as usize / 2) * (self.height as usize / 2)
    }

    pub fn y(&self) -> &[u8] {
        &self.data[..(self.width * self.height) as usize]
    }
    pub fn u(&self) -> &[u8] {
        let y = (self.width * self.height) as usize;
        &self.data[y..y + self.chroma_len()]
    }
    pub fn v(&self) -> &[u8] {
        let y = (self.width * self.height) as usize;
        &self.data[y + self.chroma_len()..]
    }

    /// Mutable Y, U and V planes at once.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let y = (self.width * self.height) as usize;
        let c = self.chroma_len();
        let (yp, rest) = self.data.split_at_mut(y);
        let (up, vp) = rest.split_at_mut(c);
        (yp, up, vp)
    }

    /// Fills an axis-aligned rectangle (clipped to the picture) with one colour. Chroma is
    /// written for the 2x2 blocks the rectangle covers, so keep edges even for clean colours.
    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, yuv: (u8, u8, u8)) {
        let (pw, ph) = (self.width as i64, self.height as i64);
        let (x0, y0) = (x.clamp(0, pw), y.clamp(0, ph));
        let (x1, y1) = ((x + w).clamp(0, pw), (y + h).clamp(0, ph));
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        let stride = pw as usize;
        let (yp, up, vp) = self.planes_mut();
        for row in y0..y1 {
            let off = row as usize * stride;
            yp[off + x0 as usize..off + x1 as usize].fill(yuv.0);
        }
        let cs = stride / 2;
        for row in (y0 / 2)..(y1 + 1) / 2 {
            let off = row as usize * cs;
            let (cx0, cx1) = ((x0 / 2) as usize, ((x1 + 1) / 2) as usize);
            up[off + cx0..off + cx1].fill(yuv.1);
            vp[off + cx0..off + cx1].fill(yuv.2);
        }
    }

    /// Bilinear resize to `width`x`height` (even sizes). Returns a copy when sizes match.
    pub fn scaled(&self, width: u32, height: u32) -> I420 {
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        // Halving by 2x2 averages first, so a 4x or 6x shrink (1080p to JPEG(3)) does not alias
        // the thin strokes of the overlay digits; bilinear then covers the remaining factor.
        let mut src = std::borrow::Cow::Borrowed(self);
        while src.width >= 2 * width
            && src.height >= 2 * height
            && src.width % 4 == 0
            && src.height % 4 == 0
        {
            src = std::borrow::Cow::Owned(src.halved());
        }
        if (width, height) == (src.width, src.height) {
            return src.into_owned();
        }
        let (w, h) = (width as usize, height as usize);
        let mut data = vec![0u8; w * h + 2 * (w / 2) * (h / 2)];
        let (dy, rest) = data.split_at_mut(w * h);
        let (du, dv) = rest.split_at_mut((w / 2) * (h / 2));
        let (sw, sh) = (src.width as usize, src.height as usize);
        scale_plane(src.y(), sw, sh, dy, w, h);
        scale_plane(src.u(), sw / 2, sh / 2, du, w / 2, h / 2);
        scale_plane(src.v(), sw / 2, sh / 2, dv, w / 2, h / 2);
        I420 {
            width,
            height,
            data,
        }
    }

    /// Half size in both directions, each output pixel the mean of a 2x2 block.
    fn halved(&self) -> I420 {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut data = Vec::with_capacity(w * h * 3 / 8);
        halve_plane(self.y(), w, h, &mut data);
        halve_plane(self.u(), w / 2, h / 2, &mut data);
        halve_plane(self.v(), w / 2, h / 2, &mut data);
        I420 {
            width: self.width / 2,
            height: self.height / 2,
            data,
        }
    }
}

fn halve_plane(src: &[u8], sw: usize, sh: usize, out: &mut Vec<u8>) {
    for y in 0..sh / 2 {
        let (r0, r1) = (
            &src[2 * y * sw..2 * y * sw + sw],
            &src[(2 * y + 1) * sw..(2 * y + 1) * sw + sw],
        );
        for x in 0..sw / 2 {
            let s =
                r0[2 * x] as u16 + r0[2 * x + 1] as u16 + r1[2 * x] as u16 + r1[2 * x + 1] as u16;
            out.push(((s + 2) / 4) as u8);
        }
    }
}

/// Bilinear sampling in 16.16 fixed point with pixel centres aligned.
fn scale_plane(src: &[u8], sw: usize, sh: usize, dst: &mut [u8], dw: usize, dh: usize) {
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 {
        return;
    }
    let x_step = ((sw as u64) << 16) / dw as u64;
    let y_step = ((sh as u64) << 16) / dh as u64;
    let xs: Vec<(usize, usize, u32)> = (0..dw)
        .map(|x| {
            let fx = ((x as u64 * x_step) + x_step / 2).saturating_sub(1 << 15);
            let x0 = ((fx >> 16) as usize).min(sw - 1);
            let x1 = (x0 + 1).min(sw - 1);
            (x0, x1, (fx & 0xffff) as u32)
        })
        .collect();
    for y in 0..dh {
        let fy = ((y as u64 * y_step) + y_step / 2).saturating_sub(1 << 15);
        let y0 = ((fy >> 16) as usize).min(sh - 1);
        let y1 = (y0 + 1).min(sh - 1);
        let wy = (fy & 0xffff) as u32;
        let (r0, r1) = (&src[y0 * sw..y0 * sw + sw], &src[y1 * sw..y1 * sw + sw]);
        let out = &mut dst[y * dw..y * dw + dw];
        for (o, &(x0, x1, wx)) in out.iter_mut().zip(&xs) {
            let top = r0[x0] as u32 * (65536 - wx) + r0[x1] as u32 * wx;
            let bot = r1[x0] as u32 * (65536 - wx) + r1[x1] as u32 * wx;
            let v = ((top as u64 * (65536 - wy) as u64 + bot as u64 * wy as u64) >> 32) as u32;
            *o = v.min(255) as u8;
        }
    }
}

/// Converts one packed YUYV (YUY2) picture to I420, averaging chroma of line pairs.
pub fn yuyv_to_i420(yuyv: &[u8], width: u32, height: u32) -> Option<I420> {
    let (w, h) = (width as usize, height as usize);
    if w % 2 != 0 || h % 2 != 0 || yuyv.len() < w * h * 2 {
        return None;
    }
    let mut out = I420::filled(width, height, (0, 128, 128));
    let (yp, up, vp) = out.planes_mut();
    for row in 0..h {
        let line = &yuyv[row * w * 2..(row + 1) * w * 2];
        for (i, px) in line.chunks_exact(4).enumerate() {
            yp[row * w + 2 * i] = px[0];
            yp[row * w + 2 * i + 1] = px[2];
            let c = (row / 2) * (w / 2) + i;
            if row % 2 == 0 {
                up[c] = px[1];
                vp[c] = px[3];
            } else {
                up[c] = ((up[c] as u16 + px[1] as u16) / 2) as u8;
                vp[c] = ((vp[c] as u16 + px[3] as u16) / 2) as u8;
            }
        }
    }
    Some(out)
}

impl openh264::formats::YUVSource for I420 {
    fn dimensions(&self) -> (usize, usize) {
        (self.width as usize, self.height as usize)
    }
    fn strides(&self) -> (usize, usize, usize) {
        let w = self.width as usize;
        (w, w / 2, w / 2)
    }
    fn y(&self) -> &[u8] {
        I420::y(self)
    }
    fn u(&self) -> &[u8] {
        I420::u(self)
    }
    fn v(&self) -> &[u8] {
        I420::v(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_keeps_flat_colours_and_sizes() {
        let src = I420::filled(1280, 720, (200, 90, 160));
        for (w, h) in [(640, 360), (320, 180), (1920, 1080)] {
            let d = src.scaled(w, h);
            assert_eq!(
                (d.width, d.height, d.data.len()),
                (w, h, (w * h * 3 / 2) as usize)
            );
            assert!(d.y().iter().all(|&p| p == 200) || d.y().iter().all(|&p| p.abs_diff(200) <= 1));
            assert!(
                d.u().iter().all(|&p| p.abs_diff(90) <= 1)
                    && d.v().iter().all(|&p| p.abs_diff(160) <= 1)
            );
        }
    }

    #[test]
    fn fill_rect_is_clipped_to_the_picture() {
        let mut f = I420::filled(64, 32, (16, 128, 128));
        f.fill_rect(-10, 20, 100, 100, (235, 0, 255));
        assert_eq!(f.y()[19 * 64], 16);
        assert_eq!(f.y()[20 * 64], 235);
        assert_eq!(f.y()[31 * 64 + 63], 235);
        assert_eq!(f.u()[10 * 32], 0);
        f.fill_rect(100, 100, 5, 5, (0, 0, 0)); // fully outside: no panic
    }

    #[test]
    fn yuyv_converts_to_i420() {
        let yuyv: Vec<u8> = [50u8, 100, 60, 200].repeat(4 * 2 / 2 * 2);
        let f = yuyv_to_i420(&yuyv, 4, 2).unwrap();
        assert_eq!(f.y(), &[50, 60, 50, 60, 50, 60, 50, 60]);
        assert_eq!(f.u(), &[100, 100]);
        assert_eq!(f.v(), &[200, 200]);
        assert!(yuyv_to_i420(&yuyv[..10], 4, 2).is_none());
    }
}
