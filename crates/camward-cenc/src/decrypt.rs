//! The decrypting side: `camward decrypt`/`keys`/`verify --identity`. Walks an encrypted fMP4
//! box by box and writes a clear one that keeps every byte offset (removed boxes become `free`).
//!
//! Why keep offsets: trun data offsets, `mfra`/`tfra` and `sidx` all point into the file; removing
//! `pssh`/`sinf`/`senc`/`saiz`/`saio` and padding each rewritten top-level box with a `free` box of
//! the removed size leaves every one of them valid without rewriting any, and lets the decryptor
//! stream: one top-level box in memory at a time (an `mdat` one sample at a time).

use crate::bmff::{self, Bx, TrackProtection, child, children, fourcc};
use crate::boxes::write_box;
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::key::{ContentKey, Kid};
use crate::sample::{SampleAux, decrypt_in_place};
use crate::wrap::KeyBundle;
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::path::Path;

/// `moov`/`moof` are read whole; anything larger is not a recording of ours.
const MAX_META_BOX: u64 = 256 << 20;
/// One sample is read whole to decrypt it.
const MAX_SAMPLE: u64 = 256 << 20;
const COPY_CHUNK: usize = 1 << 20;

/// What a decryption did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptSummary {
    pub kid: Kid,
    /// Protected samples decrypted.
    pub samples: u64,
    /// Bytes written (equals the input size: offsets are kept).
    pub bytes: u64,
}

/// How the content key is obtained.
#[derive(Clone, Copy)]
pub enum Keying<'a> {
    /// Unwrap it from the file's camward `pssh` (the normal path).
    Identity(&'a Identity),
    /// Use a key given directly (`camward keys` output; tests and fuzzing).
    Key(&'a ContentKey),
}

/// Sample still to be decrypted when its `mdat` bytes stream past.
struct Pending {
    offset: u64,
    len: u64,
    aux: SampleAux,
}

struct MoovInfo {
    rebuilt: Vec<u8>,
    tracks: HashMap<u32, TrackProtection>,
    trex: HashMap<u32, u32>,
    bundle: Option<KeyBundle>,
}

/// Decrypts `input` into `output`. The clear file is written to a temporary file beside
/// `output` (mode 0600) and renamed only when everything succeeded: a wrong identity or a
/// damaged file leaves nothing behind. `progress(done, total)` is called as bytes go by.
pub fn decrypt_file(
    input: &Path,
    identity: &Identity,
    output: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<DecryptSummary> {
    let f = std::fs::File::open(input)
        .map_err(|e| Error::io(format!("opening {}", input.display()), e))?;
    let total = f
        .metadata()
        .map_err(|e| Error::io(format!("reading {}", input.display()), e))?
        .len();
    if matches!((input.canonicalize(), output.canonicalize()), (Ok(a), Ok(b)) if a == b) {
        return Err(Error::io(
            format!("writing {}", output.display()),
            std::io::Error::other("output is the input file"),
        ));
    }
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".camward-decrypt-")
        .suffix(".part")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(format!("creating a temporary file in {}", dir.display()), e))?;
    let mut w = std::io::BufWriter::with_capacity(COPY_CHUNK, tmp);
    let summary = decrypt_stream(
        std::io::BufReader::with_capacity(COPY_CHUNK, f),
        total,
        Keying::Identity(identity),
        &mut w,
        progress,
    )?;
    let tmp = w
        .into_inner()
        .map_err(|e| Error::io(format!("writing {}", output.display()), e.into_error()))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(format!("writing {}", output.display()), e))?;
    tmp.persist(output).map_err(|e| {
        Error::io(
            format!("renaming the decrypted file to {}", output.display()),
            e.error,
        )
    })?;
    Ok(summary)
}

/// Decrypts an in-memory file (for `camward verify --identity`, which verifies from memory).
pub fn decrypt_to_vec(data: &[u8], identity: &Identity) -> Result<Vec<u8>> {
    decrypt_bytes(data, Keying::Identity(identity))
}

/// Decrypts an in-memory file with a known content key.
pub fn decrypt_to_vec_with_key(data: &[u8], key: &ContentKey) -> Result<Vec<u8>> {
    decrypt_bytes(data, Keying::Key(key))
}

fn decrypt_bytes(data: &[u8], keying: Keying) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    decrypt_stream(data, data.len() as u64, keying, &mut out, &mut |_, _| {})?;
    Ok(out)
}

