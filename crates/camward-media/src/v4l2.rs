//! `source = v4l2:/dev/videoN`: a local camera captured as MJPEG or YUYV and turned into I420
//! for camward's encoders. Needs the `v4l2` cargo feature (bindgen + libclang at build time).

use crate::frame::I420;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum V4l2Error {
    #[error(
        "{path}: camward was built without V4L2 support (rebuild with `--features camward-media/v4l2`)"
    )]
    NotBuilt { path: PathBuf },
    #[error(
        "cannot open {path}: {source} (is a camera attached and is the user in the video group?)"
    )]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a video capture device")]
    NotCapture { path: PathBuf },
    #[error("{path} offers neither MJPEG nor YUYV (formats: {formats})")]
    NoFormat { path: PathBuf, formats: String },
    #[error("{path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{path}: cannot decode a captured frame: {detail}")]
    Frame { path: PathBuf, detail: String },
}

/// What the capture should aim for; the driver picks the nearest mode it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureWish {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

/// Captures from `path` until `stop` is set or the device fails, publishing each picture as the
/// latest one (older ones are simply replaced: encoders sample at their own rate).
pub fn capture(
    path: &Path,
    wish: CaptureWish,
    latest: &watch::Sender<Option<Arc<I420>>>,
    stop: &AtomicBool,
) -> Result<(), V4l2Error> {
    imp::capture(path, wish, latest, stop)
}

/// Converts a full-range interleaved YCbCr 4:4:4 picture (what JPEG decoders give) to I420.
pub fn ycbcr444_to_i420(ycc: &[u8], width: u32, height: u32) -> Option<I420> {
    let (w, h) = (width as usize & !1, height as usize & !1);
    if w == 0 || h == 0 || ycc.len() < width as usize * height as usize * 3 {
        return None;
    }
    let sw = width as usize;
    let mut out = I420::filled(w as u32, h as u32, (16, 128, 128));
    let (yp, up, vp) = out.planes_mut();
    // JFIF is full range; H.264 expects limited (16–235 luma, 16–240 chroma).
    let luma = |v: u8| (16 + (v as u32 * 219 + 127) / 255) as u8;
    let chroma = |v: u32| (16 + (v * 224 + 510) / 1020) as u8; // sum of four samples
    for y in 0..h {
        for x in 0..w {
            yp[y * w + x] = luma(ycc[(y * sw + x) * 3]);
        }
    }
    for y in 0..h / 2 {
        for x in 0..w / 2 {
            let px = |dx: usize, dy: usize, c: usize| {
                ycc[((2 * y + dy) * sw + 2 * x + dx) * 3 + c] as u32
            };
            let sum = |c| px(0, 0, c) + px(1, 0, c) + px(0, 1, c) + px(1, 1, c);
            up[y * (w / 2) + x] = chroma(sum(1));
            vp[y * (w / 2) + x] = chroma(sum(2));
        }
    }
    Some(out)
}

#[cfg(not(feature = "v4l2"))]
mod imp {
    use super::*;

