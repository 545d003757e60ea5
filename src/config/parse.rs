//! Loading a TOML text: syntax, interpolation, then the top level
//! (`[server]`, `[[providers]]`, `[[models]]`) with cross-checks.

use super::alias::read_alias;
use super::interpolate::interpolate_value;
use super::path::{index_path, line_column};
use super::provider::read_provider;
use super::reader::{wrong_type, Errors, Fields};
use super::rules::read_rules;
use super::server::read_server;
use super::{Config, ConfigError};
use toml::Value;

const VIRTUAL_KEYS_UNSUPPORTED: &str = "virtual keys are not supported by this version yet: remove [[virtual_keys]] (this build does no caller authentication, budgets or rate limits)";
const CACHE_UNSUPPORTED: &str =
    "caching is not supported by this version yet: remove [cache] (this build caches nothing)";

/// See [`Config::from_toml_str`].
pub fn from_toml_str(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Vec<ConfigError>> {
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let (line, column) = line_column(text, e.span().map_or(0, |s| s.start));
        let message = e.message().trim().replace('\n', "; ");
        vec![ConfigError::new(
            format!("line {line}, column {column}"),
            message,
        )]
    })?;
    let mut errors = Errors::default();
    // Unknown top-level sections are reported as such; interpolating them would only add noise.
    for (key, value) in table.iter_mut() {
        if SECTIONS.contains(&key.as_str()) {
            interpolate_value(value, key, env, &mut errors.0);
        }
    }
    // A value whose interpolation failed still holds `${...}`: drop the
    // follow-on errors reported at the same location.
    let interpolation_errors = errors.0.len();
    let config = read_config(&table, &mut errors);
    let failed: Vec<String> = errors
        .0
        .iter()
        .take(interpolation_errors)
        .map(|e| e.location.clone())
        .collect();
    let mut index = 0;
    errors.0.retain(|e| {
        index += 1;
        index <= interpolation_errors || !failed.contains(&e.location)
    });
    if errors.0.is_empty() {
        Ok(config)
    } else {
        // Group errors by section and item (interpolation ran first), keeping order within.
        errors.0.sort_by_key(|e| section_rank(&e.location));
        Err(errors.0)
    }
}

/// The top-level sections this build understands.
const SECTIONS: &[&str] = &["server", "providers", "models", "routes", "routing"];

/// Sort key of a location: top level first, then `server`, then each
/// provider, then each alias.
fn section_rank(location: &str) -> (usize, usize) {
    let section = location.split(['.', '[']).next().unwrap_or_default();
    let rank = SECTIONS
        .iter()
        .position(|s| *s == section)
        .map_or(0, |i| i + 1);
    let index = location
        .strip_prefix(section)
        .and_then(|rest| rest.strip_prefix('['))
        .and_then(|rest| rest.split(']').next())
        .and_then(|i| i.parse().ok())
        .unwrap_or(0);
    (rank, index)
}

/// Reads the interpolated root table.
fn read_config(table: &toml::Table, errors: &mut Errors) -> Config {
    let root = Fields::new(table, "");
    root.deny_unknown(
        SECTIONS,
        &[
            ("virtual_keys", VIRTUAL_KEYS_UNSUPPORTED),
            ("cache", CACHE_UNSUPPORTED),
        ],
        errors,
    );
    let server = read_server(root.get("server"), errors);

    let mut provider_names: Vec<(usize, String)> = Vec::new();
    let mut providers = Vec::new();
    for (i, item) in array_of_tables(&root, "providers", errors)
        .iter()
        .enumerate()
    {
        let (name, provider) = read_provider(item, i, errors);
        if let Some(name) = name {
            if let Some((first, _)) = provider_names.iter().find(|(_, n)| *n == name) {
                errors.push(
                    index_path("providers", i) + ".name",
                    format!("duplicate provider name '{name}' (also providers[{first}])"),
                );
            }
            provider_names.push((i, name));
        }
        providers.extend(provider);
    }
    let names: Vec<String> = provider_names.into_iter().map(|(_, n)| n).collect();

    let mut alias_names: Vec<(usize, String)> = Vec::new();
    let mut models = Vec::new();
    for (i, item) in array_of_tables(&root, "models", errors).iter().enumerate() {
        let (name, alias) = read_alias(item, i, &names, errors);
        if let Some(name) = name {
            if let Some((first, _)) = alias_names.iter().find(|(_, n)| *n == name) {
                errors.push(
                    index_path("models", i) + ".name",
                    format!("duplicate alias name '{name}' (also models[{first}])"),
                );
            }
            alias_names.push((i, name));
        }
        models.extend(alias);
    }
    check_fallbacks(&models, &alias_names, &names, errors);
    let alias_list: Vec<String> = alias_names.into_iter().map(|(_, n)| n).collect();
    let routes = read_rules(root.get("routes"), &names, &alias_list, errors);
    let routing = read_routing(root.get("routing"), errors);
    Config {
        server,
        providers,
        models,
        routes,
        routing,
    }
}

