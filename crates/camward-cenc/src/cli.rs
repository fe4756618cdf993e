//! Console tools mounted by the binary: `camward keygen`, `camward decrypt`, `camward keys`,
//! and the helper `camward verify --identity` uses to get clear bytes to verify.

use crate::decrypt::{content_key, decrypt_file, decrypt_to_vec};
use crate::error::{Error, Result};
use crate::identity::Identity;
use clap::Args;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Exit code: done.
pub const EXIT_OK: i32 = 0;
/// Exit code: unreadable input, damaged file, I/O error, bad arguments.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: the identity is not one the file was encrypted to.
pub const EXIT_WRONG_IDENTITY: i32 = 2;

/// Files above this get a progress bar when stderr is a terminal.
const BAR_THRESHOLD: u64 = 8 << 20;

/// Create a viewer identity for watching encrypted recordings; prints its recipient string.
#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// Where to write the secret identity (created with mode 0600; an existing file is never overwritten).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,
}

/// Decrypt an encrypted recording into a clear MP4 that plays and still verifies.
#[derive(Debug, Clone, Args)]
pub struct DecryptArgs {
    /// The encrypted recording (.mp4).
    pub file: PathBuf,
    /// Identity file from `camward keygen`.
    #[arg(long, short = 'i', value_name = "FILE")]
    pub identity: PathBuf,
    /// Where to write the clear MP4; default FILE with `.clear.mp4` instead of its extension.
    #[arg(long, short = 'o', value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Print a recording's content key in hex, for `ffmpeg -decryption_key HEX -i FILE`.
#[derive(Debug, Clone, Args)]
pub struct KeysArgs {
    /// The encrypted recording (.mp4).
    pub file: PathBuf,
    /// Identity file from `camward keygen`.
    #[arg(long, short = 'i', value_name = "FILE")]
    pub identity: PathBuf,
}

fn fail(cmd: &str, e: &Error) -> i32 {
    eprintln!("camward {cmd}: {e}");
    if e.is_wrong_identity() {
        EXIT_WRONG_IDENTITY
    } else {
        EXIT_FAILED
    }
}

impl KeygenArgs {
    /// Writes the identity; prints the recipient on stdout (and how to use it on stderr).
    pub fn run(self) -> i32 {
        let id = Identity::generate();
        if let Err(e) = id.save(&self.out) {
            return fail("keygen", &e);
        }
        eprintln!(
            "camward keygen: identity written to {} (keep it secret; it never goes on the camera).\n\
             Add this recipient to Setup › User mng. › Data encryption:",
            self.out.display()
        );
        println!("{}", id.recipient());
        EXIT_OK
    }
}

/// `FILE.mp4` → `FILE.clear.mp4`.
pub fn default_output(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    input.with_file_name(format!("{stem}.clear.mp4"))
}

impl DecryptArgs {
    pub fn run(self) -> i32 {
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| default_output(&self.file));
        if out.exists() && !self.force {
            eprintln!(
                "camward decrypt: {} exists; pass --force to replace it or -o to choose another name",
                out.display()
            );
            return EXIT_FAILED;
        }
        let id = match Identity::load(&self.identity) {
            Ok(id) => id,
            Err(e) => return fail("decrypt", &e),
        };
        let size = std::fs::metadata(&self.file).map(|m| m.len()).unwrap_or(0);
        // A bar only for a person watching; scripts and logs get the summary line alone.
        let bar = (std::io::stderr().is_terminal() && size > BAR_THRESHOLD).then(|| {
            let pb = indicatif::ProgressBar::new(size);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} decrypting [{bar:40}] {bytes}/{total_bytes} ({eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            pb
        });
        let mut progress = |done: u64, _total: u64| {
            if let Some(b) = &bar {
                b.set_position(done);
            }
        };
        let r = decrypt_file(&self.file, &id, &out, &mut progress);
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        match r {
            Ok(s) => {
                eprintln!(
                    "camward decrypt: {} samples decrypted (KID {}), clear MP4 written to {}",
                    s.samples,
                    s.kid,
                    out.display()
                );
                EXIT_OK
            }
            Err(e) => fail("decrypt", &e),
        }
    }
}

impl KeysArgs {
    /// Prints the key alone on stdout so `$(camward keys …)` works in a shell.
    pub fn run(self) -> i32 {
        let r = Identity::load(&self.identity).and_then(|id| content_key(&self.file, &id));
        match r {
            Ok(k) => {
                println!("{}", k.to_hex().as_str());
                if std::io::stderr().is_terminal() {
                    // ffmpeg 5.1 misapplies senc on seekable multi-fragment input (encryption.md).
                    eprintln!(
                        "play with: ffmpeg -seekable 0 -decryption_key KEY -i {}",
                        self.file.display()
                    );
                }
                EXIT_OK
            }
            Err(e) => fail("keys", &e),
        }
    }
}

/// For `camward verify --identity FILE`: the recording's clear bytes, decrypted in memory.
pub fn read_decrypted(file: &Path, identity: &Path) -> Result<Vec<u8>> {
    let id = Identity::load(identity)?;
    let data =
        std::fs::read(file).map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
    decrypt_to_vec(&data, &id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        d: DecryptArgs,
    }

    #[test]
    fn decrypt_args_parse() {
        let t =
            T::try_parse_from(["x", "rec.mp4", "--identity", "v.key", "-o", "out.mp4"]).unwrap();
        assert_eq!(t.d.file, PathBuf::from("rec.mp4"));
        assert_eq!(t.d.out, Some(PathBuf::from("out.mp4")));
        assert!(T::try_parse_from(["x", "rec.mp4"]).is_err());
    }

    #[test]
    fn default_output_sits_beside_input() {
        assert_eq!(
            default_output(Path::new("/sd/rec/2024-01-01.mp4")),
            PathBuf::from("/sd/rec/2024-01-01.clear.mp4")
        );
    }
}
