//! RTP packetization of H.264 (RFC 6184: single NAL unit packets and FU-A) and the RTCP
//! packets a sender emits (RFC 3550: SR + SDES CNAME, BYE). Pure functions over bytes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Dynamic payload type announced in the SDP.
pub const PAYLOAD_TYPE: u8 = 96;
/// RTP fixed header length (no CSRC, no extension).
pub const HEADER_LEN: usize = 12;
/// Default largest RTP payload: fits a 1500-byte Ethernet MTU over IPv6/UDP with room for
/// tunnels and VPN headers, the usual choice of camera vendors.
pub const DEFAULT_MAX_PAYLOAD: usize = 1400;
/// Smallest accepted payload size; FU-A needs at least 2 header bytes plus data.
pub const MIN_MAX_PAYLOAD: usize = 200;
/// RTP clock rate of H.264 video.
pub const CLOCK_RATE: u64 = 90_000;

/// Payload size for the paper's "Max RTP packet size" setting (1500 "Unlimited" or 1280
/// "Limited"): that size is the IP packet, so subtract IPv6 (40), UDP (8) and RTP (12) headers.
pub fn max_payload_for_packet_size(ip_packet: usize) -> usize {
    ip_packet
        .saturating_sub(40 + 8 + HEADER_LEN)
        .max(MIN_MAX_PAYLOAD)
}

/// One RTP payload of an access unit: an optional 2-byte FU-A prefix and a slice of NAL data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// FU indicator and FU header for FU-A fragments; empty for single NAL unit packets.
    pub prefix: FuPrefix,
    pub data: &'a [u8],
    /// Last packet of the access unit: gets the RTP marker bit (RFC 6184 §5.1).
    pub last: bool,
}

/// FU-A indicator + header bytes, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuPrefix {
    bytes: [u8; 2],
    len: u8,
}

impl FuPrefix {
    const NONE: FuPrefix = FuPrefix {
        bytes: [0, 0],
        len: 0,
    };
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl Fragment<'_> {
    pub fn payload_len(&self) -> usize {
        self.prefix.len as usize + self.data.len()
    }
}

/// Splits an access unit's NAL units into RTP payloads of at most `max_payload` bytes.
/// NAL units that fit go as single NAL unit packets; larger ones as FU-A (type 28) fragments
/// whose first carries S and last carries E. Empty NAL units are skipped.
pub fn packetize<'a>(
    nals: &'a [&'a [u8]],
    max_payload: usize,
) -> impl Iterator<Item = Fragment<'a>> + 'a {
    let max_payload = max_payload.max(MIN_MAX_PAYLOAD);
    let last_nal = nals.iter().rposition(|n| !n.is_empty());
    nals.iter()
        .enumerate()
        .filter(|(_, n)| !n.is_empty())
        .flat_map(move |(i, nal)| {
            let is_last_nal = Some(i) == last_nal;
            let single = nal.len() <= max_payload;
            let (hdr, body): (u8, &[u8]) = if single {
                (0, &nal[..])
            } else {
                (nal[0], &nal[1..])
            };
            let chunk = if single {
                nal.len().max(1)
            } else {
                max_payload - 2
            };
            let count = if single {
                1
            } else {
                body.len().div_ceil(chunk)
            };
            (0..count).map(move |k| {
                let last_piece = k + 1 == count;
                if single {
                    return Fragment {
                        prefix: FuPrefix::NONE,
                        data: body,
                        last: is_last_nal,
                    };
                }
                let data = &body[k * chunk..((k + 1) * chunk).min(body.len())];
                let indicator = (hdr & 0xe0) | 28;
                let mut fu_header = hdr & 0x1f;
                if k == 0 {
                    fu_header |= 0x80;
                }
                if last_piece {
                    fu_header |= 0x40;
                }
                Fragment {
                    prefix: FuPrefix {
                        bytes: [indicator, fu_header],
                        len: 2,
                    },
                    data,
                    last: is_last_nal && last_piece,
                }
            })
        })
}

/// The fixed RTP header (RFC 3550 §5.1), version 2, no padding/extension/CSRC.
pub fn header(marker: bool, seq: u16, timestamp: u32, ssrc: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = 0x80;
    h[1] = PAYLOAD_TYPE | if marker { 0x80 } else { 0 };
    h[2..4].copy_from_slice(&seq.to_be_bytes());
    h[4..8].copy_from_slice(&timestamp.to_be_bytes());
    h[8..12].copy_from_slice(&ssrc.to_be_bytes());
    h
}