/// The content key of a file for `identity` (what `camward keys` prints in hex). Reads only
/// up to `moov`.
pub fn content_key(input: &Path, identity: &Identity) -> Result<ContentKey> {
    let f = std::fs::File::open(input)
        .map_err(|e| Error::io(format!("opening {}", input.display()), e))?;
    let total = f
        .metadata()
        .map_err(|e| Error::io(format!("reading {}", input.display()), e))?
        .len();
    content_key_from_reader(std::io::BufReader::new(f), total, identity)
}

/// `content_key` for a file already in memory.
pub fn content_key_from_bytes(data: &[u8], identity: &Identity) -> Result<ContentKey> {
    content_key_from_reader(data, data.len() as u64, identity)
}

fn content_key_from_reader<R: Read>(
    mut r: R,
    total: u64,
    identity: &Identity,
) -> Result<ContentKey> {
    let mut pos = 0u64;
    while let Some(h) = read_top_header(&mut r, pos, total)? {
        if &h.typ == b"moov" {
            let buf = read_box(&mut r, &h)?;
            let moov = h.as_bx(&buf);
            let info = rewrite_moov(&moov)?;
            return key_for(&info, Keying::Identity(identity), moov.offset);
        }
        skip(&mut r, h.size - h.header.len() as u64, pos)?;
        pos += h.size;
    }
    Err(Error::format(pos, "no 'moov' box: not an MP4 recording"))
}

/// True when `data` (at least up to the end of `moov`) holds a CENC-protected track; lets
/// `camward verify` tell an encrypted file from a clear one without an identity.
pub fn is_encrypted(data: &[u8]) -> bool {
    let Ok(top) = children(data, 0).or_else(|_| partial_children(data)) else {
        return false;
    };
    child(&top, b"moov")
        .and_then(|m| rewrite_moov(&m).ok())
        .is_some_and(|i| i.tracks.values().any(|t| t.is_protected))
}

/// Top-level boxes up to the first one that does not fit (a file still being written).
fn partial_children(data: &[u8]) -> Result<Vec<Bx<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while let Ok((typ, header_len, Some(size))) = bmff::parse_header(&data[pos..], pos as u64) {
        let Some(raw) = data.get(pos..pos.saturating_add(size as usize)) else {
            break;
        };
        out.push(Bx {
            typ,
            offset: pos as u64,
            header_len,
            raw,
        });
        pos += size as usize;
    }
    Ok(out)
}

fn key_for(info: &MoovInfo, keying: Keying, moov_at: u64) -> Result<ContentKey> {
    let protected: Vec<&TrackProtection> =
        info.tracks.values().filter(|t| t.is_protected).collect();
    if protected.is_empty() {
        return Err(Error::format(
            moov_at,
            "no protected track: this file is not encrypted",
        ));
    }
    match keying {
        Keying::Key(k) => Ok(k.clone()),
        Keying::Identity(id) => {
            let bundle = info.bundle.as_ref().ok_or_else(|| {
                Error::format(
                    moov_at,
                    "no camward key bundle ('pssh' with camward's SystemID): the file was encrypted \
                     by another system, or the box was removed",
                )
            })?;
            for t in &protected {
                if t.kid != bundle.kid {
                    return Err(Error::format(
                        moov_at,
                        format!(
                            "track KID {} differs from the key bundle's KID {}",
                            t.kid, bundle.kid
                        ),
                    ));
                }
            }
            bundle.open(id)
        }
    }
}

/// A top-level box header read from a stream.
struct TopHeader {
    typ: [u8; 4],
    header: Vec<u8>,
    offset: u64,
    size: u64,
}

impl TopHeader {
    fn as_bx<'a>(&self, raw: &'a [u8]) -> Bx<'a> {
        Bx {
            typ: self.typ,
            offset: self.offset,
            header_len: self.header.len(),
            raw,
        }
    }
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8], at: u64) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Error::io(
                    format!("reading input at byte {}", at + n as u64),
                    e,
                ));
            }
        }
    }
    Ok(n)
}

