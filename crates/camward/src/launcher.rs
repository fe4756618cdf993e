//! `camward run` is a small launcher (paper §3.11: a bad update rolls back by itself). It picks
//! the version to boot from `DATA/firmware/state.json` (the trial of a fresh install, else the last
//! version that booted healthy, else the binary it is itself: `base`), checks a slot's files
//! against its signed manifest, starts it as `… run --launched-slot SLOT` with a socket on fd 0,
//! and watches it:
//!
//! - the child writes `healthy` once its listeners are up and its self-test passed: a trial is
//!   committed (it becomes the active version, the anti-rollback floor rises to its security
//!   version, a key rotation it carries takes effect);
//! - a trial that does not report healthy within `--health-timeout`, or exits 3 times in a row,
//!   is rolled back: the last good version boots again and the failure is recorded;
//! - the child writes `restart` after installing an update: its exit boots the new trial;
//! - SIGTERM/SIGINT are passed on; the launcher exits with the child's status. A proven version
//!   that fails before it is healthy (a port in use) ends the launcher with its status, as
//!   before; one that crashes after being healthy is restarted (3 crashes in a row end it).
//!
//! Each step is appended to `firmware/journal.jsonl`, which the running daemon copies into the
//! audit log. A fresh machine has no state file: `camward run` is then the daemon itself (one
//! process, as before), and after installing an update it execs itself as the launcher.
//! If the launcher dies (kill -9), the child sees its socket close and exits at once, so a
//! restarted launcher finds the data directory free.
//!
//! [`Link`] is the child's end of the socket.

use anyhow::{Context, Result};
use camward_firmware::manifest::MAIN_PAYLOAD;
use camward_firmware::slots::{self, Layout, Slot};
use serde_json::json;
use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitCode, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// Boot attempts a trial gets before it is rolled back.
pub const MAX_ATTEMPTS: u32 = 3;
/// Crashes in a row (after being healthy) that end the launcher.
const MAX_CRASHES: u32 = 3;
/// How long a stopping child may take before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);

pub fn run(data_dir: &Path, health_timeout: Duration) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("camward: cannot start the launcher: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(supervise(data_dir, health_timeout)) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("camward: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether the launcher has work: firmware state exists (something was installed). A fresh
/// machine runs the daemon in the `camward run` process itself, exactly as before.
pub fn wanted(data_dir: &Path) -> bool {
    slots::has_state(&Layout::new(data_dir))
}

/// Replaces this process by `camward run` with the same arguments: the daemon that installed an
/// update becomes the launcher, which then boots the update (same process id for the service
/// manager). Returns only on failure.
pub fn become_launcher() -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return anyhow::Error::new(e).context("cannot find the camward executable"),
    };
    let err = std::process::Command::new(&exe)
        .args(std::env::args_os().skip(1))
        .exec();
    anyhow::Error::new(err).context(format!("cannot restart as {}", exe.display()))
}

/// Holds `DATA/launcher.lock`: one `camward run` per data directory.
pub fn lock(dir: &Path) -> Result<std::fs::File> {
    let mut b = std::fs::DirBuilder::new();
    use std::os::unix::fs::DirBuilderExt;
    b.recursive(true).mode(0o700);
    b.create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let path = dir.join("launcher.lock");
    let mut o = std::fs::OpenOptions::new();
    use std::os::unix::fs::OpenOptionsExt;
    o.create(true).truncate(false).write(true).mode(0o600);
    let f = o
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another camward is already running with the data directory {}",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// A launcher event: logged, and journaled for the audit log when the device has firmware state.
fn event(layout: &Layout, kind: &str, detail: serde_json::Value) {
    if !slots::has_state(layout) {
        tracing::debug!(event = kind, %detail, "launcher");
        return;
    }
    tracing::info!(event = kind, %detail, "launcher");
    if let Err(e) = slots::journal(layout, kind, detail) {
        tracing::error!(error = %e, "cannot write the firmware journal");
    }
}

fn rollback(layout: &Layout, reason: &str) -> Result<()> {
    let failure = slots::update_state(layout, |s| s.rollback(reason, slots::now_ms()))?;
    if let Some(f) = failure {
        tracing::warn!(slot = %f.slot, version = %f.version, to = %f.fell_back_to, reason, "update rolled back");
        event(
            layout,
            "firmware.rollback",
            json!({"slot": f.slot, "version": f.version, "reason": reason, "fell_back_to": f.fell_back_to}),
        );
    }
    Ok(())
}

fn exit_code(s: &ExitStatus) -> i32 {
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

fn describe(s: &ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "ended".into(),
    }
}

fn signal_child(child: &tokio::process::Child, sig: nix::sys::signal::Signal) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
    }
}

