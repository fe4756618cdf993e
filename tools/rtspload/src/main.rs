//! `rtspload`: the RTSP load client of `scripts/bench` (fan-out figures of docs/benchmarks.md).
//!
//! N viewers of one RTSP URL (paper §4.4: RTSP with Digest, RTP over UDP, interleaved on the
//! RTSP connection, or tunnelled over HTTP), each as cheap as a viewer can be: no decoding, one
//! read per wake-up, RTP headers parsed in place while the payload is skipped. It reports per
//! client the received rate, RTP sequence gaps and whether the client fell behind (closed, or
//! under 90 % of the nominal rate), and from /proc the CPU seconds and RSS of a server pid, its
//! own CPU and the rest of the machine's, as one JSON document on stdout.
//!
//! It is written against any RTSP server (camward and live555 are measured with it side by
//! side), so it assumes nothing beyond RFC 2326/7826-style responses and RFC 2617/7616 Digest.

mod demux;
mod proc;
mod rtsp;

use demux::{Demux, Event};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const USAGE: &str =
    "usage: rtspload --url rtsp://HOST:PORT/PATH [--clients N] [--transport tcp|http|udp]
  [--user U --password P] [--seconds S] [--settle S] [--pid PID] [--nominal-kbps K]
  [--concurrency C] [--threads T] [--setup-timeout S] [--read-buf BYTES] [--baseline-clients K]
--baseline-clients K: K clients play first, and the server's RSS is read 1 s later as the baseline
  of `rss_kib_per_client` (then divided by the other clients): a server that allocates per stream
  when its first viewer arrives (a proxy) is not charged that to its viewers.
--transport http tunnels RTSP over HTTP to the URL's host and port (GET + POST, x-sessioncookie).
Prints one JSON document on stdout and a one-line summary on stderr.";

/// A client under this share of the nominal rate in the window counts as behind.
const BEHIND_SHARE: f64 = 0.9;
/// Latency histogram: 0.1 ms buckets up to 10 s; later frames land in the last bucket.
const LAT_BUCKETS: usize = 100_000;
/// Receiver reports go out this often: real players send them, and both servers under test
/// take them as keep-alive (camward any bytes on the connection, live555 RTCP).
const RR_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Tcp,
    Http,
    Udp,
}

#[derive(Clone, Debug)]
struct Cfg {
    url: String,
    host: String,
    port: u16,
    path: String,
    clients: usize,
    mode: Mode,
    user: Option<String>,
    password: String,
    seconds: f64,
    settle: f64,
    pid: Option<u32>,
    nominal_kbps: Option<f64>,
    concurrency: usize,
    threads: usize,
    setup_timeout: f64,
    read_buf: usize,
    baseline_clients: usize,
}

