//! Tests of validation errors: every error kind, its location and message.

use super::super::{Config, ConfigError, ServerConfig};
use super::{errors, one_error};

#[test]
fn unsupported_sections() {
    one_error(
        "[[virtual_keys]]\nkey = \"k\"\nname = \"team\"\n",
        "virtual_keys",
        "virtual keys are not supported by this version yet",
    );
    one_error(
        "[cache]\nmode = \"exact\"\n",
        "cache",
        "caching is not supported by this version yet",
    );
    one_error(
        "[[providers]]\nname = \"openai\"\napi_key = \"k\"\n[[models]]\nname = \"m\"\ntargets = [\"openai/x\"]\nfallbacks = [\"nope/y\"]\n",
        "models[0].fallbacks[0]",
        "fallback \"nope/y\" is neither an alias nor",
    );
    one_error(
        "[[providers]]\nname = \"openai\"\napi_key = \"k\"\n[[models]]\nname = \"m\"\ntargets = [\"openai/x\"]\nfallbacks = [\"m\"]\n",
        "models[0].fallbacks[0]",
        "cannot fall back to itself",
    );
    one_error(
        "[[providers]]\nname = \"openai\"\napi_key = \"k\"\n[[models]]\nname = \"m\"\ntargets = [\"openai/x\"]\nstrategy = \"fastest\"\n",
        "models[0].strategy",
        "unknown strategy \"fastest\"",
    );
    one_error(
        "[[providers]]\nname = \"openai\"\napi_key = \"k\"\nretry = { max_attempts = 0 }\n",
        "providers[0].retry.max_attempts",
        "must be between 1 and 20",
    );
    one_error(
        "[[providers]]\nname = \"openai\"\napi_key = \"k\"\nretry = { backoff_ms = 500, max_backoff_ms = 100 }\n",
        "providers[0].retry.max_backoff_ms",
        "must not be below backoff_ms",
    );
    one_error(
        "[[providers]]\nname = \"b\"\nkind = \"bedrock\"\napi_key = \"AKID:SECRET\"\n",
        "providers[0]",
        "missing required field 'region'",
    );
    one_error(
        "[[providers]]\nname = \"b\"\nkind = \"bedrock\"\nregion = \"us-east-1\"\napi_key = \"AKID\"\n",
        "providers[0].keys[0]",
        "a bedrock key is",
    );
    one_error(
        "[[providers]]\nname = \"v\"\nkind = \"vertex\"\nregion = \"us-central1\"\nproject = \"p\"\n",
        "providers[0]",
        "kind 'vertex' needs credentials_file",
    );
    one_error(
        "[[providers]]\nname = \"v\"\nkind = \"vertex\"\nregion = \"us-central1\"\napi_key = \"tok\"\n",
        "providers[0]",
        "missing required field 'project'",
    );
    one_error(
        "[[providers]]\nname = \"openai\"\napi_key = \"k\"\nregion = \"us-east-1\"\n",
        "providers[0].region",
        "applies only to kinds 'bedrock' and 'vertex'",
    );
    one_error(
        "[[providers]]\nname = \"anthropic\"\napi_key = \"k\"\nproject = \"x\"\n",
        "providers[0].project",
        "applies only to kind 'vertex'",
    );
}

#[test]
fn unknown_fields_have_locations() {
    one_error(
        "[server]\nlisten_addr = \"x\"\n",
        "server.listen_addr",
        "unknown field 'listen_addr' (expected one of: listen, shards,",
    );
    one_error(
        "[[providers]]\nname = \"openai\"\napi_key = \"k\"\ntimeout = 5\n",
        "providers[0].timeout",
        "unknown field 'timeout'",
    );
    one_error(
        "[[providers]]\nname = \"openai\"\nkeys = [{ value = \"k\", wieght = 2 }]\n",
        "providers[0].keys[0].wieght",
        "unknown field",
    );
    one_error(
        "[logging]\nlevel = \"x\"\n",
        "logging",
        "unknown field 'logging'",
    );
    one_error(
        "[[providers]]\nname = \"x\"\nkind = \"vllm\"\nwhat = 1\n",
        "providers[0].what",
        "unknown field",
    );
    one_error(
        "[[providers]]\nname = \"x\"\nkind = \"vllm\"\n[[models]]\nname = \"m\"\ntargets = [\"x/y\"]\nweights = \"x\"\n",
        "models[0].weights",
        "unknown field 'weights' (expected one of: name, targets, fallbacks, strategy, max_latency_ms)",
    );
}

