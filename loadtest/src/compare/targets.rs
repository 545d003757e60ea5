//! Starting what `compare` measures: the mock provider, shardgate, nginx `proxy_pass` and a
//! LiteLLM proxy, each with a generated configuration in the run's temporary directory.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::procs::{free_port, wait_for_port, Proc};

/// How long a process may take to come up.
const START_LIMIT: Duration = Duration::from_secs(20);
/// LiteLLM imports a lot of Python before it listens.
const LITELLM_START_LIMIT: Duration = Duration::from_secs(120);

/// Settings the targets are started with.
#[derive(Debug, Clone)]
pub struct Env {
    /// Holds the `shardgate` binary.
    pub bin_dir: PathBuf,
    /// The run's temporary directory.
    pub dir: PathBuf,
    /// Gateway shards.
    pub shards: usize,
    /// Mock threads.
    pub mock_threads: usize,
    /// Mock `--latency-ms`.
    pub mock_latency_ms: u64,
    /// Streaming mode (nginx then does not buffer).
    pub stream: bool,
}

/// A started target: where to send, which model to ask for, and which process to watch.
pub struct Target {
    /// `direct`, `shardgate`, `nginx` or `litellm`.
    pub name: String,
    /// `host:port`.
    pub addr: String,
    /// Model name in requests.
    pub model: String,
    /// Extra request headers.
    pub headers: Vec<String>,
    /// The highest rate it is run at (requested rates above it are capped).
    pub max_rate: Option<f64>,
    /// The most connections (in-flight requests) it is given.
    pub max_connections: Option<usize>,
    /// Root of the process tree whose CPU and memory are measured.
    pub pid: u32,
    /// The process (`None` for `direct`, whose process is the mock).
    pub proc: Option<Proc>,
}

impl Target {
    /// The chat-completions URL.
    pub fn url(&self) -> String {
        format!("http://{}/v1/chat/completions", self.addr)
    }
}

/// Whether an executable named `name` is on `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Starts `loadtest mock` (this binary) and returns it with its address.
pub fn start_mock(env: &Env) -> io::Result<(Proc, String)> {
    // This very binary is the mock.
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["mock", "--listen", "127.0.0.1:0", "--no-record"])
        .arg("--threads")
        .arg(env.mock_threads.to_string())
        .arg("--latency-ms")
        .arg(env.mock_latency_ms.to_string());
    let mut p = Proc::spawn("mock", &mut cmd, &env.dir.join("mock.log"))?;
    let addr = p.wait_for_line("listening on ", START_LIMIT)?;
    Ok((p, addr))
}

/// The `direct` target: the mock itself.
pub fn direct(mock_addr: &str, mock_pid: u32) -> Target {
    Target {
        name: "direct".into(),
        addr: mock_addr.into(),
        model: "gpt-4o-mini".into(),
        headers: Vec::new(),
        max_rate: None,
        max_connections: None,
        pid: mock_pid,
        proc: None,
    }
}

/// Starts the release shardgate in front of the mock.
pub fn start_shardgate(env: &Env, mock_addr: &str) -> io::Result<Target> {
    let exe = env.bin_dir.join("shardgate");
    if !exe.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} not found: build it with `cargo build --release --bin shardgate` (or pass --bin-dir)",
                exe.display()
            ),
        ));
    }
    let conf = env.dir.join("shardgate.toml");
    fs::write(
        &conf,
        format!(
            "[server]\nshards = {}\n\n[[providers]]\nname = \"mock\"\nkind = \"openai-compatible\"\n\
             base_url = \"http://{mock_addr}/v1\"\nkeys = [\"sk-bench\"]\n",
            env.shards
        ),
    )?;
    let mut cmd = Command::new(exe);
    cmd.arg("--config")
        .arg(&conf)
        .args(["--listen", "127.0.0.1:0", "--shards"])
        .arg(env.shards.to_string());
    let mut p = Proc::spawn("shardgate", &mut cmd, &env.dir.join("shardgate.log"))?;
    let addr = p.wait_for_line("listening on ", START_LIMIT)?;
    let addr = addr
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    Ok(Target {
        name: "shardgate".into(),
        addr,
        model: "mock/gpt-4o-mini".into(),
        headers: Vec::new(),
        max_rate: None,
        max_connections: None,
        pid: p.pid(),
        proc: Some(p),
    })
}

