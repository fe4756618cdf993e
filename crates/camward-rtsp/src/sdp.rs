//! The SDP (RFC 8866) answered to DESCRIBE: one H.264 video track per stream, described per
//! RFC 6184 §8 so clients can start decoding from the parameter sets before the first IDR.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use camward_h264::StreamInfo;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Control URL of the single track, relative to the Content-Base.
pub const TRACK_CONTROL: &str = "trackID=0";

/// Builds the session description for the stream called `name` (`stream1`, `cameras/gate`).
/// `origin` fills the informational `o=` line.
pub fn describe(
    name: &str,
    info: &StreamInfo,
    origin: Option<IpAddr>,
    session_version: u64,
) -> String {
    let (family, addr) = match origin {
        Some(IpAddr::V6(a)) => ("IP6", a.to_string()),
        Some(IpAddr::V4(a)) => ("IP4", a.to_string()),
        None => ("IP4", "0.0.0.0".to_string()),
    };
    let mut s = String::with_capacity(512);
    let _ = write!(s, "v=0\r\n");
    let _ = write!(
        s,
        "o=- {session_version} {session_version} IN {family} {addr}\r\n"
    );
    let _ = write!(s, "s=camward {name}\r\n");
    let _ = write!(
        s,
        "c=IN {family} {}\r\n",
        if family == "IP6" { "::" } else { "0.0.0.0" }
    );
    let _ = write!(s, "t=0 0\r\n");
    let _ = write!(s, "a=tool:camward\r\n");
    let _ = write!(s, "a=range:npt=now-\r\n");
    let _ = write!(s, "a=control:*\r\n");
    let _ = write!(s, "m=video 0 RTP/AVP {}\r\n", crate::rtp::PAYLOAD_TYPE);
    let _ = write!(s, "a=rtpmap:{} H264/90000\r\n", crate::rtp::PAYLOAD_TYPE);
    let _ = write!(
        s,
        "a=fmtp:{} packetization-mode=1;profile-level-id={};sprop-parameter-sets={},{}\r\n",
        crate::rtp::PAYLOAD_TYPE,
        info.profile_level_id(),
        STANDARD.encode(&info.sps),
        STANDARD.encode(&info.pps)
    );
    if info.width > 0 && info.height > 0 {
        let _ = write!(s, "a=cliprect:0,0,{},{}\r\n", info.height, info.width);
        let _ = write!(s, "a=x-dimensions:{},{}\r\n", info.width, info.height);
    }
    if info.fps > 0 {
        let _ = write!(s, "a=framerate:{}\r\n", info.fps);
    }
    let _ = write!(s, "a=control:{TRACK_CONTROL}\r\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn info() -> StreamInfo {
        StreamInfo {
            width: 320,
            height: 240,
            fps: 25,
            sps: Bytes::from_static(&[0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9]),
            pps: Bytes::from_static(&[0x68, 0xeb, 0xe3, 0xcb]),
        }
    }

    #[test]
    fn sdp_announces_h264_pt96_with_parameter_sets_and_controls() {
        let s = describe("stream1", &info(), Some("127.0.0.1".parse().unwrap()), 42);
        assert!(s.starts_with("v=0\r\no=- 42 42 IN IP4 127.0.0.1\r\n"));
        assert!(s.contains("m=video 0 RTP/AVP 96\r\n"));
        assert!(s.contains("a=rtpmap:96 H264/90000\r\n"));
        assert!(s.contains("a=fmtp:96 packetization-mode=1;profile-level-id=64001F;sprop-parameter-sets=Z2QAH6zZ,aOvjyw==\r\n"));
        assert!(s.contains("a=control:*\r\n"));
        assert!(s.ends_with("a=control:trackID=0\r\n"));
        assert!(s.lines().all(|l| !l.is_empty()), "no blank lines");
    }

    #[test]
    fn sdp_uses_ip6_for_ipv6_listeners() {
        let s = describe("stream2", &info(), Some("::1".parse().unwrap()), 1);
        assert!(
            s.contains("o=- 1 1 IN IP6 ::1\r\n")
                && s.contains("c=IN IP6 ::\r\n")
                && s.contains("s=camward stream2")
        );
    }
}
