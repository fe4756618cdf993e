//! Checks shared by several sections: server host names, mailboxes, logins, CA certificates,
//! JPEG sizes and remote FTP names (paper §4.3, §4.6: what a camera sends out must be well-formed).

use crate::{FieldError, Secret, join};
use std::net::IpAddr;

pub(crate) fn err(out: &mut Vec<FieldError>, path: String, rule: &str, message: impl Into<String>) {
    out.push(FieldError::new(path, rule, message));
}

pub(crate) fn validate_host(host: &str, at: &str, required: bool, out: &mut Vec<FieldError>) {
    if host.is_empty() {
        if required {
            err(
                out,
                at.to_owned(),
                "host.required",
                "a server address is required",
            );
        }
        return;
    }
    if host.parse::<IpAddr>().is_ok() {
        return;
    }
    if !is_host_name(host) {
        err(
            out,
            at.to_owned(),
            "host.invalid",
            "an IPv4/IPv6 address or a host name",
        );
    }
}

fn is_host_name(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// A deliberately strict subset of RFC 5321 mailboxes: what a camera needs, and nothing that
/// could smuggle a header or an SMTP command (no spaces, quotes, CR/LF).
pub fn is_valid_mailbox(addr: &str) -> bool {
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let domain_ok = if let Some(lit) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        lit.trim_start_matches("IPv6:").parse::<IpAddr>().is_ok()
    } else {
        is_host_name(domain)
    };
    local_ok && domain_ok && addr.len() <= 254
}

pub(crate) fn validate_mailbox(addr: &str, at: &str, out: &mut Vec<FieldError>) {
    if !is_valid_mailbox(addr) {
        err(
            out,
            at.to_owned(),
            "mail.address",
            "an e-mail address like camera@example.com",
        );
    }
}

pub(crate) fn validate_login(
    username: &str,
    password: &Secret,
    at: &str,
    rule: &str,
    enabled: bool,
    out: &mut Vec<FieldError>,
) {
    let bad = |s: &str| s.chars().any(|c| c.is_control());
    if username.len() > 128 || bad(username) {
        err(
            out,
            join(at, "username"),
            &format!("{rule}.username"),
            "at most 128 characters, no control characters",
        );
    }
    if let Some(p) = password.expose()
        && (p.len() > 128 || bad(p))
    {
        // Never echo the value: this message reaches the API and logs.
        err(
            out,
            join(at, "password"),
            &format!("{rule}.password"),
            "at most 128 characters, no control characters",
        );
    }
    if enabled && !username.is_empty() && !password.is_set() {
        err(
            out,
            join(at, "password"),
            &format!("{rule}.password.required"),
            "a password is required with a user name",
        );
    }
}

pub(crate) fn validate_ca(pem: &str, at: &str, out: &mut Vec<FieldError>) {
    if pem.trim().is_empty() {
        return;
    }
    if let Err(m) = parse_ca_pem(pem) {
        err(out, at.to_owned(), "tls.ca_certificate", m);
    }
}

/// The DER certificates of a PEM bundle (`ca_certificate`), or why it is not one.
pub fn parse_ca_pem(pem: &str) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err("no PEM CERTIFICATE block found".into()),
        Err(e) => Err(format!("not a PEM certificate: {e}")),
    }
}

pub(crate) fn validate_image_size(size: u8, at: &str, out: &mut Vec<FieldError>) {
    if !(1..=3).contains(&size) {
        err(
            out,
            at.to_owned(),
            "jpeg.size",
            "1, 2 or 3 for JPEG(1), JPEG(2), JPEG(3)",
        );
    }
}

/// Characters allowed in remote names: portable across FTP servers and file systems, and free
/// of anything an FTP command line or a path could interpret.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

pub(crate) fn validate_file_prefix(name: &str, at: &str, out: &mut Vec<FieldError>) {
    if name.is_empty() || name.len() > 32 || !name.chars().all(name_char) {
        err(
            out,
            at.to_owned(),
            "ftp.file_name",
            "1–32 characters: letters, digits, '_' and '-'",
        );
    }
}

pub(crate) fn validate_remote_dir(dir: &str, at: &str, out: &mut Vec<FieldError>) {
    if dir.is_empty() {
        return;
    }
    let ok = dir.len() <= 128
        && dir
            .trim_start_matches('/')
            .split('/')
            .all(|seg| !seg.is_empty() && seg.chars().all(|c| name_char(c) || c == '.'))
        && !dir.split('/').any(|s| s == "." || s == "..");
    if !ok {
        err(
            out,
            at.to_owned(),
            "ftp.directory",
            "up to 128 characters: segments of letters, digits, '_', '-', '.' separated by '/' (no '..')",
        );
    }
}
