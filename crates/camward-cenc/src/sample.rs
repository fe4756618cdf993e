//! Sample encryption per ISO/IEC 23001-7 'cenc': AES-128-CTR over the slice payloads of each
//! AVC sample, with NAL lengths, NAL headers and every non-VCL NAL (SEI, SPS, PPS, AUD) clear.
//!
//! Why this layout: the ONVIF Media Signing SEIs must stay readable without the key, a player
//! must be able to parse NAL structure before decryption (§10.2 of the standard), and CMAF
//! asks 'cenc' protected ranges to be whole AES blocks, so the few bytes of a slice payload that
//! do not fill a block are left clear at its start (right after the NAL header), as packagers do.

use crate::error::{Error, Result};
use crate::key::{ContentKey, fill_random};
use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use camward_h264::NalType;

/// The per-sample IV size camward writes (`default_Per_Sample_IV_Size` in `tenc`).
pub const IV_SIZE: usize = 8;
/// NAL length prefix size of camward's recordings (avcC `lengthSizeMinusOne` = 3).
pub const NAL_LENGTH_SIZE: usize = 4;
/// `saiz` stores each sample's auxiliary-info size in one byte: 8 (IV) + 2 + 6 per subsample
/// must stay ≤ 255, so a sample may have at most 40 subsamples (40 protected NAL units).
pub const MAX_SUBSAMPLES: usize = (255 - IV_SIZE - 2) / 6;
const BLOCK: usize = 16;

/// One subsample: `clear` bytes, then `protected` bytes (CENC §7.2.1, the senc entry layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subsample {
    pub clear: u16,
    pub protected: u32,
}

/// A sample's auxiliary information: what `senc` stores for it (and `saiz` sizes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleAux {
    /// The per-sample IV (8 or 16 bytes).
    pub iv: Vec<u8>,
    /// The subsample map; empty means the whole sample is protected.
    pub subsamples: Vec<Subsample>,
}

impl SampleAux {
    /// Size of this entry in a `senc` with subsamples (flag 0x2), as `saiz` records it.
    pub fn encoded_len(&self) -> usize {
        self.iv.len() + 2 + 6 * self.subsamples.len()
    }
}

/// NAL units whose payload is picture data and gets encrypted: every VCL type. Slices (1, 5)
/// are what camward's encoders produce; partitions (2–4), auxiliary and extension slices
/// (19–21) are picture data too and must not leak just because an encoder used them.
fn is_protected(nal: &[u8]) -> bool {
    match NalType::of(nal) {
        t if t.is_slice() => true,
        NalType::Other(2..=4 | 19 | 20 | 21) => true,
        _ => false,
    }
}

/// Bytes of the NAL header: 1, or 4 for the SVC/MVC/3D extension types that carry 3 more.
fn nal_header_len(nal: &[u8]) -> usize {
    match NalType::of(nal) {
        NalType::Other(14 | 20 | 21) => 4.min(nal.len()),
        _ => 1.min(nal.len()),
    }
}

/// Collects (clear, protected) runs and emits them as senc subsamples: clear runs merge
/// across NAL units (an SEI between two slices costs nothing), and a clear run longer than
/// 65535 bytes (a big certificate SEI) is split into clear-only entries.
struct Organizer {
    out: Vec<Subsample>,
    clear: usize,
}

impl Organizer {
    fn clear(&mut self, n: usize) {
        self.clear += n;
    }
    fn protected(&mut self, n: usize) {
        while self.clear > u16::MAX as usize {
            self.out.push(Subsample {
                clear: u16::MAX,
                protected: 0,
            });
            self.clear -= u16::MAX as usize;
        }
        self.out.push(Subsample {
            clear: self.clear as u16,
            protected: n as u32,
        });
        self.clear = 0;
    }
    fn finish(mut self) -> Vec<Subsample> {
        if self.clear > 0 || self.out.is_empty() {
            // A clear-only tail: flush it as clear-only entries, split as needed.
            while self.clear > u16::MAX as usize {
                self.out.push(Subsample {
                    clear: u16::MAX,
                    protected: 0,
                });
                self.clear -= u16::MAX as usize;
            }
            self.out.push(Subsample {
                clear: self.clear as u16,
                protected: 0,
            });
        }
        self.out
    }
}

