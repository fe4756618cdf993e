//! The per-file state the recorder holds while writing one encrypted recording: a fresh content
//! key and KID, the wrapped-key bundle, and the IV sequence. Pure data in, bytes out.

use crate::boxes;
use crate::error::Result;
use crate::identity::Recipient;
use crate::key::{ContentKey, Kid};
use crate::sample::{self, IV_SIZE, IvSequence, NAL_LENGTH_SIZE, SampleAux, SampleCipher};
use crate::wrap::KeyBundle;

/// Encrypts the samples of one file. Create one per file (`start_file`): a key is never shared
/// between files, so a leaked file key exposes one file only.
pub struct FileEncryptor {
    /// The content key, expanded once per file; the clear key bytes are not kept beside it.
    cipher: SampleCipher,
    bundle: KeyBundle,
    ivs: IvSequence,
    length_size: usize,
}

impl FileEncryptor {
    /// A fresh content key and KID, wrapped to every recipient. The key stays in this struct
    /// (as aws-lc's key schedule, zeroized on drop) and is never written anywhere.
    pub fn new(recipients: &[Recipient]) -> Result<Self> {
        let key = ContentKey::generate();
        let bundle = KeyBundle::seal(&key, Kid::generate(), recipients)?;
        Ok(FileEncryptor {
            cipher: SampleCipher::new(&key)?,
            bundle,
            ivs: IvSequence::new(),
            length_size: NAL_LENGTH_SIZE,
        })
    }

    /// For tracks whose avcC says 1- or 2-byte NAL lengths (camward writes 4).
    pub fn with_length_size(mut self, length_size: usize) -> Self {
        self.length_size = length_size;
        self
    }

    pub fn kid(&self) -> Kid {
        self.bundle.kid
    }

    pub fn bundle(&self) -> &KeyBundle {
        &self.bundle
    }

    /// Boxes to append inside the sample entry (renamed `encv`): the `sinf`.
    /// `original_format` is the entry's type before protection, normally `*b"avc1"`.
    pub fn sample_entry_boxes(&self, original_format: [u8; 4]) -> Vec<u8> {
        boxes::sinf(original_format, &self.bundle.kid, IV_SIZE as u8)
    }

    /// Boxes to append to `moov`: the camward `pssh` with the wrapped keys.
    pub fn moov_boxes(&self) -> Vec<u8> {
        boxes::moov_boxes(&self.bundle)
    }

    /// What the recorder stores in its index (`key_info`): the same bundle as in `pssh`, so keys
    /// can be listed or re-checked without opening files.
    pub fn key_info(&self) -> Vec<u8> {
        self.bundle.to_bytes()
    }

    /// Encrypts one length-prefixed sample with the next IV, into a copy.
    pub fn encrypt(&mut self, sample: &[u8]) -> Result<(Vec<u8>, SampleAux)> {
        let mut ct = sample.to_vec();
        let aux = self.encrypt_in_place(&mut ct)?;
        Ok((ct, aux))
    }

    /// Encrypts one length-prefixed sample where it lies, with the next IV (the recorder's
    /// path: it owns each sample it writes, so no copy is needed). On error the sample is
    /// unchanged.
    pub fn encrypt_in_place(&mut self, sample: &mut [u8]) -> Result<SampleAux> {
        let iv = self.ivs.next_iv()?;
        let subsamples = sample::encrypt_in_place(sample, self.length_size, &self.cipher, &iv)?;
        Ok(SampleAux {
            iv: iv.to_vec(),
            subsamples,
        })
    }
}

impl std::fmt::Debug for FileEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileEncryptor")
            .field("kid", &self.bundle.kid)
            .field("recipients", &self.bundle.keys.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::sample::decrypt_sample;

    #[test]
    fn each_file_gets_its_own_key_and_kid() {
        let v = Identity::generate();
        let a = FileEncryptor::new(&[v.recipient()]).unwrap();
        let b = FileEncryptor::new(&[v.recipient()]).unwrap();
        assert_ne!(a.kid(), b.kid());
        assert_ne!(a.bundle().open(&v).unwrap(), b.bundle().open(&v).unwrap());
    }

    #[test]
    fn encryptor_output_decrypts_with_the_unwrapped_key() {
        let v = Identity::generate();
        let mut e = FileEncryptor::new(&[v.recipient()]).unwrap();
        let mut sample = vec![0, 0, 0, 40, 0x65];
        sample.extend([0x42; 39]);
        let (ct, aux) = e.encrypt(&sample).unwrap();
        let (_, aux2) = e.encrypt(&sample).unwrap();
        assert_ne!(aux.iv, aux2.iv);
        let key = KeyBundle::from_bytes(&e.key_info())
            .unwrap()
            .open(&v)
            .unwrap();
        assert_eq!(
            decrypt_sample(&ct, &key, &aux.iv, &aux.subsamples).unwrap(),
            sample
        );
        assert!(!format!("{e:?}").contains(&key.to_hex().to_string()));
    }
}
