//! Durable, permission-aware file helpers for keys and certificates.
//! Writes go through temp file + fsync + rename so a power cut never leaves a half-written file.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{CertError, Result};

/// Mode of private keys: owner read/write only.
pub(crate) const KEY_MODE: u32 = 0o600;
/// Mode of certificates and other public files.
pub(crate) const PUBLIC_MODE: u32 = 0o644;
/// Mode of directories holding keys.
pub(crate) const PRIVATE_DIR_MODE: u32 = 0o700;

/// Creates `dir` (and parents) and makes it 0700 even if it already existed with wider rights.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| CertError::io("create directory", dir, e))?;
    set_mode(dir, PRIVATE_DIR_MODE)
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| CertError::io("set permissions of", path, e))
}

/// Permission bits (lower 12) of an existing path.
pub(crate) fn mode_of(path: &Path) -> Result<u32> {
    let meta = fs::metadata(path).map_err(|e| CertError::io("stat", path, e))?;
    Ok(meta.permissions().mode() & 0o7777)
}

/// Reads a UTF-8 file; `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CertError::io("read", path, e)),
    }
}

/// Replaces `path` with `data` atomically: readers see the old or the new content, never a mix.
///
/// The temp file is created with `mode` from the start, so a key is never readable by others,
/// not even for the instant between create and chmod.
pub(crate) fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut rnd = [0u8; 6];
    aws_lc_rs::rand::fill(&mut rnd).map_err(|_| CertError::Crypto("random generator"))?;
    let tmp = dir.join(format!(".{name}.tmp-{}", hex_lower(&rnd)));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| CertError::io("create", &tmp, e))?;
        // open(2) applies the umask (0644 under umask 077 would become 0600): set `mode` exactly.
        set_mode(&tmp, mode)?;
        f.write_all(data)
            .map_err(|e| CertError::io("write", &tmp, e))?;
        f.sync_all().map_err(|e| CertError::io("fsync", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| CertError::io("rename into place", path, e))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Like [`write_atomic`] but never replaces an existing file: returns `false` (and writes
/// nothing) when `path` already exists. Two processes creating the device key at the same
/// moment thus agree on one key instead of the last rename silently winning.
pub(crate) fn create_atomic(path: &Path, data: &[u8], mode: u32) -> Result<bool> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tmp = dir.join(format!(
        ".{}.new-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        hex_lower(&random_bytes::<6>()?)
    ));
    write_atomic(&tmp, data, mode)?;
    // link(2) fails with EEXIST instead of replacing, unlike rename(2).
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(CertError::io("create", path, e)),
    }
}

/// Removes `path` durably; missing is not an error.
pub(crate) fn remove_durable(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => {
            let dir = path.parent().unwrap_or_else(|| Path::new("."));
            sync_dir(dir)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(CertError::io("remove", path, e)),
    }
}

/// Makes a rename or unlink in `dir` survive a power cut.
fn sync_dir(dir: &Path) -> Result<()> {
    let d = fs::File::open(dir).map_err(|e| CertError::io("open directory", dir, e))?;
    d.sync_all()
        .map_err(|e| CertError::io("fsync directory", dir, e))
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Random bytes from the system generator (aws-lc-rs).
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| CertError::Crypto("random generator"))?;
    Ok(buf)
}

/// A positive, fixed-length X.509 serial number (RFC 5280 §4.1.2.2: ≤ 20 octets, positive).
pub(crate) fn random_cert_serial() -> Result<rcgen::SerialNumber> {
    let mut b = random_bytes::<16>()?;
    // Clear the sign bit (DER INTEGER must stay positive) and set the next one so no leading
    // zero byte gets stripped and every serial has the same length.
    b[0] = (b[0] & 0x7f) | 0x40;
    Ok(rcgen::SerialNumber::from_slice(&b))
}