/// The nginx configuration: one worker, an upstream keep-alive pool of 64, no access log.
pub fn nginx_conf(dir: &Path, port: u16, mock_addr: &str, stream: bool) -> String {
    let d = dir.display();
    let buffering = if stream { "off" } else { "on" };
    format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 8192; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         \x20 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         \x20 client_body_buffer_size 64k;\n  keepalive_requests 1000000;\n\
         \x20 upstream mock {{\n    server {mock_addr};\n    keepalive 64;\n    keepalive_requests 1000000;\n  }}\n\
         \x20 server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://mock;\n\
         \x20     proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n\
         \x20     proxy_buffering {buffering};\n    }}\n  }}\n}}\n"
    )
}

/// Starts nginx in the foreground as our own process, proxying to the mock.
pub fn start_nginx(env: &Env, nginx: &Path, mock_addr: &str) -> io::Result<Target> {
    let dir = env.dir.join("nginx");
    fs::create_dir_all(&dir)?;
    let port = free_port()?;
    let conf = dir.join("nginx.conf");
    fs::write(&conf, nginx_conf(&dir, port, mock_addr, env.stream))?;
    let mut cmd = Command::new(nginx);
    cmd.arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(dir.join("error.log"));
    let mut p = Proc::spawn("nginx", &mut cmd, &env.dir.join("nginx.log"))?;
    let addr = format!("127.0.0.1:{port}");
    wait_for_port(&mut p, &addr, START_LIMIT)?;
    Ok(Target {
        name: "nginx".into(),
        addr,
        model: "gpt-4o-mini".into(),
        headers: Vec::new(),
        max_rate: None,
        max_connections: None,
        pid: p.pid(),
        proc: Some(p),
    })
}

/// Starts a LiteLLM proxy (one worker) routing `gpt-4o-mini` to the mock.
pub fn start_litellm(
    env: &Env,
    litellm: &Path,
    mock_addr: &str,
    max_rate: f64,
    max_connections: usize,
) -> io::Result<Target> {
    let conf = env.dir.join("litellm.yaml");
    fs::write(
        &conf,
        format!(
            "model_list:\n  - model_name: gpt-4o-mini\n    litellm_params:\n      model: openai/gpt-4o-mini\n\
             \x20     api_base: http://{mock_addr}/v1\n      api_key: sk-bench\n"
        ),
    )?;
    let port = free_port()?;
    let mut cmd = Command::new(litellm);
    cmd.arg("--config")
        .arg(&conf)
        .args(["--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(["--num_workers", "1"]);
    let mut p = Proc::spawn("litellm", &mut cmd, &env.dir.join("litellm.log"))?;
    let addr = format!("127.0.0.1:{port}");
    wait_for_port(&mut p, &addr, LITELLM_START_LIMIT)?;
    Ok(Target {
        name: "litellm".into(),
        addr,
        model: "gpt-4o-mini".into(),
        headers: vec!["Authorization: Bearer sk-bench".into()],
        max_rate: Some(max_rate),
        max_connections: Some(max_connections),
        pid: p.pid(),
        proc: Some(p),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_conf_has_the_pool() {
        let c = nginx_conf(Path::new("/tmp/x"), 8080, "127.0.0.1:9", false);
        for needle in [
            "daemon off;",
            "worker_processes 1;",
            "access_log off;",
            "keepalive 64;",
            "proxy_http_version 1.1;",
            "proxy_set_header Connection \"\";",
            "listen 127.0.0.1:8080;",
            "server 127.0.0.1:9;",
        ] {
            assert!(c.contains(needle), "{needle} missing in\n{c}");
        }
    }
}
