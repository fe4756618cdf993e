//! The vendor's firmware tools (paper §3.11): `camward firmware keygen`, `pack` and `inspect`.
//! They run on the vendor's build machine, never need a device, and show progress bars on a
//! terminal.

use crate::bundle::{self, Discard, PackInput, PackOptions};
use crate::keys::{self, KeyId, KeySource, SigningKey, TrustStore};
use crate::slots::{self, Layout};
use camward_cenc::{Identity, Recipient};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// Below this a bar would only flicker.
const BAR_THRESHOLD: u64 = 4 << 20;

fn bar(total: u64, what: &str) -> Option<indicatif::ProgressBar> {
    (std::io::stderr().is_terminal() && total > BAR_THRESHOLD).then(|| {
        let pb = indicatif::ProgressBar::new(total);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:8} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb.set_message(what.to_owned());
        pb
    })
}

/// `camward firmware keygen`: a vendor signing key, or (`--class`) a device-class key.
#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// Private key file to create (mode 0600, never overwritten); the public key goes to FILE.pub.
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
    /// Make a device-class X25519 key (bundles are encrypted to it; devices of the class hold it)
    /// instead of an Ed25519 signing key.
    #[arg(long)]
    pub class: bool,
}

impl KeygenArgs {
    pub fn run(&self) -> Result<(), String> {
        let pub_path = with_pub(&self.out);
        if pub_path.exists() {
            return Err(format!(
                "{} exists; refusing to overwrite it",
                pub_path.display()
            ));
        }
        if self.class {
            let id = Identity::generate();
            id.save(&self.out).map_err(|e| e.to_string())?;
            let r = id.recipient().to_string();
            keys::write_new(&pub_path, format!("{r}\n").as_bytes(), 0o644)
                .map_err(|e| e.to_string())?;
            println!("{r}");
            eprintln!(
                "device-class key: {} (install on each device of the class with `camward firmware class-key install`), \
                 recipient for `pack --encrypt-to`: {}",
                self.out.display(),
                pub_path.display()
            );
        } else {
            let k = SigningKey::generate().map_err(|e| e.to_string())?;
            k.save(&self.out).map_err(|e| e.to_string())?;
            let p = k.public();
            keys::write_new(
                &pub_path,
                format!("# firmware signing key {}\n{p}\n", p.id()).as_bytes(),
                0o644,
            )
            .map_err(|e| e.to_string())?;
            println!("{p}");
            eprintln!(
                "signing key {} (id {}); public key {}: pin it in the build (vendor-keys.txt) or \
                 install it on a device with `camward firmware trust add`",
                self.out.display(),
                p.id(),
                pub_path.display()
            );
        }
        Ok(())
    }
}

