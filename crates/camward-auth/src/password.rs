//! Turning a password into what the store keeps: an argon2id hash, the two Digest HA1 secrets and,
//! for WS-Security PasswordDigest (ONVIF), the password itself, which the store seals with the
//! device's secrets key before it reaches the database. It never reaches the log.

use crate::digest::{self, Algorithm};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm as A2, Argon2, Params, Version};
use camward_store::Secrets;

/// The realm of every challenge. Fixed per device because the stored HA1 values depend on it.
pub const REALM: &str = "camward";

/// argon2id with the OWASP-recommended minimum (19 MiB, 2 passes): a few tens of ms on a camera SoC,
/// cheap enough for Basic and the console, costly for an offline guesser.
fn argon2() -> Argon2<'static> {
    Argon2::new(
        A2::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params"),
    )
}

pub fn derive_secrets(username: &str, password: &str) -> Secrets {
    let salt = SaltString::generate(&mut OsRng);
    let password_hash = argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing cannot fail with valid params")
        .to_string();
    Secrets {
        password_hash,
        ha1_md5: digest::ha1(Algorithm::Md5, username, REALM, password),
        ha1_sha256: digest::ha1(Algorithm::Sha256, username, REALM, password),
        realm: REALM.to_owned(),
        wsse_password: Some(password.to_owned()),
    }
}

/// Checks a clear-text password (Basic, console) against the argon2id hash.
pub fn verify_password(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_argon2id_and_ha1_never_the_password() {
        let s = derive_secrets("installer", "Cam-ward-2026");
        assert!(
            s.password_hash
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        );
        assert!(!s.password_hash.contains("Cam-ward-2026"));
        assert_eq!(
            s.ha1_md5,
            digest::ha1(Algorithm::Md5, "installer", "camward", "Cam-ward-2026")
        );
        assert_eq!(s.ha1_sha256.len(), 64);
        assert!(verify_password(&s.password_hash, "Cam-ward-2026"));
        assert!(!verify_password(&s.password_hash, "Cam-ward-2027"));
    }

    #[test]
    fn hashes_are_salted() {
        assert_ne!(
            derive_secrets("a", "Cam-ward-2026").password_hash,
            derive_secrets("a", "Cam-ward-2026").password_hash
        );
    }
}
