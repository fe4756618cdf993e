//! The firmware service of the daemon (paper §3.11): installs bundles uploaded to
//! `POST /api/v1/firmware` (streamed from the request body through camward-firmware's one-pass
//! verifier into the inactive slot, size-capped, one at a time), reports the slots for
//! `GET /api/v1/status`, runs the self-test that tells the launcher this version is healthy, and
//! copies the launcher's journal into the audit log.

use crate::launcher::Link;
use axum::body::BodyDataStream;
use camward_firmware::slots::{self, InstallContext, Layout, Running, Slot, SlotInfo};
use camward_firmware::{Error as FwError, PRODUCT};
use camward_store::{Actor, AuditEvent, Store};
use camward_web::{
    ApiError, FirmwareFailure, FirmwareStatus, InstallAnswer, SlotName, SlotState, SlotStatus,
    TrustedKeyInfo,
};
use futures::TryStreamExt;
use futures::future::BoxFuture;
use serde_json::json;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

pub struct Input<'a> {
    pub data_dir: PathBuf,
    /// `--launched-slot`.
    pub slot: Option<&'a str>,
    /// `--launched-base`: the launcher's version and security version.
    pub base: Option<&'a str>,
    pub store: Store,
    pub link: Option<Arc<Link>>,
    /// Cancelled to make the daemon stop so the launcher boots the installed bundle.
    pub restart: CancellationToken,
    pub max_bytes: u64,
}

struct Inner {
    layout: Layout,
    running: Running,
    base: (String, u32),
    store: Store,
    link: Option<Arc<Link>>,
    restart: CancellationToken,
    busy: tokio::sync::Mutex<()>,
    max_bytes: u64,
}

/// Cheap to clone.
#[derive(Clone)]
pub struct Service(Arc<Inner>);

fn name(s: Slot) -> SlotName {
    match s {
        Slot::Base => SlotName::Base,
        Slot::A => SlotName::A,
        Slot::B => SlotName::B,
    }
}

impl Service {
    pub fn new(i: Input<'_>) -> Service {
        let layout = Layout::new(&i.data_dir);
        let slot = i.slot.and_then(Slot::parse).unwrap_or(Slot::Base);
        let state = slots::load_state(&layout).unwrap_or_default();
        let built = (
            env!("CARGO_PKG_VERSION").to_owned(),
            camward_firmware::SECURITY_VERSION,
        );
        let base = i
            .base
            .and_then(|b| b.split_once(','))
            .and_then(|(v, sv)| Some((v.to_owned(), sv.parse().ok()?)))
            .unwrap_or_else(|| built.clone());
        // A slot's version is its signed manifest's; the base version is the launcher's binary.
        let (version, sv) = match state.slot(slot) {
            Some(info) => (info.version.clone(), info.security_version),
            None => built,
        };
        let running = Running {
            slot,
            version: semver::Version::parse(&version).unwrap_or(semver::Version::new(0, 0, 0)),
            security_version: sv,
        };
        Service(Arc::new(Inner {
            layout,
            running,
            base,
            store: i.store,
            link: i.link,
            restart: i.restart,
            busy: tokio::sync::Mutex::new(()),
            max_bytes: i.max_bytes,
        }))
    }

    pub fn version(&self) -> String {
        self.0.running.version.to_string()
    }

    pub fn slot(&self) -> &'static str {
        self.0.running.slot.name()
    }

    pub fn restart_requested(&self) -> CancellationToken {
        self.0.restart.clone()
    }
}

fn audit(store: &Store, ev: AuditEvent) {
    if let Err(e) = store.audit(&ev) {
        tracing::error!(error = %e, "cannot write the audit log");
    }
}

/// Copies the launcher's journal into the audit log (actor `(launcher)`), then clears it.
pub fn import_journal(store: &Store, layout: &Layout) {
    let entries = slots::read_journal(layout);
    if entries.is_empty() {
        return;
    }
    for e in &entries {
        let mut detail = e.detail.clone();
        if let Some(o) = detail.as_object_mut() {
            o.insert("at_ms".into(), json!(e.at_ms));
        }
        audit(
            store,
            AuditEvent::new(e.kind.clone())
                .actor(Some("(launcher)"))
                .detail(detail),
        );
    }
    if let Err(e) = slots::clear_journal(layout, entries.len()) {
        tracing::error!(error = %e, "cannot clear the firmware journal");
    }
}

