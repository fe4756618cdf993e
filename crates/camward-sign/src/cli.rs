//! `camward verify FILE [--ca ROOT.pem] [--at TIME] [--json]`: the console front end of the
//! verifier, with exit codes a script can branch on and output shaped like the reference validator.

use crate::cert::Provenance;
use crate::verify::{self, Report, Verdict, VerifyOptions};
use clap::Args;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::SystemTime;

/// Exit code: every GOP authentic and the chain verifies to the given root.
pub const EXIT_AUTHENTIC: i32 = 0;
/// Exit code: frames altered, missing or reordered, or a signature does not verify.
pub const EXIT_ALTERED: i32 = 1;
/// Exit code: not signed, signed by a key that does not chain to the given root, or nothing
/// verifiable (no complete signed GOP: every GOP still waits for its signature).
pub const EXIT_UNSIGNED_OR_UNTRUSTED: i32 = 2;
/// Exit code: the input could not be read or parsed as H.264.
pub const EXIT_UNREADABLE: i32 = 3;

/// Verify the ONVIF Media Signing signatures of an H.264 recording (.h264/.264 or .mp4).
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Annex-B H.264 or MP4 file (detected by content).
    pub file: PathBuf,
    /// Trust anchor (root CA certificate, PEM) the signing chain must verify to.
    #[arg(long, value_name = "ROOT.pem")]
    pub ca: Option<PathBuf>,
    /// Check certificate validity at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The exit code a report maps to.
pub fn exit_code(report: &Report) -> i32 {
    match report.verdict {
        Verdict::Altered | Verdict::Reordered | Verdict::MissingFrames => EXIT_ALTERED,
        // Signed but not one GOP proven: "authentic" would vouch for frames nobody checked.
        Verdict::Unsigned | Verdict::NotVerifiable | Verdict::Pending => EXIT_UNSIGNED_OR_UNTRUSTED,
        Verdict::Authentic if report.counts.validated_frames == 0 => EXIT_UNSIGNED_OR_UNTRUSTED,
        Verdict::Authentic => {
            if report.provenance == Provenance::Trusted {
                EXIT_AUTHENTIC
            } else {
                EXIT_UNSIGNED_OR_UNTRUSTED
            }
        }
    }
}

/// An authentic stream whose last GOP waits for its signature: a recording file cut without it
/// (its SEI travels in the next GOP's first frame, i.e. the following file) or a cut capture.
pub fn last_gop_pending(report: &Report) -> bool {
    report.verdict == Verdict::Authentic
        && report.counts.validated_frames > 0
        && report
            .gops
            .last()
            .is_some_and(|g| g.verdict == Verdict::Pending)
}

/// Runs `camward verify`; returns the process exit code.
pub fn run(args: VerifyArgs) -> i32 {
    let mut err = std::io::stderr();
    let at = match args.at.as_deref().map(parse_time).transpose() {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "camward verify: --at: {e}");
            return EXIT_UNREADABLE;
        }
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
    let mut file = match std::fs::File::open(&args.file) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(err, "camward verify: reading {}: {e}", args.file.display());
            return EXIT_UNREADABLE;
        }
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut head = [0u8; 16];
    let head_len = read_up_to(&mut file, &mut head);
    let opts = VerifyOptions {
        trust_anchor_pem,
        at,
    };
    // A bar only for a person watching; logs and pipes get plain output.
    let bar = (std::io::stderr().is_terminal() && len > 8 << 20).then(|| {
        let pb = indicatif::ProgressBar::new(len);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} verifying [{bar:40}] {bytes}/{total_bytes} ({eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb
    });
    let mut tick = |pos: u64| {
        if let Some(pb) = &bar {
            pb.set_position(pos);
        }
    };
    let result = match verify::detect(&head[..head_len]) {
        // Annex-B streams are verified as they are read: recordings can be larger than RAM.
        Some(verify::Container::AnnexB) => {
            let mut chained =
                std::io::Read::chain(&head[..head_len], std::io::BufReader::new(file));
            verify::verify_annexb_reader(&mut chained, &opts, &mut tick)
        }
        // A fragmented MP4 (recordings, exports) is verified fragment by fragment.
        Some(verify::Container::Mp4) => {
            let mut chained = std::io::Read::chain(&head[..head_len], file);
            verify::verify_mp4_reader(&mut chained, &opts, &mut tick)
        }
        None => {
            // One allocation of the file's size: growing by doubling copied a large file
            // several times and faulted in twice its size.
            let mut bytes = Vec::with_capacity(len as usize + 1);
            bytes.extend_from_slice(&head[..head_len]);
            match std::io::Read::read_to_end(&mut file, &mut bytes) {
                Ok(_) => verify::verify_bytes(&bytes, &opts, &mut tick),
                Err(e) => Err(crate::Error::Unreadable(format!("reading: {e}"))),
            }
        }
    };
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "camward verify: {}: {e}", args.file.display());
            return EXIT_UNREADABLE;
        }
    };
    emit(&args.file, args.json, &report, &[])
}

