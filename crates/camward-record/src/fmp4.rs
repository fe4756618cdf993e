//! Fragmented MP4 (ISO/IEC 14496-12) for recordings: the init segment (ftyp+moov) and one
//! prft+moof+mdat fragment per GOP. Boxes come from mp4-atom; only layout-dependent offsets are ours.

use crate::error::{Error, Result};
use crate::transform::{FileProtection, SampleAux};
use bytes::{BufMut, Bytes, BytesMut};
use camward_h264::{AccessUnit, NalType, StreamInfo};
use mp4_atom::{
    Avc1, Avcc, AvccExt, Codec, Dinf, Dref, Encode, FourCC, Ftyp, Hdlr, Mdhd, Mdia, Mfhd, Minf,
    Moof, Moov, Mvex, Mvhd, Prft, ReferenceTime, Saio, Saiz, Senc, SencBoxVersion, Stbl, Stco,
    Stsc, Stsd, Stsz, Stts, Tfdt, Tfhd, Tkhd, Traf, Trak, Trex, Trun, TrunEntry, Url, Visual, Vmhd,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Media timescale: the 90 kHz clock of the access units, so no timestamp is rounded.
pub const TIMESCALE: u32 = 90_000;
/// The single video track of a recording.
pub const TRACK_ID: u32 = 1;
/// `sample_flags` of an IDR picture: depends on no other sample, sync (ISO 14496-12 §8.8.3.1).
pub const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// `sample_flags` of other pictures: depends on others, non-sync.
pub const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;
/// Seconds from the NTP epoch (1900) to the Unix epoch, for `prft`.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// What a file's init segment describes: the stream's parameter sets and picture size.
/// A file holds one `TrackParams`; a change starts a new file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackParams {
    pub width: u32,
    pub height: u32,
    pub sps: Bytes,
    pub pps: Bytes,
}

impl TrackParams {
    pub fn from_info(info: &StreamInfo) -> Self {
        let (width, height) = camward_h264::sps::parse(&info.sps)
            .map(|s| (s.width, s.height))
            .unwrap_or((info.width, info.height));
        TrackParams {
            width,
            height,
            sps: info.sps.clone(),
            pps: info.pps.clone(),
        }
    }

    /// Parameters from a key frame's in-band SPS/PPS, which win over the bus's description
    /// because they are what the decoder will actually see; `fallback` fills a missing half.
    pub fn from_au(au: &AccessUnit, fallback: Option<&StreamInfo>) -> Option<Self> {
        let sps = au
            .nals
            .iter()
            .find(|n| NalType::of(n) == NalType::Sps)
            .cloned();
        let pps = au
            .nals
            .iter()
            .find(|n| NalType::of(n) == NalType::Pps)
            .cloned();
        let sps = sps.or_else(|| fallback.map(|f| f.sps.clone()))?;
        let pps = pps.or_else(|| fallback.map(|f| f.pps.clone()))?;
        let parsed = camward_h264::sps::parse(&sps);
        let (width, height) = match (parsed, fallback) {
            (Some(p), _) => (p.width, p.height),
            (None, Some(f)) => (f.width, f.height),
            (None, None) => return None,
        };
        Some(TrackParams {
            width,
            height,
            sps,
            pps,
        })
    }
}

/// One access unit as stored: AVC length-prefixed NAL units and its timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub data: Bytes,
    /// In `TIMESCALE` units.
    pub duration: u32,
    pub sync: bool,
}

/// Renders an access unit as an MP4 sample: every NAL unit, in order, each behind a 4-byte
/// big-endian length. SEI (signatures) and in-band SPS/PPS stay, so the stored bytes are the
/// exact stream the camera signed.
pub fn sample_data(au: &AccessUnit) -> Bytes {
    let mut out = BytesMut::with_capacity(au.len() + 4 * au.nals.len());
    for nal in &au.nals {
        out.put_u32(nal.len() as u32);
        out.put_slice(nal);
    }
    out.freeze()
}

fn enc<T: Encode>(what: &'static str, atom: &T, out: &mut Vec<u8>) -> Result<()> {
    atom.encode(out)
        .map_err(|source| Error::Encode { what, source })
}

