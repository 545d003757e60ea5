//! `${VAR}` interpolation of string values, done on the parsed TOML tree so
//! that every error carries the location of the value it came from.
//!
//! Syntax: `${NAME}` is the variable's value (an error when unset);
//! `${NAME:-default}` is the default when the variable is unset or empty;
//! `$$` is a literal `$`; a `$` followed by anything else is kept as is.
//! Substituted text is not scanned again, and table keys are not interpolated.

use super::path::{index_path, key_path};
use super::ConfigError;
use toml::Value;

/// Interpolates one string; the error lists every problem found in it.
pub fn interpolate_str(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    let mut rest = text;
    while let Some((before, after)) = rest.split_once('$') {
        out.push_str(before);
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let Some((inner, r)) = r.split_once('}') else {
                problems.push("unterminated '${' (missing '}')".to_string());
                rest = "";
                break;
            };
            rest = r;
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if !is_var_name(name) {
                problems.push(format!(
                    "invalid variable reference '${{{inner}}}' (use ${{NAME}} or ${{NAME:-default}}, NAME of letters, digits and '_')"
                ));
                continue;
            }
            match (env(name), default) {
                (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => problems.push(format!(
                    "environment variable '{name}' is not set (use ${{{name}:-default}} for a default)"
                )),
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// True for `[A-Za-z_][A-Za-z0-9_]*`.
fn is_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Interpolates every string value of `table` in place; errors are pushed
/// with the value's location (`providers[0].keys[1].value`).
pub fn interpolate_table(
    table: &mut toml::Table,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    for (key, value) in table.iter_mut() {
        interpolate_value(value, &key_path(path, key), env, errors);
    }
}

/// Interpolates every string inside `value` (found at `path`) in place.
pub fn interpolate_value(
    value: &mut Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    match value {
        Value::String(s) => match interpolate_str(s, env) {
            Ok(new) => *s = new,
            Err(problems) => {
                errors.extend(problems.into_iter().map(|m| ConfigError::new(path, m)));
            }
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_value(item, &index_path(path, i), env, errors);
            }
        }
        Value::Table(t) => interpolate_table(t, path, env, errors),
        Value::Integer(_) | Value::Float(_) | Value::Boolean(_) | Value::Datetime(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("sk-123".into()),
            "EMPTY" => Some(String::new()),
            "DOLLAR" => Some("a${KEY}$$".into()),
            _ => None,
        }
    }

    fn ok(s: &str) -> String {
        match interpolate_str(s, &env) {
            Ok(v) => v,
            Err(e) => panic!("{s}: {e:?}"),
        }
    }

    fn err(s: &str) -> Vec<String> {
        match interpolate_str(s, &env) {
            Ok(v) => panic!("{s} gave {v}"),
            Err(e) => e,
        }
    }

    #[test]
    fn substitutes() {
        assert_eq!(ok("${KEY}"), "sk-123");
        assert_eq!(ok("Bearer ${KEY}!"), "Bearer sk-123!");
        assert_eq!(ok("${KEY}${KEY}"), "sk-123sk-123");
        assert_eq!(ok("plain"), "plain");
        assert_eq!(ok(""), "");
        assert_eq!(ok("${EMPTY}"), "");
        // substituted text is not scanned again
        assert_eq!(ok("${DOLLAR}"), "a${KEY}$$");
        assert_eq!(ok("ünï${KEY}çødé"), "ünïsk-123çødé");
    }

    #[test]
    fn defaults() {
        assert_eq!(ok("${NOPE:-fallback}"), "fallback");
        assert_eq!(ok("${NOPE:-}"), "");
        assert_eq!(ok("${EMPTY:-d}"), "d");
        assert_eq!(ok("${KEY:-d}"), "sk-123");
        assert_eq!(ok("${NOPE:-http://h:1/v1}"), "http://h:1/v1");
    }

    #[test]
    fn dollars() {
        assert_eq!(ok("$$"), "$");
        assert_eq!(ok("$${KEY}"), "${KEY}");
        assert_eq!(ok("a$b"), "a$b");
        assert_eq!(ok("cost $"), "cost $");
        assert_eq!(ok("$$$${KEY}"), "$${KEY}");
        assert_eq!(ok("$$${KEY}"), "$sk-123");
    }

    #[test]
    fn errors() {
        let e = err("${MISSING}");
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("'MISSING' is not set"), "{e:?}");
        assert_eq!(err("${A} and ${B}").len(), 2);
        assert!(err("${KEY")
            .first()
            .is_some_and(|m| m.contains("unterminated")));
        assert!(err("${}")
            .first()
            .is_some_and(|m| m.contains("invalid variable")));
        assert!(err("${1X}")
            .first()
            .is_some_and(|m| m.contains("invalid variable")));
        assert!(err("${KEY:x}")
            .first()
            .is_some_and(|m| m.contains("invalid variable")));
        assert!(err("${K-E}")
            .first()
            .is_some_and(|m| m.contains("invalid variable")));
    }

    #[test]
    fn tree_locations() {
        let mut t: toml::Table =
            match "a = \"${X}\"\n[[p]]\nk = [\"ok\", { value = \"${Y}\" }]\n".parse() {
                Ok(t) => t,
                Err(e) => panic!("{e}"),
            };
        let mut errors = Vec::new();
        interpolate_table(&mut t, "", &env, &mut errors);
        let locs: Vec<_> = errors.iter().map(|e| e.location.as_str()).collect();
        assert_eq!(locs, ["a", "p[0].k[1].value"]);
    }
}
