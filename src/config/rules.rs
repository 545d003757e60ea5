//! `[[routes]]`: routing rules.
//!
//! A rule sends the requests that meet all of its conditions (`[routes.match]`: the model the
//! caller asked for, header values, features of the body) to another model (`[routes.to]`): an
//! alias, a `provider/model`, or weighted `provider/model` targets. Rules are tried in file
//! order and the first that matches decides; a request no rule matches is resolved as usual.
//! The compiled matcher is `crate::routing::rules`; the user's guide is docs/routing.md.
//!
//! ```toml
//! [[routes]]
//! name = "long-prompts"
//! [routes.match]
//! model = ["smart", "gpt-4o*"]
//! headers = { "x-team" = "research" }
//! has_tools = true
//! min_prompt_bytes = 20000
//! [routes.to]
//! model = "big-context"
//! ```

use super::path::{index_path, key_path};
use super::reader::{wrong_type, Errors, Fields};
use super::AliasTarget;
use toml::Value;

/// One routing rule (`[[routes]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    /// Unique name, used in logs and metrics; no whitespace or control characters.
    pub name: String,
    /// The conditions (`[routes.match]`); all must hold. No conditions: every request matches.
    pub when: RouteMatch,
    /// Where matching requests go (`[routes.to]`).
    pub to: RouteTo,
}

/// The conditions of a rule (`[routes.match]`). Every condition given must hold; an absent
/// condition (empty list, `None`) does not restrict.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteMatch {
    /// `model`: the model name the caller sent must match one of these; empty = any model.
    pub models: Vec<ModelPattern>,
    /// `headers`: every one must hold; names lower-case, unique, sorted.
    pub headers: Vec<HeaderCondition>,
    /// `has_tools`: whether the request must (true) or must not (false) declare tools.
    pub has_tools: Option<bool>,
    /// `has_images`: whether the request must (true) or must not (false) contain an image.
    pub has_images: Option<bool>,
    /// `min_prompt_bytes`: the request body must be at least this many bytes.
    pub min_prompt_bytes: Option<u64>,
    /// `max_prompt_bytes`: the request body must be at most this many bytes.
    pub max_prompt_bytes: Option<u64>,
}

impl RouteMatch {
    /// True when no condition is set, so the rule takes every request.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
            && self.headers.is_empty()
            && self.has_tools.is_none()
            && self.has_images.is_none()
            && self.min_prompt_bytes.is_none()
            && self.max_prompt_bytes.is_none()
    }
}

/// One item of `match.model`: a model name as the caller sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelPattern {
    /// `"smart"`: exactly this name.
    Exact(String),
    /// `"gpt-4o*"`: any name starting with the text before the `*` (`"*"` alone: any name).
    Prefix(String),
}

impl ModelPattern {
    /// Whether `model` (the name the caller sent) matches.
    pub fn matches(&self, model: &str) -> bool {
        match self {
            ModelPattern::Exact(name) => model == name,
            ModelPattern::Prefix(prefix) => model.starts_with(prefix.as_str()),
        }
    }
}

/// One item of `match.headers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCondition {
    /// Header name, lower-case (request header names are compared case-insensitively).
    pub name: String,
    /// The exact value required (case-sensitive); `None` (written `"*"`): any value, the
    /// header only has to be present.
    pub value: Option<String>,
}

/// Where a rule sends a request (`[routes.to]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTo {
    /// `model = "..."`: an alias or a `provider/model` with a configured provider; it replaces
    /// the requested model and is resolved like one a caller sent (an alias keeps its targets,
    /// strategy and fallbacks).
    Model(String),
    /// `targets = [...]`: `provider/model` targets chosen by weight, written like alias targets.
    Targets(Vec<AliasTarget>),
}

/// Header names whose values are credentials. Matching on their exact value would put secrets
/// in the routing table and stand in for caller authentication, which is the job of virtual
/// keys; presence (`"*"`) is allowed.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "cookie",
];

const VIRTUAL_KEY_UNSUPPORTED: &str = "matching on virtual keys is not supported by this version yet: remove 'virtual_key' (this build has no virtual keys)";
const TEAM_UNSUPPORTED: &str = "matching on teams is not supported by this version yet: remove 'team' (this build has no virtual keys or teams)";

