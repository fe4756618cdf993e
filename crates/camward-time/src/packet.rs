//! The NTP packet (RFC 5905 §7.3, as SNTP uses it per RFC 4330 §4) and its extension fields
//! (RFC 7822), parsed without trusting a byte of it: every length is checked before it is used,
//! and a parse error names the offset of the offending byte. NTS (RFC 8915) rides in the
//! extension fields. The parser is the attack surface of the client, so it has a fuzz-style
//! unit test over truncated and random packets.

use thiserror::Error;

/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 48;
/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
pub const UNIX_OFFSET: u64 = 2_208_988_800;

/// Association modes (RFC 5905 §7.3).
pub const MODE_CLIENT: u8 = 3;
pub const MODE_SERVER: u8 = 4;

/// A 64-bit NTP timestamp: 32 bits of seconds since 1900 (modulo eras), 32 bits of fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// From Unix time in nanoseconds (era 0 until 2036, then era 1 by wrap-around).
    pub fn from_unix_nanos(nanos: i128) -> Timestamp {
        let secs = nanos.div_euclid(1_000_000_000);
        let sub = nanos.rem_euclid(1_000_000_000) as u64;
        let ntp_secs = (secs + i128::from(UNIX_OFFSET)) as u64 & 0xffff_ffff;
        let frac = (sub << 32) / 1_000_000_000;
        Timestamp((ntp_secs << 32) | frac)
    }

    /// To Unix nanoseconds, taking the era that puts the value nearest to `pivot` (Unix
    /// nanoseconds, normally the local clock): RFC 4330 §3's rule generalised past 2036.
    pub fn to_unix_nanos(self, pivot: i128) -> i128 {
        let p = Timestamp::from_unix_nanos(pivot);
        pivot + diff_nanos(self, p)
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// `a - b` in nanoseconds, by 64-bit two's-complement difference (RFC 5905 §6): correct across
/// an era boundary as long as the two are within 68 years of each other.
pub fn diff_nanos(a: Timestamp, b: Timestamp) -> i128 {
    let d = a.0.wrapping_sub(b.0) as i64;
    (i128::from(d) * 1_000_000_000) >> 32
}

/// One extension field (RFC 7822 §3): a 16-bit type, the value without its padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionField {
    pub field_type: u16,
    pub value: Vec<u8>,
}

/// Kinds of extension field NTS uses (RFC 8915 §5.7).
pub mod ext {
    pub const UNIQUE_IDENTIFIER: u16 = 0x0104;
    pub const NTS_COOKIE: u16 = 0x0204;
    pub const NTS_COOKIE_PLACEHOLDER: u16 = 0x0304;
    pub const NTS_AUTHENTICATOR: u16 = 0x0404;
}

/// An NTP packet: the header fields SNTP needs and the extension fields after it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Packet {
    /// Leap indicator: 0 none, 1/2 a leap second today, 3 the server's clock is unsynchronised.
    pub leap: u8,
    pub version: u8,
    pub mode: u8,
    /// 0 = kiss-o'-death, 1 = primary reference, 2–15 secondary, 16 unsynchronised.
    pub stratum: u8,
    pub poll: i8,
    pub precision: i8,
    /// 16.16 fixed-point seconds.
    pub root_delay: u32,
    pub root_dispersion: u32,
    /// Reference id; for stratum 0 the kiss code in ASCII (`DENY`, `RATE`, `RSTR`, …).
    pub reference_id: [u8; 4],
    pub reference: Timestamp,
    pub origin: Timestamp,
    pub receive: Timestamp,
    pub transmit: Timestamp,
    pub extensions: Vec<ExtensionField>,
}

/// Why bytes are not an NTP packet; `offset` is where the problem starts.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("packet of {len} bytes is shorter than the 48-byte NTP header")]
    Short { len: usize },
    #[error("extension field at byte {offset}: {what}")]
    Extension { offset: usize, what: &'static str },
}

impl Packet {
    /// A client request (mode 3, version 4) whose transmit timestamp is `nonce`: a random value
    /// rather than the clock (the server echoes it as origin), so an off-path attacker cannot
    /// guess it and the request reveals nothing about the local clock.
    pub fn client_request(nonce: Timestamp) -> Packet {
        Packet {
            version: 4,
            mode: MODE_CLIENT,
            transmit: nonce,
            ..Packet::default()
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_LEN + 64);
        b.push((self.leap & 3) << 6 | (self.version & 7) << 3 | (self.mode & 7));
        b.push(self.stratum);
        b.push(self.poll as u8);
        b.push(self.precision as u8);
        b.extend_from_slice(&self.root_delay.to_be_bytes());
        b.extend_from_slice(&self.root_dispersion.to_be_bytes());
        b.extend_from_slice(&self.reference_id);
        for t in [self.reference, self.origin, self.receive, self.transmit] {
            b.extend_from_slice(&t.0.to_be_bytes());
        }
        for e in &self.extensions {
            encode_extension(&mut b, e.field_type, &e.value);
        }
        b
    }

