//! Provider failures: unreachable, slow, erroring, cut mid-stream.

mod common;

use common::*;

#[test]
fn unreachable_provider_is_502_in_openai_format() {
    // A port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = gateway(&mock_config(dead, "shards = 1", ""));
    let mut c = Client::connect(gw.addr);
    let r = c.post_json("/v1/chat/completions", CHAT);
    assert_eq!(r.status, 502, "{}", r.text());
    let v = r.json();
    assert_eq!(v["error"]["code"], "upstream_connect_failed");
    assert!(v["error"]["message"].as_str().unwrap().contains("mock"));
    assert_eq!(r.header("x-shardgate-provider"), Some("mock"));
    // The connection survives an upstream failure.
    assert_eq!(c.request("GET", "/health", &[], b"").status, 200);
}

#[test]
fn slow_provider_is_504() {
    let mock = mock(&["--slow-ms", "3000"]);
    let gw = gateway(&mock_config(mock.addr, "shards = 1", "timeout_ms = 300"));
    let r = one_shot(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        r#"{"model":"mock/gpt-slow","messages":[]}"#,
    );
    assert_eq!(r.status, 504, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "upstream_timeout");
}

#[test]
fn provider_errors_pass_through_with_retry_after() {
    let mock = mock(&[]);
    let gw = gateway(&mock_config(mock.addr, "shards = 1", ""));
    let mut c = Client::connect(gw.addr);
    let r = c.post_json(
        "/v1/chat/completions",
        r#"{"model":"mock/gpt-fail429","messages":[]}"#,
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.json()["error"].is_object());
    // The provider's only key now rests for its retry-after: the gateway answers itself.
    let r = c.post_json("/v1/chat/completions", CHAT);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "no_usable_key");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = c.post_json(
        "/v1/chat/completions",
        r#"{"model":"mock/gpt-fail500","messages":[]}"#,
    );
    assert_eq!(r.status, 500);
    // Retried per the provider's policy (3 attempts by default) before giving up.
    assert_eq!(r.header("x-shardgate-attempts"), Some("3"));
    assert_eq!(c.post_json("/v1/chat/completions", CHAT).status, 200);
}

#[test]
fn provider_reset_before_answering_is_502() {
    let mock = mock(&[]);
    let gw = gateway(&mock_config(mock.addr, "shards = 1", ""));
    let r = one_shot(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        r#"{"model":"mock/gpt-reset","messages":[]}"#,
    );
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "upstream_protocol_error");
}

#[test]
fn stream_cut_mid_way_ends_with_an_error_event() {
    let mock = mock(&["--stream-chunks", "6"]);
    let gw = gateway(&mock_config(mock.addr, "shards = 1", ""));
    let mut c = Client::connect(gw.addr);
    let r = c.post_json(
        "/v1/chat/completions",
        r#"{"model":"mock/gpt-cut","stream":true,"messages":[]}"#,
    );
    assert_eq!(r.status, 200);
    assert!(r.chunked);
    let text = r.text();
    assert!(text.contains("chat.completion.chunk"), "{text}");
    assert!(!text.contains("[DONE]"));
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    let data = last
        .strip_prefix("data: ")
        .expect("last event is a data event");
    let v: serde_json::Value = serde_json::from_str(data).expect("error event is JSON");
    assert_eq!(v["error"]["code"], "stream_interrupted");
    // Every event before it is complete.
    for event in text.trim_end().split("\n\n") {
        let payload = event.strip_prefix("data: ").unwrap();
        serde_json::from_str::<serde_json::Value>(payload).expect("complete event");
    }
    // The stream ended well-formed, so the connection goes on.
    assert_eq!(c.post_json("/v1/chat/completions", CHAT).status, 200);
}