/// Prints a finished report (human text, or JSON with `file`, `exit_code` and `extra` fields) and
/// returns the exit code; shared by `camward verify` on clear and on decrypted input.
pub fn emit(
    file: &std::path::Path,
    json: bool,
    report: &Report,
    extra: &[(&str, serde_json::Value)],
) -> i32 {
    if report.counts.received_frames == 0 {
        let _ = writeln!(
            std::io::stderr(),
            "camward verify: {}: no H.264 pictures found",
            file.display()
        );
        return EXIT_UNREADABLE;
    }
    let code = exit_code(report);
    let mut out = std::io::stdout().lock();
    let _ = if json {
        let mut v = serde_json::to_value(report).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("file".into(), file.display().to_string().into());
            for (k, val) in extra {
                o.insert((*k).into(), val.clone());
            }
            o.insert("exit_code".into(), code.into());
        }
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        )
    } else {
        write!(out, "{}", render(report))
    };
    code
}

/// Fills `buf` as far as the reader allows (short files give short heads).
fn read_up_to(r: &mut impl std::io::Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

fn parse_time(s: &str) -> Result<SystemTime, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{s:?} is not an RFC 3339 time (e.g. 2026-01-31T12:00:00Z): {e}"))?;
    Ok(t.into())
}

fn frames(r: &verify::GopReport) -> String {
    match r.frames {
        Some((a, b)) if a == b => format!("frame {a}"),
        Some((a, b)) => format!("frames {a}-{b}"),
        None => "(not in file)".into(),
    }
}

