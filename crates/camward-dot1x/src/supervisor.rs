//! Runs and supervises wpa_supplicant for the configured port (paper §3.6): writes the files,
//! starts `wpa_supplicant -D wired`, follows it over the control socket (events, a `STATUS` poll,
//! camera-initiated re-authentication, the password given on request so it is never on disk), restarts it with back-off when it exits, and stops it
//! with `TERMINATE` (then SIGKILL) when 802.1X is switched off or camward stops.
//!
//! A supplicant left behind by a camward that was killed is found by its control socket and
//! terminated before a new one starts, so two never fight over the port.

use crate::conf::{self, Files, Plan};
use crate::ctrl::Ctrl;
use crate::message::{Event, parse_event, parse_status, unsolicited};
use crate::state::{PortState, PortStatus, Tracker};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often `STATUS` is polled besides the events (catches held periods and missed events).
const POLL: Duration = Duration::from_secs(2);
/// First and longest wait before restarting a supplicant that exited or could not start.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A supplicant that ran this long resets the back-off.
const HEALTHY_RUN: Duration = Duration::from_secs(60);
/// How long a started supplicant may take to open its control socket.
const SOCKET_WAIT: Duration = Duration::from_secs(5);
/// How long `TERMINATE` may take before SIGKILL.
const STOP_WAIT: Duration = Duration::from_secs(3);
/// Consecutive unanswered polls after which the supplicant is restarted.
const MAX_POLL_FAILURES: u32 = 3;

/// A running supervisor; [`stop`](Self::stop) ends the supplicant and removes its files.
pub struct Supervisor {
    cancel: CancellationToken,
    task: JoinHandle<()>,
    files: Files,
}

impl Supervisor {
    /// Starts supervising `plan`. `program` overrides where wpa_supplicant is looked up.
    /// Every change of the port state is published on `status`.
    pub fn start(
        plan: Plan,
        program: Option<PathBuf>,
        files: Files,
        status: watch::Sender<PortStatus>,
    ) -> Supervisor {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(plan, program, files.clone(), status, cancel.clone()));
        Supervisor {
            cancel,
            task,
            files,
        }
    }

    /// Stops the supplicant (bounded: `TERMINATE`, then SIGKILL) and deletes the generated files.
    pub async fn stop(self) {
        self.cancel.cancel();
        if tokio::time::timeout(STOP_WAIT * 2, self.task)
            .await
            .is_err()
        {
            tracing::warn!("the IEEE 802.1X supervisor did not stop in time");
        }
        if let Err(e) = self.files.remove() {
            tracing::warn!(error = %e, dir = %self.files.dir.display(), "cannot remove the IEEE 802.1X files");
        }
    }
}

/// Why one run of the supplicant ended.
enum End {
    Cancelled,
    Failed(String),
}

fn publish(tx: &watch::Sender<PortStatus>, t: &Tracker) {
    tx.send_replace(t.status().clone());
}