/// Copies the journal into the audit log each time the launcher asks, until shutdown.
pub fn journal_task(
    mut asked: tokio::sync::mpsc::UnboundedReceiver<()>,
    store: Store,
    layout: Layout,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                m = asked.recv() => {
                    if m.is_none() {
                        break;
                    }
                    let (s, l) = (store.clone(), layout.clone());
                    let _ = tokio::task::spawn_blocking(move || import_journal(&s, &l)).await;
                }
                _ = shutdown.cancelled() => break,
            }
        }
    })
}

/// Connects to `addr` as a client would (the unspecified address becomes loopback).
fn loopback_of(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Sends `request` to `addr` and returns the first bytes of the answer (empty: closed at once,
/// which the host filter does to a refused address).
async fn probe(addr: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = tokio::net::TcpStream::connect(loopback_of(addr)).await?;
    s.write_all(request).await?;
    let mut buf = vec![0u8; 16];
    let mut got = 0;
    while got < 9 {
        let n = s.read(&mut buf[got..]).await?;
        if n == 0 {
            break;
        }
        got += n;
    }
    buf.truncate(got);
    Ok(buf)
}

/// The self-test: the HTTP listener answers HTTP and the RTSP listener answers RTSP (or closes,
/// when the host filter refuses loopback). Passed: tells the launcher this version is healthy.
async fn self_test(http: SocketAddr, rtsp: SocketAddr) -> Result<(), String> {
    let t = Duration::from_secs(10);
    let h = tokio::time::timeout(
        t,
        probe(
            http,
            b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        ),
    )
    .await
    .map_err(|_| "HTTP did not answer within 10 s".to_string())?
    .map_err(|e| format!("HTTP listener {http}: {e}"))?;
    if !h.starts_with(b"HTTP/1.") {
        return Err(format!("HTTP listener {http} did not answer HTTP"));
    }
    let r = tokio::time::timeout(t, probe(rtsp, b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n"))
        .await
        .map_err(|_| "RTSP did not answer within 10 s".to_string())?
        .map_err(|e| format!("RTSP listener {rtsp}: {e}"))?;
    if !r.is_empty() && !r.starts_with(b"RTSP/1.0") {
        return Err(format!("RTSP listener {rtsp} did not answer RTSP"));
    }
    Ok(())
}

/// Runs the self-test and, when it passes, reports `healthy` to the launcher.
pub fn report_healthy(
    link: Option<Arc<Link>>,
    http: SocketAddr,
    rtsp: SocketAddr,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        match self_test(http, rtsp).await {
            Ok(()) => {
                tracing::info!("self-test passed");
                if let Some(l) = link {
                    l.send("healthy");
                }
            }
            // Not reporting healthy is the point: a trial then rolls back.
            Err(e) => tracing::error!(error = %e, "self-test failed: not reporting healthy"),
        }
    })
}

/// Reads at most `limit` bytes; past it, an error and `over` set.
struct Capped<R> {
    inner: R,
    left: u64,
    over: Arc<AtomicBool>,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One more byte tells "exactly at the limit" from "over it".
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.over.store(true, Ordering::Relaxed);
                    Err(std::io::Error::other("the bundle is over the size limit"))
                }
            };
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn refusal(e: &FwError) -> ApiError {
    match e {
        FwError::Busy(m) => ApiError::conflict("busy", m.clone()),
        FwError::TooLarge { limit } => camward_web::too_large(*limit),
        e if e.is_refusal() => ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            format!("firmware refused: {e}"),
        )
        .field("bundle", e.rule(), e.to_string()),
        e => ApiError::internal(e),
    }
}

impl camward_web::Firmware for Service {
    fn status(&self) -> FirmwareStatus {
        let i = &self.0;
        let st = slots::load_state(&i.layout).unwrap_or_default();
        let trust = st.trust(&i.layout).unwrap_or_default();
        let state_of = |s: Slot, info: Option<&SlotInfo>| {
            if info.is_some_and(|x| x.failed.is_some()) {
                SlotState::Failed
            } else if st.trial.as_ref().is_some_and(|t| t.slot == s) {
                SlotState::Trial
            } else if st.active == s {
                SlotState::Active
            } else if info.is_some() || s == Slot::Base {
                SlotState::Installed
            } else {
                SlotState::Empty
            }
        };
        let mut list = vec![SlotStatus {
            slot: SlotName::Base,
            state: state_of(Slot::Base, None),
            running: i.running.slot == Slot::Base,
            version: Some(i.base.0.clone()),
            security_version: Some(i.base.1),
            installed_at_ms: None,
            signer: None,
            failed: None,
        }];
        for s in [Slot::A, Slot::B] {
            let info = st.slot(s);
            list.push(SlotStatus {
                slot: name(s),
                state: state_of(s, info),
                running: i.running.slot == s,
                version: info.map(|x| x.version.clone()),
                security_version: info.map(|x| x.security_version),
                installed_at_ms: info.map(|x| x.installed_at_ms),
                signer: info.map(|x| x.signer.clone()),
                failed: info.and_then(|x| x.failed.clone()),
            });
        }
        FirmwareStatus {
            running: name(i.running.slot),
            floor: st.floor.max(i.running.security_version),
            slots: list,
            last_failure: st.last_failure.as_ref().map(|f| FirmwareFailure {
                slot: name(f.slot),
                version: f.version.clone(),
                reason: f.reason.clone(),
                at_ms: f.at_ms,
                fell_back_to: name(f.fell_back_to),
            }),
            trusted_keys: trust
                .keys()
                .iter()
                .map(|k| TrustedKeyInfo {
                    id: k.key.id().to_string(),
                    source: serde_json::to_value(k.source)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                })
                .collect(),
            class_key: camward_cenc::Identity::load(&i.layout.class_key())
                .ok()
                .map(|id| id.recipient().to_string()),
            max_bundle_bytes: i.max_bytes,
        }
    }

