//! The caller-facing HTTP/1.1 server: framing, pipelining, limits, timeouts, bad input.

mod common;

use std::io::Read;
use std::time::Duration;

use common::*;

const LIMITS: &str = "shards = 1\nmax_request_bytes = 4096\nmax_header_bytes = 2048\nmax_headers = 16\nheader_read_timeout_ms = 400\nbody_read_timeout_ms = 400\nidle_timeout_ms = 600";

fn setup() -> (Proc, Proc) {
    let mock = mock(&[]);
    let gw = gateway(&mock_config(mock.addr, LIMITS, ""));
    (mock, gw)
}

#[test]
fn chunked_request_body_is_decoded() {
    let (mock, gw) = setup();
    let mut c = Client::connect(gw.addr);
    let body = CHAT.as_bytes();
    let (a, b) = body.split_at(10);
    let mut raw =
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    raw.extend_from_slice(format!("{:x}\r\n", a.len()).as_bytes());
    raw.extend_from_slice(a);
    raw.extend_from_slice(format!("\r\n{:x};ext=1\r\n", b.len()).as_bytes());
    raw.extend_from_slice(b);
    raw.extend_from_slice(b"\r\n0\r\n\r\n");
    c.send_raw(&raw);
    let r = c.read_response();
    assert_eq!(r.status, 200, "{}", r.text());
    let (reqs, _) = mock_requests(mock.addr);
    let up = &reqs[0];
    assert_eq!(up["body"].as_str().unwrap(), CHAT.replace("mock/", ""));
    assert_eq!(recorded_header(up, "transfer-encoding"), None);
    // The connection is still usable.
    assert_eq!(c.post_json("/v1/chat/completions", CHAT).status, 200);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (_mock, gw) = setup();
    let mut c = Client::connect(gw.addr);
    let mut raw = Vec::new();
    raw.extend(build_request("GET", "/health", &[], b""));
    raw.extend(build_request(
        "POST",
        "/v1/chat/completions",
        &[("x-request-id", "first")],
        CHAT.as_bytes(),
    ));
    raw.extend(build_request(
        "POST",
        "/v1/embeddings",
        &[("x-request-id", "second")],
        br#"{"model":"mock/e","input":"x"}"#,
    ));
    raw.extend(build_request("GET", "/nope", &[], b""));
    c.send_raw(&raw);
    let r1 = c.read_response();
    assert_eq!(r1.json()["status"], "ok");
    let r2 = c.read_response();
    assert_eq!(r2.header("x-request-id"), Some("first"));
    assert_eq!(r2.json()["object"], "chat.completion");
    let r3 = c.read_response();
    assert_eq!(r3.header("x-request-id"), Some("second"));
    assert_eq!(r3.json()["object"], "list");
    let r4 = c.read_response();
    assert_eq!(r4.status, 404);
    assert_eq!(r4.json()["error"]["code"], "route_not_found");
}

#[test]
fn expect_continue_gets_100_before_the_body() {
    let (_mock, gw) = setup();
    let mut c = Client::connect(gw.addr);
    c.send_raw(
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: {}\r\n\r\n",
            CHAT.len()
        )
        .as_bytes(),
    );
    let mut buf = [0u8; 25];
    c.stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.send_raw(CHAT.as_bytes());
    assert_eq!(c.read_response().status, 200);
}

#[test]
fn oversized_body_is_413_and_closes() {
    let (mock, gw) = setup();
    let mut c = Client::connect(gw.addr);
    // Declared too large: refused before reading it (with or without 100-continue).
    c.send_raw(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 5000\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["code"], "payload_too_large");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.is_closed());
    // Chunked bodies are counted as they are decoded.
    let mut c = Client::connect(gw.addr);
    let mut raw =
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    for _ in 0..5 {
        raw.extend_from_slice(b"400\r\n");
        raw.extend(std::iter::repeat_n(b' ', 1024));
        raw.extend_from_slice(b"\r\n");
    }
    c.send_raw(&raw);
    assert_eq!(c.read_response().status, 413);
    let (reqs, _) = mock_requests(mock.addr);
    assert!(reqs.is_empty());
}

