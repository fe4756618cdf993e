//! The one-time setup code of first access (paper §3.2: no default account; the administrator is
//! registered at first access). Until an administrator exists, registration over the network needs
//! this code, which only someone at the device can read: the daemon prints it on its console at
//! start and writes it to `DATA/setup-code` (0600). So nobody else on the LAN can claim an
//! unconfigured camera in the minutes between power-on and the installer opening its page.
//!
//! 12 characters of a 31-letter alphabet without look-alikes (0/O, 1/I/L), shown in groups of
//! four (`7KQX-MW3P-HD9R`): about 59 bits, against at most 8 guesses per 30 s per address.
//! Compared ignoring case, dashes and spaces, in constant time.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The file beside the database that holds the code while setup is pending.
pub const FILE: &str = "setup-code";

const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const LEN: usize = 12;

/// A setup code. `Debug` never prints it.
pub struct SetupCode(Zeroizing<String>);

impl std::fmt::Debug for SetupCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetupCode(..)")
    }
}

impl SetupCode {
    /// A fresh random code.
    pub fn generate() -> SetupCode {
        let mut s = String::with_capacity(LEN + 2);
        let mut i = 0;
        while i < LEN {
            let mut b = [0u8; 1];
            OsRng.fill_bytes(&mut b);
            // Rejection sampling keeps the letters uniform (248 = 8 × 31).
            if b[0] >= 248 {
                continue;
            }
            if i > 0 && i % 4 == 0 {
                s.push('-');
            }
            s.push(ALPHABET[usize::from(b[0] % 31)] as char);
            i += 1;
        }
        SetupCode(Zeroizing::new(s))
    }

    /// The code as shown to people (`XXXX-XXXX-XXXX`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `given` is this code, ignoring case, dashes and white space.
    pub fn matches(&self, given: &str) -> bool {
        let a = normalise(&self.0);
        let b = normalise(given);
        a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
    }

    /// Writes the code to `path`, owner-only from the moment the file exists.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = tmp_path(path);
        let _ = std::fs::remove_file(&tmp);
        let r = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            writeln!(f, "{}", self.as_str())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    path.with_file_name(name)
}

fn normalise(s: &str) -> Zeroizing<String> {
    Zeroizing::new(
        s.chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    )
}

/// Removes the code file, if any (an administrator now exists). Returns whether one was removed.
pub fn remove(path: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn codes_are_grouped_unambiguous_and_random() {
        let a = SetupCode::generate();
        assert_eq!(a.as_str().len(), 14, "{}", a.as_str());
        assert_eq!(a.as_str().matches('-').count(), 2);
        assert!(
            a.as_str()
                .chars()
                .all(|c| c == '-' || ALPHABET.contains(&(c as u8)))
        );
        assert!(!a.as_str().contains(['0', 'O', '1', 'I', 'L']));
        assert_ne!(a.as_str(), SetupCode::generate().as_str());
        assert_eq!(format!("{a:?}"), "SetupCode(..)");
    }

    #[test]
    fn matching_ignores_case_dashes_and_spaces_only() {
        let c = SetupCode(Zeroizing::new("7KQX-MW3P-HD9R".into()));
        for ok in ["7KQX-MW3P-HD9R", "7kqxmw3phd9r", " 7KQX MW3P HD9R\n"] {
            assert!(c.matches(ok), "{ok:?}");
        }
        for bad in ["", "7KQX-MW3P-HD9", "7KQX-MW3P-HD9RR", "7KQX-MW3P-HD9S"] {
            assert!(!c.matches(bad), "{bad:?}");
        }
    }

    #[test]
    fn file_is_owner_only_and_removable() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(FILE);
        let c = SetupCode::generate();
        c.write(&p).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap().trim(), c.as_str());
        assert!(remove(&p).unwrap());
        assert!(!remove(&p).unwrap());
    }
}
