//! Console subcommands `camward ca …` (factory side) and `camward identity …` (device side).
//! The binary mounts these clap enums; each `run` prints what it did and where files went.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::ca::{self, CaSummary, DEFAULT_LEAF_DAYS};
use crate::certinfo::{CertInfo, certs_from_pem, describe};
use crate::identity::DeviceIdentity;
use crate::{CertKind, fsutil};

/// Default data directory of the daemon, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./camward-data";

/// Private CA operations, run at the factory (or by a site administrator), never on a camera.
#[derive(Debug, Clone, Subcommand)]
pub enum CaCommand {
    /// Create a private CA: a P-256 root (20 years) and optionally an intermediate (10 years).
    Init {
        /// Directory of the CA (created 0700; keys are written 0600).
        ca_dir: PathBuf,
        /// Also create an intermediate CA that signs devices, so the root key can stay offline.
        #[arg(long)]
        intermediate: bool,
    },
    /// Sign a device CSR; writes the chain to install on the device (leaf first, no root).
    Issue {
        /// Directory of the CA.
        ca_dir: PathBuf,
        /// The CSR made on the device by `camward identity csr` ("-" for standard input).
        #[arg(long, value_name = "FILE")]
        csr: PathBuf,
        /// Where to write the certificate chain (PEM); standard output when omitted.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Validity of the device certificate in days.
        #[arg(long, value_name = "N", default_value_t = DEFAULT_LEAF_DAYS)]
        days: u32,
    },
}

/// Operations on this device's identity (key, serial, certificates).
#[derive(Debug, Clone, Subcommand)]
pub enum IdentityCommand {
    /// Write a certificate signing request made with the device key (created on first use).
    Csr {
        /// Data directory of the device.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Where to write the CSR (PEM); standard output when omitted.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Common name of the subject; default `camward-<serial>`.
        #[arg(long)]
        cn: Option<String>,
        /// Host name or IP address the camera is reached by (repeatable); default: the CN.
        #[arg(long, value_name = "NAME")]
        san: Vec<String>,
    },
    /// Install a CA-issued certificate chain (PEM, leaf first) for the device key.
    Install {
        /// Data directory of the device.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// The chain from `camward ca issue` or the site's CA ("-" for standard input).
        file: PathBuf,
    },
    /// Show the serial number and the certificate the device serves.
    Show {
        /// Data directory of the device.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Print the description as JSON.
        #[arg(long)]
        json: bool,
        /// Also print the served chain as PEM (the paper's "Certificate download").
        #[arg(long)]
        pem: bool,
    },
    /// Generate a new self-signed certificate for the device key.
    RegenerateSelfSigned {
        /// Data directory of the device.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
        data: PathBuf,
    },
    /// Delete the CA-issued certificate; the device falls back to its self-signed one.
    DeleteCa {
        /// Data directory of the device.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
        data: PathBuf,
    },
}

impl CaCommand {
    /// Executes the command, printing a summary on standard output.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            CaCommand::Init {
                ca_dir,
                intermediate,
            } => {
                let summary = ca::ca_init(&ca_dir, intermediate)
                    .with_context(|| format!("initialising the CA in {}", ca_dir.display()))?;
                print_ca(&summary);
                println!(
                    "Distribute {} to clients as trust anchor; keep the *.key files secret{}.",
                    ca_dir.join(ca::ROOT_CERT).display(),
                    if intermediate {
                        " (root.key can now go offline)"
                    } else {
                        ""
                    }
                );
                Ok(())
            }
            CaCommand::Issue {
                ca_dir,
                csr,
                out,
                days,
            } => {
                let csr_pem = read_input(&csr)?;
                let chain = ca::ca_issue(&ca_dir, &csr_pem, days).with_context(|| {
                    format!("signing {} with {}", csr.display(), ca_dir.display())
                })?;
                let leaf = certs_from_pem(&chain)?.remove(0);
                let info = describe(&leaf, CertKind::CaIssued, time::OffsetDateTime::now_utc())?;
                write_output(out.as_deref(), &chain)?;
                eprintln!("issued: {}", info.subject);
                eprintln!(
                    "  serial {}  valid until {}",
                    info.serial_number, info.not_after
                );
                eprintln!("  SANs   {}", info.sans.join(", "));
                if let Some(out) = out {
                    eprintln!(
                        "chain written to {}; install it with `camward identity install {}`",
                        out.display(),
                        out.display()
                    );
                }
                Ok(())
            }
        }
    }
}

