//! The ONVIF Media Signing SEI byte layout: UUID, reserved byte, TLV tags, the signed "document".
//! Shared by signer and verifier so both sides agree on every byte (layout checked against r25.12.3).

use crate::error::Error;
use camward_h264::annexb;
use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// UUID of an ONVIF Media Signing `user_data_unregistered` SEI (005bc93f-2d71-5e95-ada4-796f90877a6f).
pub const UUID: [u8; 16] = [
    0x00, 0x5b, 0xc9, 0x3f, 0x2d, 0x71, 0x5e, 0x95, 0xad, 0xa4, 0x79, 0x6f, 0x90, 0x87, 0x7a, 0x6f,
];
/// SEI payload type `user_data_unregistered`.
pub const USER_DATA_UNREGISTERED: u8 = 5;
/// Reserved byte bit 7: a certificate ("sent only once") SEI.
pub const FLAG_CERTIFICATE_SEI: u8 = 0x80;
/// Reserved byte bit 6: emulation prevention was applied before the document was hashed.
pub const FLAG_EPB_BEFORE_HASHING: u8 = 0x40;
/// RBSP stop bit in a byte of its own, as every ONVIF SEI ends.
pub const STOP_BYTE: u8 = 0x80;

pub const TAG_GENERAL: u8 = 1;
pub const TAG_HASH_LIST: u8 = 2;
pub const TAG_SIGNATURE: u8 = 3;
pub const TAG_CRYPTO_INFO: u8 = 4;
pub const TAG_VENDOR_INFO: u8 = 5;
pub const TAG_CERTIFICATES: u8 = 6;
pub const TAG_ARBITRARY_DATA: u8 = 7;

/// DER-serialised OID 2.16.840.1.101.3.4.2.1 (SHA-256), as CRYPTO_INFO carries it.
pub const SHA256_OID_DER: [u8; 11] = [
    0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
];
/// Hash size of SHA-256, the only NAL hash this crate emits and verifies.
pub const HASH_SIZE: usize = 32;
/// Space reserved for a DER ECDSA P-256 signature; the reference pads with 0x01 to this size.
pub const MAX_SIGNATURE_P256: usize = 72;
/// The reference validator holds at most 64 * 300 bytes of hash list (MAX_HASH_SIZE * MAX_GOP_LENGTH)
/// and rejects a longer list, so a signer must fall back to the GOP hash beyond 600 SHA-256 hashes.
pub const MAX_HASH_LIST_BYTES: usize = 64 * 300;
/// Library version written in GENERAL. Validators compare it with their own and flag a newer one as
/// a version mismatch, so we state the reference revision whose byte layout we follow.
pub const FORMAT_VERSION: [u8; 3] = [25, 12, 3];

/// 100-ns intervals between 1601-01-01 and 1970-01-01 (the Windows FILETIME epoch offset).
const FILETIME_UNIX_OFFSET: i64 = 116_444_736_000_000_000;

/// Converts wall-clock time to the spec's "100-nanosecond intervals since January 1, 1601" (UTC).
pub fn to_filetime(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => FILETIME_UNIX_OFFSET + (d.as_nanos() / 100) as i64,
        Err(e) => FILETIME_UNIX_OFFSET - (e.duration().as_nanos() / 100) as i64,
    }
}

/// Inverse of [`to_filetime`]; `None` for values that do not fit `SystemTime`.
pub fn from_filetime(ft: i64) -> Option<SystemTime> {
    let rel = ft.checked_sub(FILETIME_UNIX_OFFSET)?;
    let d = Duration::from_nanos(rel.unsigned_abs().checked_mul(100)?);
    if rel >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
}

/// GENERAL tag (1): GOP bookkeeping that ties the SEI to its (partial) GOP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct General {
    pub tag_version: u8,
    /// Media signing library version of the signer (major, minor, patch).
    pub lib_version: [u8; 3],
    /// Signing was triggered inside a GOP (partial GOP) rather than by the next I-frame.
    pub partial_gop: bool,
    pub start_ts: i64,
    pub end_ts: i64,
    pub gop_counter: u32,
    pub num_nalus: u16,
    pub gop_hash: Vec<u8>,
    pub linked_hash: Vec<u8>,
}