async fn until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn supervise(data_dir: &Path, health_timeout: Duration) -> Result<i32> {
    use tokio::signal::unix::{SignalKind, signal};
    let _lock = lock(data_dir)?;
    let layout = Layout::new(data_dir);
    let base = std::env::current_exe().context("cannot find the camward executable")?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let base_id = format!(
        "{},{}",
        env!("CARGO_PKG_VERSION"),
        camward_firmware::SECURITY_VERSION
    );
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    let mut crashes = 0u32;
    // Bounds the loop when the state cannot change (each pass either boots, or changes the
    // state, which can happen only a few times before `base` is the target).
    let mut unbootable = 0u32;
    loop {
        let state = slots::load_state(&layout).unwrap_or_else(|e| {
            tracing::error!(error = %e, "firmware state unreadable: booting the base version");
            Default::default()
        });
        let target = state.boot_target();
        let trial = state.trial.clone().filter(|t| t.slot == target);
        let (exe, version, sv) = match target {
            Slot::Base => (
                base.clone(),
                env!("CARGO_PKG_VERSION").to_owned(),
                camward_firmware::SECURITY_VERSION,
            ),
            s => match state
                .trust(&layout)
                .and_then(|t| slots::verify_slot(&layout, s, &t))
            {
                Ok(v) => (
                    layout.slot(s).join(MAIN_PAYLOAD),
                    v.manifest.version.clone(),
                    v.manifest.security_version,
                ),
                Err(e) => {
                    unbootable += 1;
                    anyhow::ensure!(unbootable < 5, "no bootable version: {e}");
                    event(
                        &layout,
                        "firmware.slot_invalid",
                        json!({"slot": s, "reason": e.to_string()}),
                    );
                    if trial.is_some() {
                        rollback(&layout, &e.to_string())?;
                    } else {
                        // The active slot no longer verifies (altered or torn on disk): the base
                        // version boots until a new bundle is installed.
                        slots::update_state(&layout, |st| {
                            st.active = Slot::Base;
                        })?;
                    }
                    continue;
                }
            },
        };
        let attempt = match &trial {
            Some(_) => slots::update_state(&layout, |st| {
                st.trial.as_mut().map_or(0, |t| {
                    t.attempts += 1;
                    t.attempts
                })
            })?,
            None => 0,
        };
        if trial.is_some() && attempt > MAX_ATTEMPTS {
            rollback(
                &layout,
                &format!("did not report healthy in {MAX_ATTEMPTS} boot attempts"),
            )?;
            continue;
        }
        event(
            &layout,
            "firmware.boot",
            json!({"slot": target, "version": version, "security_version": sv,
                   "trial": trial.is_some(), "attempt": attempt}),
        );

        let (ours, theirs) = UnixStream::pair().context("cannot make the launcher socket")?;
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args(&args)
            .arg("--launched-slot")
            .arg(target.name())
            .arg("--launched-base")
            .arg(&base_id)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .kill_on_drop(true);
        let spawned = cmd.spawn();
        // The Command keeps the child's end of the socket until dropped.
        drop(cmd);
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) if trial.is_some() => {
                let reason = format!("cannot start {}: {e}", exe.display());
                event(
                    &layout,
                    "firmware.boot_failed",
                    json!({"slot": target, "version": version, "attempt": attempt, "reason": reason}),
                );
                if attempt >= MAX_ATTEMPTS {
                    rollback(&layout, &reason)?;
                }
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot start {}", exe.display())),
        };
        ours.set_nonblocking(true)?;
        let (rd, mut wr) = tokio::net::UnixStream::from_std(ours)?.into_split();
        let mut lines = tokio::io::BufReader::new(rd).lines();
        let deadline = Instant::now() + health_timeout;
        let (mut healthy, mut restart, mut stopping, mut timed_out, mut link_open) =
            (false, false, false, false, true);
        let mut kill_at: Option<Instant> = None;
        let status = loop {
            tokio::select! {
                st = child.wait() => break st.context("cannot wait for the daemon")?,
                line = lines.next_line(), if link_open => match line {
                    Ok(Some(l)) => match l.trim() {
                        "healthy" if !healthy => {
                            healthy = true;
                            crashes = 0;
                            if let Some(t) = &trial {
                                slots::update_state(&layout, |st| st.commit(target, sv))?;
                                event(&layout, "firmware.commit", json!({
                                    "slot": target, "version": version, "security_version": sv,
                                    "attempt": t.attempts.max(attempt),
                                }));
                            } else if slots::has_state(&layout) && state.floor < sv {
                                slots::update_state(&layout, |st| st.commit(target, sv))?;
                            }
                            let _ = wr.write_all(b"journal\n").await;
                        }
                        "restart" => restart = true,
                        _ => {}
                    },
                    _ => link_open = false,
                },
                _ = tokio::time::sleep_until(deadline), if trial.is_some() && !healthy && !timed_out && !stopping => {
                    timed_out = true;
                    event(&layout, "firmware.health_timeout", json!({
                        "slot": target, "version": version, "seconds": health_timeout.as_secs(),
                    }));
                    signal_child(&child, nix::sys::signal::Signal::SIGTERM);
                    kill_at = Some(Instant::now() + Duration::from_secs(10));
                }
                _ = until(kill_at) => {
                    let _ = child.start_kill();
                    kill_at = None;
                }
                _ = term.recv() => {
                    stopping = true;
                    signal_child(&child, nix::sys::signal::Signal::SIGTERM);
                    kill_at = Some(Instant::now() + STOP_GRACE);
                }
                _ = int.recv() => {
                    stopping = true;
                    signal_child(&child, nix::sys::signal::Signal::SIGTERM);
                    kill_at = Some(Instant::now() + STOP_GRACE);
                }
            }
        };
        let code = exit_code(&status);
        if stopping {
            return Ok(code);
        }
        if restart {
            // The daemon recorded `firmware.restart` itself.
            continue;
        }
        if status.success() && !timed_out {
            // Stopped by a signal sent to it directly: the launcher stops too.
            return Ok(0);
        }
        if trial.is_some() && !healthy {
            let reason = if timed_out {
                format!(
                    "did not report healthy within {} s",
                    health_timeout.as_secs()
                )
            } else {
                format!("{} before reporting healthy", describe(&status))
            };
            event(
                &layout,
                "firmware.boot_failed",
                json!({
                    "slot": target, "version": version, "attempt": attempt, "reason": reason,
                }),
            );
            if timed_out || attempt >= MAX_ATTEMPTS {
                let why = if timed_out {
                    reason
                } else {
                    format!("{reason}, {MAX_ATTEMPTS} times in a row")
                };
                rollback(&layout, &why)?;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        }
        if !healthy {
            // A proven version that cannot start (a port in use, a bad flag): report it as the
            // daemon always did; restarting would not help.
            return Ok(code);
        }
        crashes += 1;
        tracing::error!(status = %describe(&status), crashes, "the daemon crashed");
        if crashes >= MAX_CRASHES {
            return Ok(code);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The daemon's end of the launcher socket (fd 0).
pub struct Link {
    stream: Mutex<UnixStream>,
}

impl Link {
    /// The socket on fd 0, when the launcher started this process.
    pub fn from_stdin() -> Option<Link> {
        let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
        let s = UnixStream::from(fd);
        // Not a socket (a terminal, /dev/null): nobody launched us.
        s.peer_addr().ok()?;
        Some(Link {
            stream: Mutex::new(s),
        })
    }

    pub fn send(&self, msg: &str) {
        if let Ok(mut s) = self.stream.lock()
            && let Err(e) = s.write_all(format!("{msg}\n").as_bytes())
        {
            tracing::warn!(error = %e, "cannot reach the launcher");
        }
    }

    /// Reads the launcher's messages on a thread: `on_line` for each; when the launcher is gone
    /// (its end closed: killed), this process exits at once so that a new launcher finds the
    /// data directory free.
    pub fn watch(&self, on_line: impl Fn(&str) + Send + 'static) {
        let Ok(reader) = self.stream.lock().map(|s| s.try_clone()) else {
            return;
        };
        let Ok(reader) = reader else { return };
        let _ = std::thread::Builder::new()
            .name("launcher-link".into())
            .spawn(move || {
                let mut r = std::io::BufReader::new(reader);
                let mut line = String::new();
                loop {
                    line.clear();
                    match r.read_line(&mut line) {
                        Ok(0) | Err(_) => {
                            eprintln!("camward: the launcher is gone; stopping at once");
                            std::process::exit(70);
                        }
                        Ok(_) => on_line(line.trim()),
                    }
                }
            });
    }
}