/// The subsample map of one length-prefixed AVC sample: for every NAL unit the length prefix and
/// NAL header are clear; VCL payloads are protected in whole 16-byte blocks (the remainder, at
/// the start of the payload, stays clear); everything else is clear.
pub fn subsample_map(sample: &[u8], length_size: usize) -> Result<Vec<Subsample>> {
    if !matches!(length_size, 1 | 2 | 4) {
        return Err(Error::Sample(format!(
            "NAL length size {length_size}; AVC allows 1, 2 or 4"
        )));
    }
    let mut org = Organizer {
        out: Vec::new(),
        clear: 0,
    };
    let mut pos = 0usize;
    while pos < sample.len() {
        let Some(prefix) = sample.get(pos..pos + length_size) else {
            return Err(Error::Sample(format!(
                "NAL length prefix at byte {pos} runs past the sample end ({} bytes)",
                sample.len()
            )));
        };
        let len = prefix.iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        let start = pos + length_size;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= sample.len())
            .ok_or_else(|| {
                Error::Sample(format!(
                    "NAL unit at byte {pos} claims {len} bytes but only {} remain in the sample",
                    sample.len() - start
                ))
            })?;
        let nal = &sample[start..end];
        let hdr = nal_header_len(nal);
        if is_protected(nal) && nal.len() > hdr {
            let payload = nal.len() - hdr;
            let misaligned = payload % BLOCK;
            org.clear(length_size + hdr + misaligned);
            if payload > misaligned {
                org.protected(payload - misaligned);
            }
        } else {
            org.clear(length_size + nal.len());
        }
        pos = end;
    }
    let map = org.finish();
    let protected_entries = map.iter().filter(|s| s.protected > 0).count();
    if map.len() > MAX_SUBSAMPLES {
        return Err(Error::Sample(format!(
            "{} subsamples ({protected_entries} protected NAL units); CENC auxiliary information \
             allows at most {MAX_SUBSAMPLES} per sample: configure the encoder for fewer slices",
            map.len()
        )));
    }
    Ok(map)
}

/// A file's AES-128 key, expanded once, for 'cenc' counter mode. aws-lc is the project's one
/// crypto provider (rustls uses it) and runs the same AES-NI/ARMv8 CTR code as OpenSSL, which is
/// what the recorder's throughput is measured against; the key schedule is zeroized on drop.
pub struct SampleCipher(EncryptingKey);

impl SampleCipher {
    pub fn new(key: &ContentKey) -> Result<Self> {
        UnboundCipherKey::new(&AES_128, key.as_bytes())
            .and_then(EncryptingKey::ctr)
            .map(SampleCipher)
            .map_err(|_| Error::Sample("aws-lc refused the AES-128 content key".into()))
    }

    /// XORs the keystream starting at counter block `hi ‖ lo` over `data`. aws-lc increments all
    /// 128 bits, so callers never let the low half overflow within one call (see `Keystream`).
    fn xor(&self, hi: &[u8; 8], lo: u64, data: &mut [u8]) -> Result<()> {
        let mut block = [0u8; BLOCK];
        block[..8].copy_from_slice(hi);
        block[8..].copy_from_slice(&lo.to_be_bytes());
        self.0
            .less_safe_encrypt(data, EncryptionContext::Iv128(FixedLength::from(block)))
            .map(drop)
            .map_err(|_| Error::Sample("AES-128-CTR failed in aws-lc".into()))
    }
}

impl std::fmt::Debug for SampleCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SampleCipher(<redacted>)")
    }
}

/// The keystream of one sample. 'cenc' counter mode: the IV (8 bytes, zero-extended, or 16
/// bytes) is the initial counter block and its low 64 bits count blocks, wrapping without a carry
/// into the high half, as in ffmpeg and Bento4. The protected ranges of a sample are one stream:
/// a range that ends inside a block leaves the rest of that block's keystream to the next range.
struct Keystream<'a> {
    cipher: &'a SampleCipher,
    hi: [u8; 8],
    lo: u64,
    /// Keystream bytes used so far in this sample.
    pos: u64,
}

