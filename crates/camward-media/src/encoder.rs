//! H.264 encoding of I420 pictures with openh264, one encoder per stream.
//! Configured so every key frame is an IDR carrying its SPS and PPS in the same access unit.

use crate::frame::I420;
use bytes::Bytes;
use camward_h264::{NalType, annexb};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod,
    RateControlMode, SpsPpsStrategy, UsageType,
};
use openh264::{OpenH264API, Timestamp};

/// What the encoder needs to know; one per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderParams {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// Frames from one IDR to the next.
    pub gop: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("openh264 refused {width}x{height} @ {fps} fps, {kbps} kbit/s: {source}")]
    Init {
        width: u32,
        height: u32,
        fps: u32,
        kbps: u32,
        source: openh264::Error,
    },
    #[error("openh264 failed to encode frame {frame}: {source}")]
    Encode { frame: u64, source: openh264::Error },
    #[error("picture is {got_w}x{got_h} but the encoder was set up for {want_w}x{want_h}")]
    Size {
        got_w: u32,
        got_h: u32,
        want_w: u32,
        want_h: u32,
    },
}

/// One coded picture: NAL units without start codes (SPS, PPS, then slices on IDRs).
#[derive(Debug, Clone)]
pub struct Encoded {
    pub key: bool,
    pub nals: Vec<Bytes>,
}

pub struct H264Encoder {
    params: EncoderParams,
    inner: Encoder,
    frames: u64,
    buf: Vec<u8>,
}

impl H264Encoder {
    pub fn new(params: EncoderParams) -> Result<H264Encoder, EncodeError> {
        let init_err = |source| EncodeError::Init {
            width: params.width,
            height: params.height,
            fps: params.fps,
            kbps: params.bitrate_kbps,
            source,
        };
        let config = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            // Bit-rate mode honours the configured "Max bit rate"; frame skipping is off so the
            // stream keeps its nominal rate (RTSP timing, recorder sample durations).
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(params.bitrate_kbps.saturating_mul(1000)))
            .skip_frames(false)
            .max_frame_rate(FrameRate::from_hz(params.fps as f32))
            .intra_frame_period(IntraFramePeriod::from_num_frames(params.gop.max(1)))
            // Constant ids: the SPS/PPS stay byte-identical across IDRs, so an SDP's
            // sprop-parameter-sets stays valid for the whole session.
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            .scene_change_detect(false)
            .complexity(Complexity::Low)
            // Two streams on two cores: one thread each keeps them from starving one another.
            .num_threads(1);
        let inner =
            Encoder::with_api_config(OpenH264API::from_source(), config).map_err(init_err)?;
        Ok(H264Encoder {
            params,
            inner,
            frames: 0,
            buf: Vec::with_capacity(256 * 1024),
        })
    }

    pub fn params(&self) -> EncoderParams {
        self.params
    }

    /// Encodes one picture; `None` when openh264 decided to emit nothing for it.
    pub fn encode(&mut self, pic: &I420, pts_ms: u64) -> Result<Option<Encoded>, EncodeError> {
        if (pic.width, pic.height) != (self.params.width, self.params.height) {
            return Err(EncodeError::Size {
                got_w: pic.width,
                got_h: pic.height,
                want_w: self.params.width,
                want_h: self.params.height,
            });
        }
        let frame = self.frames;
        self.frames += 1;
        let bs = self
            .inner
            .encode_at(pic, Timestamp::from_millis(pts_ms))
            .map_err(|source| EncodeError::Encode { frame, source })?;
        let ftype = bs.frame_type();
        if matches!(ftype, FrameType::Skip | FrameType::Invalid) {
            return Ok(None);
        }
        self.buf.clear();
        bs.write_vec(&mut self.buf);
        // One allocation per picture; NAL units are zero-copy slices of it.
        let all = Bytes::copy_from_slice(&self.buf);
        let nals: Vec<Bytes> = annexb::split(&all).map(|n| all.slice_ref(n)).collect();
        if nals.is_empty() {
            return Ok(None);
        }
        let key = nals.iter().any(|n| NalType::of(n) == NalType::Idr);
        Ok(Some(Encoded { key, nals }))
    }

    /// The next picture will be an IDR (with SPS/PPS).
    pub fn force_key_frame(&mut self) {
        self.inner.force_intra_frame();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testsrc::TestScene;
    use std::time::UNIX_EPOCH;

    fn params(w: u32, h: u32, gop: u32) -> EncoderParams {
        EncoderParams {
            width: w,
            height: h,
            fps: 15,
            bitrate_kbps: 512,
            gop,
        }
    }

    #[test]
    fn encoder_emits_idr_with_sps_pps_every_gop() {
        let scene = TestScene::new(320, 180, 15);
        let mut enc = H264Encoder::new(params(320, 180, 10)).unwrap();
        let mut keys = Vec::new();
        for n in 0..35u64 {
            let pic = scene.render(n, UNIX_EPOCH);
            let au = enc
                .encode(&pic, n * 1000 / 15)
                .unwrap()
                .expect("no frame skipping");
            let types: Vec<NalType> = au.nals.iter().map(|n| NalType::of(n)).collect();
            if au.key {
                keys.push(n);
                let pos = |t| types.iter().position(|x| *x == t);
                let (sps, pps, idr) = (pos(NalType::Sps), pos(NalType::Pps), pos(NalType::Idr));
                assert!(
                    sps.is_some() && pps.is_some(),
                    "IDR {n} lacks SPS/PPS: {types:?}"
                );
                assert!(
                    sps < idr && pps < idr,
                    "SPS/PPS must precede the IDR slice: {types:?}"
                );
            } else {
                assert!(types.contains(&NalType::Slice), "{types:?}");
                assert!(
                    !types.contains(&NalType::Sps),
                    "parameter sets only on key frames"
                );
            }
        }
        assert_eq!(keys, vec![0, 10, 20, 30]);
    }

    #[test]
    fn encoder_sps_describes_the_configured_size() {
        let mut enc = H264Encoder::new(params(640, 360, 30)).unwrap();
        let pic = TestScene::new(640, 360, 15).render(0, UNIX_EPOCH);
        let au = enc.encode(&pic, 0).unwrap().unwrap();
        let sps = au
            .nals
            .iter()
            .find(|n| NalType::of(n) == NalType::Sps)
            .unwrap();
        let info = camward_h264::sps::parse(sps).unwrap();
        assert_eq!((info.width, info.height), (640, 360));
    }

    #[test]
    fn forced_key_frame_is_an_idr() {
        let scene = TestScene::new(320, 180, 15);
        let mut enc = H264Encoder::new(params(320, 180, 300)).unwrap();
        for n in 0..3 {
            enc.encode(&scene.render(n, UNIX_EPOCH), n).unwrap();
        }
        enc.force_key_frame();
        assert!(
            enc.encode(&scene.render(3, UNIX_EPOCH), 3)
                .unwrap()
                .unwrap()
                .key
        );
        assert!(
            enc.encode(&I420::filled(64, 64, (0, 0, 0)), 4).is_err(),
            "wrong size is an error"
        );
    }
}
