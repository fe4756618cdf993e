//! `camward firmware …` (paper §3.11): the vendor's tools (`keygen`, `pack`, `inspect`, from
//! camward-firmware) and the device console's (`trust`, `class-key`, `install`, `status`).
//!
//! Only the console changes which keys a device trusts or installs its class key: nothing in the
//! HTTP API writes under `DATA/firmware/keys` or `class.key`, so an attacker holding an
//! administrator's password can upload only bundles a trusted key signed. Whoever has the
//! console (root on the box) can replace the binary anyway, so an owner key gives them nothing new.

use anyhow::{Context, Result, bail};
use camward_firmware::cli::{InspectArgs, KeygenArgs, PackArgs};
use camward_firmware::keys::{self, KeySource};
use camward_firmware::slots::{self, InstallContext, Layout, Running, Slot};
use camward_store::{Actor, AuditEvent, Store};
use clap::Subcommand;
use serde_json::json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum FirmwareCommand {
    /// Make a vendor signing key (Ed25519), or with --class a device-class key (X25519).
    Keygen(KeygenArgs),
    /// Sign, and optionally encrypt, payloads into a bundle (.cfw).
    Pack(PackArgs),
    /// Show a bundle's manifest and signer, and whether it verifies against the trusted keys.
    Inspect(InspectArgs),
    /// Firmware signing keys this device trusts besides the pinned ones (console only).
    #[command(subcommand)]
    Trust(TrustCommand),
    /// The device-class key that opens encrypted bundles (console only).
    #[command(subcommand, name = "class-key")]
    ClassKey(ClassKeyCommand),
    /// Install a bundle from the console into the inactive slot; tried at the daemon's next start.
    Install {
        /// The bundle.
        file: PathBuf,
    },
    /// Both slots, the anti-rollback floor and the trusted keys.
    Status {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum TrustCommand {
    /// Trust a public key (`ed25519:…` file from `camward firmware keygen`).
    Add { file: PathBuf },
    /// Stop trusting an owner key (by id).
    Remove { id: String },
    /// List the trusted keys.
    List,
}

#[derive(Subcommand)]
pub enum ClassKeyCommand {
    /// Install the device-class key file (from `camward firmware keygen --class`).
    Install { file: PathBuf },
    /// Print the device-class recipient (`cwr1…`).
    Show,
    /// Remove the device-class key: encrypted bundles are then refused.
    Remove,
}

fn audit(data: &Path, kind: &str, detail: serde_json::Value) -> Result<()> {
    let store = Store::open(data)?;
    store.audit(&AuditEvent::new(kind).by(&Actor::console()).detail(detail))?;
    Ok(())
}

/// Runs a firmware command; the return value is the exit status.
pub fn run(data: &Path, cmd: FirmwareCommand) -> Result<i32> {
    let layout = Layout::new(data);
    match cmd {
        FirmwareCommand::Keygen(a) => a.run().map_err(anyhow::Error::msg)?,
        FirmwareCommand::Pack(a) => a.run().map_err(anyhow::Error::msg)?,
        FirmwareCommand::Inspect(a) => return Ok(a.run(data)),
        FirmwareCommand::Trust(TrustCommand::Add { file }) => {
            let key = keys::load_public(&file)?;
            layout.ensure()?;
            std::fs::create_dir_all(layout.keys())?;
            let dest = layout.keys().join(format!("{}.pub", key.id()));
            slots::write_atomic(
                &dest,
                format!("# owner key, added from the console\n{key}\n").as_bytes(),
            )?;
            audit(
                data,
                "firmware.trust.add",
                json!({"key_id": key.id().to_string()}),
            )?;
            println!("trusting firmware signed by {} ({key})", key.id());
        }
        FirmwareCommand::Trust(TrustCommand::Remove { id }) => {
            let p = layout.keys().join(format!("{id}.pub"));
            if !p.exists() {
                bail!(
                    "no owner key {id} (pinned keys cannot be removed; a manifest can retire them)"
                );
            }
            std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
            slots::sync_dir(&layout.keys())?;
            audit(data, "firmware.trust.remove", json!({"key_id": id}))?;
            println!("no longer trusting {id}");
        }
        FirmwareCommand::Trust(TrustCommand::List) => {
            let st = slots::load_state(&layout)?;
            for k in st.trust(&layout)?.keys() {
                let src = match k.source {
                    KeySource::Pinned => "pinned",
                    KeySource::Owner => "owner",
                    KeySource::Rotated => "rotated",
                };
                println!("{}  {src:<7}  {}", k.key.id(), k.key);
            }
        }
        FirmwareCommand::ClassKey(ClassKeyCommand::Install { file }) => {
            let id = camward_cenc::Identity::load(&file)?;
            layout.ensure()?;
            let dest = layout.class_key();
            if dest.exists() {
                bail!(
                    "{} exists; remove it first with `camward firmware class-key remove`",
                    dest.display()
                );
            }
            id.save(&dest)?;
            slots::sync_dir(&layout.root)?;
            audit(
                data,
                "firmware.class_key.install",
                json!({"recipient": id.recipient().to_string()}),
            )?;
            println!("{}", id.recipient());
        }
        FirmwareCommand::ClassKey(ClassKeyCommand::Show) => {
            let id = camward_cenc::Identity::load(&layout.class_key())?;
            println!("{}", id.recipient());
        }
        FirmwareCommand::ClassKey(ClassKeyCommand::Remove) => {
            std::fs::remove_file(layout.class_key()).context("no device-class key installed")?;
            audit(data, "firmware.class_key.remove", json!({}))?;
        }
        FirmwareCommand::Install { file } => install(data, &layout, &file)?,
        FirmwareCommand::Status { json } => {
            let st = slots::load_state(&layout)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&st)?);
            } else {
                println!("floor   {}", st.floor);
                println!(
                    "boots   {}{}",
                    st.boot_target(),
                    if st.trial.is_some() { " (trial)" } else { "" }
                );
                println!(
                    "base    {} (security version {})",
                    env!("CARGO_PKG_VERSION"),
                    camward_firmware::SECURITY_VERSION
                );
                for s in [Slot::A, Slot::B] {
                    match st.slot(s) {
                        Some(i) => println!(
                            "{s}       {} (security version {}, signed by {}){}{}",
                            i.version,
                            i.security_version,
                            i.signer,
                            if st.active == s { " active" } else { "" },
                            i.failed
                                .as_ref()
                                .map(|f| format!(" FAILED: {f}"))
                                .unwrap_or_default()
                        ),
                        None => println!("{s}       empty"),
                    }
                }
            }
        }
    }
    Ok(0)
}

