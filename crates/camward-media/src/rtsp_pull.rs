//! `source = rtsp://…`: pulls an existing camera's H.264 with retina, without re-encoding.
//! One session per call; the pipeline supervisor reconnects with back-off when it ends.
//! Everything the camera sends is untrusted: a panic inside the RTSP client (retina's SDP parser
//! asserts on some malformed answers) ends the session with an error like any other failure, so the
//! supervisor retries instead of the stream stopping for good.

use crate::avc;
use bytes::Bytes;
use camward_config::RtspSource;
use futures::{FutureExt, StreamExt};
use retina::client::{Credentials, PlayOptions, Session, SessionOptions, SetupOptions, Transport};
use retina::codec::{CodecItem, FrameFormat, ParametersRef, VideoParametersCodec};
use std::time::Duration;

/// A camera that sends nothing for this long is treated as gone.
const STALL: Duration = Duration::from_secs(10);
/// How long one request of the set-up (connect and DESCRIBE, SETUP, PLAY) may wait for its
/// answer. retina waits without limit, and a camera that accepts the connection but never answers
/// (a wedged firmware, a server still preparing a shared pipeline) would otherwise hold the pull
/// forever: the supervisor could never reconnect and the status would never show why.
const ANSWER: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("bad RTSP URL {url}: {detail}")]
    Url { url: String, detail: String },
    #[error("RTSP {step} of {url} failed: {source}")]
    Rtsp {
        step: &'static str,
        url: String,
        source: retina::Error,
    },
    #[error("{url} offers no H.264 video stream (codecs: {found})")]
    NoH264 { url: String, found: String },
    #[error("{url}: no frame for {secs} s")]
    Stalled { url: String, secs: u64 },
    #[error("RTSP {step} of {url}: no answer within {secs} s")]
    NoAnswer {
        step: &'static str,
        url: String,
        secs: u64,
    },
    #[error("{url}: the server ended the stream")]
    Ended { url: String },
    #[error("{url}: bad H.264 frame: {source}")]
    Frame { url: String, source: avc::AvcError },
    #[error("{url}: the camera's answer crashed the RTSP client ({detail})")]
    ClientPanic { url: String, detail: String },
}

/// One picture from the camera, already in camward's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct PulledFrame {
    pub pts90k: u64,
    pub key: bool,
    pub nals: Vec<Bytes>,
}

/// The camera's URL for retina and the credentials it answers Digest or Basic with; the
/// password comes from the configuration's `Secret`, never from the URL.
fn target(src: &RtspSource) -> Result<(url::Url, Option<Credentials>), PullError> {
    let url = url::Url::parse(src.url()).map_err(|e| PullError::Url {
        url: src.url().to_owned(),
        detail: e.to_string(),
    })?;
    let username = src.username();
    let password = src.password().expose().unwrap_or_default().to_owned();
    let creds = (!username.is_empty() || !password.is_empty())
        .then_some(Credentials { username, password });
    let mut url = url;
    let _ = url.set_username("");
    Ok((url, creds))
}

/// Converts one depacketized frame (4-byte length-prefixed NALs) into a camward picture;
/// key frames get the stream's current SPS/PPS in front. `None` until parameters are known.
pub fn convert_frame(
    data: Vec<u8>,
    random_access: bool,
    elapsed: i64,
    clock_rate: u32,
    params: Option<(&Bytes, &Bytes)>,
) -> Result<Option<PulledFrame>, avc::AvcError> {
    let Some((sps, pps)) = params else {
        return Ok(None);
    };
    let nals = avc::split_length_prefixed(&Bytes::from(data), 4)?;
    let key = random_access || avc::is_idr(&nals);
    let nals = avc::with_parameter_sets(nals, key, sps, pps);
    let pts90k = (elapsed.max(0) as i128 * 90_000 / clock_rate.max(1) as i128) as u64;
    Ok(Some(PulledFrame { pts90k, key, nals }))
}

fn h264_params(p: Option<ParametersRef<'_>>) -> Option<(Bytes, Bytes)> {
    match p {
        Some(ParametersRef::Video(v)) => match v.codec_params() {
            VideoParametersCodec::H264 { sps, pps } => Some((sps.clone(), pps.clone())),
            _ => None,
        },
        _ => None,
    }
}