/// 64-bit NTP timestamp (seconds since 1900 . fraction) of a wall-clock time.
pub fn ntp(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs() + 2_208_988_800;
    let frac = ((d.subsec_nanos() as u64) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// CNAME we announce; receivers only need it to be stable per source.
const CNAME: &[u8] = b"camward";

/// Sender report + SDES CNAME compound packet (RFC 3550 §6.4.1, §6.5.1).
pub fn sender_report(ssrc: u32, ntp: u64, rtp_ts: u32, packets: u32, octets: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(28 + 20);
    p.extend_from_slice(&[0x80, 200, 0, 6]);
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&ntp.to_be_bytes());
    p.extend_from_slice(&rtp_ts.to_be_bytes());
    p.extend_from_slice(&packets.to_be_bytes());
    p.extend_from_slice(&octets.to_be_bytes());
    sdes(&mut p, ssrc);
    p
}

fn sdes(p: &mut Vec<u8>, ssrc: u32) {
    // Chunk: SSRC, CNAME item, terminating null item, padded to 32 bits.
    let item_len = 2 + CNAME.len();
    let chunk_len = (4 + item_len + 1).div_ceil(4) * 4;
    let words = chunk_len / 4;
    p.extend_from_slice(&[0x81, 202]);
    p.extend_from_slice(&(words as u16).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.push(1);
    p.push(CNAME.len() as u8);
    p.extend_from_slice(CNAME);
    p.resize(p.len() + (chunk_len - 4 - item_len), 0);
}

/// BYE compound packet (an empty RR, SDES and BYE), sent when a stream ends.
pub fn bye(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 201, 0, 1];
    p.extend_from_slice(&ssrc.to_be_bytes());
    sdes(&mut p, ssrc);
    p.extend_from_slice(&[0x81, 203, 0, 1]);
    p.extend_from_slice(&ssrc.to_be_bytes());
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nal(t: u8, len: usize) -> Vec<u8> {
        let mut v = vec![0x60 | t];
        v.extend((1..len).map(|i| i as u8));
        v
    }

    #[test]
    fn small_nals_go_as_single_packets_and_only_the_last_has_the_marker() {
        let (sps, pps, idr) = (nal(7, 20), nal(8, 4), nal(5, 1000));
        let nals = [&sps[..], &pps[..], &idr[..]];
        let f: Vec<_> = packetize(&nals, 1400).collect();
        assert_eq!(f.len(), 3);
        assert!(f.iter().all(|f| f.prefix.as_slice().is_empty()));
        assert_eq!(
            f.iter().map(|f| f.last).collect::<Vec<_>>(),
            [false, false, true]
        );
        assert_eq!(f[2].data, &idr[..]);
    }

    #[test]
    fn fu_a_split_reassembles_to_the_original_nal_with_s_and_e_bits() {
        let big = nal(5, 5000);
        let nals = [&big[..]];
        let f: Vec<_> = packetize(&nals, 1400).collect();
        assert_eq!(f.len(), (5000 - 1usize).div_ceil(1398));
        let mut rebuilt =
            vec![(f[0].prefix.as_slice()[0] & 0xe0) | (f[0].prefix.as_slice()[1] & 0x1f)];
        for (i, frag) in f.iter().enumerate() {
            let p = frag.prefix.as_slice();
            assert_eq!(p[0] & 0x1f, 28, "FU-A type");
            assert_eq!(p[0] & 0x60, big[0] & 0x60, "NRI kept");
            assert_eq!(p[1] & 0x80 != 0, i == 0, "S bit only on the first");
            assert_eq!(p[1] & 0x40 != 0, i == f.len() - 1, "E bit only on the last");
            assert!(frag.payload_len() <= 1400);
            assert_eq!(
                frag.last,
                i == f.len() - 1,
                "marker only on the AU's last packet"
            );
            rebuilt.extend_from_slice(frag.data);
        }
        assert_eq!(rebuilt, big);
    }

    #[test]
    fn marker_goes_on_the_last_fragment_of_the_last_nal_only() {
        let (a, b) = (nal(5, 3000), nal(5, 3000));
        let nals = [&a[..], &b[..]];
        let f: Vec<_> = packetize(&nals, 1000).collect();
        assert_eq!(f.iter().filter(|f| f.last).count(), 1);
        assert!(f.last().unwrap().last);
    }

    #[test]
    fn nal_of_exactly_max_payload_is_not_fragmented() {
        let n = nal(1, 1400);
        let nals = [&n[..]];
        assert_eq!(packetize(&nals, 1400).count(), 1);
        let n = nal(1, 1401);
        let nals = [&n[..]];
        assert_eq!(packetize(&nals, 1400).count(), 2);
    }

    #[test]
    fn empty_nals_are_skipped_and_tiny_mtus_are_clamped() {
        let (e, n) = (Vec::new(), nal(1, 1000));
        let nals = [&n[..], &e[..]];
        let f: Vec<_> = packetize(&nals, 1).collect();
        assert!(f.iter().all(|f| f.payload_len() <= MIN_MAX_PAYLOAD));
        assert!(f.last().unwrap().last);
    }

    #[test]
    fn rtp_header_fields() {
        let h = header(true, 0x1234, 0xdeadbeef, 7);
        assert_eq!(h[0], 0x80);
        assert_eq!(h[1], 0x80 | 96);
        assert_eq!(&h[2..4], &[0x12, 0x34]);
        assert_eq!(&h[4..8], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(u32::from_be_bytes(h[8..12].try_into().unwrap()), 7);
    }

    #[test]
    fn sender_report_is_a_well_formed_compound_with_cname() {
        let p = sender_report(
            1,
            ntp(UNIX_EPOCH + Duration::from_millis(1500)),
            90000,
            10,
            1000,
        );
        assert_eq!(p[1], 200);
        let sr_len = (u16::from_be_bytes([p[2], p[3]]) as usize + 1) * 4;
        assert_eq!(sr_len, 28);
        assert_eq!(
            u32::from_be_bytes(p[8..12].try_into().unwrap()),
            2_208_988_801
        );
        assert_eq!(u32::from_be_bytes(p[12..16].try_into().unwrap()), 1 << 31);
        let sdes = &p[sr_len..];
        assert_eq!(sdes[1], 202);
        assert_eq!(
            (u16::from_be_bytes([sdes[2], sdes[3]]) as usize + 1) * 4,
            sdes.len()
        );
        assert_eq!(p.len() % 4, 0);
    }

    #[test]
    fn packet_size_setting_maps_to_payload() {
        assert_eq!(max_payload_for_packet_size(1500), 1440);
        assert_eq!(max_payload_for_packet_size(1280), 1220);
        assert_eq!(max_payload_for_packet_size(10), MIN_MAX_PAYLOAD);
    }
}
