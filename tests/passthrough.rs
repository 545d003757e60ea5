//! OpenAI-format passthrough through the real binary against the mock provider.

mod common;

use common::*;

fn setup(server: &str, extra: &str) -> (Proc, Proc) {
    let mock = mock(&[]);
    let gw = gateway(&mock_config(mock.addr, server, extra));
    (mock, gw)
}

#[test]
fn chat_non_streaming_is_forwarded_with_provider_key_and_stripped_model() {
    let (mock, gw) = setup("shards = 1", "");
    let mut c = Client::connect(gw.addr);
    let r = c.request(
        "POST",
        "/v1/chat/completions",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer caller-secret"),
            ("x-api-key", "caller-secret-2"),
            ("openai-beta", "assistants=v2"),
            ("x-request-id", "req-abc-123"),
            ("connection", "keep-alive, x-hop-only"),
            ("x-hop-only", "1"),
        ],
        CHAT.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o-mini");
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("gpt-4o-mini"));
    assert_eq!(r.header("x-shardgate-provider"), Some("mock"));
    assert_eq!(r.header("x-shardgate-model"), Some("gpt-4o-mini"));
    assert_eq!(r.header("x-shardgate-attempts"), Some("1"));
    assert_eq!(r.header("x-shardgate-cache"), Some("off"));
    assert_eq!(r.header("x-request-id"), Some("req-abc-123"));

    let (reqs, _) = mock_requests(mock.addr);
    assert_eq!(reqs.len(), 1);
    let up = &reqs[0];
    assert_eq!(up["path"], "/v1/chat/completions");
    assert_eq!(
        recorded_header(up, "authorization").as_deref(),
        Some("Bearer sk-provider")
    );
    assert_eq!(
        recorded_header(up, "x-api-key"),
        None,
        "caller credentials must not be forwarded"
    );
    assert_eq!(
        recorded_header(up, "openai-beta").as_deref(),
        Some("assistants=v2")
    );
    assert_eq!(
        recorded_header(up, "x-request-id").as_deref(),
        Some("req-abc-123")
    );
    let body = up["body"].as_str().unwrap();
    // Only the model value changed: the rest of the bytes are the caller's.
    assert_eq!(body, CHAT.replace("mock/gpt-4o-mini", "gpt-4o-mini"));
    assert_eq!(
        recorded_header(up, "content-length").as_deref(),
        Some(body.len().to_string().as_str())
    );
}

#[test]
fn bare_listed_model_and_openai_prefix_route() {
    let (mock, gw) = setup("shards = 1", "");
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}"#;
    let r = one_shot(gw.addr, "POST", "/openai/v1/chat/completions", body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-shardgate-provider"), Some("mock"));
    let (reqs, _) = mock_requests(mock.addr);
    // Unchanged model: the body is forwarded byte for byte.
    assert_eq!(reqs[0]["body"].as_str().unwrap(), body);
}

#[test]
fn streaming_is_relayed_event_by_event() {
    let mock = mock(&["--stream-chunks", "5", "--chunk-delay-ms", "30"]);
    let gw = gateway(&mock_config(mock.addr, "shards = 1", ""));
    let mut c = Client::connect(gw.addr);
    let body =
        r#"{"model":"mock/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    c.send_raw(&build_request(
        "POST",
        "/v1/chat/completions",
        &[],
        body.as_bytes(),
    ));
    // The head and the first event must arrive long before the last (5 chunks × 30 ms apart).
    let start = std::time::Instant::now();
    let mut first = [0u8; 1];
    use std::io::Read;
    c.stream.read_exact(&mut first).unwrap();
    let ttfb = start.elapsed();
    let mut rest = Vec::new();
    c.stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 8192];
    let mut last_event_at = None;
    while find(&rest, b"0\r\n\r\n").is_none() {
        let n = c.stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "stream ended early: {}",
            String::from_utf8_lossy(&rest)
        );
        rest.extend_from_slice(&buf[..n]);
        last_event_at = Some(start.elapsed());
    }
    let text = String::from_utf8_lossy(&rest);
    assert!(text.contains("transfer-encoding: chunked"));
    assert!(text.contains("text/event-stream"));
    assert!(text.contains("x-shardgate-provider: mock"));
    assert!(text.contains("chat.completion.chunk"));
    assert!(text.contains("data: [DONE]"));
    let last = last_event_at.unwrap();
    assert!(
        last > ttfb + std::time::Duration::from_millis(100),
        "events were buffered: first byte at {ttfb:?}, end at {last:?}"
    );
}

