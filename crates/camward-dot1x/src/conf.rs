//! The wpa_supplicant configuration camward generates (paper §3.6): wired driver, `ap_scan=0`,
//! one network block for the configured EAP method, and the files it names, all mode 0600 in a
//! 0700 directory of the data directory that disabling removes.
//!
//! Values the administrator typed (identity, anonymous identity) are written as hex strings, which
//! wpa_supplicant accepts for every string field: no quote or newline in them can end the field and
//! inject configuration. The password is not written at all: wpa_supplicant requests it over the
//! control socket and the supervisor answers from memory. The device key is referenced where it
//! lies (`identity/device.key`), never copied.

use camward_config::{Dot1xConfig, EapMethod};
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Sub-directory of the data directory that holds the generated files.
pub const DIR: &str = "dot1x";
/// Longest path a Unix socket address holds (sun_path minus the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The generated files of one data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub dir: PathBuf,
}

impl Files {
    pub fn new(data_dir: &Path) -> Self {
        Files {
            dir: data_dir.join(DIR),
        }
    }
    /// `wpa_supplicant.conf`.
    pub fn conf(&self) -> PathBuf {
        self.dir.join("wpa_supplicant.conf")
    }
    /// The authentication server's CA certificate (PEM).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    /// The client certificate chain presented for EAP-TLS (PEM).
    pub fn client_cert(&self) -> PathBuf {
        self.dir.join("client.pem")
    }
    /// wpa_supplicant's control interface directory; its socket is `ctrl/<interface>`.
    pub fn ctrl_dir(&self) -> PathBuf {
        self.dir.join("ctrl")
    }
    /// wpa_supplicant's control socket for `interface`.
    pub fn ctrl_socket(&self, interface: &str) -> PathBuf {
        self.ctrl_dir().join(interface)
    }
    /// camward's own end of a control connection (`cmd` or `ev`).
    pub fn client_socket(&self, which: &str) -> PathBuf {
        self.dir.join(format!("camward-{which}.sock"))
    }

