//! Annex-B byte streams (start-code delimited NAL units) and emulation prevention (§7.4.1).
//! Splitting keeps NAL bytes exactly as sent, EPB included, because signatures cover them so.

/// Iterates over the NAL units of an Annex-B buffer, without start codes and without the
/// trailing zero bytes that belong to the next start code.
pub fn split(buf: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut pos = find_start(buf, 0).map(|(_, end)| end);
    std::iter::from_fn(move || {
        let start = pos?;
        let (nal_end, next) = match find_start(buf, start) {
            Some((sc, after)) => (sc, Some(after)),
            None => (buf.len(), None),
        };
        pos = next;
        let mut end = nal_end;
        while end > start && buf[end - 1] == 0 {
            end -= 1;
        }
        Some(&buf[start..end])
    })
    .filter(|n| !n.is_empty())
}

/// Finds the next `00 00 01` at or after `from`; returns (start of the code, first byte after it).
fn find_start(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 3 <= buf.len() {
        if buf[i + 2] > 1 {
            i += 3;
        } else if buf[i] == 0 && buf[i + 1] == 0 && buf[i + 2] == 1 {
            return Some((i, i + 3));
        } else {
            i += 1;
        }
    }
    None
}

/// The first `gops` GOPs of an Annex-B stream whose key frames each start with an SPS (as
/// encoders and `h264_mp4toannexb` write them): the bytes before the `gops + 1`-th SPS. The whole
/// stream when it has no more GOPs. Tests cut the checked-in clip (`testdata/`) to length with it.
pub fn first_gops(buf: &[u8], gops: usize) -> &[u8] {
    let mut seen = 0;
    let mut from = 0;
    while let Some((sc, after)) = find_start(buf, from) {
        if buf.get(after).is_some_and(|b| b & 0x1f == 7) {
            if seen == gops {
                // Back up over the leading zero of a 4-byte start code.
                let start = if sc > 0 && buf[sc - 1] == 0 {
                    sc - 1
                } else {
                    sc
                };
                return &buf[..start];
            }
            seen += 1;
        }
        from = after;
    }
    buf
}

/// Writes NAL units as Annex-B with 4-byte start codes.
pub fn join<'a>(nals: impl IntoIterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
    for n in nals {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(n);
    }
}

/// Removes emulation-prevention bytes: `00 00 03 xx` becomes `00 00 xx`.
pub fn unescape(ebsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ebsp.len());
    let mut zeros = 0;
    for &b in ebsp {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Inserts emulation-prevention bytes so that no `00 00 0x` (x <= 3) appears in the payload.
pub fn escape(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 2);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_gops_cuts_before_the_next_sps() {
        let sps = [0x67, 0x42];
        let idr = [0x65, 0x88];
        let p = [0x41, 0x9a];
        let mut buf = Vec::new();
        for _ in 0..3 {
            join([&sps[..], &idr[..], &p[..]], &mut buf);
        }
        let one = first_gops(&buf, 1);
        assert_eq!(split(one).count(), 3);
        assert_eq!(first_gops(&buf, 2).len(), 2 * one.len());
        assert_eq!(first_gops(&buf, 5), &buf[..]);
        assert!(first_gops(&buf, 0).is_empty());
    }

    #[test]
    fn split_handles_three_and_four_byte_start_codes() {
        let buf = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 9,
        ];
        let nals: Vec<_> = split(&buf).collect();
        assert_eq!(
            nals,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 9][..]]
        );
    }

    #[test]
    fn escape_then_unescape_is_identity() {
        let raw = [0u8, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 7, 0, 0];
        let esc = escape(&raw);
        assert!(!esc.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2));
        assert_eq!(unescape(&esc), raw);
    }
}
