//! The `camward` binary: `camward run` starts the camera; the other subcommands administer a
//! headless device from its console (accounts, host authentication reset, audit log).
#![forbid(unsafe_code)]

mod console;
mod daemon;
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
    /// Print the audit log, newest first.
    Log(console::LogArgs),
}

fn main() -> ExitCode {
    daemon::init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => daemon::run(&cli.data, args),
        Command::User(c) => console::user(&cli.data, c),
        Command::HostAuth(c) => console::host_auth(&cli.data, c),
        Command::Log(a) => console::log(&cli.data, a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("camward: {e:#}");
            ExitCode::FAILURE
        }
    }
}
