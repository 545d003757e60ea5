//! Typed, error-collecting access to fields of a TOML table. Every getter
//! records a located error and returns a fallback instead of stopping, so a
//! single pass reports every problem in a file.

use super::path::key_path;
use super::ConfigError;
use toml::Value;

/// The errors collected while reading a configuration.
#[derive(Default)]
pub struct Errors(pub Vec<ConfigError>);

impl Errors {
    /// Records an error at `location`.
    pub fn push(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError::new(location, message));
    }
}

/// A table being read, with its location.
pub struct Fields<'a> {
    /// The table's entries.
    pub table: &'a toml::Table,
    /// The table's location (`""` for the root).
    pub path: String,
}

/// The TOML type name of a value, for "expected X, found Y" messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// The message for a value of the wrong type.
pub fn wrong_type(expected: &str, found: &Value) -> String {
    format!("expected {expected}, found {}", type_name(found))
}

impl<'a> Fields<'a> {
    /// Wraps `table` found at `path`.
    pub fn new(table: &'a toml::Table, path: impl Into<String>) -> Self {
        Fields {
            table,
            path: path.into(),
        }
    }

    /// The location of field `key`.
    pub fn at(&self, key: &str) -> String {
        key_path(&self.path, key)
    }

    /// The raw value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.table.get(key)
    }

    /// Reports every key that is not in `allowed`; keys in `unsupported` get
    /// their specific message instead of the generic one.
    pub fn deny_unknown(
        &self,
        allowed: &[&str],
        unsupported: &[(&str, &str)],
        errors: &mut Errors,
    ) {
        for key in self.table.keys() {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let message = match unsupported.iter().find(|(k, _)| k == key) {
                Some((_, m)) => (*m).to_string(),
                None => format!(
                    "unknown field '{key}' (expected one of: {})",
                    allowed.join(", ")
                ),
            };
            errors.push(self.at(key), message);
        }
    }

    /// A string field; `None` when absent or of the wrong type (reported).
    pub fn str(&self, key: &str, errors: &mut Errors) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                errors.push(self.at(key), wrong_type("a string", other));
                None
            }
        }
    }

    /// A non-negative integer field (a string of digits is accepted too, so
    /// numbers can come from `${VAR}`); `default` when absent or invalid.
    pub fn u64(&self, key: &str, default: u64, errors: &mut Errors) -> u64 {
        match self.get(key) {
            None => default,
            Some(v) => match as_u64(v) {
                Ok(n) => n,
                Err(m) => {
                    errors.push(self.at(key), m);
                    default
                }
            },
        }
    }

    /// Like [`Fields::u64`] for `usize` fields.
    pub fn usize(&self, key: &str, default: usize, errors: &mut Errors) -> usize {
        let n = self.u64(key, default as u64, errors);
        match usize::try_from(n) {
            Ok(n) => n,
            Err(_) => {
                errors.push(self.at(key), "number is too large for this platform");
                default
            }
        }
    }

    /// A boolean field (`"true"`/`"false"` strings accepted); `default` when absent or invalid.
    pub fn bool(&self, key: &str, default: bool, errors: &mut Errors) -> bool {
        match self.get(key) {
            None => default,
            Some(Value::Boolean(b)) => *b,
            Some(Value::String(s)) if s == "true" => true,
            Some(Value::String(s)) if s == "false" => false,
            Some(other) => {
                errors.push(self.at(key), wrong_type("true or false", other));
                default
            }
        }
    }

    /// An array of non-empty strings; `[]` when absent, bad items reported.
    pub fn str_list(&self, key: &str, errors: &mut Errors) -> Vec<String> {
        let Some(value) = self.get(key) else {
            return Vec::new();
        };
        let Value::Array(items) = value else {
            errors.push(self.at(key), wrong_type("an array of strings", value));
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = super::path::index_path(&self.at(key), i);
            match item {
                Value::String(s) if s.is_empty() => errors.push(at, "must not be empty"),
                Value::String(s) => out.push(s.clone()),
                other => errors.push(at, wrong_type("a string", other)),
            }
        }
        out
    }
}

/// Reads a non-negative integer, or a string holding one.
pub fn as_u64(v: &Value) -> Result<u64, String> {
    match v {
        Value::Integer(i) => u64::try_from(*i).map_err(|_| "must not be negative".to_string()),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("expected a non-negative integer, found the string {s:?}")),
        other => Err(wrong_type("a non-negative integer", other)),
    }
}

/// Records an error unless `min <= value <= max`.
pub fn check_range(errors: &mut Errors, at: &str, value: u64, min: u64, max: u64) -> bool {
    if (min..=max).contains(&value) {
        return true;
    }
    let message = if max == u64::MAX {
        format!("must be at least {min}, found {value}")
    } else {
        format!("must be between {min} and {max}, found {value}")
    };
    errors.push(at, message);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        match text.parse() {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn typed_getters() {
        let t = table("a = 5\nb = \"7\"\nc = -1\nd = 1.5\ne = true\nf = \"false\"\ng = [\"x\", \"\", 3]\nh = \"x\"");
        let f = Fields::new(&t, "s");
        let mut e = Errors::default();
        assert_eq!(f.u64("a", 0, &mut e), 5);
        assert_eq!(f.u64("b", 0, &mut e), 7);
        assert_eq!(f.u64("missing", 9, &mut e), 9);
        assert!(e.0.is_empty());
        assert_eq!(f.u64("c", 9, &mut e), 9);
        assert_eq!(f.u64("d", 9, &mut e), 9);
        assert_eq!(f.u64("h", 9, &mut e), 9);
        assert!(f.bool("e", false, &mut e));
        assert!(!f.bool("f", true, &mut e));
        assert!(f.bool("a", true, &mut e));
        assert_eq!(f.str_list("g", &mut e), ["x"]);
        assert_eq!(f.str("a", &mut e), None);
        let locs: Vec<_> = e.0.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            locs,
            [
                "s.c: must not be negative",
                "s.d: expected a non-negative integer, found a float",
                "s.h: expected a non-negative integer, found the string \"x\"",
                "s.a: expected true or false, found an integer",
                "s.g[1]: must not be empty",
                "s.g[2]: expected a string, found an integer",
                "s.a: expected a string, found an integer",
            ]
        );
    }
}
