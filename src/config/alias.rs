//! `[[models]]`: model aliases and their `provider/model` targets.

use super::keys::read_weight;
use super::path::index_path;
use super::reader::{wrong_type, Errors, Fields};
use super::{AliasTarget, ModelAlias};
use toml::Value;

/// The strategy names `strategy` accepts.
pub const STRATEGIES: &[&str] = &["weighted", "latency", "least-busy", "cost", "ordered"];

/// Reads `models[index]`; `providers` are the declared provider names.
/// Returns the name as written (for duplicate checks) and the alias when it
/// has no errors of its own.
pub fn read_alias(
    value: &Value,
    index: usize,
    providers: &[String],
    errors: &mut Errors,
) -> (Option<String>, Option<ModelAlias>) {
    let path = index_path("models", index);
    let Value::Table(table) = value else {
        errors.push(path, wrong_type("a table", value));
        return (None, None);
    };
    let before = errors.0.len();
    let f = Fields::new(table, path);
    f.deny_unknown(
        &["name", "targets", "fallbacks", "strategy", "max_latency_ms"],
        &[],
        errors,
    );
    let name = f.str("name", errors);
    match &name {
        None if f.get("name").is_none() => errors.push(f.path.clone(), "missing required field 'name'"),
        Some(n) if n.is_empty() => errors.push(f.at("name"), "must not be empty"),
        Some(n) if n.contains('/') => errors.push(
            f.at("name"),
            format!("alias name {n:?} must not contain '/' ('provider/model' names are already routable)"),
        ),
        Some(n) if n.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            errors.push(f.at("name"), format!("alias name {n:?} must not contain whitespace or control characters"))
        }
        _ => {}
    }
    let mut targets = Vec::new();
    match f.get("targets") {
        None => errors.push(f.path.clone(), "missing required field 'targets'"),
        Some(Value::Array(items)) if items.is_empty() => {
            errors.push(f.at("targets"), "an alias needs at least one target")
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = index_path(&f.at("targets"), i);
                if let Some(t) = read_target(item, &at, providers, errors) {
                    targets.push(t);
                }
            }
        }
        Some(other) => errors.push(f.at("targets"), wrong_type("an array", other)),
    }
    // Fallback names are checked against the aliases once all are read (parse.rs).
    let fallbacks = f.str_list("fallbacks", errors);
    let strategy = f
        .str("strategy", errors)
        .unwrap_or_else(|| "weighted".to_string());
    if !STRATEGIES.contains(&strategy.as_str()) {
        errors.push(
            f.at("strategy"),
            format!(
                "unknown strategy {strategy:?} (expected one of: {})",
                STRATEGIES.join(", ")
            ),
        );
    }
    let max_latency_ms = f.u64("max_latency_ms", 5_000, errors);
    super::reader::check_range(
        errors,
        &f.at("max_latency_ms"),
        max_latency_ms,
        1,
        super::server::MAX_TIMEOUT_MS,
    );
    let alias = match &name {
        Some(n) if errors.0.len() == before => Some(ModelAlias {
            name: n.clone(),
            targets,
            fallbacks,
            strategy,
            max_latency_ms,
        }),
        _ => None,
    };
    (name, alias)
}

/// One target: `"provider/model"` or `{ model = "provider/model", weight = N }`.
pub(super) fn read_target(
    item: &Value,
    at: &str,
    providers: &[String],
    errors: &mut Errors,
) -> Option<AliasTarget> {
    let (text, text_at, weight) = match item {
        Value::String(s) => (s.clone(), at.to_string(), 1),
        Value::Table(t) => {
            let f = Fields::new(t, at);
            f.deny_unknown(&["model", "weight"], &[], errors);
            let weight = read_weight(&f, errors);
            let model = f.str("model", errors);
            if model.is_none() && f.get("model").is_none() {
                errors.push(at, "missing required field 'model'");
            }
            (model?, f.at("model"), weight)
        }
        other => {
            errors.push(
                at,
                wrong_type(
                    "\"provider/model\" or { model = \"provider/model\", weight = N }",
                    other,
                ),
            );
            return None;
        }
    };
    let Some((provider, model)) = text.split_once('/') else {
        errors.push(
            text_at,
            format!("target {text:?} must be \"provider/model\""),
        );
        return None;
    };
    if provider.is_empty() || model.is_empty() {
        errors.push(
            text_at,
            format!("target {text:?} must be \"provider/model\" with both parts non-empty"),
        );
        return None;
    }
    if !providers.iter().any(|p| p == provider) {
        let known = if providers.is_empty() {
            "none".to_string()
        } else {
            providers.join(", ")
        };
        errors.push(
            text_at,
            format!(
                "unknown provider '{provider}' in target {text:?} (configured providers: {known})"
            ),
        );
        return None;
    }
    Some(AliasTarget {
        provider: provider.to_string(),
        model: model.to_string(),
        weight,
    })
}
