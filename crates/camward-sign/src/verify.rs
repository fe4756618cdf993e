//! The verifier (white paper §3.9): hashes every slice, decodes every ONVIF SEI, checks signatures
//! and the chain, then lets each SEI validate the GOP it signs and names the frames that are not
//! authentic, missing or reordered.

// Validation follows the ONVIF reference validator's reading of a stream, so both name the same
// frames: in stream order, each SEI takes the oldest pending GOP before it (docs/design/
// media-signing.md, "Verification"). Only at the start of a file does the anchor hash h(I) that
// opens a hash list pick the GOP, to skip an SEI signing a GOP before the file.

use crate::cert::{self, Chain, LeafKey, Provenance, SignerInfo};
use crate::format::{self, General, OmsSei, VendorInfo};
use crate::signer::{is_gop_start, linked_hash, nal_hash};
use camward_h264::{NalType, nal};
use serde::Serialize;
use std::time::SystemTime;

type Hash = [u8; format::HASH_SIZE];

/// Below this many bytes a batch is hashed on the calling thread (thread start-up would cost more).
const PARALLEL_HASH_BYTES: usize = 1 << 20;
/// NAL units handed to [`Verifier::push_batch`] at a time by the file front ends.
const BATCH_BYTES: usize = 16 << 20;

/// What to trust and when.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// PEM of the trust anchor(s) (the camera vendor's or the site's root CA).
    pub trust_anchor_pem: Option<String>,
    /// Time at which certificates must be valid (default: now). Pin it to check old clips whose
    /// certificate has expired since.
    pub at: Option<SystemTime>,
}

/// The verdict for one GOP, or for the whole stream (the worst GOP verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every frame matches the signed hashes, the signature and the chain link verify.
    Authentic,
    /// Signed, but the signature could not be checked (no certificate, unsupported key).
    NotVerifiable,
    /// Not covered by any signature yet: the stream ends before the SEI of these frames
    /// (truncated file or live capture). Not an alteration by itself.
    Pending,
    /// No signature where one was expected (between signed GOPs), or a wholly unsigned stream.
    Unsigned,
    /// All present frames are authentic but some signed frames are missing.
    MissingFrames,
    /// All frames are authentic but their order was changed.
    Reordered,
    /// Frames do not match their signed hashes, or a signature does not verify.
    Altered,
}

impl Verdict {
    /// Stream-level severity; Pending does not spoil an otherwise authentic stream.
    fn severity(self) -> u8 {
        match self {
            Verdict::Authentic | Verdict::Pending => 0,
            Verdict::NotVerifiable => 1,
            Verdict::Unsigned => 2,
            Verdict::MissingFrames => 3,
            Verdict::Reordered => 4,
            Verdict::Altered => 5,
        }
    }
}

/// A run of signed NAL units that are not in the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingRun {
    /// Missing after this frame (decode order, 0-based); `None` = before the GOP's first frame.
    pub after_frame: Option<u32>,
    pub count: usize,
}

/// One GOP (or partial GOP) and what happened to it.
#[derive(Debug, Clone, Serialize)]
pub struct GopReport {
    /// GENERAL GOP counter of the SEI that signs it.
    pub counter: Option<u32>,
    pub verdict: Verdict,
    /// Frame range (decode order, 0-based, inclusive); `None` for a GOP that is missing entirely.
    pub frames: Option<(u32, u32)>,
    /// NAL unit index range of its hashed NAL units (0-based, inclusive).
    pub nals: Option<(usize, usize)>,
    /// NAL index of the SEI that signs it.
    pub sei_nal: Option<usize>,
    /// Signed time span (RFC 3339) from the SEI.
    pub start: Option<String>,
    pub end: Option<String>,
    /// Frames whose NAL units do not match any signed hash.
    pub altered_frames: Vec<u32>,
    /// NAL indices of those NAL units.
    pub altered_nals: Vec<usize>,
    pub missing: Vec<MissingRun>,
    /// Frames present and signed but out of their signed order.
    pub reordered_frames: Vec<u32>,
    pub reasons: Vec<String>,
}

/// Stream statistics, named as the reference validator prints them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub received_nalus: usize,
    pub validated_nalus: usize,
    pub pending_nalus: usize,
    pub received_frames: u32,
    pub validated_frames: u32,
    pub pending_frames: u32,
    pub total_bytes: u64,
    pub media_signing_bytes: u64,
}

/// A change of signing key between two SEIs.
#[derive(Debug, Clone, Serialize)]
pub struct KeyChange {
    pub sei_nal: usize,
    pub old_signer: String,
    pub new_signer: String,
}

/// Everything `camward verify` says about a stream.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub verdict: Verdict,
    pub provenance: Provenance,
    pub signer: Option<SignerInfo>,
    pub vendor: Option<VendorInfo>,
    /// Media signing library version claimed by the signer.
    pub signer_version: Option<String>,
    /// Signed time span of the validated GOPs (RFC 3339, from the SEIs' 1601-based timestamps).
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    pub counts: Counts,
    pub gops: Vec<GopReport>,
    pub public_key_changes: Vec<KeyChange>,
    /// Observations that do not change the verdict.
    pub notes: Vec<String>,
    /// Malformed input, with NAL index and byte offset.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigStatus {
    Valid,
    Invalid,
    /// No certificate chain known or the key type is unsupported.
    NoKey,
    Unsigned,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Slice { hash: u32, gop_start: bool },
    Sei(u32),
    Other,
}

struct NalRec {
    kind: Kind,
    /// Frame of a slice (0-based decode order).
    frame: Option<u32>,
}

struct SeiRec {
    nal: usize,
    sei: OmsSei,
    sig: SigStatus,
    /// Hash the SEI contributes to a later list when it is not signed itself.
    item_hash: Option<Hash>,
}

struct KnownChain {
    pem: String,
    chain: Chain,
    key: Option<LeafKey>,
    spki: Vec<u8>,
}

/// Incremental verifier: feed NAL units in stream order, then [`Verifier::finish`].
pub struct Verifier {
    opts: VerifyOptions,
    nals: Vec<NalRec>,
    slice_hashes: Vec<Hash>,
    seis: Vec<SeiRec>,
    chains: Vec<KnownChain>,
    current_chain: Option<usize>,
    key_changes: Vec<KeyChange>,
    frames: u32,
    media_signing_bytes: u64,
    errors: Vec<String>,
    notes: Vec<String>,
}