    fn max_bundle_bytes(&self) -> u64 {
        self.0.max_bytes
    }

    fn install(
        &self,
        body: BodyDataStream,
        actor: Actor,
    ) -> BoxFuture<'static, Result<InstallAnswer, ApiError>> {
        let i = self.0.clone();
        Box::pin(async move {
            let Ok(_one) = i.busy.try_lock() else {
                return Err(ApiError::conflict(
                    "busy",
                    "another firmware upload is in progress",
                ));
            };
            audit(
                &i.store,
                AuditEvent::new("firmware.upload").by(&actor).detail(json!({
                    "running": {"slot": i.running.slot, "version": i.running.version.to_string()},
                })),
            );
            let over = Arc::new(AtomicBool::new(false));
            let read = Arc::new(AtomicU64::new(0));
            let stream = body.map_err(std::io::Error::other);
            let mut reader = Capped {
                inner: tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream)),
                left: i.max_bytes,
                over: over.clone(),
                read: read.clone(),
            };
            let (layout, running) = (i.layout.clone(), i.running.clone());
            let res = tokio::task::spawn_blocking(move || {
                let identity = camward_cenc::Identity::load(&layout.class_key()).ok();
                let ctx = InstallContext {
                    layout: &layout,
                    running,
                    identity,
                    product: PRODUCT,
                    now: time::OffsetDateTime::now_utc(),
                };
                let res = slots::install(&ctx, &mut reader, &mut |_| {});
                if res.is_err() {
                    // Read the rest (up to the cap) so the client, still sending, gets the
                    // answer rather than a reset connection.
                    let _ = std::io::copy(&mut reader, &mut std::io::sink());
                }
                res
            })
            .await?;
            let bytes = read.load(Ordering::Relaxed);
            let res = res.map_err(|e| {
                if over.load(Ordering::Relaxed) {
                    FwError::TooLarge { limit: i.max_bytes }
                } else {
                    e
                }
            });
            match res {
                Ok(inst) => {
                    audit(
                        &i.store,
                        AuditEvent::new("firmware.install").by(&actor).detail(json!({
                            "slot": inst.slot, "version": inst.version,
                            "security_version": inst.security_version, "signer": inst.signer,
                            "bundle_id": inst.bundle_id, "encrypted": inst.encrypted, "bytes": bytes,
                        })),
                    );
                    tracing::info!(slot = %inst.slot, version = %inst.version, "firmware installed; restarting into it");
                    // Under the launcher it boots the trial when this process exits; without
                    // one (a fresh machine) this process becomes the launcher (main.rs).
                    if let Some(l) = &i.link {
                        l.send("restart");
                    }
                    audit(
                        &i.store,
                        AuditEvent::new("firmware.restart").detail(json!({
                            "from": {"slot": i.running.slot, "version": i.running.version.to_string()},
                            "to": {"slot": inst.slot, "version": inst.version},
                        })),
                    );
                    let restart = i.restart.clone();
                    tokio::spawn(async move {
                        // Let the answer reach the client first.
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        restart.cancel();
                    });
                    Ok(InstallAnswer {
                        slot: name(inst.slot),
                        version: inst.version,
                        security_version: inst.security_version,
                        signer: inst.signer,
                        encrypted: inst.encrypted,
                        restarting: true,
                    })
                }
                Err(e) => {
                    audit(
                        &i.store,
                        AuditEvent::new("firmware.refused")
                            .by(&actor)
                            .detail(json!({
                                "rule": e.rule(), "reason": e.to_string(), "bytes": bytes,
                            })),
                    );
                    Err(refusal(&e))
                }
            }
        })
    }
}
