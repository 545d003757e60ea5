//! Process lifecycle: start-up banner, io_uring driver, `check`, graceful drain on SIGTERM.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn shards_run_on_io_uring() {
    let mock = mock(&[]);
    let gw = gateway(&mock_config(mock.addr, "shards = 2", ""));
    assert_eq!(one_shot(gw.addr, "GET", "/health", "").status, 200);
    // Each io_uring instance is an anon inode in the process's fd table: proof, not a log claim.
    // Shards start concurrently with the banner, so give the second one a moment.
    let count_rings = || {
        std::fs::read_dir(format!("/proc/{}/fd", gw.child.id()))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().contains("io_uring"))
            .count()
    };
    let count_logs = || {
        let out = gw.output().join("\n");
        out.matches("driver=\"io_uring\"").count() + out.matches("driver=io_uring").count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (count_rings() < 2 || count_logs() < 2) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        count_rings() >= 2,
        "expected an io_uring per shard, found {}",
        count_rings()
    );
    assert_eq!(count_logs(), 2, "{}", gw.output().join("\n"));
}

#[test]
fn epoll_fallback_can_be_forced() {
    let mock = mock(&[]);
    let gw = gateway_with_env(
        &mock_config(mock.addr, "shards = 1", ""),
        &[("SHARDGATE_IO_DRIVER", "epoll")],
    );
    assert_eq!(
        one_shot(gw.addr, "POST", "/v1/chat/completions", CHAT).status,
        200
    );
    gw.wait_for_output("epoll");
}

#[test]
fn embedded_default_registers_providers_from_the_environment() {
    let mock = mock(&[]);
    let mut cmd = Command::new(bin("shardgate"));
    cmd.args(["--listen", "127.0.0.1:0"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OPENAI_API_KEY", "sk-from-env")
        .env("OPENAI_BASE_URL", format!("http://{}/v1", mock.addr))
        .env("ANTHROPIC_API_KEY", "ak");
    let gw = Proc::start_cmd(cmd);
    let out = gw.output().join("\n");
    assert!(out.contains("embedded default"), "{out}");
    assert!(out.contains("registered provider 'openai'"), "{out}");
    assert!(out.contains("ANTHROPIC_API_KEY"), "{out}");
    let r = one_shot(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        r#"{"model":"gpt-4o-mini","messages":[]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-shardgate-provider"), Some("openai"));
    let (reqs, _) = mock_requests(mock.addr);
    assert_eq!(
        recorded_header(&reqs[0], "authorization").as_deref(),
        Some("Bearer sk-from-env")
    );
}

#[test]
fn check_reports_every_error_with_its_location() {
    let dir = std::env::temp_dir().join(format!("shardgate-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, "[server]\nlisten = \"127.0.0.1:9999\"\n\n[[providers]]\nname = \"local\"\nkind = \"vllm\"\n").unwrap();
    let out = Command::new(bin("shardgate"))
        .args(["check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nshards = 5000\n\n[[providers]]\nname = \"a\"\nkind = \"openai\"\nkeys = [\"${SHARDGATE_TEST_MISSING_VAR}\"]\n\n[[providers]]\nname = \"a\"\nkind = \"nosuchkind\"\n\n[[providers]]\nname = \"b\"\nkind = \"vllm\"\ntls_ca_file = \"/nonexistent/ca.pem\"\n",
    )
    .unwrap();
    let out = Command::new(bin("shardgate"))
        .args(["check", "--config"])
        .arg(&bad)
        .env_remove("SHARDGATE_TEST_MISSING_VAR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SHARDGATE_TEST_MISSING_VAR"), "{text}");
    assert!(text.contains("providers[1]"), "{text}");
    assert!(text.contains("shards"), "{text}");
    assert!(text.contains("providers[2].tls_ca_file"), "{text}");
}

#[test]
fn sigterm_drains_in_flight_requests() {
    // Every response takes 1.5 s at the provider; SIGTERM arrives while they are in flight (the
    // generous margins keep a loaded CI machine from sending the signal before they arrive).
    let mock = mock(&["--latency-ms", "1500"]);
    let gw = gateway(&mock_config(
        mock.addr,
        "shards = 2\ndrain_timeout_ms = 5000",
        "",
    ));
    let addr = gw.addr;
    let mut workers = Vec::new();
    for i in 0..8 {
        workers.push(std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            let body = if i % 2 == 0 {
                CHAT.to_string()
            } else {
                CHAT.replace("\"messages\"", "\"stream\":true,\"messages\"")
            };
            let r = c.post_json("/v1/chat/completions", &body);
            (
                r.status,
                r.text(),
                r.header("connection").map(str::to_string),
            )
        }));
    }
    std::thread::sleep(Duration::from_millis(600));
    gw.signal("TERM");
    let mut gw = gw;
    for w in workers {
        let (status, text, connection) = w.join().unwrap();
        assert_eq!(status, 200, "{text}");
        assert!(
            text.contains("mock reply") || text.contains("[DONE]"),
            "cut: {text}"
        );
        assert_eq!(
            connection.as_deref(),
            Some("close"),
            "draining responses must close"
        );
    }
    let status = gw
        .wait_exit(Duration::from_secs(10))
        .expect("gateway did not exit");
    assert!(status.success(), "exit status {status:?}");
    // No new connections once drained.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn shipped_examples_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = Command::new(bin("shardgate"))
                .args(["check", "--config"])
                .arg(&path)
                .env("OPENAI_API_KEY", "sk-a")
                .env("OPENAI_API_KEY_2", "sk-b")
                .env("GROQ_API_KEY", "gk")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stdout)
            );
            checked += 1;
        }
    }
    assert!(checked >= 2);
}

