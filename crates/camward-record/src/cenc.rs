//! The recorder's CENC transform (paper §3.8): every file gets its own `camward_cenc::FileEncryptor`
//! (fresh content key and KID wrapped to the viewers), and every sample is encrypted where it lies.
//!
//! One implementation for the daemon's recording service and the capacity benchmark, so what is
//! measured is what records.

use crate::fmp4::TrackParams;
use crate::transform::{
    FileProtection, SampleAux, SampleTransform, Subsample, TransformError, TransformFactory,
};
use bytes::{Bytes, BytesMut};
use camward_cenc::{FileEncryptor, Recipient};
use std::sync::Arc;

/// Encrypts every recorded file to `recipients` (ISO/IEC 23001-7 'cenc', see
/// docs/design/encryption.md). `make` is called once per recorded stream, `start_file` once per file.
#[derive(Debug, Clone)]
pub struct Encrypt {
    recipients: Arc<Vec<Recipient>>,
}

impl Encrypt {
    pub fn new(recipients: Vec<Recipient>) -> Self {
        Encrypt {
            recipients: Arc::new(recipients),
        }
    }
}

impl TransformFactory for Encrypt {
    fn make(&self, _stream: u8) -> Box<dyn SampleTransform> {
        Box::new(EncryptStream {
            recipients: self.recipients.clone(),
            file: None,
        })
    }
}

struct EncryptStream {
    recipients: Arc<Vec<Recipient>>,
    file: Option<FileEncryptor>,
}

impl SampleTransform for EncryptStream {
    fn start_file(&mut self, _: &TrackParams) -> Result<FileProtection, TransformError> {
        let enc = FileEncryptor::new(&self.recipients)
            .map_err(|e| TransformError(format!("cannot set up the file's content key: {e}")))?;
        let protection = FileProtection {
            sample_entry_boxes: enc.sample_entry_boxes(*b"avc1"),
            moov_boxes: enc.moov_boxes(),
            key_info: Some(enc.key_info()),
        };
        // The previous file's key is dropped (and zeroized) here: it never outlives its file.
        self.file = Some(enc);
        Ok(protection)
    }

    fn transform(&mut self, sample: Bytes) -> Result<(Bytes, Option<SampleAux>), TransformError> {
        let enc = self
            .file
            .as_mut()
            .ok_or_else(|| TransformError("sample before start_file".into()))?;
        // The writer builds each sample afresh (`fmp4::sample_data`), so it normally holds the
        // only handle and the ciphertext can take the clear bytes' place. A sample someone else
        // still references is copied first: their clear bytes must not change under them.
        let mut buf = sample
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        let aux = enc
            .encrypt_in_place(&mut buf)
            .map_err(|e| TransformError(format!("cannot encrypt a sample: {e}")))?;
        let aux = SampleAux {
            iv: aux.iv,
            subsamples: aux
                .subsamples
                .into_iter()
                .map(|s| Subsample {
                    clear: s.clear,
                    protected: s.protected,
                })
                .collect(),
        };
        Ok((buf.freeze(), Some(aux)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camward_cenc::{Identity, KeyBundle, decrypt_sample};

    fn params() -> TrackParams {
        TrackParams {
            width: 64,
            height: 64,
            sps: Bytes::from_static(&[0x67, 0x42, 0xc0, 0x1e]),
            pps: Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80]),
        }
    }

    /// An SEI, then an IDR slice with a payload that is not a whole number of AES blocks.
    fn sample() -> Vec<u8> {
        let mut s = vec![0, 0, 0, 4, 0x06, 0x05, 0x01, 0x80];
        s.extend_from_slice(&300u32.to_be_bytes());
        s.push(0x65);
        s.extend((0..299u32).map(|i| i as u8));
        s
    }

    fn open(
        t: &mut dyn SampleTransform,
        v: &Identity,
    ) -> (FileProtection, camward_cenc::ContentKey) {
        let p = t.start_file(&params()).unwrap();
        let key = KeyBundle::from_bytes(p.key_info.as_deref().unwrap())
            .unwrap()
            .open(v)
            .unwrap();
        (p, key)
    }

    fn decrypt(key: &camward_cenc::ContentKey, ct: &[u8], aux: &SampleAux) -> Vec<u8> {
        let subs: Vec<camward_cenc::Subsample> = aux
            .subsamples
            .iter()
            .map(|s| camward_cenc::Subsample {
                clear: s.clear,
                protected: s.protected,
            })
            .collect();
        decrypt_sample(ct, key, &aux.iv, &subs).unwrap()
    }

    #[test]
    fn sole_handle_is_encrypted_in_place() {
        let v = Identity::generate();
        let mut t = Encrypt::new(vec![v.recipient()]).make(1);
        let (p, key) = open(t.as_mut(), &v);
        assert!(p.is_encrypted());
        let clear = sample();
        let input = Bytes::from(clear.clone());
        let at = input.as_ptr();
        let (ct, aux) = t.transform(input).unwrap();
        let aux = aux.unwrap();
        // Same buffer, no copy; and the ciphertext opens with the key wrapped to the viewer.
        assert_eq!(ct.as_ptr(), at);
        assert_ne!(&ct[..], &clear[..]);
        assert_eq!(decrypt(&key, &ct, &aux), clear);
    }

    #[test]
    fn shared_sample_is_copied_not_overwritten() {
        let v = Identity::generate();
        let mut t = Encrypt::new(vec![v.recipient()]).make(1);
        let (_, key) = open(t.as_mut(), &v);
        let clear = Bytes::from(sample());
        let (ct, aux) = t.transform(clear.clone()).unwrap();
        // Another holder of the clear sample still sees clear bytes.
        assert_eq!(&clear[..], &sample()[..]);
        assert_ne!(ct.as_ptr(), clear.as_ptr());
        assert_eq!(decrypt(&key, &ct, &aux.unwrap()), sample());
    }

    #[test]
    fn each_file_gets_a_fresh_key_and_samples_need_a_file() {
        let v = Identity::generate();
        let mut t = Encrypt::new(vec![v.recipient()]).make(1);
        assert!(t.transform(Bytes::from(sample())).is_err());
        let (a, _) = open(t.as_mut(), &v);
        let (b, _) = open(t.as_mut(), &v);
        assert_ne!(a.key_info, b.key_info);
    }
}
