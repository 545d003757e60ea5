//! Criterion benchmarks for translation (`src/translate/`): the cost a request pays when the
//! caller's format is not the provider's. Passthrough never runs any of this.
//!
//! - request: an OpenAI chat request with a tool (about 1 KB) parsed, decoded to the canonical
//!   model, encoded for Anthropic and serialized;
//! - response: an Anthropic answer with text and a tool call, back to OpenAI;
//! - stream: one Anthropic `content_block_delta` event decoded and re-encoded as an OpenAI chunk
//!   (per-chunk cost), and the same into Anthropic events from an OpenAI stream.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shardgate::translate::{
    anthropic, openai, parse_json, ChatRequest, StreamDecode, StreamEncode, StreamEvent,
};

const OPENAI_REQUEST: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":512,"temperature":0.3,"messages":[{"role":"system","content":"You are a helpful assistant that answers briefly."},{"role":"user","content":"What is the weather in Paris and in Berlin today? Answer with both."},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"18C and sunny"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"}},"required":["city"]}}}],"tool_choice":"auto"}"#;

const ANTHROPIC_RESPONSE: &str = r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Let me check Berlin too."},{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Berlin"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":120,"output_tokens":30,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}"#;

const ANTHROPIC_START: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":120,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
const ANTHROPIC_DELTA: &str = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" the quick brown fox\"}}\n\n";
const OPENAI_DELTA: &str = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" the quick brown fox\"},\"finish_reason\":null}]}\n\n";

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("translate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("request_openai_to_anthropic", |b| {
        b.iter(|| {
            let v = parse_json(black_box(OPENAI_REQUEST.as_bytes())).expect("valid");
            let req = openai::decode_request(&v).expect("decodes");
            let out = anthropic::encode_request(&req).expect("encodes");
            black_box(serde_json::to_vec(&out).expect("serializes"))
        })
    });
    g.bench_function("response_anthropic_to_openai", |b| {
        b.iter(|| {
            let v = parse_json(black_box(ANTHROPIC_RESPONSE.as_bytes())).expect("valid");
            let resp = anthropic::decode_response(&v).expect("decodes");
            black_box(serde_json::to_vec(&openai::encode_response(&resp)).expect("serializes"))
        })
    });

    let req = ChatRequest {
        stream: true,
        ..ChatRequest::default()
    };
    g.bench_function("stream_chunk_anthropic_to_openai", |b| {
        let mut decoder = anthropic::StreamDecoder::new();
        let mut encoder = openai::StreamEncoder::new(&req);
        let mut events: Vec<StreamEvent> = Vec::new();
        let mut out = Vec::new();
        decoder
            .feed(ANTHROPIC_START.as_bytes(), &mut events)
            .expect("start");
        for e in events.drain(..) {
            encoder.event(&e, &mut out);
        }
        b.iter(|| {
            out.clear();
            decoder
                .feed(black_box(ANTHROPIC_DELTA.as_bytes()), &mut events)
                .expect("delta");
            for e in events.drain(..) {
                encoder.event(&e, &mut out);
            }
            black_box(out.len())
        })
    });
    g.bench_function("stream_chunk_openai_to_anthropic", |b| {
        let mut decoder = openai::StreamDecoder::new();
        let mut encoder = anthropic::StreamEncoder::new(&req);
        let mut events: Vec<StreamEvent> = Vec::new();
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            decoder
                .feed(black_box(OPENAI_DELTA.as_bytes()), &mut events)
                .expect("delta");
            for e in events.drain(..) {
                encoder.event(&e, &mut out);
            }
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
