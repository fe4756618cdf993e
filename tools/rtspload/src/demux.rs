//! Streaming parser of an RTSP interleaved byte stream (RFC 2326 §10.12): `$`, channel, 16-bit
//! length, then that many bytes. Only the first bytes of each frame are looked at (the RTP header,
//! or an RTCP sender report); payloads are skipped in place, in whatever pieces reads return.
//! RTSP messages between frames (answers to keep-alives) are skipped to their blank line.

/// What a frame said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Rtp {
        seq: u16,
        ts: u32,
        marker: bool,
        ssrc: u32,
    },
    SenderReport {
        ntp: u64,
        rtp_ts: u32,
    },
}

/// Bytes of a frame's payload kept for parsing: an RTCP SR's sender info ends at byte 20.
const KEEP: usize = 20;

#[derive(Debug, Default)]
enum State {
    #[default]
    Start,
    /// `$` seen: `got` bytes of the 4-byte frame header collected.
    Header { got: usize },
    /// Inside a frame: `left` payload bytes to go, of which the first are copied to `head`.
    Payload { left: usize, len: usize },
    /// An RTSP message: `matched` bytes of "\r\n\r\n" seen so far.
    Text { matched: usize, seen: usize },
    /// Not an interleaved stream any more.
    Broken,
}

#[derive(Debug, Default)]
pub struct Demux {
    state: State,
    hdr: [u8; 4],
    head: [u8; KEEP],
    head_len: usize,
}

impl Demux {
    pub fn broken(&self) -> bool {
        matches!(self.state, State::Broken)
    }

    pub fn feed(&mut self, mut data: &[u8], mut on: impl FnMut(Event)) {
        while !data.is_empty() {
            match self.state {
                State::Start => {
                    if data[0] == b'$' {
                        self.state = State::Header { got: 1 };
                        self.hdr[0] = b'$';
                    } else {
                        self.state = State::Text {
                            matched: 0,
                            seen: 0,
                        };
                        continue;
                    }
                    data = &data[1..];
                }
                State::Header { got } => {
                    let k = (4 - got).min(data.len());
                    self.hdr[got..got + k].copy_from_slice(&data[..k]);
                    data = &data[k..];
                    if got + k < 4 {
                        self.state = State::Header { got: got + k };
                    } else {
                        let len = u16::from_be_bytes([self.hdr[2], self.hdr[3]]) as usize;
                        self.head_len = 0;
                        self.state = State::Payload { left: len, len };
                        if len == 0 {
                            self.state = State::Start;
                        }
                    }
                }
                State::Payload { left, len } => {
                    let k = left.min(data.len());
                    if self.head_len < KEEP {
                        let c = (KEEP - self.head_len).min(k);
                        self.head[self.head_len..self.head_len + c].copy_from_slice(&data[..c]);
                        self.head_len += c;
                    }
                    data = &data[k..];
                    if k < left {
                        self.state = State::Payload {
                            left: left - k,
                            len,
                        };
                    } else {
                        self.state = State::Start;
                        let head = &self.head[..self.head_len];
                        let ev = if self.hdr[1].is_multiple_of(2) {
                            rtp_event(head)
                        } else {
                            rtcp_event(head)
                        };
                        if let Some(ev) = ev {
                            on(ev);
                        }
                    }
                }
                State::Text { mut matched, seen } => {
                    // Headers of an RTSP answer end at CRLF CRLF; a long run of text is not RTSP.
                    let mut i = 0;
                    while i < data.len() && matched < 4 {
                        let want = b"\r\n\r\n"[matched];
                        matched = if data[i] == want {
                            matched + 1
                        } else if data[i] == b'\r' {
                            1
                        } else {
                            0
                        };
                        i += 1;
                    }
                    data = &data[i..];
                    let seen = seen + i;
                    self.state = if matched == 4 {
                        State::Start
                    } else if seen > 16 * 1024 {
                        State::Broken
                    } else {
                        State::Text { matched, seen }
                    };
                }
                State::Broken => return,
            }
        }
    }
}

/// The fields of an RTP header (RFC 3550 §5.1) this client tracks.
pub fn rtp_event(p: &[u8]) -> Option<Event> {
    if p.len() < 12 || p[0] >> 6 != 2 {
        return None;
    }
    Some(Event::Rtp {
        seq: u16::from_be_bytes([p[2], p[3]]),
        ts: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        marker: p[1] & 0x80 != 0,
        ssrc: u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
    })
}

/// The NTP/RTP time pair of an RTCP sender report (the first packet of a compound).
pub fn rtcp_event(p: &[u8]) -> Option<Event> {
    if p.len() < 20 || p[0] >> 6 != 2 || p[1] != 200 {
        return None;
    }
    Some(Event::SenderReport {
        ntp: u64::from_be_bytes(p[8..16].try_into().ok()?),
        rtp_ts: u32::from_be_bytes(p[16..20].try_into().ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ch: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![b'$', ch];
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn rtp(seq: u16, marker: bool, len: usize) -> Vec<u8> {
        let mut p = vec![0x80, 96 | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&1234u32.to_be_bytes());
        p.extend_from_slice(&7u32.to_be_bytes());
        p.resize(len, 0xAB);
        p
    }

    #[test]
    fn frames_split_at_every_byte_boundary_give_the_same_events() {
        let mut stream = Vec::new();
        stream.extend(frame(0, &rtp(1, false, 1400)));
        stream.extend(b"RTSP/1.0 200 OK\r\nCSeq: 9\r\n\r\n");
        stream.extend(frame(0, &rtp(2, true, 13)));
        let mut sr = vec![0x80, 200, 0, 6, 0, 0, 0, 7];
        sr.extend_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
        sr.extend_from_slice(&99u32.to_be_bytes());
        sr.resize(28, 0);
        stream.extend(frame(1, &sr));
        let whole = {
            let mut d = Demux::default();
            let mut ev = Vec::new();
            d.feed(&stream, |e| ev.push(e));
            ev
        };
        assert_eq!(whole.len(), 3);
        assert_eq!(
            whole[2],
            Event::SenderReport {
                ntp: 0x0102_0304_0506_0708,
                rtp_ts: 99
            }
        );
        for cut in 1..stream.len() {
            let mut d = Demux::default();
            let mut ev = Vec::new();
            d.feed(&stream[..cut], |e| ev.push(e));
            d.feed(&stream[cut..], |e| ev.push(e));
            assert_eq!(ev, whole, "split at {cut}");
            assert!(!d.broken());
        }
    }
}