/// CRYPTO_INFO tag (4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoInfo {
    pub hash_oid: Vec<u8>,
    pub sign_oid: Vec<u8>,
    pub rsa_size: u16,
}

/// VENDOR_INFO tag (5); strings are informative only (the certificate is authoritative).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VendorInfo {
    pub firmware_version: String,
    pub serial_number: String,
    pub manufacturer: String,
}

/// A parsed ONVIF Media Signing SEI.
#[derive(Debug, Clone)]
pub struct OmsSei {
    pub reserved: u8,
    pub general: Option<General>,
    /// Concatenated NAL hashes, `HASH_SIZE` bytes each.
    pub hash_list: Option<Vec<u8>>,
    /// DER signature (padding removed).
    pub signature: Option<Vec<u8>>,
    pub crypto: Option<CryptoInfo>,
    pub vendor: Option<VendorInfo>,
    /// (user provisioned, PEM chain leaf first).
    pub certificates: Option<(bool, String)>,
    pub arbitrary: Option<Vec<u8>>,
    /// Tags this parser does not know; skipped but still covered by the signature.
    pub unknown_tags: Vec<u8>,
    /// The signed bytes: NAL header up to (not including) the SIGNATURE tag, escaped or not per bit 6.
    pub document: Vec<u8>,
}

impl OmsSei {
    pub fn is_certificate_sei(&self) -> bool {
        self.reserved & FLAG_CERTIFICATE_SEI != 0
    }
    pub fn epb_before_hashing(&self) -> bool {
        self.reserved & FLAG_EPB_BEFORE_HASHING != 0
    }
    pub fn is_signed(&self) -> bool {
        self.signature.is_some()
    }
    /// Hash list entries.
    pub fn hashes(&self) -> impl Iterator<Item = &[u8]> {
        self.hash_list
            .as_deref()
            .unwrap_or(&[])
            .chunks_exact(HASH_SIZE)
    }
}

/// Reads the `ff`-run coded payload type or size of an SEI message.
fn read_sei_varint(rbsp: &[u8], pos: &mut usize) -> Option<usize> {
    let mut v = 0usize;
    loop {
        let b = *rbsp.get(*pos)?;
        *pos += 1;
        v = v.checked_add(b as usize)?;
        if b != 0xff {
            return Some(v);
        }
    }
}

/// True when `nal` is an H.264 SEI whose first message is ONVIF Media Signing (cheap pre-check on
/// the escaped bytes: the UUID never needs escaping, only the size field may vary in length).
pub fn is_oms_sei(nal: &[u8]) -> bool {
    if nal.first().map(|b| b & 0x1f) != Some(6) || nal.get(1) != Some(&USER_DATA_UNREGISTERED) {
        return false;
    }
    let mut pos = 2;
    while nal.get(pos) == Some(&0xff) {
        pos += 1;
    }
    nal.get(pos + 1..pos + 17) == Some(&UUID[..])
}

/// Splits TLV data into (tag, value) pairs; errors name the byte offset inside the TLV area.
pub fn parse_tlvs(tlv: &[u8]) -> Result<Vec<(u8, &[u8])>, Error> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < tlv.len() {
        if pos + 3 > tlv.len() {
            return Err(Error::format(format!(
                "TLV header truncated at TLV byte {pos}"
            )));
        }
        let tag = tlv[pos];
        let len = u16::from_be_bytes([tlv[pos + 1], tlv[pos + 2]]) as usize;
        let start = pos + 3;
        let end = start + len;
        if end > tlv.len() {
            return Err(Error::format(format!(
                "TLV tag {tag} at TLV byte {pos} claims {len} bytes, only {} left",
                tlv.len() - start
            )));
        }
        out.push((tag, &tlv[start..end]));
        pos = end;
    }
    Ok(out)
}

