//! End-to-end tests of `loadtest load` against the built mock: counts, a sane histogram, a known
//! injected latency (coarse bounds only), and coordinated-omission correction when the target
//! cannot keep up. No assertions on speed.

mod common;

use std::process::Command;

use common::Mock;
use serde_json::Value;

/// Runs `loadtest load ARGS --out FILE` against `mock` and returns the JSON report.
fn load(mock: &Mock, name: &str, args: &[&str]) -> Value {
    let out = std::env::temp_dir().join(format!("loadtest-{name}-{}.json", std::process::id()));
    let url = format!("http://{}/v1/chat/completions", mock.addr);
    let o = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["load", "--url", &url, "--out"])
        .arg(&out)
        .args(args)
        .output()
        .expect("run loadtest load");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("generator CPU"), "{stdout}");
    let text = std::fs::read_to_string(&out).expect("report file");
    let _ = std::fs::remove_file(&out);
    serde_json::from_str(&text).expect("report JSON")
}

fn u(v: &Value, path: &[&str]) -> u64 {
    let mut x = v;
    for p in path {
        x = &x[p];
    }
    x.as_u64()
        .unwrap_or_else(|| panic!("{path:?} missing in {v}"))
}

#[test]
fn open_loop_counts_and_histogram() {
    let mock = Mock::start(&["--no-record"]);
    let r = load(
        &mock,
        "open",
        &["--rate", "200", "--duration-s", "1", "--connections", "8"],
    );
    assert_eq!(r["mode"], "open-loop");
    let ok = u(&r, &["ok"]);
    assert!((190..=210).contains(&ok), "ok {ok}: {r}");
    assert_eq!(u(&r, &["errors"]), 0, "{r}");
    assert_eq!(u(&r, &["unsent"]), 0, "{r}");
    assert_eq!(u(&r, &["sent"]), ok);
    let rps = r["achieved_rps"].as_f64().unwrap_or(0.0);
    assert!((150.0..=250.0).contains(&rps), "{rps}");
    let l = &r["latency"];
    let (min, p50, p99, max) = (
        u(l, &["min_us"]),
        u(l, &["p50_us"]),
        u(l, &["p99_us"]),
        u(l, &["max_us"]),
    );
    assert!(min >= 1 && min <= p50 && p50 <= p99 && p99 <= max, "{l}");
    assert!(max < 5_000_000, "{l}");
    // From the intended send time, latency can only exceed the service time.
    assert!(u(&r, &["service", "p50_us"]) <= p50 + 1, "{r}");
    assert!(r["generator_cpu_pct"].as_f64().is_some());
    let body = u(&r, &["body_bytes"]);
    assert!((150..260).contains(&body), "{body}");
}

#[test]
fn large_bodies_streaming_and_closed_loop() {
    let mock = Mock::start(&["--no-record"]);
    let r = load(
        &mock,
        "stream",
        &[
            "--rate",
            "100",
            "--duration-s",
            "0.5",
            "--body",
            "large",
            "--stream",
        ],
    );
    assert_eq!(u(&r, &["errors"]), 0, "{r}");
    assert!(u(&r, &["ok"]) >= 45, "{r}");
    assert!(u(&r, &["body_bytes"]) > 9_000);
    assert!(
        u(&r, &["ttfb", "p50_us"]) <= u(&r, &["latency", "p50_us"]),
        "{r}"
    );
    let c = load(
        &mock,
        "closed",
        &[
            "--closed-loop",
            "--duration-s",
            "0.5",
            "--connections",
            "4",
            "--threads",
            "2",
        ],
    );
    assert_eq!(c["mode"], "closed-loop");
    assert_eq!(u(&c, &["errors"]), 0, "{c}");
    assert!(u(&c, &["ok"]) > 10, "{c}");
}

#[test]
fn known_latency_is_measured() {
    let mock = Mock::start(&["--no-record", "--latency-ms", "20"]);
    let r = load(
        &mock,
        "latency",
        &["--rate", "100", "--duration-s", "1", "--connections", "8"],
    );
    assert_eq!(u(&r, &["errors"]), 0, "{r}");
    let p50 = u(&r, &["latency", "p50_us"]);
    assert!(
        (19_000..200_000).contains(&p50),
        "p50 {p50} for a 20 ms mock: {r}"
    );
}

#[test]
fn schedule_slip_counts_as_latency() {
    // 2 connections x 1 / 50 ms = 40 req/s of capacity against 100 req/s asked.
    let mock = Mock::start(&["--no-record", "--latency-ms", "50"]);
    let r = load(
        &mock,
        "slip",
        &[
            "--rate",
            "100",
            "--duration-s",
            "1",
            "--connections",
            "2",
            "--drain-s",
            "0.5",
        ],
    );
    let service = u(&r, &["service", "p50_us"]);
    let latency = u(&r, &["latency", "p50_us"]);
    assert!(
        latency > 2 * service,
        "latency {latency} vs service {service}: {r}"
    );
    assert!(u(&r, &["unsent"]) > 0, "{r}");
    assert!(r["achieved_rps"].as_f64().unwrap_or(0.0) < 80.0, "{r}");
}

#[test]
fn connection_errors_are_counted() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let out = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args([
            "load",
            "--url",
            &format!("http://127.0.0.1:{port}/v1/chat/completions"),
        ])
        .args(["--rate", "50", "--duration-s", "0.2", "--connections", "2"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok 0 "), "{text}");
    assert!(
        text.contains("connect 10") || text.contains("connect 9"),
        "{text}"
    );
}

#[test]
fn timeouts_are_counted() {
    let mock = Mock::start(&["--no-record", "--latency-ms", "400"]);
    let r = load(
        &mock,
        "timeout",
        &[
            "--rate",
            "20",
            "--duration-s",
            "0.5",
            "--connections",
            "4",
            "--timeout-ms",
            "100",
        ],
    );
    assert_eq!(u(&r, &["ok"]), 0, "{r}");
    let t = u(&r, &["timeouts"]);
    assert!((8..=12).contains(&t), "timeouts {t}: {r}");
    assert_eq!(u(&r, &["errors"]), t, "{r}");
}
