//! The in-band signer (white paper §3.9): hashes every slice once as it passes; the next GOP's
//! I-frame closes a GOP, and the signed ONVIF SEI for it goes in front of the picture after that
//! I-frame, where the ONVIF reference library puts it.

// It runs on the media pipeline thread before the frame bus, so live viewers, recordings and
// exports all carry the same signatures. Per NAL it costs one SHA-256 (two for non-anchor slices
// over 64 bytes); per GOP one ECDSA signature and one SEI allocation.

use crate::cert;
use crate::error::Error;
use crate::format::{self, VendorInfo};
use aws_lc_rs::digest;
use bytes::Bytes;
use camward_h264::{AccessUnit, NalType, annexb};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The device key that signs SEI documents. `camward_tls::DeviceIdentity` implements it in the
/// daemon (through `sign_p256_sha256` and `certificate_chain_pem`).
pub trait SigningKey: Send + Sync {
    /// DER-encoded ECDSA signature over `msg` (P-256 with SHA-256: the key hashes `msg` itself).
    fn sign(&self, msg: &[u8]) -> Vec<u8>;
    /// The certificate chain, leaf first, without the root (the verifier brings its own anchor).
    fn certificate_chain_pem(&self) -> String;
}

/// How SEIs are laid out.
#[derive(Debug, Clone)]
pub struct SignerOptions {
    /// Escape the SEI before hashing and set reserved-byte bit 6 (true, recommended), or hash the
    /// raw document and escape afterwards (false). Both validate; escaping first means the bytes
    /// on the wire are exactly the bytes that were signed.
    pub epb_before_hashing: bool,
    /// Send CRYPTO_INFO, VENDOR_INFO and CERTIFICATES once in a certificate SEI (bit 7) in the first
    /// access unit instead of in every GOP SEI. Saves ~600 B per GOP, but a clip cut from the
    /// middle then needs [`Signer::certificate_sei`] prepended by whoever cuts it.
    pub certificate_sei: bool,
    /// Omit the per-NAL hash list (GOP hash only): smaller, but tampering cannot be located.
    pub low_bitrate: bool,
}

impl Default for SignerOptions {
    fn default() -> Self {
        SignerOptions {
            epb_before_hashing: true,
            certificate_sei: false,
            low_bitrate: false,
        }
    }
}

impl VendorInfo {
    /// camward's vendor info: manufacturer "camward", firmware = this crate's version.
    pub fn camward(serial_number: impl Into<String>) -> Self {
        VendorInfo {
            firmware_version: env!("CARGO_PKG_VERSION").to_string(),
            serial_number: serial_number.into(),
            manufacturer: "camward".to_string(),
        }
    }
}

/// Counters for overhead measurements.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignerStats {
    pub gops_signed: u64,
    pub seis_emitted: u64,
    /// SEI bytes added to the stream (without start codes).
    pub sei_bytes: u64,
    /// GOPs left unsigned because the key returned an oversized or empty signature.
    pub sign_failures: u64,
}

/// Where a signer's GOP chain stands: the GENERAL counter of its next SEI and the anchor hash of
/// the last GOP it signed. A signer started with [`Signer::continue_chain`] from the state its
/// predecessor ended with ([`Signer::chain`]) keeps one unbroken chain across pipeline restarts,
/// so a viewer or recorder that stays connected through a restart sees no counter jump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainState {
    counter: u32,
    linked: [u8; format::HASH_SIZE],
}

/// The GOP being hashed.
struct OpenGop {
    anchor: [u8; format::HASH_SIZE],
    /// Concatenated hashes, anchor first.
    hashes: Vec<u8>,
    start_ts: i64,
}

/// Signs one H.264 stream. Not `Sync`: one signer per stream, driven by one thread.
pub struct Signer {
    key: Arc<dyn SigningKey>,
    opts: SignerOptions,
    vendor: VendorInfo,
    chain_pem: String,
    max_sig: usize,
    gop: Option<OpenGop>,
    /// Anchor hash of the previously signed GOP; zeros before the first.
    linked: [u8; format::HASH_SIZE],
    /// GENERAL counter of the next SEI (the reference starts at 1).
    counter: u32,
    /// SEIs signed when an I-frame closed their GOP, waiting for the next picture to carry them.
    queued: Vec<Bytes>,
    cert_sei: Option<Bytes>,
    cert_sei_sent: bool,
    last_ts: i64,
    stats: SignerStats,
    /// Reused between GOPs so steady state does not allocate for the document.
    scratch: Vec<u8>,
}

