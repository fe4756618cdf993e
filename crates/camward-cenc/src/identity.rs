//! Viewer keys: the public `cwr1…` recipient string the camera is configured with, and the
//! secret identity file (`camward keygen`) that only the viewer holds.

use crate::error::{Error, Result};
use crate::key::fill_random;
use bech32::primitives::decode::{CheckedHrpstring, CheckedHrpstringError};
use bech32::{Bech32m, Hrp};
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

pub use camward_config::data_encryption::{RECIPIENT_HRP, SECRET_HRP};

/// A viewer's X25519 public key: what the camera stores in `data_encryption.recipients`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Recipient([u8; 32]);

impl Recipient {
    /// The raw X25519 public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// From raw bytes, refusing the low-order points that would make every wrap to it public.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, String> {
        camward_config::data_encryption::check_point(&bytes)?;
        Ok(Recipient(bytes))
    }

    /// A short form for messages: `cwr1abcdefgh…` (unique enough to tell viewers apart).
    pub fn short(&self) -> String {
        let s = self.to_string();
        format!("{}…", &s[..s.len().min(14)])
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&camward_config::data_encryption::format_recipient(&self.0))
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({self})")
    }
}

impl FromStr for Recipient {
    type Err = Error;

    /// Strict: exactly one canonical Bech32m string, `cwr` prefix, 32 bytes, no whitespace.
    fn from_str(s: &str) -> Result<Self> {
        parse_recipient(s).map_err(|reason| Error::Recipient {
            // Cap what is echoed back: the input may be a pasted secret or garbage of any size.
            input: s.chars().take(80).collect(),
            reason,
        })
    }
}

/// The one parser of `cwr1…` strings is the configuration's (the camera validates what it stores
/// with it): strict Bech32m, canonical, 32 bytes, not a low-order point.
fn parse_recipient(s: &str) -> Result<Recipient, String> {
    camward_config::data_encryption::parse_recipient(s).map(Recipient)
}

/// A viewer's secret X25519 key. Lives only on the viewer's machine, never on the camera.
pub struct Identity {
    secret: StaticSecret,
}

impl Identity {
    /// A fresh random identity.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        fill_random(bytes.as_mut());
        Identity {
            secret: StaticSecret::from(*bytes),
        }
    }

    /// The public half, to put in the camera's `data_encryption.recipients`.
    pub fn recipient(&self) -> Recipient {
        Recipient(PublicKey::from(&self.secret).to_bytes())
    }

    pub(crate) fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The identity file's text: comments saying what it is, then the secret line.
    pub fn to_file_contents(&self) -> Zeroizing<String> {
        let hrp = Hrp::parse_unchecked(SECRET_HRP);
        let secret = Zeroizing::new(
            bech32::encode_upper::<Bech32m>(hrp, self.secret_bytes().as_ref())
                .expect("32 bytes always fit a Bech32m string"),
        );
        Zeroizing::new(format!(
            "# camward viewer identity (X25519 secret key). Whoever holds this file can watch every\n\
             # recording encrypted to it: keep it off the camera, readable only by you (0600).\n\
             # recipient: {}\n\
             {}\n",
            self.recipient(),
            secret.as_str()
        ))
    }

    /// Parses an identity file's text. `path` is only for messages.
    pub fn from_file_contents(text: &str, path: &Path) -> Result<Self> {
        let err = |reason: String| Error::Identity {
            path: path.to_path_buf(),
            reason,
        };
        let mut found: Option<Identity> = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.to_ascii_lowercase().starts_with("cwr1") {
                return Err(err(format!(
                    "line {} is a recipient (public key), not an identity; pass the file written by \
                     `camward keygen --out`",
                    n + 1
                )));
            }
            if found.is_some() {
                return Err(err(format!(
                    "line {}: more than one secret key; an identity file holds exactly one",
                    n + 1
                )));
            }
            found = Some(parse_secret(line).map_err(|r| err(format!("line {}: {r}", n + 1)))?);
        }
        found.ok_or_else(|| {
            err("no `CAMWARD-SECRET-KEY-1…` line: not a camward identity file".into())
        })
    }

    /// Writes a new identity file readable only by its owner; refuses to overwrite any file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(|e| Error::Identity {
            path: path.to_path_buf(),
            reason: if e.kind() == std::io::ErrorKind::AlreadyExists {
                "already exists; refusing to overwrite an identity (recordings encrypted to it would \
                 become unreadable)"
                    .into()
            } else {
                format!("cannot create: {e}")
            },
        })?;
        let contents = self.to_file_contents();
        f.write_all(contents.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::Identity {
                path: path.to_path_buf(),
                reason: format!("cannot write: {e}"),
            })
    }

    /// Reads an identity file. On Unix, refuses a file others can read, as ssh does with keys:
    /// a world-readable identity is as good as a published one.
    pub fn load(path: &Path) -> Result<Self> {
        let err = |reason: String| Error::Identity {
            path: path.to_path_buf(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
        if !meta.is_file() {
            return Err(err("is not a regular file".into()));
        }
        if meta.len() > 64 * 1024 {
            return Err(err("is larger than 64 KiB: not an identity file".into()));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(err(format!(
                    "is readable or writable by others (mode {mode:04o}); run `chmod 600 {}`",
                    path.display()
                )));
            }
        }
        let bytes =
            Zeroizing::new(std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?);
        let text = std::str::from_utf8(&bytes).map_err(|_| err("is not UTF-8 text".into()))?;
        Identity::from_file_contents(text, path)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.recipient())
    }
}

