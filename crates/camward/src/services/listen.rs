//! Binding listeners: `[::]` dual-stack by default with a fall-back to `0.0.0.0` only where IPv6
//! is missing, and errors that name the flag to use (paper §3.5: only the listeners asked for).

use anyhow::Result;
use std::net::SocketAddr;
use tokio::net::TcpListener;

pub async fn bind(
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
