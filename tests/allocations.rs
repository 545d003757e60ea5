//! Heap allocations per passthrough request after warm-up, counted by a global allocator wrapped
//! around the gateway running in this process. The SPEC §7 goal is 0; the test fails if the count
//! rises above `MAX_ALLOCATIONS_PER_REQUEST` (docs/performance.md quotes it).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

/// The ceiling this test enforces; lower it as allocations are removed, never raise it silently.
const MAX_ALLOCATIONS_PER_REQUEST: f64 = 0.0;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Sends `request` and reads one Content-Length response into `buf` without allocating.
fn exchange(stream: &mut std::net::TcpStream, request: &[u8], buf: &mut [u8]) -> u16 {
    stream.write_all(request).unwrap();
    let mut have = 0;
    loop {
        let n = stream.read(&mut buf[have..]).unwrap();
        assert!(n > 0, "gateway closed the connection");
        have += n;
        let Some(head_end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = &buf[..head_end];
        let status = std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap();
        let marker = b"content-length: ";
        let at = head
            .windows(marker.len())
            .position(|w| w.eq_ignore_ascii_case(marker))
            .expect("content-length");
        let digits = &head[at + marker.len()..];
        let end = digits
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(digits.len());
        let len: usize = std::str::from_utf8(&digits[..end])
            .unwrap()
            .parse()
            .unwrap();
        if have >= head_end + 4 + len {
            assert_eq!(have, head_end + 4 + len, "unexpected extra bytes");
            return status;
        }
    }
}

fn measure(path: &str, body: &str) -> f64 {
    let mock = common::mock(&["--no-record"]);
    let toml = common::mock_config(mock.addr, "listen = \"127.0.0.1:0\"\nshards = 1", "");
    let config = shardgate::config::Config::from_toml_str(&toml, &|_| None).expect("config");
    let running = shardgate::server::start(
        config,
        shardgate::server::RunOptions {
            seed: Some(1),
            ..Default::default()
        },
    )
    .expect("start");
    let request = common::build_request(
        "POST",
        path,
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    let mut stream = std::net::TcpStream::connect(running.addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..2000 {
        assert_eq!(exchange(&mut stream, &request, &mut buf), 200);
    }
    let rounds = 2000;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..rounds {
        exchange(&mut stream, &request, &mut buf);
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    drop(stream);
    running.shutdown();
    (after - before) as f64 / f64::from(rounds)
}

#[test]
fn passthrough_allocations_per_request() {
    let small = measure("/v1/chat/completions", common::CHAT);
    let big_prompt = "lorem ipsum ".repeat(850);
    let large = measure(
        "/v1/chat/completions",
        &format!(
            r#"{{"model":"mock/gpt-4o-mini","messages":[{{"role":"user","content":"{big_prompt}"}}]}}"#
        ),
    );
    // A response far larger than one read buffer (the mock's embedding of 4,000 dimensions).
    let big_response = measure(
        "/v1/embeddings",
        r#"{"model":"mock/text-embedding-3-small","input":"x","dimensions":4000,"encoding_format":"float"}"#,
    );
    println!(
        "allocations per request: ~200 B body {small:.3}, ~10 KB body {large:.3}, large response {big_response:.3}"
    );
    assert!(
        small <= MAX_ALLOCATIONS_PER_REQUEST
            && large <= MAX_ALLOCATIONS_PER_REQUEST
            && big_response <= MAX_ALLOCATIONS_PER_REQUEST,
        "allocations per passthrough request: small {small}, large {large}, large response {big_response} (ceiling {MAX_ALLOCATIONS_PER_REQUEST})"
    );
}
