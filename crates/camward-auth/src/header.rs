//! Parser of the `Authorization` header (Basic and Digest), shared by HTTP, RTSP and the tunnel.
//! Written for hostile input: bounded sizes, quoted strings with escapes, stray commas, no panics.

use base64::Engine;

/// Longest header parsed. A Digest header repeats the request-URI, so it grows with the URL: 16 KiB
/// takes any URL a browser or VMS sends (request lines are commonly capped at 8 KiB). Longer ones
/// are refused without being counted as a failed login (HTTP answers 431).
pub const MAX_HEADER_LEN: usize = 16 * 1024;
/// Most auth-params accepted in one Digest header.
const MAX_PARAMS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic { username: String, password: String },
    // Boxed: the Digest parameters are large and the enum is passed around by value.
    Digest(Box<DigestParams>),
}

/// The auth-params of a Digest `Authorization` header (RFC 7616 §3.4), unvalidated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestParams {
    pub username: Option<String>,
    pub realm: Option<String>,
    pub nonce: Option<String>,
    pub uri: Option<String>,
    pub response: Option<String>,
    pub algorithm: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    pub userhash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("Authorization header longer than {MAX_HEADER_LEN} bytes")]
    TooLong,
    #[error("unsupported authentication scheme")]
    UnknownScheme,
    #[error("malformed Basic credentials")]
    BadBasic,
    #[error("malformed Digest parameters at byte {0}")]
    Syntax(usize),
    #[error("Digest parameter `{0}` given twice")]
    Duplicate(String),
    #[error("too many Digest parameters")]
    TooManyParams,
}

/// Parses `Basic <token68>` or `Digest k=v, k="v", ...` (scheme names are case-insensitive).
pub fn parse_authorization(header: &str) -> Result<Credentials, HeaderError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(HeaderError::TooLong);
    }
    let header = header.trim_matches(|c| c == ' ' || c == '\t');
    let (scheme, rest) = match header.find([' ', '\t']) {
        Some(i) => (&header[..i], header[i..].trim_start_matches([' ', '\t'])),
        None => (header, ""),
    };
    if scheme.eq_ignore_ascii_case("basic") {
        parse_basic(rest)
    } else if scheme.eq_ignore_ascii_case("digest") {
        parse_digest(rest).map(|p| Credentials::Digest(Box::new(p)))
    } else {
        Err(HeaderError::UnknownScheme)
    }
}