fn with_pub(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// `camward firmware pack`: sign (and optionally encrypt) payloads into a bundle.
#[derive(clap::Args, Debug)]
pub struct PackArgs {
    /// The vendor's signing key (from `camward firmware keygen`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Encrypt the payloads to this device-class key: a `cwr1…` recipient or a file holding one.
    /// Repeat for several classes.
    #[arg(long = "encrypt-to", value_name = "RECIPIENT|FILE")]
    pub encrypt_to: Vec<String>,
    /// The firmware version (X.Y.Z): what a device reports while it runs this bundle.
    #[arg(long, value_name = "X.Y.Z")]
    pub version: String,
    /// Anti-rollback counter: raise it with every release that fixes a vulnerability.
    #[arg(long = "security-version", value_name = "N")]
    pub security_version: u32,
    /// Oldest running version this bundle may replace.
    #[arg(long = "min-version", value_name = "X.Y.Z")]
    pub min_version: Option<String>,
    /// Days until devices refuse the bundle.
    #[arg(long = "expires-days", default_value_t = 365, value_name = "DAYS")]
    pub expires_days: u32,
    /// Seconds until devices refuse the bundle (overrides --expires-days; tests of expiry).
    #[arg(long = "expires-in-secs", hide = true, value_name = "SECS")]
    pub expires_in_secs: Option<u32>,
    /// Product the bundle is for.
    #[arg(long, default_value = crate::PRODUCT)]
    pub product: String,
    /// Key rotation: devices trust this key from the version on (the bundle is signed by it too).
    #[arg(long = "next-key", value_name = "FILE")]
    pub next_key: Option<PathBuf>,
    /// Key rotation: key ids devices stop trusting once this version booted healthy.
    #[arg(long = "retire-key", value_name = "ID")]
    pub retire_key: Vec<String>,
    /// Clear bytes per encrypted chunk.
    #[arg(long = "chunk-size", default_value_t = crate::manifest::DEFAULT_CHUNK, hide = true)]
    pub chunk_size: u32,
    /// Output bundle.
    #[arg(long, short, value_name = "FILE")]
    pub out: PathBuf,
    /// Payload files, `[NAME=]PATH`; one must be the `camward` executable.
    #[arg(required = true, value_name = "PAYLOAD")]
    pub payloads: Vec<String>,
}

impl PackArgs {
    pub fn run(&self) -> Result<(), String> {
        let key = SigningKey::load(&self.key).map_err(|e| e.to_string())?;
        let next = self
            .next_key
            .as_deref()
            .map(SigningKey::load)
            .transpose()
            .map_err(|e| e.to_string())?;
        let mut encrypt_to = Vec::new();
        for r in &self.encrypt_to {
            let text = if r.starts_with("cwr1") {
                r.clone()
            } else {
                std::fs::read_to_string(r).map_err(|e| format!("--encrypt-to {r}: {e}"))?
            };
            let line = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .unwrap_or("");
            encrypt_to.push(
                line.parse::<Recipient>()
                    .map_err(|e| format!("--encrypt-to {r}: {e}"))?,
            );
        }
        let mut inputs = Vec::new();
        for p in &self.payloads {
            let (name, path) = match p.split_once('=') {
                Some((n, path)) => (n.to_owned(), PathBuf::from(path)),
                None => {
                    let path = PathBuf::from(p);
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .ok_or_else(|| format!("{p}: not a file"))?;
                    (name, path)
                }
            };
            let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            #[cfg(unix)]
            let exec = {
                use std::os::unix::fs::PermissionsExt;
                meta.permissions().mode() & 0o111 != 0
            };
            #[cfg(not(unix))]
            let exec = name == crate::manifest::MAIN_PAYLOAD;
            inputs.push(PackInput { name, path, exec });
        }
        let now = OffsetDateTime::now_utc();
        let opts = PackOptions {
            product: self.product.clone(),
            version: self.version.clone(),
            security_version: self.security_version,
            min_version: self.min_version.clone(),
            created: now,
            expires: now
                + match self.expires_in_secs {
                    Some(s) => time::Duration::seconds(i64::from(s)),
                    None => time::Duration::days(i64::from(self.expires_days)),
                },
            encrypt_to,
            chunk_size: self.chunk_size,
            retire_keys: self
                .retire_key
                .iter()
                .map(|k| k.parse::<KeyId>())
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?,
        };
        let total: u64 = inputs
            .iter()
            .filter_map(|i| std::fs::metadata(&i.path).ok())
            .map(|m| m.len())
            .sum();
        let tmp = with_suffix(&self.out, ".part");
        let file = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        let pb = bar(total, "packing");
        let res = bundle::pack(&key, next.as_ref(), &opts, &inputs, &mut w, &mut |n| {
            if let Some(pb) = &pb {
                pb.set_position(n);
            }
        });
        if let Some(pb) = &pb {
            pb.finish_and_clear();
        }
        let m = match res.and_then(|m| {
            let f = w
                .into_inner()
                .map_err(|e| crate::Error::io("cannot write", &tmp, e.into_error()))?;
            f.sync_all()
                .map_err(|e| crate::Error::io("cannot sync", &tmp, e))?;
            Ok(m)
        }) {
            Ok(m) => m,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e.to_string());
            }
        };
        std::fs::rename(&tmp, &self.out).map_err(|e| format!("{}: {e}", self.out.display()))?;
        eprintln!(
            "{}: {} {} (security version {}), {} payload(s), signed by {}{}{}",
            self.out.display(),
            m.product,
            m.version,
            m.security_version,
            m.payloads.len(),
            key.public().id(),
            next.map(|n| format!(" and next key {}", n.public().id()))
                .unwrap_or_default(),
            if m.encryption.is_some() {
                ", encrypted"
            } else {
                ""
            }
        );
        Ok(())
    }
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `camward firmware inspect`: the manifest, who signed it, and whether it verifies.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// The bundle.
    pub file: PathBuf,
    /// Also trust this public key file (besides the pinned keys and the data directory's owner keys).
    #[arg(long = "trust", value_name = "FILE.pub")]
    pub trust: Vec<PathBuf>,
    /// The device-class key, to check encrypted payloads too.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Print the manifest and the verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