/// MP4 times count seconds since 1904-01-01.
fn mp4_time(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + 2_082_844_800
}

/// 64-bit NTP timestamp (seconds since 1900 in the high word, fraction in the low word).
pub fn ntp_timestamp(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() + NTP_UNIX_OFFSET;
    let frac = ((d.subsec_nanos() as u64) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// Inverse of [`ntp_timestamp`], for reading `prft` back.
pub fn from_ntp_timestamp(ntp: u64) -> SystemTime {
    let secs = (ntp >> 32).saturating_sub(NTP_UNIX_OFFSET);
    let nanos = ((ntp & 0xffff_ffff) * 1_000_000_000) >> 32;
    UNIX_EPOCH + Duration::new(secs, nanos as u32)
}

/// `avcC` with the High-profile extension fields when the SPS has them, since some
/// demuxers read chroma format and bit depth from there.
fn avcc(params: &TrackParams) -> Result<Avcc> {
    let mut avcc = Avcc::new(&params.sps, &params.pps).map_err(|source| Error::Encode {
        what: "avcC",
        source,
    })?;
    if matches!(avcc.avc_profile_indication, 100 | 110 | 122 | 144) {
        avcc.ext = Some(AvccExt::default());
    }
    Ok(avcc)
}

/// The init segment: `ftyp` then `moov` with one video track whose sample tables are empty
/// (samples live in fragments) and an `mvex`/`trex` announcing fragments.
pub fn init_segment(
    params: &TrackParams,
    protection: &FileProtection,
    created: SystemTime,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1024);
    // iso6: fragmented files with tfdt; cmfc: CMAF video; mp41 for older players.
    let ftyp = Ftyp {
        major_brand: FourCC::new(b"iso6"),
        minor_version: 0,
        compatible_brands: vec![
            FourCC::new(b"iso6"),
            FourCC::new(b"mp41"),
            FourCC::new(b"cmfc"),
        ],
    };
    enc("ftyp", &ftyp, &mut out)?;

    let t = mp4_time(created);
    let avc1 = Avc1 {
        visual: Visual {
            data_reference_index: 1,
            width: params.width.min(u16::MAX as u32) as u16,
            height: params.height.min(u16::MAX as u32) as u16,
            horizresolution: 72.into(),
            vertresolution: 72.into(),
            frame_count: 1,
            compressor: "camward".into(),
            depth: 24,
        },
        avcc: avcc(params)?,
        ..Default::default()
    };
    let moov = Moov {
        mvhd: Mvhd {
            creation_time: t,
            modification_time: t,
            timescale: TIMESCALE,
            duration: 0,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: TRACK_ID + 1,
            ..Default::default()
        },
        mvex: Some(Mvex {
            mehd: None,
            trex: vec![Trex {
                track_id: TRACK_ID,
                default_sample_description_index: 1,
                default_sample_duration: 0,
                default_sample_size: 0,
                default_sample_flags: NON_SYNC_SAMPLE_FLAGS,
            }],
        }),
        trak: vec![Trak {
            tkhd: Tkhd {
                creation_time: t,
                modification_time: t,
                track_id: TRACK_ID,
                enabled: true,
                in_movie: true,
                width: (params.width as u16).into(),
                height: (params.height as u16).into(),
                ..Default::default()
            },
            mdia: Mdia {
                mdhd: Mdhd {
                    creation_time: t,
                    modification_time: t,
                    timescale: TIMESCALE,
                    duration: 0,
                    language: "und".into(),
                },
                hdlr: Hdlr {
                    handler: FourCC::new(b"vide"),
                    name: "camward video".into(),
                },
                minf: Minf {
                    vmhd: Some(Vmhd::default()),
                    dinf: Dinf {
                        dref: Dref {
                            entries: vec![Url::default().into()],
                        },
                    },
                    stbl: Stbl {
                        stsd: Stsd {
                            codecs: vec![Codec::Avc1(avc1)],
                        },
                        stts: Stts::default(),
                        stsc: Stsc::default(),
                        stsz: Stsz::default(),
                        stco: Some(Stco::default()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            },
            ..Default::default()
        }],
        ..Default::default()
    };
    let moov_start = out.len();
    enc("moov", &moov, &mut out)?;
    if protection.is_encrypted() {
        // mp4-atom can't encode an encv entry: rename the avc1 entry and append the protection
        // boxes (sinf) inside it, growing every enclosing box.
        let path = [b"trak", b"mdia", b"minf", b"stbl", b"stsd"];
        let entry = splice(
            &mut out,
            moov_start,
            &path,
            8,
            b"avc1",
            &protection.sample_entry_boxes,
        );
        out[entry + 4..entry + 8].copy_from_slice(b"encv");
    }
    if !protection.moov_boxes.is_empty() {
        // Moov has no slot for pssh: append it as a child.
        splice(
            &mut out,
            moov_start,
            &[],
            0,
            b"moov",
            &protection.moov_boxes,
        );
    }
    Ok(out)
}

/// Appends `extra` at the end of the box `target` found under the box at `root` along `path`
/// (`skip` = bytes of fields before the children of the last path box, e.g. stsd's entry count),
/// fixing the 32-bit sizes of `target` and of every box enclosing it. Returns `target`'s offset.
fn splice(
    buf: &mut Vec<u8>,
    root: usize,
    path: &[&[u8; 4]],
    skip: usize,
    target: &[u8; 4],
    extra: &[u8],
) -> usize {
    let size_at =
        |b: &Vec<u8>, at: usize| u32::from_be_bytes(b[at..at + 4].try_into().expect("4")) as usize;
    let mut chain = vec![root];
    let mut cur = root;
    for kind in path {
        let end = cur + size_at(buf, cur);
        cur = child(buf, cur + 8, end, kind)
            .expect("our own moov has this box")
            .0;
        chain.push(cur);
    }
    let t = if path.is_empty() {
        root
    } else {
        let end = cur + size_at(buf, cur);
        // stsd is a full box with an entry count: children start 8 bytes into the body.
        let t = child(buf, cur + 8 + skip, end, target)
            .expect("our own stsd has this entry")
            .0;
        chain.push(t);
        t
    };
    let at = t + size_at(buf, t);
    buf.splice(at..at, extra.iter().copied());
    for b in chain {
        let s = (size_at(buf, b) + extra.len()) as u32;
        buf[b..b + 4].copy_from_slice(&s.to_be_bytes());
    }
    t
}

/// Offset of the first child box named `kind` inside the box body `buf[start..end]`.
pub(crate) fn child(
    buf: &[u8],
    start: usize,
    end: usize,
    kind: &[u8; 4],
) -> Option<(usize, usize)> {
    let mut pos = start;
    while pos + 8 <= end {
        let size = u32::from_be_bytes(buf[pos..pos + 4].try_into().ok()?) as usize;
        if size < 8 || pos + size > end {
            return None;
        }
        if &buf[pos + 4..pos + 8] == kind {
            return Some((pos, pos + size));
        }
        pos += size;
    }
    None
}

/// One fragment: `prft` (the wall-clock time of its first sample, so the file alone tells when
/// it was recorded), `moof` and `mdat`. `aux` is given when the samples are protected.
pub fn fragment(
    sequence: u32,
    base_decode_time: u64,
    wallclock: SystemTime,
    samples: &[Sample],
    aux: Option<&[SampleAux]>,
) -> Result<Vec<u8>> {
    let mdat_len: usize = samples.iter().map(|s| s.data.len()).sum();
    let mut traf = Traf {
        tfhd: Tfhd {
            track_id: TRACK_ID,
            default_base_is_moof: true,
            ..Default::default()
        },
        tfdt: Some(Tfdt {
            base_media_decode_time: base_decode_time,
        }),
        trun: vec![Trun {
            data_offset: Some(0),
            samples: samples
                .iter()
                .map(|s| TrunEntry {
                    duration: Some(s.duration),
                    size: Some(s.data.len() as u32),
                    flags: Some(if s.sync {
                        SYNC_SAMPLE_FLAGS
                    } else {
                        NON_SYNC_SAMPLE_FLAGS
                    }),
                    cts: None,
                })
                .collect::<Vec<_>>()
                .into(),
        }],
        ..Default::default()
    };
    if let Some(aux) = aux {
        let with_sub = aux.iter().any(|a| !a.subsamples.is_empty());
        let mut data = Vec::new();
        data.extend_from_slice(&(aux.len() as u32).to_be_bytes());
        for a in aux {
            data.extend_from_slice(&a.iv);
            if with_sub {
                data.extend_from_slice(&(a.subsamples.len() as u16).to_be_bytes());
                for s in &a.subsamples {
                    data.extend_from_slice(&s.clear.to_be_bytes());
                    data.extend_from_slice(&s.protected.to_be_bytes());
                }
            }
        }
        let sizes: Vec<u8> = aux
            .iter()
            .map(|a| a.encoded_len(with_sub).min(255) as u8)
            .collect();
        let uniform = sizes.windows(2).all(|w| w[0] == w[1]);
        traf.senc = Some(Senc {
            version: SencBoxVersion::V0,
            use_subsamples: with_sub,
            data,
        });
        traf.saiz = vec![Saiz {
            aux_info: None,
            default_sample_info_size: if uniform {
                sizes.first().copied().unwrap_or(0)
            } else {
                0
            },
            sample_count: aux.len() as u32,
            sample_info_size: if uniform { vec![] } else { sizes },
        }];
        traf.saio = vec![Saio {
            aux_info: None,
            offsets: vec![0],
        }];
    }
    let mut moof = Moof {
        mfhd: Mfhd {
            sequence_number: sequence,
        },
        traf: vec![traf],
    };

    // Offsets depend on the encoded sizes, which these fields don't change: encode once to
    // measure, then again with the real values.
    let mut buf = Vec::new();
    enc("moof", &moof, &mut buf)?;
    let moof_len = buf.len();
    moof.traf[0].trun[0].data_offset = Some((moof_len + 8) as i32);
    if aux.is_some() {
        let (traf_s, traf_e) = child(&buf, 8, moof_len, b"traf").expect("encoded moof has traf");
        let (senc_s, _) = child(&buf, traf_s + 8, traf_e, b"senc").expect("encoded traf has senc");
        // saio points at the first sample's entry: after senc's header, version/flags and count.
        moof.traf[0].saio[0].offsets = vec![(senc_s + 8 + 4 + 4) as u64];
    }
    buf.clear();
    enc("moof", &moof, &mut buf)?;
    debug_assert_eq!(buf.len(), moof_len);

    let mut out = Vec::with_capacity(moof_len + mdat_len + 64);
    let prft = Prft {
        reference_track_id: TRACK_ID,
        ntp_timestamp: ntp_timestamp(wallclock),
        media_time: base_decode_time,
        utc_time_semantics: ReferenceTime::Input,
    };
    enc("prft", &prft, &mut out)?;
    out.extend_from_slice(&buf);
    // The mdat header is written by hand so the payload is copied once, not through a Vec field.
    out.extend_from_slice(&((mdat_len + 8) as u32).to_be_bytes());
    out.extend_from_slice(b"mdat");
    for s in samples {
        out.extend_from_slice(&s.data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{SPS, params, samples, t0};
    use crate::transform::Subsample;
    use mp4_atom::{Decode, Moof, Moov};

    fn split(buf: &[u8]) -> Vec<(&[u8; 4], &[u8])> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < buf.len() {
            let size = u32::from_be_bytes(buf[pos..pos + 4].try_into().unwrap()) as usize;
            out.push((
                buf[pos + 4..pos + 8].try_into().unwrap(),
                &buf[pos..pos + size],
            ));
            pos += size;
        }
        out
    }

    #[test]
    fn fragment_boxes_round_trip() {
        let init = init_segment(&params(), &FileProtection::default(), t0()).unwrap();
        let boxes = split(&init);
        assert_eq!(
            boxes.iter().map(|b| b.0).collect::<Vec<_>>(),
            vec![b"ftyp", b"moov"]
        );
        let moov = Moov::decode(&mut &boxes[1].1[..]).unwrap();
        assert_eq!(moov.mvhd.timescale, TIMESCALE);
        assert_eq!(moov.mvex.as_ref().unwrap().trex[0].track_id, TRACK_ID);
        let trak = &moov.trak[0];
        assert_eq!(trak.mdia.mdhd.timescale, 90_000);
        assert_eq!(trak.mdia.hdlr.handler, FourCC::new(b"vide"));
        let Codec::Avc1(avc1) = &trak.mdia.minf.stbl.stsd.codecs[0] else {
            panic!("avc1 expected")
        };
        assert_eq!(avc1.avcc.sequence_parameter_sets[0], SPS.to_vec());
        assert_eq!((avc1.visual.width, avc1.visual.height), (1280, 720));

        let s = samples(0..25, 25);
        let frag = fragment(7, 123_456, t0(), &s, None).unwrap();
        let boxes = split(&frag);
        assert_eq!(
            boxes.iter().map(|b| b.0).collect::<Vec<_>>(),
            vec![b"prft", b"moof", b"mdat"]
        );
        let prft = Prft::decode(&mut &boxes[0].1[..]).unwrap();
        assert_eq!(from_ntp_timestamp(prft.ntp_timestamp), t0());
        let moof = Moof::decode(&mut &boxes[1].1[..]).unwrap();
        assert_eq!(moof.mfhd.sequence_number, 7);
        let traf = &moof.traf[0];
        assert_eq!(traf.tfdt.as_ref().unwrap().base_media_decode_time, 123_456);
        let entries: Vec<_> = traf.trun[0].samples.iter().collect();
        assert_eq!(entries.len(), 25);
        assert_eq!(entries[0].flags, Some(SYNC_SAMPLE_FLAGS));
        assert_eq!(entries[1].flags, Some(NON_SYNC_SAMPLE_FLAGS));
        assert!(entries.iter().all(|e| e.duration == Some(3600)));
        // data_offset is relative to the moof and must land on the first mdat payload byte.
        let moof_start = boxes[0].1.len();
        let off = traf.trun[0].data_offset.unwrap() as usize;
        let payload: Vec<u8> = s.iter().flat_map(|s| s.data.to_vec()).collect();
        assert_eq!(&frag[moof_start + off..], &payload[..]);
        for (e, s) in entries.iter().zip(&s) {
            assert_eq!(e.size, Some(s.data.len() as u32));
        }
    }

    #[test]
    fn protected_fragment_points_saio_at_its_senc_entries() {
        let protection = FileProtection {
            sample_entry_boxes: vec![0, 0, 0, 8, b's', b'i', b'n', b'f'],
            moov_boxes: vec![0, 0, 0, 8, b'p', b's', b's', b'h'],
            key_info: None,
        };
        let init = init_segment(&params(), &protection, t0()).unwrap();
        assert!(init.windows(4).any(|w| w == b"encv") && init.windows(4).any(|w| w == b"pssh"));
        let moov_at = init.windows(4).position(|w| w == b"moov").unwrap() - 4;
        let moov_len = u32::from_be_bytes(init[moov_at..moov_at + 4].try_into().unwrap()) as usize;
        assert_eq!(
            moov_at + moov_len,
            init.len(),
            "pssh counted in moov's size"
        );

        let s = samples(0..3, 25);
        let aux: Vec<SampleAux> = (0..3u8)
            .map(|i| SampleAux {
                iv: vec![i; 8],
                subsamples: vec![Subsample {
                    clear: 5,
                    protected: 100,
                }],
            })
            .collect();
        let frag = fragment(1, 0, t0(), &s, Some(&aux)).unwrap();
        let boxes = split(&frag);
        let moof_start = boxes[0].1.len();
        let moof = Moof::decode(&mut &boxes[1].1[..]).unwrap();
        let traf = &moof.traf[0];
        assert_eq!(traf.saiz[0].default_sample_info_size, 8 + 2 + 6);
        let off = traf.saio[0].offsets[0] as usize;
        // First entry: IV 00.., subsample count 1, clear 5, protected 100.
        assert_eq!(&frag[moof_start + off..moof_start + off + 8], &[0u8; 8]);
        assert_eq!(
            &frag[moof_start + off + 8..moof_start + off + 16],
            &[0, 1, 0, 5, 0, 0, 0, 100]
        );
        let data_off = traf.trun[0].data_offset.unwrap() as usize;
        assert_eq!(
            &frag[moof_start + data_off..moof_start + data_off + 4],
            &s[0].data[..4]
        );
    }
}