    /// Parses a packet. Extension fields are read while at least 16 bytes remain (RFC 7822 §7:
    /// a shorter tail is a legacy MAC, which SNTP ignores).
    pub fn parse(b: &[u8]) -> Result<Packet, ParseError> {
        if b.len() < HEADER_LEN {
            return Err(ParseError::Short { len: b.len() });
        }
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let ts_at = |i: usize| Timestamp((u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4)));
        let mut p = Packet {
            leap: b[0] >> 6,
            version: (b[0] >> 3) & 7,
            mode: b[0] & 7,
            stratum: b[1],
            poll: b[2] as i8,
            precision: b[3] as i8,
            root_delay: u32_at(4),
            root_dispersion: u32_at(8),
            reference_id: [b[12], b[13], b[14], b[15]],
            reference: ts_at(16),
            origin: ts_at(24),
            receive: ts_at(32),
            transmit: ts_at(40),
            extensions: Vec::new(),
        };
        let mut i = HEADER_LEN;
        while b.len() - i >= 16 {
            let field_type = u16::from_be_bytes([b[i], b[i + 1]]);
            let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
            if len < 4 || len % 4 != 0 {
                return Err(ParseError::Extension {
                    offset: i,
                    what: "length is not a multiple of 4 of at least 4",
                });
            }
            if len > b.len() - i {
                return Err(ParseError::Extension {
                    offset: i,
                    what: "length runs past the end of the packet",
                });
            }
            p.extensions.push(ExtensionField {
                field_type,
                value: b[i + 4..i + len].to_vec(),
            });
            i += len;
        }
        Ok(p)
    }

    /// The kiss code of a stratum-0 answer (`DENY`, `RATE`, …), printable ASCII only.
    pub fn kiss_code(&self) -> Option<String> {
        (self.stratum == 0).then(|| {
            self.reference_id
                .iter()
                .map(|&c| if c.is_ascii_graphic() { c as char } else { '?' })
                .collect()
        })
    }
}