#[test]
fn header_limits_are_431() {
    let (_mock, gw) = setup();
    let mut c = Client::connect(gw.addr);
    let big = "a".repeat(3000);
    c.send_raw(format!("GET /health HTTP/1.1\r\nx-big: {big}\r\n\r\n").as_bytes());
    let r = c.read_response();
    assert_eq!(r.status, 431);
    assert_eq!(r.json()["error"]["code"], "headers_too_large");
    assert!(c.is_closed());

    let mut c = Client::connect(gw.addr);
    let mut raw = String::from("GET /health HTTP/1.1\r\n");
    for i in 0..20 {
        raw.push_str(&format!("x-h{i}: v\r\n"));
    }
    raw.push_str("\r\n");
    c.send_raw(raw.as_bytes());
    assert_eq!(c.read_response().status, 431);
}

#[test]
fn malformed_http_is_400_and_the_shard_keeps_serving() {
    let (_mock, gw) = setup();
    for garbage in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: abc\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        // Smuggling shapes: no Host, two Hosts, chunked twice, chunked in HTTP/1.0, empty coding
        // next to a length.
        b"POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}",
        b"GET /health HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
    ] {
        let mut c = Client::connect(gw.addr);
        c.send_raw(garbage);
        let r = c.read_response();
        assert_eq!(r.status, 400, "for {:?}: {}", String::from_utf8_lossy(garbage), r.text());
        assert_eq!(r.json()["error"]["type"], "invalid_request_error");
        assert!(c.is_closed(), "a framing error must close the connection");
    }
    let mut c = Client::connect(gw.addr);
    c.send_raw(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip\r\n\r\n");
    assert_eq!(c.read_response().status, 501);
    let mut c = Client::connect(gw.addr);
    c.send_raw(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: \r\ncontent-length: 2\r\n\r\n{}");
    assert_ne!(
        c.read_response().status,
        200,
        "an empty coding next to a length must be refused"
    );
    // One shard, and it still serves.
    assert_eq!(
        one_shot(gw.addr, "POST", "/v1/chat/completions", CHAT).status,
        200
    );
}

#[test]
fn bad_json_and_models_are_errors_on_a_kept_connection() {
    let (mock, gw) = setup();
    let mut c = Client::connect(gw.addr);
    let cases: &[(&str, u16, &str)] = &[
        ("{\"model\":\"mock/x\",", 400, "invalid_json"),
        ("[1,2]", 400, "invalid_json"),
        ("", 400, "invalid_json"),
        ("{\"messages\":[]}", 400, "missing_model"),
        ("{\"model\":42}", 400, "invalid_field"),
        ("{\"model\":\"a\",\"model\":\"b\"}", 400, "invalid_field"),
        ("{\"model\":\"x\",\"stream\":\"yes\"}", 400, "invalid_field"),
        ("{\"model\":\"nosuch/gpt\"}", 404, "model_not_found"),
        ("{\"model\":\"some-unknown-model\"}", 404, "model_not_found"),
        ("{\"model\":\"mock/\"}", 404, "model_not_found"),
        // The name reaches response headers: CR/LF must never get through (header injection).
        (
            "{\"model\":\"mock/x\\r\\nX-Evil: 1\"}",
            400,
            "invalid_field",
        ),
        ("{\"model\":\"mock/a b\"}", 400, "invalid_field"),
    ];
    for (body, status, code) in cases {
        let r = c.post_json("/v1/chat/completions", body);
        assert_eq!(r.status, *status, "{body}: {}", r.text());
        let v = r.json();
        assert_eq!(v["error"]["code"], *code, "{body}");
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert!(r.header("x-request-id").is_some());
    }
    let r = c.request("GET", "/v1/chat/completions", &[], b"");
    assert_eq!(r.status, 405);
    let (reqs, _) = mock_requests(mock.addr);
    assert!(reqs.is_empty(), "nothing invalid may reach the provider");
}

#[test]
fn idle_and_head_timeouts_close_connections() {
    let (_mock, gw) = setup();
    // Idle keep-alive connection: closed after idle_timeout_ms (600 ms).
    let mut c = Client::connect(gw.addr);
    assert_eq!(c.request("GET", "/health", &[], b"").status, 200);
    let start = std::time::Instant::now();
    assert!(c.is_closed());
    assert!(start.elapsed() >= Duration::from_millis(400));
    // A head that never completes: 408 after header_read_timeout_ms.
    let mut c = Client::connect(gw.addr);
    c.send_raw(b"GET /health HTTP/1.1\r\nx-slow: ");
    let r = c.read_response();
    assert_eq!(r.status, 408);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("timed out"));
    // A body that never completes.
    let mut c = Client::connect(gw.addr);
    c.send_raw(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"model\":",
    );
    let r = c.read_response();
    assert_eq!(r.status, 408);
    assert!(r.text().contains("timed out reading the request body"));
}

