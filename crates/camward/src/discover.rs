//! `camward discover [--seconds N] [--json]`: the installer's Easy IP tool (paper §4.5). Sends a
//! WS-Discovery Probe for ONVIF NetworkVideoTransmitters on every local network and lists the
//! cameras that answer within N seconds: address, model, serial, firmware, HTTPS on/off and ONVIF
//! device service address. A camward outside its accommodate period does not answer.

use anyhow::{Context, Result};
use camward_discovery::Found;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct DiscoverArgs {
    /// How long to wait for answers.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=60))]
    seconds: u64,
    /// One JSON object per camera, one per line.
    #[arg(long)]
    json: bool,
}

/// The last path segment of the first scope under `prefix`, percent-decoded.
fn scope(f: &Found, prefix: &str) -> Option<String> {
    let v = f.scopes.iter().find_map(|s| s.strip_prefix(prefix))?;
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&v[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

pub fn run(args: DiscoverArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let found = rt
        .block_on(camward_discovery::discover(Duration::from_secs(
            args.seconds,
        )))
        .context("cannot send the WS-Discovery probe")?;
    if !args.json {
        println!(
            "{:<40} {:<12} {:<20} {:<10} {:<6} ONVIF",
            "ADDRESS", "MODEL", "SERIAL", "FIRMWARE", "HTTPS"
        );
    }
    for (ip, f) in &found {
        let model = scope(f, "onvif://www.onvif.org/hardware/").unwrap_or_else(|| "-".into());
        let serial = scope(f, "https://camward.dev/scope/serial/").unwrap_or_else(|| "-".into());
        let firmware =
            scope(f, "https://camward.dev/scope/firmware/").unwrap_or_else(|| "-".into());
        let onvif = f.xaddrs.first().cloned().unwrap_or_else(|| "-".into());
        let https = onvif.starts_with("https://");
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "address": ip.to_string(), "endpoint": f.endpoint, "model": model,
                    "serial": serial, "firmware": firmware, "https": https,
                    "onvif": onvif, "xaddrs": f.xaddrs, "scopes": f.scopes,
                })
            );
        } else {
            println!(
                "{:<40} {:<12} {:<20} {:<10} {:<6} {}",
                ip,
                model,
                serial,
                firmware,
                if https { "on" } else { "off" },
                onvif
            );
        }
    }
    if !args.json {
        eprintln!(
            "{} camera(s) answered within {} s",
            found.len(),
            args.seconds
        );
    }
    Ok(())
}