async fn run(
    plan: Plan,
    program: Option<PathBuf>,
    files: Files,
    tx: watch::Sender<PortStatus>,
    cancel: CancellationToken,
) {
    let mut tracker = Tracker::new();
    publish(&tx, &tracker);
    let mut backoff = BACKOFF_MIN;
    // Bounded by cancellation: every pass either runs a supplicant or waits the back-off.
    loop {
        terminate_stale(&files, &plan.interface).await;
        let started = Instant::now();
        match run_once(
            &plan,
            program.as_deref(),
            &files,
            &tx,
            &mut tracker,
            &cancel,
        )
        .await
        {
            End::Cancelled => break,
            End::Failed(reason) => {
                if started.elapsed() >= HEALTHY_RUN {
                    backoff = BACKOFF_MIN;
                }
                tracing::warn!(%reason, retry_in_s = backoff.as_secs(), "IEEE 802.1X supplicant");
                if tracker.set(PortState::Failed, Some(reason)) {
                    publish(&tx, &tracker);
                }
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = next_backoff(backoff);
    }
}

/// Doubles the wait before the next restart, up to [`BACKOFF_MAX`].
fn next_backoff(b: Duration) -> Duration {
    (b * 2).min(BACKOFF_MAX)
}

/// Ends a supplicant still holding our control socket (left by a camward that was killed).
async fn terminate_stale(files: &Files, interface: &str) {
    let sock = files.ctrl_socket(interface);
    if !sock.exists() {
        return;
    }
    if let Ok(c) = Ctrl::connect(&sock, files.client_socket("cmd"))
        && c.command_ok("TERMINATE").await.is_ok()
    {
        tracing::info!("terminated a wpa_supplicant left by an earlier camward");
        let deadline = Instant::now() + STOP_WAIT;
        while sock.exists() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Keeps the last line wpa_supplicant printed (to explain an exit) and logs each one.
fn read_output(r: impl AsyncRead + Unpin + Send + 'static, last: Arc<Mutex<Option<String>>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            // Without -d wpa_supplicant prints errors only, never key material or passwords.
            tracing::debug!(target: "wpa_supplicant", "{line}");
            *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(line);
        }
    });
}

async fn run_once(
    plan: &Plan,
    program: Option<&Path>,
    files: &Files,
    tx: &watch::Sender<PortStatus>,
    tracker: &mut Tracker,
    cancel: &CancellationToken,
) -> End {
    let Some(program) = crate::find_program(program) else {
        return End::Failed(crate::MISSING_PROGRAM.into());
    };
    if !crate::interface_exists(&plan.interface) {
        return End::Failed(format!(
            "the network interface {} does not exist",
            plan.interface
        ));
    }
    if let Err(e) = conf::write(plan, files) {
        return End::Failed(e.to_string());
    }
    let mut child = match Command::new(&program)
        .arg("-D")
        .arg("wired")
        .arg("-i")
        .arg(&plan.interface)
        .arg("-c")
        .arg(files.conf())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return End::Failed(format!("cannot start {}: {e}", program.display())),
    };
    let last = Arc::new(Mutex::new(None));
    if let Some(o) = child.stdout.take() {
        read_output(o, last.clone());
    }
    if let Some(e) = child.stderr.take() {
        read_output(e, last.clone());
    }
    tracing::info!(interface = %plan.interface, method = plan.method.wpa_name(), pid = child.id(), "wpa_supplicant started");
    if tracker.status().state != PortState::Failed && tracker.set(PortState::Connecting, None) {
        publish(tx, tracker);
    }
    let exited = |st: std::io::Result<std::process::ExitStatus>| {
        let line = last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let st = st.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
        End::Failed(match line {
            Some(l) => format!("wpa_supplicant exited ({st}): {l}"),
            None => format!("wpa_supplicant exited ({st})"),
        })
    };

    // The control socket appears once the supplicant has read its configuration.
    let sock = files.ctrl_socket(&plan.interface);
    let deadline = Instant::now() + SOCKET_WAIT;
    let (cmd, ev) = loop {
        if let Ok(Some(st)) = child.try_wait() {
            return exited(Ok(st));
        }
        if sock.exists()
            && let (Ok(cmd), Ok(ev)) = (
                Ctrl::connect(&sock, files.client_socket("cmd")),
                Ctrl::connect(&sock, files.client_socket("ev")),
            )
            && ev.attach().await.is_ok()
        {
            break (cmd, ev);
        }
        if Instant::now() > deadline {
            stop_child(&mut child, None).await;
            return End::Failed(format!(
                "wpa_supplicant did not open its control socket {} within {SOCKET_WAIT:?}",
                sock.display()
            ));
        }
        tokio::select! {
            _ = cancel.cancelled() => {
                stop_child(&mut child, None).await;
                return End::Cancelled;
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    };

    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let reauth_every = Duration::from_secs(u64::from(plan.reauth_period.max(1)));
    let mut reauth =
        tokio::time::interval_at(tokio::time::Instant::now() + reauth_every, reauth_every);
    reauth.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut poll_failures = 0;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                stop_child(&mut child, Some(&cmd)).await;
                return End::Cancelled;
            }
            st = child.wait() => return exited(st),
            m = ev.recv() => match m {
                Ok(m) => {
                    if let Some(u) = unsolicited(&m) {
                        let event = parse_event(u.text);
                        if !matches!(event, Event::Other(_)) {
                            tracing::debug!(event = ?event, "wpa_supplicant event");
                        }
                        if let Event::Request { field, network } = &event {
                            answer_request(&cmd, plan, field, network).await;
                        }
                        if tracker.on_event(&event) {
                            publish(tx, tracker);
                        }
                    }
                }
                Err(e) => {
                    stop_child(&mut child, Some(&cmd)).await;
                    return End::Failed(format!("lost wpa_supplicant's event connection: {e}"));
                }
            },
            _ = poll.tick() => match cmd.request("STATUS").await {
                Ok(reply) => {
                    poll_failures = 0;
                    if tracker.on_status(&parse_status(&reply)) {
                        publish(tx, tracker);
                    }
                }
                Err(e) => {
                    poll_failures += 1;
                    if poll_failures >= MAX_POLL_FAILURES {
                        stop_child(&mut child, Some(&cmd)).await;
                        return End::Failed(format!("wpa_supplicant stopped answering: {e}"));
                    }
                }
            },
            _ = reauth.tick(), if plan.reauth_period > 0 => {
                // EAPOL-Start: a restarted authenticator that forgot the port asks for the
                // identity again; one that remembers simply re-authenticates.
                if let Err(e) = cmd.command_ok("REAUTHENTICATE").await {
                    tracing::debug!(error = %e, "REAUTHENTICATE");
                }
            }
        }
    }
}