impl<'a> Keystream<'a> {
    fn new(cipher: &'a SampleCipher, iv: &[u8]) -> Result<Self> {
        let mut block = [0u8; BLOCK];
        match iv.len() {
            8 | 16 => block[..iv.len()].copy_from_slice(iv),
            n => {
                return Err(Error::Sample(format!(
                    "IV of {n} bytes; 'cenc' uses 8 or 16"
                )));
            }
        }
        let (hi, lo) = block.split_at(8);
        Ok(Keystream {
            cipher,
            hi: hi.try_into().expect("8 bytes"),
            lo: u64::from_be_bytes(lo.try_into().expect("8 bytes")),
            pos: 0,
        })
    }

    fn counter(&self) -> u64 {
        self.lo.wrapping_add(self.pos / BLOCK as u64)
    }

    fn apply(&mut self, mut data: &mut [u8]) -> Result<()> {
        let within = (self.pos % BLOCK as u64) as usize;
        if within != 0 && !data.is_empty() {
            // The previous range stopped inside a block: its keystream continues here, so run
            // that one counter block over a scratch block aligned like the stream.
            let n = (BLOCK - within).min(data.len());
            let mut scratch = [0u8; BLOCK];
            scratch[within..within + n].copy_from_slice(&data[..n]);
            self.cipher.xor(&self.hi, self.counter(), &mut scratch)?;
            data[..n].copy_from_slice(&scratch[within..within + n]);
            self.pos += n as u64;
            data = &mut data[n..];
        }
        while !data.is_empty() {
            // One call per range, except where the low 64 bits wrap (after 2^64 blocks, only
            // reachable with a 16-byte IV near the top): stop there so aws-lc cannot carry.
            let ctr = self.counter();
            let blocks_to_wrap = u128::from(u64::MAX - ctr) + 1;
            let n = (data.len() as u128).min(blocks_to_wrap * BLOCK as u128) as usize;
            self.cipher.xor(&self.hi, ctr, &mut data[..n])?;
            self.pos += n as u64;
            data = &mut data[n..];
        }
        Ok(())
    }
}

/// XORs the keystream over the protected ranges. The protected bytes of a sample form one
/// continuous CTR stream across subsamples (the counter does not restart per subsample), which
/// is what makes encryption and decryption the same operation. Checks everything before it
/// writes, so a refused sample is left as it was.
fn apply(
    data: &mut [u8],
    cipher: &SampleCipher,
    iv: &[u8],
    subsamples: &[Subsample],
) -> Result<()> {
    let mut ks = Keystream::new(cipher, iv)?;
    if subsamples.is_empty() {
        return ks.apply(data);
    }
    let total: u64 = subsamples
        .iter()
        .map(|s| s.clear as u64 + s.protected as u64)
        .sum();
    if total != data.len() as u64 {
        return Err(Error::Sample(format!(
            "subsamples cover {total} bytes but the sample has {}",
            data.len()
        )));
    }
    let mut pos = 0usize;
    for s in subsamples {
        pos += s.clear as usize;
        let end = pos + s.protected as usize;
        ks.apply(&mut data[pos..end])?;
        pos = end;
    }
    Ok(())
}

/// Encrypts one length-prefixed AVC sample (4-byte lengths): returns the ciphertext (same
/// length) and its subsample map. `iv` must never repeat under the same key (see `IvSequence`).
pub fn encrypt_sample(
    sample: &[u8],
    key: &ContentKey,
    iv: &[u8],
) -> Result<(Vec<u8>, Vec<Subsample>)> {
    encrypt_sample_with(sample, NAL_LENGTH_SIZE, key, iv)
}

/// `encrypt_sample` for another NAL length size (from the track's avcC).
pub fn encrypt_sample_with(
    sample: &[u8],
    length_size: usize,
    key: &ContentKey,
    iv: &[u8],
) -> Result<(Vec<u8>, Vec<Subsample>)> {
    let mut out = sample.to_vec();
    let map = encrypt_in_place(&mut out, length_size, &SampleCipher::new(key)?, iv)?;
    Ok((out, map))
}

