//! Criterion benchmarks for the passthrough JSON path (`src/json_scan.rs`): validating a
//! chat-completions body while locating `model`/`stream`, and splicing a new model name in.
//!
//! Two sizes: a ~200 B single-turn request (the common case) and a ~10 KB multi-turn
//! conversation with escapes and non-ASCII text, which exercises the string fast path.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shardgate::json_scan::*;

/// A realistic small request, about 200 bytes.
fn small_body() -> Vec<u8> {
    br#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Tell me a short joke about computers."}],"temperature":0.7,"stream":false}"#
        .to_vec()
}

/// A multi-turn conversation of about 10 KB, with escaped quotes/newlines and some UTF-8.
fn large_body() -> Vec<u8> {
    let mut s = String::from(
        r#"{"model":"gpt-4o","stream":true,"temperature":0.2,"max_tokens":1024,"messages":[{"role":"system","content":"You are a careful assistant. Answer in \"plain\" English.\nBe brief."}"#,
    );
    let mut turn = 0;
    while s.len() < 10_000 {
        let role = if turn % 2 == 0 { "user" } else { "assistant" };
        s.push_str(&format!(
            r#",{{"role":"{role}","content":"Turn {turn}: the quick brown fox jumps over the lazy dog; caf\u00e9 \"quoted\" résumé naïve — line one\nline two\tcol {turn}. Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua."}}"#
        ));
        turn += 1;
    }
    s.push_str(r#"],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}"#);
    s.into_bytes()
}

fn bench_size(c: &mut Criterion, name: &str, body: &[u8]) {
    assert!(
        scan_request(body).is_ok(),
        "bench body {name} must be valid"
    );
    let mut g = c.benchmark_group(format!("json_scan/{name}"));
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("scan_request", |b| b.iter(|| scan_request(black_box(body))));
    let fields = scan_request(body).unwrap_or_default();
    let span = fields.model.clone().unwrap_or(0..0);
    let mut out = BytesMut::with_capacity(body.len() + 64);
    g.bench_function("splice_string", |b| {
        b.iter(|| {
            out.clear();
            splice_string(
                black_box(body),
                span.clone(),
                "openai/gpt-4o-mini",
                &mut out,
            );
            black_box(out.len())
        })
    });
    // What the passthrough path does per request: scan, read the model, splice the resolved one.
    let mut scratch = String::new();
    g.bench_function("scan_model_splice", |b| {
        b.iter(|| {
            let f = scan_request(black_box(body)).unwrap_or_default();
            let n = model_str(body, &f, &mut scratch).map_or(0, str::len);
            out.clear();
            splice_string(
                body,
                f.model.unwrap_or(0..0),
                "openai/gpt-4o-mini",
                &mut out,
            );
            black_box(n + out.len())
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_size(c, "200B", &small_body());
    bench_size(c, "10KB", &large_body());
}

criterion_group!(json_scan, benches);
criterion_main!(json_scan);