#[test]
fn embeddings_completions_responses_and_models() {
    let (_mock, gw) = setup("shards = 1", "");
    let mut c = Client::connect(gw.addr);
    let r = c.post_json(
        "/v1/embeddings",
        r#"{"model":"mock/text-embedding-3-small","input":["a","b"]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 2);
    let r = c.post_json(
        "/v1/completions",
        r#"{"model":"mock/gpt-3.5-turbo-instruct","prompt":"x"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["object"], "text_completion");
    let r = c.post_json(
        "/v1/responses",
        r#"{"model":"mock/gpt-4o-mini","input":"x"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["object"], "response");
    let r = c.request("GET", "/v1/models", &[], b"");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["mock/gpt-4o-mini"]);
}

#[test]
fn upstream_connections_are_reused() {
    let (mock, gw) = setup("shards = 1", "");
    mock_reset(mock.addr);
    for _ in 0..3 {
        let mut c = Client::connect(gw.addr);
        for _ in 0..10 {
            let r = c.post_json("/v1/chat/completions", CHAT);
            assert_eq!(r.status, 200);
        }
    }
    let (reqs, connections) = mock_requests(mock.addr);
    assert_eq!(reqs.len(), 30);
    // The inspection request itself is one more connection.
    assert_eq!(
        connections, 2,
        "30 sequential requests on one shard should share one upstream connection"
    );
}

#[test]
fn aliases_and_weighted_keys() {
    let mock = mock(&[]);
    let config = format!(
        "[server]\nshards = 1\n\n[[providers]]\nname = \"mock\"\nkind = \"openai-compatible\"\nbase_url = \"http://{}/v1\"\nkeys = [{{ value = \"key-a\", weight = 3 }}, {{ value = \"key-b\", weight = 1 }}, {{ value = \"key-c\", models = [\"special\"] }}]\n\n[[models]]\nname = \"smart\"\ntargets = [\"mock/real-model\"]\n",
        mock.addr
    );
    let gw = gateway(&config);
    let mut c = Client::connect(gw.addr);
    for _ in 0..200 {
        let r = c.post_json("/v1/chat/completions", r#"{"model":"smart","messages":[]}"#);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-shardgate-model"), Some("real-model"));
    }
    let (reqs, _) = mock_requests(mock.addr);
    let count = |k: &str| {
        reqs.iter()
            .filter(|r| {
                recorded_header(r, "authorization").as_deref() == Some(&format!("Bearer {k}"))
            })
            .count()
    };
    assert_eq!(
        count("key-c"),
        0,
        "a key restricted to other models must not be used"
    );
    let a = count("key-a");
    assert!(
        (120..=180).contains(&a),
        "key-a (weight 3 of 4) served {a} of 200"
    );
    assert_eq!(a + count("key-b"), 200);
    assert!(reqs.iter().all(|r| r["body"]
        .as_str()
        .unwrap()
        .contains("\"model\":\"real-model\"")));
}

#[test]
fn azure_deployment_urls_and_api_key_header() {
    let mock = mock(&[]);
    let config = format!(
        "[server]\nshards = 1\n\n[[providers]]\nname = \"az\"\nkind = \"azure\"\nbase_url = \"http://{}\"\napi_key = \"az-key\"\napi_version = \"2024-10-21\"\n",
        mock.addr
    );
    let gw = gateway(&config);
    let r = one_shot(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        r#"{"model":"az/my-deploy","messages":[]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let (reqs, _) = mock_requests(mock.addr);
    assert_eq!(
        reqs[0]["path"],
        "/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(
        recorded_header(&reqs[0], "api-key").as_deref(),
        Some("az-key")
    );
    assert_eq!(recorded_header(&reqs[0], "authorization"), None);
}

#[test]
fn metrics_count_requests_and_expose_histograms() {
    let (_mock, gw) = setup("shards = 2", "");
    for _ in 0..6 {
        assert_eq!(
            one_shot(gw.addr, "POST", "/v1/chat/completions", CHAT).status,
            200
        );
    }
    assert_eq!(
        one_shot(gw.addr, "POST", "/v1/chat/completions", "{").status,
        400
    );
    let m = one_shot(gw.addr, "GET", "/metrics", "");
    assert_eq!(m.status, 200);
    let text = m.text();
    // Six requests spread over two shards: the scrape must sum both shards.
    assert!(
        text.contains(r#"shardgate_requests_total{route="chat_completions",provider="mock",model="gpt-4o-mini",status="200"} 6"#),
        "{text}"
    );
    assert!(text.contains(
        r#"shardgate_requests_total{route="chat_completions",provider="",model="",status="400"} 1"#
    ));
    assert!(text.contains("shardgate_overhead_seconds_count 6"));
    assert!(text.contains("shardgate_upstream_duration_seconds_count 6"));
    assert!(text.contains("shardgate_request_duration_seconds_bucket{le=\"+Inf\"}"));
}
