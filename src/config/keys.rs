//! `keys` and `api_key` of a provider, and weights.

use super::path::index_path;
use super::reader::{as_u64, check_range, wrong_type, Errors, Fields};
use super::{KeyConfig, ProviderKind};
use toml::Value;

/// Largest accepted weight (of a key or an alias target): sums of many
/// weights stay far from `u32` overflow.
pub const MAX_WEIGHT: u64 = 1_000_000;

/// Why a secret is unusable in a header, if it is.
pub fn secret_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        Some("is empty")
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("must not contain whitespace or control characters (check the variable it comes from)")
    } else {
        None
    }
}

/// `keys = [...]` or the `api_key = "..."` shorthand.
pub fn read_keys(
    f: &Fields<'_>,
    kind: Option<ProviderKind>,
    errors: &mut Errors,
) -> Vec<KeyConfig> {
    let mut keys = Vec::new();
    match (f.get("keys"), f.get("api_key")) {
        (Some(_), Some(_)) => {
            errors.push(f.at("api_key"), "use either 'keys' or 'api_key', not both");
            return keys;
        }
        (None, Some(_)) => {
            if let Some(value) = f.str("api_key", errors) {
                if let Some(problem) = secret_problem(&value) {
                    errors.push(f.at("api_key"), problem);
                }
                keys.push(KeyConfig {
                    value,
                    weight: 1,
                    models: Vec::new(),
                });
            }
        }
        (Some(Value::Array(items)), None) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(key) = read_key(item, &index_path(&f.at("keys"), i), errors) {
                    keys.push(key);
                }
            }
        }
        (Some(other), None) => errors.push(f.at("keys"), wrong_type("an array", other)),
        (None, None) => {}
    }
    let declared_none = match f.get("keys") {
        None => f.get("api_key").is_none(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(_) => false,
    };
    if let Some(kind) = kind.filter(|k| declared_none && k.requires_key()) {
        errors.push(
            f.at("keys"),
            format!(
                "kind '{kind}' needs at least one key: set keys = [\"...\"] or api_key = \"...\""
            ),
        );
    }
    keys
}

/// One item of `keys`: `"secret"` or `{ value, weight, models }`.
fn read_key(item: &Value, at: &str, errors: &mut Errors) -> Option<KeyConfig> {
    match item {
        Value::String(value) => {
            if let Some(problem) = secret_problem(value) {
                errors.push(at, problem);
            }
            Some(KeyConfig {
                value: value.clone(),
                weight: 1,
                models: Vec::new(),
            })
        }
        Value::Table(t) => {
            let f = Fields::new(t, at);
            f.deny_unknown(&["value", "weight", "models"], &[], errors);
            let value = f.str("value", errors);
            match &value {
                None if f.get("value").is_none() => {
                    errors.push(at, "missing required field 'value'")
                }
                Some(v) => {
                    if let Some(problem) = secret_problem(v) {
                        errors.push(f.at("value"), problem);
                    }
                }
                None => {}
            }
            let weight = read_weight(&f, errors);
            let models = f.str_list("models", errors);
            Some(KeyConfig {
                value: value?,
                weight,
                models,
            })
        }
        other => {
            errors.push(
                at,
                wrong_type("a string or a table { value, weight, models }", other),
            );
            None
        }
    }
}

/// `weight`: 1 to [`MAX_WEIGHT`], default 1.
pub fn read_weight(f: &Fields<'_>, errors: &mut Errors) -> u32 {
    let Some(v) = f.get("weight") else {
        return 1;
    };
    match as_u64(v) {
        Ok(w) if check_range(errors, &f.at("weight"), w, 1, MAX_WEIGHT) => {
            u32::try_from(w).unwrap_or(1)
        }
        Ok(_) => 1,
        Err(m) => {
            errors.push(f.at("weight"), m);
            1
        }
    }
}