/// Encrypts a sample where it lies (the recorder's path: no copy, and the key schedule of
/// `cipher` serves the whole file). On error the sample is unchanged.
pub fn encrypt_in_place(
    sample: &mut [u8],
    length_size: usize,
    cipher: &SampleCipher,
    iv: &[u8],
) -> Result<Vec<Subsample>> {
    let map = subsample_map(sample, length_size)?;
    apply(sample, cipher, iv, &map)?;
    Ok(map)
}

/// Decrypts one sample given its IV and subsample map (empty map: whole sample protected).
pub fn decrypt_sample(
    data: &[u8],
    key: &ContentKey,
    iv: &[u8],
    subsamples: &[Subsample],
) -> Result<Vec<u8>> {
    let mut out = data.to_vec();
    decrypt_in_place(&mut out, key, iv, subsamples)?;
    Ok(out)
}

/// `decrypt_sample` without a copy.
pub fn decrypt_in_place(
    data: &mut [u8],
    key: &ContentKey,
    iv: &[u8],
    subsamples: &[Subsample],
) -> Result<()> {
    apply(data, &SampleCipher::new(key)?, iv, subsamples)
}

/// Per-sample IVs of one file: a random 64-bit start, then +1 per sample. With 8-byte IVs the
/// low 64 bits of the counter block count AES blocks within a sample, so distinct IVs never share
/// a counter block; the sequence refuses to wrap around to its start.
#[derive(Debug)]
pub struct IvSequence {
    start: u64,
    issued: u64,
}

impl IvSequence {
    pub fn new() -> Self {
        let mut b = [0u8; 8];
        fill_random(&mut b);
        IvSequence {
            start: u64::from_be_bytes(b),
            issued: 0,
        }
    }

    /// Starting at a given value (tests).
    pub fn starting_at(start: u64) -> Self {
        IvSequence { start, issued: 0 }
    }

    /// The next IV; fails only after 2^64 samples, when IVs would repeat.
    pub fn next_iv(&mut self) -> Result<[u8; IV_SIZE]> {
        if self.issued == u64::MAX {
            return Err(Error::Sample(
                "IV space of this file exhausted; start a new file".into(),
            ));
        }
        let iv = self.start.wrapping_add(self.issued).to_be_bytes();
        self.issued += 1;
        Ok(iv)
    }
}

impl Default for IvSequence {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::Aes128;
    use aes::cipher::{BlockEncrypt, KeyInit};
    use ctr::cipher::{KeyIvInit, StreamCipher};

    /// The RustCrypto counter mode camward used before aws-lc, kept as an independent reference:
    /// the IV zero-extended to a counter block whose low 64 bits count blocks and wrap.
    fn reference_ctr(key: &ContentKey, iv: &[u8]) -> ctr::Ctr64BE<Aes128> {
        let mut block = [0u8; 16];
        block[..iv.len()].copy_from_slice(iv);
        ctr::Ctr64BE::<Aes128>::new(key.as_bytes().into(), &block.into())
    }

    /// Deterministic test bytes (xorshift), so a failure reproduces.
    fn noise(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Decrypts with `decrypt_in_place` and with the reference stream run range by range.
    fn both_ways(
        key: &ContentKey,
        iv: &[u8],
        map: &[Subsample],
        data: &[u8],
    ) -> (Vec<u8>, Vec<u8>) {
        let ours = decrypt_sample(data, key, iv, map).unwrap();
        let mut reference = data.to_vec();
        let mut c = reference_ctr(key, iv);
        let mut pos = 0;
        for sub in map {
            pos += sub.clear as usize;
            c.apply_keystream(&mut reference[pos..pos + sub.protected as usize]);
            pos += sub.protected as usize;
        }
        if map.is_empty() {
            c.apply_keystream(&mut reference);
        }
        (ours, reference)
    }

    fn nal(len_prefix: usize, body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_be_bytes()[4 - len_prefix..].to_vec();
        v.extend_from_slice(body);
        v
    }

    fn slice(typ: u8, payload_len: usize, fill: u8) -> Vec<u8> {
        let mut b = vec![0x60 | typ];
        b.extend((0..payload_len).map(|i| fill.wrapping_add(i as u8)));
        b
    }

    /// AUD, SPS, PPS, SEI (signature), IDR slice, SEI, non-IDR slice.
    fn sample() -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
        let parts = [
            vec![0x09, 0xf0],
            vec![0x67, 0x42, 0xc0, 0x1e, 0xda],
            vec![0x68, 0xce, 0x3c, 0x80],
            {
                let mut s = vec![0x06, 0x05, 0x40];
                s.extend([0xab; 0x40]);
                s.push(0x80);
                s
            },
            slice(5, 1000, 7),
            vec![0x06, 0x05, 0x02, 0x11, 0x22, 0x80],
            slice(1, 37, 9),
        ];
        let mut out = Vec::new();
        let mut ranges = Vec::new();
        for p in parts {
            let at = out.len();
            out.extend(nal(4, &p));
            ranges.push(at..out.len());
        }
        (out, ranges)
    }