#[test]
fn server_errors() {
    one_error(
        "[server]\nshards = 1025\n",
        "server.shards",
        "must be between 0 and 1024, found 1025",
    );
    one_error(
        "[server]\nmax_request_bytes = 0\n",
        "server.max_request_bytes",
        "must be at least 1",
    );
    one_error(
        "[server]\nmax_header_bytes = 0\n",
        "server.max_header_bytes",
        "must be between 1 and 1048576, found 0",
    );
    one_error(
        "[server]\nmax_header_bytes = 1048577\n",
        "server.max_header_bytes",
        "must be between 1 and 1048576",
    );
    one_error(
        "[server]\nmax_headers = 0\n",
        "server.max_headers",
        "must be between 1 and 256, found 0",
    );
    one_error(
        "[server]\nmax_headers = 257\n",
        "server.max_headers",
        "must be between 1 and 256",
    );
    for t in [
        "header_read_timeout_ms",
        "body_read_timeout_ms",
        "idle_timeout_ms",
        "drain_timeout_ms",
    ] {
        one_error(
            &format!("[server]\n{t} = 0\n"),
            &format!("server.{t}"),
            "must be between 1 and 86400000",
        );
    }
    one_error(
        "[server]\nlisten = \"localhost:80\"\n",
        "server.listen",
        "is not IP:PORT",
    );
    one_error(
        "[server]\nshards = -1\n",
        "server.shards",
        "must not be negative",
    );
    one_error(
        "[server]\npin_cores = 1\n",
        "server.pin_cores",
        "expected true or false",
    );
    one_error(
        "[server]\nadmin_token = \"${EMPTY}\"\n",
        "server.admin_token",
        "is empty",
    );
    one_error(
        "[server]\nadmin_token = \"a b\"\n",
        "server.admin_token",
        "whitespace",
    );
    one_error("server = 3\n", "server", "expected a table");
    let mut s = ServerConfig {
        shards: 5000,
        ..ServerConfig::default()
    };
    assert_eq!(s.validate().len(), 1);
    s.shards = 8;
    assert!(s.validate().is_empty());
}

#[test]
fn provider_errors() {
    let p = |body: &str| format!("[[providers]]\n{body}\n");
    one_error(
        &p("kind = \"openai\"\napi_key = \"k\""),
        "providers[0]",
        "missing required field 'name'",
    );
    one_error(
        &p("name = \"Open AI\"\nkind = \"openai\"\napi_key = \"k\""),
        "providers[0].name",
        "not a valid provider name",
    );
    one_error(
        &p("name = \"x\"\napi_key = \"k\""),
        "providers[0]",
        "missing required field 'kind'",
    );
    one_error(
        &p("name = \"x\"\nkind = \"opena1\"\napi_key = \"k\""),
        "providers[0].kind",
        "unknown provider kind \"opena1\" (expected one of: openai, azure,",
    );
    one_error(
        &p("name = \"x\"\nkind = \"azure\"\napi_key = \"k\""),
        "providers[0]",
        "missing required field 'base_url' (kind 'azure' has no default)",
    );
    one_error(
        &p("name = \"x\"\nkind = \"openai-compatible\""),
        "providers[0]",
        "missing required field 'base_url'",
    );
    one_error(
        &p("name = \"openai\"\nbase_url = \"api.openai.com\"\napi_key = \"k\""),
        "providers[0].base_url",
        "invalid URL: must start with http:// or https://",
    );
    one_error(
        &p("name = \"openai\""),
        "providers[0].keys",
        "kind 'openai' needs at least one key",
    );
    one_error(
        &p("name = \"openai\"\nkeys = []"),
        "providers[0].keys",
        "needs at least one key",
    );
    one_error(
        &p("name = \"openai\"\nkeys = [\"\"]"),
        "providers[0].keys[0]",
        "is empty",
    );
    one_error(
        &p("name = \"openai\"\nkeys = [{ value = \"${EMPTY}\" }]"),
        "providers[0].keys[0].value",
        "is empty",
    );
    one_error(
        &p("name = \"openai\"\napi_key = \"\""),
        "providers[0].api_key",
        "is empty",
    );
    one_error(
        &p("name = \"openai\"\napi_key = \"k\\n\""),
        "providers[0].api_key",
        "control characters",
    );
    one_error(
        &p("name = \"openai\"\nkeys = [{ value = \"k\", weight = 0 }]"),
        "providers[0].keys[0].weight",
        "must be between 1 and 1000000, found 0",
    );
    one_error(
        &p("name = \"openai\"\nkeys = [{ weight = 2 }]"),
        "providers[0].keys[0]",
        "missing required field 'value'",
    );
    one_error(
        &p("name = \"openai\"\nkeys = [\"a\"]\napi_key = \"b\""),
        "providers[0].api_key",
        "not both",
    );
    one_error(
        &p("name = \"openai\"\nkeys = \"a\""),
        "providers[0].keys",
        "expected an array",
    );
    one_error(
        &p("name = \"openai\"\napi_key = \"k\"\ntimeout_ms = 0"),
        "providers[0].timeout_ms",
        "must be between 1",
    );
    one_error(
        &p("name = \"openai\"\napi_key = \"k\"\nconnect_timeout_ms = 0"),
        "providers[0].connect_timeout_ms",
        "must be between 1",
    );
    one_error(
        &p("name = \"openai\"\napi_key = \"k\"\npool_idle_timeout_ms = 0"),
        "providers[0].pool_idle_timeout_ms",
        "must be between 1",
    );
    one_error(
        &p("name = \"openai\"\napi_key = \"k\"\napi_version = \"2024-10-21\""),
        "providers[0].api_version",
        "applies only to kind 'azure'",
    );
    one_error(
        &p("name = \"openai\"\napi_key = \"k\"\nmodels = [\"a\", 1]"),
        "providers[0].models[1]",
        "expected a string",
    );
    one_error(
        &p("name = \"openai\"\napi_key = \"k\"\nheaders = { \"bad header\" = \"v\" }"),
        "providers[0].headers.\"bad header\"",
        "not a valid HTTP header name",
    );
    one_error(
        &p("name = \"openai\"\napi_key = \"k\"\nheaders = { x-a = \"v\\r\\nx-b: 1\" }"),
        "providers[0].headers.x-a",
        "CR, LF",
    );
    one_error(
        &p("name = \"openai\"\napi_key = \"k\"\nheaders = { Host = \"h\" }"),
        "providers[0].headers.Host",
        "managed by the gateway",
    );
    one_error(
        &p("name = \"openai\"\napi_key = \"k\"\nheaders = { X-A = \"1\", x-a = \"2\" }"),
        "providers[0].headers.x-a",
        "duplicate header",
    );
    one_error(
        &p("name = \"openai\"\napi_key = \"k\"\nheaders = { x-a = 1 }"),
        "providers[0].headers.x-a",
        "expected a string",
    );
    one_error(
        "providers = 3\n",
        "providers",
        "expected an array of tables ([[providers]])",
    );
    one_error("providers = [3]\n", "providers[0]", "expected a table");
}