fn parse_args() -> Result<Cfg, String> {
    let mut a = std::env::args().skip(1);
    let mut cfg = Cfg {
        url: String::new(),
        host: String::new(),
        port: 554,
        path: String::new(),
        clients: 1,
        mode: Mode::Tcp,
        user: None,
        password: String::new(),
        seconds: 10.0,
        settle: 2.0,
        pid: None,
        nominal_kbps: None,
        concurrency: 32,
        threads: 1,
        setup_timeout: 180.0,
        read_buf: 32 * 1024,
        baseline_clients: 0,
    };
    while let Some(k) = a.next() {
        if k == "-h" || k == "--help" {
            return Err(USAGE.into());
        }
        let v = a
            .next()
            .ok_or_else(|| format!("{k} needs a value\n{USAGE}"))?;
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| format!("{k}: not a number: {v}"))
        };
        match k.as_str() {
            "--url" => cfg.url = v,
            "--clients" => cfg.clients = num(&v)? as usize,
            "--transport" => {
                cfg.mode = match v.as_str() {
                    "tcp" => Mode::Tcp,
                    "http" | "tunnel" => Mode::Http,
                    "udp" => Mode::Udp,
                    _ => return Err(format!("--transport: tcp, http or udp, not {v}")),
                }
            }
            "--user" => cfg.user = Some(v),
            "--password" => cfg.password = v,
            "--seconds" => cfg.seconds = num(&v)?,
            "--settle" => cfg.settle = num(&v)?,
            "--pid" => cfg.pid = Some(num(&v)? as u32),
            "--nominal-kbps" => cfg.nominal_kbps = Some(num(&v)?),
            "--concurrency" => cfg.concurrency = (num(&v)? as usize).max(1),
            "--threads" => cfg.threads = (num(&v)? as usize).max(1),
            "--setup-timeout" => cfg.setup_timeout = num(&v)?,
            "--read-buf" => cfg.read_buf = (num(&v)? as usize).max(2048),
            "--baseline-clients" => cfg.baseline_clients = num(&v)? as usize,
            _ => return Err(format!("unknown option {k}\n{USAGE}")),
        }
    }
    let rest = cfg
        .url
        .strip_prefix("rtsp://")
        .ok_or_else(|| format!("--url must be rtsp://HOST:PORT/PATH\n{USAGE}"))?;
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    cfg.path = format!("/{path}");
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h,
            p.parse().map_err(|_| format!("bad port in {}", cfg.url))?,
        ),
        _ => (hostport, 554),
    };
    cfg.host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    cfg.port = port;
    if !(1..=100_000).contains(&cfg.clients) {
        return Err("--clients: 1 to 100000".into());
    }
    if cfg.baseline_clients >= cfg.clients {
        return Err("--baseline-clients must be below --clients".into());
    }
    if !(cfg.seconds > 0.0 && cfg.seconds <= 3600.0 && cfg.settle >= 0.0) {
        return Err("--seconds: 0 to 3600, --settle ≥ 0".into());
    }
    Ok(cfg)
}

/// What one client has seen; read by the main task at the window's edges.
#[derive(Default)]
struct Stat {
    bytes: AtomicU64,
    rtp_packets: AtomicU64,
    gaps: AtomicU64,
    playing: AtomicBool,
    closed: AtomicBool,
}

struct Shared {
    cfg: Cfg,
    stats: Vec<Stat>,
    measuring: AtomicBool,
    latency: Vec<AtomicU32>,
    errors: std::sync::Mutex<Vec<String>>,
    setup_done: AtomicU64,
}

impl Shared {
    fn error(&self, i: usize, e: impl std::fmt::Display) {
        let mut errs = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if errs.len() < 20 {
            errs.push(format!("client {i}: {e}"));
        }
    }

    fn record_latency(&self, secs: f64) {
        let b = ((secs.max(0.0) * 10_000.0) as usize).min(LAT_BUCKETS - 1);
        self.latency[b].fetch_add(1, Ordering::Relaxed);
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Feeds received bytes (interleaved stream or one datagram) to a client's demux and counters.
struct Sink<'a> {
    shared: &'a Shared,
    stat: &'a Stat,
    last_seq: Option<u16>,
    last_ts: Option<u32>,
    last_marker: bool,
    /// Latest sender report: (capture time as Unix seconds, its RTP timestamp).
    sr: Option<(f64, u32)>,
    /// SSRC of the media, for receiver reports.
    ssrc: u32,
}

impl<'a> Sink<'a> {
    fn new(shared: &'a Shared, stat: &'a Stat) -> Self {
        Sink {
            shared,
            stat,
            last_seq: None,
            last_ts: None,
            last_marker: true,
            sr: None,
            ssrc: 0,
        }
    }