    #[test]
    fn subsample_map_keeps_nal_headers_and_sei_clear() {
        let (s, ranges) = sample();
        let key = ContentKey::generate();
        let (ct, map) = encrypt_sample(&s, &key, &[1; 8]).unwrap();
        assert_eq!(ct.len(), s.len());
        // Build the byte mask of protected bytes from the map.
        let mut protected = vec![false; s.len()];
        let mut pos = 0;
        for sub in &map {
            pos += sub.clear as usize;
            protected[pos..pos + sub.protected as usize].fill(true);
            pos += sub.protected as usize;
        }
        assert_eq!(pos, s.len());
        for (i, r) in ranges.iter().enumerate() {
            // Length prefix and NAL header: always clear and unchanged.
            for b in r.start..r.start + 5 {
                assert!(!protected[b], "NAL {i} byte {b} protected");
                assert_eq!(ct[b], s[b]);
            }
            let nal_type = s[r.start + 4] & 0x1f;
            if nal_type == 1 || nal_type == 5 {
                let payload = r.len() - 5;
                let n_prot = protected[r.clone()].iter().filter(|&&p| p).count();
                assert_eq!(n_prot, payload - payload % 16, "NAL {i}");
                // Protected bytes are the tail of the payload.
                assert!(protected[r.end - n_prot..r.end].iter().all(|&p| p));
            } else {
                // SEI, SPS, PPS, AUD: entirely clear and byte-identical.
                assert!(protected[r.clone()].iter().all(|&p| !p), "NAL {i}");
                assert_eq!(&ct[r.clone()], &s[r.clone()]);
            }
        }
        // The SEI between the two slices merged into the second slice's clear run.
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn protected_ranges_are_whole_aes_blocks() {
        let (s, _) = sample();
        for sub in subsample_map(&s, 4).unwrap() {
            assert_eq!(sub.protected % 16, 0);
        }
    }

    #[test]
    fn encrypt_then_decrypt_gives_the_sample_back() {
        let (s, _) = sample();
        let key = ContentKey::generate();
        let iv = IvSequence::new().next_iv().unwrap();
        let (ct, map) = encrypt_sample(&s, &key, &iv).unwrap();
        assert_ne!(ct, s);
        assert_eq!(decrypt_sample(&ct, &key, &iv, &map).unwrap(), s);
        // The wrong key does not.
        assert_ne!(
            decrypt_sample(&ct, &ContentKey::generate(), &iv, &map).unwrap(),
            s
        );
    }

    #[test]
    fn counter_continues_across_subsamples() {
        // Encrypting the concatenated protected bytes as one CTR stream must give the same bytes
        // as subsample-wise encryption: the counter does not restart at a subsample boundary.
        let (s, _) = sample();
        let key = ContentKey::generate();
        let iv = [7u8; 8];
        let (ct, map) = encrypt_sample(&s, &key, &iv).unwrap();
        let mut plain_cat = Vec::new();
        let mut ct_cat = Vec::new();
        let mut pos = 0;
        for sub in &map {
            pos += sub.clear as usize;
            plain_cat.extend_from_slice(&s[pos..pos + sub.protected as usize]);
            ct_cat.extend_from_slice(&ct[pos..pos + sub.protected as usize]);
            pos += sub.protected as usize;
        }
        let mut whole = plain_cat.clone();
        reference_ctr(&key, &iv).apply_keystream(&mut whole);
        assert_eq!(whole, ct_cat);
    }

    #[test]
    fn partial_blocks_carry_over_between_odd_subsamples() {
        // Decryptors meet foreign files whose protected ranges are not whole blocks: the range
        // after one that stops inside a block must use the rest of that block's keystream.
        // Checked against the RustCrypto stream over many maps, 8- and 16-byte IVs.
        for round in 0..200u64 {
            let r = noise(round, 64);
            let key = ContentKey::from_bytes(r[..16].try_into().unwrap());
            let iv = if round % 2 == 0 {
                &r[16..24]
            } else {
                &r[16..32]
            };
            let n_subs = 2 + (r[32] % 7) as usize;
            let map: Vec<Subsample> = (0..n_subs)
                .map(|i| Subsample {
                    clear: u16::from(r[33 + i] % 9),
                    // Odd and block-straddling lengths: 1, 15, 17, 31, 33, … and some zeros.
                    protected: [0, 1, 3, 15, 16, 17, 31, 33, 47, 100][r[41 + i] as usize % 10],
                })
                .collect();
            let len: usize = map
                .iter()
                .map(|s| s.clear as usize + s.protected as usize)
                .sum();
            let data = noise(round + 1000, len);
            let (ours, reference) = both_ways(&key, iv, &map, &data);
            assert_eq!(ours, reference, "round {round}, map {map:?}");
        }
    }

    #[test]
    fn block_counter_wraps_in_its_low_64_bits() {
        // With a 16-byte IV the low half may start near 2^64; 'cenc' (ffmpeg, Bento4) wraps it
        // to 0 without touching the high half, where a 128-bit counter would carry.
        let key = ContentKey::from_bytes([0x5a; 16]);
        let mut iv = [0x11u8; 16];
        iv[8..].copy_from_slice(&(u64::MAX - 2).to_be_bytes());
        let map = [
            Subsample {
                clear: 3,
                protected: 37,
            },
            Subsample {
                clear: 0,
                protected: 11,
            },
            Subsample {
                clear: 5,
                protected: 50,
            },
        ];
        let data = noise(7, 106);
        let (ours, reference) = both_ways(&key, &iv, &map, &data);
        assert_eq!(ours, reference);
        let (ours, reference) = both_ways(&key, &iv, &[], &data);
        assert_eq!(ours, reference);
    }

    #[test]
    fn in_place_encryption_matches_the_copying_path() {
        let (s, _) = sample();
        let key = ContentKey::generate();
        let iv = [3u8; 8];
        let (ct, map) = encrypt_sample(&s, &key, &iv).unwrap();
        let mut buf = s.clone();
        let map2 = encrypt_in_place(&mut buf, 4, &SampleCipher::new(&key).unwrap(), &iv).unwrap();
        assert_eq!((buf, map2), (ct.clone(), map.clone()));
        // And against the reference stream, range by range.
        let (ours, reference) = both_ways(&key, &iv, &map, &s);
        assert_eq!(ours, ct);
        assert_eq!(reference, ct);
        // A refused sample is left untouched.
        let mut bad = s[..s.len() - 1].to_vec();
        let before = bad.clone();
        assert!(encrypt_in_place(&mut bad, 4, &SampleCipher::new(&key).unwrap(), &iv).is_err());
        assert_eq!(bad, before);
    }

    #[test]
    fn ctr_matches_aes_ecb_of_the_counter_blocks() {
        // Independent check of the counter layout: IV ‖ 0, IV ‖ 1, … encrypted with raw AES.
        let key = ContentKey::from_bytes([0x2b; 16]);
        let iv = [0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7];
        let data = vec![0u8; 48];
        let ks = decrypt_sample(&data, &key, &iv, &[]).unwrap();
        let aes = Aes128::new(key.as_bytes().into());
        for i in 0..3u64 {
            let mut block = [0u8; 16];
            block[..8].copy_from_slice(&iv);
            block[8..].copy_from_slice(&i.to_be_bytes());
            let mut b = block.into();
            aes.encrypt_block(&mut b);
            assert_eq!(&ks[i as usize * 16..i as usize * 16 + 16], b.as_slice());
        }
    }

    #[test]
    fn nist_sp800_38a_ctr_vector_with_16_byte_iv() {
        // SP 800-38A F.5.1 (CTR-AES128.Encrypt); its counter never carries out of the low 64 bits.
        let key = ContentKey::from_hex("2b7e151628aed2a6abf7158809cf4f3c").unwrap();
        let iv = hex::decode("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").unwrap();
        let pt = hex::decode(
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
             30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
        )
        .unwrap();
        let ct = decrypt_sample(&pt, &key, &iv, &[]).unwrap();
        assert_eq!(
            hex::encode(ct),
            "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff\
             5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee"
        );
    }

    #[test]
    fn iv_never_repeats_within_file() {
        // Start near the top of the 64-bit space to cross the wrap-around point.
        let mut seq = IvSequence::starting_at(u64::MAX - 500);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            assert!(seen.insert(seq.next_iv().unwrap()));
        }
        // Two files get different starting points.
        assert_ne!(
            IvSequence::new().next_iv().unwrap(),
            IvSequence::new().next_iv().unwrap()
        );
        // Exhaustion is an error, not a repeat.
        let mut seq = IvSequence {
            start: 5,
            issued: u64::MAX,
        };
        assert!(seq.next_iv().is_err());
    }

