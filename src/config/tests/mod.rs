//! Tests of whole configurations: parsing, defaults, interpolation,
//! validation errors and the embedded default.

use super::*;

mod errors;

pub(super) fn env(name: &str) -> Option<String> {
    match name {
        "OPENAI_API_KEY" => Some("sk-one".into()),
        "OPENAI_API_KEY_2" => Some("sk-two".into()),
        "ADMIN" => Some("tok".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

pub(super) fn load(text: &str) -> Config {
    match Config::from_toml_str(text, &env) {
        Ok(c) => c,
        Err(errors) => panic!("unexpected errors: {errors:#?}"),
    }
}

/// The errors of `text`, rendered as `location: message`.
pub(super) fn errors(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, &env) {
        Ok(c) => panic!("expected errors, got {c:#?}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// Asserts that exactly one error is reported, at `location`, containing `needle`.
pub(super) fn one_error(text: &str, location: &str, needle: &str) {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let want = format!("{location}: ");
    assert!(
        errs[0].starts_with(&want) && errs[0].contains(needle),
        "{errs:#?}"
    );
}

const FULL: &str = r#"
[server]
listen = "0.0.0.0:9090"
shards = 4
pin_cores = true
max_request_bytes = 1048576
max_header_bytes = 8192
max_headers = 32
header_read_timeout_ms = 1000
body_read_timeout_ms = 2000
idle_timeout_ms = 3000
drain_timeout_ms = 4000
admin_token = "${ADMIN}"

[[providers]]
name = "openai"
kind = "openai"
base_url = "https://api.openai.com/v1/"
keys = [
  { value = "${OPENAI_API_KEY}", weight = 3 },
  { value = "${OPENAI_API_KEY_2}", weight = 1, models = ["gpt-4o-mini"] },
  "sk-literal",
]
models = ["gpt-4o", "gpt-4o-mini"]
timeout_ms = 120000
connect_timeout_ms = 2000
pool_idle_timeout_ms = 30000
pool_max_idle = 16
headers = { "OpenAI-Organization" = "org-1", "x-trace" = "on" }

[[providers]]
name = "az"
kind = "azure"
base_url = "https://res.openai.azure.com/openai"
api_key = "az-key"
api_version = "2025-01-01-preview"

[[providers]]
name = "local"
kind = "openai-compatible"
base_url = "http://[::1]:8000/v1"

[[models]]
name = "smart"
targets = [ { model = "openai/gpt-4o", weight = 3 }, "az/gpt-4o/deployment" ]
"#;

#[test]
fn full_example() {
    let c = load(FULL);
    let s = &c.server;
    assert_eq!(s.listen.to_string(), "0.0.0.0:9090");
    assert_eq!((s.shards, s.pin_cores), (4, true));
    assert_eq!(
        (s.max_request_bytes, s.max_header_bytes, s.max_headers),
        (1_048_576, 8192, 32)
    );
    assert_eq!(
        (
            s.header_read_timeout_ms,
            s.body_read_timeout_ms,
            s.idle_timeout_ms,
            s.drain_timeout_ms
        ),
        (1000, 2000, 3000, 4000)
    );
    assert_eq!(s.admin_token.as_deref(), Some("tok"));
    assert_eq!(s.shard_count(), 4);

    assert_eq!(c.providers.len(), 3);
    let p = &c.providers[0];
    assert_eq!((p.name.as_str(), p.kind), ("openai", ProviderKind::OpenAi));
    assert_eq!(p.base_url.to_string(), "https://api.openai.com/v1");
    let keys: Vec<_> = p
        .keys
        .iter()
        .map(|k| (k.value.as_str(), k.weight, k.models.len()))
        .collect();
    assert_eq!(
        keys,
        [("sk-one", 3, 0), ("sk-two", 1, 1), ("sk-literal", 1, 0)]
    );
    assert_eq!(p.models, ["gpt-4o", "gpt-4o-mini"]);
    assert_eq!(
        (
            p.timeout_ms,
            p.connect_timeout_ms,
            p.pool_idle_timeout_ms,
            p.pool_max_idle
        ),
        (120_000, 2000, 30_000, 16)
    );
    assert_eq!(p.api_version, None);
    assert_eq!(
        p.headers,
        [
            ("OpenAI-Organization".to_string(), "org-1".to_string()),
            ("x-trace".to_string(), "on".to_string())
        ]
    );

    let az = &c.providers[1];
    assert_eq!(az.kind, ProviderKind::Azure);
    assert_eq!(az.keys.len(), 1);
    assert_eq!(az.keys[0].value, "az-key");
    assert_eq!(az.api_version.as_deref(), Some("2025-01-01-preview"));

    let local = &c.providers[2];
    assert!(local.keys.is_empty());
    assert_eq!(
        (local.base_url.host.as_str(), local.base_url.port),
        ("::1", 8000)
    );

    let smart = c
        .alias("smart")
        .map(|a| a.targets.clone())
        .unwrap_or_default();
    assert_eq!(
        smart,
        [
            AliasTarget {
                provider: "openai".into(),
                model: "gpt-4o".into(),
                weight: 3
            },
            AliasTarget {
                provider: "az".into(),
                model: "gpt-4o/deployment".into(),
                weight: 1
            },
        ]
    );
    assert!(c.provider("az").is_some() && c.provider("nope").is_none());
}

#[test]
fn every_default() {
    let c = load("");
    assert_eq!(c.server, ServerConfig::default());
    assert!(c.providers.is_empty() && c.models.is_empty());
    let s = &c.server;
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert_eq!((s.shards, s.pin_cores), (0, false));
    assert_eq!(
        (s.max_request_bytes, s.max_header_bytes, s.max_headers),
        (33_554_432, 16_384, 64)
    );
    assert_eq!(
        (
            s.header_read_timeout_ms,
            s.body_read_timeout_ms,
            s.idle_timeout_ms,
            s.drain_timeout_ms
        ),
        (10_000, 30_000, 60_000, 30_000)
    );
    assert_eq!(s.admin_token, None);
    assert!(s.shard_count() >= 1);

    let c = load("[server]\n[[providers]]\nname = \"openai\"\napi_key = \"k\"\n[[providers]]\nname = \"a\"\nkind = \"azure\"\nbase_url = \"https://x.example\"\napi_key = \"k\"\n");
    assert_eq!(c.server, ServerConfig::default());
    let p = &c.providers[0];
    assert_eq!(p.kind, ProviderKind::OpenAi); // kind defaults to a kind-like name
    assert_eq!(p.base_url.to_string(), "https://api.openai.com/v1");
    assert_eq!(
        (
            p.timeout_ms,
            p.connect_timeout_ms,
            p.pool_idle_timeout_ms,
            p.pool_max_idle
        ),
        (60_000, 5_000, 90_000, 256)
    );
    assert!(p.models.is_empty() && p.headers.is_empty() && p.api_version.is_none());
    assert_eq!((p.keys[0].weight, p.keys[0].models.len()), (1, 0));
    assert_eq!(c.providers[1].api_version.as_deref(), Some("2024-10-21"));
    let built = ProviderConfig::new("a", ProviderKind::Azure, c.providers[1].base_url.clone());
    let mut parsed = c.providers[1].clone();
    parsed.keys.clear();
    assert_eq!(built, parsed);
    for kind in [
        "groq",
        "mistral",
        "deepseek",
        "together",
        "openrouter",
        "fireworks",
        "xai",
    ] {
        let c = load(&format!(
            "[[providers]]\nname = \"p\"\nkind = \"{kind}\"\napi_key = \"k\""
        ));
        let want = ProviderKind::parse(kind)
            .and_then(|k| k.default_base_url())
            .unwrap_or_default();
        assert_eq!(c.providers[0].base_url.to_string(), want);
    }
    for kind in ["ollama", "vllm"] {
        let c = load(&format!("[[providers]]\nname = \"p\"\nkind = \"{kind}\""));
        assert!(c.providers[0].keys.is_empty());
        assert!(!c.providers[0].base_url.tls);
    }
}

#[test]
fn interpolation_in_config() {
    let c = load("[server]\nlisten = \"${LISTEN:-127.0.0.1:0}\"\nshards = \"${SHARDS:-2}\"\npin_cores = \"${PIN:-true}\"\nadmin_token = \"a$$b${ADMIN}\"\n[[providers]]\nname = \"openai\"\napi_key = \"${OPENAI_API_KEY}\"\nheaders = { x-a = \"v-${EMPTY:-d}\" }\n");
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:0");
    assert_eq!((c.server.shards, c.server.pin_cores), (2, true));
    assert_eq!(c.server.admin_token.as_deref(), Some("a$btok"));
    assert_eq!(c.providers[0].keys[0].value, "sk-one");
    assert_eq!(c.providers[0].headers[0].1, "v-d");

    let errs = errors("[server]\nadmin_token = \"${NOPE_TOKEN}\"\n[[providers]]\nname = \"openai\"\nkeys = [{ value = \"${NOPE_KEY}\" }, \"${ALSO_NOPE}\"]\n");
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(errs.contains(&"server.admin_token: environment variable 'NOPE_TOKEN' is not set (use ${NOPE_TOKEN:-default} for a default)".to_string()), "{errs:#?}");
    assert!(errs
        .iter()
        .any(|e| e.starts_with("providers[0].keys[0].value: ") && e.contains("'NOPE_KEY'")));
    assert!(errs
        .iter()
        .any(|e| e.starts_with("providers[0].keys[1]: ") && e.contains("'ALSO_NOPE'")));
    one_error(
        "[server]\nadmin_token = \"${BAD\"",
        "server.admin_token",
        "unterminated",
    );
}

#[test]
fn key_forms() {
    let c = load("[[providers]]\nname = \"openai\"\nkeys = [\"a\", { value = \"b\", weight = 2, models = [\"x\"] }, { value = \"c\" }]\n");
    let k = &c.providers[0].keys;
    assert_eq!(k.len(), 3);
    assert_eq!((k[0].value.as_str(), k[0].weight), ("a", 1));
    assert_eq!(
        (k[1].value.as_str(), k[1].weight, k[1].models.clone()),
        ("b", 2, vec!["x".to_string()])
    );
    assert_eq!((k[2].value.as_str(), k[2].weight), ("c", 1));
    let c = load("[[providers]]\nname = \"openai\"\napi_key = \"solo\"\n");
    assert_eq!(c.providers[0].keys.len(), 1);
    assert!(
        !format!("{:?}", c.providers[0]).contains("solo"),
        "Debug must redact keys"
    );
}

#[test]
fn alias_targets() {
    let base = "[[providers]]\nname = \"openai\"\napi_key = \"k\"\n[[providers]]\nname = \"groq\"\napi_key = \"k\"\n";
    let c = load(&format!("{base}[[models]]\nname = \"fast\"\ntargets = [\"groq/llama-3.1-8b\", {{ model = \"openai/ft:gpt/x\", weight = 5 }}]\n[[models]]\nname = \"openai\"\ntargets = [\"openai/gpt-4o\"]\n"));
    let t = &c.models[0].targets;
    assert_eq!(
        (t[0].provider.as_str(), t[0].model.as_str(), t[0].weight),
        ("groq", "llama-3.1-8b", 1)
    );
    assert_eq!(
        (t[1].provider.as_str(), t[1].model.as_str(), t[1].weight),
        ("openai", "ft:gpt/x", 5)
    );
    assert_eq!(c.models[1].name, "openai"); // same as a provider name: fine

    let bad = |targets: &str| {
        errors(&format!(
            "{base}[[models]]\nname = \"m\"\ntargets = {targets}\n"
        ))
    };
    let e = bad("[\"anthropic/claude\"]");
    assert_eq!(e, ["models[0].targets[0]: unknown provider 'anthropic' in target \"anthropic/claude\" (configured providers: openai, groq)"]);
    assert!(bad("[\"gpt-4o\"]")[0].contains("must be \"provider/model\""));
    assert!(bad("[\"openai/\"]")[0].contains("both parts"));
    assert!(bad("[\"/x\"]")[0].contains("both parts"));
    assert!(bad("[{ model = \"nope/x\" }]")[0]
        .starts_with("models[0].targets[0].model: unknown provider 'nope'"));
    assert!(bad("[{ model = \"openai/x\", weight = 0 }]")[0]
        .starts_with("models[0].targets[0].weight: must be between 1 and 1000000"));
    assert!(bad("[{ weight = 2 }]")[0]
        .starts_with("models[0].targets[0]: missing required field 'model'"));
    assert!(bad("[{ model = \"openai/x\", w = 2 }]")[0]
        .starts_with("models[0].targets[0].w: unknown field 'w'"));
    assert!(bad("[3]")[0].starts_with("models[0].targets[0]: expected"));
    assert_eq!(
        bad("[]"),
        ["models[0].targets: an alias needs at least one target"]
    );
    assert_eq!(
        bad("\"openai/x\""),
        ["models[0].targets: expected an array, found a string"]
    );
}

#[test]
fn embedded_default_with_fake_env() {
    let fake = |name: &str| match name {
        "OPENAI_API_KEY" => Some("sk-o".to_string()),
        "OPENAI_BASE_URL" => Some("http://127.0.0.1:9999/v1".to_string()),
        "GROQ_API_KEY" => Some("gsk".to_string()),
        "MISTRAL_API_KEY" => Some(String::new()),
        "XAI_API_KEY" => Some("bad key".to_string()),
        "ANTHROPIC_API_KEY" => Some("sk-ant".to_string()),
        "AWS_ACCESS_KEY_ID" => Some("AKIA".to_string()),
        _ => None,
    };
    let (c, banner) = Config::embedded_default(&fake);
    assert_eq!(c.server, ServerConfig::default());
    assert!(c.models.is_empty());
    let names: Vec<_> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["openai", "anthropic", "groq"]);
    assert_eq!(
        c.providers[0].base_url.to_string(),
        "http://127.0.0.1:9999/v1"
    );
    assert_eq!(c.providers[0].keys[0].value, "sk-o");
    assert_eq!(
        c.providers[2].base_url.to_string(),
        "https://api.groq.com/openai/v1"
    );
    assert_eq!(
        banner,
        [
            "registered provider 'openai' (openai, http://127.0.0.1:9999/v1) from OPENAI_API_KEY",
            "registered provider 'anthropic' (anthropic, https://api.anthropic.com/v1) from ANTHROPIC_API_KEY",
            "registered provider 'groq' (groq, https://api.groq.com/openai/v1) from GROQ_API_KEY",
            "skipped provider 'xai': XAI_API_KEY must not contain whitespace or control characters (check the variable it comes from)",
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; bedrock not registered",
        ]
    );

    let (c, banner) = Config::embedded_default(&|n| match n {
        "AWS_ACCESS_KEY_ID" => Some("AKID".into()),
        "AWS_SECRET_ACCESS_KEY" => Some("secret".into()),
        "AWS_REGION" => Some("eu-west-1".into()),
        "GEMINI_API_KEY" => Some("g".into()),
        _ => None,
    });
    let names: Vec<_> = c.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["gemini", "bedrock"], "{banner:?}");
    assert_eq!(
        c.providers[1].base_url.to_string(),
        "https://bedrock-runtime.eu-west-1.amazonaws.com"
    );
    assert_eq!(c.providers[1].keys[0].value, "AKID:secret");
    assert_eq!(c.providers[1].region.as_deref(), Some("eu-west-1"));

    let (c, banner) = Config::embedded_default(&|_| None);
    assert!(c.providers.is_empty());
    assert_eq!(banner.len(), 1);
    assert!(
        banner[0]
            .starts_with("no provider registered: set one of OPENAI_API_KEY, ANTHROPIC_API_KEY"),
        "{banner:?}"
    );
    assert!(banner[0].contains("--config FILE"));

    let (c, banner) = Config::embedded_default(&|n| {
        (n == "OPENAI_API_KEY" || n == "OPENAI_BASE_URL").then(|| {
            if n == "OPENAI_API_KEY" {
                "k".to_string()
            } else {
                "ftp://x".to_string()
            }
        })
    });
    assert!(c.providers.is_empty());
    assert!(
        banner[0].contains("OPENAI_BASE_URL is not a valid base URL"),
        "{banner:?}"
    );

    let (_, banner) =
        Config::embedded_default(&|n| (n == "OPENAI_BASE_URL").then(|| "http://x".to_string()));
    assert!(banner[0].contains("OPENAI_API_KEY is not"), "{banner:?}");
}

#[test]
fn embedded_default_passes_validation() {
    let (c, _) = Config::embedded_default(&|n| (n == "DEEPSEEK_API_KEY").then(|| "k".to_string()));
    assert!(c.server.validate().is_empty());
    let p = &c.providers[0];
    let text = format!(
        "[[providers]]\nname = \"{}\"\nkind = \"{}\"\nbase_url = \"{}\"\napi_key = \"k\"\n",
        p.name, p.kind, p.base_url
    );
    assert_eq!(&load(&text).providers[0], p);
}

#[test]
fn documented_full_example_is_valid() {
    let doc = include_str!("../../../docs/configuration.md");
    let example = doc
        .split("## Full example")
        .nth(1)
        .and_then(|s| s.split("```toml\n").nth(1))
        .and_then(|s| s.split("```").next())
        .unwrap_or_default();
    assert!(example.contains("[[providers]]"));
    let env = |name: &str| match name {
        "GOOGLE_APPLICATION_CREDENTIALS" => Some(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/vertex/test-service-account.json"
            )
            .to_string(),
        ),
        _ => (!name.ends_with("_BASE_URL")).then(|| "x".to_string()),
    };
    let c = match Config::from_toml_str(example, &env) {
        Ok(c) => c,
        Err(e) => panic!("docs/configuration.md full example: {e:#?}"),
    };
    assert_eq!(
        (c.providers.len(), c.models.len(), c.routes.len()),
        (7, 2, 1)
    );
    assert_eq!(c.providers[5].api_version.as_deref(), Some("2024-10-21"));
    assert_eq!(
        c.models[0].fallbacks,
        ["anthropic/claude-sonnet-4-5", "fast"]
    );
    assert_eq!(c.routing.failure_threshold, 5);
}