/// `[routing]`: circuit-breaker settings, each optional.
fn read_routing(value: Option<&Value>, errors: &mut Errors) -> super::RoutingConfig {
    let mut r = super::RoutingConfig::default();
    let Some(value) = value else {
        return r;
    };
    let Value::Table(t) = value else {
        errors.push("routing", wrong_type("a table", value));
        return r;
    };
    let f = Fields::new(t, "routing");
    f.deny_unknown(
        &[
            "failure_threshold",
            "error_rate_threshold",
            "min_requests",
            "open_ms",
            "max_open_ms",
        ],
        &[],
        errors,
    );
    let n = f.u64("failure_threshold", u64::from(r.failure_threshold), errors);
    if super::reader::check_range(errors, &f.at("failure_threshold"), n, 0, 1_000_000) {
        r.failure_threshold = n as u32;
    }
    let n = f.u64("min_requests", u64::from(r.min_requests), errors);
    if super::reader::check_range(errors, &f.at("min_requests"), n, 0, 1_000_000) {
        r.min_requests = n as u32;
    }
    match f.get("error_rate_threshold") {
        None => {}
        Some(Value::Float(x)) if (0.0..=1.0).contains(x) => r.error_rate_threshold = *x,
        Some(Value::Integer(x)) if (0..=1).contains(x) => r.error_rate_threshold = *x as f64,
        Some(other) => errors.push(
            f.at("error_rate_threshold"),
            format!("must be a number between 0 and 1, found {other:?}"),
        ),
    }
    let max = super::server::MAX_TIMEOUT_MS;
    r.open_ms = f.u64("open_ms", r.open_ms, errors);
    super::reader::check_range(errors, &f.at("open_ms"), r.open_ms, 1, max);
    r.max_open_ms = f.u64("max_open_ms", r.max_open_ms, errors);
    super::reader::check_range(errors, &f.at("max_open_ms"), r.max_open_ms, 1, max);
    if r.max_open_ms < r.open_ms {
        errors.push(f.at("max_open_ms"), "must not be below open_ms");
    }
    r
}

/// Every alias fallback names an alias or `provider/model` with a configured provider.
fn check_fallbacks(
    models: &[super::ModelAlias],
    aliases: &[(usize, String)],
    providers: &[String],
    errors: &mut Errors,
) {
    for alias in models {
        let Some((i, _)) = aliases.iter().find(|(_, n)| *n == alias.name) else {
            continue;
        };
        for (j, fallback) in alias.fallbacks.iter().enumerate() {
            let at = index_path(&(index_path("models", *i) + ".fallbacks"), j);
            if aliases.iter().any(|(_, n)| n == fallback) {
                if *fallback == alias.name {
                    errors.push(at, format!("alias '{fallback}' cannot fall back to itself"));
                }
                continue;
            }
            match fallback.split_once('/') {
                Some((p, m)) if !m.is_empty() && providers.iter().any(|x| x == p) => {}
                _ => errors.push(
                    at,
                    format!(
                        "fallback {fallback:?} is neither an alias nor \"provider/model\" with a configured provider"
                    ),
                ),
            }
        }
    }
}

/// The items of `[[key]]` (empty when absent or of the wrong type, reported).
fn array_of_tables<'a>(root: &Fields<'a>, key: &str, errors: &mut Errors) -> &'a [Value] {
    match root.get(key) {
        None => &[],
        Some(Value::Array(items)) => items,
        Some(other) => {
            errors.push(
                root.at(key),
                wrong_type(&format!("an array of tables ([[{key}]])"), other),
            );
            &[]
        }
    }
}
