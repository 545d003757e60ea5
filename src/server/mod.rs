//! Shards and process lifecycle: listeners, one thread and monoio runtime per shard, the io_uring
//! driver with an epoll fallback, signals, graceful drain.

pub mod conn;
pub mod shard;
pub mod shutdown;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::{mpsc, oneshot};
use monoio::net::TcpListener;

use crate::config::Config;
use crate::gateway::{Gateway, SnapshotRequest};
use shard::Shard;

/// Which event-loop driver a shard runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// io_uring (the default where the kernel allows it).
    IoUring,
    /// epoll, through monoio's legacy driver.
    Epoll,
}

impl Driver {
    /// Its name in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::IoUring => "io_uring",
            Driver::Epoll => "epoll",
        }
    }
}

/// Options from the command line that are not part of the configuration file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Lines printed before `listening on ...` (what the embedded default registered).
    pub banner: Vec<String>,
    /// Seed for the shards' random choices (`SHARDGATE_SEED`); random when `None`.
    pub seed: Option<u64>,
}

/// A started gateway: its bound address and the handles to stop it.
pub struct Running {
    /// The address the listeners are bound to (the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// Number of shards serving.
    pub shards: usize,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<usize>>,
}

impl Running {
    /// Drains every shard (stop accepting, finish in-flight requests within the drain timeout)
    /// and joins them; returns the number of connections still open when the timeout ended.
    pub fn shutdown(self) -> usize {
        for s in self.stops {
            let _ = s.send(());
        }
        self.threads
            .into_iter()
            .map(|t| t.join().unwrap_or(0))
            .sum()
    }
}

