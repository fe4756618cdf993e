//! `camward run`: opens the data directory, builds the handles the services share, binds the
//! listeners (failing with the flag to use), starts every service and listener, and shuts them
//! down on SIGTERM/SIGINT or when the web UI asks for a restart or a factory reset (applied here,
//! with everything stopped). Read `run_async` top to bottom: it is the whole wiring of the camera
//! (paper §3.5: HTTP and RTSP listen by default, every other listener follows its setting).

use crate::launcher::Link;
use crate::services;
use crate::services::listen::bind;
use crate::services::maintenance::{Restarter, RunEnd};
use anyhow::{Context, Result, bail};
use camward_auth::{AccountService, AuthOptions, Gate};
use camward_firmware::Layout;
use camward_store::{Actor, AuditEvent, ConfigHandle, Store};
use camward_web::{DeviceInfo, WebState};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
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
    /// Where UPnP discovery sends its SSDP search while auto port forwarding is on [default:
    /// 239.255.255.250:1900]; a loopback address keeps a test daemon off the real network.
    #[arg(long, value_name = "IPV4:PORT")]
    upnp_ssdp: Option<std::net::SocketAddrV4>,
    /// `record`: never set the system clock, append each request to DATA/clock-requests.jsonl
    /// instead (tests; machines whose clock is not camward's). Default `system`.
    #[arg(
        long,
        hide = true,
        env = "CAMWARD_CLOCK_SETTER",
        value_name = "system|record"
    )]
    clock_setter: Option<String>,
    /// SNMP agent UDP address while `snmp.enabled` is on [default: [::]:{snmp.port}, 161].
    #[arg(long, value_name = "ADDR:PORT")]
    snmp: Option<SocketAddr>,
    /// Length of the discovery window in seconds instead of the accommodate period's 20 minutes
    /// (`unlimited` stays unlimited); 0 = no window at all. For tests.
    #[arg(
        long,
        hide = true,
        env = "CAMWARD_DISCOVERY_WINDOW_SECS",
        value_name = "SECS"
    )]
    discovery_window_secs: Option<u64>,
    /// Answer and announce WS-Discovery on this interface only (tests keep it on a veth pair
    /// or on `lo`).
    #[arg(
        long,
        hide = true,
        env = "CAMWARD_DISCOVERY_INTERFACE",
        value_name = "NAME"
    )]
    discovery_interface: Option<String>,
    /// The wpa_supplicant program for IEEE 802.1X [default: found on $PATH or in /usr/sbin, /sbin].
    #[arg(long, hide = true, env = "CAMWARD_WPA_SUPPLICANT", value_name = "PATH")]
    wpa_supplicant: Option<PathBuf>,
    /// Digest nonce lifetime in seconds (tests shorten it to exercise stale=true).
    #[arg(long, hide = true, env = "CAMWARD_NONCE_TTL_SECS", value_name = "SECS")]
    nonce_ttl_secs: Option<u64>,
    /// Connections one client address may hold on each of the HTTP and RTSP servers; 0 = no limit
    /// (the load benchmarks run thousands of viewers from one loopback address).
    #[arg(
        long,
        hide = true,
        env = "CAMWARD_MAX_CONNECTIONS_PER_ADDRESS",
        value_name = "N",
        default_value_t = camward_auth::conn_limit::DEFAULT_PER_ADDRESS
    )]
    max_connections_per_address: usize,
    /// Seconds a newly installed firmware has to report healthy (listeners up, self-test
    /// passed) before the previous version boots again.
    #[arg(
        long,
        env = "CAMWARD_HEALTH_TIMEOUT",
        default_value_t = 120,
        value_name = "SECS"
    )]
    pub health_timeout: u64,
    /// Largest firmware bundle `POST /api/v1/firmware` accepts, in MiB.
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    max_bundle_mib: u64,
    /// Set by the launcher: the slot this daemon was started from (`base`, `a`, `b`).
    #[arg(long, hide = true, value_name = "SLOT")]
    pub launched_slot: Option<String>,
    /// Set by the launcher: its own version and security version (`X.Y.Z,N`).
    #[arg(long, hide = true, value_name = "VERSION,SV")]
    launched_base: Option<String>,
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