#[test]
fn json_logs_on_request() {
    let mock = mock(&[]);
    let dir = std::env::temp_dir().join(format!("shardgate-jsonlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    std::fs::write(&path, mock_config(mock.addr, "shards = 1", "")).unwrap();
    let mut cmd = Command::new(bin("shardgate"));
    cmd.arg("--config")
        .arg(&path)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"]);
    let gw = Proc::start_cmd(cmd);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let json_line = loop {
        let found = gw
            .output()
            .into_iter()
            .find(|l| l.starts_with('{') && l.contains("shard started"));
        if let Some(l) = found {
            break l;
        }
        assert!(std::time::Instant::now() < deadline, "{:?}", gw.output());
        std::thread::sleep(Duration::from_millis(20));
    };
    let v: serde_json::Value = serde_json::from_str(&json_line).expect("a JSON log line");
    assert_eq!(v["level"], "INFO");
    assert_eq!(v["fields"]["driver"], "io_uring");
}

#[test]
fn transparent_hugepages_are_off_for_the_gateway() {
    let mock = mock(&[]);
    let gw = gateway(&mock_config(mock.addr, "shards = 1", ""));
    let status = std::fs::read_to_string(format!("/proc/{}/status", gw.child.id())).unwrap();
    // Kernels since 6.x report the flag; older ones lack the line (nothing to check there).
    if let Some(line) = status.lines().find(|l| l.starts_with("THP_enabled:")) {
        assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
    }
}

#[test]
fn pin_cores_pins_each_shard_to_its_own_core() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mock = mock(&[]);
    let gw = gateway(&mock_config(mock.addr, "shards = 2\npin_cores = true", ""));
    assert_eq!(one_shot(gw.addr, "GET", "/health", "").status, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let allowed = loop {
        let mut allowed = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{}/task", gw.child.id())).unwrap() {
            let dir = task.unwrap().path();
            let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if name.starts_with("shardgate-shard") {
                let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
                let list = status
                    .lines()
                    .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                allowed.push(list);
            }
        }
        if allowed.len() == 2 || std::time::Instant::now() > deadline {
            break allowed;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(allowed.len(), 2, "{allowed:?}");
    if cores >= 2 {
        // Each shard on exactly one core, and not the same one.
        assert!(
            allowed.iter().all(|a| !a.contains(',') && !a.contains('-')),
            "{allowed:?}"
        );
        assert_ne!(allowed[0], allowed[1]);
    }
}

#[test]
fn sighup_reloads_without_dropping_connections() {
    let mock = mock(&[]);
    let write = |path: &std::path::Path, key: &str, target: &str, extra: &str| {
        std::fs::write(
            path,
            format!(
                "[server]\nshards = 1\n{extra}\n[[providers]]\nname = \"mock\"\nkind = \"openai-compatible\"\nbase_url = \"http://{}/v1\"\nkeys = [\"{key}\"]\n\n[[models]]\nname = \"fast\"\ntargets = [\"mock/{target}\"]\n",
                mock.addr
            ),
        )
        .unwrap();
    };
    let dir = std::env::temp_dir().join(format!("shardgate-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    write(&path, "key-a", "model-a", "");
    let mut cmd = Command::new(bin("shardgate"));
    cmd.arg("--config")
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"]);
    let gw = Proc::start_cmd(cmd);
    let fast = r#"{"model":"fast","messages":[]}"#;
    let mut c = Client::connect(gw.addr);
    let r = c.post_json("/v1/chat/completions", fast);
    assert_eq!(r.header("x-shardgate-model"), Some("model-a"));
    let (_, connections_before) = mock_requests(mock.addr);

    // A new key and alias target, and core pinning, which cannot change without a restart.
    write(&path, "key-b", "model-b", "pin_cores = true");
    gw.signal("HUP");
    // Nothing in flight while the shard installs it, so the pooled connection is carried over.
    gw.wait_for_output("configuration reloaded");
    let r = c.post_json("/v1/chat/completions", fast);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-shardgate-model"), Some("model-b"));
    let (reqs, connections_after) = mock_requests(mock.addr);
    let last = reqs.last().unwrap();
    assert_eq!(
        recorded_header(last, "authorization").as_deref(),
        Some("Bearer key-b")
    );
    // Same provider origin: the pooled upstream connection was carried over (only the two
    // inspection requests added connections).
    assert_eq!(connections_after, connections_before + 1);
    gw.wait_for_output("server.pin_cores stays");

    // An invalid file is refused; the running configuration stays.
    std::fs::write(&path, "[server]\nshards = \"many\"\n").unwrap();
    gw.signal("HUP");
    gw.wait_for_output("reload refused");
    let r = c.post_json("/v1/chat/completions", fast);
    assert_eq!(r.header("x-shardgate-model"), Some("model-b"));
}

#[test]
fn admin_reload_needs_the_token_and_refuses_bad_files() {
    let mock = mock(&[]);
    let dir = std::env::temp_dir().join(format!("shardgate-admin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    let write = |target: &str| {
        std::fs::write(
            &path,
            format!(
                "[server]\nshards = 2\nadmin_token = \"adm-secret\"\n\n[[providers]]\nname = \"mock\"\nkind = \"openai-compatible\"\nbase_url = \"http://{}/v1\"\nkeys = [\"k\"]\n\n[[models]]\nname = \"fast\"\ntargets = [\"mock/{target}\"]\n",
                mock.addr
            ),
        )
        .unwrap();
    };
    write("model-a");
    let mut cmd = Command::new(bin("shardgate"));
    cmd.arg("--config")
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"]);
    let gw = Proc::start_cmd(cmd);
    let mut c = Client::connect(gw.addr);
    let r = c.request("POST", "/admin/reload", &[], b"");
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "unauthorized");
    let r = c.request(
        "POST",
        "/admin/reload",
        &[("authorization", "Bearer wrong")],
        b"",
    );
    assert_eq!(r.status, 401);

    write("model-b");
    let r = c.request(
        "POST",
        "/admin/reload",
        &[("authorization", "Bearer adm-secret")],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "reloaded");
    // Both shards install it; a fresh connection may land on either.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ok = (0..6).all(|_| {
            one_shot(
                gw.addr,
                "POST",
                "/v1/chat/completions",
                r#"{"model":"fast","messages":[]}"#,
            )
            .header("x-shardgate-model")
                == Some("model-b")
        });
        if ok {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reload not applied on every shard"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    std::fs::write(
        &path,
        "[server]\nadmin_token = \"adm-secret\"\n[[providers]]\nname = \"x\"\n",
    )
    .unwrap();
    let r = c.request(
        "POST",
        "/admin/reload",
        &[("authorization", "Bearer adm-secret")],
        b"",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "invalid_config");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("providers[0]"));
    let r = one_shot(
        gw.addr,
        "POST",
        "/v1/chat/completions",
        r#"{"model":"fast","messages":[]}"#,
    );
    assert_eq!(r.header("x-shardgate-model"), Some("model-b"));
}

#[test]
fn admin_api_is_off_without_a_token() {
    let mock = mock(&[]);
    let gw = gateway(&mock_config(mock.addr, "shards = 1", ""));
    let r = one_shot(gw.addr, "POST", "/admin/reload", "");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["code"], "forbidden");
}
