//! Shards and process lifecycle: listeners, one thread and monoio runtime per shard, the io_uring
//! driver with an epoll fallback, signals, graceful drain.

pub mod conn;
pub mod control;
pub mod shard;
pub mod shutdown;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::{mpsc, oneshot};
use monoio::net::TcpListener;

use crate::config::Config;
use crate::gateway::{Gateway, SnapshotRequest};
use crate::upstream::dns::Resolver;
use control::Control;
use shard::Shard;
use std::sync::Arc;

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
    /// The file SIGHUP reloads (none with the embedded default).
    pub config_path: Option<std::path::PathBuf>,
    /// `--listen` from the command line, applied to reloaded files too.
    pub listen_override: Option<SocketAddr>,
    /// `--shards` from the command line, applied to reloaded files too.
    pub shards_override: Option<usize>,
    /// Where shards send admin requests (`run` sets it; embedders may leave it unset, which
    /// disables `/admin/reload`).
    pub control: Option<crossbeam_channel::Sender<control::Control>>,
}

/// A started gateway: its bound address and the handles to reload or stop it.
pub struct Running {
    /// The address the listeners are bound to (the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// Number of shards serving.
    pub shards: usize,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<usize>>,
    reloads: Vec<mpsc::UnboundedSender<Arc<Gateway>>>,
    peers: Vec<mpsc::UnboundedSender<SnapshotRequest>>,
    /// The configuration in force (what a reload compares against).
    config: Config,
    generation: u64,
}

