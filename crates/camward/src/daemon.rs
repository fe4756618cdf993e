//! `camward run`: opens the data directory, builds the state every service shares, binds the
//! listeners (failing with the flag to use), starts the services and shuts them down on SIGTERM/SIGINT.

use crate::services;
use anyhow::{Context, Result, bail};
use camward_auth::{AccountService, AuthOptions, Gate};
use camward_store::{Actor, AuditEvent, ConfigHandle, Store};
use camward_web::DeviceInfo;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// JSON configuration applied at start as an RFC 7396 merge patch (then stored, like an API PATCH).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// HTTP listen address [default: [::]:80, dual-stack; 0.0.0.0:80 where IPv6 is unavailable].
    #[arg(long, value_name = "ADDR:PORT")]
    http: Option<SocketAddr>,
    /// RTSP listen address [default: [::]:554].
    #[arg(long, value_name = "ADDR:PORT")]
    rtsp: Option<SocketAddr>,
    /// HTTPS listen address while Connection = HTTPS [default: [::]:{https.port}].
    #[arg(long, value_name = "ADDR:PORT")]
    https: Option<SocketAddr>,
    /// RTSPS (RTSP over TLS) listen address while Connection = HTTPS [default: [::]:322].
    #[arg(long, value_name = "ADDR:PORT")]
    rtsps: Option<SocketAddr>,
    /// FTP server listen address while "FTP access to camera" is Allow [default: [::]:{ftp_server.port}].
    #[arg(long, value_name = "ADDR:PORT")]
    ftp: Option<SocketAddr>,
    /// Digest nonce lifetime in seconds (tests shorten it to exercise stale=true).
    #[arg(long, hide = true, env = "CAMWARD_NONCE_TTL_SECS", value_name = "SECS")]
    nonce_ttl_secs: Option<u64>,
}

/// Everything the services share. Built once by [`run`]; each service takes what it needs.
// Some fields are read only by services still being written (RTSP binds `rtsp_addr`).
#[allow(dead_code)]
pub struct Shared {
    pub data_dir: PathBuf,
    pub store: Store,
    /// The configuration: `current()`, `subscribe()` for changes, `patch()`.
    pub config: ConfigHandle,
    /// Accounts and authentication; the same object as `gate`, with the management methods.
    pub accounts: Arc<AccountService>,
    /// What every listener calls: `host_allowed` on accept, `authenticate` per request.
    pub gate: Arc<dyn Gate>,
    pub info: DeviceInfo,
    /// Cancelled on SIGTERM/SIGINT: every service stops its listeners and returns.
    pub shutdown: CancellationToken,
    pub http_addr: SocketAddr,
    pub rtsp_addr: SocketAddr,
    /// The RTSP server: the `--rtsp` listener and the web service's tunnel hook share it.
    pub rtsp: Arc<camward_rtsp::RtspServer>,
    /// The device key and certificate (TLS listeners, certificate API, later signing and 802.1X).
    pub identity: Arc<camward_tls::DeviceIdentity>,
    /// `--https` / `--rtsps`: where the TLS listeners bind while Connection = HTTPS.
    pub https_addr: Option<SocketAddr>,
    pub rtsps_addr: Option<SocketAddr>,
    /// The media hub: Stream(1)/(2) frame buses (RTSP, recorder, motion detection subscribe),
    /// snapshots and MJPEG. Started and kept in step with the configuration by `services::media`.
    pub media: camward_media::MediaHub,
    /// The recorder (replaced by `services::record` when the directory or encryption changes):
    /// the recordings API reads its index, alarm actions call `trigger_alarm`.
    pub recording: services::record::Recording,
}

pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CAMWARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

pub fn run(data_dir: &Path, args: RunArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        // A camera SoC has few cores; two workers plus a small blocking pool keep memory low.
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(run_async(data_dir, args))
}

/// Holds the data directory against a second daemon (the console tools do not take it: SQLite
/// arbitrates their short transactions).
fn lock_data_dir(dir: &Path) -> Result<File> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let path = dir.join("camward.lock");
    let f = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => {
            bail!(
                "another camward is already running with the data directory {}",
                dir.display()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

pub(crate) async fn bind(
    addr: Option<SocketAddr>,
    default_port: u16,
    what: &str,
    flag: &str,
) -> Result<(TcpListener, SocketAddr)> {
    let candidates: Vec<SocketAddr> = match addr {
        Some(a) => vec![a],
        None => vec![
            SocketAddr::from(([0u16; 8], default_port)),
            SocketAddr::from(([0u8; 4], default_port)),
        ],
    };
    let mut last = None;
    for (i, a) in candidates.iter().enumerate() {
        match TcpListener::bind(a).await {
            Ok(l) => return Ok((l, *a)),
            // Only fall back from [::] to 0.0.0.0 when IPv6 itself is missing (EAFNOSUPPORT), not on
            // "port in use" or "permission denied".
            Err(e) if i + 1 < candidates.len() && no_ipv6(&e) => last = Some((*a, e)),
            Err(e) => return Err(bind_error(*a, e, what, flag)),
        }
    }
    let (a, e) = last.expect("at least one candidate");
    Err(bind_error(a, e, what, flag))
}

fn no_ipv6(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::AddrNotAvailable | std::io::ErrorKind::Unsupported
    ) || e.raw_os_error() == Some(97)
}

fn bind_error(a: SocketAddr, e: std::io::Error, what: &str, flag: &str) -> anyhow::Error {
    let hint = match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        }
        std::io::ErrorKind::AddrInUse => " (another program uses it)",
        _ => "",
    };
    anyhow::anyhow!(
        "cannot listen for {what} on {a}: {e}{hint}; choose another address with {flag} ADDR:PORT"
    )
}

