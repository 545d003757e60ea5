//! `headers` of a provider: extra headers sent upstream.

use super::path::key_path;
use super::reader::{wrong_type, Errors, Fields};
use toml::Value;

/// Headers the gateway itself manages on upstream requests.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];

/// True for an HTTP token (RFC 9110 `tchar`s).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `headers = { name = "value", ... }`, sorted by name.
pub fn read_headers(f: &Fields<'_>, errors: &mut Errors) -> Vec<(String, String)> {
    let table = match f.get("headers") {
        None => return Vec::new(),
        Some(Value::Table(t)) => t,
        Some(other) => {
            errors.push(
                f.at("headers"),
                wrong_type("a table of name = \"value\"", other),
            );
            return Vec::new();
        }
    };
    let mut out: Vec<(String, String)> = Vec::with_capacity(table.len());
    for (name, value) in table {
        let at = key_path(&f.at("headers"), name);
        let lower = name.to_ascii_lowercase();
        if !is_token(name) {
            errors.push(at, "is not a valid HTTP header name");
            continue;
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            errors.push(
                at,
                format!("header '{lower}' is managed by the gateway and cannot be set"),
            );
            continue;
        }
        if out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            errors.push(at, "duplicate header name (names are case-insensitive)");
            continue;
        }
        match value {
            Value::String(v) if v.chars().any(|c| c.is_control() && c != '\t') => {
                errors.push(
                    at,
                    "header value must not contain CR, LF or other control characters",
                );
            }
            Value::String(v) => out.push((name.clone(), v.clone())),
            other => errors.push(at, wrong_type("a string", other)),
        }
    }
    out
}