fn parse_basic(token: &str) -> Result<Credentials, HeaderError> {
    let token = token.trim_end_matches([' ', '\t']);
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| HeaderError::BadBasic)?;
    let text = String::from_utf8(raw).map_err(|_| HeaderError::BadBasic)?;
    let (username, password) = text.split_once(':').ok_or(HeaderError::BadBasic)?;
    Ok(Credentials::Basic {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

fn is_tchar(b: u8) -> bool {
    // RFC 9110 token characters.
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn parse_digest(s: &str) -> Result<DigestParams, HeaderError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut p = DigestParams::default();
    let mut count = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t') {
            *i += 1;
        }
    };
    loop {
        // Empty list elements (",,") are allowed by the list syntax of RFC 9110 §5.6.1.
        skip_ws(&mut i);
        while i < b.len() && b[i] == b',' {
            i += 1;
            skip_ws(&mut i);
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && is_tchar(b[i]) {
            i += 1;
        }
        if i == start {
            return Err(HeaderError::Syntax(i));
        }
        let name = s[start..i].to_ascii_lowercase();
        skip_ws(&mut i);
        if i >= b.len() || b[i] != b'=' {
            return Err(HeaderError::Syntax(i));
        }
        i += 1;
        skip_ws(&mut i);
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = Vec::new();
            loop {
                match b.get(i) {
                    None => return Err(HeaderError::Syntax(i)),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let Some(&c) = b.get(i + 1) else {
                            return Err(HeaderError::Syntax(i));
                        };
                        v.push(c);
                        i += 2;
                    }
                    Some(&c) => {
                        v.push(c);
                        i += 1;
                    }
                }
            }
            String::from_utf8(v).map_err(|_| HeaderError::Syntax(i))?
        } else {
            let vs = i;
            while i < b.len() && is_tchar(b[i]) {
                i += 1;
            }
            if i == vs {
                return Err(HeaderError::Syntax(i));
            }
            s[vs..i].to_owned()
        };
        count += 1;
        if count > MAX_PARAMS {
            return Err(HeaderError::TooManyParams);
        }
        let mut ignored = None;
        let slot = match name.as_str() {
            "username" => &mut p.username,
            "realm" => &mut p.realm,
            "nonce" => &mut p.nonce,
            "uri" => &mut p.uri,
            "response" => &mut p.response,
            "algorithm" => &mut p.algorithm,
            "qop" => &mut p.qop,
            "nc" => &mut p.nc,
            "cnonce" => &mut p.cnonce,
            "opaque" => &mut p.opaque,
            "userhash" => &mut p.userhash,
            // Unknown parameters are ignored, as RFC 7616 §3.4 requires.
            _ => &mut ignored,
        };
        if slot.is_some() {
            return Err(HeaderError::Duplicate(name));
        }
        *slot = Some(value);
        skip_ws(&mut i);
        if i < b.len() && b[i] != b',' {
            return Err(HeaderError::Syntax(i));
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_curl_style_digest() {
        let h = r#"Digest username="installer", realm="camward", nonce="abc", uri="/api/v1/status", cnonce="Y2M=", nc=00000001, qop=auth, response="0123", algorithm=SHA-256"#;
        let Credentials::Digest(p) = parse_authorization(h).unwrap() else {
            panic!()
        };
        assert_eq!(p.username.as_deref(), Some("installer"));
        assert_eq!(p.nc.as_deref(), Some("00000001"));
        assert_eq!(p.qop.as_deref(), Some("auth"));
        assert_eq!(p.algorithm.as_deref(), Some("SHA-256"));
    }

    #[test]
    fn quoted_strings_keep_commas_equals_and_escapes() {
        let h = r#"digest   username="a,b=c\"d" ,, realm="x y",uri="/p?q=1,2""#;
        let Credentials::Digest(p) = parse_authorization(h).unwrap() else {
            panic!()
        };
        assert_eq!(p.username.as_deref(), Some("a,b=c\"d"));
        assert_eq!(p.realm.as_deref(), Some("x y"));
        assert_eq!(p.uri.as_deref(), Some("/p?q=1,2"));
    }

    #[test]
    fn malformed_digest_is_an_error_not_a_panic() {
        for h in [
            "Digest username",
            "Digest username=\"abc",
            "Digest =x",
            "Digest a=b c=d",
            "Digest a=\"x\\",
            "Digest a=,",
        ] {
            assert!(parse_authorization(h).is_err(), "{h}");
        }
    }

    #[test]
    fn duplicate_parameters_are_refused() {
        assert!(matches!(
            parse_authorization("Digest nc=1, nc=2"),
            Err(HeaderError::Duplicate(_))
        ));
    }

    #[test]
    fn basic_decodes_user_and_password_with_colons() {
        // "user:pa:ss"
        let c = parse_authorization("Basic dXNlcjpwYTpzcw==").unwrap();
        assert_eq!(
            c,
            Credentials::Basic {
                username: "user".into(),
                password: "pa:ss".into()
            }
        );
        assert!(parse_authorization("Basic !!!").is_err());
        assert!(parse_authorization("Bearer x").is_err());
    }

    #[test]
    fn oversized_header_is_refused() {
        assert_eq!(
            parse_authorization(&"a".repeat(MAX_HEADER_LEN + 1)),
            Err(HeaderError::TooLong)
        );
    }
}
