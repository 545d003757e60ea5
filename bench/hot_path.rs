//! Criterion micro-benchmarks of the passthrough hot path's pieces: request head parse, model
//! resolution, key selection, response head write, metrics record.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion};
use shardgate::config::Config;
use shardgate::http::request::{HeadLimits, RequestHead};
use shardgate::metrics::{RequestRecord, RouteLabel, ShardMetrics};
use shardgate::pipeline::resolve::ModelIndex;
use shardgate::pipeline::respond::{self, Meta};
use shardgate::providers::Provider;

/// A request head as the official OpenAI Python SDK sends it.
const SDK_HEAD: &[u8] = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\nAccept: application/json\r\nContent-Type: application/json\r\nUser-Agent: OpenAI/Python 1.99.0\r\nX-Stainless-Lang: python\r\nX-Stainless-Package-Version: 1.99.0\r\nX-Stainless-OS: Linux\r\nX-Stainless-Arch: x64\r\nX-Stainless-Runtime: CPython\r\nX-Stainless-Runtime-Version: 3.11.7\r\nAuthorization: Bearer sk-caller\r\nX-Stainless-Async: false\r\nx-stainless-retry-count: 0\r\nx-stainless-read-timeout: 600\r\nContent-Length: 180\r\n\r\n";

const CONFIG: &str = r#"
[[providers]]
name = "openai"
kind = "openai"
keys = [{ value = "sk-a", weight = 3 }, { value = "sk-b", weight = 1 }, { value = "sk-c", models = ["gpt-4o"] }]
models = ["gpt-4o-mini", "gpt-4o"]

[[providers]]
name = "groq"
kind = "groq"
api_key = "gk"

[[models]]
name = "smart"
targets = [{ model = "openai/gpt-4o", weight = 3 }, { model = "groq/llama-3.1-70b", weight = 1 }]
"#;

fn head_parse(c: &mut Criterion) {
    let limits = HeadLimits {
        max_head_bytes: 16384,
        max_headers: 64,
    };
    let mut head = RequestHead::new();
    c.bench_function("request_head_parse_sdk", |b| {
        b.iter(|| head.parse(black_box(SDK_HEAD), limits))
    });
}

fn routing(c: &mut Criterion) {
    let config = Config::from_toml_str(CONFIG, &|_| None).expect("bench config");
    let providers: Vec<Provider> = config
        .providers
        .iter()
        .map(|p| Provider::compile(p).expect("provider"))
        .collect();
    let index = ModelIndex::build(&config, &providers);
    let mut rng = fastrand::Rng::with_seed(1);
    c.bench_function("resolve_provider_prefixed", |b| {
        b.iter(|| {
            index
                .resolve(black_box("openai/gpt-4o-mini"), &mut rng)
                .map(|t| t.provider)
        })
    });
    c.bench_function("resolve_alias_weighted", |b| {
        b.iter(|| {
            index
                .resolve(black_box("smart"), &mut rng)
                .map(|t| t.provider)
        })
    });
    c.bench_function("resolve_bare_family", |b| {
        b.iter(|| {
            index
                .resolve(black_box("gpt-4.1-nano"), &mut rng)
                .map(|t| t.provider)
        })
    });
    let openai = &providers[0];
    c.bench_function("pick_key_weighted_restricted", |b| {
        b.iter(|| {
            openai
                .pick_key(black_box("gpt-4o-mini"), &mut rng)
                .map(|k| k.weight)
        })
    });
}

fn response_head(c: &mut Criterion) {
    let mut out = BytesMut::with_capacity(1024);
    let meta = Meta {
        request_id: b"0123456789abcdef0123456789abcdef",
        provider: Some("openai"),
        model: Some("gpt-4o-mini"),
        attempts: 1,
        cache: "off",
    };
    c.bench_function("response_head_write", |b| {
        b.iter(|| {
            out.clear();
            respond::head(
                &mut out,
                200,
                b"application/json",
                black_box(612),
                &meta,
                true,
            );
            out.len()
        })
    });
}

fn metrics(c: &mut Criterion) {
    let mut m = ShardMetrics::new();
    let record = RequestRecord {
        route: RouteLabel::ChatCompletions,
        provider: Some("openai"),
        model: Some("gpt-4o-mini"),
        status: 200,
        total: Duration::from_micros(130),
        upstream: Duration::from_micros(124),
        proxied: true,
    };
    c.bench_function("metrics_record", |b| {
        b.iter(|| m.record(black_box(&record)))
    });
}

criterion_group!(benches, head_parse, routing, response_head, metrics);
criterion_main!(benches);