impl InspectArgs {
    /// Exit 0: signed by a trusted key and every payload checks; 1: refused or unreadable.
    pub fn run(&self, data_dir: &Path) -> i32 {
        match self.inspect(data_dir) {
            Ok(ok) => i32::from(!ok),
            Err(e) => {
                eprintln!("camward firmware inspect: {e}");
                1
            }
        }
    }

    fn inspect(&self, data_dir: &Path) -> Result<bool, String> {
        let layout = Layout::new(data_dir);
        let mut trust = if layout.root.is_dir() {
            slots::load_state(&layout)
                .and_then(|s| s.trust(&layout))
                .map_err(|e| e.to_string())?
        } else {
            TrustStore::of(keys::pinned().into_iter().map(|k| (k, KeySource::Pinned)))
        };
        for t in &self.trust {
            trust.add(
                keys::load_public(t).map_err(|e| e.to_string())?,
                KeySource::Owner,
            );
        }
        let identity = self
            .identity
            .as_deref()
            .map(Identity::load)
            .transpose()
            .map_err(|e| e.to_string())?;
        let file =
            std::fs::File::open(&self.file).map_err(|e| format!("{}: {e}", self.file.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut r = std::io::BufReader::with_capacity(1 << 20, file);
        let head = bundle::read_head(&mut r).map_err(|e| e.to_string())?;
        let signed_by: Vec<String> = head
            .signatures
            .iter()
            .map(|s| s.key_id.to_string())
            .collect();
        let verdict = head.verify(&trust);
        // The manifest is shown even when it does not verify (marked so): a vendor debugging a
        // key mix-up needs to see it; nothing of it is acted upon.
        let manifest: Option<crate::Manifest> = match &verdict {
            Ok(v) => Some(v.manifest.clone()),
            Err(_) => serde_json::from_slice(&head.raw).ok(),
        };
        let mut payloads = "not checked".to_string();
        let mut ok = verdict.is_ok();
        if let Ok(v) = &verdict {
            if v.manifest.encryption.is_some() && identity.is_none() {
                payloads = "not checked: encrypted (give --identity CLASS.key)".into();
            } else {
                let pb = bar(size, "checking");
                let res = bundle::extract(&mut r, v, identity.as_ref(), &mut Discard, &mut |n| {
                    if let Some(pb) = &pb {
                        pb.set_position(n);
                    }
                });
                if let Some(pb) = &pb {
                    pb.finish_and_clear();
                }
                match res {
                    Ok(()) => payloads = "every size and SHA-256 matches".into(),
                    Err(e) => {
                        ok = false;
                        payloads = e.to_string();
                    }
                }
            }
        }
        let signature = match &verdict {
            Ok(v) => format!(
                "verifies: key {} ({:?})",
                v.signer.key.id(),
                v.signer.source
            )
            .to_lowercase(),
            Err(e) => format!("refused: {e}"),
        };
        if self.json {
            let out = serde_json::json!({
                "file": self.file, "bytes": size, "signed_by": signed_by,
                "signature": signature, "verified": verdict.is_ok(), "payloads_check": payloads,
                "ok": ok, "manifest": manifest,
            });
            println!("{}", serde_json::to_string_pretty(&out).expect("json"));
            return Ok(ok);
        }
        println!("bundle     {} ({size} bytes)", self.file.display());
        if let Some(m) = &manifest {
            println!("product    {}", m.product);
            println!(
                "version    {} (security version {}{})",
                m.version,
                m.security_version,
                m.min_version
                    .as_ref()
                    .map(|v| format!(", replaces {v} or newer"))
                    .unwrap_or_default()
            );
            println!("created    {}", m.created);
            println!("expires    {}", m.expires);
            match &m.encryption {
                Some(e) => println!(
                    "encrypted  {} to {}",
                    e.scheme,
                    e.keys
                        .iter()
                        .map(|k| k.recipient.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => println!("encrypted  no"),
            }
            for p in &m.payloads {
                println!(
                    "payload    {:<24} {:>12} bytes  sha256 {}{}",
                    p.name,
                    p.size,
                    p.sha256,
                    if p.exec { "  exec" } else { "" }
                );
            }
            if let Some(k) = &m.next_key {
                println!("rotates to {k}");
            }
            if !m.retire_keys.is_empty() {
                println!("retires    {}", m.retire_keys.join(", "));
            }
        }
        println!("signed by  {}", signed_by.join(", "));
        println!("signature  {signature}");
        println!("payloads   {payloads}");
        Ok(ok)
    }
}
