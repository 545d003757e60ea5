//! Test harness: start the real `shardgate` binary and the project's mock provider on loopback,
//! and talk HTTP/1.1 to them with a small blocking client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Path of a binary built next to `shardgate` (cargo builds all workspace bins before tests).
pub fn bin(name: &str) -> PathBuf {
    let gw = PathBuf::from(env!("CARGO_BIN_EXE_shardgate"));
    let path = gw.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// A child process that is killed when dropped, with its output lines collected.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    pub lines: mpsc::Receiver<String>,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Proc {
    /// Starts `cmd` and waits for its `listening on` banner.
    pub fn start_cmd(mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        let (tx, rx) = mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        for stream in [
            Box::new(out) as Box<dyn Read + Send>,
            Box::new(err) as Box<dyn Read + Send>,
        ] {
            let tx = tx.clone();
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line.clone());
                    if line.starts_with("listening on ") {
                        let _ = tx.send(line);
                    }
                }
            });
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let addr = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("listening on ") {
                        break a.trim().parse().expect("banner address");
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("no banner; output: {:?}", log.lock().unwrap());
                }
            }
        };
        Proc {
            child,
            addr,
            lines: rx,
            log,
        }
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (bounded) until the output contains `needle`; logs arrive through a writer thread.
    pub fn wait_for_output(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.output().join("\n");
            if out.contains(needle) {
                return out;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {needle:?} in: {out}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for exit (bounded).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `loadtest mock` with extra arguments.
pub fn mock(args: &[&str]) -> Proc {
    let mut cmd = Command::new(bin("loadtest"));
    cmd.args(["mock", "--listen", "127.0.0.1:0"]).args(args);
    Proc::start_cmd(cmd)
}

/// Starts the gateway with `config` (TOML text) written to a temp file.
pub fn gateway(config: &str) -> Proc {
    gateway_with_env(config, &[])
}

/// Starts the gateway with `config` and extra environment variables.
pub fn gateway_with_env(config: &str, env: &[(&str, &str)]) -> Proc {
    let dir = std::env::temp_dir().join(format!(
        "shardgate-test-{}-{}",
        std::process::id(),
        fastrand_u64()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(bin("shardgate"));
    cmd.arg("--config")
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"])
        .env("SHARDGATE_SEED", "42");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc::start_cmd(cmd)
}

fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(42);
    h.finish()
}

/// A config with one OpenAI-compatible provider `mock` pointing at `mock`, plus `extra` TOML.
pub fn mock_config(mock: SocketAddr, server: &str, provider_extra: &str) -> String {
    format!(
        "[server]\n{server}\n\n[[providers]]\nname = \"mock\"\nkind = \"openai-compatible\"\nbase_url = \"http://{mock}/v1\"\nkeys = [\"sk-provider\"]\nmodels = [\"gpt-4o-mini\"]\n{provider_extra}\n"
    )
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub chunked: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// A keep-alive client connection.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send_raw(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).expect("write");
    }

    /// Reads more bytes; returns 0 at EOF.
    fn fill(&mut self) -> usize {
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp) {
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                n
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("read: {e}"),
        }
    }

    /// Whether the server closed the connection (EOF with nothing buffered).
    pub fn is_closed(&mut self) -> bool {
        self.buf.is_empty() && self.fill() == 0
    }

    /// Reads the head of a response to HEAD (no body follows, whatever Content-Length says).
    pub fn read_head_only(&mut self) -> (u16, String) {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            assert!(self.fill() > 0, "closed before a response head");
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end);
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, head)
    }

    /// Reads one response (Content-Length, chunked, or until close).
    pub fn read_response(&mut self) -> Response {
        self.try_read_response()
            .expect("connection closed before a response")
    }

    /// Like `read_response`, but `None` if the connection closes first.
    pub fn try_read_response(&mut self) -> Option<Response> {
        loop {
            let head_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                    break i + 4;
                }
                if self.fill() == 0 {
                    return None;
                }
            };
            let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
            self.buf.drain(..head_end);
            let mut lines = head.split("\r\n");
            let status_line = lines.next().unwrap_or_default();
            let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
            let headers: Vec<(String, String)> = lines
                .filter(|l| !l.is_empty())
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .collect();
            if (100..200).contains(&status) {
                continue;
            }
            let get = |n: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(n))
                    .map(|(_, v)| v.clone())
            };
            let chunked = get("transfer-encoding").is_some_and(|v| v.contains("chunked"));
            let body = if chunked {
                self.read_chunked()?
            } else if let Some(len) = get("content-length") {
                let len: usize = len.parse().ok()?;
                while self.buf.len() < len {
                    if self.fill() == 0 {
                        return None;
                    }
                }
                self.buf.drain(..len).collect()
            } else {
                while self.fill() > 0 {}
                std::mem::take(&mut self.buf)
            };
            return Some(Response {
                status,
                headers,
                body,
                chunked,
            });
        }
    }

    fn read_chunked(&mut self) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                if self.fill() == 0 {
                    return None;
                }
            };
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            self.buf.drain(..line_end + 2);
            if size == 0 {
                while find(&self.buf, b"\r\n").is_none() {
                    if self.fill() == 0 {
                        return None;
                    }
                }
                let end = find(&self.buf, b"\r\n")?;
                self.buf.drain(..end + 2);
                return Some(body);
            }
            while self.buf.len() < size + 2 {
                if self.fill() == 0 {
                    return None;
                }
            }
            body.extend(self.buf.drain(..size));
            self.buf.drain(..2);
        }
    }

    /// Sends a request and reads the response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.send_raw(&build_request(method, path, headers, body));
        self.read_response()
    }

    /// POSTs JSON.
    pub fn post_json(&mut self, path: &str, body: &str) -> Response {
        self.request(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
    }
}

/// Formats a request with Content-Length framing.
pub fn build_request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: test\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if method != "GET" || !body.is_empty() {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request on a fresh connection.
pub fn one_shot(addr: SocketAddr, method: &str, path: &str, body: &str) -> Response {
    Client::connect(addr).request(
        method,
        path,
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
}

/// What the mock received: (requests, connections accepted).
pub fn mock_requests(mock: SocketAddr) -> (Vec<serde_json::Value>, u64) {
    let r = one_shot(mock, "GET", "/_mock/requests", "");
    let v = r.json();
    (
        v["requests"].as_array().cloned().unwrap_or_default(),
        v["connections"].as_u64().unwrap_or(0),
    )
}

/// Clears the mock's records.
pub fn mock_reset(mock: SocketAddr) {
    let r = one_shot(mock, "DELETE", "/_mock/requests", "");
    assert!(r.status < 300, "mock reset failed: {}", r.status);
}

/// A header value from a recorded mock request.
pub fn recorded_header(req: &serde_json::Value, name: &str) -> Option<String> {
    req["headers"].as_array()?.iter().find_map(|h| {
        let pair = h.as_array()?;
        let n = pair.first()?.as_str()?;
        n.eq_ignore_ascii_case(name)
            .then(|| pair.get(1)?.as_str().map(str::to_string))
            .flatten()
    })
}

pub const CHAT: &str =
    r#"{"model":"mock/gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}"#;