fn read_serial(data_dir: &Path) -> Option<String> {
    // A factory-written serial in the data directory wins; otherwise the board's, where it has one.
    [
        data_dir.join("serial"),
        PathBuf::from("/proc/device-tree/serial-number"),
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .map(|s| {
        s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
            .to_owned()
    })
    .find(|s| !s.is_empty())
}

async fn run_async(data_dir: &Path, args: RunArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let _lock = lock_data_dir(data_dir)?;
    let store = Store::open(data_dir)?;
    let config = ConfigHandle::load(store.clone())?;
    if let Some(file) = &args.config {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read --config {}", file.display()))?;
        let patch: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("--config {} is not valid JSON", file.display()))?;
        config
            .patch(
                &patch,
                &Actor {
                    user: Some("(--config)".into()),
                    address: None,
                },
            )
            .with_context(|| format!("--config {} was not applied", file.display()))?;
    }
    let mut opts = AuthOptions::default();
    if let Some(s) = args.nonce_ttl_secs {
        opts.nonce_ttl = Duration::from_secs(s);
    }
    let accounts = Arc::new(AccountService::new(config.clone(), opts));
    // Made on first start (key generation is instant for P-256); a broken stored chain only
    // falls back to the self-signed certificate, so only an unusable key stops the daemon.
    let identity = Arc::new(
        camward_tls::DeviceIdentity::load_or_create(data_dir)
            .context("cannot load or create the device identity (key and certificate)")?,
    );

    // Bind every listener before starting anything, so a taken port fails start-up cleanly.
    let (http_listener, http_addr) = bind(args.http, 80, "HTTP", "--http").await?;
    let (rtsp_listener, rtsp_addr) = bind(args.rtsp, 554, "RTSP", "--rtsp").await?;
    // Built here, started by `services::media`: the RTSP server takes the buses now, and they stay
    // the same across pipeline restarts.
    let media = services::media::hub(&config.current());
    let rtsp = services::rtsp::server(
        accounts.clone(),
        Arc::new(services::rtsp::HubStreams(Arc::new(media.clone()))),
    );

    let shared = Arc::new(Shared {
        data_dir: data_dir.to_owned(),
        gate: accounts.clone(),
        info: DeviceInfo::new(env!("CARGO_PKG_VERSION"), read_serial(data_dir)),
        store,
        config,
        accounts,
        shutdown: CancellationToken::new(),
        http_addr,
        rtsp_addr,
        rtsp: rtsp.clone(),
        identity,
        https_addr: args.https,
        rtsps_addr: args.rtsps,
        media: media.clone(),
        recording: services::record::Recording::default(),
    });

    let alarms = services::alarm::Alarms::new(&shared);
    let tasks = vec![
        services::config_watch::start(&shared),
        services::media::start(&shared),
        services::signing::start(&shared),
        services::record::start(&shared),
        services::http::start(
            &shared,
            http_listener,
            vec![
                services::media::router(media.clone()),
                services::record::router(shared.recording.clone()),
                services::alarm::router(alarms.clone()),
            ],
        ),
        services::rtsp::start(&shared, rtsp_listener, rtsp.clone()),
        services::https::rtsps(&shared, rtsp),
        services::https::upkeep(&shared),
        services::alarm::start(&shared, alarms.clone()),
        services::ftp::start(&shared, args.ftp, alarms.log_sink()),
    ];

    shared
        .store
        .audit(&AuditEvent::new("daemon.start").detail(serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"), "http": http_addr.to_string(),
        })))?;
    tracing::info!(http = %http_addr, data = %data_dir.display(), ms = started.elapsed().as_millis() as u64, "camward running");
    if !shared.store.has_admin()? {
        tracing::warn!(
            "no administrator yet: register one with POST /api/v1/setup or `camward user add NAME --level admin`"
        );
    }

    wait_for_signal().await?;
    tracing::info!("shutting down");
    // Pipelines first: stopping them puts each stage's end-of-stream output (the signature of
    // the open GOP) on the frame buses, and the recorder, which reads every frame already
    // published before it obeys its stop, then closes each file with that signature inside.
    // `services::media` stops the hub again on shutdown; a second stop does nothing.
    shared.media.stop();
    shared.shutdown.cancel();
    for t in tasks {
        if tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .is_err()
        {
            tracing::warn!("a service did not stop within 5 s");
        }
    }
    shared.store.audit(&AuditEvent::new("daemon.stop"))?;
    Ok(())
}

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