/// Answers wpa_supplicant's request for the password from memory (it is never written to a file).
async fn answer_request(cmd: &Ctrl, plan: &Plan, field: &str, network: &str) {
    let Some(password) = plan.password.as_deref().filter(|_| field == "PASSWORD") else {
        tracing::warn!(
            field,
            "wpa_supplicant asks for a value camward does not have"
        );
        return;
    };
    let shown = format!("CTRL-RSP-PASSWORD-{network}:(the password)");
    match cmd
        .command_ok_as(&format!("CTRL-RSP-PASSWORD-{network}:{password}"), &shown)
        .await
    {
        Ok(()) => tracing::debug!("password given to wpa_supplicant"),
        Err(e) => tracing::warn!(error = %e, "cannot give the password to wpa_supplicant"),
    }
}

async fn stop_child(child: &mut Child, cmd: Option<&Ctrl>) {
    if let Some(cmd) = cmd
        && cmd.command_ok("TERMINATE").await.is_ok()
        && tokio::time::timeout(STOP_WAIT, child.wait()).await.is_ok()
    {
        return;
    }
    let _ = child.kill().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use camward_config::{Dot1xConfig, EapMethod, Secret};

    fn plan() -> Plan {
        let c = Dot1xConfig {
            enabled: true,
            interface: "lo".into(),
            method: EapMethod::Md5,
            identity: "cam".into(),
            password: Secret::new("md5-secret"),
            ..Dot1xConfig::default()
        };
        Plan::from_config(&c, "", PathBuf::from("/nonexistent/device.key"))
    }

    async fn wait_for(
        rx: &mut watch::Receiver<PortStatus>,
        what: impl Fn(&PortStatus) -> bool,
    ) -> PortStatus {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let s = rx.borrow_and_update().clone();
                if what(&s) {
                    return s;
                }
                rx.changed().await.expect("supervisor alive");
            }
        })
        .await
        .expect("status reached in time")
    }

    /// A supplicant that exits at once is reported with its exit and restarted; stopping
    /// removes every generated file.
    #[tokio::test]
    async fn an_exiting_supplicant_is_failed_with_its_exit_and_files_go_on_stop() {
        let d = tempfile::tempdir().unwrap();
        let files = Files::new(d.path());
        let (tx, mut rx) = watch::channel(PortStatus::disabled());
        let sup = Supervisor::start(plan(), Some(PathBuf::from("/bin/false")), files.clone(), tx);
        let s = wait_for(&mut rx, |s| s.state == PortState::Failed).await;
        let reason = s.reason.unwrap();
        assert!(reason.contains("wpa_supplicant exited"), "{reason}");
        assert!(files.conf().exists());
        // Restarted after the first back-off: the reason is the same, the supervisor still runs.
        tokio::time::sleep(BACKOFF_MIN + Duration::from_millis(300)).await;
        assert!(!sup.task.is_finished());
        sup.stop().await;
        assert!(!files.dir.exists());
    }

    #[tokio::test]
    async fn a_missing_program_or_interface_is_failed_with_the_reason() {
        let d = tempfile::tempdir().unwrap();
        let (tx, mut rx) = watch::channel(PortStatus::disabled());
        let sup = Supervisor::start(
            plan(),
            Some(d.path().join("none")),
            Files::new(d.path()),
            tx,
        );
        let s = wait_for(&mut rx, |s| s.state == PortState::Failed).await;
        assert_eq!(s.reason.as_deref(), Some(crate::MISSING_PROGRAM));
        sup.stop().await;
        let (tx, mut rx) = watch::channel(PortStatus::disabled());
        let mut p = plan();
        p.interface = "nonexist0".into();
        let sup = Supervisor::start(
            p,
            Some(PathBuf::from("/bin/false")),
            Files::new(d.path()),
            tx,
        );
        let s = wait_for(&mut rx, |s| s.state == PortState::Failed).await;
        assert!(s.reason.unwrap().contains("nonexist0"));
        sup.stop().await;
    }

    #[test]
    fn back_off_is_bounded() {
        let mut b = BACKOFF_MIN;
        let mut waits = Vec::new();
        for _ in 0..10 {
            waits.push(b.as_secs());
            b = next_backoff(b);
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
    }
}