fn list(v: &[u32]) -> String {
    v.iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The human summary: the reference validator's headline lines, then one line per GOP.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let line = "-----------------------------\n";
    s += line;
    s += match &r.provenance {
        Provenance::Trusted => "PUBLIC KEY IS VALID!\n",
        Provenance::SelfSigned => "PUBLIC KEY VERIFIABLE WITHOUT TRUSTED CERT! (self-signed)\n",
        Provenance::Untrusted(_) => "PUBLIC KEY IS NOT VALID!\n",
        Provenance::NotVerifiable => "PUBLIC KEY COULD NOT BE VALIDATED!\n",
    };
    if let Provenance::Untrusted(why) = &r.provenance {
        s += &format!("  {why}\n");
    }
    s += line;
    s += match r.verdict {
        Verdict::Authentic => "VIDEO IS VALID!\n",
        Verdict::Pending => "VIDEO IS NOT VERIFIABLE (NO SIGNED GOP COMPLETED)!\n",
        Verdict::MissingFrames => "VIDEO IS VALID, BUT HAS MISSING FRAMES!\n",
        Verdict::Reordered => "VIDEO IS INVALID! (FRAMES REORDERED)\n",
        Verdict::Altered => "VIDEO IS INVALID!\n",
        Verdict::Unsigned => "VIDEO IS NOT SIGNED!\n",
        Verdict::NotVerifiable => "SIGNATURES COULD NOT BE VERIFIED!\n",
    };
    if last_gop_pending(r) {
        s += "last GOP pending (its signature is in the following file)\n";
    }
    let c = &r.counts;
    s += &format!("Number of received NAL Units : {}\n", c.received_nalus);
    s += &format!("Number of validated NAL Units: {}\n", c.validated_nalus);
    s += &format!("Number of pending NAL Units  : {}\n", c.pending_nalus);
    s += &format!("Number of received frames : {}\n", c.received_frames);
    s += &format!("Number of validated frames: {}\n", c.validated_frames);
    s += &format!("Number of pending frames  : {}\n", c.pending_frames);
    s += line;
    s += "\nSigner\n";
    s += line;
    match &r.signer {
        Some(si) => {
            s += &format!("Subject:          {}\n", si.subject);
            s += &format!("Issuer:           {}\n", si.issuer);
            s += &format!("Serial number:    {}\n", si.serial);
            s += &format!("Valid:            {} to {}\n", si.not_before, si.not_after);
        }
        None => s += "NOT PRESENT!\n",
    }
    for k in &r.public_key_changes {
        s += &format!(
            "PUBLIC KEY CHANGED at NAL {}: {} -> {}\n",
            k.sei_nal, k.old_signer, k.new_signer
        );
    }
    s += line;
    s += "\nVendor Info\n";
    s += line;
    match &r.vendor {
        Some(v) => {
            let sn = if v.serial_number.is_empty() {
                "N/A"
            } else {
                &v.serial_number
            };
            s += &format!("Serial Number:    {sn}\n");
            s += &format!("Firmware version: {}\n", v.firmware_version);
            s += &format!("Manufacturer:     {}\n", v.manufacturer);
        }
        None => s += "NOT PRESENT!\n",
    }
    s += line;
    s += "\nMedia Signing timestamps\n";
    s += line;
    s += &format!(
        "First frame:           {}\n",
        r.first_timestamp.as_deref().unwrap_or("N/A")
    );
    s += &format!(
        "Last validated frame:  {}\n",
        r.last_timestamp.as_deref().unwrap_or("N/A")
    );
    s += line;
    s += "\nMedia Signing size footprint\n";
    s += line;
    s += &format!("Total video:       {:8} B\n", c.total_bytes);
    s += &format!("Media Signing data: {:7} B\n", c.media_signing_bytes);
    let base = c.total_bytes.saturating_sub(c.media_signing_bytes).max(1);
    s += &format!(
        "Bitrate increase: {:9.2} %\n",
        100.0 * c.media_signing_bytes as f64 / base as f64
    );
    s += line;
    s += "\nGOPs\n";
    s += line;
    for g in &r.gops {
        let counter = g
            .counter
            .map(|c| format!("#{c}"))
            .unwrap_or_else(|| "-".into());
        s += &format!("GOP {counter:>5}  {:<16} {:?}", frames(g), g.verdict);
        if !g.altered_frames.is_empty() {
            s += &format!("; altered frame(s) {} (NAL {})", list(&g.altered_frames), {
                g.altered_nals
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            });
        }
        for m in &g.missing {
            match m.after_frame {
                Some(f) => s += &format!("; {} NAL unit(s) missing after frame {f}", m.count),
                None => s += &format!("; {} NAL unit(s) missing at GOP start", m.count),
            }
        }
        if !g.reordered_frames.is_empty() {
            s += &format!("; frame(s) {} out of order", list(&g.reordered_frames));
        }
        s += "\n";
        for why in &g.reasons {
            s += &format!("            {why}\n");
        }
    }
    s += line;
    if let Some(v) = &r.signer_version {
        s += &format!("Signer format version: {v}\n");
    }
    for n in &r.notes {
        s += &format!("note: {n}\n");
    }
    for e in &r.errors {
        s += &format!("error: {e}\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_must_be_rfc3339() {
        assert!(parse_time("2026-01-31T12:00:00Z").is_ok());
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
    }

    #[test]
    fn unreadable_input_exits_3() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.h264");
        std::fs::write(&p, b"this is not video").unwrap();
        let code = run(VerifyArgs {
            file: p,
            ca: None,
            at: None,
            json: true,
        });
        assert_eq!(code, EXIT_UNREADABLE);
        let missing = dir.path().join("missing.mp4");
        assert_eq!(
            run(VerifyArgs {
                file: missing,
                ca: None,
                at: None,
                json: false
            }),
            EXIT_UNREADABLE
        );
    }
}
