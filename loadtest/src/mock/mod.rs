//! `loadtest mock`: a fast mock LLM provider speaking the OpenAI, Anthropic, Gemini, Cohere v2 and
//! AWS Bedrock (Converse) formats, streaming included, with fault injection chosen by model name and
//! an inspection endpoint.
//!
//! Thread-per-core on monoio: each of `--threads` threads runs its own runtime (io_uring, or epoll
//! when io_uring is unavailable) and its own `SO_REUSEPORT` listener on the same address.
//!
//! With `--tls-cert` and `--tls-key` every listener serves HTTPS instead (TLS 1.2/1.3, rustls);
//! routes, faults, inspection, keep-alive, pipelining and streaming behave the same.
//!
//! Layout: [`http`] is the HTTP/1.1 codec, [`routes`] picks the answer, [`formats`] writes the
//! dialects, [`eventstream`] frames Bedrock's binary event stream, [`faults`] reads the fault names,
//! [`inspect`] records requests, [`server`] runs connections (plain or TLS), [`tls`] loads the
//! certificate.

mod eventstream;
mod faults;
mod formats;
mod http;
mod inspect;
mod routes;
mod server;
mod text;
mod tls;

use std::io::{self, Write as _};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::thread;

use monoio::net::{ListenerOpts, TcpListener};
use monoio_rustls::TlsAcceptor;

use inspect::Shared;
use routes::Ctx;

/// Which monoio driver to run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// io_uring when the kernel allows it, else epoll.
    Auto,
    /// epoll only.
    Legacy,
}

/// Flags of `loadtest mock`.
#[derive(clap::Args, Debug, Clone)]
pub struct MockArgs {
    /// Address to listen on; port 0 picks a free port (printed as `listening on ADDR`).
    #[arg(long, default_value = "127.0.0.1:8089")]
    pub listen: String,
    /// Delay before every model response's head, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Content chunks per streamed response (the reply has max(N, 4) words).
    #[arg(long, default_value_t = 8)]
    pub stream_chunks: usize,
    /// Delay between streamed events, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub chunk_delay_ms: u64,
    /// Worker threads, each with its own runtime and SO_REUSEPORT listener.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Extra delay for models whose name contains `slow`, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub slow_ms: u64,
    /// Do not record requests for `GET /_mock/requests` (for load tests).
    #[arg(long)]
    pub no_record: bool,
    /// Requests recorded per thread (the oldest are dropped).
    #[arg(long, default_value_t = 1000)]
    pub record_cap: usize,
    /// I/O driver.
    #[arg(long, value_enum, default_value_t = Driver::Auto)]
    pub driver: Driver,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs `--tls-key`.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `--tls-cert`.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Settings the request handlers read.
#[derive(Debug, Clone)]
pub struct Config {
    /// `--latency-ms`.
    pub latency_ms: u64,
    /// `--slow-ms`.
    pub slow_ms: u64,
    /// `--stream-chunks` (at least 1).
    pub stream_chunks: usize,
    /// `--chunk-delay-ms`.
    pub chunk_delay_ms: u64,
}

/// Runs the mock until killed; returns the process exit code on a startup failure (2 for an
/// unusable `--tls-cert` / `--tls-key`, reported before the `listening on` line).
pub fn run(args: MockArgs) -> i32 {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match tls::acceptor(cert, key) {
            Ok(acceptor) => Some(acceptor),
            Err(e) => {
                eprintln!("mock: {e}");
                return 2;
            }
        },
        (None, None) => None,
        _ => {
            eprintln!("mock: --tls-cert and --tls-key go together");
            return 2;
        }
    };
    match start(&args, tls) {
        Ok(handles) => {
            for h in handles {
                let _ = h.join();
            }
            1
        }
        Err(e) => {
            eprintln!("mock: {e}");
            1
        }
    }
}

fn start(args: &MockArgs, tls: Option<TlsAcceptor>) -> io::Result<Vec<thread::JoinHandle<()>>> {
    let addr: SocketAddr = args.listen.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "--listen resolves to nothing")
    })?;
    let threads = args.threads.max(1);
    let cfg = Arc::new(Config {
        latency_ms: args.latency_ms,
        slow_ms: args.slow_ms,
        stream_chunks: args.stream_chunks.max(1),
        chunk_delay_ms: args.chunk_delay_ms,
    });
    let shared = Arc::new(Shared::new(threads, !args.no_record, args.record_cap));
    let mut handles = Vec::with_capacity(threads);
    let mut bound = addr;
    for i in 0..threads {
        // Thread 0 binds first (resolving port 0); the others join its port with SO_REUSEPORT.
        let (tx, rx) = mpsc::channel();
        let (cfg, shared, driver, tls) = (cfg.clone(), shared.clone(), args.driver, tls.clone());
        let h = thread::Builder::new()
            .name(format!("mock-{i}"))
            .spawn(move || worker(i, bound, driver, cfg, shared, tls, tx))?;
        bound = rx.recv().map_err(|_| io::Error::other("worker died"))??;
        handles.push(h);
    }
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "listening on {bound}")?;
    stdout.flush()?;
    Ok(handles)
}

fn worker(
    i: usize,
    addr: SocketAddr,
    driver: Driver,
    cfg: Arc<Config>,
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    tx: mpsc::Sender<io::Result<SocketAddr>>,
) {
    type Rt = monoio::FusionRuntime<
        monoio::time::TimeDriver<monoio::IoUringDriver>,
        monoio::time::TimeDriver<monoio::LegacyDriver>,
    >;
    let legacy = || -> io::Result<Rt> {
        Ok(monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()?
            .into())
    };
    let rt: io::Result<Rt> = match driver {
        Driver::Legacy => legacy(),
        Driver::Auto => monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .or_else(|_| legacy()),
    };
    let mut rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            let _ = tx.send(Err(e));
            return;
        }
    };
    let kind = match rt {
        monoio::FusionRuntime::Uring(_) => "io_uring",
        monoio::FusionRuntime::Legacy(_) => "epoll",
    };
    rt.block_on(async move {
        let opts = ListenerOpts::new().reuse_port(true).backlog(4096);
        let listener = match TcpListener::bind_with_config(addr, &opts) {
            Ok(l) => l,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        if i == 0 {
            eprintln!("mock: {kind} driver");
        }
        let _ = tx.send(listener.local_addr());
        let ctx = Rc::new(Ctx::new(cfg, shared, i));
        server::accept_loop(listener, ctx, tls).await;
    });
}
