//! JPEG encoding of I420 pictures (pure Rust), and the incremental H.264 decoder that turns
//! pass-through streams (file, RTSP pull) back into pictures for snapshots and MJPEG.

use crate::frame::I420;
use camward_h264::AccessUnit;
use jpeg_encoder::{Encoder, ImageBuffer, JpegColorType};
use openh264::decoder::Decoder;
use openh264::formats::YUVSource;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum JpegError {
    #[error("JPEG encoding of a {width}x{height} picture failed: {source}")]
    Encode {
        width: u32,
        height: u32,
        source: jpeg_encoder::EncodingError,
    },
    #[error("{width}x{height} is too large for JPEG (65535 max per side)")]
    TooLarge { width: u32, height: u32 },
}

/// Planar I420 fed to the JPEG encoder row by row: no RGB round trip, chroma upsampled by
/// repetition (the encoder subsamples it back to 4:2:0).
struct PlanarYuv<'a>(&'a I420);

impl ImageBuffer for PlanarYuv<'_> {
    fn get_jpeg_color_type(&self) -> JpegColorType {
        JpegColorType::Ycbcr
    }
    fn width(&self) -> u16 {
        self.0.width as u16
    }
    fn height(&self) -> u16 {
        self.0.height as u16
    }
    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let (w, y) = (self.0.width as usize, y as usize);
        let cw = w / 2;
        let row = &self.0.y()[y * w..y * w + w];
        let (u, v) = (
            &self.0.u()[(y / 2) * cw..(y / 2) * cw + cw],
            &self.0.v()[(y / 2) * cw..(y / 2) * cw + cw],
        );
        // H.264 pictures are limited range (16–235); JFIF expects full range.
        buffers[0].extend(row.iter().map(|&p| expand_luma(p)));
        for x in 0..w {
            buffers[1].push(expand_chroma(u[x / 2]));
            buffers[2].push(expand_chroma(v[x / 2]));
        }
    }
}

fn expand_luma(p: u8) -> u8 {
    ((p.saturating_sub(16) as u32 * 255 + 109) / 219).min(255) as u8
}

fn expand_chroma(c: u8) -> u8 {
    (((c as i32 - 128) * 255 / 224) + 128).clamp(0, 255) as u8
}

/// Encodes `pic` as a baseline JFIF JPEG; `quality` on the encoder's 1–100 scale.
pub fn encode(pic: &I420, quality: u8) -> Result<Vec<u8>, JpegError> {
    if pic.width > u16::MAX as u32 || pic.height > u16::MAX as u32 {
        return Err(JpegError::TooLarge {
            width: pic.width,
            height: pic.height,
        });
    }
    let mut out = Vec::with_capacity((pic.width * pic.height / 8) as usize);
    let enc = Encoder::new(&mut out, quality.clamp(1, 100));
    enc.encode_image(PlanarYuv(pic))
        .map_err(|source| JpegError::Encode {
            width: pic.width,
            height: pic.height,
            source,
        })?;
    Ok(out)
}

/// Decodes a pass-through stream incrementally: fed the access units since the last key frame,
/// it decodes only those it has not seen, so repeated snapshots cost one decode per new frame.
#[derive(Default)]
pub struct SnapshotDecoder {
    decoder: Option<Decoder>,
    /// Identity of the GOP being decoded and how many of its access units were fed.
    gop: u64,
    fed: usize,
    latest: Option<Arc<I420>>,
    /// Bumped whenever `latest` changes (lets MJPEG skip identical frames).
    version: u64,
    buf: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("openh264 decoder: {0} (snapshots need 8-bit 4:2:0 H.264)")]
    Decoder(String),
}

impl SnapshotDecoder {
    /// Brings the picture up to date with `aus` (the current GOP, key frame first, whose
    /// identity is `gop`) and returns it with its version.
    pub fn update(
        &mut self,
        gop: u64,
        aus: &[Arc<AccessUnit>],
    ) -> Result<Option<(u64, Arc<I420>)>, DecodeError> {
        if gop != self.gop || self.fed > aus.len() || self.decoder.is_none() {
            // A new GOP starts with an IDR, which resets the decoder's references anyway;
            // a fresh decoder also recovers from any earlier error.
            self.decoder = Some(Decoder::new().map_err(|e| DecodeError::Decoder(e.to_string()))?);
            self.gop = gop;
            self.fed = 0;
        }
        let dec = self.decoder.as_mut().expect("set above");
        for au in &aus[self.fed..] {
            self.buf.clear();
            camward_h264::annexb::join(au.nals.iter().map(|n| &n[..]), &mut self.buf);
            match dec.decode(&self.buf) {
                Ok(Some(yuv)) => {
                    let (w, h) = yuv.dimensions();
                    let (w, h) = (w as u32 & !1, h as u32 & !1);
                    let (sy, su, sv) = yuv.strides();
                    if w > 0 && h > 0 {
                        let pic =
                            I420::from_planes(w, h, [(yuv.y(), sy), (yuv.u(), su), (yuv.v(), sv)]);
                        self.latest = Some(Arc::new(pic));
                        self.version += 1;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    self.decoder = None;
                    return Err(DecodeError::Decoder(e.to_string()));
                }
            }
        }
        self.fed = aus.len();
        Ok(self.latest.clone().map(|p| (self.version, p)))
    }

    /// Forgets the picture (stream restarted or switched off).
    pub fn reset(&mut self) {
        *self = SnapshotDecoder {
            version: self.version,
            ..Default::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::{EncoderParams, H264Encoder};
    use crate::testsrc::TestScene;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn jpeg_has_the_picture_size_and_colours() {
        let pic = I420::filled(320, 180, (235, 128, 128));
        let jpg = encode(&pic, 80).unwrap();
        assert_eq!(&jpg[..2], &[0xff, 0xd8]);
        let img = image::load_from_memory_with_format(&jpg, image::ImageFormat::Jpeg)
            .unwrap()
            .to_rgb8();
        assert_eq!(img.dimensions(), (320, 180));
        let p = img.get_pixel(100, 100);
        assert!(
            p.0.iter().all(|&c| c >= 250),
            "limited-range white becomes full white: {p:?}"
        );
    }

    #[test]
    fn decoder_follows_a_gop_incrementally() {
        let scene = TestScene::new(320, 180, 15);
        let mut enc = H264Encoder::new(EncoderParams {
            width: 320,
            height: 180,
            fps: 15,
            bitrate_kbps: 512,
            gop: 30,
        })
        .unwrap();
        let aus: Vec<Arc<AccessUnit>> = (0..5u64)
            .map(|n| {
                let e = enc
                    .encode(&scene.render(n, UNIX_EPOCH), n * 66)
                    .unwrap()
                    .unwrap();
                Arc::new(AccessUnit {
                    pts90k: n * 6000,
                    wallclock: SystemTime::now(),
                    key: e.key,
                    nals: e.nals,
                })
            })
            .collect();
        let mut d = SnapshotDecoder::default();
        let (v1, p1) = d.update(1, &aus[..2]).unwrap().unwrap();
        assert_eq!((p1.width, p1.height), (320, 180));
        let (v2, _) = d.update(1, &aus).unwrap().unwrap();
        assert!(v2 > v1);
        let (v3, _) = d.update(1, &aus).unwrap().unwrap();
        assert_eq!(v3, v2, "nothing new fed, same picture");
    }
}