fn sha256(data: &[u8]) -> [u8; format::HASH_SIZE] {
    let d = digest::digest(&digest::SHA256, data);
    d.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

/// h(anchor || h(nal)): how every NAL of a GOP but the anchor is hashed (spec "linked hashes").
pub(crate) fn linked_hash(anchor: &[u8], nal_hash: &[u8]) -> [u8; format::HASH_SIZE] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(anchor);
    ctx.update(nal_hash);
    ctx.finish()
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

/// Hash of a NAL as the spec defines it: header to last byte, EPB kept, trailing zeros dropped.
pub(crate) fn nal_hash(nal: &[u8]) -> [u8; format::HASH_SIZE] {
    let mut end = nal.len();
    while end > 0 && nal[end - 1] == 0 {
        end -= 1;
    }
    sha256(&nal[..end])
}

/// True for the first slice of an IDR picture: the GOP anchor.
pub(crate) fn is_gop_start(nal: &[u8]) -> bool {
    NalType::of(nal) == NalType::Idr && camward_h264::nal::is_first_slice_of_picture(nal)
}

impl Signer {
    /// Errors when the key's certificate chain cannot be parsed (it is sent in every SEI).
    pub fn new(
        key: Arc<dyn SigningKey>,
        vendor: VendorInfo,
        opts: SignerOptions,
    ) -> Result<Self, Error> {
        let chain_pem = key.certificate_chain_pem();
        let chain = cert::parse_pem_chain(&chain_pem)?;
        let max_sig = chain.max_signature_len()?;
        Ok(Signer {
            key,
            opts,
            vendor,
            chain_pem,
            max_sig,
            gop: None,
            linked: [0; format::HASH_SIZE],
            counter: 1,
            queued: Vec::new(),
            cert_sei: None,
            cert_sei_sent: false,
            last_ts: 0,
            stats: SignerStats::default(),
            scratch: Vec::new(),
        })
    }

    pub fn stats(&self) -> SignerStats {
        self.stats
    }

    /// Where the chain stands now; hand it to the next signer of the same stream.
    pub fn chain(&self) -> ChainState {
        ChainState {
            counter: self.counter,
            linked: self.linked,
        }
    }

    /// Continues the chain a previous signer of this stream ended with (call before the first
    /// access unit): its first SEI links to that signer's last GOP and counts on from it.
    pub fn continue_chain(&mut self, state: ChainState) {
        if self.gop.is_none() {
            self.counter = state.counter;
            self.linked = state.linked;
        }
    }

    /// Hashes the access unit's slices. An IDR closes the open GOP: its SEI is signed at once and
    /// goes in front of the next picture's first slice (H.264 wants SEIs ahead of the picture).
    /// The ONVIF reference library places it there too (`I S P`, the spec's late placement, not
    /// `S I`): its validator cannot pair an SEI that precedes a file's first picture, which
    /// every cut at an IDR would otherwise start with. ONVIF SEIs already in the input are
    /// removed first: they belong to another signer.
    pub fn process(&mut self, au: &mut AccessUnit) {
        au.nals.retain(|n| !format::is_oms_sei(n));
        let ts = format::to_filetime(au.wallclock);
        self.last_ts = ts;
        let Some(first_slice) = au.nals.iter().position(|n| NalType::of(n).is_slice()) else {
            return;
        };
        let mut cert_insert: Option<Bytes> = None;
        let mut fresh: Option<Bytes> = None;
        for nal in au.nals[first_slice..].iter() {
            if !NalType::of(nal).is_slice() {
                continue;
            }
            if is_gop_start(nal) {
                let mut hashes = Vec::new();
                if let Some(done) = self.gop.take() {
                    fresh = self.sign_gop(&done, ts);
                    self.linked = done.anchor;
                    // Reuse the finished GOP's buffer: steady state allocates nothing per frame.
                    hashes = done.hashes;
                    hashes.clear();
                }
                if self.opts.certificate_sei && !self.cert_sei_sent {
                    cert_insert = Some(self.certificate_sei());
                    self.cert_sei_sent = true;
                }
                let anchor = nal_hash(nal);
                hashes.reserve(64 * format::HASH_SIZE);
                hashes.extend_from_slice(&anchor);
                self.gop = Some(OpenGop {
                    anchor,
                    hashes,
                    start_ts: ts,
                });
            } else if let Some(gop) = self.gop.as_mut() {
                // Slices before the first IDR have no anchor and stay unsigned.
                let h = linked_hash(&gop.anchor, &nal_hash(nal));
                gop.hashes.extend_from_slice(&h);
            }
        }
        // SEIs queued by an earlier IDR go first; one this picture's IDR just produced waits for
        // the next picture. The certificate SEI heads the chain's first access unit.
        let mut insert: Vec<Bytes> = cert_insert.into_iter().collect();
        insert.append(&mut self.queued);
        self.queued.extend(fresh);
        for sei in insert.iter().rev() {
            au.nals.insert(first_slice, sei.clone());
        }
        for sei in &insert {
            self.account(sei);
        }
    }

    /// Signs the open GOP at end of stream. Returns the SEIs still to be sent, oldest first (one
    /// still waiting for a picture after the last IDR, then the open GOP's); the caller appends
    /// them after the last picture, as the reference's end-of-stream SEI.
    pub fn finish(&mut self) -> Vec<Bytes> {
        let mut out = std::mem::take(&mut self.queued);
        if let Some(done) = self.gop.take() {
            // End is exclusive; without a next frame the last seen timestamp is the best bound.
            let end = self.last_ts.max(done.start_ts);
            out.extend(self.sign_gop(&done, end));
            self.linked = done.anchor;
        }
        for s in &out {
            self.account(s);
        }
        out
    }

    /// The certificate SEI (bit 7): crypto info, vendor info and the chain, signed. Exporters that
    /// cut a clip from a stream signed with [`SignerOptions::certificate_sei`] prepend it.
    pub fn certificate_sei(&mut self) -> Bytes {
        if let Some(s) = &self.cert_sei {
            return s.clone();
        }
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        self.put_optional_tags(&mut body);
        let sei = self
            .finish_sei(&body, format::FLAG_CERTIFICATE_SEI)
            .unwrap_or_default();
        self.scratch = body;
        self.cert_sei = Some(sei.clone());
        sei
    }

    fn account(&mut self, sei: &Bytes) {
        self.stats.seis_emitted += 1;
        self.stats.sei_bytes += sei.len() as u64;
    }

    fn put_optional_tags(&self, body: &mut Vec<u8>) {
        format::put_tlv(body, format::TAG_CRYPTO_INFO, |v| {
            v.push(1);
            v.push(format::SHA256_OID_DER.len() as u8);
            v.extend_from_slice(&format::SHA256_OID_DER);
            // EC keys need no signing-algorithm OID or RSA size (as the reference writes them).
            v.extend_from_slice(&[0, 0, 0]);
        });
        format::put_tlv(body, format::TAG_VENDOR_INFO, |v| {
            v.push(1);
            format::put_short_str(v, &self.vendor.firmware_version);
            format::put_short_str(v, &self.vendor.serial_number);
            format::put_short_str(v, &self.vendor.manufacturer);
        });
        format::put_tlv(body, format::TAG_CERTIFICATES, |v| {
            v.push(1);
            v.push(0); // not user provisioned
            v.extend_from_slice(self.chain_pem.as_bytes());
        });
    }

    /// Builds and signs the SEI for a finished (partial) GOP; tag order as the reference:
    /// CRYPTO_INFO, VENDOR_INFO, CERTIFICATES, GENERAL, HASH_LIST, SIGNATURE.
    fn sign_gop(&mut self, gop: &OpenGop, end_ts: i64) -> Option<Bytes> {
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        if !self.opts.certificate_sei {
            self.put_optional_tags(&mut body);
        }
        let n = gop.hashes.len() / format::HASH_SIZE;
        let gop_hash = sha256(&gop.hashes);
        format::put_tlv(&mut body, format::TAG_GENERAL, |v| {
            v.push(2);
            v.extend_from_slice(&format::FORMAT_VERSION);
            v.push(0); // triggered by the next I-frame, not a partial GOP
            v.extend_from_slice(&gop.start_ts.to_be_bytes());
            v.extend_from_slice(&end_ts.to_be_bytes());
            v.extend_from_slice(&self.counter.to_be_bytes());
            v.extend_from_slice(&(n.min(u16::MAX as usize) as u16).to_be_bytes());
            v.extend_from_slice(&gop_hash);
            v.extend_from_slice(&self.linked);
        });
        // Validators hold at most MAX_HASH_LIST_BYTES; beyond that the GOP hash alone signs the GOP.
        if !self.opts.low_bitrate && gop.hashes.len() <= format::MAX_HASH_LIST_BYTES {
            format::put_tlv(&mut body, format::TAG_HASH_LIST, |v| {
                v.push(1);
                v.extend_from_slice(&gop.hashes);
            });
        }
        let sei = self.finish_sei(&body, 0);
        self.scratch = body;
        self.counter = self.counter.wrapping_add(1);
        if sei.is_some() {
            self.stats.gops_signed += 1;
        }
        sei
    }

    /// Wraps TLV `body` into an SEI NAL, signs its document and appends the signature and stop bit.
    fn finish_sei(&mut self, body: &[u8], flags: u8) -> Option<Bytes> {
        let reserved = flags
            | if self.opts.epb_before_hashing {
                format::FLAG_EPB_BEFORE_HASHING
            } else {
                0
            };
        let sig_tlv_len = 3 + 1 + 2 + self.max_sig;
        let payload_size = format::UUID.len() + 1 + body.len() + sig_tlv_len;
        let mut rbsp = Vec::with_capacity(payload_size + 8);
        rbsp.push(0x06); // nal_ref_idc 0, type 6 (SEI)
        rbsp.push(format::USER_DATA_UNREGISTERED);
        format::put_sei_size(&mut rbsp, payload_size);
        rbsp.extend_from_slice(&format::UUID);
        rbsp.push(reserved);
        rbsp.extend_from_slice(body);
        let sig = if self.opts.epb_before_hashing {
            self.key.sign(&annexb::escape(&rbsp))
        } else {
            self.key.sign(&rbsp)
        };
        if sig.is_empty() || sig.len() > self.max_sig {
            self.stats.sign_failures += 1;
            return None;
        }
        format::put_tlv(&mut rbsp, format::TAG_SIGNATURE, |v| {
            v.push(1);
            v.extend_from_slice(&(sig.len() as u16).to_be_bytes());
            v.extend_from_slice(&sig);
            // 0x01 padding, as the reference: it never creates emulation-prevention runs.
            v.resize(v.len() + self.max_sig - sig.len(), 0x01);
        });
        rbsp.push(format::STOP_BYTE);
        // Escaping is streaming, so the escaped document is a prefix of the escaped NAL.
        Some(Bytes::from(annexb::escape(&rbsp)))
    }
}

impl cert::Chain {
    /// Largest DER ECDSA signature of the leaf key (72 B for P-256), reserved in every SEI.
    pub fn max_signature_len(&self) -> Result<usize, Error> {
        self.leaf_key().map(|k| k.max_signature_len())
    }
}

/// Groups Annex-B NAL units into access units (H.264 §7.4.1.2.3): an AUD, a parameter set or SEI
/// after a picture, or the first slice of a new picture opens a new access unit.
pub fn split_access_units(bytes: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut aus: Vec<Vec<&[u8]>> = Vec::new();
    let mut cur: Vec<&[u8]> = Vec::new();
    let mut has_vcl = false;
    for nal in annexb::split(bytes) {
        let t = NalType::of(nal);
        let opens = match t {
            NalType::Aud => true,
            NalType::Sps | NalType::Pps | NalType::Sei => has_vcl,
            NalType::Slice | NalType::Idr => {
                has_vcl && camward_h264::nal::is_first_slice_of_picture(nal)
            }
            NalType::Other(14..=18) => has_vcl,
            NalType::Other(_) => false,
        };
        if opens && !cur.is_empty() {
            aus.push(std::mem::take(&mut cur));
            has_vcl = false;
        }
        has_vcl |= t.is_slice();
        cur.push(nal);
    }
    if !cur.is_empty() {
        aus.push(cur);
    }
    aus
}

/// Signs an Annex-B stream in memory; frame `n` is stamped `start + n * frame_interval`.
/// The end-of-stream SEI signing the last GOP is appended after the last picture.
pub fn sign_annexb(
    input: &[u8],
    signer: &mut Signer,
    start: SystemTime,
    frame_interval: Duration,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 50);
    for (n, nals) in split_access_units(input).into_iter().enumerate() {
        let key = nals.iter().any(|n| is_gop_start(n));
        let mut au = AccessUnit {
            pts90k: n as u64 * 3600,
            wallclock: start + frame_interval * n as u32,
            key,
            nals: nals.into_iter().map(Bytes::copy_from_slice).collect(),
        };
        signer.process(&mut au);
        annexb::join(au.nals.iter().map(|b| &b[..]), &mut out);
    }
    let tail = signer.finish();
    annexb::join(tail.iter().map(|b| &b[..]), &mut out);
    out
}

/// Test and tool helper: signs `input` (Annex-B) into `output`, 25 frames/s from now.
pub fn sign_annexb_file(
    input: &Path,
    output: &Path,
    signer: &mut Signer,
) -> Result<SignerStats, Error> {
    let bytes =
        std::fs::read(input).map_err(|e| Error::io(format!("reading {}", input.display()), e))?;
    let signed = sign_annexb(&bytes, signer, SystemTime::now(), Duration::from_millis(40));
    std::fs::write(output, signed)
        .map_err(|e| Error::io(format!("writing {}", output.display()), e))?;
    Ok(signer.stats())
}