/// Reads the `routes` value of the root table (`None` when the file has no `[[routes]]`).
///
/// `providers` are the declared provider names and `aliases` the declared alias names, for
/// checking `to`. Every problem is reported in `errors`; only rules without errors of their
/// own are returned (a file with any error is refused anyway).
pub fn read_rules(
    value: Option<&Value>,
    providers: &[String],
    aliases: &[String],
    errors: &mut Errors,
) -> Vec<RouteRule> {
    let items = match value {
        None => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            errors.push(
                "routes",
                wrong_type("an array of tables ([[routes]])", other),
            );
            return Vec::new();
        }
    };
    let mut names: Vec<(usize, String)> = Vec::new();
    // The first rule without conditions: every rule after it would never be reached.
    let mut catch_all: Option<usize> = None;
    let mut rules = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let (name, rule) = read_rule(item, i, providers, aliases, errors);
        if let Some(name) = name {
            if let Some((first, _)) = names.iter().find(|(_, n)| *n == name) {
                errors.push(
                    index_path("routes", i) + ".name",
                    format!("duplicate route name '{name}' (also routes[{first}])"),
                );
            }
            names.push((i, name));
        }
        if let Some(first) = catch_all {
            errors.push(
                index_path("routes", i),
                format!("this rule is never used: routes[{first}] has no conditions and takes every request first (move it last)"),
            );
        } else if is_unconditional(item) {
            catch_all = Some(i);
        }
        rules.extend(rule);
    }
    rules
}

/// Whether a `[[routes]]` item has no conditions (no `match`, or an empty one), judged from
/// the raw value so that the check works even when the item has other errors.
fn is_unconditional(item: &Value) -> bool {
    match item.get("match") {
        None => true,
        Some(Value::Table(t)) => t.is_empty(),
        Some(_) => false,
    }
}

/// Reads `routes[index]`: the name as written (for duplicate checks) and the rule when it has
/// no errors of its own.
fn read_rule(
    item: &Value,
    index: usize,
    providers: &[String],
    aliases: &[String],
    errors: &mut Errors,
) -> (Option<String>, Option<RouteRule>) {
    let path = index_path("routes", index);
    let Value::Table(table) = item else {
        errors.push(path, wrong_type("a table", item));
        return (None, None);
    };
    let before = errors.0.len();
    let f = Fields::new(table, path);
    f.deny_unknown(&["name", "match", "to"], &[], errors);
    let name = f.str("name", errors);
    match &name {
        None if f.get("name").is_none() => errors.push(
            f.path.clone(),
            "missing required field 'name' (the rule's name in logs and metrics)",
        ),
        Some(n) if n.is_empty() => errors.push(f.at("name"), "must not be empty"),
        Some(n) if n.chars().any(|c| c.is_whitespace() || c.is_control()) => errors.push(
            f.at("name"),
            format!("route name {n:?} must not contain whitespace or control characters"),
        ),
        _ => {}
    }
    let when = match f.get("match") {
        None => RouteMatch::default(),
        Some(Value::Table(t)) => read_match(&Fields::new(t, f.at("match")), errors),
        Some(other) => {
            errors.push(f.at("match"), wrong_type("a table ([routes.match])", other));
            RouteMatch::default()
        }
    };
    let to = match f.get("to") {
        None => {
            errors.push(
                f.path.clone(),
                "missing required field 'to' (where matching requests go, e.g. [routes.to] model = \"my-alias\")",
            );
            None
        }
        Some(Value::Table(t)) => read_to(&Fields::new(t, f.at("to")), providers, aliases, errors),
        Some(other) => {
            errors.push(f.at("to"), wrong_type("a table ([routes.to])", other));
            None
        }
    };
    let rule = match (&name, to) {
        (Some(n), Some(to)) if errors.0.len() == before => Some(RouteRule {
            name: n.clone(),
            when,
            to,
        }),
        _ => None,
    };
    (name, rule)
}