/// Position in `ebsp` (escaped NAL) of the byte that is `rbsp_index` in the unescaped NAL, not
/// counting an emulation-prevention byte that precedes it: the document ends *before* such an EPB,
/// exactly as the reference's TLV scan with emulation prevention stops there.
fn escaped_position(ebsp: &[u8], rbsp_index: usize) -> usize {
    let (mut ri, mut ei, mut zeros) = (0usize, 0usize, 0u32);
    while ri < rbsp_index && ei < ebsp.len() {
        let b = ebsp[ei];
        if zeros >= 2 && b == 3 {
            zeros = 0;
            ei += 1;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        ri += 1;
        ei += 1;
    }
    ei
}

fn strip_trailing_zeros(nal: &[u8]) -> &[u8] {
    let mut end = nal.len();
    while end > 0 && nal[end - 1] == 0 {
        end -= 1;
    }
    &nal[..end]
}

/// The SEI's bytes without emulation prevention, read as the reference validator reads them: only
/// when the NAL is longer than its header, payload size and stop byte say is anything removed. A
/// signer that skipped emulation prevention (the ONVIF framework's own sample has one such SEI)
/// left a literal `00 00 03` in its data; unescaping that would shift every TLV after it.
fn sei_rbsp(nal: &[u8]) -> Cow<'_, [u8]> {
    let mut pos = 1;
    let header = read_sei_varint(nal, &mut pos).and_then(|_| read_sei_varint(nal, &mut pos));
    let Some(size) = header else {
        return Cow::Owned(annexb::unescape(nal));
    };
    let stop = usize::from(nal.last() == Some(&STOP_BYTE));
    if nal.len() > pos + size + stop {
        Cow::Owned(annexb::unescape(nal))
    } else {
        Cow::Borrowed(nal)
    }
}

/// Parses an escaped SEI NAL (header byte first, no start code). `Ok(None)` when it is not an ONVIF
/// Media Signing SEI; `Err` when it claims to be one but is malformed.
pub fn parse_oms_sei(nal: &[u8]) -> Result<Option<OmsSei>, Error> {
    if !is_oms_sei(nal) {
        return Ok(None);
    }
    let nal = strip_trailing_zeros(nal);
    let rbsp = sei_rbsp(nal);
    let mut pos = 1;
    let ptype = read_sei_varint(&rbsp, &mut pos)
        .ok_or_else(|| Error::format("SEI payload type truncated"))?;
    if ptype != USER_DATA_UNREGISTERED as usize {
        return Ok(None);
    }
    let psize = read_sei_varint(&rbsp, &mut pos)
        .ok_or_else(|| Error::format("SEI payload size truncated"))?;
    let payload_start = pos;
    let payload_end = payload_start + psize;
    if psize < UUID.len() + 1 || payload_end > rbsp.len() {
        return Err(Error::format(format!(
            "SEI payload size {psize} does not fit the {} unescaped bytes after its header",
            rbsp.len().saturating_sub(payload_start)
        )));
    }
    let reserved = rbsp[payload_start + 16];
    let tlv_start = payload_start + 17;
    let tlv = &rbsp[tlv_start..payload_end];
    let mut sei = OmsSei {
        reserved,
        general: None,
        hash_list: None,
        signature: None,
        crypto: None,
        vendor: None,
        certificates: None,
        arbitrary: None,
        unknown_tags: Vec::new(),
        document: Vec::new(),
    };
    let mut sig_tlv_offset = None;
    let mut off = 0usize;
    for (tag, value) in parse_tlvs(tlv)? {
        let here = off;
        off += 3 + value.len();
        if value.is_empty() {
            return Err(Error::format(format!(
                "TLV tag {tag} at TLV byte {here} has no version byte"
            )));
        }
        let ctx = |what: &str| Error::format(format!("TLV tag {tag} at TLV byte {here}: {what}"));
        match tag {
            TAG_GENERAL => sei.general = Some(parse_general(value).map_err(|e| ctx(&e))?),
            TAG_HASH_LIST => {
                if value[0] != 1 {
                    return Err(ctx("unsupported hash list version"));
                }
                sei.hash_list = Some(value[1..].to_vec());
            }
            TAG_SIGNATURE => {
                if value[0] != 1 || value.len() < 3 {
                    return Err(ctx("unsupported or short signature tag"));
                }
                let n = u16::from_be_bytes([value[1], value[2]]) as usize;
                let sig = value
                    .get(3..3 + n)
                    .ok_or_else(|| ctx("signature longer than its tag"))?;
                sei.signature = Some(sig.to_vec());
                sig_tlv_offset = Some(here);
            }
            TAG_CRYPTO_INFO => sei.crypto = Some(parse_crypto(value).map_err(|e| ctx(&e))?),
            TAG_VENDOR_INFO => sei.vendor = Some(parse_vendor(value).map_err(|e| ctx(&e))?),
            TAG_CERTIFICATES => {
                if value[0] != 1 || value.len() < 3 {
                    return Err(ctx("unsupported or empty certificate tag"));
                }
                sei.certificates = Some((
                    value[1] != 0,
                    String::from_utf8_lossy(&value[2..]).into_owned(),
                ));
            }
            TAG_ARBITRARY_DATA => sei.arbitrary = Some(value[1..].to_vec()),
            other => sei.unknown_tags.push(other),
        }
    }
    if let Some(sig_off) = sig_tlv_offset {
        let rbsp_end = tlv_start + sig_off;
        sei.document = if sei.epb_before_hashing() && rbsp.len() != nal.len() {
            nal[..escaped_position(nal, rbsp_end)].to_vec()
        } else {
            rbsp[..rbsp_end].to_vec()
        };
    }
    Ok(Some(sei))
}