fn read_top_header<R: Read>(r: &mut R, pos: u64, total: u64) -> Result<Option<TopHeader>> {
    let mut h = [0u8; 8];
    let n = read_full(r, &mut h, pos)?;
    if n == 0 {
        return Ok(None);
    }
    if n < 8 {
        return Err(Error::format(
            pos,
            format!("file ends {n} bytes into a box header"),
        ));
    }
    let mut header = h.to_vec();
    let size32 = u32::from_be_bytes(h[0..4].try_into().expect("4"));
    if size32 == 1 {
        let mut l = [0u8; 8];
        if read_full(r, &mut l, pos + 8)? < 8 {
            return Err(Error::format(pos, "file ends inside a largesize"));
        }
        header.extend_from_slice(&l);
    }
    let (typ, _, size) = bmff::parse_header(&header, pos)?;
    let size = size.unwrap_or(total.saturating_sub(pos));
    if size < header.len() as u64 {
        return Err(Error::format(
            pos,
            format!("'{}' is smaller than its header", fourcc(&typ)),
        ));
    }
    if pos.checked_add(size).is_none_or(|end| end > total) {
        return Err(Error::format(
            pos,
            format!(
                "'{}' claims {size} bytes but the file has {} left (truncated file?)",
                fourcc(&typ),
                total.saturating_sub(pos)
            ),
        ));
    }
    Ok(Some(TopHeader {
        typ,
        header,
        offset: pos,
        size,
    }))
}

/// Reads a whole (metadata) box, header included.
fn read_box<R: Read>(r: &mut R, h: &TopHeader) -> Result<Vec<u8>> {
    if h.size > MAX_META_BOX {
        return Err(Error::format(
            h.offset,
            format!(
                "'{}' of {} bytes is implausibly large",
                fourcc(&h.typ),
                h.size
            ),
        ));
    }
    let mut buf = h.header.clone();
    buf.resize(h.size as usize, 0);
    let at = h.offset + h.header.len() as u64;
    if read_full(r, &mut buf[h.header.len()..], at)? < h.size as usize - h.header.len() {
        return Err(Error::format(
            h.offset,
            format!("file ends inside '{}'", fourcc(&h.typ)),
        ));
    }
    Ok(buf)
}

fn skip<R: Read>(r: &mut R, n: u64, at: u64) -> Result<()> {
    let copied = std::io::copy(&mut r.take(n), &mut std::io::sink())
        .map_err(|e| Error::io(format!("reading input at byte {at}"), e))?;
    if copied < n {
        return Err(Error::format(at, "file ends early"));
    }
    Ok(())
}