#[test]
fn health_and_ready() {
    let (_mock, gw) = setup();
    let r = one_shot(gw.addr, "GET", "/health", "");
    assert_eq!(r.status, 200);
    let r = one_shot(gw.addr, "GET", "/ready", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ready");
}

#[test]
fn requests_arriving_in_small_pieces_are_reassembled() {
    let (mock, gw) = setup();
    let mut c = Client::connect(gw.addr);
    for round in 0..3 {
        let raw = build_request(
            "POST",
            "/v1/chat/completions",
            &[("x-round", &round.to_string())],
            CHAT.as_bytes(),
        );
        for piece in raw.chunks(7) {
            c.send_raw(piece);
            std::thread::sleep(Duration::from_millis(2));
        }
        let r = c.read_response();
        assert_eq!(r.status, 200, "round {round}: {}", r.text());
    }
    let (reqs, _) = mock_requests(mock.addr);
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_eq!(r["body"].as_str().unwrap(), CHAT.replace("mock/", ""));
    }
}

#[test]
fn large_bodies_on_a_kept_connection() {
    let mock = mock(&[]);
    let gw = gateway(&mock_config(mock.addr, "shards = 1", ""));
    let mut c = Client::connect(gw.addr);
    let prompt = "lorem ipsum ".repeat(2000);
    let body = format!(
        r#"{{"model":"mock/gpt-4o-mini","messages":[{{"role":"user","content":"{prompt}"}}]}}"#
    );
    for _ in 0..20 {
        let r = c.post_json("/v1/chat/completions", &body);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let (reqs, _) = mock_requests(mock.addr);
    assert_eq!(reqs.len(), 20);
    assert!(reqs
        .iter()
        .all(|r| r["body"].as_str().unwrap().len() == body.len() - 5));
}

#[test]
fn head_requests_get_no_body() {
    let (_mock, gw) = setup();
    let mut c = Client::connect(gw.addr);
    let mut raw = build_request("HEAD", "/health", &[], b"");
    raw.extend(build_request("HEAD", "/v1/chat/completions", &[], b""));
    raw.extend(build_request("GET", "/health", &[], b""));
    c.send_raw(&raw);
    let (status, head) = c.read_head_only();
    assert_eq!(status, 200);
    assert!(head.contains("content-length: 15"), "{head}");
    let (status, _) = c.read_head_only();
    assert_eq!(status, 405);
    // Had either HEAD answer carried a body, this would read it as the next response.
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
}

#[test]
fn http10_callers_get_streams_raw_until_close() {
    let (_mock, gw) = setup();
    let mut c = Client::connect(gw.addr);
    let body = r#"{"model":"mock/gpt-4o-mini","stream":true,"messages":[]}"#;
    c.send_raw(
        format!(
            "POST /v1/chat/completions HTTP/1.0\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert!(!r.chunked, "HTTP/1.0 has no chunked encoding");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(r.text().contains("data: [DONE]"));
}