fn install(data: &Path, layout: &Layout, file: &Path) -> Result<()> {
    let st = slots::load_state(layout)?;
    // The console installs beside what boots now.
    let slot = st.active;
    let (version, sv) = match st.slot(slot) {
        Some(i) => (i.version.clone(), i.security_version),
        None => (
            env!("CARGO_PKG_VERSION").to_owned(),
            camward_firmware::SECURITY_VERSION,
        ),
    };
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let ctx = InstallContext {
        layout,
        running: Running {
            slot,
            version: semver::Version::parse(&version).unwrap_or(semver::Version::new(0, 0, 0)),
            security_version: sv,
        },
        identity: camward_cenc::Identity::load(&layout.class_key()).ok(),
        product: camward_firmware::PRODUCT,
        now: time::OffsetDateTime::now_utc(),
    };
    let pb = (std::io::stderr().is_terminal() && size > 4 << 20).then(|| {
        let pb = indicatif::ProgressBar::new(size);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "installing [{bar:40}] {bytes}/{total_bytes} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb
    });
    let mut r = std::io::BufReader::with_capacity(1 << 20, f);
    let res = slots::install(&ctx, &mut r, &mut |n| {
        if let Some(pb) = &pb {
            pb.set_position(n);
        }
    });
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    match res {
        Ok(i) => {
            audit(
                data,
                "firmware.install",
                json!({
                    "slot": i.slot, "version": i.version, "security_version": i.security_version,
                    "signer": i.signer, "bundle_id": i.bundle_id, "encrypted": i.encrypted, "bytes": size,
                }),
            )?;
            println!(
                "installed {} (security version {}) into slot {}: it is tried at the daemon's next start",
                i.version, i.security_version, i.slot
            );
            Ok(())
        }
        Err(e) => {
            let _ = audit(
                data,
                "firmware.refused",
                json!({"rule": e.rule(), "reason": e.to_string()}),
            );
            bail!("firmware refused ({}): {e}", e.rule())
        }
    }
}
