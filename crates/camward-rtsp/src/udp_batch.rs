//! Batched RTP sends to one UDP viewer: an access unit's packets leave in as few `sendmsg`
//! calls as the kernel allows, for the RTSP streaming of paper §4.4. The performance goal is the
//! fan-out's server CPU per delivered Gbit (docs/benchmarks.md): most of it is the write path, and
//! with one syscall per RTP packet a UDP viewer of a 1080p stream costs a dozen syscalls a frame.
//!
//! With UDP generic segmentation offload (`UDP_SEGMENT`, Linux ≥ 4.18) one `sendmsg` carries a
//! run of equal-sized datagrams plus at most one shorter last one, which is exactly the shape of
//! a NAL unit's FU-A fragments; the kernel splits the buffer into the same datagrams that
//! per-packet sends would produce. A frame whose packets change size (parameter sets, SEI, a
//! second slice) goes out as one batch per run. Where GSO is missing or the kernel refuses it
//! (`EIO`/`EINVAL` turn it off for the socket), each packet is its own `send`, as before.
//!
//! The unsafe `sendmsg`/cmsg plumbing is quinn-udp's; this module keeps it behind a small
//! interface so the rest of the crate sees only "send these packets, in order".

use quinn_udp::{Transmit, UdpSockRef, UdpSocketState};
use std::io;
use std::net::SocketAddr;
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Upper bound of one GSO send: the kernel takes at most 64 segments (`UDP_MAX_SEGMENTS` of
/// older kernels) and at most one IP datagram's worth of bytes.
const MAX_GSO_BYTES: usize = 65_000;

/// Set to `off` (or `0`) to send every RTP packet on its own: the per-packet path that benches
/// compare against and the fallback that tests check byte for byte.
pub const ENV_SWITCH: &str = "CAMWARD_RTSP_UDP_BATCH";

/// Whether batching is on for new UDP sessions (the environment switch, read per session).
pub fn enabled_by_env() -> bool {
    !matches!(
        std::env::var(ENV_SWITCH).as_deref(),
        Ok("off") | Ok("0") | Ok("false")
    )
}

/// The packets of one access unit, back to back in one buffer, and where each ends.
#[derive(Default)]
pub struct Packets {
    pub buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Packets {
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }

    /// Ends the packet whose bytes were appended to `buf` since the last call.
    pub fn end_packet(&mut self) {
        self.ends.push(self.buf.len());
    }

    fn packet(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    fn len_of(&self, i: usize) -> usize {
        self.packet(i).len()
    }

    pub fn count(&self) -> usize {
        self.ends.len()
    }
}

/// The sending side of one connected RTP socket.
pub struct UdpBatch {
    /// `None`: batching off (by switch, or the socket could not be set up for it).
    state: Option<UdpSocketState>,
    peer: SocketAddr,
}

impl UdpBatch {
    /// Prepares `sock` (connected to its viewer) for batched sends when `batching` is asked for
    /// and the kernel offers GSO.
    pub fn new(sock: &UdpSocket, batching: bool) -> io::Result<UdpBatch> {
        let peer = sock.peer_addr()?;
        let state = if batching {
            match UdpSocketState::new(UdpSockRef::from(sock)) {
                Ok(s) if s.max_gso_segments() > 1 => Some(s),
                Ok(_) => None,
                Err(e) => {
                    tracing::debug!(error = %e, "udp batching unavailable; sending per packet");
                    None
                }
            }
        } else {
            None
        };
        Ok(UdpBatch { state, peer })
    }

    /// Whether sends use GSO.
    pub fn batching(&self) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| s.max_gso_segments() > 1)
    }

    /// Sends `pkts` in order. Like per-packet sends, a failed send (an earlier ICMP port
    /// unreachable surfaces as `ECONNREFUSED`) does not stop the rest; the first error is
    /// returned. Waits while the socket buffer is full.
    pub async fn send(&self, sock: &UdpSocket, pkts: &Packets) -> io::Result<()> {
        let mut first_err = None;
        let mut i = 0;
        while i < pkts.count() {
            let n = self.run_len(pkts, i);
            if n > 1
                && let Some(state) = &self.state
            {
                let start = if i == 0 { 0 } else { pkts.ends[i - 1] };
                let contents = &pkts.buf[start..pkts.ends[i + n - 1]];
                let t = Transmit {
                    destination: self.peer,
                    ecn: None,
                    contents,
                    segment_size: Some(pkts.len_of(i)),
                    src_ip: None,
                };
                match gso_send(sock, state, &t).await {
                    Ok(()) => {
                        i += n;
                        continue;
                    }
                    // GSO refused for this socket from now on: this run goes per packet.
                    Err(_) if state.max_gso_segments() <= 1 => {}
                    Err(e) => {
                        first_err.get_or_insert(e);
                        i += n;
                        continue;
                    }
                }
            }
            for j in i..i + n {
                if let Err(e) = sock.send(pkts.packet(j)).await {
                    first_err.get_or_insert(e);
                }
            }
            i += n;
        }
        first_err.map_or(Ok(()), Err)
    }

    /// How many packets from `i` on one GSO send can carry: equal sizes, then at most one
    /// shorter packet, within the kernel's limits. 1 when batching is off.
    fn run_len(&self, pkts: &Packets, i: usize) -> usize {
        let Some(state) = &self.state else {
            return 1;
        };
        let size = pkts.len_of(i);
        let max = state
            .max_gso_segments()
            .min(MAX_GSO_BYTES / size.max(1))
            .max(1);
        let mut n = 1;
        while n < max && i + n < pkts.count() {
            let next = pkts.len_of(i + n);
            if next == size {
                n += 1;
            } else {
                if next < size {
                    n += 1;
                }
                break;
            }
        }
        n
    }
}