/// Binds the listeners, starts the shards and serves until SIGTERM/SIGINT, then drains.
pub fn run(config: Config, options: RunOptions) -> Result<(), String> {
    let banner = options.banner.clone();
    // Handlers first: a SIGTERM right after the banner must drain, not kill.
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .map_err(|e| format!("installing signal handlers: {e}"))?;
    let running = start(config, options)?;
    let bound = running.addr;
    for line in &banner {
        eprintln!("{line}");
    }
    eprintln!(
        "shardgate {} with {} shard(s)",
        env!("CARGO_PKG_VERSION"),
        running.shards
    );
    eprintln!("listening on {bound}");
    eprintln!("  OpenAI SDK: base_url=\"http://{bound}/v1\"");

    wait_for_signal(signals);
    let left = running.shutdown();
    if left > 0 {
        tracing::warn!("drain timeout: {left} connection(s) were still open");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Binds the listeners and starts the shards; returns at once with a handle to stop them.
pub fn start(config: Config, options: RunOptions) -> Result<Running, String> {
    let shards = shard_count(&config);
    let listeners = bind_listeners(config.server.listen, shards)?;
    let bound = listeners
        .first()
        .and_then(|l| l.local_addr().ok())
        .ok_or("no listener bound")?;
    let (peers, receivers): (Vec<_>, Vec<_>) = (0..shards)
        .map(|_| mpsc::unbounded::<SnapshotRequest>())
        .unzip();
    let pin = config.server.pin_cores;
    let drain_timeout = Duration::from_millis(config.server.drain_timeout_ms);
    let gateway = Gateway::build(config, peers)?;
    let cores = if pin {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let forced = std::env::var("SHARDGATE_IO_DRIVER").ok();
    let seed = options.seed.unwrap_or_else(|| fastrand::u64(..));

    let mut stops = Vec::with_capacity(shards);
    let mut threads = Vec::with_capacity(shards);
    for (id, (listener, snapshots)) in listeners.into_iter().zip(receivers).enumerate() {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        stops.push(stop_tx);
        let gateway = gateway.clone();
        let core = cores.get(id % cores.len().max(1)).copied();
        let forced = forced.clone();
        let thread = std::thread::Builder::new()
            .name(format!("shardgate-shard-{id}"))
            .spawn(move || {
                if let Some(core) = core {
                    if !core_affinity::set_for_current(core) {
                        tracing::warn!(shard = id, "could not pin to core {}", core.id);
                    }
                }
                let shard = Shard::new(id, gateway, seed);
                run_shard(
                    shard,
                    listener,
                    snapshots,
                    stop_rx,
                    drain_timeout,
                    forced.as_deref(),
                )
            })
            .map_err(|e| format!("starting shard {id}: {e}"))?;
        threads.push(thread);
    }

    Ok(Running {
        addr: bound,
        shards,
        stops,
        threads,
    })
}

/// Binds one `SO_REUSEPORT` listener per shard on the same address (the kernel spreads
/// connections across them). With port 0 the first picks a port and the rest join it.
fn bind_listeners(addr: SocketAddr, count: usize) -> Result<Vec<std::net::TcpListener>, String> {
    let mut out = Vec::with_capacity(count);
    let mut addr = addr;
    for _ in 0..count {
        let sock = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )
        .map_err(|e| format!("socket: {e}"))?;
        sock.set_reuse_address(true)
            .map_err(|e| format!("SO_REUSEADDR: {e}"))?;
        sock.set_reuse_port(true)
            .map_err(|e| format!("SO_REUSEPORT: {e}"))?;
        sock.set_nonblocking(true)
            .map_err(|e| format!("O_NONBLOCK: {e}"))?;
        sock.bind(&addr.into())
            .map_err(|e| format!("binding {addr}: {e}"))?;
        sock.listen(4096)
            .map_err(|e| format!("listen on {addr}: {e}"))?;
        let listener: std::net::TcpListener = sock.into();
        if let Ok(bound) = listener.local_addr() {
            addr = bound;
        }
        out.push(listener);
    }
    Ok(out)
}

/// Builds the shard's runtime (io_uring unless unavailable or `forced` says otherwise) and serves.
/// Returns the number of connections still open when the drain timeout ended.
fn run_shard(
    shard: Shard,
    listener: std::net::TcpListener,
    snapshots: mpsc::UnboundedReceiver<SnapshotRequest>,
    stop: oneshot::Receiver<()>,
    drain_timeout: Duration,
    forced: Option<&str>,
) -> usize {
    let id = shard.id;
    let want_uring = !matches!(forced, Some("epoll") | Some("legacy"));
    if want_uring {
        match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .with_entries(4096)
            .enable_timer()
            .build()
        {
            Ok(mut rt) => {
                tracing::info!(
                    shard = id,
                    driver = Driver::IoUring.as_str(),
                    "shard started"
                );
                return rt.block_on(shard_main(shard, listener, snapshots, stop, drain_timeout));
            }
            Err(e) => {
                tracing::warn!(
                    shard = id,
                    "io_uring unavailable ({e}); falling back to epoll"
                );
            }
        }
    }
    match monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
    {
        Ok(mut rt) => {
            tracing::info!(shard = id, driver = Driver::Epoll.as_str(), "shard started");
            rt.block_on(shard_main(shard, listener, snapshots, stop, drain_timeout))
        }
        Err(e) => {
            tracing::error!(shard = id, "could not build any runtime: {e}");
            0
        }
    }
}

async fn shard_main(
    shard: Shard,
    listener: std::net::TcpListener,
    snapshots: mpsc::UnboundedReceiver<SnapshotRequest>,
    mut stop: oneshot::Receiver<()>,
    drain_timeout: Duration,
) -> usize {
    let shard = Rc::new(shard);
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(shard = shard.id, "listener: {e}");
            return 0;
        }
    };
    monoio::spawn(shard.clone().serve_snapshots(snapshots));
    loop {
        monoio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    monoio::spawn(conn::serve(shard.clone(), stream));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(shard = shard.id, "accept failed: {e}");
                    monoio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = &mut stop => break,
        }
    }
    drop(listener);
    shard.drain.start();
    shard.wait_for_connections(drain_timeout).await
}

/// Blocks until SIGTERM or SIGINT.
fn wait_for_signal(mut signals: signal_hook::iterator::Signals) {
    if let Some(sig) = signals.forever().next() {
        tracing::info!(
            signal = sig,
            "draining: no new connections, finishing in-flight requests"
        );
    }
}

/// The shard count `run` would use for `config` (for the banner and tests).
pub fn shard_count(config: &Config) -> usize {
    match config.server.shards {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}