impl IdentityCommand {
    /// Executes the command, printing a summary on standard output.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            IdentityCommand::Csr { data, out, cn, san } => {
                let id = open(&data)?;
                let csr = id.csr(cn.as_deref(), &san).context("building the CSR")?;
                write_output(out.as_deref(), &csr)?;
                eprintln!(
                    "CSR for device {} (key in {})",
                    id.serial(),
                    id.dir().display()
                );
                if let Some(out) = out {
                    eprintln!(
                        "written to {}; sign it with `camward ca issue`",
                        out.display()
                    );
                }
                Ok(())
            }
            IdentityCommand::Install { data, file } => {
                let id = open(&data)?;
                let pem = read_input(&file)?;
                let info = id
                    .install_chain(&pem)
                    .with_context(|| format!("installing {}", file.display()))?;
                println!(
                    "installed the CA-issued certificate for device {}",
                    id.serial()
                );
                print_info(&info);
                println!(
                    "a running daemon picks it up when it reloads its identity (or at its next start)"
                );
                Ok(())
            }
            IdentityCommand::Show { data, json, pem } => {
                let id = open(&data)?;
                let info = id.info();
                if json {
                    println!("{}", show_json(&id, &info)?);
                } else {
                    println!("device serial   {}", id.serial());
                    print_info(&info);
                }
                if pem {
                    print!("{}", id.certificate_chain_pem());
                }
                Ok(())
            }
            IdentityCommand::RegenerateSelfSigned { data } => {
                let id = open(&data)?;
                let info = id.regenerate_self_signed()?;
                println!("new self-signed certificate for device {}", id.serial());
                print_info(&info);
                if id.kind() == CertKind::CaIssued {
                    println!("note: the CA-issued certificate stays in use while installed");
                }
                Ok(())
            }
            IdentityCommand::DeleteCa { data } => {
                let id = open(&data)?;
                let info = id.delete_ca_chain()?;
                println!("CA-issued certificate removed; now serving:");
                print_info(&info);
                Ok(())
            }
        }
    }
}

fn open(data: &Path) -> anyhow::Result<DeviceIdentity> {
    DeviceIdentity::load_or_create(data)
        .with_context(|| format!("opening the device identity in {}", data.display()))
}

fn read_input(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        return Ok(s);
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn write_output(out: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match out {
        None => {
            print!("{text}");
            Ok(())
        }
        Some(path) => {
            if path.is_dir() {
                bail!("{} is a directory, expected a file name", path.display());
            }
            fsutil::write_atomic(path, text.as_bytes(), fsutil::PUBLIC_MODE)?;
            Ok(())
        }
    }
}

fn print_ca(s: &CaSummary) {
    println!("CA in {}", s.dir.display());
    println!("root");
    print_info(&s.root);
    if let Some(i) = &s.intermediate {
        println!("intermediate (issues device certificates)");
        print_info(i);
    }
}

fn print_info(i: &CertInfo) {
    println!("  kind          {}", i.kind);
    println!("  subject       {}", i.subject);
    println!("  issuer        {}", i.issuer);
    println!("  serial        {}", i.serial_number);
    println!("  not before    {}", i.not_before);
    println!("  not after     {}", i.not_after);
    let state = if i.expired {
        "  EXPIRED"
    } else if i.expiring_soon {
        "  renew soon"
    } else {
        ""
    };
    println!("  days left     {}{state}", i.days_left);
    let sans = if i.sans.is_empty() {
        "(none)".to_string()
    } else {
        i.sans.join(", ")
    };
    println!("  SANs          {sans}");
    println!("  SHA-256       {}", i.fingerprint_sha256);
}

/// Document printed by `identity show --json`.
#[derive(serde::Serialize)]
struct ShowDoc<'a> {
    device_serial: &'a str,
    certificate: &'a CertInfo,
}

fn show_json(id: &DeviceIdentity, info: &CertInfo) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&ShowDoc {
        device_serial: id.serial(),
        certificate: info,
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Top,
    }

    #[derive(Debug, Subcommand)]
    enum Top {
        #[command(subcommand)]
        Ca(CaCommand),
        #[command(subcommand)]
        Identity(IdentityCommand),
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ca_issue_defaults_to_825_days() {
        let cli = Cli::parse_from(["camward", "ca", "issue", "dir", "--csr", "x.csr"]);
        match cli.cmd {
            Top::Ca(CaCommand::Issue { days, out, .. }) => {
                assert_eq!(days, 825);
                assert!(out.is_none());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn identity_csr_accepts_repeated_san_and_default_data_dir() {
        let cli = Cli::parse_from([
            "camward", "identity", "csr", "--san", "cam1", "--san", "10.0.0.5",
        ]);
        match cli.cmd {
            Top::Identity(IdentityCommand::Csr { data, san, .. }) => {
                assert_eq!(data, PathBuf::from(DEFAULT_DATA_DIR));
                assert_eq!(san, vec!["cam1", "10.0.0.5"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn provisioning_through_cli_commands_installs_ca_chain() {
        let d = tempfile::tempdir().unwrap();
        let c = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        let ca_dir = c.path().join("ca");
        let csr = d.path().join("dev.csr");
        let chain = d.path().join("dev.pem");
        CaCommand::Init {
            ca_dir: ca_dir.clone(),
            intermediate: true,
        }
        .run()
        .unwrap();
        IdentityCommand::Csr {
            data: data.clone(),
            out: Some(csr.clone()),
            cn: None,
            san: vec!["localhost".into()],
        }
        .run()
        .unwrap();
        CaCommand::Issue {
            ca_dir,
            csr,
            out: Some(chain.clone()),
            days: 30,
        }
        .run()
        .unwrap();
        IdentityCommand::Install {
            data: data.clone(),
            file: chain,
        }
        .run()
        .unwrap();
        let id = DeviceIdentity::load_or_create(&data).unwrap();
        assert_eq!(id.kind(), CertKind::CaIssued);
    }

    #[test]
    fn show_json_names_kind_in_snake_case() {
        let d = tempfile::tempdir().unwrap();
        let id = DeviceIdentity::load_or_create(d.path()).unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&show_json(&id, &id.info()).unwrap()).unwrap();
        assert_eq!(doc["device_serial"], id.serial());
        assert_eq!(doc["certificate"]["kind"], "self_signed");
        assert_eq!(doc["certificate"]["expired"], false);
    }
}