/// Pulls the camera until the session fails, calling `deliver` for every picture from the
/// first key frame on. Never returns `Ok`: a live camera has no end.
pub async fn pull(src: &RtspSource, deliver: impl FnMut(PulledFrame)) -> Result<(), PullError> {
    // `deliver` and the session live only inside this future: nothing half-updated outlives an
    // unwind, so asserting unwind safety is sound.
    match std::panic::AssertUnwindSafe(session(src, deliver))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            Err(PullError::ClientPanic {
                url: src.url().to_owned(),
                detail,
            })
        }
    }
}

async fn session(src: &RtspSource, mut deliver: impl FnMut(PulledFrame)) -> Result<(), PullError> {
    let (url, creds) = target(src)?;
    let shown = src.url().to_owned();
    let rtsp = |step, source| PullError::Rtsp {
        step,
        url: shown.clone(),
        source,
    };
    let silent = |step| PullError::NoAnswer {
        step,
        url: shown.clone(),
        secs: ANSWER.as_secs(),
    };
    let opts = SessionOptions::default()
        .creds(creds)
        .user_agent(format!("camward/{}", env!("CARGO_PKG_VERSION")));
    let mut session = tokio::time::timeout(ANSWER, Session::describe(url, opts))
        .await
        .map_err(|_| silent("DESCRIBE"))?
        .map_err(|e| rtsp("DESCRIBE", e))?;
    let idx = session
        .streams()
        .iter()
        .position(|s| s.media() == "video" && s.encoding_name().eq_ignore_ascii_case("h264"));
    let Some(idx) = idx else {
        let found = session
            .streams()
            .iter()
            .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(PullError::NoH264 { url: shown, found });
    };
    // Interleaved TCP by default: works through NAT and firewalls, and retina's UDP has no
    // reorder buffer. UDP only when the camera's settings ask for it.
    let transport = if src.udp() {
        Transport::Udp(Default::default())
    } else {
        Transport::Tcp(Default::default())
    };
    let setup = SetupOptions::default()
        .transport(transport)
        .frame_format(FrameFormat::MP4);
    tokio::time::timeout(ANSWER, session.setup(idx, setup))
        .await
        .map_err(|_| silent("SETUP"))?
        .map_err(|e| rtsp("SETUP", e))?;
    let playing = tokio::time::timeout(ANSWER, session.play(PlayOptions::default()))
        .await
        .map_err(|_| silent("PLAY"))?
        .map_err(|e| rtsp("PLAY", e))?;
    let mut demuxed = playing.demuxed().map_err(|e| rtsp("PLAY", e))?;
    let mut params: Option<(Bytes, Bytes)> = None;
    let mut synced = false;
    loop {
        let item = match tokio::time::timeout(STALL, demuxed.next()).await {
            Err(_) => {
                return Err(PullError::Stalled {
                    url: shown,
                    secs: STALL.as_secs(),
                });
            }
            Ok(None) => return Err(PullError::Ended { url: shown }),
            Ok(Some(Err(e))) => return Err(rtsp("streaming", e)),
            Ok(Some(Ok(item))) => item,
        };
        let CodecItem::VideoFrame(frame) = item else {
            continue;
        };
        if frame.stream_id() != idx {
            continue;
        }
        if frame.has_new_parameters() || params.is_none() {
            params = h264_params(demuxed.streams()[idx].parameters()).or(params);
        }
        let ts = frame.timestamp();
        let (rap, elapsed, rate) = (
            frame.is_random_access_point(),
            ts.elapsed(),
            ts.clock_rate().get(),
        );
        let converted = convert_frame(
            frame.into_data(),
            rap,
            elapsed,
            rate,
            params.as_ref().map(|(s, p)| (s, p)),
        )
        .map_err(|source| PullError::Frame {
            url: shown.clone(),
            source,
        })?;
        let Some(f) = converted else { continue };
        // Consumers need a decodable start.
        if !synced && !f.key {
            continue;
        }
        synced = true;
        deliver(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camward_h264::NalType;

    /// An RTSP "camera" on loopback that answers OPTIONS and then DESCRIBE with `sdp`.
    async fn camera_answering(sdp: &'static [u8]) -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let Ok((mut c, _)) = l.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            for _ in 0..8 {
                let mut chunk = [0u8; 4096];
                let Ok(n) = c.read(&mut chunk).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 4);
                    let cseq = head
                        .lines()
                        .find_map(|l| l.strip_prefix("CSeq: "))
                        .unwrap_or("1")
                        .to_owned();
                    let answer = if head.starts_with("DESCRIBE") {
                        let mut a = format!(
                            "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Base: rtsp://{addr}/s/\r\n\
                             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n",
                            sdp.len()
                        )
                        .into_bytes();
                        a.extend_from_slice(sdp);
                        a
                    } else {
                        format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY\r\n\r\n")
                            .into_bytes()
                    };
                    if c.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_camera_sdp_that_panics_the_parser_ends_the_session_with_an_error() {
        // Found by the `sdp` fuzz target (crates/camward-rtsp/fuzz/regressions/sdp): sdp-types
        // asserts on it while retina parses the DESCRIBE answer.
        let addr = camera_answering(include_bytes!(
            "../../camward-rtsp/fuzz/regressions/sdp/sdp-types-media-assert"
        ))
        .await;
        let src: camward_config::Source = format!("rtsp://{addr}/s").parse().unwrap();
        let camward_config::Source::Rtsp(src) = src else {
            panic!()
        };
        let r = tokio::time::timeout(Duration::from_secs(20), pull(&src, |_| {}))
            .await
            .expect("pull ends");
        assert!(matches!(r, Err(PullError::ClientPanic { .. })), "{r:?}");
    }

    #[tokio::test]
    async fn a_camera_that_accepts_and_never_answers_ends_the_session_naming_the_step() {
        // The listener's backlog completes the connection; nobody ever reads or answers.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let src: camward_config::Source = format!("rtsp://{addr}/s").parse().unwrap();
        let camward_config::Source::Rtsp(src) = src else {
            panic!()
        };
        let r = tokio::time::timeout(ANSWER * 3, pull(&src, |_| {}))
            .await
            .expect("pull gives up on its own, before the test's own limit");
        assert!(
            matches!(
                r,
                Err(PullError::NoAnswer {
                    step: "DESCRIBE",
                    ..
                })
            ),
            "{r:?}"
        );
        drop(l);
    }

    #[test]
    fn credentials_leave_the_url_for_retina() {
        let src: camward_config::Source = "rtsp://admin:p%40ss@10.1.2.3:8554/live?x=1"
            .parse()
            .unwrap();
        let camward_config::Source::Rtsp(src) = src else {
            panic!()
        };
        let (u, c) = target(&src).unwrap();
        assert_eq!(u.as_str(), "rtsp://10.1.2.3:8554/live?x=1");
        let c = c.unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("admin", "p@ss")
        );
        let plain: camward_config::Source = "rtsp://h/s".parse().unwrap();
        let camward_config::Source::Rtsp(plain) = plain else {
            panic!()
        };
        assert!(target(&plain).unwrap().1.is_none());
    }

    #[test]
    fn rtsp_frames_convert_to_access_units_with_parameter_sets() {
        let sps = Bytes::from_static(&[0x67, 0x42, 0xc0, 0x1e]);
        let pps = Bytes::from_static(&[0x68, 0xce]);
        let idr = vec![0, 0, 0, 3, 0x65, 0x88, 0x80, 0, 0, 0, 2, 0x65, 0x40];
        assert_eq!(
            convert_frame(idr.clone(), true, 0, 90_000, None).unwrap(),
            None,
            "no parameters yet"
        );
        let f = convert_frame(idr, true, 180_000, 90_000, Some((&sps, &pps)))
            .unwrap()
            .unwrap();
        assert!(f.key);
        assert_eq!(f.pts90k, 180_000);
        let types: Vec<_> = f.nals.iter().map(|n| NalType::of(n)).collect();
        assert_eq!(
            types,
            vec![NalType::Sps, NalType::Pps, NalType::Idr, NalType::Idr]
        );
        let p = convert_frame(
            vec![0, 0, 0, 2, 0x41, 0x9a],
            false,
            3000,
            1000,
            Some((&sps, &pps)),
        )
        .unwrap()
        .unwrap();
        assert!(!p.key);
        assert_eq!(p.pts90k, 270_000, "rescaled from a 1 kHz clock");
        assert_eq!(p.nals.len(), 1);
        assert!(convert_frame(vec![0, 0, 0, 9, 1], false, 0, 90_000, Some((&sps, &pps))).is_err());
    }
}
