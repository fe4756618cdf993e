//! Password policy of the paper's User auth. screen: user name and password rules, common passwords.
//! Every violation is reported separately with a stable rule id, so the API can answer 422 per rule.

use camward_config::FieldError;
use std::collections::HashSet;
use std::sync::OnceLock;

pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 32;
/// `" & ; \` from the paper, plus `:` which would make `user:realm:password` (Digest HA1) and Basic's
/// `user:password` ambiguous.
pub const USERNAME_FORBIDDEN: &[char] = &['"', '&', ';', '\\', ':'];
pub const PASSWORD_FORBIDDEN: &[char] = &['"', '&'];

static COMMON_LIST: &str = include_str!("../data/common-passwords.txt");

fn v(field: &str, rule: &str, message: impl Into<String>) -> FieldError {
    // One broken rule; `path` is `username` or `password`.
    FieldError::new(field, rule, message)
}

fn common_passwords() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_LIST
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_lowercase)
            .collect()
    })
}

/// Whether `password` is in the shipped list of common passwords (case-insensitive).
pub fn is_common(password: &str) -> bool {
    common_passwords().contains(&password.to_lowercase())
}

/// "1-byte" printable characters: the paper forbids 2-byte (non-ASCII) characters; control
/// characters would break headers and logs.
fn printable_ascii(c: char) -> bool {
    (' '..='~').contains(&c)
}

pub fn check_username(name: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    let n = name.chars().count();
    if n == 0 || n > USERNAME_MAX {
        out.push(v(
            "username",
            "username.length",
            format!("user name must be 1 to {USERNAME_MAX} characters (got {n})"),
        ));
    }
    if name.chars().any(|c| !printable_ascii(c)) {
        out.push(v("username", "username.charset", "user name may contain only 1-byte printable characters (no 2-byte or control characters)"));
    }
    if name.starts_with(' ') || name.ends_with(' ') {
        // `admin ` beside `admin` looks identical in every list and log.
        out.push(v(
            "username",
            "username.whitespace",
            "user name must not begin or end with a space",
        ));
    }
    let bad: String = USERNAME_FORBIDDEN
        .iter()
        .filter(|c| name.contains(**c))
        .collect();
    if !bad.is_empty() {
        out.push(v(
            "username",
            "username.forbidden_char",
            format!("user name must not contain {}", spaced(&bad)),
        ));
    }
    out
}

pub fn check_password(username: &str, password: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    let n = password.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&n) {
        out.push(v(
            "password",
            "password.length",
            format!("password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters (got {n})"),
        ));
    }
    if password.chars().any(|c| !printable_ascii(c)) {
        out.push(v("password", "password.charset", "password may contain only 1-byte printable characters (no 2-byte or control characters)"));
    }
    let bad: String = PASSWORD_FORBIDDEN
        .iter()
        .filter(|c| password.contains(**c))
        .collect();
    if !bad.is_empty() {
        out.push(v(
            "password",
            "password.forbidden_char",
            format!("password must not contain {}", spaced(&bad)),
        ));
    }
    let letters = password.chars().any(|c| c.is_ascii_alphabetic());
    let digits = password.chars().any(|c| c.is_ascii_digit());
    let symbols = password
        .chars()
        .any(|c| printable_ascii(c) && !c.is_ascii_alphanumeric());
    if [letters, digits, symbols].iter().filter(|x| **x).count() < 2 {
        out.push(v(
            "password",
            "password.classes",
            "password must use at least two kinds of characters: letters, digits, symbols",
        ));
    }
    if !username.is_empty() && password == username {
        out.push(v(
            "password",
            "password.equals_username",
            "password must differ from the user name",
        ));
    }
    if is_common(password) {
        out.push(v(
            "password",
            "password.common",
            "this password is in the list of commonly used passwords",
        ));
    }
    out
}

/// Both checks, user name first.
pub fn check_account(username: &str, password: &str) -> Vec<FieldError> {
    let mut out = check_username(username);
    out.extend(check_password(username, password));
    out
}

fn spaced(chars: &str) -> String {
    chars
        .chars()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(user: &str, pw: &str) -> Vec<String> {
        check_account(user, pw)
            .into_iter()
            .map(|v| v.rule)
            .collect()
    }

    #[test]
    fn good_account_passes() {
        assert!(rules("installer", "Cam-ward-2026").is_empty());
        assert!(rules("a", "x7#kq9!m").is_empty());
    }

    #[test]
    fn username_length_is_1_to_32() {
        assert_eq!(rules("", "Cam-ward-2026"), ["username.length"]);
        assert!(rules(&"u".repeat(32), "Cam-ward-2026").is_empty());
        assert_eq!(rules(&"u".repeat(33), "Cam-ward-2026"), ["username.length"]);
    }

    #[test]
    fn username_refuses_leading_and_trailing_spaces_only() {
        for bad in ["admin ", " admin", " "] {
            assert_eq!(
                rules(bad, "Cam-ward-2026"),
                ["username.whitespace"],
                "{bad:?}"
            );
        }
        assert!(rules("site admin", "Cam-ward-2026").is_empty());
    }

    #[test]
    fn username_refuses_two_byte_and_forbidden_chars() {
        assert_eq!(rules("カメラ", "Cam-ward-2026"), ["username.charset"]);
        for c in ['"', '&', ';', '\\', ':'] {
            assert_eq!(
                rules(&format!("a{c}b"), "Cam-ward-2026"),
                ["username.forbidden_char"],
                "{c}"
            );
        }
    }

    #[test]
    fn password_length_is_8_to_32() {
        assert_eq!(rules("bob", "Ab1-xyz"), ["password.length"]);
        assert!(rules("bob", &format!("Ab1-{}", "x".repeat(28))).is_empty());
        assert_eq!(
            rules("bob", &format!("Ab1-{}", "x".repeat(29))),
            ["password.length"]
        );
    }

    #[test]
    fn password_needs_two_classes() {
        assert_eq!(rules("bob", "qzwxecrvtb"), ["password.classes"]);
        assert_eq!(rules("bob", "73910462"), ["password.classes"]);
        assert!(rules("bob", "qzwxecr5").is_empty());
        assert!(rules("bob", "qzwxecr!").is_empty());
        assert!(rules("bob", "7391-046").is_empty());
    }

    #[test]
    fn password_refuses_quote_ampersand_and_two_byte() {
        assert_eq!(rules("bob", "Qz\"wx9ecr"), ["password.forbidden_char"]);
        assert_eq!(rules("bob", "Qz&wx9ecr"), ["password.forbidden_char"]);
        assert_eq!(rules("bob", "Qzwx9ecré"), ["password.charset"]);
    }

    #[test]
    fn password_must_differ_from_username() {
        assert_eq!(
            rules("operator-7", "operator-7"),
            ["password.equals_username"]
        );
    }

    #[test]
    fn common_passwords_are_refused_case_insensitively() {
        assert_eq!(rules("bob", "password1"), ["password.common"]);
        assert_eq!(rules("bob", "PASSWORD1"), ["password.common"]);
        assert_eq!(rules("bob", "Admin123"), ["password.common"]);
        assert!(common_passwords().len() > 3000);
    }
}
