//! Test support shared by camward's crates, as a dev-dependency only: the checked-in H.264 clip
//! (`testdata/`, made once by the command in testdata/README.md, instead of an ffmpeg run per test
//! binary) and the check for external tools (ffmpeg, ffprobe, GStreamer, openssl) that real-peer
//! tests drive: absent, a test skips with a message naming the tool — except under `CI=true`,
//! where a missing peer is a failure, because CI installs every peer (scripts/setup).
#![forbid(unsafe_code)]

use std::process::{Command, Stdio};

/// testsrc 320x240 at 25 fps, x264 (High 4:4:4, ultrafast, no B-frames), one IDR with SPS/PPS
/// every 25 frames, 8 s: 200 frames, 8 GOPs, Annex-B.
pub const CLIP: &[u8] = include_bytes!("../../../testdata/testsrc-320x240-25fps-8s.h264");

/// Frames per second of [`CLIP`].
pub const CLIP_FPS: u64 = 25;

/// The first `seconds` of [`CLIP`] (whole GOPs of one second each), at most 8.
pub fn clip(seconds: usize) -> &'static [u8] {
    camward_h264::annexb::first_gops(CLIP, seconds)
}

/// Whether `tool` can be run (`tool -version`, `--version` or `version`, whichever it knows).
/// Prints why a test is skipped when it cannot; panics instead under `CI=true`.
pub fn have(tool: &str) -> bool {
    let runs = |flag: &str| {
        Command::new(tool)
            .arg(flag)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if runs("-version") || runs("--version") || runs("version") {
        return true;
    }
    let hint = match tool {
        "ffmpeg" | "ffprobe" => "apt-get install ffmpeg",
        "gst-launch-1.0" => "apt-get install gstreamer1.0-tools",
        "openssl" => "apt-get install openssl",
        "curl" => "apt-get install curl",
        _ => "see scripts/setup",
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{tool} is not installed ({hint}); CI must have every real peer (scripts/setup)");
    }
    eprintln!("SKIPPED: {tool} is not installed ({hint})");
    false
}

/// [`have`] for every tool.
pub fn have_all(tools: &[&str]) -> bool {
    tools.iter().all(|t| have(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_has_eight_one_second_gops() {
        let gops = |b: &[u8]| {
            camward_h264::annexb::split(b)
                .filter(|n| n[0] & 0x1f == 7)
                .count()
        };
        assert_eq!(gops(CLIP), 8);
        assert_eq!(gops(clip(3)), 3);
        assert!(clip(3).len() < clip(4).len());
        assert_eq!(clip(8), CLIP);
    }

    #[test]
    fn a_missing_tool_is_reported_not_run() {
        if std::env::var("CI").as_deref() != Ok("true") {
            assert!(!have("camward-no-such-tool"));
        }
    }
}