#[test]
fn duplicates_and_alias_names() {
    let p = "[[providers]]\nname = \"openai\"\napi_key = \"k\"\n";
    one_error(
        &format!("{p}{p}"),
        "providers[1].name",
        "duplicate provider name 'openai' (also providers[0])",
    );
    let m = "[[models]]\nname = \"m\"\ntargets = [\"openai/x\"]\n";
    one_error(
        &format!("{p}{m}{m}"),
        "models[1].name",
        "duplicate alias name 'm' (also models[0])",
    );
    one_error(
        &format!("{p}[[models]]\nname = \"openai/x\"\ntargets = [\"openai/x\"]\n"),
        "models[0].name",
        "must not contain '/'",
    );
    one_error(
        &format!("{p}[[models]]\nname = \"\"\ntargets = [\"openai/x\"]\n"),
        "models[0].name",
        "must not be empty",
    );
    one_error(
        &format!("{p}[[models]]\ntargets = [\"openai/x\"]\n"),
        "models[0]",
        "missing required field 'name'",
    );
    one_error(
        &format!("{p}[[models]]\nname = \"m\"\n"),
        "models[0]",
        "missing required field 'targets'",
    );
}

#[test]
fn collects_all_errors() {
    let errs = errors(
        "[server]\nshards = 2000\nmax_request_bytes = 0\n[[providers]]\nname = \"openai\"\nkeys = [{ value = \"\", weight = 0 }]\n[[providers]]\nname = \"openai\"\nkind = \"anthropic\"\n[[models]]\nname = \"m\"\ntargets = [\"nope/x\"]\n[cache]\nmode = \"exact\"\n",
    );
    let locations: Vec<_> = errs.iter().filter_map(|e| e.split(": ").next()).collect();
    assert_eq!(
        locations,
        [
            "cache",
            "server.shards",
            "server.max_request_bytes",
            "providers[0].keys[0].value",
            "providers[0].keys[0].weight",
            "providers[1].keys",
            "providers[1].name",
            "models[0].targets[0]",
        ],
        "{errs:#?}"
    );
}

#[test]
fn syntax_errors_have_line_and_column() {
    let errs = errors("[server]\nshards = 4\nlisten = \n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("line 3, column "), "{errs:?}");
    let errs = errors("[server]\nshards = 1\nshards = 2\n");
    assert!(errs[0].starts_with("line 3, column 1: "), "{errs:?}");
}

#[test]
fn load_file_reports_io_errors() {
    let missing = std::path::Path::new("/nonexistent/shardgate.toml");
    let errs = Config::load_file(missing).err().unwrap_or_default();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].location, "/nonexistent/shardgate.toml");
    assert!(errs[0].message.starts_with("cannot read the config file"));
}

#[test]
fn config_error_display() {
    let e = ConfigError::new("providers[1].keys[0].value", "is empty");
    assert_eq!(e.to_string(), "providers[1].keys[0].value: is empty");
}

#[test]
fn errors_are_grouped_by_item() {
    let errs = errors(
        "[[providers]]\nname = \"openai\"\n[[providers]]\nname = \"groq\"\napi_key = \"${NOPE}\"\ntimeout_ms = 0\n[server]\nshards = \"${NOPE2}\"\n",
    );
    let locations: Vec<_> = errs.iter().filter_map(|e| e.split(": ").next()).collect();
    assert_eq!(
        locations,
        [
            "server.shards",
            "providers[0].keys",
            "providers[1].api_key",
            "providers[1].timeout_ms",
        ],
        "{errs:#?}"
    );
}