/// One GSO `sendmsg`, waiting for the socket to be writable.
async fn gso_send(sock: &UdpSocket, state: &UdpSocketState, t: &Transmit<'_>) -> io::Result<()> {
    loop {
        sock.writable().await?;
        match sock.try_io(Interest::WRITABLE, || {
            // `try_send`, not `send`: the latter logs and swallows errors such as ECONNREFUSED,
            // which tell the player that its viewer is gone.
            state.try_send(UdpSockRef::from(sock), t)
        }) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(sizes: &[usize]) -> Packets {
        let mut p = Packets::default();
        for (k, s) in sizes.iter().enumerate() {
            p.buf.extend(std::iter::repeat_n(k as u8, *s));
            p.end_packet();
        }
        p
    }

    async fn pair() -> (UdpSocket, UdpSocket) {
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        tx.connect(rx.local_addr().unwrap()).await.unwrap();
        (tx, rx)
    }

    #[tokio::test]
    async fn runs_are_equal_sizes_then_one_shorter() {
        let (tx, _rx) = pair().await;
        let b = UdpBatch::new(&tx, true).unwrap();
        if !b.batching() {
            return; // No GSO on this kernel: every run is one packet, checked below.
        }
        let p = packets(&[20, 20, 1400, 1400, 1400, 900, 1400, 30]);
        assert_eq!(b.run_len(&p, 0), 2);
        assert_eq!(
            b.run_len(&p, 2),
            4,
            "equal fragments and the shorter last one"
        );
        assert_eq!(b.run_len(&p, 6), 2);
        let big = packets(&[1400; 100]);
        assert_eq!(b.run_len(&big, 0), 46, "bounded by one datagram's bytes");
    }

    #[tokio::test]
    async fn per_packet_path_has_runs_of_one() {
        let (tx, _rx) = pair().await;
        let b = UdpBatch::new(&tx, false).unwrap();
        assert!(!b.batching());
        assert_eq!(b.run_len(&packets(&[1400, 1400, 10]), 0), 1);
    }

    #[tokio::test]
    async fn a_viewer_gone_away_shows_as_a_send_error_in_both_paths() {
        for batching in [true, false] {
            let (tx, rx) = pair().await;
            drop(rx); // Port closed: the kernel answers with ICMP port unreachable.
            let b = UdpBatch::new(&tx, batching).unwrap();
            let p = packets(&[1200, 1200, 700]);
            let mut failed = false;
            for _ in 0..20 {
                if b.send(&tx, &p).await.is_err() {
                    failed = true;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert!(
                failed,
                "ECONNREFUSED reaches the caller (batching {batching})"
            );
        }
    }
}