    fn event(&mut self, ev: Event, now: &mut Option<f64>) {
        match ev {
            Event::Rtp {
                seq,
                ts,
                marker,
                ssrc,
            } => {
                if let Some(last) = self.last_seq
                    && seq != last.wrapping_add(1)
                {
                    self.stat.gaps.fetch_add(1, Ordering::Relaxed);
                }
                self.last_seq = Some(seq);
                self.ssrc = ssrc;
                self.stat.rtp_packets.fetch_add(1, Ordering::Relaxed);
                let first_of_frame = self.last_marker || Some(ts) != self.last_ts;
                if first_of_frame
                    && self.shared.measuring.load(Ordering::Relaxed)
                    && let Some((wall, sr_ts)) = self.sr
                {
                    let d = ts.wrapping_sub(sr_ts) as i32 as f64 / 90_000.0;
                    let arrival = *now.get_or_insert_with(unix_now);
                    self.shared.record_latency(arrival - (wall + d));
                }
                self.last_ts = Some(ts);
                self.last_marker = marker;
            }
            Event::SenderReport { ntp, rtp_ts } => {
                let secs =
                    (ntp >> 32) as f64 - 2_208_988_800.0 + (ntp as u32) as f64 / 4294967296.0;
                self.sr = Some((secs, rtp_ts));
            }
        }
    }

    /// A receiver report (RFC 3550 §6.4.2) with one block for the media SSRC.
    fn receiver_report(&self, me: u32) -> Vec<u8> {
        let mut p = vec![0x81, 201, 0, 7];
        p.extend_from_slice(&me.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(&[0; 4]); // fraction lost, cumulative lost
        p.extend_from_slice(&u32::from(self.last_seq.unwrap_or(0)).to_be_bytes());
        p.extend_from_slice(&[0; 12]); // jitter, LSR, DLSR
        p
    }
}

async fn client(shared: Arc<Shared>, i: usize, gate: Arc<tokio::sync::Semaphore>) {
    let cfg = &shared.cfg;
    let permit = gate.acquire().await;
    let deadline = Duration::from_secs_f64(cfg.setup_timeout);
    let setup = tokio::time::timeout(deadline, rtsp::setup(cfg, i)).await;
    drop(permit);
    shared.setup_done.fetch_add(1, Ordering::Relaxed);
    let media = match setup {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => {
            shared.error(i, e);
            shared.stats[i].closed.store(true, Ordering::Relaxed);
            return;
        }
        Err(_) => {
            shared.error(i, "setup timed out");
            shared.stats[i].closed.store(true, Ordering::Relaxed);
            return;
        }
    };
    let stat = &shared.stats[i];
    stat.playing.store(true, Ordering::Relaxed);
    let why = match media {
        rtsp::Media::Interleaved {
            rd,
            wr,
            leftover,
            base64,
            rtcp_ch,
            _keep,
        } => interleaved(&shared, stat, rd, wr, leftover, base64, rtcp_ch, i).await,
        rtsp::Media::Udp { rtp, rtcp, _ctl } => udp(&shared, stat, rtp, rtcp, i).await,
    };
    stat.closed.store(true, Ordering::Relaxed);
    if shared.measuring.load(Ordering::Relaxed) {
        shared.error(i, format!("closed while measuring: {why}"));
    }
}

#[allow(clippy::too_many_arguments)]
async fn interleaved(
    shared: &Shared,
    stat: &Stat,
    mut rd: tokio::net::tcp::OwnedReadHalf,
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    leftover: Vec<u8>,
    base64: bool,
    rtcp_ch: u8,
    i: usize,
) -> String {
    let mut sink = Sink::new(shared, stat);
    let mut dm = Demux::default();
    let mut none = None;
    stat.bytes
        .fetch_add(leftover.len() as u64, Ordering::Relaxed);
    dm.feed(&leftover, |ev| sink.event(ev, &mut none));
    let mut buf = vec![0u8; shared.cfg.read_buf];
    let mut next_rr = Instant::now() + RR_INTERVAL;
    let me = 0x5EED_0000 ^ i as u32;
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) => return "closed by server".into(),
            Ok(n) => n,
            Err(e) => return format!("read: {e}"),
        };
        stat.bytes.fetch_add(n as u64, Ordering::Relaxed);
        let mut now = None;
        dm.feed(&buf[..n], |ev| sink.event(ev, &mut now));
        if dm.broken() {
            return "unframed bytes in the interleaved stream".into();
        }
        if Instant::now() >= next_rr {
            next_rr += RR_INTERVAL;
            let rr = sink.receiver_report(me);
            let mut frame = vec![b'$', rtcp_ch];
            frame.extend_from_slice(&(rr.len() as u16).to_be_bytes());
            frame.extend_from_slice(&rr);
            let out = if base64 {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .encode(&frame)
                    .into_bytes()
            } else {
                frame
            };
            // Best effort: a server that stopped reading shows up on the read side.
            let _ = tokio::time::timeout(Duration::from_secs(1), wr.write_all(&out)).await;
        }
    }
}

