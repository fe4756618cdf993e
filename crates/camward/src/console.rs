//! Console administration for headless devices: `camward user ...`, `camward host-auth reset`,
//! `camward log`. Works on the data directory directly, also while the daemon runs.

use crate::timefmt::rfc3339_ms;
use anyhow::{Context, Result, bail};
use camward_auth::{AccountError, AccountService, AuthOptions, Level};
use camward_store::{Actor, ConfigHandle, Store};
use std::io::{BufRead, IsTerminal};
use std::path::Path;

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Create an account (the password is read from a prompt, or from stdin when not a terminal).
    Add {
        name: String,
        #[arg(long, value_parser = ["admin", "control", "live"], default_value = "live")]
        level: String,
    },
    /// Set an account's password.
    Passwd { name: String },
    /// List accounts.
    List,
    /// Delete an account (the last administrator cannot be deleted).
    Delete { name: String },
}

#[derive(clap::Subcommand)]
pub enum HostAuthCommand {
    /// Switch host authentication off (the allow-list is kept), to recover from a lock-out.
    Reset,
}

#[derive(clap::Args)]
pub struct LogArgs {
    /// Number of entries to print.
    #[arg(long, default_value_t = 50)]
    limit: u32,
}

fn open(data: &Path) -> Result<(Store, ConfigHandle)> {
    if !data.join(camward_store::DB_FILE).exists() {
        bail!(
            "no camward database in {} (use --data DIR, or start `camward run` once)",
            data.display()
        );
    }
    let store = Store::open(data)?;
    let config = ConfigHandle::load(store.clone())?;
    Ok((store, config))
}

fn explain(e: AccountError) -> anyhow::Error {
    match e {
        AccountError::Policy(v) => {
            let lines: Vec<String> = v
                .iter()
                .map(|v| format!("  - {} ({})", v.message, v.rule))
                .collect();
            anyhow::anyhow!("the password policy refuses this:\n{}", lines.join("\n"))
        }
        other => other.into(),
    }
}

/// Reads a password: twice from the terminal without echo, or one line from stdin in scripts.
fn read_password(user: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        let p1 = rpassword::prompt_password(format!("Password for {user}: "))
            .context("cannot read the password")?;
        let p2 =
            rpassword::prompt_password("Retype password: ").context("cannot read the password")?;
        if p1 != p2 {
            bail!("the passwords do not match");
        }
        Ok(p1)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        let p = line.trim_end_matches(['\n', '\r']).to_owned();
        if p.is_empty() {
            bail!("no password on stdin");
        }
        Ok(p)
    }
}

pub fn user(data: &Path, cmd: UserCommand) -> Result<()> {
    let (store, config) = open_or_create(data, matches!(cmd, UserCommand::Add { .. }))?;
    let accounts = AccountService::new(config, AuthOptions::default());
    let actor = Actor::console();
    match cmd {
        UserCommand::Add { name, level } => {
            let level = Level::parse(&level).expect("clap restricts the values");
            let password = read_password(&name)?;
            accounts
                .create_user(&name, &password, level, &actor)
                .map_err(explain)?;
            println!("created {name} ({})", level.as_str());
        }
        UserCommand::Passwd { name } => {
            if store.get_account(&name)?.is_none() {
                bail!("no account named `{name}`");
            }
            let password = read_password(&name)?;
            accounts
                .update_user(&name, Some(&password), None, &actor)
                .map_err(explain)?;
            println!("password of {name} changed");
        }
        UserCommand::List => {
            let users = accounts.list_users().map_err(explain)?;
            if users.is_empty() {
                println!("no accounts (the device needs setup)");
            }
            for u in users {
                println!(
                    "{:<32} {:<8} created {}",
                    u.username,
                    u.level,
                    rfc3339_ms(u.created_at * 1000)
                );
            }
        }
        UserCommand::Delete { name } => {
            accounts.delete_user(&name, &actor).map_err(explain)?;
            println!("deleted {name}");
        }
    }
    Ok(())
}

/// `user add` may run on a brand-new device (registering the administrator from the console).
fn open_or_create(data: &Path, create: bool) -> Result<(Store, ConfigHandle)> {
    if create {
        let store = Store::open(data)?;
        let config = ConfigHandle::load(store.clone())?;
        Ok((store, config))
    } else {
        open(data)
    }
}

pub fn host_auth(data: &Path, cmd: HostAuthCommand) -> Result<()> {
    let (_store, config) = open(data)?;
    match cmd {
        HostAuthCommand::Reset => {
            config.patch(
                &serde_json::json!({ "host_auth": { "enabled": false } }),
                &Actor::console(),
            )?;
            println!(
                "host authentication is off (allow-list kept: {:?}); a running daemon applies this within a second",
                config.current().host_auth.allow
            );
        }
    }
    Ok(())
}

pub fn log(data: &Path, args: LogArgs) -> Result<()> {
    let (store, _config) = open(data)?;
    for e in store.audit_log(args.limit.clamp(1, 10_000), None)? {
        let detail = if e.detail.as_object().is_some_and(|o| o.is_empty()) {
            String::new()
        } else {
            e.detail.to_string()
        };
        println!(
            "{} {:<16} actor={} address={} target={} {}",
            rfc3339_ms(e.time_ms),
            e.kind,
            e.actor.as_deref().unwrap_or("-"),
            e.address.as_deref().unwrap_or("-"),
            e.target.as_deref().unwrap_or("-"),
            detail
        );
    }
    Ok(())
}
