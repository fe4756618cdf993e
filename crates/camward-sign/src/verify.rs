//! The verifier: hashes every slice, decodes every ONVIF SEI, checks signatures and the chain, then
//! pairs each SEI with the GOP it signs and names the frames that are altered, missing or reordered.

// Pairing is by content, not position: a hash list starts with the anchor hash h(I) of its GOP,
// so an SEI finds its GOP even when SEIs arrive late, GOPs were removed, or the file starts
// mid-stream. The GOP counter and linked hash then check the order of whole GOPs.

use crate::cert::{self, Chain, LeafKey, Provenance, SignerInfo};
use crate::format::{self, General, OmsSei, VendorInfo};
use crate::signer::{is_gop_start, linked_hash, nal_hash};
use camward_h264::{NalType, nal};
use serde::Serialize;
use std::collections::HashMap;
use std::time::SystemTime;

type Hash = [u8; format::HASH_SIZE];

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
        let idx = self.nals.len();
        let t = NalType::of(nal_bytes);
        let rec = match t {
            NalType::Slice | NalType::Idr if nal_bytes.len() >= 2 => {
                if nal::is_first_slice_of_picture(nal_bytes) || self.frames == 0 {
                    self.frames += 1;
                }
                self.slice_hashes.push(nal_hash(nal_bytes));
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
        if let Some(c) = &sei.crypto {
            if c.hash_oid != format::SHA256_OID_DER {
                self.errors.push(format!(
                    "NAL {nal}: hash algorithm OID {:02x?} is not SHA-256; this verifier only supports SHA-256",
                    c.hash_oid
                ));
            }
        }
        let mut sig = SigStatus::Unsigned;
        if sei.is_signed() {
            // Only a signed SEI may introduce a chain: an unsigned one could carry anything.
            if let Some((_, pem)) = &sei.certificates {
                if let Some(ci) = self.chain_index(pem, nal) {
                    if let Some(prev) = self.current_chain {
                        if self.chains[prev].spki != self.chains[ci].spki {
                            self.key_changes.push(KeyChange {
                                sei_nal: nal,
                                old_signer: self.chains[prev].chain.signer_info().subject,
                                new_signer: self.chains[ci].chain.signer_info().subject,
                            });
                        }
                    }
                    self.current_chain = Some(ci);
                }
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

struct Item {
    nal: usize,
    frame: Option<u32>,
    hash: Hash,
}

struct Gop {
    items: Vec<Item>,
    anchor: Hash,
    /// Items already covered by earlier (partial-GOP) SEIs.
    consumed: usize,
    matched: bool,
}

struct Finisher {
    v: Verifier,
    gops: Vec<Gop>,
    /// GOP indices by anchor hash, ascending: SEI lookup stays O(1) on day-long recordings.
    by_anchor: HashMap<Hash, Vec<usize>>,
    /// No GOP before this index is still unmatched and unconsumed.
    first_open: usize,
    orphans: usize,
    reports: Vec<(usize, GopReport)>,
}

impl Finisher {
    fn new(v: Verifier) -> Self {
        let mut gops: Vec<Gop> = Vec::new();
        let mut orphans = 0;
        for (i, rec) in v.nals.iter().enumerate() {
            let (plain, gop_start) = match rec.kind {
                Kind::Slice { hash, gop_start } => (v.slice_hashes[hash as usize], gop_start),
                Kind::Sei(s) => match v.seis[s as usize].item_hash {
                    Some(h) => (h, false),
                    None => continue,
                },
                Kind::Other => continue,
            };
            if gop_start {
                gops.push(Gop {
                    items: vec![Item {
                        nal: i,
                        frame: rec.frame,
                        hash: plain,
                    }],
                    anchor: plain,
                    consumed: 0,
                    matched: false,
                });
            } else if let Some(g) = gops.last_mut() {
                // Unsigned ONVIF SEIs are hashed without the anchor, like the reference signer.
                let hash = if matches!(rec.kind, Kind::Sei(_)) {
                    plain
                } else {
                    linked_hash(&g.anchor, &plain)
                };
                g.items.push(Item {
                    nal: i,
                    frame: rec.frame,
                    hash,
                });
            } else {
                orphans += 1;
            }
        }
        let mut by_anchor: HashMap<Hash, Vec<usize>> = HashMap::with_capacity(gops.len());
        for (i, g) in gops.iter().enumerate() {
            by_anchor.entry(g.anchor).or_default().push(i);
        }
        Finisher {
            v,
            gops,
            by_anchor,
            first_open: 0,
            orphans,
            reports: Vec::new(),
        }
    }

    fn run(mut self) -> Report {
        let mut notes = std::mem::take(&mut self.v.notes);
        if self.orphans > 0 {
            notes.push(format!(
                "{} slice(s) before the first IDR frame cannot be verified (stream starts mid-GOP)",
                self.orphans
            ));
        }
        let mut prev_anchor: Option<Vec<u8>> = None;
        let mut last_counter: Option<u32> = None;
        let mut prev_partial = false;
        let mut seen = std::collections::HashSet::new();
        let mut any_matched = false;
        // NAL of an SEI that signs a GOP before the file (a recording file or export cut at a
        // GOP boundary starts with the previous GOP's SEI): the stream is signed from there on.
        let mut leading_sei: Option<usize> = None;
        let mut first_ts: Option<i64> = None;
        let mut last_ts: Option<i64> = None;

        let sei_order: Vec<usize> = (0..self.v.seis.len())
            .filter(|&s| {
                let r = &self.v.seis[s];
                !r.sei.is_certificate_sei() && r.sei.general.is_some()
            })
            .collect();
        for &s in &sei_order {
            let rec = &self.v.seis[s];
            let general = rec.sei.general.clone().expect("filtered on GENERAL");
            let list: Vec<Hash> = rec
                .sei
                .hashes()
                .map(|h| h.try_into().expect("chunks of HASH_SIZE"))
                .collect();
            let sei_nal = rec.nal;
            let sig = rec.sig;
            // Redundant copies of an SEI (the spec allows sending it twice) sign nothing new.
            if !seen.insert((general.gop_counter, general.gop_hash.clone(), list.len())) {
                notes.push(format!(
                    "SEI at NAL {sei_nal} repeats GOP counter {}",
                    general.gop_counter
                ));
                continue;
            }
            let mut target = self.find_target(sei_nal, &list, &general, last_counter);
            let mut moved = false;
            if target.is_none() && any_matched {
                // Its GOP exists but only after the SEI: whole GOPs were moved.
                target = list.first().and_then(|a| {
                    self.by_anchor
                        .get(a)?
                        .iter()
                        .copied()
                        .find(|&i| self.gops[i].consumed == 0)
                });
                moved = target.is_some();
            }

            let mut report = match target {
                Some(g) => {
                    let cut = if moved { usize::MAX } else { sei_nal };
                    let mut r = self.evaluate(g, cut, &list, &general, sig);
                    if moved {
                        r.reasons
                            .push("GOP comes after its own signature: GOPs reordered".into());
                        raise(&mut r, Verdict::Reordered);
                    }
                    any_matched = true;
                    first_ts = Some(first_ts.map_or(general.start_ts, |t| t.min(general.start_ts)));
                    last_ts = Some(last_ts.map_or(general.end_ts, |t| t.max(general.end_ts)));
                    r
                }
                None if !any_matched => {
                    notes.push(format!(
                        "SEI at NAL {sei_nal} (GOP counter {}) signs a GOP that starts before this file",
                        general.gop_counter
                    ));
                    leading_sei.get_or_insert(sei_nal);
                    prev_anchor = list.first().map(|h| h.to_vec());
                    last_counter = Some(general.gop_counter);
                    continue;
                }
                None => self.missing_gop(sei_nal, &list, &general),
            };
            report.counter = Some(general.gop_counter);
            report.sei_nal = Some(sei_nal);
            report.start = fmt_ts(general.start_ts);
            report.end = fmt_ts(general.end_ts);

            // Whole-GOP order: counter continuity and the linked hash (anchor of the previous GOP).
            // Across partial GOPs the reference links differently; the hash lists still cover them.
            let partial = general.partial_gop || prev_partial;
            prev_partial = general.partial_gop;
            if let Some(last) = last_counter {
                let expected = last.wrapping_add(1);
                if general.gop_counter != expected {
                    report.reasons.push(format!(
                        "GOP counter jumps from {last} to {}: {} signed GOP(s) lost or out of order",
                        general.gop_counter,
                        general.gop_counter.wrapping_sub(expected) as i32
                    ));
                    if general.gop_counter.wrapping_sub(expected) as i32 <= 0 {
                        raise(&mut report, Verdict::Reordered);
                    }
                } else if let Some(prev) = prev_anchor.as_ref().filter(|_| !partial) {
                    if general.linked_hash != *prev {
                        if general.linked_hash.iter().all(|&b| b == 0) {
                            report
                                .reasons
                                .push("linked hash is zero: signing restarted mid-stream".into());
                        } else if <[u8; format::HASH_SIZE]>::try_from(&general.linked_hash[..])
                            .is_ok_and(|h| self.by_anchor.contains_key(&h))
                        {
                            report.reasons.push(
                                "linked hash names another GOP of this file: GOPs reordered".into(),
                            );
                            raise(&mut report, Verdict::Reordered);
                        } else {
                            report.reasons.push(
                                "linked hash does not match the previous GOP: GOP(s) removed"
                                    .into(),
                            );
                        }
                        raise(&mut report, Verdict::Altered);
                    }
                }
            }
            prev_anchor = list
                .first()
                .map(|h| h.to_vec())
                .or_else(|| target.map(|g| self.gops[g].anchor.to_vec()));
            last_counter = Some(general.gop_counter);
            let key = target
                .map(|g| self.gops[g].items.first().map(|i| i.nal).unwrap_or(0))
                .unwrap_or(sei_nal);
            self.reports.push((key, report));
        }

        // GOPs no SEI paired with: unsigned in the middle, pending at the end.
        let last_matched = self.gops.iter().rposition(|g| g.matched);
        let mut pending_from: Option<usize> = None;
        for gi in 0..self.gops.len() {
            let g = &self.gops[gi];
            if g.consumed >= g.items.len() {
                continue;
            }
            let rest = &g.items[g.consumed..];
            let tail = last_matched.is_none_or(|lm| gi > lm || (gi == lm && g.consumed > 0));
            let mut r = blank_report(rest);
            // A one-GOP file (its own SEI is in the next file) is signed but not yet verifiable,
            // not a hole in the signatures.
            let signed_before = leading_sei.is_some_and(|n| rest[0].nal > n);
            if tail && (any_matched || signed_before) {
                r.verdict = Verdict::Pending;
                r.reasons.push(
                    "no SEI signs these frames yet (stream ends before their signature)".into(),
                );
                pending_from.get_or_insert(rest[0].nal);
            } else {
                r.verdict = Verdict::Unsigned;
                r.reasons
                    .push("no signature for this GOP (its SEI was removed or never sent)".into());
            }
            self.reports.push((rest[0].nal, r));
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
        if sei_order.is_empty() && !self.v.seis.is_empty() {
            notes.push("only certificate SEIs found: no GOP is signed".into());
        }
        self.reports.sort_by_key(|(k, _)| *k);
        let gops: Vec<GopReport> = self.reports.into_iter().map(|(_, r)| r).collect();

        let signed_any = !sei_order.is_empty();
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
        let pending_from = if any_matched { pending_from } else { Some(0) };
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
            first_timestamp: first_ts.and_then(fmt_ts),
            last_timestamp: last_ts.and_then(fmt_ts),
            counts,
            gops,
            public_key_changes: self.v.key_changes,
            notes,
            errors: self.v.errors,
        }
    }

    /// Which GOP an SEI signs: by anchor hash, else the open partial GOP it continues, else (the
    /// anchor itself altered) the oldest unsigned GOP when the counter says it is the next one.
    fn find_target(
        &self,
        sei_nal: usize,
        list: &[Hash],
        general: &General,
        last_counter: Option<u32>,
    ) -> Option<usize> {
        let before = |g: &Gop| {
            g.items.first().is_some_and(|i| i.nal < sei_nal) && g.consumed < g.items.len()
        };
        let open = &self.gops[self.first_open.min(self.gops.len())..];
        let from = |off: Option<usize>| off.map(|o| o + self.first_open);
        if let Some(first) = list.first() {
            let mut by_anchor = self.by_anchor.get(first).into_iter().flatten().copied();
            if let Some(i) =
                by_anchor.find(|&i| before(&self.gops[i]) && self.gops[i].consumed == 0)
            {
                return Some(i);
            }
            let continues = open.iter().position(|g| {
                before(g) && g.consumed > 0 && list.iter().any(|h| *h == g.items[g.consumed].hash)
            });
            if continues.is_some() {
                return from(continues);
            }
            let next_in_sequence =
                last_counter.is_some_and(|c| c.wrapping_add(1) == general.gop_counter);
            if next_in_sequence {
                return from(open.iter().position(|g| before(g) && !g.matched));
            }
            None
        } else {
            // Low-bitrate SEI: nothing but order to go by.
            from(open.iter().position(before))
        }
    }

    /// Compares a GOP's items with the signed list and names what differs.
    fn evaluate(
        &mut self,
        gi: usize,
        sei_nal: usize,
        list: &[Hash],
        general: &General,
        sig: SigStatus,
    ) -> GopReport {
        let g = &mut self.gops[gi];
        g.matched = true;
        let start = g.consumed;
        let mut end = g
            .items
            .iter()
            .position(|i| i.nal > sei_nal)
            .unwrap_or(g.items.len())
            .max(start);
        if general.partial_gop && !list.is_empty() {
            end = end.min(start + list.len());
        }
        g.consumed = end;
        while self
            .gops
            .get(self.first_open)
            .is_some_and(|g| g.matched && g.consumed >= g.items.len())
        {
            self.first_open += 1;
        }
        let g = &self.gops[gi];
        let items = &g.items[start..end];
        let mut r = blank_report(items);
        match sig {
            SigStatus::Valid => {}
            SigStatus::Invalid => {
                r.reasons.push(format!(
                    "SEI signature at NAL {sei_nal} does not verify: SEI altered or forged"
                ));
                raise(&mut r, Verdict::Altered);
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
            let ok = ctx.finish().as_ref() == general.gop_hash.as_slice();
            if !ok {
                r.reasons.push(
                    "GOP hash mismatch (no hash list: the altered frame cannot be located)".into(),
                );
                raise(&mut r, Verdict::Altered);
            }
            if items.len() != general.num_nalus as usize {
                r.reasons.push(format!(
                    "{} NAL units signed, {} present",
                    general.num_nalus,
                    items.len()
                ));
            }
            return r;
        }

        // Position of each item in the list (duplicates consumed in order).
        let mut where_: HashMap<&Hash, Vec<usize>> = HashMap::with_capacity(list.len());
        for (i, h) in list.iter().enumerate().rev() {
            where_.entry(h).or_default().push(i);
        }
        let pos: Vec<Option<usize>> = items
            .iter()
            .map(|it| where_.get_mut(&it.hash).and_then(|v| v.pop()))
            .collect();
        let keep = longest_increasing(&pos);
        let mut used = vec![false; list.len()];
        for (k, p) in pos.iter().enumerate() {
            match p {
                None => {
                    r.altered_nals.push(items[k].nal);
                    if let Some(f) = items[k].frame {
                        if r.altered_frames.last() != Some(&f) {
                            r.altered_frames.push(f);
                        }
                    }
                }
                Some(p) => {
                    used[*p] = true;
                    if !keep[k] {
                        if let Some(f) = items[k].frame {
                            r.reordered_frames.push(f);
                        }
                    }
                }
            }
        }
        // Missing list entries: the unused slots between two in-order matches, less the altered
        // items standing in that gap (a modified NAL replaces its slot, it does not leave a hole).
        let mut unused_before = vec![0usize; list.len() + 1];
        for i in 0..list.len() {
            unused_before[i + 1] = unused_before[i] + usize::from(!used[i]);
        }
        let unused_between = |a: usize, b: usize| unused_before[b] - unused_before[a];
        let (mut last_pos, mut last_frame, mut invalid_since) = (0usize, None, 0usize);
        let mut first = true;
        for (k, p) in pos.iter().enumerate() {
            match p {
                None => invalid_since += 1,
                Some(p) if keep[k] => {
                    let from = if first { 0 } else { last_pos + 1 };
                    let gap = unused_between(from, *p).saturating_sub(invalid_since);
                    if gap > 0 {
                        r.missing.push(MissingRun {
                            after_frame: last_frame,
                            count: gap,
                        });
                    }
                    (last_pos, last_frame, invalid_since, first) = (*p, items[k].frame, 0, false);
                }
                Some(_) => {}
            }
        }
        let from = if first { 0 } else { last_pos + 1 };
        let gap = unused_between(from, list.len()).saturating_sub(invalid_since);
        if gap > 0 {
            r.missing.push(MissingRun {
                after_frame: last_frame,
                count: gap,
            });
        }
        if !r.altered_nals.is_empty() {
            r.reasons.push(format!(
                "{} NAL unit(s) do not match the signed hashes",
                r.altered_nals.len()
            ));
            raise(&mut r, Verdict::Altered);
        }
        if !r.reordered_frames.is_empty() {
            r.reasons.push(format!(
                "{} frame(s) out of signed order",
                r.reordered_frames.len()
            ));
            raise(&mut r, Verdict::Reordered);
        }
        if !r.missing.is_empty() {
            let n: usize = r.missing.iter().map(|m| m.count).sum();
            r.reasons.push(format!("{n} signed NAL unit(s) missing"));
            raise(&mut r, Verdict::MissingFrames);
        }
        r
    }

    /// An SEI whose GOP is not in the stream at all: a whole GOP was removed.
    fn missing_gop(&mut self, sei_nal: usize, list: &[Hash], general: &General) -> GopReport {
        let after = self.v.nals[..sei_nal].iter().rev().find_map(|n| n.frame);
        let count = if list.is_empty() {
            general.num_nalus as usize
        } else {
            list.len()
        };
        GopReport {
            counter: None,
            verdict: Verdict::MissingFrames,
            frames: None,
            nals: None,
            sei_nal: None,
            start: None,
            end: None,
            altered_frames: Vec::new(),
            altered_nals: Vec::new(),
            missing: vec![MissingRun {
                after_frame: after,
                count,
            }],
            reordered_frames: Vec::new(),
            reasons: vec![format!(
                "signed GOP with {count} NAL unit(s) is missing from the stream"
            )],
        }
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

/// Marks the members of one longest strictly increasing subsequence of the `Some` positions;
/// items outside it are the ones that moved.
fn longest_increasing(pos: &[Option<usize>]) -> Vec<bool> {
    let idx: Vec<usize> = (0..pos.len()).filter(|&i| pos[i].is_some()).collect();
    let val = |k: usize| pos[idx[k]].expect("filtered");
    let mut tails: Vec<usize> = Vec::new(); // indices into idx
    let mut prev = vec![usize::MAX; idx.len()];
    for (k, back) in prev.iter_mut().enumerate() {
        let v = val(k);
        let at = tails.partition_point(|&t| val(t) < v);
        if at > 0 {
            *back = tails[at - 1];
        }
        if at == tails.len() {
            tails.push(k);
        } else {
            tails[at] = k;
        }
    }
    let mut keep = vec![false; pos.len()];
    let mut k = tails.last().copied().unwrap_or(usize::MAX);
    while k != usize::MAX {
        keep[idx[k]] = true;
        k = prev[k];
    }
    keep
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
    let mut next_tick = 0u64;
    for nal in camward_h264::annexb::split(bytes) {
        let offset = (nal.as_ptr() as usize - base) as u64;
        let framing = if offset >= 4 && bytes[offset as usize - 4] == 0 {
            4
        } else {
            3
        };
        v.push_nal(nal, offset, framing);
        if offset >= next_tick {
            progress(offset);
            next_tick = offset + (1 << 20);
        }
    }
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
                v.push_nal(&buf[from..end], base + from as u64, framing);
            }
        }
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
    let track = crate::mp4::read_h264(bytes)?;
    let mut v = Verifier::new(opts.clone());
    for ps in &track.parameter_sets {
        v.push_nal(&bytes[ps.clone()], ps.start as u64, 2);
    }
    let mut next_tick = 0u64;
    for range in track.nals {
        let offset = range.start as u64;
        v.push_nal(&bytes[range], offset, track.length_size as u64);
        if offset >= next_tick {
            progress(offset);
            next_tick = offset + (1 << 20);
        }
    }
    progress(bytes.len() as u64);
    let mut r = v.finish();
    r.counts.total_bytes = bytes.len() as u64;
    Ok(r)
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
    fn longest_increasing_keeps_the_in_order_majority() {
        let pos = [Some(0), Some(2), Some(1), Some(3), None, Some(4)];
        let keep = longest_increasing(&pos);
        assert_eq!(keep.iter().filter(|k| **k).count(), 4);
        assert!(keep[0] && keep[3] && keep[5] && !keep[4]);
    }

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