/// Appends one extension field, padding the value to a multiple of 4 and the whole field to at
/// least 16 bytes (RFC 7822 §3).
pub fn encode_extension(out: &mut Vec<u8>, field_type: u16, value: &[u8]) {
    let padded = value.len().div_ceil(4) * 4;
    let len = (4 + padded).max(16);
    out.extend_from_slice(&field_type.to_be_bytes());
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + (len - 4 - value.len()), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server answer captured from chrony 4.3 (`local stratum 8`) on loopback.
    fn chrony_answer() -> Vec<u8> {
        let mut b = vec![
            0x24, 0x08, 0x03, 0xe9, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7f, 0x7f,
            0x01, 0x00,
        ];
        b.extend_from_slice(&0xecd6_33a5_1234_5678u64.to_be_bytes()); // reference
        b.extend_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes()); // origin (our nonce)
        b.extend_from_slice(&0xecd6_33b0_8000_0000u64.to_be_bytes()); // receive
        b.extend_from_slice(&0xecd6_33b0_8000_1000u64.to_be_bytes()); // transmit
        b
    }

    #[test]
    fn header_fields_decode_as_rfc5905_lays_them_out() {
        let p = Packet::parse(&chrony_answer()).unwrap();
        assert_eq!((p.leap, p.version, p.mode), (0, 4, MODE_SERVER));
        assert_eq!(p.stratum, 8);
        assert_eq!(p.poll, 3);
        assert_eq!(p.precision, -23);
        assert_eq!(&p.reference_id, b"\x7f\x7f\x01\x00");
        assert_eq!(p.origin, Timestamp(0x0102_0304_0506_0708));
        assert!(p.extensions.is_empty());
        assert_eq!(Packet::parse(&p.encode()).unwrap(), p);
    }

    #[test]
    fn client_request_is_mode_3_version_4_with_the_nonce_only() {
        let b = Packet::client_request(Timestamp(0xdead_beef_0000_0001)).encode();
        assert_eq!(b.len(), 48);
        assert_eq!(b[0], 0x23);
        assert!(b[1..40].iter().all(|&x| x == 0));
        assert_eq!(&b[40..], &0xdead_beef_0000_0001u64.to_be_bytes());
    }

    #[test]
    fn timestamps_convert_with_the_rfc4330_epoch_and_eras() {
        // RFC 5905 Figure 4: 1970-01-01 is 2,208,988,800 s into era 0.
        assert_eq!(Timestamp::from_unix_nanos(0).0 >> 32, UNIX_OFFSET);
        // Half a second is fraction 0x8000_0000.
        assert_eq!(
            Timestamp::from_unix_nanos(500_000_000).0 & 0xffff_ffff,
            0x8000_0000
        );
        // 2036-02-07T06:28:16Z is the start of era 1: seconds wrap to 0.
        let era1 = 2_085_978_496i128 * 1_000_000_000;
        assert_eq!(Timestamp::from_unix_nanos(era1).0, 0);
        // A timestamp just after the wrap reads as 2036 with a 2035 pivot, not as 1900.
        let t = Timestamp::from_unix_nanos(era1 + 5_000_000_000);
        assert_eq!(
            t.to_unix_nanos(era1 - 86_400_000_000_000),
            era1 + 5_000_000_000
        );
        // Round trip of an ordinary date, to the nanosecond resolution the fraction allows.
        let now = 1_796_000_000_123_456_789i128;
        let back = Timestamp::from_unix_nanos(now).to_unix_nanos(now + 10_000_000_000);
        assert!((back - now).abs() <= 1, "{back} vs {now}");
    }

    #[test]
    fn differences_are_signed_and_wrap_across_eras() {
        let a = Timestamp(0x0000_0001_0000_0000);
        let b = Timestamp(0xffff_ffff_0000_0000);
        assert_eq!(diff_nanos(a, b), 2_000_000_000);
        assert_eq!(diff_nanos(b, a), -2_000_000_000);
    }

    #[test]
    fn extension_fields_round_trip_padded_to_16_bytes() {
        let mut p = Packet::client_request(Timestamp(7));
        p.extensions.push(ExtensionField {
            field_type: ext::UNIQUE_IDENTIFIER,
            value: vec![9; 32],
        });
        p.extensions.push(ExtensionField {
            field_type: ext::NTS_COOKIE_PLACEHOLDER,
            value: vec![0; 4],
        });
        let b = p.encode();
        assert_eq!(b.len(), 48 + 36 + 16);
        let q = Packet::parse(&b).unwrap();
        assert_eq!(q.extensions[0], p.extensions[0]);
        // The short value comes back with its padding: lengths are the receiver's to interpret.
        assert_eq!(q.extensions[1].value, vec![0; 12]);
    }

    #[test]
    fn bad_extension_lengths_name_their_offset() {
        let mut b = chrony_answer();
        b.extend_from_slice(&[0x01, 0x04, 0x00, 0x06]);
        b.extend_from_slice(&[0; 12]);
        assert_eq!(
            Packet::parse(&b),
            Err(ParseError::Extension {
                offset: 48,
                what: "length is not a multiple of 4 of at least 4"
            })
        );
        let mut b = chrony_answer();
        b.extend_from_slice(&[0x01, 0x04, 0x01, 0x00]);
        b.extend_from_slice(&[0; 12]);
        assert!(matches!(
            Packet::parse(&b),
            Err(ParseError::Extension { offset: 48, .. })
        ));
        // A 12-byte tail is a legacy MAC remnant: ignored, not an error.
        let mut b = chrony_answer();
        b.extend_from_slice(&[0xff; 12]);
        assert!(Packet::parse(&b).unwrap().extensions.is_empty());
    }

    #[test]
    fn truncated_and_random_packets_never_panic() {
        let full = chrony_answer();
        for n in 0..full.len() {
            assert_eq!(Packet::parse(&full[..n]), Err(ParseError::Short { len: n }));
        }
        // A deterministic xorshift stream: 20,000 random packets of every length up to 600.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = (next() % 600) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if b.len() > 52 && next() % 2 == 0 {
                // Plausible extension headers reach the inner loop more often than chance does.
                b[50] = 0;
                b[51] = (next() % 64) as u8 * 4;
            }
            if let Ok(p) = Packet::parse(&b) {
                let total: usize = p.extensions.iter().map(|e| e.value.len() + 4).sum();
                assert!(HEADER_LEN + total <= b.len());
            }
        }
    }

    #[test]
    fn kiss_codes_are_read_from_stratum_zero_only() {
        let mut b = chrony_answer();
        b[1] = 0;
        b[12..16].copy_from_slice(b"DENY");
        assert_eq!(
            Packet::parse(&b).unwrap().kiss_code().as_deref(),
            Some("DENY")
        );
        b[12] = 0;
        assert_eq!(
            Packet::parse(&b).unwrap().kiss_code().as_deref(),
            Some("?ENY")
        );
        assert_eq!(Packet::parse(&chrony_answer()).unwrap().kiss_code(), None);
    }
}