/// The bytes an unsigned ONVIF SEI contributes to a hash list: the whole NAL, unescaped unless
/// bit 6 says the signer hashed escaped data.
pub fn unsigned_sei_hashable(nal: &[u8], sei: &OmsSei) -> Cow<'static, [u8]> {
    let nal = strip_trailing_zeros(nal);
    if sei.epb_before_hashing() {
        Cow::Owned(nal.to_vec())
    } else {
        Cow::Owned(sei_rbsp(nal).into_owned())
    }
}

fn parse_general(v: &[u8]) -> Result<General, String> {
    let version = v[0];
    let fixed = match version {
        1 => 1 + 3 + 1 + 8 + 4 + 2,
        2 => 1 + 3 + 1 + 8 + 8 + 4 + 2,
        _ => return Err(format!("unsupported GENERAL version {version}")),
    };
    if v.len() < fixed || !(v.len() - fixed).is_multiple_of(2) {
        return Err(format!(
            "GENERAL length {} does not hold two equal hashes",
            v.len()
        ));
    }
    let i64_at = |p: usize| i64::from_be_bytes(v[p..p + 8].try_into().expect("8 bytes"));
    let start_ts = i64_at(5);
    let (end_ts, p) = if version >= 2 {
        (i64_at(13), 21)
    } else {
        (start_ts, 13)
    };
    let hash_size = (v.len() - fixed) / 2;
    Ok(General {
        tag_version: version,
        lib_version: [v[1], v[2], v[3]],
        partial_gop: v[4] != 0,
        start_ts,
        end_ts,
        gop_counter: u32::from_be_bytes(v[p..p + 4].try_into().expect("4 bytes")),
        num_nalus: u16::from_be_bytes([v[p + 4], v[p + 5]]),
        gop_hash: v[fixed..fixed + hash_size].to_vec(),
        linked_hash: v[fixed + hash_size..].to_vec(),
    })
}