async fn udp(shared: &Shared, stat: &Stat, rtp: UdpSocket, rtcp: UdpSocket, i: usize) -> String {
    let mut sink = Sink::new(shared, stat);
    let mut buf = vec![0u8; 2048];
    let mut cbuf = vec![0u8; 512];
    let mut next_rr = Instant::now() + RR_INTERVAL;
    let me = 0x5EED_0000 ^ i as u32;
    loop {
        tokio::select! {
            r = rtp.recv(&mut buf) => match r {
                Ok(n) => {
                    stat.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    let mut now = None;
                    if let Some(ev) = demux::rtp_event(&buf[..n]) {
                        sink.event(ev, &mut now);
                    }
                    // Drain what is already queued without another wake-up.
                    while let Ok(n) = rtp.try_recv(&mut buf) {
                        stat.bytes.fetch_add(n as u64, Ordering::Relaxed);
                        if let Some(ev) = demux::rtp_event(&buf[..n]) {
                            sink.event(ev, &mut now);
                        }
                    }
                }
                Err(e) => return format!("udp rtp: {e}"),
            },
            r = rtcp.recv(&mut cbuf) => match r {
                Ok(n) => {
                    stat.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    if let Some(ev) = demux::rtcp_event(&cbuf[..n]) {
                        sink.event(ev, &mut None);
                    }
                }
                Err(e) => return format!("udp rtcp: {e}"),
            },
        }
        if Instant::now() >= next_rr {
            next_rr += RR_INTERVAL;
            let _ = rtcp.try_send(&sink.receiver_report(me));
        }
    }
}

/// Counters of all clients at one instant.
struct Snapshot {
    at: Instant,
    bytes: Vec<u64>,
    gaps: Vec<u64>,
    packets: Vec<u64>,
    server: Option<proc::Usage>,
    me: Option<proc::Usage>,
    busy: Option<f64>,
}

fn snapshot(shared: &Shared) -> Snapshot {
    let s = &shared.stats;
    Snapshot {
        at: Instant::now(),
        bytes: s.iter().map(|c| c.bytes.load(Ordering::Relaxed)).collect(),
        gaps: s.iter().map(|c| c.gaps.load(Ordering::Relaxed)).collect(),
        packets: s
            .iter()
            .map(|c| c.rtp_packets.load(Ordering::Relaxed))
            .collect(),
        server: shared.cfg.pid.and_then(proc::usage),
        me: proc::usage(std::process::id()),
        busy: proc::machine_busy_seconds(),
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[k.clamp(1, sorted.len()) - 1]
}

fn latency_percentile(hist: &[u64], q: f64) -> Option<f64> {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return None;
    }
    let want = ((q / 100.0) * total as f64).ceil().max(1.0) as u64;
    let mut acc = 0;
    for (b, n) in hist.iter().enumerate() {
        acc += n;
        if acc >= want {
            return Some((b as f64 + 0.5) / 10.0);
        }
    }
    None
}

fn main() {
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = if cfg.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    let doc = rt.block_on(run(cfg));
    println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    // Clients are still connected: end them with the process rather than one by one.
    rt.shutdown_background();
}

