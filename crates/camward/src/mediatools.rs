//! `camward verify [--identity]`: camward-sign's verifier, decrypting CENC recordings in memory first
//! (camward-cenc), so an encrypted file is checked against the signatures of its clear slices.

use camward_sign::cli::{EXIT_UNREADABLE, VerifyArgs};
use camward_sign::verify::{self, VerifyOptions};
use std::io::Write;
use std::path::PathBuf;

/// Verify the ONVIF Media Signing signatures of a recording (.h264 or .mp4, encrypted or not).
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyCmd {
    #[command(flatten)]
    pub args: VerifyArgs,
    /// Viewer identity (`camward keygen`) to decrypt an encrypted recording before verifying;
    /// decryption happens in memory, no clear copy is written.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

/// Runs `camward verify`; returns the process exit code (0 authentic, 1 altered, 2 unsigned or
/// untrusted, 3 unreadable).
pub fn verify(cmd: VerifyCmd) -> i32 {
    let Some(identity) = cmd.identity else {
        return camward_sign::cli::run(cmd.args);
    };
    let args = cmd.args;
    let mut err = std::io::stderr();
    let at = match args.at.as_deref() {
        None => None,
        Some(s) => match camward_record::timeutil::parse_rfc3339(s) {
            Some(ms) => Some(camward_record::timeutil::system_time(ms)),
            None => {
                let _ = writeln!(
                    err,
                    "camward verify: --at: {s:?} is not an RFC 3339 time (e.g. 2026-01-31T12:00:00Z)"
                );
                return EXIT_UNREADABLE;
            }
        },
    };
    let trust_anchor_pem = match &args.ca {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(s) => Some(s),
            Err(e) => {
                let _ = writeln!(err, "camward verify: reading --ca {}: {e}", p.display());
                return EXIT_UNREADABLE;
            }
        },
        None => None,
    };
    // A wrong identity or a damaged container means the pictures cannot be read: exit 3, like
    // any other unreadable input.
    let clear = match camward_cenc::cli::read_decrypted(&args.file, &identity) {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(err, "camward verify: {}: {e}", args.file.display());
            return EXIT_UNREADABLE;
        }
    };
    let opts = VerifyOptions {
        trust_anchor_pem,
        at,
    };
    let report = match verify::verify_bytes(&clear, &opts, &mut |_| {}) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "camward verify: {}: {e}", args.file.display());
            return EXIT_UNREADABLE;
        }
    };
    camward_sign::cli::emit(
        &args.file,
        args.json,
        &report,
        &[("decrypted", true.into())],
    )
}
