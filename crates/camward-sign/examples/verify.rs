//! Stand-alone `camward verify` for trying the verifier before the daemon binary mounts it:
//! `cargo run -p camward-sign --example verify -- FILE [--ca ROOT.pem] [--at TIME] [--json]`.

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: camward_sign::cli::VerifyArgs,
}

fn main() {
    std::process::exit(camward_sign::cli::run(Cli::parse().args));
}