/// Copies `n` bytes, reporting progress.
fn copy<R: Read, W: Write>(
    r: &mut R,
    w: &mut W,
    n: u64,
    pos: &mut u64,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<()> {
    let mut buf = vec![0u8; COPY_CHUNK.min(n as usize).max(1)];
    let mut left = n;
    while left > 0 {
        let k = (left as usize).min(buf.len());
        if read_full(r, &mut buf[..k], *pos)? < k {
            return Err(Error::format(*pos, "file ends early"));
        }
        w.write_all(&buf[..k])
            .map_err(|e| Error::io("writing output", e))?;
        left -= k as u64;
        *pos += k as u64;
        progress(*pos, total);
    }
    Ok(())
}

/// Writes a rebuilt box in place of one of `original_size` bytes, then a `free` box filling the
/// difference so every later offset is unchanged.
fn write_padded<W: Write>(w: &mut W, rebuilt: &[u8], original_size: u64, at: u64) -> Result<()> {
    let diff = original_size
        .checked_sub(rebuilt.len() as u64)
        .ok_or_else(|| Error::format(at, "rewritten box grew"))?;
    if diff != 0 && diff < 8 {
        return Err(Error::format(
            at,
            format!("{diff} bytes freed, too few for a 'free' box"),
        ));
    }
    w.write_all(rebuilt)
        .map_err(|e| Error::io("writing output", e))?;
    if diff > 0 {
        let mut free = Vec::with_capacity(16);
        if diff <= u32::MAX as u64 {
            free.extend_from_slice(&(diff as u32).to_be_bytes());
            free.extend_from_slice(b"free");
        } else {
            free.extend_from_slice(&1u32.to_be_bytes());
            free.extend_from_slice(b"free");
            free.extend_from_slice(&diff.to_be_bytes());
        }
        w.write_all(&free)
            .map_err(|e| Error::io("writing output", e))?;
        std::io::copy(&mut std::io::repeat(0).take(diff - free.len() as u64), w)
            .map_err(|e| Error::io("writing output", e))?;
    }
    Ok(())
}

/// A container rebuilt with 32-bit size (metadata boxes never need more).
fn container(typ: &[u8; 4], body: &[u8], at: u64) -> Result<Vec<u8>> {
    if body.len() as u64 + 8 > u32::MAX as u64 {
        return Err(Error::format(
            at,
            format!("'{}' larger than 4 GiB", fourcc(typ)),
        ));
    }
    Ok(write_box(typ, body))
}

/// The clear `moov`: protected sample entries renamed back (`frma`) without `sinf`, every
/// `pssh` removed; plus what decryption needs (protection per track, trex sizes, the bundle).
fn rewrite_moov(moov: &Bx) -> Result<MoovInfo> {
    let mut info = MoovInfo {
        rebuilt: Vec::new(),
        tracks: HashMap::new(),
        trex: HashMap::new(),
        bundle: None,
    };
    let mut body = Vec::with_capacity(moov.raw.len());
    for k in children(moov.body(), moov.body_offset())? {
        match &k.typ {
            b"pssh" => {
                let p = bmff::parse_pssh(&k)?;
                if p.is_camward() {
                    if info.bundle.is_some() {
                        return Err(Error::format(k.offset, "two camward 'pssh' boxes"));
                    }
                    let bundle = KeyBundle::from_bytes(p.data)
                        .map_err(|e| Error::format(k.offset, e.to_string()))?;
                    if !p.kids.is_empty() && !p.kids.contains(&bundle.kid) {
                        return Err(Error::format(
                            k.offset,
                            "camward 'pssh' KID differs from its key bundle",
                        ));
                    }
                    info.bundle = Some(bundle);
                }
            }
            b"trak" => {
                let (bytes, prot) = rewrite_trak(&k)?;
                if let Some((id, p)) = prot
                    && info.tracks.insert(id, p).is_some()
                {
                    return Err(Error::format(k.offset, format!("track {id} defined twice")));
                }
                body.extend(bytes);
            }
            b"mvex" => {
                for t in children(k.body(), k.body_offset())?
                    .iter()
                    .filter(|b| &b.typ == b"trex")
                {
                    let (id, size) = bmff::trex(t)?;
                    info.trex.insert(id, size);
                }
                body.extend_from_slice(k.raw);
            }
            _ => body.extend_from_slice(k.raw),
        }
    }
    info.rebuilt = container(b"moov", &body, moov.offset)?;
    Ok(info)
}

type TrackOut = (Vec<u8>, Option<(u32, TrackProtection)>);

fn rewrite_trak(trak: &Bx) -> Result<TrackOut> {
    let kids = children(trak.body(), trak.body_offset())?;
    let id = child(&kids, b"tkhd")
        .map(|t| bmff::tkhd_track_id(&t))
        .transpose()?
        .ok_or_else(|| Error::format(trak.offset, "'trak' without 'tkhd'"))?;
    let mut prot = None;
    let mut body = Vec::with_capacity(trak.raw.len());
    for k in &kids {
        if &k.typ == b"mdia" {
            body.extend(rewrite_path(k, &[*b"minf", *b"stbl", *b"stsd"], &mut prot)?);
        } else {
            body.extend_from_slice(k.raw);
        }
    }
    Ok((
        container(b"trak", &body, trak.offset)?,
        prot.map(|p| (id, p)),
    ))
}

/// Descends `path` (e.g. minf → stbl → stsd) and rewrites the sample descriptions at its end.
fn rewrite_path(b: &Bx, path: &[[u8; 4]], prot: &mut Option<TrackProtection>) -> Result<Vec<u8>> {
    let Some((next, rest)) = path.split_first() else {
        return rewrite_stsd(b, prot);
    };
    let mut body = Vec::with_capacity(b.raw.len());
    for k in children(b.body(), b.body_offset())? {
        if &k.typ == next {
            body.extend(rewrite_path(&k, rest, prot)?);
        } else {
            body.extend_from_slice(k.raw);
        }
    }
    container(&b.typ, &body, b.offset)
}

fn rewrite_stsd(stsd: &Bx, prot: &mut Option<TrackProtection>) -> Result<Vec<u8>> {
    let head = stsd
        .body()
        .get(..8)
        .ok_or_else(|| Error::format(stsd.offset, "'stsd' truncated"))?;
    let mut body = head.to_vec();
    for e in children(&stsd.body()[8..], stsd.body_offset() + 8)? {
        if &e.typ != b"encv" && &e.typ != b"enca" {
            body.extend_from_slice(e.raw);
            continue;
        }
        let fields_len = bmff::sample_entry_fields_len(&e)?;
        let fields = e
            .body()
            .get(..fields_len)
            .ok_or_else(|| Error::format(e.offset, format!("'{}' truncated", e.name())))?;
        let mut entry = fields.to_vec();
        let mut this = None;
        for c in children(&e.body()[fields_len..], e.body_offset() + fields_len as u64)? {
            if &c.typ == b"sinf" {
                if this.is_none() {
                    this = Some(bmff::parse_sinf(&c)?);
                }
            } else {
                entry.extend_from_slice(c.raw);
            }
        }
        let p =
            this.ok_or_else(|| Error::format(e.offset, format!("'{}' without 'sinf'", e.name())))?;
        if prot.as_ref().is_some_and(|prev| prev != &p) {
            return Err(Error::format(
                e.offset,
                "sample entries of one track protected differently",
            ));
        }
        body.extend(container(&p.original_format, &entry, e.offset)?);
        *prot = Some(p);
    }
    container(b"stsd", &body, stsd.offset)
}

/// The clear `moof` (no `senc`/`saiz`/`saio`/`pssh`) and the samples it says need decrypting.
fn rewrite_moof(
    moof: &Bx,
    tracks: &HashMap<u32, TrackProtection>,
    trex: &HashMap<u32, u32>,
) -> Result<(Vec<u8>, Vec<Pending>)> {
    let mut pending = Vec::new();
    let mut body = Vec::with_capacity(moof.raw.len());
    let mut implicit_base = moof.offset;
    for k in children(moof.body(), moof.body_offset())? {
        match &k.typ {
            b"pssh" => {}
            b"traf" => {
                let kids = children(k.body(), k.body_offset())?;
                bmff::refuse_key_rotation(&kids)?;
                let tfhd_id = kids
                    .iter()
                    .find(|b| &b.typ == b"tfhd")
                    .map(bmff::parse_tfhd)
                    .transpose()?
                    .map(|t| t.track_id);
                let layout = bmff::traf_layout(
                    &kids,
                    moof.offset,
                    implicit_base,
                    tfhd_id.and_then(|id| trex.get(&id).copied()),
                )?;
                implicit_base = layout.data_end;
                let prot = tracks.get(&layout.tfhd.track_id).filter(|p| p.is_protected);
                if let Some(p) = prot {
                    let aux = match child(&kids, b"senc") {
                        Some(s) => bmff::parse_senc(&s, p.iv_size)?,
                        None if layout.samples.is_empty() => Vec::new(),
                        None => {
                            return Err(Error::format(
                                k.offset,
                                "protected track fragment without 'senc' (auxiliary information \
                                 elsewhere is not supported)",
                            ));
                        }
                    };
                    if aux.len() != layout.samples.len() {
                        return Err(Error::format(
                            k.offset,
                            format!(
                                "'senc' has {} entries for {} samples",
                                aux.len(),
                                layout.samples.len()
                            ),
                        ));
                    }
                    for ((offset, len), aux) in layout.samples.iter().zip(aux) {
                        pending.push(Pending {
                            offset: *offset,
                            len: *len,
                            aux,
                        });
                    }
                }
                let mut traf = Vec::with_capacity(k.raw.len());
                for c in &kids {
                    let drop = prot.is_some() && matches!(&c.typ, b"senc" | b"saiz" | b"saio");
                    if !drop && &c.typ != b"pssh" {
                        traf.extend_from_slice(c.raw);
                    }
                }
                body.extend(container(b"traf", &traf, k.offset)?);
            }
            _ => body.extend_from_slice(k.raw),
        }
    }
    Ok((container(b"moof", &body, moof.offset)?, pending))
}

/// Decrypts a whole fMP4 from `r` (of `total` bytes) to `w`. The key is recovered from `moov`
/// before any sample is touched, so a wrong identity fails before the first `moof`.
pub fn decrypt_stream<R: Read, W: Write>(
    mut r: R,
    total: u64,
    keying: Keying,
    w: &mut W,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<DecryptSummary> {
    let mut pos = 0u64;
    let mut state: Option<(MoovInfo, ContentKey, Kid)> = None;
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut samples = 0u64;
    progress(0, total);
    while let Some(h) = read_top_header(&mut r, pos, total)? {
        match &h.typ {
            b"moov" => {
                if state.is_some() {
                    return Err(Error::format(pos, "second 'moov'"));
                }
                let buf = read_box(&mut r, &h)?;
                let moov = h.as_bx(&buf);
                let info = rewrite_moov(&moov)?;
                let key = key_for(&info, keying, pos)?;
                let kid = info
                    .tracks
                    .values()
                    .find(|t| t.is_protected)
                    .map(|t| t.kid)
                    .expect("key_for checked a protected track exists");
                write_padded(w, &info.rebuilt, h.size, pos)?;
                state = Some((info, key, kid));
                pos += h.size;
            }
            b"moof" => {
                let Some((info, _, _)) = &state else {
                    return Err(Error::format(pos, "'moof' before 'moov'"));
                };
                if let Some(p) = pending.front().filter(|p| p.offset < pos) {
                    return Err(Error::format(
                        p.offset,
                        "sample data is not inside any 'mdat'",
                    ));
                }
                let buf = read_box(&mut r, &h)?;
                let (rebuilt, mut new) = rewrite_moof(&h.as_bx(&buf), &info.tracks, &info.trex)?;
                write_padded(w, &rebuilt, h.size, pos)?;
                pos += h.size;
                new.sort_by_key(|p| p.offset);
                pending.extend(new);
                pending.make_contiguous().sort_by_key(|p| p.offset);
                for pair in pending.as_slices().0.windows(2) {
                    if pair[0].offset + pair[0].len > pair[1].offset {
                        return Err(Error::format(pair[1].offset, "samples overlap"));
                    }
                }
            }
            b"mdat" => {
                let body_start = pos + h.header.len() as u64;
                let end = pos + h.size;
                w.write_all(&h.header)
                    .map_err(|e| Error::io("writing output", e))?;
                pos = body_start;
                if let Some(p) = pending.front().filter(|p| p.offset < body_start) {
                    return Err(Error::format(
                        p.offset,
                        "sample data is not inside any 'mdat'",
                    ));
                }
                let key = &state
                    .as_ref()
                    .ok_or_else(|| Error::format(h.offset, "'mdat' before 'moov'"))?
                    .1;
                while let Some(p) = pending.front() {
                    if p.offset >= end {
                        break;
                    }
                    if p.offset + p.len > end {
                        return Err(Error::format(
                            p.offset,
                            format!("sample of {} bytes crosses the end of 'mdat'", p.len),
                        ));
                    }
                    if p.len > MAX_SAMPLE {
                        return Err(Error::format(
                            p.offset,
                            format!("sample of {} bytes is implausibly large", p.len),
                        ));
                    }
                    copy(&mut r, w, p.offset - pos, &mut pos, total, progress)?;
                    let mut sample = vec![0u8; p.len as usize];
                    if read_full(&mut r, &mut sample, pos)? < sample.len() {
                        return Err(Error::format(pos, "file ends inside a sample"));
                    }
                    decrypt_in_place(&mut sample, key, &p.aux.iv, &p.aux.subsamples)
                        .map_err(|e| Error::format(pos, e.to_string()))?;
                    w.write_all(&sample)
                        .map_err(|e| Error::io("writing output", e))?;
                    pos += p.len;
                    samples += 1;
                    progress(pos, total);
                    pending.pop_front();
                }
                copy(&mut r, w, end - pos, &mut pos, total, progress)?;
            }
            _ => {
                w.write_all(&h.header)
                    .map_err(|e| Error::io("writing output", e))?;
                pos += h.header.len() as u64;
                copy(
                    &mut r,
                    w,
                    h.size - h.header.len() as u64,
                    &mut pos,
                    total,
                    progress,
                )?;
            }
        }
    }
    let Some((_, _, kid)) = state else {
        return Err(Error::format(0, "no 'moov' box: not an MP4 recording"));
    };
    if let Some(p) = pending.front() {
        return Err(Error::format(
            p.offset,
            "sample data lies beyond the last 'mdat'",
        ));
    }
    w.flush().map_err(|e| Error::io("writing output", e))?;
    progress(pos, total);
    Ok(DecryptSummary {
        kid,
        samples,
        bytes: pos,
    })
}