fn parse_secret(line: &str) -> Result<Identity, String> {
    let checked = CheckedHrpstring::new::<Bech32m>(line).map_err(|e| match e {
        CheckedHrpstringError::Checksum(_) => {
            "secret key checksum does not match: the file was edited or damaged".to_string()
        }
        CheckedHrpstringError::Parse(p) => format!("not a camward secret key: {p}"),
        other => format!("not a camward secret key: {other}"),
    })?;
    if checked.hrp().to_lowercase() != SECRET_HRP {
        return Err(format!(
            "not a camward secret key (prefix `{}`, expected `CAMWARD-SECRET-KEY-1`)",
            checked.hrp()
        ));
    }
    let bytes = Zeroizing::new(checked.byte_iter().collect::<Vec<u8>>());
    let arr: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("secret key holds {} bytes, expected 32", bytes.len()))?;
    Ok(Identity {
        secret: StaticSecret::from(arr),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(s: &str) -> String {
        s.parse::<Recipient>().unwrap_err().to_string()
    }

    #[test]
    fn recipient_string_roundtrips_and_starts_with_cwr1() {
        let r = Identity::generate().recipient();
        let s = r.to_string();
        assert!(s.starts_with("cwr1"), "{s}");
        assert_eq!(s.parse::<Recipient>().unwrap(), r);
        // All upper case is the same Bech32 string.
        assert_eq!(s.to_ascii_uppercase().parse::<Recipient>().unwrap(), r);
    }

    #[test]
    fn recipient_parser_names_the_problem() {
        let good = Identity::generate().recipient().to_string();
        assert!(err_of("").contains("empty"));
        assert!(err_of(&format!(" {good}")).contains("whitespace"));
        assert!(
            err_of("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
                .contains("age recipient")
        );
        assert!(err_of("npub1xyz").contains("must start with `cwr1`"));
        // One character changed: the checksum catches it.
        let mut typo: Vec<char> = good.chars().collect();
        let i = typo.len() - 10;
        typo[i] = if typo[i] == 'q' { 'p' } else { 'q' };
        let typo: String = typo.into_iter().collect();
        assert!(err_of(&typo).contains("checksum"), "{}", err_of(&typo));
        // Mixed case is not Bech32.
        let mixed = format!("{}{}", &good[..10], good[10..].to_ascii_uppercase());
        assert!(err_of(&mixed).contains("Bech32"), "{}", err_of(&mixed));
        // Right prefix, wrong length.
        let short = bech32::encode::<Bech32m>(Hrp::parse_unchecked("cwr"), &[1u8; 16]).unwrap();
        assert!(err_of(&short).contains("holds 16 bytes"));
        // Bech32 (not Bech32m) checksum is refused.
        let old =
            bech32::encode::<bech32::Bech32>(Hrp::parse_unchecked("cwr"), &[9u8; 32]).unwrap();
        assert!(err_of(&old).contains("checksum"));
    }

    #[test]
    fn secret_identity_is_refused_as_recipient() {
        let id = Identity::generate();
        let text = id.to_file_contents();
        let secret = text.lines().find(|l| l.starts_with("CAMWARD")).unwrap();
        assert!(err_of(secret).contains("secret identity"));
    }

    #[test]
    fn low_order_points_are_refused() {
        // The all-zero point and the point of order 8 from RFC 7748's list.
        assert!(Recipient::from_bytes([0u8; 32]).is_err());
        let mut p = [0u8; 32];
        p[0] = 1;
        assert!(Recipient::from_bytes(p).is_err());
        let s = bech32::encode::<Bech32m>(Hrp::parse_unchecked("cwr"), &[0u8; 32]).unwrap();
        assert!(err_of(&s).contains("low-order"));
    }

    #[test]
    fn identity_file_is_0600_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("viewer.key");
        let id = Identity::generate();
        id.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let back = Identity::load(&path).unwrap();
        assert_eq!(back.recipient(), id.recipient());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&id.recipient().to_string()));
        // Never overwritten.
        assert!(
            id.save(&path)
                .unwrap_err()
                .to_string()
                .contains("already exists")
        );
    }

    #[cfg(unix)]
    #[test]
    fn identity_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("viewer.key");
        Identity::generate().save(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Identity::load(&path).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
    }

    #[test]
    fn identity_file_errors_are_specific() {
        let p = Path::new("x.key");
        let r = Identity::generate().recipient().to_string();
        let e = Identity::from_file_contents(&r, p).unwrap_err().to_string();
        assert!(e.contains("is a recipient"), "{e}");
        let e = Identity::from_file_contents("# only comments\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no `CAMWARD-SECRET-KEY-1"), "{e}");
        let two = format!(
            "{}{}",
            Identity::generate().to_file_contents().as_str(),
            Identity::generate().to_file_contents().as_str()
        );
        let e = Identity::from_file_contents(&two, p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than one"), "{e}");
    }
}
