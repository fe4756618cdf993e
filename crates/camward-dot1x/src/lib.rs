//! camward's IEEE 802.1X supplicant (paper §3.6): the camera authenticates to its switch port
//! with EAP-MD5, PEAP (MSCHAPv2) or EAP-TLS with the device certificate. The EAP state machines
//! are wpa_supplicant's (wired driver, `ap_scan=0`); this crate writes its configuration
//! ([`conf`]), runs and supervises it ([`Supervisor`]), talks to it over its control socket
//! ([`ctrl`], [`message`]) and derives the port state people see ([`state`]).
//!
//! It knows nothing of the HTTP API: the daemon starts a [`Supervisor`] while `dot1x.enabled`
//! is on and publishes its [`PortStatus`].
#![forbid(unsafe_code)]

pub mod conf;
pub mod ctrl;
pub mod message;
pub mod state;
mod supervisor;

pub use conf::{Files, Plan};
pub use state::{PortState, PortStatus, Tracker};
pub use supervisor::Supervisor;

use camward_config::{Dot1xConfig, FieldError};
use std::path::{Path, PathBuf};

/// The reason shown when the supplicant program is missing.
pub const MISSING_PROGRAM: &str = "wpa_supplicant is not installed (Debian package wpasupplicant)";

/// Where wpa_supplicant is looked for besides `$PATH` (it lives in sbin, often not on a
/// service's path).
const SBIN_DIRS: [&str; 3] = ["/usr/sbin", "/sbin", "/usr/local/sbin"];

/// The wpa_supplicant executable: `explicit` when given (and present), else the first
/// `wpa_supplicant` on `$PATH` or in the sbin directories.
pub fn find_program(explicit: Option<&Path>) -> Option<PathBuf> {
    let is_exe = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if let Some(p) = explicit {
        return is_exe(p).then(|| p.to_owned());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join("wpa_supplicant"))
        .find(|p| is_exe(p))
}

/// Whether a network interface of that name exists in camward's network namespace
/// (`/proc/self/net/dev` follows the namespace, unlike a sysfs mounted elsewhere).
pub fn interface_exists(name: &str) -> bool {
    std::fs::read_to_string("/proc/self/net/dev").is_ok_and(|t| interface_listed(&t, name))
}

fn interface_listed(proc_net_dev: &str, name: &str) -> bool {
    proc_net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .any(|(n, _)| n.trim() == name)
}

/// The checks only the running device can make before 802.1X is switched on: wpa_supplicant
/// installed, the interface present. Each failure is a [`FieldError`] (HTTP 422).
pub fn preflight(c: &Dot1xConfig, at: &str, program: Option<&Path>) -> Vec<FieldError> {
    let mut out = Vec::new();
    if !c.enabled {
        return out;
    }
    if find_program(program).is_none() {
        out.push(FieldError::new(
            camward_config::join(at, "enabled"),
            "dot1x.wpa_supplicant.missing",
            MISSING_PROGRAM,
        ));
    }
    if camward_config::dot1x::is_interface_name(&c.interface) && !interface_exists(&c.interface) {
        out.push(FieldError::new(
            camward_config::join(at, "interface"),
            "dot1x.interface.missing",
            format!("the network interface {} does not exist", c.interface),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_dev_lists_interfaces() {
        let t = "Inter-|   Receive\n face |bytes\n    lo: 1 2 3\nveth-supp: 4 5\n";
        assert!(interface_listed(t, "lo"));
        assert!(interface_listed(t, "veth-supp"));
        assert!(!interface_listed(t, "eth0"));
        assert!(!interface_listed(t, "Inter-|   Receive"));
        assert!(interface_exists("lo"));
    }

    #[test]
    fn preflight_names_the_missing_program_and_interface() {
        let c = Dot1xConfig {
            enabled: true,
            interface: "nonexist0".into(),
            ..Dot1xConfig::default()
        };
        let e = preflight(&c, "dot1x", Some(Path::new("/nonexistent/wpa_supplicant")));
        let rules: Vec<_> = e.iter().map(|e| e.rule.as_str()).collect();
        assert_eq!(
            rules,
            vec!["dot1x.wpa_supplicant.missing", "dot1x.interface.missing"]
        );
        assert_eq!(e[1].path, "dot1x.interface");
        assert!(preflight(&Dot1xConfig::default(), "dot1x", None).is_empty());
    }
}