    pub fn capture(
        path: &Path,
        _: CaptureWish,
        _: &watch::Sender<Option<Arc<I420>>>,
        _: &AtomicBool,
    ) -> Result<(), V4l2Error> {
        // Still say clearly when the device itself is missing: that is the likelier problem.
        if !path.exists() {
            return Err(V4l2Error::Open {
                path: path.to_owned(),
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
        Err(V4l2Error::NotBuilt {
            path: path.to_owned(),
        })
    }
}

#[cfg(feature = "v4l2")]
pub use imp::mjpeg_to_i420;

#[cfg(feature = "v4l2")]
mod imp {
    use super::*;
    use crate::frame::yuyv_to_i420;
    use std::sync::atomic::Ordering;
    use std::time::Duration;
    use v4l::buffer::Type;
    use v4l::io::mmap::Stream;
    use v4l::io::traits::CaptureStream;
    use v4l::video::Capture;
    use v4l::{Device, FourCC};

    pub fn capture(
        path: &Path,
        wish: CaptureWish,
        latest: &watch::Sender<Option<Arc<I420>>>,
        stop: &AtomicBool,
    ) -> Result<(), V4l2Error> {
        let p = || path.to_owned();
        let io = |what| {
            move |source| V4l2Error::Io {
                path: path.to_owned(),
                what,
                source,
            }
        };
        let dev =
            Device::with_path(path).map_err(|source| V4l2Error::Open { path: p(), source })?;
        let caps = dev.query_caps().map_err(io("query capabilities"))?;
        if !caps
            .capabilities
            .contains(v4l::capability::Flags::VIDEO_CAPTURE)
        {
            return Err(V4l2Error::NotCapture { path: p() });
        }
        let formats = dev.enum_formats().map_err(io("list formats"))?;
        let mjpg = FourCC::new(b"MJPG");
        let yuyv = FourCC::new(b"YUYV");
        // MJPEG first: USB 2 cameras only reach HD frame rates compressed.
        let fourcc = [mjpg, yuyv]
            .into_iter()
            .find(|f| formats.iter().any(|d| d.fourcc == *f))
            .ok_or_else(|| V4l2Error::NoFormat {
                path: p(),
                formats: formats
                    .iter()
                    .map(|d| d.fourcc.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let mut fmt = dev.format().map_err(io("get format"))?;
        fmt.width = wish.width;
        fmt.height = wish.height;
        fmt.fourcc = fourcc;
        let fmt = dev.set_format(&fmt).map_err(io("set format"))?;
        let _ = dev.set_params(&v4l::video::capture::Parameters::with_fps(wish.fps.max(1)));
        let mut stream =
            Stream::with_buffers(&dev, Type::VideoCapture, 4).map_err(io("map buffers"))?;
        stream.set_timeout(Duration::from_secs(5));
        while !stop.load(Ordering::Relaxed) {
            let (buf, _meta) = stream.next().map_err(io("capture"))?;
            let pic = if fmt.fourcc == mjpg {
                mjpeg_to_i420(buf).map_err(|detail| V4l2Error::Frame { path: p(), detail })?
            } else {
                yuyv_to_i420(buf, fmt.width & !1, fmt.height & !1).ok_or_else(|| {
                    V4l2Error::Frame {
                        path: p(),
                        detail: format!("short YUYV frame ({} bytes)", buf.len()),
                    }
                })?
            };
            latest.send_replace(Some(Arc::new(pic)));
        }
        Ok(())
    }

    /// Decodes one MJPEG capture frame (a baseline JPEG) to I420.
    pub fn mjpeg_to_i420(data: &[u8]) -> Result<I420, String> {
        use zune_jpeg::JpegDecoder;
        use zune_jpeg::zune_core::bytestream::ZCursor;
        use zune_jpeg::zune_core::colorspace::ColorSpace;
        use zune_jpeg::zune_core::options::DecoderOptions;
        let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::YCbCr);
        let mut dec = JpegDecoder::new_with_options(ZCursor::new(data), opts);
        let pixels = dec.decode().map_err(|e| e.to_string())?;
        let (w, h) = dec.dimensions().ok_or("no dimensions")?;
        ycbcr444_to_i420(&pixels, w as u32, h as u32)
            .ok_or_else(|| format!("odd JPEG size {w}x{h}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_camera_is_a_clear_error() {
        let (tx, _rx) = watch::channel(None);
        let stop = AtomicBool::new(false);
        let err = capture(
            Path::new("/dev/video99"),
            CaptureWish {
                width: 640,
                height: 360,
                fps: 15,
            },
            &tx,
            &stop,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("/dev/video99") && msg.contains("camera attached"),
            "{msg}"
        );
    }

    #[cfg(feature = "v4l2")]
    #[test]
    fn mjpeg_capture_frames_decode_to_i420() {
        let scene = crate::testsrc::TestScene::new(320, 180, 15);
        let pic = scene.render(0, std::time::UNIX_EPOCH);
        let jpg = crate::jpeg::encode(&pic, 95).unwrap();
        let back = mjpeg_to_i420(&jpg).unwrap();
        assert_eq!((back.width, back.height), (320, 180));
        let diff: u64 = pic
            .y()
            .iter()
            .zip(back.y())
            .map(|(a, b)| a.abs_diff(*b) as u64)
            .sum();
        let mean = diff as f64 / pic.y().len() as f64;
        assert!(
            mean < 4.0,
            "luma survives the JPEG round trip (mean error {mean})"
        );
        assert!(mjpeg_to_i420(b"not a jpeg").is_err());
    }

    #[test]
    fn full_range_ycbcr_becomes_limited_i420() {
        let ycc: Vec<u8> = [255u8, 128, 128].repeat(4 * 2);
        let pic = ycbcr444_to_i420(&ycc, 4, 2).unwrap();
        assert!(pic.y().iter().all(|&p| p == 235));
        assert!(pic.u().iter().all(|&p| p == 128) && pic.v().iter().all(|&p| p == 128));
    }
}