fn parse_crypto(v: &[u8]) -> Result<CryptoInfo, String> {
    if v[0] != 1 {
        return Err(format!("unsupported CRYPTO_INFO version {}", v[0]));
    }
    let short = || "CRYPTO_INFO truncated".to_string();
    let hl = *v.get(1).ok_or_else(short)? as usize;
    let hash_oid = v.get(2..2 + hl).ok_or_else(short)?.to_vec();
    let sl = *v.get(2 + hl).ok_or_else(short)? as usize;
    let sign_oid = v.get(3 + hl..3 + hl + sl).ok_or_else(short)?.to_vec();
    let r = v.get(3 + hl + sl..5 + hl + sl).ok_or_else(short)?;
    Ok(CryptoInfo {
        hash_oid,
        sign_oid,
        rsa_size: u16::from_be_bytes([r[0], r[1]]),
    })
}

fn parse_vendor(v: &[u8]) -> Result<VendorInfo, String> {
    if v[0] != 1 {
        return Err(format!("unsupported VENDOR_INFO version {}", v[0]));
    }
    let mut pos = 1;
    let mut field = || -> Result<String, String> {
        let n = *v.get(pos).ok_or("VENDOR_INFO truncated")? as usize;
        let s = v
            .get(pos + 1..pos + 1 + n)
            .ok_or("VENDOR_INFO string truncated")?;
        pos += 1 + n;
        Ok(String::from_utf8_lossy(s).into_owned())
    };
    Ok(VendorInfo {
        firmware_version: field()?,
        serial_number: field()?,
        manufacturer: field()?,
    })
}

/// Writes one TLV (tag, u16 length, value) into `out`.
pub fn put_tlv(out: &mut Vec<u8>, tag: u8, value: impl FnOnce(&mut Vec<u8>)) {
    out.push(tag);
    let len_at = out.len();
    out.extend_from_slice(&[0, 0]);
    value(out);
    let len = out.len() - len_at - 2;
    debug_assert!(
        len <= u16::MAX as usize,
        "TLV {tag} value of {len} bytes overflows its length"
    );
    out[len_at..len_at + 2].copy_from_slice(&(len as u16).to_be_bytes());
}

/// Appends a 1-byte length-prefixed string, truncated to 255 bytes at a char boundary.
pub fn put_short_str(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.push(end as u8);
    out.extend_from_slice(&s.as_bytes()[..end]);
}

/// Appends the `ff`-run coded SEI payload size.
pub fn put_sei_size(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0xff {
        out.push(0xff);
        n -= 0xff;
    }
    out.push(n as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_round_trips_and_matches_windows_epoch() {
        assert_eq!(to_filetime(UNIX_EPOCH), FILETIME_UNIX_OFFSET);
        // 2025-01-01T00:00:00Z, the first timestamp of the reference vector signed.h264 (minus 1/30 s).
        let t = UNIX_EPOCH + Duration::from_secs(1_735_689_600);
        assert_eq!(to_filetime(t), 133_801_632_000_000_000);
        assert_eq!(from_filetime(to_filetime(t)), Some(t));
    }

    #[test]
    fn tlv_parser_reports_truncation_with_offset() {
        let err = parse_tlvs(&[1, 0, 5, 9]).unwrap_err().to_string();
        assert!(err.contains("TLV byte 0"), "{err}");
        assert!(parse_tlvs(&[1, 0]).is_err());
        assert_eq!(parse_tlvs(&[7, 0, 1, 1]).unwrap(), vec![(7, &[1u8][..])]);
    }

    #[test]
    fn non_onvif_sei_is_ignored() {
        // x264's own user_data_unregistered SEI has another UUID.
        let mut nal = vec![0x06, 0x05, 20];
        nal.extend_from_slice(&[0xdc; 16]);
        nal.extend_from_slice(&[1, 2, 3, 4, 0x80]);
        assert!(!is_oms_sei(&nal));
        assert!(parse_oms_sei(&nal).unwrap().is_none());
        assert!(parse_oms_sei(&[0x06]).unwrap().is_none());
    }

    #[test]
    fn escaped_position_stops_before_an_epb() {
        // unescaped: 00 00 03(tag) ; escaped: 00 00 03(epb) 03(tag)
        let ebsp = [0x00, 0x00, 0x03, 0x03];
        assert_eq!(escaped_position(&ebsp, 2), 2);
        assert_eq!(escaped_position(&[1, 2, 3], 2), 2);
    }
}
