//! End-to-end test of `loadtest compare`: direct and shardgate at a low rate for one short round;
//! the JSON has every field SPEC §7 names. Uses target/release/shardgate, else target/debug's.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const FIELDS: &[&str] = &[
    "target",
    "rate",
    "achieved_rps",
    "ok",
    "errors",
    "p50_us",
    "p90_us",
    "p99_us",
    "p999_us",
    "overhead_p50_us",
    "overhead_p99_us",
    "cpu_us_per_req",
    "rss_mib",
    "gateway_overhead_p50_us",
    "gateway_overhead_p99_us",
    "rounds",
];

/// The directory holding a built shardgate: release preferred, else debug.
fn shardgate_dir() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or(root.join("target"), PathBuf::from);
    ["release", "debug"]
        .iter()
        .map(|p| target.join(p))
        .find(|d| d.join("shardgate").is_file())
}

#[test]
fn compare_direct_and_shardgate_writes_every_field() {
    let Some(bin_dir) = shardgate_dir() else {
        eprintln!("SKIPPED: no target/release/shardgate or target/debug/shardgate; `cargo build --bin shardgate` first");
        return;
    };
    let out = std::env::temp_dir().join(format!("loadtest-compare-{}.json", std::process::id()));
    let o = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["compare", "--targets", "direct,shardgate", "--rates", "200"])
        .args([
            "--duration-s",
            "1",
            "--rounds",
            "1",
            "--warmup-s",
            "0.2",
            "--out",
        ])
        .arg(&out)
        .arg("--bin-dir")
        .arg(&bin_dir)
        .output()
        .expect("run loadtest compare");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("medians over 1 round"), "{stdout}");
    let text = std::fs::read_to_string(&out).expect("results file");
    let _ = std::fs::remove_file(&out);
    let v: Value = serde_json::from_str(&text).expect("JSON");
    let rows = v.as_array().expect("an array of results");
    assert_eq!(rows.len(), 2, "{v}");
    for r in rows {
        for f in FIELDS {
            assert!(r.get(f).is_some(), "{f} missing in {r}");
        }
        assert_eq!(r["rate"], 200.0);
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["ok"].as_u64().unwrap_or(0) >= 180, "{r}");
        assert_eq!(r["rounds"].as_array().map(Vec::len), Some(1));
    }
    let direct = &rows[0];
    let gw = &rows[1];
    assert_eq!(direct["target"], "direct");
    assert!(direct["overhead_p50_us"].is_null());
    assert_eq!(gw["target"], "shardgate");
    assert!(gw["overhead_p50_us"].is_i64(), "{gw}");
    assert!(gw["overhead_p99_us"].is_i64(), "{gw}");
    assert!(gw["gateway_overhead_p50_us"].is_f64(), "{gw}");
    assert!(gw["rss_mib"].as_f64().unwrap_or(0.0) > 0.0, "{gw}");
    // Every process it started is gone (pids from its `... (pid N)` lines).
    let stderr = String::from_utf8_lossy(&o.stderr);
    let pids: Vec<u32> = stderr
        .lines()
        .filter_map(|l| l.split("(pid ").nth(1)?.strip_suffix(')')?.parse().ok())
        .collect();
    assert!(pids.len() >= 2, "{stderr}");
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z"),
            "pid {pid} still running: {stat}"
        );
    }
}
