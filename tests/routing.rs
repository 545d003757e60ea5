//! Routing and resilience through the real binary against the mock's fault injection: key
//! rotation and cooldown, retries, fallbacks across providers and formats, timeouts, circuit
//! breakers, strategies. Deterministic: the gateway's randomness is seeded, the mock's faults are
//! chosen by model or key name, and nothing asserts on wall-clock speed.

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::{json, Value};

/// A gateway in front of one mock with an OpenAI-format provider `oa` (keys given), an
/// Anthropic provider `an`, plus `extra` TOML.
fn setup(oa_keys: &str, extra: &str, mock_args: &[&str]) -> (Proc, Proc) {
    setup_with(oa_keys, "", extra, mock_args)
}

/// `setup` with extra lines for provider `oa`.
fn setup_with(oa_keys: &str, oa_extra: &str, extra: &str, mock_args: &[&str]) -> (Proc, Proc) {
    let mock = mock(mock_args);
    let config = format!(
        r#"[server]
shards = 1

[[providers]]
name = "oa"
kind = "openai"
base_url = "http://{m}/v1"
keys = {oa_keys}
retry = {{ max_attempts = 3, backoff_ms = 1, max_backoff_ms = 5, cooldown_ms = 60000 }}
{oa_extra}

[[providers]]
name = "an"
kind = "anthropic"
base_url = "http://{m}/v1"
api_key = "sk-ant"
retry = {{ max_attempts = 2, backoff_ms = 1, max_backoff_ms = 5 }}
{extra}
"#,
        m = mock.addr
    );
    let gw = gateway(&config);
    (mock, gw)
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

fn post(c: &mut Client, path: &str, headers: &[(&str, &str)], body: &Value) -> Response {
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    c.request("POST", path, &h, body.to_string().as_bytes())
}

fn recorded_keys(mock: &Proc) -> Vec<String> {
    let (reqs, _) = mock_requests(mock.addr);
    reqs.iter()
        .map(|r| {
            recorded_header(r, "authorization")
                .or_else(|| recorded_header(r, "x-api-key"))
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn a_429_key_cools_down_and_another_key_answers() {
    // The failing key is drawn first almost always (weight), then must rest for retry-after (1 s).
    let (mock, gw) = setup(
        r#"[{ value = "sk-fail429-a", weight = 1000000 }, { value = "sk-good", weight = 1 }]"#,
        "",
        &[],
    );
    let mut c = Client::connect(gw.addr);
    let r = post(&mut c, "/v1/chat/completions", &[], &chat("oa/gpt-4o-mini"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-shardgate-attempts"), Some("2"));
    assert_eq!(
        recorded_keys(&mock),
        ["Bearer sk-fail429-a", "Bearer sk-good"]
    );
    // Cooling down: the next requests go straight to the good key.
    mock_reset(mock.addr);
    for _ in 0..5 {
        let r = post(&mut c, "/v1/chat/completions", &[], &chat("oa/gpt-4o-mini"));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-shardgate-attempts"), Some("1"));
    }
    assert!(recorded_keys(&mock).iter().all(|k| k == "Bearer sk-good"));
    // After the mock's retry-after (1 s) the heavy key is drawn again (and fails again).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    mock_reset(mock.addr);
    let r = post(&mut c, "/v1/chat/completions", &[], &chat("oa/gpt-4o-mini"));
    assert_eq!(r.status, 200);
    assert_eq!(
        recorded_keys(&mock).first().map(String::as_str),
        Some("Bearer sk-fail429-a")
    );
}

#[test]
fn two_500s_then_success_is_retried_to_success() {
    let (mock, gw) = setup(r#"["sk-1"]"#, "", &[]);
    let mut c = Client::connect(gw.addr);
    let r = post(&mut c, "/v1/chat/completions", &[], &chat("oa/gpt-flaky2"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-shardgate-attempts"), Some("3"));
    assert_eq!(mock_requests(mock.addr).0.len(), 3);
    let metrics = Client::connect(gw.addr)
        .request("GET", "/metrics", &[], b"")
        .text();
    assert!(metrics.contains("shardgate_retries_total 2"), "{metrics}");
}

#[test]
fn a_reset_falls_back_to_the_next_target_across_formats() {
    let alias = r#"
[[models]]
name = "smart"
targets = ["oa/gpt-reset"]
fallbacks = ["an/claude-sonnet-4-5"]
"#;
    let (mock, gw) = setup(r#"["sk-1"]"#, alias, &[]);
    let mut c = Client::connect(gw.addr);
    let r = post(&mut c, "/v1/chat/completions", &[], &chat("smart"));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("claude-sonnet-4-5"));
    assert_eq!(r.header("x-shardgate-provider"), Some("an"));
    assert_eq!(r.header("x-shardgate-model"), Some("claude-sonnet-4-5"));
    // Three attempts on the resetting target (the retry policy), then the fallback.
    assert_eq!(r.header("x-shardgate-attempts"), Some("4"));
    let (reqs, _) = mock_requests(mock.addr);
    assert_eq!(reqs.last().unwrap()["path"], "/v1/messages");
    let metrics = Client::connect(gw.addr)
        .request("GET", "/metrics", &[], b"")
        .text();
    assert!(metrics.contains("shardgate_fallbacks_total 1"), "{metrics}");
}

#[test]
fn request_fallbacks_from_the_body_and_the_header() {
    let (mock, gw) = setup(r#"["sk-1"]"#, "", &[]);
    let mut c = Client::connect(gw.addr);
    let mut body = chat("oa/gpt-fail503");
    body["fallbacks"] = json!(["oa/gpt-4o-mini"]);
    let r = post(&mut c, "/v1/chat/completions", &[], &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-shardgate-model"), Some("gpt-4o-mini"));
    // The gateway's field never reaches a provider.
    let (reqs, _) = mock_requests(mock.addr);
    for req in &reqs {
        let b: Value = serde_json::from_str(req["body"].as_str().unwrap()).unwrap();
        assert!(b.get("fallbacks").is_none(), "{b}");
    }
    // The header works on every route, here the Anthropic one.
    let r = post(
        &mut c,
        "/anthropic/v1/messages",
        &[("x-shardgate-fallbacks", "oa/gpt-fail500, oa/gpt-4o-mini")],
        &json!({"model": "an/claude-fail429", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Answered by an OpenAI-format provider, in the Anthropic format the caller speaks.
    assert_eq!(r.json()["type"], "message");
    assert_eq!(r.header("x-shardgate-provider"), Some("oa"));
    assert_eq!(r.header("x-shardgate-model"), Some("gpt-4o-mini"));
}

#[test]
fn when_everything_fails_the_caller_gets_the_primary_error_in_its_format() {
    let alias = r#"
[[models]]
name = "doomed"
targets = ["oa/gpt-fail429"]
fallbacks = ["an/claude-fail500"]

[[models]]
name = "doomed-too"
targets = ["an/claude-fail503"]
fallbacks = ["oa/gpt-fail500"]
"#;
    let (_mock, gw) = setup(r#"["sk-1"]"#, alias, &[]);
    let mut c = Client::connect(gw.addr);
    let r = post(&mut c, "/v1/chat/completions", &[], &chat("doomed"));
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"));
    let v = r.json();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("429"),
        "{v}"
    );
    let r = post(
        &mut c,
        "/anthropic/v1/messages",
        &[],
        &json!({"model": "doomed-too", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    let v = r.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "overloaded_error");
    // While the primary's only key rests after its 429, the gateway says so itself.
    let r = post(&mut c, "/v1/chat/completions", &[], &chat("doomed"));
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "no_usable_key");
    assert_eq!(r.header("retry-after"), Some("1"));
    // Caller errors are not retried: one attempt, answered at once, in the caller's format.
    let r = post(
        &mut c,
        "/v1/chat/completions",
        &[],
        &chat("an/claude-fail400"),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("x-shardgate-attempts"), Some("1"));
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
}

#[test]
fn a_slow_first_byte_times_out_and_falls_back() {
    let alias = r#"
[[models]]
name = "quick"
targets = ["oa/gpt-slow"]
fallbacks = ["an/claude-haiku-4-5"]
"#;
    let (_mock, gw) = setup_with(
        r#"["sk-1"]"#,
        "first_byte_timeout_ms = 300",
        alias,
        &["--slow-ms", "3000"],
    );
    let mut c = Client::connect(gw.addr);
    let r = post(&mut c, "/v1/chat/completions", &[], &chat("quick"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-shardgate-provider"), Some("an"));
    // A timeout is not retried on the same target (the provider may still be working on it).
    assert_eq!(r.header("x-shardgate-attempts"), Some("2"));
    // The per-request deadline bounds the whole request: nothing answers within 200 ms here.
    let r = post(
        &mut c,
        "/v1/chat/completions",
        &[("x-shardgate-timeout-ms", "200")],
        &chat("oa/gpt-slow"),
    );
    assert_eq!(r.status, 504, "{}", r.text());
}

#[test]
fn weighted_targets_split_within_tolerance() {
    let alias = r#"
[[models]]
name = "split"
targets = [{ model = "oa/gpt-a", weight = 3 }, { model = "oa/gpt-b", weight = 1 }]
"#;
    let (_mock, gw) = setup(r#"["sk-1"]"#, alias, &["--no-record"]);
    let mut c = Client::connect(gw.addr);
    let mut counts: HashMap<String, u32> = HashMap::new();
    for _ in 0..10_000 {
        let r = post(&mut c, "/v1/chat/completions", &[], &chat("split"));
        assert_eq!(r.status, 200);
        *counts
            .entry(r.header("x-shardgate-model").unwrap().to_string())
            .or_default() += 1;
    }
    let a = f64::from(counts["gpt-a"]) / 10_000.0;
    assert!((a - 0.75).abs() < 0.02, "share of gpt-a: {a} ({counts:?})");
}

#[test]
fn a_failing_target_opens_its_circuit_and_recovers() {
    let alias = r#"
[[models]]
name = "guarded"
targets = ["oa/gpt-flaky6"]
fallbacks = ["an/claude-haiku-4-5"]

[routing]
failure_threshold = 3
open_ms = 300
max_open_ms = 300
"#;
    let (mock, gw) = setup(r#"["sk-1"]"#, alias, &[]);
    let mut c = Client::connect(gw.addr);
    // 3 failed attempts open the circuit; the request is served by the fallback.
    let r = post(&mut c, "/v1/chat/completions", &[], &chat("guarded"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-shardgate-provider"), Some("an"));
    let health = Client::connect(gw.addr)
        .request("GET", "/metrics", &[], b"")
        .text();
    assert!(
        health.contains(r#"shardgate_target_health{provider="oa",model="gpt-flaky6"} 0"#),
        "{health}"
    );
    // While open, the target is not even tried.
    mock_reset(mock.addr);
    let r = post(&mut c, "/v1/chat/completions", &[], &chat("guarded"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-shardgate-attempts"), Some("1"));
    let (reqs, _) = mock_requests(mock.addr);
    assert!(reqs.iter().all(|q| q["path"] == "/v1/messages"), "{reqs:?}");
    // After open_ms a probe goes through; the mock's flaky6 model still fails 3 more times, so
    // keep asking until it recovers (the circuit closes on the first success).
    let mut recovered = false;
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(350));
        let r = post(&mut c, "/v1/chat/completions", &[], &chat("guarded"));
        assert_eq!(r.status, 200);
        if r.header("x-shardgate-provider") == Some("oa") {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "the circuit never closed again");
    let health = Client::connect(gw.addr)
        .request("GET", "/metrics", &[], b"")
        .text();
    assert!(
        health.contains(r#"shardgate_target_health{provider="oa",model="gpt-flaky6"} 1"#),
        "{health}"
    );
}

#[test]
fn latency_aware_prefers_the_faster_target() {
    let alias = r#"
[[models]]
name = "fast"
strategy = "latency"
targets = ["oa/gpt-slow", "an/claude-haiku-4-5"]
"#;
    let (_mock, gw) = setup(r#"["sk-1"]"#, alias, &["--slow-ms", "100"]);
    let mut c = Client::connect(gw.addr);
    let mut slow = 0;
    for _ in 0..60 {
        let r = post(&mut c, "/v1/chat/completions", &[], &chat("fast"));
        assert_eq!(r.status, 200);
        if r.header("x-shardgate-provider") == Some("oa") {
            slow += 1;
        }
    }
    // Both get tried while their latency is unknown; then the fast one wins nearly always.
    assert!(slow <= 10, "the slow target served {slow} of 60");
}

#[test]
fn a_refused_key_is_disabled() {
    let (mock, gw) = setup(
        r#"[{ value = "sk-fail401-x", weight = 1000000 }, "sk-ok"]"#,
        "",
        &[],
    );
    let mut c = Client::connect(gw.addr);
    let r = post(&mut c, "/v1/chat/completions", &[], &chat("oa/gpt-4o-mini"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-shardgate-attempts"), Some("2"));
    assert_eq!(
        recorded_keys(&mock),
        ["Bearer sk-fail401-x", "Bearer sk-ok"]
    );
    mock_reset(mock.addr);
    for _ in 0..5 {
        let r = post(&mut c, "/v1/chat/completions", &[], &chat("oa/gpt-4o-mini"));
        assert_eq!(r.header("x-shardgate-attempts"), Some("1"));
    }
    assert!(recorded_keys(&mock).iter().all(|k| k == "Bearer sk-ok"));
}

#[test]
fn routing_rules_send_matching_requests_elsewhere() {
    let rules = r#"
[[routes]]
name = "research-team"
[routes.match]
headers = { "x-team" = "research" }
[routes.to]
model = "an/claude-sonnet-4-5"

[[routes]]
name = "tools"
[routes.match]
model = "oa/*"
has_tools = true
[routes.to]
targets = ["an/claude-haiku-4-5"]
"#;
    let (_mock, gw) = setup(r#"["sk-1"]"#, rules, &[]);
    let mut c = Client::connect(gw.addr);
    let r = post(
        &mut c,
        "/v1/chat/completions",
        &[("x-team", "research")],
        &chat("oa/gpt-4o-mini"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-shardgate-model"), Some("claude-sonnet-4-5"));
    let r = post(
        &mut c,
        "/v1/chat/completions",
        &[("x-team", "sales")],
        &chat("oa/gpt-4o-mini"),
    );
    assert_eq!(r.header("x-shardgate-model"), Some("gpt-4o-mini"));
    let mut with_tools = chat("oa/gpt-4o-mini");
    with_tools["tools"] =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    let r = post(&mut c, "/v1/chat/completions", &[], &with_tools);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-shardgate-model"), Some("claude-haiku-4-5"));
    // A message that merely mentions "tools" is not a request with tools.
    let r = post(
        &mut c,
        "/v1/chat/completions",
        &[],
        &json!({"model": "oa/gpt-4o-mini", "messages": [{"role": "user", "content": "\"tools\":[1]"}]}),
    );
    assert_eq!(r.header("x-shardgate-model"), Some("gpt-4o-mini"));
}

#[test]
fn a_provider_total_timeout_bounds_each_attempt() {
    let (_mock, gw) = setup_with(
        r#"["sk-1"]"#,
        "total_timeout_ms = 300",
        "",
        &["--slow-ms", "3000"],
    );
    let mut c = Client::connect(gw.addr);
    let r = post(&mut c, "/v1/chat/completions", &[], &chat("oa/gpt-slow"));
    assert_eq!(r.status, 504, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "upstream_timeout");
    // The connection stays usable after the gateway's own error.
    let r = post(&mut c, "/v1/chat/completions", &[], &chat("oa/gpt-4o-mini"));
    assert_eq!(r.status, 200);
}
