//! Console administration for headless devices: `camward user ...`, `camward host-auth reset`,
//! `camward config show|set`, `camward log`, `camward audit` (the paper's cautions, §3–§4, checked
//! on the live settings). Works on the data directory directly, also while the daemon runs.

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

#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Print the settings as JSON (secrets shown as `{"set": true}`), whole or one section/key.
    Show {
        /// A dotted path such as `https` or `https.connection`.
        path: Option<String>,
    },
    /// Change settings with the same validation and audit as the web API, e.g.
    /// `https.connection=http` to recover a device whose HTTPS port cannot open.
    Set {
        /// `dotted.path=value` pairs; a value is JSON when it parses as JSON, else a string.
        #[arg(required = true, value_name = "PATH=VALUE")]
        assignments: Vec<String>,
    },
}

#[derive(clap::Args)]
pub struct AuditArgs {
    /// Print the report as JSON (the same document as `GET /api/v1/audit`).
    #[arg(long)]
    json: bool,
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
            if !store.account_exists(&name)? {
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

/// `camward audit`: 0 without a high finding, 1 with one, 2 when the device cannot be read.
pub fn audit(data: &Path, args: AuditArgs) -> i32 {
    match audit_report(data) {
        Ok(r) => {
            if args.json {
                match serde_json::to_string_pretty(&r) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("camward: {e}");
                        return 2;
                    }
                }
            } else {
                print!("{}", r.to_text());
            }
            if r.passed { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("camward: {e:#}");
            2
        }
    }
}

fn audit_report(data: &Path) -> Result<camward_config::audit::Report> {
    let (store, config) = open(data)?;
    // Read only: the identity is the daemon's to create; before its first start there is none.
    let identity = if data.join(camward_tls::identity::IDENTITY_DIR).is_dir() {
        Some(
            camward_tls::DeviceIdentity::load_or_create(data)
                .context("cannot read the device identity")?,
        )
    } else {
        None
    };
    Ok(camward_web::audit::report(
        &config.current(),
        &store,
        identity.as_ref(),
    )?)
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

pub fn config(data: &Path, cmd: ConfigCommand) -> Result<()> {
    let (_store, config) = open(data)?;
    match cmd {
        ConfigCommand::Show { path } => {
            let doc = config.current().redacted();
            let shown = match &path {
                None => &doc,
                Some(p) => p
                    .split('.')
                    .try_fold(&doc, |v, key| v.get(key))
                    .with_context(|| format!("no setting `{p}`"))?,
            };
            println!("{}", serde_json::to_string_pretty(shown)?);
        }
        ConfigCommand::Set { assignments } => {
            let mut patch = serde_json::Value::Object(Default::default());
            for a in &assignments {
                let (path, value) = a
                    .split_once('=')
                    .with_context(|| format!("`{a}`: expected PATH=VALUE"))?;
                merge_at(&mut patch, path, parse_value(value))?;
            }
            let new = config
                .patch(&patch, &Actor::console())
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .redacted();
            for a in &assignments {
                let path = a.split_once('=').map_or(a.as_str(), |(p, _)| p);
                let now = path.split('.').try_fold(&new, |v, k| v.get(k));
                println!("{path} = {}", now.map_or("?".to_owned(), |v| v.to_string()));
            }
            println!("saved; a running daemon applies it within a second");
        }
    }
    Ok(())
}

/// A console value: JSON when it parses (numbers, booleans, lists), otherwise the text itself, so
/// `https.connection=http` needs no shell quoting.
fn parse_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

/// Sets `value` at a dotted path inside a merge patch, creating the objects on the way.
fn merge_at(patch: &mut serde_json::Value, path: &str, value: serde_json::Value) -> Result<()> {
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        bail!("`{path}`: not a setting path (use e.g. https.connection)");
    }
    let mut at = patch;
    for key in &keys[..keys.len() - 1] {
        let obj = at
            .as_object_mut()
            .with_context(|| format!("`{path}` conflicts with an earlier assignment"))?;
        at = obj
            .entry(key.to_string())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
    }
    let obj = at
        .as_object_mut()
        .with_context(|| format!("`{path}` conflicts with an earlier assignment"))?;
    obj.insert(keys[keys.len() - 1].to_owned(), value);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn console_assignments_build_one_merge_patch() {
        let mut patch = json!({});
        merge_at(&mut patch, "https.connection", parse_value("http")).unwrap();
        merge_at(&mut patch, "https.hsts", parse_value("false")).unwrap();
        merge_at(
            &mut patch,
            "host_auth.allow",
            parse_value(r#"["10.0.0.0/8"]"#),
        )
        .unwrap();
        assert_eq!(
            patch,
            json!({"https": {"connection": "http", "hsts": false},
                   "host_auth": {"allow": ["10.0.0.0/8"]}})
        );
    }

    #[test]
    fn console_rejects_empty_and_conflicting_paths() {
        let mut patch = json!({});
        assert!(merge_at(&mut patch, "https..connection", json!(1)).is_err());
        merge_at(&mut patch, "https", json!(5)).unwrap();
        assert!(merge_at(&mut patch, "https.connection", json!("http")).is_err());
    }
}