    #[test]
    fn small_slices_and_long_clear_runs() {
        // A slice with < 16 payload bytes stays clear (nothing to protect in whole blocks).
        let s = nal(4, &slice(1, 10, 0));
        assert_eq!(
            subsample_map(&s, 4).unwrap(),
            vec![Subsample {
                clear: 15,
                protected: 0
            }]
        );
        // A 70000-byte SEI before a slice: clear run split at 65535.
        let mut big = nal(4, &{
            let mut v = vec![0x06];
            v.resize(70_000, 0x11);
            v
        });
        big.extend(nal(4, &slice(5, 32, 0)));
        let map = subsample_map(&big, 4).unwrap();
        assert_eq!(
            map[0],
            Subsample {
                clear: 65535,
                protected: 0
            }
        );
        assert_eq!(map[1].protected, 32);
        assert_eq!(
            map.iter()
                .map(|s| s.clear as usize + s.protected as usize)
                .sum::<usize>(),
            big.len()
        );
    }

    #[test]
    fn malformed_samples_are_refused_with_offsets() {
        let mut s = nal(4, &slice(5, 40, 0));
        s.truncate(s.len() - 1);
        let e = subsample_map(&s, 4).unwrap_err().to_string();
        assert!(e.contains("byte 0") && e.contains("claims 41"), "{e}");
        let e = subsample_map(&[0, 0], 4).unwrap_err().to_string();
        assert!(e.contains("length prefix"), "{e}");
        assert!(subsample_map(&s, 3).is_err());
    }

    #[test]
    fn too_many_slices_are_refused() {
        let mut s = Vec::new();
        for _ in 0..=MAX_SUBSAMPLES {
            s.extend(nal(4, &slice(1, 32, 0)));
        }
        assert!(
            subsample_map(&s, 4)
                .unwrap_err()
                .to_string()
                .contains("at most 40")
        );
    }

    #[test]
    fn other_length_sizes_work() {
        let s = [nal(2, &[0x06, 1, 2, 3]), nal(2, &slice(5, 64, 3))].concat();
        let map = subsample_map(&s, 2).unwrap();
        assert_eq!(
            map,
            vec![Subsample {
                clear: 6 + 3,
                protected: 64
            }]
        );
    }

    #[test]
    fn decrypt_checks_the_map_covers_the_sample() {
        let key = ContentKey::generate();
        let e = decrypt_sample(
            &[0; 10],
            &key,
            &[0; 8],
            &[Subsample {
                clear: 2,
                protected: 3,
            }],
        );
        assert!(e.unwrap_err().to_string().contains("cover 5 bytes"));
        assert!(decrypt_sample(&[0; 10], &key, &[0; 7], &[]).is_err());
    }
}
