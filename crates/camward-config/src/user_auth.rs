//! Setup › User mng. › User auth.: user authentication on/off, guest user, Digest or Digest-or-Basic,
//! and the password change period the audit checks accounts against (the paper recommends changing
//! passwords periodically). Defaults are closed: authentication on, guest off, Digest only (paper
//! §3.2, §3.3).

use crate::audit::{Audit, Context, Finding, Fix, Severity};
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
    /// Days after which a password is due for change (paper §3.2: "change the password
    /// periodically"); `camward audit` names every account whose password is older. 0: no period.
    /// Logins keep working after it: this is a reminder, not a lock.
    #[schemars(title = "Password change period", range(max = 3650), extend("x-unit" = "d"))]
    pub password_change_days: u32,
}

/// Default password change period: twice a year.
pub const DEFAULT_PASSWORD_CHANGE_DAYS: u32 = 180;

impl Default for UserAuth {
    fn default() -> Self {
        UserAuth {
            enabled: true,
            method: AuthMethod::Digest,
            guest: false,
            password_change_days: DEFAULT_PASSWORD_CHANGE_DAYS,
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
    fn validate(&self, at: &str, errors: &mut Vec<FieldError>) {
        // Every combination of the switches is meaningful; the weak ones are warnings, not errors.
        if self.password_change_days > 3650 {
            errors.push(FieldError::new(
                join(at, "password_change_days"),
                "user_auth.password_change_days.range",
                "between 0 (no period) and 3650 days",
            ));
        }
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

impl Audit for UserAuth {
    fn audit(&self, at: &str, cx: &Context<'_>, out: &mut Vec<Finding>) {
        if !self.enabled {
            out.push(Finding::new(
                "user_auth.off",
                Severity::High,
                "§3.2",
                "user authentication is off: anyone who reaches the camera watches live video",
                "A user name and password are the most basic way to keep unauthorized clients away from surveillance equipment.",
                Fix::set(join(at, "enabled"), true.into()),
            ));
        }
        if self.guest {
            out.push(Finding::new(
                "user_auth.guest",
                Severity::Medium,
                "§3.2",
                "the guest user is on: live video is visible without credentials",
                "A device that can be used without authentication hands every attacker on the network what a password would have protected.",
                Fix::set(join(at, "guest"), false.into()),
            ));
        }
        if self.method == AuthMethod::DigestOrBasic {
            out.push(Finding::new(
                "user_auth.basic",
                Severity::High,
                "§3.3",
                "Basic authentication is accepted",
                "With Basic authentication the user name and password are sent as plain text, so it must not be used unless absolutely necessary for backward compatibility.",
                Fix::set(join(at, "method"), "digest".into()),
            ));
        }
        if self.password_change_days == 0 {
            out.push(Finding::new(
                "user_auth.no_password_period",
                Severity::Low,
                "§3.2",
                "no password change period is set",
                "The paper recommends changing passwords periodically, and without a period the audit cannot tell when one is due.",
                Fix::set(
                    join(at, "password_change_days"),
                    DEFAULT_PASSWORD_CHANGE_DAYS.into(),
                ),
            ));
            return;
        }
        let max_age = i64::from(self.password_change_days) * 86_400;
        for a in &cx.facts.accounts {
            let age = cx.facts.now - a.password_changed_at;
            if age > max_age {
                out.push(
                    Finding::new(
                        "user_auth.password_age",
                        Severity::Medium,
                        "§3.2",
                        format!(
                            "the password of {} was set {} days ago (period: {} days)",
                            a.name,
                            age / 86_400,
                            self.password_change_days
                        ),
                        "The paper recommends changing passwords periodically, so that a password leaked or guessed long ago stops working.",
                        Fix::action(format!(
                            "change the password of {0}: PATCH /api/v1/users/{0} with a new password, or `camward user passwd {0}`",
                            a.name
                        )),
                    )
                    .about(&a.name),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use serde_json::json;

    #[test]
    fn password_change_period_defaults_to_half_a_year_and_is_bounded() {
        let c = Config::default();
        assert_eq!(c.user_auth.password_change_days, 180);
        let c = c
            .apply_merge_patch(&json!({"user_auth": {"password_change_days": 0}}))
            .unwrap();
        assert_eq!(c.user_auth.password_change_days, 0);
        let e = c
            .apply_merge_patch(&json!({"user_auth": {"password_change_days": 4000}}))
            .unwrap_err();
        assert_eq!(e[0].rule, "user_auth.password_change_days.range");
        assert_eq!(e[0].path, "user_auth.password_change_days");
    }
}