    /// Removes every generated file (disabling 802.1X). Missing files are fine.
    pub fn remove(&self) -> std::io::Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Everything the supplicant needs, resolved by the daemon from the `dot1x` section and the
/// device identity.
#[derive(Clone, PartialEq, Eq)]
pub struct Plan {
    pub interface: String,
    pub method: EapMethod,
    pub identity: String,
    pub anonymous_identity: String,
    /// MD5 and PEAP.
    pub password: Option<String>,
    /// PEAP and TLS: the server's CA (PEM).
    pub ca_pem: String,
    /// TLS: the chain to present (PEM, leaf first).
    pub client_cert_pem: String,
    /// TLS: the device key file (`DATA/identity/device.key`), referenced in place.
    pub private_key: PathBuf,
    /// Seconds between camera-initiated re-authentications; 0 = never.
    pub reauth_period: u32,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password: plans end up in logs through `?plan`.
        f.debug_struct("Plan")
            .field("interface", &self.interface)
            .field("method", &self.method)
            .field("identity", &self.identity)
            .field("password", &self.password.as_ref().map(|_| "(set)"))
            .field("private_key", &self.private_key)
            .field("reauth_period", &self.reauth_period)
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// The plan for a section; `device_chain_pem` is what the device identity serves (used for
    /// TLS unless the section carries its own certificate).
    pub fn from_config(c: &Dot1xConfig, device_chain_pem: &str, private_key: PathBuf) -> Plan {
        let client = if c.client_certificate.trim().is_empty() {
            device_chain_pem
        } else {
            &c.client_certificate
        };
        Plan {
            interface: c.interface.clone(),
            method: c.method,
            identity: c.identity.clone(),
            anonymous_identity: c.anonymous_identity.clone(),
            password: c
                .method
                .uses_password()
                .then(|| c.password.expose().map(str::to_owned))
                .flatten(),
            ca_pem: if c.method.uses_tls() {
                c.ca_certificate.clone()
            } else {
                String::new()
            },
            client_cert_pem: if c.method == EapMethod::Tls {
                client.to_owned()
            } else {
                String::new()
            },
            private_key,
            reauth_period: c.reauth_period,
        }
    }
}

/// Why the files could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("the path {0} is too long for a Unix socket: choose a shorter data directory")]
    SocketPath(PathBuf),
    #[error("the path {0} cannot appear in wpa_supplicant.conf (quote or newline)")]
    BadPath(PathBuf),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn hex(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn quoted_path(p: &Path) -> Result<String, ConfError> {
    let s = p.to_str().ok_or_else(|| ConfError::BadPath(p.to_owned()))?;
    if s.contains(['"', '\n', '\r', '\0']) {
        return Err(ConfError::BadPath(p.to_owned()));
    }
    Ok(format!("\"{s}\""))
}

/// The text of `wpa_supplicant.conf` for `plan` with files under `files`.
pub fn render(plan: &Plan, files: &Files) -> Result<String, ConfError> {
    let ctrl = files.ctrl_dir();
    let ctrl_str = quoted_path(&ctrl)?;
    let mut s = String::from(
        "# Generated by camward (IEEE 802.1X settings); rewritten on every change, removed when off.\n",
    );
    // ctrl_interface takes the rest of the line unquoted.
    let _ = writeln!(s, "ctrl_interface={}", ctrl_str.trim_matches('"'));
    s.push_str("ap_scan=0\neapol_version=2\nfast_reauth=1\nnetwork={\n\tkey_mgmt=IEEE8021X\n");
    let _ = writeln!(s, "\teap={}", plan.method.wpa_name());
    let _ = writeln!(s, "\tidentity={}", hex(&plan.identity));
    // Unicast EAPOL keys are a wireless thing; a wired port sends none.
    s.push_str("\teapol_flags=0\n");
    // No password line: wpa_supplicant asks for it over the control socket (CTRL-REQ-PASSWORD)
    // and keeps it in memory only, so it is never on disk in clear (the supervisor answers).
    if plan.method.uses_tls() {
        let _ = writeln!(s, "\tca_cert={}", quoted_path(&files.ca())?);
    }
    match plan.method {
        EapMethod::Peap => {
            if !plan.anonymous_identity.is_empty() {
                let _ = writeln!(s, "\tanonymous_identity={}", hex(&plan.anonymous_identity));
            }
            s.push_str("\tphase1=\"peaplabel=0\"\n\tphase2=\"auth=MSCHAPV2\"\n");
        }
        EapMethod::Tls => {
            let _ = writeln!(s, "\tclient_cert={}", quoted_path(&files.client_cert())?);
            let _ = writeln!(s, "\tprivate_key={}", quoted_path(&plan.private_key)?);
        }
        EapMethod::Md5 => {}
    }
    s.push_str("}\n");
    Ok(s)
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), ConfError> {
    let io = |source| ConfError::Io {
        path: path.to_owned(),
        source,
    };
    // Remove first so a file left with other permissions cannot keep them.
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(contents).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Writes the configuration and the certificate files (0600) into `files.dir` (0700).
pub fn write(plan: &Plan, files: &Files) -> Result<(), ConfError> {
    for p in [
        files.ctrl_socket(&plan.interface),
        files.client_socket("cmd"),
        files.client_socket("ev"),
    ] {
        if p.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(ConfError::SocketPath(p));
        }
    }
    let text = render(plan, files)?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&files.dir)
        .map_err(|source| ConfError::Io {
            path: files.dir.clone(),
            source,
        })?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&files.dir, std::fs::Permissions::from_mode(0o700)).map_err(
        |source| ConfError::Io {
            path: files.dir.clone(),
            source,
        },
    )?;
    write_private(&files.conf(), text.as_bytes())?;
    if plan.method.uses_tls() {
        write_private(&files.ca(), plan.ca_pem.as_bytes())?;
    }
    if plan.method == EapMethod::Tls {
        write_private(&files.client_cert(), plan.client_cert_pem.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use camward_config::Secret;
    use std::os::unix::fs::PermissionsExt;

    fn plan(method: EapMethod) -> Plan {
        let c = Dot1xConfig {
            enabled: true,
            interface: "veth-supp".into(),
            method,
            identity: "cam\"\n}\nnetwork={".into(),
            anonymous_identity: "anonymous".into(),
            password: Secret::new("pw\"; ctrl_interface=/tmp/x"),
            ca_certificate: "CA-PEM".into(),
            client_certificate: String::new(),
            reauth_period: 600,
        };
        Plan::from_config(&c, "DEVICE-PEM", "/data/identity/device.key".into())
    }

    #[test]
    fn user_values_cannot_inject_configuration() {
        let files = Files::new(Path::new("/data"));
        for m in [EapMethod::Md5, EapMethod::Peap, EapMethod::Tls] {
            let text = render(&plan(m), &files).unwrap();
            assert_eq!(text.matches("network={").count(), 1, "{text}");
            assert_eq!(text.matches("ctrl_interface=").count(), 1, "{text}");
            assert!(!text.contains("cam\""));
        }
    }

    #[test]
    fn methods_write_what_wpa_supplicant_needs() {
        let files = Files::new(Path::new("/data"));
        let md5 = render(&plan(EapMethod::Md5), &files).unwrap();
        assert!(md5.contains("\teap=MD5\n"));
        assert!(!md5.contains("ca_cert") && !md5.contains("phase2"));
        assert!(md5.contains("ap_scan=0\n") && md5.contains("ctrl_interface=/data/dot1x/ctrl\n"));
        let peap = render(&plan(EapMethod::Peap), &files).unwrap();
        assert!(peap.contains("\tca_cert=\"/data/dot1x/ca.pem\"\n"));
        assert!(peap.contains("phase2=\"auth=MSCHAPV2\"") && peap.contains("anonymous_identity="));
        let tls = render(&plan(EapMethod::Tls), &files).unwrap();
        assert!(!tls.contains("password="));
        assert!(tls.contains("\tprivate_key=\"/data/identity/device.key\"\n"));
        assert!(tls.contains("\tclient_cert=\"/data/dot1x/client.pem\"\n"));
    }

    #[test]
    fn the_password_is_never_written() {
        let files = Files::new(Path::new("/data"));
        for m in [EapMethod::Md5, EapMethod::Peap, EapMethod::Tls] {
            let p = plan(m);
            let text = render(&p, &files).unwrap();
            let pw = p
                .password
                .clone()
                .unwrap_or_else(|| "pw\"; ctrl_interface=/tmp/x".into());
            assert!(!text.contains("password="), "{text}");
            assert!(!text.contains(&hex(&pw)) && !text.contains(&pw));
        }
    }

    #[test]
    fn identity_is_hex_encoded() {
        assert_eq!(hex("ab\n"), "61620a");
    }

    #[test]
    fn files_are_private_and_removed() {
        let d = tempfile::tempdir().unwrap();
        let files = Files::new(d.path());
        write(&plan(EapMethod::Tls), &files).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files.dir), 0o700);
        for p in [files.conf(), files.ca(), files.client_cert()] {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
        assert_eq!(
            std::fs::read_to_string(files.client_cert()).unwrap(),
            "DEVICE-PEM"
        );
        files.remove().unwrap();
        assert!(!files.dir.exists());
        files.remove().unwrap();
    }

    #[test]
    fn debug_output_hides_the_password() {
        assert!(!format!("{:?}", plan(EapMethod::Md5)).contains("ctrl_interface=/tmp/x"));
    }

    #[test]
    fn too_long_socket_paths_are_refused() {
        let long = PathBuf::from("/".to_owned() + &"d".repeat(120));
        let err = write(&plan(EapMethod::Md5), &Files::new(&long)).unwrap_err();
        assert!(matches!(err, ConfError::SocketPath(_)));
    }
}