/// Runs the daemon until a signal (`RunEnd::Stop`), a restart request from the API, or an
/// installed update that asks for a restart into it (`RunEnd::Update`); the caller starts the
/// binary (or the launcher) again for the latter ones.
pub fn run(data_dir: &Path, args: RunArgs) -> Result<RunEnd> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        // A camera SoC has few cores; two workers plus a small blocking pool keep memory low.
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let end = rt.block_on(run_async(data_dir, args));
    // Tasks that did not stop in time must not outlive the run (a restart execs over them).
    rt.shutdown_timeout(Duration::from_secs(2));
    end
}

/// Holds the data directory against a second daemon (the console tools do not take it: SQLite
/// arbitrates their short transactions). The directory is made owner-only first, with everything
/// an older install left in it. Started by the launcher, it waits up to `wait` for the lock: the
/// previous daemon of a killed launcher may still be exiting.
fn lock_data_dir(dir: &Path, wait: Duration) -> Result<File> {
    crate::datadir::prepare(dir)?;
    let path = dir.join("camward.lock");
    let f = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    let until = std::time::Instant::now() + wait;
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(f),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                bail!(
                    "another camward is already running with the data directory {}",
                    dir.display()
                )
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
    }
}

/// The board's model from the device tree, else the OS and architecture.
fn read_model() -> String {
    std::fs::read_to_string("/proc/device-tree/model")
        .ok()
        .map(|s| {
            s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
                .to_owned()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("Linux {}", std::env::consts::ARCH.replace('_', "-")))
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

async fn run_async(data_dir: &Path, args: RunArgs) -> Result<RunEnd> {
    let started = std::time::Instant::now();
    // The launcher's socket (paper §3.11): health and restart reports, and this process ends
    // with the launcher.
    let link = args
        .launched_slot
        .is_some()
        .then(Link::from_stdin)
        .flatten()
        .map(Arc::new);
    let wait = if link.is_some() {
        Duration::from_secs(10)
    } else {
        Duration::ZERO
    };
    let _lock = lock_data_dir(data_dir, wait)?;

    // The state every service draws its handles from.
    let store = Store::open(data_dir)?;
    let config = ConfigHandle::load(store.clone())?;
    if let Some(file) = &args.config {
        apply_config_file(&config, file)?;
    }
    let mut opts = AuthOptions::default();
    if let Some(s) = args.nonce_ttl_secs {
        opts.nonce_ttl = Duration::from_secs(s);
    }
    let accounts = Arc::new(AccountService::new(config.clone(), opts));
    let gate: Arc<dyn Gate> = accounts.clone();
    // Before any listener opens: until an administrator exists, registering one over the network
    // needs this run's setup code, which only someone at the device can read (paper §3.2).
    let setup_code = accounts
        .publish_setup_code()
        .context("cannot write the setup code")?;
    let setup_file = accounts.setup_code_file();
    let serve_opts = camward_web::ServeOptions {
        max_connections_per_address: args.max_connections_per_address,
        ..camward_web::ServeOptions::default()
    };
    // Made on first start (key generation is instant for P-256); a broken stored chain only
    // falls back to the self-signed certificate, so only an unusable key stops the daemon.
    let identity = Arc::new(
        camward_tls::DeviceIdentity::load_or_create(data_dir)
            .context("cannot load or create the device identity (key and certificate)")?,
    );
    let shutdown = CancellationToken::new();
    let (restarter, mut restart_rx) = Restarter::new();
    // Which firmware runs: the launcher names the slot; its version is the signed manifest's.
    let firmware = services::firmware::Service::new(services::firmware::Input {
        data_dir: data_dir.to_owned(),
        slot: args.launched_slot.as_deref(),
        base: args.launched_base.as_deref(),
        store: store.clone(),
        link: link.clone(),
        restart: CancellationToken::new(),
        max_bytes: args.max_bundle_mib.saturating_mul(1 << 20),
    });
    // The serial a factory wrote wins; otherwise the identity's, which its certificate names.
    let serial = read_serial(data_dir).or_else(|| Some(identity.serial().to_owned()));
    let mut info = DeviceInfo::new(firmware.version(), serial);
    info.model = read_model();

    // Bind the always-on listeners before starting anything, so a taken port fails start-up
    // cleanly (§3.5: HTTP and RTSP are the only ones open by default).
    let (http_listener, http_addr) = bind(args.http, 80, "HTTP", "--http").await?;
    let (rtsp_listener, rtsp_addr) = bind(args.rtsp, 554, "RTSP", "--rtsp").await?;
    // Every open listener, for the status page; the TLS and FTP services add and remove theirs.
    let listeners = services::device::Listeners::default();
    listeners.open("HTTP", http_listener.local_addr().unwrap_or(http_addr));
    listeners.open("RTSP", rtsp_listener.local_addr().unwrap_or(rtsp_addr));

    // Handles shared between services: the media hub (its buses outlive pipeline restarts, so
    // the RTSP server takes them now), the RTSP server, the recorder and the alarm bus.
    let media = services::media::hub(&config.current());
    let recording = services::record::Recording::default().with_identity(identity.clone());
    // Recorder mode: upstream cameras pulled, recorded beside this device's streams and
    // re-served over RTSP.
    let http_viewers = services::device::HttpViewers::default();
    let cameras = services::cameras::Cameras::new(recording.clone(), http_viewers.clone());
    let rtsp = services::rtsp::server(
        gate.clone(),
        media.clone(),
        cameras.clone(),
        args.max_connections_per_address,
    );
    cameras.count_viewers_of(&rtsp);
    let alarms = services::alarm::Alarms::new(&config.current(), store.clone());
    let upnp = camward_upnp::StatusHandle::default();
    let (dot1x, dot1x_status) =
        services::dot1x::Dot1x::new(args.wpa_supplicant.clone(), identity.clone());
    let clock = services::time::clock_setter(args.clock_setter.as_deref(), data_dir)?;
    let time = services::time::service(&config, clock);
    let device = services::device::Device {
        listeners: listeners.clone(),
        config: config.clone(),
        media: media.clone(),
        rtsp: rtsp.clone(),
        recording: recording.clone(),
        http_viewers: http_viewers.clone(),
        https_flag: args.https,
    };

    let web = WebState::new(accounts.clone(), info.clone())
        .with_tunnel(services::rtsp::tunnel_handler(rtsp.clone()))
        .with_identity(identity.clone())
        .with_media(Arc::new(services::media::HubMedia {
            hub: media.clone(),
            viewers: http_viewers,
        }))
        .with_recordings(Arc::new(recording.clone()))
        .with_cameras(Arc::new(cameras.clone()))
        .with_alarm(Arc::new(alarms.clone()))
        .with_upnp(Arc::new(services::upnp::Forwarding(upnp.clone())))
        .with_dot1x(dot1x.clone())
        .with_time(time.clone())
        .with_device(Arc::new(device))
        .with_maintenance(Arc::new(restarter.clone()))
        .with_firmware(Arc::new(firmware.clone()));
    // ONVIF (paper §4.5's VMS path) on the web listeners, fed by the alarm bus and the
    // discovery window.
    let window = Arc::new(services::discovery::Window::default());
    let (onvif_notes, _) = tokio::sync::broadcast::channel(64);
    let onvif = Arc::new(camward_onvif::Onvif::new(
        Arc::new(services::onvif::Camera {
            config: config.clone(),
            accounts: accounts.clone(),
            serial: info.serial.clone(),
            rtsp_port: rtsp_addr.port(),
            rtsps_port: args.rtsps.map(|a| a.port()).unwrap_or(322),
            window: window.clone(),
            // The seam of the `time` settings section: its clock replaces this one.
            clock: Box::new(services::onvif::TimeClock(time.clone())),
            notes: onvif_notes.clone(),
            // SystemReboot restarts camward in-process, as Setup › Maintenance does.
            restarter,
        }),
        Arc::new(services::onvif::Accounts(accounts.clone())),
    ));
    let apps = services::http::apps(
        web,
        config.clone(),
        args.https,
        services::onvif::router(onvif, config.clone()),
    );
    let tls_listener = |flag| services::https::Listener {
        flag,
        identity: identity.clone(),
        gate: gate.clone(),
        config: config.clone(),
        store: store.clone(),
        listeners: listeners.clone(),
        shutdown: shutdown.clone(),
        serve: camward_web::ServeOptions {
            tunnel: Some(services::rtsp::tunnel_legs(rtsp.clone(), None)),
            ..serve_opts.clone()
        },
    };

    // The launcher says `journal` after recording a step (a trial committed): copy it into the
    // audit log. The task, not the reader thread, holds the store, so that it closes on shutdown.
    let (journal_tx, journal_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    if let Some(link) = &link {
        link.watch(move |msg| {
            if msg == "journal" {
                let _ = journal_tx.send(());
            }
        });
    }
    let tasks = vec![
        services::firmware::journal_task(
            journal_rx,
            store.clone(),
            Layout::new(data_dir),
            shutdown.clone(),
        ),
        services::config_watch::start(config.clone(), shutdown.clone()),
        services::media::start(services::media::Input {
            hub: media.clone(),
            config: config.clone(),
            stage: services::signing::initial_stage(&config, &identity),
            shutdown: shutdown.clone(),
        }),
        services::signing::start(services::signing::Input {
            config: config.clone(),
            identity: identity.clone(),
            media: media.clone(),
            shutdown: shutdown.clone(),
        }),
        services::record::start(services::record::Input {
            recording: recording.clone(),
            data_dir: data_dir.to_owned(),
            config: config.clone(),
            media: media.clone(),
            shutdown: shutdown.clone(),
        }),
        services::objstore::start(services::objstore::Input {
            recording: recording.clone(),
            handle: recording.objstore(),
            config: config.clone(),
            shutdown: shutdown.clone(),
        }),
        services::cameras::start(services::cameras::Input {
            cameras: cameras.clone(),
            config: config.clone(),
            recording: recording.clone(),
            identity: identity.clone(),
            shutdown: shutdown.clone(),
        }),
        services::http::start(
            http_listener,
            apps.plain,
            gate.clone(),
            camward_web::ServeOptions {
                tunnel: Some(services::rtsp::tunnel_legs(
                    rtsp.clone(),
                    Some(config.clone()),
                )),
                ..serve_opts.clone()
            },
            shutdown.clone(),
        ),
        services::https::web(tls_listener(args.https), apps.tls, apps.https_port),
        services::rtsp::start(rtsp.clone(), rtsp_listener, shutdown.clone()),
        services::snmp::start(services::snmp::Input {
            flag: args.snmp,
            data_dir: data_dir.to_owned(),
            config: config.clone(),
            gate: gate.clone(),
            accounts: accounts.clone(),
            identity: identity.clone(),
            rtsp: rtsp.clone(),
            recording: recording.clone(),
            cameras: cameras.clone(),
            alarms: alarms.clone(),
            dot1x: dot1x.subscribe(),
            shutdown: shutdown.clone(),
        }),
        services::https::rtsps(tls_listener(args.rtsps), rtsp),
        services::https::upkeep(services::https::Upkeep {
            identity: identity.clone(),
            store: store.clone(),
            shutdown: shutdown.clone(),
        }),
        services::alarm::start(services::alarm::Input {
            alarms: alarms.clone(),
            data_dir: data_dir.to_owned(),
            config: config.clone(),
            store: store.clone(),
            media: media.clone(),
            recording,
            device_name: info.serial.clone().unwrap_or_else(|| "camward".into()),
            shutdown: shutdown.clone(),
        }),
        services::onvif::forward_alarms(alarms.subscribe(), onvif_notes, shutdown.clone()),
        services::discovery::start(services::discovery::Input {
            config: config.clone(),
            listeners: listeners.clone(),
            data_dir: data_dir.to_owned(),
            window,
            facts: services::discovery::Facts {
                endpoint: services::discovery::endpoint(data_dir),
                serial: info.serial.clone(),
                http: http_addr,
                https_flag: args.https,
                interface: args.discovery_interface.clone(),
            },
            period_override: args.discovery_window_secs.map(Duration::from_secs),
            shutdown: shutdown.clone(),
        }),
        services::upnp::start(services::upnp::Input {
            config: config.clone(),
            status: upnp,
            ports: services::upnp::Ports {
                http: http_addr.port(),
                rtsp: rtsp_addr.port(),
                https_flag: args.https,
            },
            ssdp: args.upnp_ssdp,
            store: store.clone(),
            shutdown: shutdown.clone(),
        }),
        services::dot1x::start(services::dot1x::Input {
            handle: dot1x,
            status: dot1x_status,
            data_dir: data_dir.to_owned(),
            config: config.clone(),
            identity: identity.clone(),
            store: store.clone(),
            shutdown: shutdown.clone(),
        }),
        services::time::start(services::time::Input {
            time,
            config: config.clone(),
            shutdown: shutdown.clone(),
        }),
        services::ftp::start(services::ftp::Input {
            flag: args.ftp,
            data_dir: data_dir.to_owned(),
            config: config.clone(),
            accounts,
            gate,
            max_connections_per_address: args.max_connections_per_address,
            identity,
            log: alarms.log_sink(),
            listeners,
            shutdown: shutdown.clone(),
        }),
    ];

    store.audit(&AuditEvent::new("daemon.start").detail(serde_json::json!({
        "version": info.version, "build": env!("CARGO_PKG_VERSION"),
        "slot": firmware.slot(), "http": http_addr.to_string(),
    })))?;
    services::firmware::import_journal(&store, &Layout::new(data_dir));
    // Healthy = every listener bound (above) and the self-test through them passed.
    let self_test = services::firmware::report_healthy(link.clone(), http_addr, rtsp_addr);
    tracing::info!(http = %http_addr, data = %data_dir.display(), ms = started.elapsed().as_millis() as u64, "camward running");
    if let Some(code) = &setup_code {
        // The console is where the code is meant to be read (like a sticker on a camera's box).
        tracing::warn!(
            setup_code = %code,
            file = %setup_file.display(),
            "no administrator yet: register one on the web page or with POST /api/v1/setup using this setup code, or run `camward user add NAME --level admin` on the console"
        );
    }

    let update = firmware.restart_requested();
    let end = tokio::select! {
        r = wait_for_signal() => { r?; RunEnd::Stop }
        _ = update.cancelled() => {
            tracing::info!("restarting into the installed firmware");
            RunEnd::Update
        }
        end = async {
            loop {
                if let Some(end) = *restart_rx.borrow_and_update() {
                    return end;
                }
                if restart_rx.changed().await.is_err() {
                    // The API's handle is gone: only a signal can end the run now.
                    std::future::pending::<()>().await;
                }
            }
        } => end,
    };
    self_test.abort();
    tracing::info!(?end, "shutting down");
    // Pipelines first: stopping them puts each stage's end-of-stream output (the signature of
    // the open GOP) on the frame buses, and the recorder, which reads every frame already
    // published before it obeys its stop, then closes each file with that signature inside.
    // The media service stops the hub again on shutdown; a second stop does nothing.
    media.stop();
    cameras.stop_pulls();
    shutdown.cancel();
    for t in tasks {
        if tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .is_err()
        {
            tracing::warn!("a service did not stop within 5 s");
        }
    }
    store.audit(&AuditEvent::new("daemon.stop").detail(serde_json::json!({
        "restart": end != RunEnd::Stop,
    })))?;
    if let RunEnd::FactoryReset { wipe_recordings } = end {
        let recordings = config.current().recording.resolve_directory(data_dir);
        services::maintenance::apply_factory_reset(data_dir, &store, &recordings, wipe_recordings)?;
    }
    // Under the launcher, an API restart is the launcher's to do: it starts the same slot again.
    if let Some(l) = &link
        && matches!(end, RunEnd::Restart | RunEnd::FactoryReset { .. })
    {
        l.send("restart");
    }
    Ok(end)
}

/// `--config FILE`: an RFC 7396 merge patch applied (and stored, audited) like an API PATCH.
fn apply_config_file(config: &ConfigHandle, file: &Path) -> Result<()> {
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
