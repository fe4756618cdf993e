//! The device's secrets key, `DATA/identity/secrets.key` (32 random bytes, mode 0600, in the 0700
//! identity directory beside the device key): what seals the configuration's passwords and the
//! accounts' Digest HA1 values in the database (paper §3.2; camward-config's `seal`).
//!
//! Made on first start. Two processes starting at once (the daemon and a console tool) agree on one
//! key: each writes a private temporary file and links it into place, which fails instead of
//! replacing when the other was first. An existing key is never overwritten: a file of the wrong
//! length stops start-up with the path, because replacing it would lose every sealed secret.

use crate::StoreError;
use crate::open::tighten;
use camward_config::SealKey;
use camward_config::seal::KEY_LEN;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The identity directory (shared with camward-tls, which keeps the device key there).
pub const IDENTITY_DIR: &str = "identity";
/// The key file inside it.
pub const KEY_FILE: &str = "secrets.key";

/// The key file of a data directory.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(IDENTITY_DIR).join(KEY_FILE)
}

fn err(path: &Path, detail: impl Into<String>) -> StoreError {
    StoreError::SecretsKey {
        path: path.to_owned(),
        detail: detail.into(),
    }
}

/// Loads the key of `data_dir`, creating the identity directory and the key when missing.
pub(crate) fn load_or_create(data_dir: &Path) -> Result<SealKey, StoreError> {
    let dir = data_dir.join(IDENTITY_DIR);
    let path = dir.join(KEY_FILE);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| err(&dir, format!("cannot create the directory: {e}")))?;
    // An install from before these modes were set.
    tighten(&dir, 0o700)?;
    if !path.exists() {
        create(&dir, &path)?;
    }
    tighten(&path, 0o600)?;
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(KEY_LEN + 1));
    fs::File::open(&path)
        .and_then(|f| f.take(KEY_LEN as u64 + 1).read_to_end(&mut bytes))
        .map_err(|e| err(&path, format!("cannot read: {e}")))?;
    SealKey::from_bytes(&bytes).map_err(|e| {
        err(
            &path,
            format!("{e}; it was left untouched: restore the device's key file from a backup"),
        )
    })
}

fn create(dir: &Path, path: &Path) -> Result<(), StoreError> {
    let key = SealKey::generate().map_err(|e| err(path, e.to_string()))?;
    let mut rnd = [0u8; 8];
    rnd.copy_from_slice(&SealKey::generate().map_err(|e| err(path, e.to_string()))?[..8]);
    let tmp = dir.join(format!(
        ".{KEY_FILE}.new-{}",
        rnd.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&key[..])?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(err(&tmp, format!("cannot write: {e}")));
    }
    // link(2) fails with EEXIST instead of replacing, unlike rename(2).
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created the device's secrets key");
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| err(dir, format!("cannot fsync: {e}")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(err(path, format!("cannot create: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn key_is_made_once_private_and_kept() {
        let d = tempfile::tempdir().unwrap();
        let k1 = load_or_create(d.path()).unwrap();
        let path = key_path(d.path());
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&d.path().join(IDENTITY_DIR)), 0o700);
        assert_eq!(fs::read(&path).unwrap().len(), KEY_LEN);
        let sealed = k1.seal(b"x", "c");
        let k2 = load_or_create(d.path()).unwrap();
        assert_eq!(&k2.open(&sealed, "c").unwrap()[..], b"x");
    }

    #[test]
    fn loose_permissions_are_tightened() {
        let d = tempfile::tempdir().unwrap();
        load_or_create(d.path()).unwrap();
        let path = key_path(d.path());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(
            d.path().join(IDENTITY_DIR),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        load_or_create(d.path()).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&d.path().join(IDENTITY_DIR)), 0o700);
    }

    #[test]
    fn a_damaged_key_stops_and_is_left_untouched() {
        let d = tempfile::tempdir().unwrap();
        load_or_create(d.path()).unwrap();
        let path = key_path(d.path());
        fs::write(&path, b"short").unwrap();
        let e = load_or_create(d.path()).unwrap_err().to_string();
        assert!(e.contains("secrets.key") && e.contains("32 bytes"), "{e}");
        assert_eq!(fs::read(&path).unwrap(), b"short");
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_key() {
        let d = tempfile::tempdir().unwrap();
        let keys: Vec<SealKey> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| load_or_create(d.path()).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let sealed = keys[0].seal(b"x", "c");
        for k in &keys {
            assert!(k.open(&sealed, "c").is_ok());
        }
    }
}