/// `[routes.match]`.
fn read_match(f: &Fields<'_>, errors: &mut Errors) -> RouteMatch {
    f.deny_unknown(
        &[
            "model",
            "headers",
            "has_tools",
            "has_images",
            "min_prompt_bytes",
            "max_prompt_bytes",
        ],
        &[
            ("virtual_key", VIRTUAL_KEY_UNSUPPORTED),
            ("team", TEAM_UNSUPPORTED),
        ],
        errors,
    );
    let opt_bool =
        |key: &str, errors: &mut Errors| f.get(key).is_some().then(|| f.bool(key, false, errors));
    let opt_u64 =
        |key: &str, errors: &mut Errors| f.get(key).is_some().then(|| f.u64(key, 0, errors));
    let has_tools = opt_bool("has_tools", errors);
    let has_images = opt_bool("has_images", errors);
    let min_prompt_bytes = opt_u64("min_prompt_bytes", errors);
    let max_prompt_bytes = opt_u64("max_prompt_bytes", errors);
    if let (Some(min), Some(max)) = (min_prompt_bytes, max_prompt_bytes) {
        if min > max {
            errors.push(
                f.at("max_prompt_bytes"),
                format!("must be at least min_prompt_bytes ({min}), found {max}: no request could match"),
            );
        }
    }
    RouteMatch {
        models: read_models(f, errors),
        headers: read_header_conditions(f, errors),
        has_tools,
        has_images,
        min_prompt_bytes,
        max_prompt_bytes,
    }
}

/// `match.model`: one pattern or an array of them.
fn read_models(f: &Fields<'_>, errors: &mut Errors) -> Vec<ModelPattern> {
    let at = f.at("model");
    match f.get("model") {
        None => Vec::new(),
        Some(Value::String(s)) => read_pattern(s, &at, errors).into_iter().collect(),
        Some(Value::Array(items)) if items.is_empty() => {
            errors.push(
                at,
                "must list at least one model (leave 'model' out to match every model)",
            );
            Vec::new()
        }
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let item_at = index_path(&at, i);
                match item {
                    Value::String(s) => out.extend(read_pattern(s, &item_at, errors)),
                    other => errors.push(item_at, wrong_type("a string", other)),
                }
            }
            out
        }
        Some(other) => {
            errors.push(at, wrong_type("a model name or an array of them", other));
            Vec::new()
        }
    }
}

/// One model pattern: a name, optionally ending in `*`.
fn read_pattern(text: &str, at: &str, errors: &mut Errors) -> Option<ModelPattern> {
    if text.is_empty() {
        errors.push(at, "must not be empty");
        return None;
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.push(
            at,
            format!("model pattern {text:?} must not contain whitespace or control characters"),
        );
        return None;
    }
    match text.find('*') {
        None => Some(ModelPattern::Exact(text.to_string())),
        Some(star) if star + 1 == text.len() => {
            Some(ModelPattern::Prefix(text[..star].to_string()))
        }
        Some(_) => {
            errors.push(
                at,
                format!("model pattern {text:?}: '*' is only allowed once, at the end (\"gpt-4o*\" matches every name starting with \"gpt-4o\")"),
            );
            None
        }
    }
}