impl Running {
    /// Replaces the configuration without dropping connections: requests in flight finish on the
    /// old one, new requests use `config`. Settings that need new sockets or threads (listen
    /// address, shard count, pinning) keep their old values and are reported in the result.
    pub fn reload(&mut self, mut config: Config) -> Result<Vec<String>, String> {
        let mut kept = Vec::new();
        let old = &self.config.server;
        if config.server.listen != old.listen {
            kept.push(format!("server.listen stays {} until restart", old.listen));
            config.server.listen = old.listen;
        }
        if config.server.shards != old.shards {
            kept.push(format!("server.shards stays {} until restart", old.shards));
            config.server.shards = old.shards;
        }
        if config.server.pin_cores != old.pin_cores {
            kept.push(format!(
                "server.pin_cores stays {} until restart",
                old.pin_cores
            ));
            config.server.pin_cores = old.pin_cores;
        }
        let gateway = Gateway::build(config.clone(), self.peers.clone(), self.generation + 1)?;
        self.generation += 1;
        self.config = config;
        for shard in &self.reloads {
            let _ = shard.unbounded_send(gateway.clone());
        }
        Ok(kept)
    }

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
/// SIGHUP and `POST /admin/reload` reload the configuration file.
pub fn run(config: Config, mut options: RunOptions) -> Result<(), String> {
    let banner = std::mem::take(&mut options.banner);
    let source = ReloadSource {
        path: options.config_path.clone(),
        listen: options.listen_override,
        shards: options.shards_override,
    };
    // Handlers first: a SIGTERM right after the banner must drain, not kill.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .map_err(|e| format!("installing signal handlers: {e}"))?;
    let signal_handle = signals.handle();
    let (control_tx, control_rx) = crossbeam_channel::unbounded::<Control>();
    let forward = control_tx.clone();
    std::thread::Builder::new()
        .name("shardgate-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if forward.send(Control::Signal(sig)).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| format!("starting the signal thread: {e}"))?;
    options.control = Some(control_tx);
    let mut running = start(config, options)?;
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

    for message in control_rx.iter() {
        match message {
            Control::Signal(signal_hook::consts::SIGHUP) => {
                let _ = reload_from_file(&mut running, &source);
            }
            Control::Signal(sig) => {
                tracing::info!(
                    signal = sig,
                    "draining: no new connections, finishing in-flight requests"
                );
                break;
            }
            Control::Reload(reply) => {
                let _ = reply.send(reload_from_file(&mut running, &source));
            }
        }
    }
    signal_handle.close();
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
    let (reloads, reload_receivers): (Vec<_>, Vec<_>) = (0..shards)
        .map(|_| mpsc::unbounded::<Arc<Gateway>>())
        .unzip();
    let pin = config.server.pin_cores;
    let drain_timeout = Duration::from_millis(config.server.drain_timeout_ms);
    let gateway = Gateway::build(config.clone(), peers.clone(), 0)?;
    let resolver = Resolver::start().map_err(|e| format!("starting the DNS thread: {e}"))?;
    let cores = if pin {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let forced = std::env::var("SHARDGATE_IO_DRIVER").ok();
    let seed = options.seed.unwrap_or_else(|| fastrand::u64(..));

    let mut stops = Vec::with_capacity(shards);
    let mut threads = Vec::with_capacity(shards);
    let channels = receivers.into_iter().zip(reload_receivers);
    for (id, (listener, (snapshots, reloads))) in listeners.into_iter().zip(channels).enumerate() {
        let (stop_tx, stop) = oneshot::channel::<()>();
        stops.push(stop_tx);
        let gateway = gateway.clone();
        let resolver = resolver.clone();
        let control = options.control.clone();
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
                let shard = Shard::new(id, gateway, resolver, seed, control);
                let channels = ShardChannels {
                    snapshots,
                    reloads,
                    stop,
                };
                run_shard(shard, listener, channels, drain_timeout, forced.as_deref())
            })
            .map_err(|e| format!("starting shard {id}: {e}"))?;
        threads.push(thread);
    }

    Ok(Running {
        addr: bound,
        shards,
        stops,
        threads,
        reloads,
        peers,
        config,
        generation: 0,
    })
}

/// What a shard listens to besides its socket.
struct ShardChannels {
    snapshots: mpsc::UnboundedReceiver<SnapshotRequest>,
    reloads: mpsc::UnboundedReceiver<Arc<Gateway>>,
    stop: oneshot::Receiver<()>,
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
    channels: ShardChannels,
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
                return rt.block_on(shard_main(shard, listener, channels, drain_timeout));
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
            rt.block_on(shard_main(shard, listener, channels, drain_timeout))
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
    channels: ShardChannels,
    drain_timeout: Duration,
) -> usize {
    let ShardChannels {
        snapshots,
        reloads,
        mut stop,
    } = channels;
    let shard = Rc::new(shard);
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(shard = shard.id, "listener: {e}");
            return 0;
        }
    };
    monoio::spawn(shard.clone().serve_snapshots(snapshots));
    monoio::spawn(shard.clone().serve_reloads(reloads));
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

/// Where a reload reads from: the file and the command-line overrides.
struct ReloadSource {
    path: Option<std::path::PathBuf>,
    listen: Option<SocketAddr>,
    shards: Option<usize>,
}

/// Reloads the configuration file into `running`, logging the outcome. An invalid file is
/// refused and the running configuration stays.
fn reload_from_file(running: &mut Running, source: &ReloadSource) -> control::ReloadResult {
    let Some(path) = &source.path else {
        let msg = "running on the embedded default: there is no configuration file to reload";
        tracing::warn!("reload: {msg}");
        return Err(msg.to_string());
    };
    let result = match Config::load_file(path) {
        Ok(mut config) => {
            if let Some(l) = source.listen {
                config.server.listen = l;
            }
            if let Some(n) = source.shards {
                config.server.shards = n;
            }
            running.reload(config)
        }
        Err(errors) => Err(errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ")),
    };
    match &result {
        Ok(kept) => {
            for k in kept {
                tracing::warn!("reload: {k}");
            }
            tracing::info!(path = %path.display(), "reload accepted");
        }
        Err(e) => tracing::error!("reload refused, the running configuration stays: {e}"),
    }
    result
}

/// The shard count `run` would use for `config` (for the banner and tests).
pub fn shard_count(config: &Config) -> usize {
    match config.server.shards {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}
