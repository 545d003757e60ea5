//! End-to-end tests of `loadtest mock --tls-cert --tls-key`: the same routes, streaming, faults,
//! pipelining and inspection over HTTPS (TLS 1.2 and 1.3), and startup failures for bad
//! certificate or key files. The certificate is generated per test (see `common::cert`).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Conn, Mock, TlsFiles};
use serde_json::Value;

const CHAT: &str = "/v1/chat/completions";

#[test]
fn tls_chat_non_streaming() {
    let m = Mock::start_tls(&[]);
    let v = m.post_json(
        CHAT,
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert!(v["id"].as_str().is_some_and(|s| s.starts_with("chatcmpl-")));
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    let content = v["choices"][0]["message"]["content"].as_str().unwrap_or("");
    assert!(
        content.starts_with("mock reply from gpt-4o-mini"),
        "{content}"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["usage"]["total_tokens"].as_u64().is_some());
    // Keep-alive: several requests on one TLS connection.
    let mut c = m.connect();
    for i in 0..5 {
        let r = c.req("POST", CHAT, &[], &format!(r#"{{"model":"k{i}"}}"#));
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["model"], format!("k{i}").as_str());
    }
    let v = c.req("GET", "/_mock/requests", &[], "").json();
    assert_eq!(v["connections"], 2, "{v}");
}

#[test]
fn tls_chat_streaming() {
    let m = Mock::start_tls(&["--stream-chunks", "5"]);
    let full = m.post_json(CHAT, r#"{"model":"m1"}"#)["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let r = m.req(
        "POST",
        CHAT,
        r#"{"model":"m1","stream":true,"stream_options":{"include_usage":true}}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.complete);
    let sse = r.sse();
    assert_eq!(r.chunks.len(), sse.len(), "one HTTP chunk per event");
    assert_eq!(sse.last().map(|e| e.1.as_str()), Some("[DONE]"));
    let ev = r.sse_json();
    // role, 5 content, finish, usage
    assert_eq!(ev.len(), 8);
    let text: String = ev
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, full);
    assert!(ev[7]["usage"]["total_tokens"].as_u64().is_some());
    // Anthropic streaming with delays between events, on a kept-alive connection.
    let m = Mock::start_tls(&["--stream-chunks", "4", "--chunk-delay-ms", "20"]);
    let mut c = m.connect();
    for _ in 0..2 {
        let t = Instant::now();
        let r = c.req(
            "POST",
            "/v1/messages",
            &[],
            r#"{"model":"claude","stream":true}"#,
        );
        assert!(r.complete);
        let names: Vec<_> = r.sse().into_iter().filter_map(|e| e.0).collect();
        assert_eq!(names.first().map(String::as_str), Some("message_start"));
        assert_eq!(names.last().map(String::as_str), Some("message_stop"));
        assert!(t.elapsed() >= Duration::from_millis(20 * (names.len() as u64 - 1)));
    }
}

#[test]
fn tls_inspection() {
    let m = Mock::start_tls(&[]);
    let mut c = m.connect();
    c.req(
        "POST",
        CHAT,
        &[("X-Test", "one"), ("Authorization", "Bearer sk-x")],
        r#"{"model":"a"}"#,
    );
    c.req("POST", "/v1/messages?beta=true", &[], r#"{"model":"b"}"#);
    let v = c.req("GET", "/_mock/requests", &[], "").json();
    let reqs = v["requests"].as_array().cloned().unwrap_or_default();
    assert_eq!(reqs.len(), 2, "{v}");
    assert_eq!(reqs[0]["method"], "POST");
    assert_eq!(reqs[0]["path"], CHAT);
    assert_eq!(reqs[0]["body"], r#"{"model":"a"}"#);
    let hdrs = reqs[0]["headers"].as_array().cloned().unwrap_or_default();
    assert!(hdrs.iter().any(|h| h[0] == "X-Test" && h[1] == "one"));
    assert!(hdrs
        .iter()
        .any(|h| h[0] == "Authorization" && h[1] == "Bearer sk-x"));
    assert_eq!(reqs[1]["path"], "/v1/messages?beta=true");
    assert_eq!(v["connections"], 1);
    assert_eq!(c.req("DELETE", "/_mock/requests", &[], "").status, 200);
    let v = c.req("GET", "/_mock/requests", &[], "").json();
    assert_eq!(v["requests"].as_array().map(Vec::len), Some(0));
    assert_eq!(v["connections"], 0);
}

#[test]
fn tls_versions_alpn_and_names() {
    let m = Mock::start_tls(&[]);
    let Some(t) = &m.tls else {
        panic!("TLS mock without TLS files");
    };
    for (versions, expect) in [
        (
            &[&rustls::version::TLS12][..],
            rustls::ProtocolVersion::TLSv1_2,
        ),
        (
            &[&rustls::version::TLS13][..],
            rustls::ProtocolVersion::TLSv1_3,
        ),
    ] {
        for name in ["localhost", "127.0.0.1"] {
            let mut c = Conn::new_tls(&m.addr, name, t.client(versions));
            assert_eq!(c.tls_version, Some(expect), "{name}");
            assert_eq!(c.alpn.as_deref(), Some(&b"http/1.1"[..]));
            let r = c.req("POST", CHAT, &[], r#"{"model":"v"}"#);
            assert_eq!(r.json()["model"], "v");
        }
    }
    // A client trusting another certificate fails the handshake; so does a wrong name.
    let other = TlsFiles::generate();
    assert!(
        Conn::try_new_tls(&m.addr, "localhost", other.client(rustls::DEFAULT_VERSIONS)).is_err()
    );
    assert!(Conn::try_new_tls(&m.addr, "example.com", t.client(rustls::DEFAULT_VERSIONS)).is_err());
    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut s = TcpStream::connect(&m.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /v1/models HTTP/1.1\r\nHost: m\r\n\r\n")
        .expect("write");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(!got.starts_with(b"HTTP/"), "{got:?}");
    // None of that disturbed the mock.
    assert_eq!(m.req("GET", "/v1/models", "").status, 200);
}

#[test]
fn tls_pipelining_faults_and_close() {
    let m = Mock::start_tls(&[]);
    let mut c = m.connect();
    let mut batch = Vec::new();
    for i in 0..20 {
        batch.extend(Conn::format(
            "POST",
            CHAT,
            &[],
            &format!(r#"{{"model":"m{i}"}}"#),
        ));
    }
    batch.extend(Conn::format(
        "POST",
        CHAT,
        &[],
        r#"{"model":"s","stream":true}"#,
    ));
    batch.extend(Conn::format("POST", CHAT, &[], r#"{"model":"last"}"#));
    c.send_raw(&batch);
    for i in 0..20 {
        let r = c.read_response().expect("response");
        assert_eq!(r.json()["model"], format!("m{i}").as_str());
    }
    let r = c.read_response().expect("stream");
    assert!(r.complete && r.sse().len() > 3);
    assert_eq!(
        c.read_response().map(|r| r.json()["model"].clone()),
        Some(Value::from("last"))
    );
    // Byte-at-a-time (one TLS record per byte).
    for b in Conn::format("POST", CHAT, &[], r#"{"model":"slowly"}"#) {
        c.send_raw(&[b]);
    }
    assert_eq!(
        c.read_response().map(|r| r.json()["model"].clone()),
        Some(Value::from("slowly"))
    );

    // `connection: close`: the answer, then a clean TLS close (close_notify).
    let r = c.req("GET", "/v1/models", &[("Connection", "close")], "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(c.read_to_end().ok(), Some(Vec::new()));

    // reset: earlier pipelined replies, then the connection drops without close_notify.
    let mut c = m.connect();
    let mut batch = Conn::format("POST", CHAT, &[], r#"{"model":"first"}"#);
    batch.extend(Conn::format("POST", CHAT, &[], r#"{"model":"reset"}"#));
    c.send_raw(&batch);
    assert_eq!(
        c.read_response().map(|r| r.json()["model"].clone()),
        Some(Value::from("first"))
    );
    assert!(
        c.read_to_end().is_err(),
        "reset must not look like a clean close"
    );

    // cut: streaming stops after 2 events; non-streaming after half the body.
    let mut c = m.connect();
    let r = c.req("POST", CHAT, &[], r#"{"model":"cut-me","stream":true}"#);
    assert_eq!(r.status, 200);
    assert!(!r.complete);
    assert_eq!(r.chunks.len(), 2);
    assert!(c.at_eof());
    let mut c = m.connect();
    let r = c.req("POST", CHAT, &[], r#"{"model":"cut-me"}"#);
    assert!(!r.complete && !r.body.is_empty());
    assert!(c.at_eof());

    // A status fault keeps the connection.
    let mut c = m.connect();
    assert_eq!(
        c.req("POST", CHAT, &[], r#"{"model":"fail429"}"#).status,
        429
    );
    assert_eq!(c.req("POST", CHAT, &[], r#"{"model":"ok"}"#).status, 200);
}

#[test]
fn tls_large_bodies_and_expect_continue() {
    let m = Mock::start_tls(&[]);
    let mut c = m.connect();
    // 400 KB in and (via inspection) out: many TLS records both ways.
    let big = "x".repeat(400 * 1024);
    let body = format!(r#"{{"model":"big","messages":[{{"role":"user","content":"{big}"}}]}}"#);
    assert_eq!(c.req("POST", CHAT, &[], &body).status, 200);
    let v = c.req("GET", "/_mock/requests", &[], "").json();
    assert_eq!(
        v["requests"][0]["body"].as_str().map(str::len),
        Some(body.len())
    );

    let body = r#"{"model":"later"}"#;
    c.send_raw(
        format!(
            "POST {CHAT} HTTP/1.1\r\nHost: m\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(c.read_response().map(|r| r.status), Some(100));
    c.send_raw(body.as_bytes());
    assert_eq!(
        c.read_response().map(|r| r.json()["model"].clone()),
        Some(Value::from("later"))
    );
}

#[test]
fn tls_several_threads() {
    let m = Mock::start_tls(&["--threads", "2"]);
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let mut c = m.connect();
            std::thread::spawn(move || {
                for j in 0..5 {
                    let r = c.req("POST", CHAT, &[], &format!(r#"{{"model":"t{i}-{j}"}}"#));
                    assert_eq!(r.status, 200);
                }
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().is_ok());
    }
    let v = m.req("GET", "/_mock/requests", "").json();
    assert_eq!(v["requests"].as_array().map(Vec::len), Some(30));
    assert_eq!(v["connections"], 7);
}

/// Runs `loadtest mock ARGS` expecting it to exit on its own; returns (code, stdout, stderr).
fn run_mock_expecting_exit(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["mock", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn loadtest mock");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mock {args:?} kept running");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (status.code(), out, err)
}

#[test]
fn tls_bad_cert_or_key_exits_2() {
    let good = TlsFiles::generate();
    let other = TlsFiles::generate();
    let junk = good.dir.join("junk.pem");
    std::fs::write(&junk, "not a PEM file\n").expect("write junk");
    let truncated = good.dir.join("truncated.pem");
    let cert_text = std::fs::read_to_string(&good.cert).expect("read cert");
    std::fs::write(&truncated, &cert_text[..cert_text.len() / 2]).expect("write truncated");
    let missing = good.dir.join("missing.pem");

    let cases = [
        (&missing, &good.key, "--tls-cert", "No such file"),
        (&good.cert, &missing, "--tls-key", "No such file"),
        (&junk, &good.key, "--tls-cert", "no CERTIFICATE"),
        (&good.cert, &junk, "--tls-key", "no PRIVATE KEY"),
        (&good.cert, &good.cert, "--tls-key", "no PRIVATE KEY"),
        (&truncated, &good.key, "--tls-cert", "invalid PEM"),
        (&good.cert, &other.key, "--tls-key", "does not match"),
    ];
    for (cert, key, flag, why) in cases {
        let (code, out, err) = run_mock_expecting_exit(&[
            "--tls-cert".as_ref(),
            cert.as_os_str(),
            "--tls-key".as_ref(),
            key.as_os_str(),
        ]);
        assert_eq!(code, Some(2), "{cert:?} {key:?}: {err}");
        assert_eq!(out, "", "no banner for {cert:?} {key:?}");
        assert!(err.contains(flag) && err.contains(why), "{err}");
    }
    // One without the other is a usage error.
    let (code, out, _) = run_mock_expecting_exit(&["--tls-cert".as_ref(), good.cert.as_os_str()]);
    assert_eq!((code, out.as_str()), (Some(2), ""));
}
