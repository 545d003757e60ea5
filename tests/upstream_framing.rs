//! Response framings and connection behaviour that the mock does not produce, from a scripted
//! upstream: close-delimited bodies, plain chunked bodies with trailers, interim 1xx responses, a
//! pooled connection the provider closed while idle.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;

/// What the scripted upstream does with one request.
struct Reply {
    bytes: Vec<u8>,
    close_after: bool,
}

/// A reply in two parts with a pause between them (0 ms and empty for most scripts).
struct Delayed {
    tail: Vec<u8>,
    pause_ms: u64,
}

/// Serves each connection: reads a request (head + Content-Length body), answers with
/// `script(connection_index, request_index_on_connection)`. Returns the address and the
/// number of connections accepted.
fn scripted(script: fn(usize, usize) -> Reply) -> (SocketAddr, Arc<AtomicUsize>) {
    scripted_with_tail(script, || Delayed {
        tail: Vec::new(),
        pause_ms: 0,
    })
}

/// Like `scripted`, then sends `tail()` after its pause on the same connection.
fn scripted_with_tail(
    script: fn(usize, usize) -> Reply,
    tail: fn() -> Delayed,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let index = counter.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || serve(stream, index, script, tail));
        }
    });
    (addr, accepted)
}

fn serve(
    mut stream: TcpStream,
    conn: usize,
    script: fn(usize, usize) -> Reply,
    tail: fn() -> Delayed,
) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 65536];
    for req in 0.. {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap_or(0));
        while buf.len() < head_end + len {
            match stream.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        buf.drain(..head_end + len);
        let reply = script(conn, req);
        if stream.write_all(&reply.bytes).is_err() {
            return;
        }
        let delayed = tail();
        if !delayed.tail.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(delayed.pause_ms));
            if stream.write_all(&delayed.tail).is_err() {
                return;
            }
        }
        if reply.close_after {
            return;
        }
    }
}

fn config(upstream: SocketAddr) -> String {
    mock_config(upstream, "shards = 1", "")
}

#[test]
fn close_delimited_body_is_relayed_chunked() {
    let (up, _) = scripted(|_, _| {
        Reply {
        bytes: b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close, x-private\r\nx-private: 1\r\n\r\n{\"until\":\"close\"}".to_vec(),
        close_after: true,
    }
    });
    let gw = gateway(&config(up));
    let mut c = Client::connect(gw.addr);
    let r = c.post_json("/v1/chat/completions", CHAT);
    assert_eq!(r.status, 200);
    assert!(r.chunked);
    assert_eq!(r.json()["until"], "close");
    assert_eq!(
        r.header("x-private"),
        None,
        "named in Connection: hop-by-hop"
    );
    // The caller's connection is not affected by the provider closing its own.
    let r = c.post_json("/v1/chat/completions", CHAT);
    assert_eq!(r.json()["until"], "close");
}

#[test]
fn plain_chunked_body_with_trailers_and_interim_response() {
    let (up, accepted) = scripted(|_, _| {
        Reply {
        bytes: b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nx-upstream: yes\r\n\r\n5\r\n{\"a\":\r\n3;x=y\r\n12}\r\n0\r\nx-trailer: t\r\n\r\n".to_vec(),
        close_after: false,
    }
    });
    let gw = gateway(&config(up));
    let mut c = Client::connect(gw.addr);
    for _ in 0..3 {
        let r = c.post_json("/v1/chat/completions", CHAT);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-upstream"), Some("yes"));
        assert_eq!(r.json()["a"], 12);
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "a chunked response read to its end leaves the connection reusable"
    );
}

#[test]
fn pooled_connection_closed_by_the_provider_is_retried_on_a_fresh_one() {
    // Every connection answers once, keeps the connection open as if reusable, then closes it
    // silently when the next request arrives (the race a real server's idle timeout creates).
    let (up, accepted) = scripted(|_, req| {
        if req == 0 {
            Reply {
                bytes: b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}".to_vec(),
                close_after: false,
            }
        } else {
            Reply {
                bytes: Vec::new(),
                close_after: true,
            }
        }
    });
    let gw = gateway(&config(up));
    let mut c = Client::connect(gw.addr);
    for i in 0..4 {
        let r = c.post_json("/v1/chat/completions", CHAT);
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.json()["ok"], true);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
}

#[test]
fn content_length_body_split_across_reads_is_relayed_whole() {
    let (up, _) = scripted(|_, _| {
        let body = format!("{{\"big\":\"{}\"}}", "x".repeat(200_000));
        Reply {
            bytes: format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
            close_after: false,
        }
    });
    let gw = gateway(&config(up));
    let mut c = Client::connect(gw.addr);
    for _ in 0..3 {
        let r = c.post_json("/v1/chat/completions", CHAT);
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["big"].as_str().unwrap().len(), 200_000);
    }
}

#[test]
fn garbage_from_the_provider_is_502() {
    let (up, _) = scripted(|_, _| Reply {
        bytes: b"SSH-2.0-OpenSSH_9.2\r\n\r\n".to_vec(),
        close_after: true,
    });
    let gw = gateway(&config(up));
    let r = one_shot(gw.addr, "POST", "/v1/chat/completions", CHAT);
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["error"]["code"], "upstream_protocol_error");
}

#[test]
fn an_event_that_never_ends_is_forwarded_past_the_hold_back_limit() {
    // 3 MiB of one unterminated event, then a pause, then its end: the gateway may hold back at
    // most 1 MiB of a partial event, so most of it must reach the caller during the pause.
    let (up, _) = scripted_with_tail(
        |_, _| {
            let mut bytes = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
            let data = format!("data: {}", "y".repeat(3 << 20));
            bytes.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
            bytes.extend_from_slice(data.as_bytes());
            bytes.extend_from_slice(b"\r\n");
            Reply {
                bytes,
                close_after: true,
            }
        },
        || Delayed {
            tail: b"4\r\n\n\n\n\n\r\n0\r\n\r\n".to_vec(),
            pause_ms: 1500,
        },
    );
    let gw = gateway(&config(up));
    let mut c = Client::connect(gw.addr);
    c.send_raw(&build_request(
        "POST",
        "/v1/chat/completions",
        &[],
        CHAT.as_bytes(),
    ));
    let start = std::time::Instant::now();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    use std::io::Read;
    while got < (2 << 20) {
        let n = c.stream.read(&mut buf).unwrap();
        assert!(n > 0);
        got += n;
    }
    assert!(
        start.elapsed() < std::time::Duration::from_millis(1400),
        "2 MiB of the event should arrive before the provider ends it"
    );
}
