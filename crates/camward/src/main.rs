//! The `camward` binary: `camward run` starts the camera; the other subcommands administer a
//! headless device from its console (accounts, host authentication reset, settings, audit log,
//! firmware), and the vendor's tools (CA, firmware keys and bundles).
#![forbid(unsafe_code)]

mod console;
mod daemon;
mod datadir;
mod firmware_cmd;
mod launcher;
mod mediatools;
mod services;
mod timefmt;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "camward", version, about = "A secure network camera")]
struct Cli {
    /// Data directory (database, keys, recordings).
    #[arg(
        long,
        global = true,
        default_value = "camward-data",
        value_name = "DIR"
    )]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the camera daemon.
    Run(daemon::RunArgs),
    /// Manage accounts from the console.
    #[command(subcommand)]
    User(console::UserCommand),
    /// Host authentication (IP filter) recovery.
    #[command(subcommand, name = "host-auth")]
    HostAuth(console::HostAuthCommand),
    /// Show or change settings from the console (same validation and audit as the web API).
    #[command(subcommand)]
    Config(console::ConfigCommand),
    /// Print the audit log, newest first.
    Log(console::LogArgs),
    /// Check the live settings against the paper's cautions: each finding with its severity, why
    /// it matters and the setting that fixes it (exit 1 while a high finding exists).
    Audit(console::AuditArgs),
    /// Private CA of the factory or site: create it, sign device CSRs.
    #[command(subcommand)]
    Ca(camward_tls::cli::CaCommand),
    /// This device's key and certificate: CSR, install, show, self-signed, delete.
    #[command(subcommand)]
    Identity(camward_tls::cli::IdentityCommand),
    /// Verify a recording's signatures (exit 0 authentic, 1 altered, 2 unsigned/untrusted, 3 unreadable).
    Verify(mediatools::VerifyCmd),
    /// Create a viewer identity for encrypted recordings; prints its recipient string.
    Keygen(camward_cenc::KeygenArgs),
    /// Decrypt an encrypted recording into a clear MP4.
    Decrypt(camward_cenc::DecryptArgs),
    /// Print an encrypted recording's content key (for `ffmpeg -decryption_key`).
    Keys(camward_cenc::KeysArgs),
    /// Firmware bundles: vendor keys, pack, inspect; the device's trusted keys and slots.
    #[command(subcommand)]
    Firmware(firmware_cmd::FirmwareCommand),
}

/// Replaces this process by a fresh `camward` with the same arguments; returns only on failure.
fn restart() -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return anyhow::anyhow!("cannot restart: cannot find my own binary: {e}"),
    };
    tracing::info!(exe = %exe.display(), "restarting");
    let err = std::process::Command::new(&exe)
        .args(std::env::args_os().skip(1))
        .exec();
    anyhow::anyhow!("cannot restart {}: {err}", exe.display())
}

fn main() -> ExitCode {
    // Before any file is created: the database, keys, queues, recordings and a tool's outputs
    // (keys, decrypted video) are the owner's alone.
    datadir::owner_only_umask();
    daemon::init_logging();
    // Before any TLS is built: every rustls config in the process (servers here, SMTP/FTPS
    // clients elsewhere) then follows the TLS policy.
    camward_tls::install_process_default();
    let cli = Cli::parse();
    // The media tools have their own exit codes, which scripts branch on.
    let exit = |code: i32| ExitCode::from(u8::try_from(code).unwrap_or(1));
    let result = match cli.command {
        // Started by hand or by the service manager. Once firmware is installed, the launcher
        // starts the daemon from the right slot and rolls a bad update back (paper §3.11); on a
        // fresh machine the daemon runs in this process, which becomes the launcher (exec) when
        // an update is installed.
        Command::Run(args) if args.launched_slot.is_none() => {
            let timeout = std::time::Duration::from_secs(args.health_timeout);
            if launcher::wanted(&cli.data) {
                return launcher::run(&cli.data, timeout);
            }
            let lock = match launcher::lock(&cli.data) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("camward: {e:#}");
                    return ExitCode::FAILURE;
                }
            };
            match daemon::run(&cli.data, args) {
                Ok(services::maintenance::RunEnd::Stop) => Ok(()),
                Ok(services::maintenance::RunEnd::Update) => {
                    drop(lock);
                    Err(launcher::become_launcher())
                }
                // The web UI asked for a restart: the same binary, arguments and process id again.
                Ok(_) => {
                    drop(lock);
                    Err(restart())
                }
                Err(e) => Err(e),
            }
        }
        // Started by the launcher: it restarts this daemon when asked to (the link says so).
        Command::Run(args) => daemon::run(&cli.data, args).map(|_| ()),
        Command::User(c) => console::user(&cli.data, c),
        Command::HostAuth(c) => console::host_auth(&cli.data, c),
        Command::Config(c) => console::config(&cli.data, c),
        Command::Log(a) => console::log(&cli.data, a),
        Command::Audit(a) => return exit(console::audit(&cli.data, a)),
        Command::Ca(c) => c.run(),
        Command::Identity(c) => c.run(),
        Command::Verify(a) => return exit(mediatools::verify(a)),
        Command::Keygen(a) => return exit(a.run()),
        Command::Decrypt(a) => return exit(a.run()),
        Command::Keys(a) => return exit(a.run()),
        Command::Firmware(c) => match firmware_cmd::run(&cli.data, c) {
            Ok(code) => return exit(code),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("camward: {e:#}");
            ExitCode::FAILURE
        }
    }
}