async fn run(cfg: Cfg) -> serde_json::Value {
    let rss_idle = cfg.pid.and_then(proc::usage).map(|u| u.rss_kib);
    let shared = Arc::new(Shared {
        stats: (0..cfg.clients).map(|_| Stat::default()).collect(),
        measuring: AtomicBool::new(false),
        latency: (0..LAT_BUCKETS).map(|_| AtomicU32::new(0)).collect(),
        errors: Default::default(),
        setup_done: AtomicU64::new(0),
        cfg: cfg.clone(),
    });
    let gate = Arc::new(tokio::sync::Semaphore::new(cfg.concurrency));
    let t0 = Instant::now();
    let k = cfg.baseline_clients;
    for i in 0..k {
        tokio::spawn(client(shared.clone(), i, gate.clone()));
    }
    let limit = t0 + Duration::from_secs_f64(cfg.setup_timeout + 5.0);
    while (shared.setup_done.load(Ordering::Relaxed) as usize) < k && Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if k > 0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let rss_before = cfg.pid.and_then(proc::usage).map(|u| u.rss_kib);
    for i in k..cfg.clients {
        tokio::spawn(client(shared.clone(), i, gate.clone()));
    }
    let setup_limit = t0 + Duration::from_secs_f64(cfg.setup_timeout + 5.0);
    while (shared.setup_done.load(Ordering::Relaxed) as usize) < cfg.clients
        && Instant::now() < setup_limit
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let setup_s = t0.elapsed().as_secs_f64();
    let rss_setup = cfg.pid.and_then(proc::usage).map(|u| u.rss_kib);
    tokio::time::sleep(Duration::from_secs_f64(cfg.settle)).await;
    let playing_at_start: Vec<bool> = shared
        .stats
        .iter()
        .map(|s| s.playing.load(Ordering::Relaxed) && !s.closed.load(Ordering::Relaxed))
        .collect();
    shared.measuring.store(true, Ordering::Relaxed);
    let a = snapshot(&shared);
    tokio::time::sleep(Duration::from_secs_f64(cfg.seconds)).await;
    let b = snapshot(&shared);
    shared.measuring.store(false, Ordering::Relaxed);
    let elapsed = b.at.duration_since(a.at).as_secs_f64();

    let n = cfg.clients;
    let kbps: Vec<f64> = (0..n)
        .map(|i| (b.bytes[i] - a.bytes[i]) as f64 * 8.0 / elapsed / 1000.0)
        .collect();
    let connected = playing_at_start.iter().filter(|p| **p).count();
    let mut live_kbps: Vec<f64> = (0..n)
        .filter(|i| playing_at_start[*i])
        .map(|i| kbps[i])
        .collect();
    live_kbps.sort_by(|x, y| x.total_cmp(y));
    let nominal = cfg
        .nominal_kbps
        .unwrap_or_else(|| percentile(&live_kbps, 50.0));
    let closed: Vec<bool> = shared
        .stats
        .iter()
        .map(|s| s.closed.load(Ordering::Relaxed))
        .collect();
    let behind = (0..n)
        .filter(|&i| !playing_at_start[i] || closed[i] || kbps[i] < BEHIND_SHARE * nominal)
        .count();
    let gaps: u64 = (0..n).map(|i| b.gaps[i] - a.gaps[i]).sum();
    let with_gaps = (0..n).filter(|&i| b.gaps[i] > a.gaps[i]).count();
    let total_bytes: u64 = (0..n).map(|i| b.bytes[i] - a.bytes[i]).sum();
    let packets: u64 = (0..n).map(|i| b.packets[i] - a.packets[i]).sum();
    let gbit = total_bytes as f64 * 8.0 / 1e9;
    let hist: Vec<u64> = shared
        .latency
        .iter()
        .map(|c| u64::from(c.load(Ordering::Relaxed)))
        .collect();
    let lat_samples: u64 = hist.iter().sum();

    let server = match (a.server, b.server) {
        (Some(x), Some(y)) => {
            let cpu = y.cpu_s - x.cpu_s;
            let extra = connected.saturating_sub(k);
            let rss_per_client = match rss_before {
                Some(r0) if extra > 0 => Some((y.rss_kib as f64 - r0 as f64) / extra as f64),
                _ => None,
            };
            json!({
                "pid": cfg.pid,
                "cpu_s": cpu,
                "cpu_pct": 100.0 * cpu / elapsed,
                "cpu_s_per_gbit": if gbit > 0.0 { Some(cpu / gbit) } else { None },
                "rss_kib_idle": rss_idle,
                "baseline_clients": k,
                "rss_kib_before": rss_before,
                "rss_kib_after_setup": rss_setup,
                "rss_kib": y.rss_kib,
                "rss_kib_per_client": rss_per_client,
            })
        }
        _ => serde_json::Value::Null,
    };
    let me_cpu = match (a.me, b.me) {
        (Some(x), Some(y)) => Some(y.cpu_s - x.cpu_s),
        _ => None,
    };
    let server_cpu = match (a.server, b.server) {
        (Some(x), Some(y)) => y.cpu_s - x.cpu_s,
        _ => 0.0,
    };
    let other = match (a.busy, b.busy, me_cpu) {
        (Some(x), Some(y), Some(me)) => Some((y - x - me - server_cpu).max(0.0)),
        _ => None,
    };
    let errors = shared
        .errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mode = match cfg.mode {
        Mode::Tcp => "tcp",
        Mode::Http => "http",
        Mode::Udp => "udp",
    };
    let doc = json!({
        "url": cfg.url,
        "transport": mode,
        "clients": n,
        "playing": connected,
        "setup_s": setup_s,
        "settle_s": cfg.settle,
        "seconds": elapsed,
        "nominal_kbps": nominal,
        "nominal_given": cfg.nominal_kbps.is_some(),
        "delivered_mbps": gbit * 1000.0 / elapsed,
        "bytes": total_bytes,
        "rtp_packets": packets,
        "client_kbps": {
            "min": live_kbps.first(),
            "p10": percentile(&live_kbps, 10.0),
            "median": percentile(&live_kbps, 50.0),
            "max": live_kbps.last(),
        },
        "behind": behind,
        "closed": closed.iter().filter(|c| **c).count(),
        "gaps": gaps,
        "clients_with_gaps": with_gaps,
        "latency_ms": {
            "p50": latency_percentile(&hist, 50.0),
            "p99": latency_percentile(&hist, 99.0),
            "samples": lat_samples,
        },
        "server": server,
        "client_cpu_s": me_cpu,
        "client_cpu_pct": me_cpu.map(|c| 100.0 * c / elapsed),
        "client_threads": cfg.threads,
        "other_cpu_pct": other.map(|o| 100.0 * o / elapsed),
        "errors": errors,
    });
    eprintln!(
        "rtspload {mode} N={n}: playing {connected}, {:.1} Mbit/s, median {:.0} kbit/s/client, behind {behind}, gaps {gaps} ({with_gaps} clients), server {}, client CPU {}%, setup {setup_s:.1} s",
        gbit * 1000.0 / elapsed,
        percentile(&live_kbps, 50.0),
        match (
            &doc["server"]["cpu_s_per_gbit"],
            &doc["server"]["rss_kib_per_client"]
        ) {
            (serde_json::Value::Number(c), r) => format!(
                "{:.3} CPU-s/Gbit, {} KiB RSS/client",
                c.as_f64().unwrap_or(0.0),
                r.as_f64().map_or("?".into(), |r| format!("{r:.1}"))
            ),
            _ => "not measured".into(),
        },
        me_cpu.map_or("?".into(), |c| format!("{:.0}", 100.0 * c / elapsed)),
    );
    doc
}

/// Resolves the configured host once per client (numeric addresses in practice).
async fn connect(cfg: &Cfg) -> std::io::Result<TcpStream> {
    let addr: SocketAddr = match format!("{}:{}", bracket(&cfg.host), cfg.port).parse() {
        Ok(a) => a,
        Err(_) => tokio::net::lookup_host((cfg.host.as_str(), cfg.port))
            .await?
            .next()
            .ok_or_else(|| std::io::Error::other("host not found"))?,
    };
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}
