//! Setup › User mng. › User auth.: user authentication on/off, guest user, Digest or Digest-or-Basic.
//! Defaults are closed: authentication on, guest off, Digest only (paper §3.2, §3.3).

use crate::{FieldError, Validate, Warning, join};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which schemes the device accepts; the paper's "Authentication" drop-down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// RFC 7616 Digest only (MD5 and SHA-256).
    #[default]
    #[schemars(title = "Digest")]
    Digest,
    /// Digest, or Basic for old clients: Basic sends the password in clear.
    #[schemars(title = "Digest or Basic")]
    DigestOrBasic,
}

/// The `user_auth` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UserAuth {
    /// Off lets anyone view live video without credentials; settings and accounts still
    /// require an administrator.
    #[schemars(title = "User auth.")]
    pub enabled: bool,
    /// Which authentication schemes the camera accepts. Basic sends the password in clear.
    #[schemars(title = "Authentication")]
    pub method: AuthMethod,
    /// Live view without a user name and password.
    #[schemars(title = "Guest user", extend("x-true" = "Use", "x-false" = "Not use"))]
    pub guest: bool,
}

impl Default for UserAuth {
    fn default() -> Self {
        UserAuth {
            enabled: true,
            method: AuthMethod::Digest,
            guest: false,
        }
    }
}

impl UserAuth {
    /// Whether a request without credentials may view live video.
    pub fn anonymous_live(&self) -> bool {
        !self.enabled || self.guest
    }
}

impl Validate for UserAuth {
    fn validate(&self, _at: &str, _errors: &mut Vec<FieldError>) {
        // Every combination is meaningful; the weak ones are warnings, not errors.
    }

    fn warnings(&self, at: &str, out: &mut Vec<Warning>) {
        if !self.enabled {
            out.push(Warning::new(
                join(at, "enabled"),
                "user_auth.off",
                "user authentication is off: anyone can view live video",
            ));
        }
        if self.guest {
            out.push(Warning::new(
                join(at, "guest"),
                "user_auth.guest",
                "guest user is on: live video is visible without credentials",
            ));
        }
        if self.method == AuthMethod::DigestOrBasic {
            out.push(Warning::new(
                join(at, "method"),
                "user_auth.basic",
                "Basic authentication is accepted: passwords cross the network in clear unless HTTPS is used",
            ));
        }
    }
}