/// True for an HTTP field name (RFC 9110 `tchar`s).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `match.headers = { name = "value" | "*" }`, sorted by name. Values never appear in
/// messages (they may be sensitive).
fn read_header_conditions(f: &Fields<'_>, errors: &mut Errors) -> Vec<HeaderCondition> {
    let table = match f.get("headers") {
        None => return Vec::new(),
        Some(Value::Table(t)) => t,
        Some(other) => {
            errors.push(
                f.at("headers"),
                wrong_type(
                    "a table of name = \"value\" (or \"*\" for any value)",
                    other,
                ),
            );
            return Vec::new();
        }
    };
    let mut out: Vec<HeaderCondition> = Vec::with_capacity(table.len());
    for (name, value) in table {
        let at = key_path(&f.at("headers"), name);
        if !is_token(name) {
            errors.push(at, "is not a valid HTTP header name");
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if out.iter().any(|h| h.name == lower) {
            errors.push(at, "duplicate header name (names are case-insensitive)");
            continue;
        }
        let value = match value {
            Value::String(v) if v == "*" => None,
            Value::String(v) if v.chars().any(|c| c.is_control() && c != '\t') => {
                errors.push(at, "header value must not contain control characters");
                continue;
            }
            Value::String(v) if v.trim() != v => {
                errors.push(
                    at,
                    "header value must not start or end with whitespace (it would never match: HTTP drops it)",
                );
                continue;
            }
            Value::String(_) if CREDENTIAL_HEADERS.contains(&lower.as_str()) => {
                errors.push(
                    at,
                    format!("'{lower}' carries credentials: matching its value is reserved for virtual keys; use \"*\" to match its presence"),
                );
                continue;
            }
            Value::String(v) => Some(v.clone()),
            other => {
                errors.push(
                    at,
                    wrong_type("a string (the exact value, or \"*\" for any value)", other),
                );
                continue;
            }
        };
        out.push(HeaderCondition { name: lower, value });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// `[routes.to]`: `model = "..."` or `targets = [...]`, exactly one of them.
fn read_to(
    f: &Fields<'_>,
    providers: &[String],
    aliases: &[String],
    errors: &mut Errors,
) -> Option<RouteTo> {
    f.deny_unknown(&["model", "targets"], &[], errors);
    match (f.get("model"), f.get("targets")) {
        (Some(_), Some(_)) => {
            errors.push(f.path.clone(), "use either 'model' or 'targets', not both");
            None
        }
        (None, None) => {
            errors.push(
                f.path.clone(),
                "missing 'model' (an alias or \"provider/model\") or 'targets' (weighted \"provider/model\" targets)",
            );
            None
        }
        (Some(_), None) => {
            let model = f.str("model", errors)?;
            check_model(&model, &f.at("model"), providers, aliases, errors)
                .then_some(RouteTo::Model(model))
        }
        (None, Some(Value::Array(items))) if items.is_empty() => {
            errors.push(f.at("targets"), "needs at least one target");
            None
        }
        (None, Some(Value::Array(items))) => {
            let before = errors.0.len();
            let targets: Vec<AliasTarget> = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    super::alias::read_target(
                        item,
                        &index_path(&f.at("targets"), i),
                        providers,
                        errors,
                    )
                })
                .collect();
            (errors.0.len() == before).then_some(RouteTo::Targets(targets))
        }
        (None, Some(other)) => {
            errors.push(f.at("targets"), wrong_type("an array", other));
            None
        }
    }
}

/// `to.model` names an alias, or `provider/model` with a configured provider. Bare names
/// (`gpt-4o`) are refused: which provider they reach depends on the rest of the file, and a
/// rule should say where it sends traffic.
fn check_model(
    model: &str,
    at: &str,
    providers: &[String],
    aliases: &[String],
    errors: &mut Errors,
) -> bool {
    if aliases.iter().any(|a| a == model) {
        return true;
    }
    if let Some((p, m)) = model.split_once('/') {
        if !m.is_empty() && providers.iter().any(|x| x == p) {
            return true;
        }
    }
    errors.push(
        at,
        format!(
            "{model:?} is neither an alias nor \"provider/model\" with a configured provider (aliases: {}; providers: {})",
            list_or_none(aliases),
            list_or_none(providers)
        ),
    );
    false
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// Reads the `[[routes]]` of `text` with providers `openai`, `anthropic` and aliases
    /// `smart`, `big-context`; returns the rules and the rendered errors.
    fn read(text: &str) -> (Vec<RouteRule>, Vec<String>) {
        let table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        let mut errors = Errors::default();
        let rules = read_rules(
            table.get("routes"),
            &strings(&["openai", "anthropic"]),
            &strings(&["smart", "big-context"]),
            &mut errors,
        );
        (rules, errors.0.iter().map(ToString::to_string).collect())
    }

    fn ok(text: &str) -> Vec<RouteRule> {
        let (rules, errors) = read(text);
        assert!(errors.is_empty(), "{errors:#?}");
        rules
    }

    fn errs(text: &str) -> Vec<String> {
        let (_, errors) = read(text);
        assert!(!errors.is_empty(), "expected errors for {text}");
        errors
    }

    #[test]
    fn no_routes() {
        assert!(ok("").is_empty());
    }

    #[test]
    fn full_rule() {
        let rules = ok(r#"
[[routes]]
name = "long-or-tools"
[routes.match]
model = ["smart", "gpt-4o*"]
headers = { "X-Team" = "research", "x-debug" = "*" }
has_tools = true
has_images = "false"
min_prompt_bytes = 20000
max_prompt_bytes = "90000"
[routes.to]
model = "big-context"

[[routes]]
name = "split"
match = { model = "*" }
to = { targets = ["openai/gpt-4o", { model = "anthropic/claude-sonnet-4-5", weight = 3 }] }
"#);
        assert_eq!(
            rules,
            [
                RouteRule {
                    name: "long-or-tools".into(),
                    when: RouteMatch {
                        models: vec![
                            ModelPattern::Exact("smart".into()),
                            ModelPattern::Prefix("gpt-4o".into())
                        ],
                        headers: vec![
                            HeaderCondition {
                                name: "x-debug".into(),
                                value: None
                            },
                            HeaderCondition {
                                name: "x-team".into(),
                                value: Some("research".into())
                            },
                        ],
                        has_tools: Some(true),
                        has_images: Some(false),
                        min_prompt_bytes: Some(20000),
                        max_prompt_bytes: Some(90000),
                    },
                    to: RouteTo::Model("big-context".into()),
                },
                RouteRule {
                    name: "split".into(),
                    when: RouteMatch {
                        models: vec![ModelPattern::Prefix(String::new())],
                        ..RouteMatch::default()
                    },
                    to: RouteTo::Targets(vec![
                        AliasTarget {
                            provider: "openai".into(),
                            model: "gpt-4o".into(),
                            weight: 1
                        },
                        AliasTarget {
                            provider: "anthropic".into(),
                            model: "claude-sonnet-4-5".into(),
                            weight: 3
                        },
                    ]),
                },
            ]
        );
    }

    #[test]
    fn to_provider_model_and_catch_all_last() {
        let rules = ok(r#"
[[routes]]
name = "images"
match = { has_images = true }
to = { model = "openai/gpt-4o" }
[[routes]]
name = "everything-else"
to = { model = "smart" }
"#);
        assert_eq!(rules.len(), 2);
        assert!(!rules[0].when.is_empty());
        assert!(rules[1].when.is_empty());
        assert_eq!(rules[1].to, RouteTo::Model("smart".into()));
    }

    #[test]
    fn model_patterns() {
        for (p, m, want) in [
            ("gpt-4o", "gpt-4o", true),
            ("gpt-4o", "gpt-4o-mini", false),
            ("gpt-4o*", "gpt-4o-mini", true),
            ("gpt-4o*", "gpt-4o", true),
            ("gpt-4o*", "gpt-4", false),
            ("openai/*", "openai/gpt-4o", true),
            ("*", "anything", true),
        ] {
            let mut e = Errors::default();
            let pattern = read_pattern(p, "x", &mut e);
            assert!(e.0.is_empty());
            assert_eq!(pattern.map(|p| p.matches(m)), Some(want), "{p} vs {m}");
        }
    }

    #[test]
    fn every_error_with_its_location() {
        let errors = errs(
            r#"
[[routes]]
name = "a b"
[routes.match]
model = ["", "gpt*4", 3, "*x*"]
headers = { "bad name" = "x", "x-team" = 5, "X-Trim" = " trimval", "authorization" = "Bearer sk-secret" }
has_tools = 1
min_prompt_bytes = 10
max_prompt_bytes = 5
virtual_key = "k"
team = "t"
colour = "red"
[routes.to]
model = "gpt-4o"
extra = 1

[[routes]]
name = "a b"
to = { model = "smart", targets = ["openai/x"] }

[[routes]]
to = { targets = ["nope/x", "openai", { weight = 0 }, 5] }

[[routes]]
name = "t"
match = "x"
to = { targets = [] }

[[routes]]
name = "u"
match = { model = [] }
"#,
        );
        let want = [
            "routes[0].name: route name \"a b\" must not contain whitespace or control characters",
            "routes[0].match.colour: unknown field 'colour' (expected one of: model, headers, has_tools, has_images, min_prompt_bytes, max_prompt_bytes)",
            "routes[0].match.team: matching on teams is not supported by this version yet: remove 'team' (this build has no virtual keys or teams)",
            "routes[0].match.virtual_key: matching on virtual keys is not supported by this version yet: remove 'virtual_key' (this build has no virtual keys)",
            "routes[0].match.has_tools: expected true or false, found an integer",
            "routes[0].match.max_prompt_bytes: must be at least min_prompt_bytes (10), found 5: no request could match",
            "routes[0].match.model[0]: must not be empty",
            "routes[0].match.model[1]: model pattern \"gpt*4\": '*' is only allowed once, at the end (\"gpt-4o*\" matches every name starting with \"gpt-4o\")",
            "routes[0].match.model[2]: expected a string, found an integer",
            "routes[0].match.model[3]: model pattern \"*x*\": '*' is only allowed once, at the end (\"gpt-4o*\" matches every name starting with \"gpt-4o\")",
            "routes[0].match.headers.X-Trim: header value must not start or end with whitespace (it would never match: HTTP drops it)",
            "routes[0].match.headers.authorization: 'authorization' carries credentials: matching its value is reserved for virtual keys; use \"*\" to match its presence",
            "routes[0].match.headers.\"bad name\": is not a valid HTTP header name",
            "routes[0].match.headers.x-team: expected a string (the exact value, or \"*\" for any value), found an integer",
            "routes[0].to.extra: unknown field 'extra' (expected one of: model, targets)",
            "routes[0].to.model: \"gpt-4o\" is neither an alias nor \"provider/model\" with a configured provider (aliases: smart, big-context; providers: openai, anthropic)",
            "routes[1].name: route name \"a b\" must not contain whitespace or control characters",
            "routes[1].to: use either 'model' or 'targets', not both",
            "routes[1].name: duplicate route name 'a b' (also routes[0])",
            "routes[2]: missing required field 'name' (the rule's name in logs and metrics)",
            "routes[2].to.targets[0]: unknown provider 'nope' in target \"nope/x\" (configured providers: openai, anthropic)",
            "routes[2].to.targets[1]: target \"openai\" must be \"provider/model\"",
            "routes[2].to.targets[2].weight: must be between 1 and 1000000, found 0",
            "routes[2].to.targets[2]: missing required field 'model'",
            "routes[2].to.targets[3]: expected \"provider/model\" or { model = \"provider/model\", weight = N }, found an integer",
            "routes[2]: this rule is never used: routes[1] has no conditions and takes every request first (move it last)",
            "routes[3].match: expected a table ([routes.match]), found a string",
            "routes[3].to.targets: needs at least one target",
            "routes[3]: this rule is never used: routes[1] has no conditions and takes every request first (move it last)",
            "routes[4].match.model: must list at least one model (leave 'model' out to match every model)",
            "routes[4]: missing required field 'to' (where matching requests go, e.g. [routes.to] model = \"my-alias\")",
            "routes[4]: this rule is never used: routes[1] has no conditions and takes every request first (move it last)",
        ];
        assert_eq!(errors, want);
        // Secrets and header values never appear in messages.
        assert!(errors
            .iter()
            .all(|e| !e.contains("sk-secret") && !e.contains("trimval")));
    }

    #[test]
    fn credential_headers_allow_presence() {
        let rules = ok(r#"
[[routes]]
name = "keyed"
match = { headers = { Authorization = "*" } }
to = { model = "smart" }
"#);
        assert_eq!(
            rules[0].when.headers,
            [HeaderCondition {
                name: "authorization".into(),
                value: None
            }]
        );
    }

    #[test]
    fn header_names_differing_in_case() {
        let errors = errs(
            r#"
[[routes]]
name = "r"
match = { headers = { "X-Team" = "a", "x-team" = "b" } }
to = { model = "smart" }
"#,
        );
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].contains("duplicate header name"), "{errors:#?}");
    }

    #[test]
    fn wrong_shapes() {
        assert_eq!(
            errs("[routes]\nname = \"x\"\n"),
            ["routes: expected an array of tables ([[routes]]), found a table"]
        );
        assert_eq!(
            errs("routes = [1]\n"),
            ["routes[0]: expected a table, found an integer"]
        );
        assert_eq!(
            errs("[[routes]]\nname = \"r\"\nto = \"smart\"\n"),
            ["routes[0].to: expected a table ([routes.to]), found a string"]
        );
        assert_eq!(
            errs("[[routes]]\nname = \"r\"\nto = {}\n"),
            ["routes[0].to: missing 'model' (an alias or \"provider/model\") or 'targets' (weighted \"provider/model\" targets)"]
        );
        assert_eq!(
            errs("[[routes]]\nname = \"r\"\n[routes.match]\nmodel = \"a\"\nheaders = [\"x\"]\n[routes.to]\nmodel = \"openai/\"\n"),
            [
                "routes[0].match.headers: expected a table of name = \"value\" (or \"*\" for any value), found an array",
                "routes[0].to.model: \"openai/\" is neither an alias nor \"provider/model\" with a configured provider (aliases: smart, big-context; providers: openai, anthropic)",
            ]
        );
    }
}