fn fmt_ts(ft: i64) -> Option<String> {
    let t = format::from_filetime(ft)?;
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

impl Verifier {
    pub fn new(opts: VerifyOptions) -> Self {
        Verifier {
            opts,
            nals: Vec::new(),
            slice_hashes: Vec::new(),
            seis: Vec::new(),
            chains: Vec::new(),
            current_chain: None,
            key_changes: Vec::new(),
            frames: 0,
            media_signing_bytes: 0,
            errors: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds one NAL unit (no start code or length prefix); `offset` is its byte position in the
    /// file and `framing` the bytes of start code / length prefix in front of it (for footprints).
    pub fn push_nal(&mut self, nal_bytes: &[u8], offset: u64, framing: u64) {
        self.push_nal_hashed(nal_bytes, offset, framing, None);
    }

    /// Adds NAL units in order, hashing their slices on several threads first when there is
    /// enough to share: verification is bound by SHA-256 over the slices.
    pub fn push_batch(&mut self, nals: &[(&[u8], u64, u64)]) {
        let bytes: usize = nals.iter().map(|n| n.0.len()).sum();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4);
        if threads < 2 || bytes < PARALLEL_HASH_BYTES {
            for &(nal, offset, framing) in nals {
                self.push_nal(nal, offset, framing);
            }
            return;
        }
        let is_slice =
            |n: &[u8]| matches!(NalType::of(n), NalType::Slice | NalType::Idr) && n.len() >= 2;
        // Contiguous shares of about equal bytes, one per thread.
        let mut hashes: Vec<Option<Hash>> = vec![None; nals.len()];
        std::thread::scope(|scope| {
            let per = bytes.div_ceil(threads);
            let mut rest: &mut [Option<Hash>] = &mut hashes;
            let mut from = 0;
            while from < nals.len() {
                let (mut to, mut sum) = (from, 0);
                while to < nals.len() && (sum < per || to == from) {
                    sum += nals[to].0.len();
                    to += 1;
                }
                let (mine, tail) = rest.split_at_mut(to - from);
                rest = tail;
                let part = &nals[from..to];
                scope.spawn(move || {
                    for (h, (nal, _, _)) in mine.iter_mut().zip(part) {
                        if is_slice(nal) {
                            *h = Some(nal_hash(nal));
                        }
                    }
                });
                from = to;
            }
        });
        for (&(nal, offset, framing), h) in nals.iter().zip(hashes) {
            self.push_nal_hashed(nal, offset, framing, h);
        }
    }

    fn push_nal_hashed(&mut self, nal_bytes: &[u8], offset: u64, framing: u64, hash: Option<Hash>) {
        let idx = self.nals.len();
        let t = NalType::of(nal_bytes);
        let rec = match t {
            NalType::Slice | NalType::Idr if nal_bytes.len() >= 2 => {
                if nal::is_first_slice_of_picture(nal_bytes) || self.frames == 0 {
                    self.frames += 1;
                }
                self.slice_hashes
                    .push(hash.unwrap_or_else(|| nal_hash(nal_bytes)));
                NalRec {
                    kind: Kind::Slice {
                        hash: (self.slice_hashes.len() - 1) as u32,
                        gop_start: is_gop_start(nal_bytes),
                    },
                    frame: Some(self.frames - 1),
                }
            }
            NalType::Sei if format::is_oms_sei(nal_bytes) => {
                self.media_signing_bytes += nal_bytes.len() as u64 + framing;
                match format::parse_oms_sei(nal_bytes) {
                    Ok(Some(sei)) => {
                        let s = self.register_sei(idx, nal_bytes, sei);
                        NalRec {
                            kind: Kind::Sei(s),
                            frame: None,
                        }
                    }
                    Ok(None) => NalRec {
                        kind: Kind::Other,
                        frame: None,
                    },
                    Err(e) => {
                        self.errors
                            .push(format!("NAL {idx} (byte offset {offset}): {e}"));
                        NalRec {
                            kind: Kind::Other,
                            frame: None,
                        }
                    }
                }
            }
            _ => NalRec {
                kind: Kind::Other,
                frame: None,
            },
        };
        self.nals.push(rec);
    }

    fn chain_index(&mut self, pem: &str, nal: usize) -> Option<usize> {
        if let Some(i) = self.chains.iter().position(|c| c.pem == pem) {
            return Some(i);
        }
        match cert::parse_pem_chain(pem) {
            Ok(chain) => {
                let key = match chain.leaf_key() {
                    Ok(k) => Some(k),
                    Err(e) => {
                        self.errors
                            .push(format!("NAL {nal}: signing key unusable: {e}"));
                        None
                    }
                };
                let spki = chain.leaf_spki();
                self.chains.push(KnownChain {
                    pem: pem.to_string(),
                    chain,
                    key,
                    spki,
                });
                Some(self.chains.len() - 1)
            }
            Err(e) => {
                self.errors
                    .push(format!("NAL {nal}: certificate chain in SEI: {e}"));
                None
            }
        }
    }

    fn register_sei(&mut self, nal: usize, bytes: &[u8], sei: OmsSei) -> u32 {
        if let Some(c) = &sei.crypto
            && c.hash_oid != format::SHA256_OID_DER
        {
            self.errors.push(format!(
                    "NAL {nal}: hash algorithm OID {:02x?} is not SHA-256; this verifier only supports SHA-256",
                    c.hash_oid
                ));
        }
        let mut sig = SigStatus::Unsigned;
        if sei.is_signed() {
            // Only a signed SEI may introduce a chain: an unsigned one could carry anything.
            if let Some((_, pem)) = &sei.certificates
                && let Some(ci) = self.chain_index(pem, nal)
            {
                if let Some(prev) = self.current_chain
                    && self.chains[prev].spki != self.chains[ci].spki
                {
                    self.key_changes.push(KeyChange {
                        sei_nal: nal,
                        old_signer: self.chains[prev].chain.signer_info().subject,
                        new_signer: self.chains[ci].chain.signer_info().subject,
                    });
                }
                self.current_chain = Some(ci);
            }
            sig = match self.current_chain.and_then(|c| self.chains[c].key.as_ref()) {
                Some(key) => {
                    if key.verify(&sei.document, sei.signature.as_deref().unwrap_or_default()) {
                        SigStatus::Valid
                    } else {
                        SigStatus::Invalid
                    }
                }
                None => SigStatus::NoKey,
            };
        }
        let item_hash =
            (!sei.is_signed()).then(|| nal_hash(&format::unsigned_sei_hashable(bytes, &sei)));
        self.seis.push(SeiRec {
            nal,
            sei,
            sig,
            item_hash,
        });
        (self.seis.len() - 1) as u32
    }

    /// Pairs SEIs with GOPs and produces the report.
    pub fn finish(self) -> Report {
        Finisher::new(self).run()
    }
}

/// A hashed NAL unit: a slice, or an unsigned ONVIF SEI (multi-GOP signing).
struct Item {
    nal: usize,
    frame: Option<u32>,
    /// The hash a signed list holds for it: h(I) for a GOP's anchor, h(h(I) || h(nal)) for the
    /// rest, with the anchor that precedes it *in this stream* (as a validator must compute it).
    hash: Hash,
    gop_start: bool,
}

/// Per-item outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Pending,
    Valid,
    Invalid,
}

/// A stretch of pending items: from a GOP start (or the first pending item) to the next.
#[derive(Debug, Clone, Copy)]
struct Segment {
    from: usize,
    to: usize,
}

/// Validation in stream order, following the ONVIF reference validator's rules (r25.12.3) so
/// both name the same frames: an SEI validates the oldest pending GOP before it (items up to
/// the next GOP start or up to the SEI); a GOP whose SEI was lost (GOP counter jump) is not
/// authentic; a linked hash that does not name the previous GOP's first item as this stream
/// holds it makes this GOP's first item not authentic; within a GOP the list is matched
/// forward, an unmatched item is not authentic and skipped list entries are missing.
struct Finisher {
    v: Verifier,
    items: Vec<Item>,
    marks: Vec<Mark>,
    /// Items before this one are decided.
    cursor: usize,
    /// An SEI validated at least one item: later SEIs are checked for order.
    in_sync: bool,
    last_counter: Option<u32>,
    /// List hash of the first item of the previously decided GOP (what the next linked hash names).
    prev_first: Option<Hash>,
    /// (GOP counter, GOP hash) of the SEIs used so far, to recognise a repeated SEI.
    used: std::collections::HashSet<(u32, Vec<u8>)>,
    reports: Vec<(usize, GopReport)>,
    notes: Vec<String>,
    validated_any: bool,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    /// NAL of an SEI found to sign a GOP before the file.
    leading_sei: Option<usize>,
}

impl Finisher {
    fn new(mut v: Verifier) -> Self {
        let mut items: Vec<Item> = Vec::new();
        let mut anchor: Option<Hash> = None;
        let mut orphans = 0;
        for (i, rec) in v.nals.iter().enumerate() {
            match rec.kind {
                Kind::Slice { hash, gop_start } => {
                    let plain = v.slice_hashes[hash as usize];
                    let hash = if gop_start {
                        anchor = Some(plain);
                        plain
                    } else if let Some(a) = &anchor {
                        linked_hash(a, &plain)
                    } else {
                        // Before the first IDR: no anchor to hash with, outside any signed GOP
                        // this stream holds. Left out, as the reference leaves them out.
                        orphans += 1;
                        continue;
                    };
                    items.push(Item {
                        nal: i,
                        frame: rec.frame,
                        hash,
                        gop_start,
                    });
                }
                // Unsigned ONVIF SEIs are hashed without the anchor, like the reference signer.
                Kind::Sei(s) => {
                    if let Some(h) = v.seis[s as usize].item_hash {
                        items.push(Item {
                            nal: i,
                            frame: None,
                            hash: h,
                            gop_start: false,
                        });
                    }
                }
                Kind::Other => {}
            }
        }
        if orphans > 0 {
            v.notes.push(format!(
                "{orphans} slice(s) before the first IDR frame cannot be verified (stream starts mid-GOP)"
            ));
        }
        let notes = std::mem::take(&mut v.notes);
        let n = items.len();
        Finisher {
            v,
            items,
            marks: vec![Mark::Pending; n],
            cursor: 0,
            in_sync: false,
            last_counter: None,
            prev_first: None,
            used: std::collections::HashSet::new(),
            reports: Vec::new(),
            notes,
            validated_any: false,
            first_ts: None,
            last_ts: None,
            leading_sei: None,
        }
    }

    /// Pending items before NAL `nal`, split at GOP starts.
    fn segments_before(&self, nal: usize) -> Vec<Segment> {
        let mut segs: Vec<Segment> = Vec::new();
        let mut i = self.cursor;
        while i < self.items.len() && self.items[i].nal < nal {
            match segs.last_mut() {
                Some(s) if !self.items[i].gop_start => s.to = i + 1,
                _ => segs.push(Segment { from: i, to: i + 1 }),
            }
            i += 1;
        }
        segs
    }

    fn run(mut self) -> Report {
        let sei_order: Vec<usize> = (0..self.v.seis.len())
            .filter(|&s| {
                let r = &self.v.seis[s];
                !r.sei.is_certificate_sei() && r.sei.general.is_some()
            })
            .collect();
        for &s in &sei_order {
            self.on_sei(s);
        }

        // What no SEI decided: pending at the end of a signed stream, unsigned otherwise.
        let signed_any = !sei_order.is_empty();
        let mut pending_from: Option<usize> = None;
        let rest = self.segments_before(usize::MAX);
        for seg in rest {
            let items = &self.items[seg.from..seg.to];
            let mut r = blank_report(items);
            if signed_any {
                r.verdict = Verdict::Pending;
                r.reasons.push(
                    "no SEI signs these frames yet (stream ends before their signature)".into(),
                );
                pending_from.get_or_insert(items[0].nal);
            } else {
                r.verdict = Verdict::Unsigned;
                r.reasons
                    .push("no ONVIF Media Signing SEI in the stream".into());
            }
            self.reports.push((items[0].nal, r));
        }
        let mut forged_cert_sei = false;
        for r in self.v.seis.iter().filter(|r| r.sei.is_certificate_sei()) {
            if r.sig == SigStatus::Invalid {
                self.v.errors.push(format!(
                    "certificate SEI at NAL {}: signature does not verify",
                    r.nal
                ));
                forged_cert_sei = true;
            }
        }
        let mut notes = std::mem::take(&mut self.notes);
        if sei_order.is_empty() && !self.v.seis.is_empty() {
            notes.push("only certificate SEIs found: no GOP is signed".into());
        }
        self.reports.sort_by_key(|(k, _)| *k);
        let gops: Vec<GopReport> = std::mem::take(&mut self.reports)
            .into_iter()
            .map(|(_, r)| r)
            .collect();

        let mut verdict = if signed_any {
            Verdict::Authentic
        } else {
            Verdict::Unsigned
        };
        for g in &gops {
            if g.verdict.severity() > verdict.severity() {
                verdict = g.verdict;
            }
        }
        if signed_any && gops.iter().all(|g| g.verdict == Verdict::Pending) {
            verdict = Verdict::Pending;
        }
        // A hole in the signatures of a signed stream is tampering evidence (an SEI was removed
        // or unsigned pictures were inserted), as the reference validator treats a lost SEI.
        if forged_cert_sei || (signed_any && gops.iter().any(|g| g.verdict == Verdict::Unsigned)) {
            verdict = Verdict::Altered;
        }

        let at = self.v.opts.at.unwrap_or_else(SystemTime::now);
        let anchor = self.v.opts.trust_anchor_pem.as_deref();
        let provenance =
            worst_provenance(self.v.chains.iter().map(|c| c.chain.provenance(anchor, at)));
        if !self.v.key_changes.is_empty()
            && provenance != Provenance::Trusted
            && verdict.severity() < 5
        {
            notes.push(
                "public key changed mid-stream and the new key is not trusted: treated as altered"
                    .into(),
            );
            verdict = Verdict::Altered;
        }
        let signer = self.v.current_chain.or(if self.v.chains.is_empty() {
            None
        } else {
            Some(0)
        });
        let signer = signer.map(|c| self.v.chains[c].chain.signer_info());
        let vendor = self.v.seis.iter().rev().find_map(|s| s.sei.vendor.clone());
        let signer_version = self.v.seis.iter().find_map(|s| {
            s.sei.general.as_ref().map(|g| {
                format!(
                    "r{}.{}.{}",
                    g.lib_version[0], g.lib_version[1], g.lib_version[2]
                )
            })
        });

        let received_nalus = self.v.nals.len();
        // Nothing validated in an unsigned stream: everything is pending, as the reference counts.
        let pending_from = if self.validated_any {
            pending_from
        } else {
            Some(0)
        };
        let validated_nalus = pending_from.unwrap_or(received_nalus);
        let pending_frames = pending_from
            .map(|p| {
                let first = self.v.nals[p..]
                    .iter()
                    .find_map(|n| n.frame)
                    .unwrap_or(self.v.frames);
                self.v.frames - first
            })
            .unwrap_or(0);
        let counts = Counts {
            received_nalus,
            validated_nalus,
            pending_nalus: received_nalus - validated_nalus,
            received_frames: self.v.frames,
            validated_frames: self.v.frames - pending_frames,
            pending_frames,
            total_bytes: 0,
            media_signing_bytes: self.v.media_signing_bytes,
        };
        Report {
            verdict,
            provenance,
            signer,
            vendor,
            signer_version,
            first_timestamp: self.first_ts.and_then(fmt_ts),
            last_timestamp: self.last_ts.and_then(fmt_ts),
            counts,
            gops,
            public_key_changes: self.v.key_changes,
            notes,
            errors: self.v.errors,
        }
    }

    /// One GOP SEI, in stream order: which pending GOP it validates, and how that GOP fares.
    fn on_sei(&mut self, s: usize) {
        let rec = &self.v.seis[s];
        let general = rec.sei.general.clone().expect("filtered on GENERAL");
        let list: Vec<Hash> = rec
            .sei
            .hashes()
            .map(|h| h.try_into().expect("chunks of HASH_SIZE"))
            .collect();
        let (sei_nal, sig) = (rec.nal, rec.sig);
        // The spec allows sending an SEI twice for redundancy: a copy signs nothing new.
        if !self
            .used
            .insert((general.gop_counter, general.gop_hash.clone()))
        {
            self.notes.push(format!(
                "SEI at NAL {sei_nal} repeats GOP counter {}",
                general.gop_counter
            ));
            return;
        }
        let segs = self.segments_before(sei_nal);
        if segs.is_empty() {
            // Nothing pending before it: it signs frames this stream does not hold (beyond a cut,
            // or a GOP removed together with its neighbour's signature).
            self.notes.push(format!(
                "SEI at NAL {sei_nal} (GOP counter {}) has no frames to sign before it",
                general.gop_counter
            ));
            return;
        }
        // GOP counter continuity, once validation is in step with the signer.
        let gap = match (self.in_sync, self.last_counter) {
            (true, Some(last)) => general.gop_counter.wrapping_sub(last.wrapping_add(1)) as i32,
            _ => 0,
        };
        // SEIs lost in between: the GOPs they signed are not authentic, oldest first, but the
        // newest complete GOP before this SEI is left for it (the reference's rule, so a GOP
        // removed together with the next one's SEI marks the GOP before the hole).
        let mut lost = if gap > 0 {
            (gap as usize).min(segs.len().saturating_sub(2))
        } else {
            0
        };
        if !self.in_sync && segs.len() > 1 {
            // Still finding the first GOP this file holds a signature for: when the GOP the SEI
            // would take does not start with its signed anchor but a later complete one does,
            // the earlier ones lost their SEI (removed with the frame that carried it), rather
            // than every later SEI being read against the GOP before its own.
            let anchored = |seg: &Segment| list.first() == Some(&self.items[seg.from].hash);
            if !anchored(&segs[lost])
                && let Some(k) = segs[..segs.len() - 1].iter().position(anchored)
            {
                lost = k;
            }
        }
        for seg in &segs[..lost] {
            let items = &self.items[seg.from..seg.to];
            let mut r = blank_report(items);
            r.verdict = Verdict::Unsigned;
            r.reasons.push(match self.last_counter {
                Some(last) => format!(
                    "no signature for this GOP: GOP counter jumps from {last} to {}, its SEI was removed",
                    general.gop_counter
                ),
                None => "no signature for this GOP: its SEI was removed".to_string(),
            });
            for it in items {
                push_frame(&mut r.altered_frames, it.frame);
                r.altered_nals.push(it.nal);
            }
            for m in &mut self.marks[seg.from..seg.to] {
                *m = Mark::Invalid;
            }
            self.prev_first = Some(items[0].hash);
            self.reports.push((items[0].nal, r));
        }
        let target = segs[lost];
        let own_gop = segs.len() == 1;
        let mut r = self.evaluate(target, &list, &general, sig, sei_nal);
        let matched = self.marks[target.from..target.to].contains(&Mark::Valid);
        if !self.in_sync && !matched && own_gop && sig != SigStatus::Invalid {
            // At the start of a file cut at an IDR, the first SEI usually signs the GOP before
            // the cut; it is not evidence against the GOP it sits in.
            for m in &mut self.marks[target.from..target.to] {
                *m = Mark::Pending;
            }
            self.notes.push(format!(
                "SEI at NAL {sei_nal} (GOP counter {}) signs a GOP that starts before this file",
                general.gop_counter
            ));
            self.leading_sei.get_or_insert(sei_nal);
            return;
        }
        if gap > 0 && lost == 0 {
            let why = format!(
                "GOP counter jumps from {} to {}: {gap} signed GOP(s) lost",
                self.last_counter.unwrap_or_default(),
                general.gop_counter
            );
            if !matched && sig == SigStatus::Valid {
                // Nothing of it matches the next GOP's signature: its own was removed (together
                // with the GOP after it, whose first picture carried it).
                r.verdict = Verdict::Unsigned;
                r.reasons = vec![format!("no signature for this GOP: {why}")];
            } else {
                r.reasons.push(why);
            }
        }
        if gap < 0 {
            // An SEI older than the last one used: GOPs or SEIs were reordered.
            r.reasons.push(format!(
                "GOP counter goes back from {} to {}: SEIs or GOPs reordered",
                self.last_counter.unwrap_or_default(),
                general.gop_counter
            ));
            let items = &self.items[target.from..target.to];
            r.altered_frames.clear();
            r.altered_nals.clear();
            for it in items {
                push_frame(&mut r.altered_frames, it.frame);
                r.altered_nals.push(it.nal);
            }
            for m in &mut self.marks[target.from..target.to] {
                *m = Mark::Invalid;
            }
            raise(&mut r, Verdict::Altered);
        } else {
            self.last_counter = Some(general.gop_counter);
        }
        self.in_sync |= matched;
        self.validated_any = true;
        self.prev_first = Some(self.items[target.from].hash);
        self.cursor = target.to;
        self.first_ts = Some(
            self.first_ts
                .map_or(general.start_ts, |t| t.min(general.start_ts)),
        );
        self.last_ts = Some(
            self.last_ts
                .map_or(general.end_ts, |t| t.max(general.end_ts)),
        );
        r.counter = Some(general.gop_counter);
        r.sei_nal = Some(sei_nal);
        r.start = fmt_ts(general.start_ts);
        r.end = fmt_ts(general.end_ts);
        self.reports.push((self.items[target.from].nal, r));
    }

    /// Compares a GOP's items with the signed list and names what differs.
    fn evaluate(
        &mut self,
        seg: Segment,
        list: &[Hash],
        general: &General,
        sig: SigStatus,
        sei_nal: usize,
    ) -> GopReport {
        let items = &self.items[seg.from..seg.to];
        let marks = &mut self.marks[seg.from..seg.to];
        let mut r = blank_report(items);
        let all_invalid = |r: &mut GopReport, marks: &mut [Mark]| {
            for (it, m) in items.iter().zip(marks.iter_mut()) {
                *m = Mark::Invalid;
                push_frame(&mut r.altered_frames, it.frame);
                r.altered_nals.push(it.nal);
            }
        };
        match sig {
            SigStatus::Valid => {}
            SigStatus::Invalid => {
                r.reasons.push(format!(
                    "SEI signature at NAL {sei_nal} does not verify: SEI altered or forged"
                ));
                all_invalid(&mut r, marks);
                raise(&mut r, Verdict::Altered);
                return r;
            }
            SigStatus::NoKey => {
                r.reasons
                    .push("no usable certificate to check the SEI signature".into());
                raise(&mut r, Verdict::NotVerifiable);
            }
            SigStatus::Unsigned => r
                .reasons
                .push("covered by an unsigned SEI (multi-GOP signing)".into()),
        }

        if list.is_empty() {
            let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
            for it in items {
                ctx.update(&it.hash);
            }
            if ctx.finish().as_ref() == general.gop_hash.as_slice() {
                marks.iter_mut().for_each(|m| *m = Mark::Valid);
            } else {
                r.reasons.push(
                    "GOP hash mismatch (no hash list: the altered frame cannot be located)".into(),
                );
                all_invalid(&mut r, marks);
                raise(&mut r, Verdict::Altered);
            }
        } else {
            // Forward matching: each item is looked for after the last match; list entries
            // skipped over are missing, less the unmatched items standing in between (a modified
            // NAL takes its slot, it does not leave a hole).
            let (mut last, mut invalid_since, mut seen) = (None::<usize>, 0usize, 0usize);
            let mut prev_frame = self.v.nals[..items[0].nal]
                .iter()
                .rev()
                .find_map(|n| n.frame);
            let mut moved = 0usize;
            for (it, m) in items.iter().zip(marks.iter_mut()) {
                seen += 1;
                let from = last.map_or(0, |l| l + 1);
                match list[from.min(list.len())..]
                    .iter()
                    .position(|h| *h == it.hash)
                {
                    Some(off) => {
                        let gap = off.saturating_sub(invalid_since);
                        if gap > 0 {
                            r.missing.push(MissingRun {
                                after_frame: prev_frame,
                                count: gap,
                            });
                            seen += gap;
                        }
                        *m = Mark::Valid;
                        last = Some(from + off);
                        invalid_since = 0;
                    }
                    None => {
                        *m = Mark::Invalid;
                        invalid_since += 1;
                        push_frame(&mut r.altered_frames, it.frame);
                        r.altered_nals.push(it.nal);
                        if list.contains(&it.hash) {
                            moved += 1;
                            push_frame(&mut r.reordered_frames, it.frame);
                        }
                    }
                }
                prev_frame = it.frame.or(prev_frame);
            }
            let at_end = list.len().saturating_sub(seen);
            if at_end > 0 {
                r.missing.push(MissingRun {
                    after_frame: prev_frame,
                    count: at_end,
                });
            }
            if !r.altered_nals.is_empty() {
                if moved == r.altered_nals.len() {
                    r.reasons
                        .push(format!("{moved} NAL unit(s) out of their signed order"));
                    raise(&mut r, Verdict::Reordered);
                } else {
                    r.reasons.push(format!(
                        "{} NAL unit(s) do not match the signed hashes",
                        r.altered_nals.len() - moved
                    ));
                    raise(&mut r, Verdict::Altered);
                }
            }
            if !r.missing.is_empty() {
                let n: usize = r.missing.iter().map(|m| m.count).sum();
                r.reasons.push(format!("{n} signed NAL unit(s) missing"));
                raise(&mut r, Verdict::MissingFrames);
            }
        }
        // Whole-GOP order: the linked hash names the first item of the GOP decided before this
        // one, as this stream holds it. A GOP removed, moved or with an altered anchor before
        // this one makes this GOP's first item not authentic.
        if let Some(prev) = self.prev_first
            && general.linked_hash != prev
        {
            let first = &items[0];
            if marks[0] != Mark::Invalid {
                marks[0] = Mark::Invalid;
                push_frame(&mut r.altered_frames, first.frame);
                r.altered_frames.sort_unstable();
                r.altered_nals.insert(0, first.nal);
            }
            r.reasons
                .push(if general.linked_hash.iter().all(|&b| b == 0) {
                    "linked hash is zero: signing restarted mid-stream".into()
                } else {
                    "linked hash does not match the previous GOP: GOP(s) removed, moved or altered"
                        .into()
                });
            raise(&mut r, Verdict::Altered);
        }
        r
    }
}

fn push_frame(frames: &mut Vec<u32>, f: Option<u32>) {
    if let Some(f) = f
        && !frames.contains(&f)
    {
        frames.push(f);
    }
}

fn raise(r: &mut GopReport, v: Verdict) {
    if v.severity() > r.verdict.severity() {
        r.verdict = v;
    }
}

fn blank_report(items: &[Item]) -> GopReport {
    let frames = items.iter().filter_map(|i| i.frame);
    let (lo, hi) = (frames.clone().min(), frames.max());
    GopReport {
        counter: None,
        verdict: Verdict::Authentic,
        frames: lo.zip(hi),
        nals: items
            .first()
            .map(|f| (f.nal, items.last().expect("non-empty").nal)),
        sei_nal: None,
        start: None,
        end: None,
        altered_frames: Vec::new(),
        altered_nals: Vec::new(),
        missing: Vec::new(),
        reordered_frames: Vec::new(),
        reasons: Vec::new(),
    }
}

fn worst_provenance(it: impl Iterator<Item = Provenance>) -> Provenance {
    let rank = |p: &Provenance| match p {
        Provenance::Trusted => 0,
        Provenance::SelfSigned => 1,
        Provenance::Untrusted(_) => 2,
        Provenance::NotVerifiable => 3,
    };
    let mut worst: Option<Provenance> = None;
    for p in it {
        if worst.as_ref().is_none_or(|w| rank(&p) > rank(w)) {
            worst = Some(p);
        }
    }
    worst.unwrap_or(Provenance::NotVerifiable)
}

/// Verifies an Annex-B H.264 byte stream.
pub fn verify_annexb(bytes: &[u8], opts: &VerifyOptions) -> Report {
    verify_annexb_with_progress(bytes, opts, &mut |_| {})
}

/// As [`verify_annexb`], calling `progress` with the byte offset reached now and then.
pub fn verify_annexb_with_progress(
    bytes: &[u8],
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(u64),
) -> Report {
    let mut v = Verifier::new(opts.clone());
    let base = bytes.as_ptr() as usize;
    let mut batch: Vec<(&[u8], u64, u64)> = Vec::new();
    let mut batch_bytes = 0;
    for nal in camward_h264::annexb::split(bytes) {
        let offset = (nal.as_ptr() as usize - base) as u64;
        let framing = if offset >= 4 && bytes[offset as usize - 4] == 0 {
            4
        } else {
            3
        };
        batch.push((nal, offset, framing));
        batch_bytes += nal.len();
        if batch_bytes >= BATCH_BYTES {
            v.push_batch(&batch);
            progress(offset);
            batch.clear();
            batch_bytes = 0;
        }
    }
    v.push_batch(&batch);
    progress(bytes.len() as u64);
    let mut r = v.finish();
    r.counts.total_bytes = bytes.len() as u64;
    r
}

/// Verifies an Annex-B stream read incrementally (constant memory apart from the per-NAL
/// bookkeeping), for recordings larger than one wants in RAM.
pub fn verify_annexb_reader(
    r: &mut dyn std::io::Read,
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Report, crate::Error> {
    annexb_reader_chunked(r, opts, progress, 4 << 20)
}

fn annexb_reader_chunked(
    r: &mut dyn std::io::Read,
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(u64),
    chunk: usize,
) -> Result<Report, crate::Error> {
    let mut v = Verifier::new(opts.clone());
    let mut buf: Vec<u8> = Vec::with_capacity(2 * chunk);
    let mut block = vec![0u8; chunk];
    let mut base = 0u64; // file offset of buf[0]
    // Start code (its `00 00 01`) of the NAL still being read, and where scanning resumes, so a
    // large NAL arriving in many reads is scanned once.
    let mut pending: Option<usize> = None;
    let mut scan_from = 0usize;
    let mut starts = Vec::new();
    loop {
        let old = buf.len();
        // Read into a fixed buffer and append: zero-filling `buf` on every read cost more than
        // hashing the video.
        let n = r
            .read(&mut block)
            .map_err(|e| crate::Error::io(format!("reading at byte {}", base + old as u64), e))?;
        buf.extend_from_slice(&block[..n]);
        let eof = n == 0;
        starts.clear();
        starts.extend(pending);
        let mut i = scan_from;
        while i + 3 <= buf.len() {
            if buf[i + 2] > 1 {
                i += 3;
            } else if buf[i] == 0 && buf[i + 1] == 0 && buf[i + 2] == 1 {
                starts.push(i);
                i += 3;
            } else {
                i += 1;
            }
        }
        // Complete NALs are those followed by another start code (or everything at EOF).
        let complete = if eof {
            starts.len()
        } else {
            starts.len().saturating_sub(1)
        };
        let mut batch: Vec<(&[u8], u64, u64)> = Vec::with_capacity(complete);
        for k in 0..complete {
            let from = starts[k] + 3;
            let to = starts.get(k + 1).copied().unwrap_or(buf.len());
            let mut end = to;
            while end > from && buf[end - 1] == 0 {
                end -= 1;
            }
            if end > from {
                let framing = if starts[k] > 0 && buf[starts[k] - 1] == 0 {
                    4
                } else {
                    3
                };
                batch.push((&buf[from..end], base + from as u64, framing));
            }
        }
        v.push_batch(&batch);
        drop(batch);
        if eof {
            base += buf.len() as u64;
            progress(base);
            break;
        }
        // Keep the incomplete NAL from one byte before its start code (a 4-byte start code's
        // leading zero); before any start code, keep only what could begin one.
        let keep_from = match starts.last() {
            Some(&last) => last.saturating_sub(1),
            None => buf.len().saturating_sub(2),
        };
        buf.drain(..keep_from);
        base += keep_from as u64;
        pending = starts.last().map(|&l| l - keep_from);
        scan_from = buf
            .len()
            .saturating_sub(2)
            .max(pending.map_or(0, |p| p + 3));
        progress(base);
    }
    let mut rep = v.finish();
    rep.counts.total_bytes = base;
    Ok(rep)
}

/// Verifies an MP4 (progressive or fragmented) with an H.264 track.
pub fn verify_mp4(bytes: &[u8], opts: &VerifyOptions) -> Result<Report, crate::Error> {
    verify_mp4_with_progress(bytes, opts, &mut |_| {})
}

/// As [`verify_mp4`] with progress.
pub fn verify_mp4_with_progress(
    bytes: &[u8],
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Report, crate::Error> {
    let mut track = crate::mp4::read_h264(bytes)?;
    let mut v = Verifier::new(opts.clone());
    for ps in &track.parameter_sets {
        v.push_nal(&bytes[ps.clone()], ps.start as u64, 2);
    }
    let framing = track.length_size as u64;
    let mut batch: Vec<(&[u8], u64, u64)> = Vec::new();
    let mut batch_bytes = 0;
    for range in std::mem::take(&mut track.nals) {
        let offset = range.start as u64;
        batch_bytes += range.len();
        batch.push((&bytes[range], offset, framing));
        if batch_bytes >= BATCH_BYTES {
            v.push_batch(&batch);
            progress(offset);
            batch.clear();
            batch_bytes = 0;
        }
    }
    v.push_batch(&batch);
    progress(bytes.len() as u64);
    let mut r = v.finish();
    r.counts.total_bytes = bytes.len() as u64;
    r.errors.extend(track.truncated);
    Ok(r)
}

/// Appends up to `n` bytes from `r` to `buf`; fewer only at the end of the input.
fn read_n(r: &mut dyn std::io::Read, buf: &mut Vec<u8>, n: u64) -> Result<u64, crate::Error> {
    use std::io::Read;
    let before = buf.len();
    r.take(n)
        .read_to_end(buf)
        .map_err(|e| crate::Error::io(format!("reading at byte {before}"), e))?;
    Ok((buf.len() - before) as u64)
}

/// A top-level box header: type, total size (`None`: the box runs to the end of the file) and
/// header size.
type BoxHeader = ([u8; 4], Option<u64>, u64);

/// Reads the next top-level box header onto `buf`; `None` at the end of the input.
fn next_box(
    r: &mut dyn std::io::Read,
    buf: &mut Vec<u8>,
) -> Result<Option<BoxHeader>, crate::Error> {
    let at = buf.len();
    if read_n(r, buf, 8)? < 8 {
        return Ok(None);
    }
    let size = u32::from_be_bytes(buf[at..at + 4].try_into().expect("4 bytes")) as u64;
    let typ: [u8; 4] = buf[at + 4..at + 8].try_into().expect("4 bytes");
    match size {
        0 => Ok(Some((typ, None, 8))),
        1 => {
            if read_n(r, buf, 8)? < 8 {
                return Ok(None);
            }
            let large = u64::from_be_bytes(buf[at + 8..at + 16].try_into().expect("8 bytes"));
            Ok(Some((typ, Some(large), 16)))
        }
        s => Ok(Some((typ, Some(s), 8))),
    }
}

/// Verifies an MP4 read from `r`. A fragmented one (recordings, exports) is read fragment by
/// fragment, so memory stays at one fragment plus the per-NAL bookkeeping; any other layout
/// (`moov` after `mdat`, progressive samples) is read whole and verified by [`verify_mp4`].
pub fn verify_mp4_reader(
    r: &mut dyn std::io::Read,
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Report, crate::Error> {
    let whole = |r: &mut dyn std::io::Read, mut bytes: Vec<u8>, progress: &mut dyn FnMut(u64)| {
        std::io::Read::read_to_end(r, &mut bytes)
            .map_err(|e| crate::Error::io("reading".to_string(), e))?;
        verify_mp4_with_progress(&bytes, opts, progress)
    };
    // Everything before the first fragment: ftyp, moov (small).
    let mut head = Vec::new();
    let frag_at = loop {
        let at = head.len();
        let Some((typ, size, hdr)) = next_box(r, &mut head)? else {
            return verify_mp4_with_progress(&head, opts, progress);
        };
        match &typ {
            b"moof" => break at,
            b"mdat" => return whole(r, head, progress),
            _ => {
                let body = size.map_or(u64::MAX, |s| s.saturating_sub(hdr));
                read_n(r, &mut head, body)?;
            }
        }
    };
    let Some(track) = crate::mp4::Fragmented::from_head(&head[..frag_at])? else {
        return whole(r, head, progress);
    };
    let mut v = Verifier::new(opts.clone());
    for ps in track.parameter_sets() {
        v.push_nal(&head[ps.clone()], ps.start as u64, 2);
    }
    let framing = track.length_size() as u64;
    let mut origin = frag_at;
    let mut buf = head.split_off(frag_at); // the first moof's header
    let mut hdr_len = buf.len() as u64;
    let mut size = u32::from_be_bytes(buf[0..4].try_into().expect("4 bytes")) as u64;
    if size == 1 {
        size = u64::from_be_bytes(buf[8..16].try_into().expect("8 bytes"));
    }
    let mut truncated: Option<String> = None;
    loop {
        // The fragment: its moof, then boxes up to the next moof (its mdat).
        let body = size.saturating_sub(hdr_len);
        let moof_whole = read_n(r, &mut buf, body)? == body;
        if !moof_whole {
            truncated = Some(format!(
                "file truncated: box 'moof' at byte {origin} has {size} bytes, the file ends {} bytes into it; \
                 the frames after the last complete sample are missing",
                buf.len()
            ));
        }
        let mut next: Option<usize> = None;
        while truncated.is_none() {
            let at = buf.len();
            let Some((typ, sz, hl)) = next_box(r, &mut buf)? else {
                buf.truncate(at); // a partial header at the very end
                break;
            };
            if &typ == b"moof" {
                next = Some(at);
                (hdr_len, size) = (hl, sz.unwrap_or(u64::MAX));
                break;
            }
            let body = sz.map_or(u64::MAX, |s| s.saturating_sub(hl));
            if read_n(r, &mut buf, body)? < body && sz.is_some() {
                truncated = Some(format!(
                    "file truncated: box '{}' at byte {} has {} bytes, the file ends {} bytes into it; \
                     the frames after the last complete sample are missing",
                    String::from_utf8_lossy(&typ),
                    origin + at,
                    sz.unwrap_or_default(),
                    buf.len() - at
                ));
            }
        }
        let end = next.unwrap_or(buf.len());
        // A fragment header cut short describes nothing that is here.
        let nals = if moof_whole {
            track.fragment(&buf[..end], origin, truncated.is_some())?
        } else {
            Vec::new()
        };
        let batch: Vec<(&[u8], u64, u64)> = nals
            .into_iter()
            .map(|n| (&buf[n.clone()], (origin + n.start) as u64, framing))
            .collect();
        v.push_batch(&batch);
        drop(batch);
        progress((origin + end) as u64);
        match next {
            Some(at) => {
                buf.drain(..at);
                origin += at;
            }
            None => break,
        }
    }
    let total = (origin + buf.len()) as u64;
    let mut rep = v.finish();
    rep.counts.total_bytes = total;
    rep.errors.extend(truncated);
    Ok(rep)
}

/// Container detected from the content, not the file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Container {
    AnnexB,
    Mp4,
}

/// Detects Annex-B (a start code first) or MP4 (an ISO BMFF box first).
pub fn detect(bytes: &[u8]) -> Option<Container> {
    if bytes.starts_with(&[0, 0, 1]) || bytes.starts_with(&[0, 0, 0, 1]) {
        return Some(Container::AnnexB);
    }
    match bytes.get(4..8) {
        Some(b"ftyp" | b"styp" | b"moov" | b"moof" | b"mdat" | b"free" | b"skip" | b"wide") => {
            Some(Container::Mp4)
        }
        _ => None,
    }
}

/// Verifies Annex-B or MP4 input, whichever it is.
pub fn verify_bytes(
    bytes: &[u8],
    opts: &VerifyOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Report, crate::Error> {
    match detect(bytes) {
        Some(Container::AnnexB) => Ok(verify_annexb_with_progress(bytes, opts, progress)),
        Some(Container::Mp4) => verify_mp4_with_progress(bytes, opts, progress),
        None => Err(crate::Error::unreadable(
            "neither an Annex-B H.264 stream (no start code at byte 0) nor an MP4 file (no box header)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_reader_matches_in_memory_at_any_chunk_size() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/dropped_frame.h264"
        ))
        .unwrap();
        let whole = verify_annexb(&bytes, &VerifyOptions::default());
        for chunk in [1, 2, 3, 5, 4096, 100_000] {
            let r = annexb_reader_chunked(
                &mut &bytes[..],
                &VerifyOptions::default(),
                &mut |_| {},
                chunk,
            )
            .unwrap();
            assert_eq!(r.verdict, whole.verdict, "chunk {chunk}");
            assert_eq!(
                r.counts.received_nalus, whole.counts.received_nalus,
                "chunk {chunk}"
            );
            assert_eq!(
                r.counts.media_signing_bytes, whole.counts.media_signing_bytes,
                "chunk {chunk}"
            );
            assert_eq!(r.counts.total_bytes, bytes.len() as u64, "chunk {chunk}");
            let frames = |r: &Report| {
                r.gops
                    .iter()
                    .map(|g| (g.frames, g.verdict))
                    .collect::<Vec<_>>()
            };
            assert_eq!(frames(&r), frames(&whole), "chunk {chunk}");
        }
    }

    #[test]
    fn container_is_detected_by_content() {
        assert_eq!(detect(&[0, 0, 0, 1, 9]), Some(Container::AnnexB));
        assert_eq!(detect(b"\0\0\0\x18ftypisom"), Some(Container::Mp4));
        assert_eq!(detect(b"hello world"), None);
    }

    #[test]
    fn unsigned_stream_is_reported_unsigned() {
        // IDR + P without any SEI.
        let stream = [0, 0, 0, 1, 0x65, 0x88, 1, 2, 0, 0, 0, 1, 0x41, 0x9a, 3, 4];
        let r = verify_annexb(&stream, &VerifyOptions::default());
        assert_eq!(r.verdict, Verdict::Unsigned);
        assert_eq!(r.provenance, Provenance::NotVerifiable);
        assert_eq!(r.counts.received_frames, 2);
        assert!(r.gops.iter().all(|g| g.verdict == Verdict::Unsigned));
        assert_eq!((r.counts.validated_nalus, r.counts.pending_nalus), (0, 2));
    }
}
