//! Name resolution off the event loop.
//!
//! `getaddrinfo` blocks, so shards never call it: they hand the name to a dedicated resolver thread
//! over a `crossbeam` channel and await the answer on a oneshot. Answers are cached per shard for
//! `CACHE_TTL`, so a shard asks at most once a minute per provider.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use futures_channel::oneshot;

/// How long a resolved address list is reused.
const CACHE_TTL: Duration = Duration::from_secs(60);

struct Query {
    host: String,
    port: u16,
    reply: oneshot::Sender<std::io::Result<Vec<SocketAddr>>>,
}

/// Handle to the resolver thread; cloneable into every shard.
#[derive(Clone)]
pub struct Resolver {
    tx: crossbeam_channel::Sender<Query>,
}

impl Resolver {
    /// Starts the resolver thread.
    pub fn start() -> std::io::Result<Resolver> {
        let (tx, rx) = crossbeam_channel::unbounded::<Query>();
        std::thread::Builder::new()
            .name("shardgate-dns".into())
            .spawn(move || {
                for q in rx {
                    let answer = (q.host.as_str(), q.port)
                        .to_socket_addrs()
                        .map(|it| it.collect::<Vec<_>>());
                    let _ = q.reply.send(answer);
                }
            })?;
        Ok(Resolver { tx })
    }

    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Query {
                host: host.to_string(),
                port,
                reply,
            })
            .map_err(|_| std::io::Error::other("resolver thread is gone"))?;
        answer
            .await
            .map_err(|_| std::io::Error::other("resolver dropped the query"))?
    }
}

/// Resolved addresses of one `(host, port)` and when they were resolved.
type CacheEntry = (Vec<SocketAddr>, Instant);

/// A shard's cache of resolved provider addresses.
pub struct DnsCache {
    resolver: Resolver,
    entries: RefCell<HashMap<(String, u16), CacheEntry>>,
}

impl DnsCache {
    /// An empty cache backed by `resolver`.
    pub fn new(resolver: Resolver) -> DnsCache {
        DnsCache {
            resolver,
            entries: RefCell::new(HashMap::new()),
        }
    }

    /// The addresses of `host:port` in resolver order, from the cache when fresh.
    pub async fn lookup(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let now = Instant::now();
        if let Some((addrs, at)) = self.entries.borrow().get(&(host.to_string(), port)) {
            if now.duration_since(*at) < CACHE_TTL && !addrs.is_empty() {
                return Ok(addrs.clone());
            }
        }
        let addrs = self.resolver.resolve(host, port).await?;
        if addrs.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{host} has no address"),
            ));
        }
        self.entries
            .borrow_mut()
            .insert((host.to_string(), port), (addrs.clone(), now));
        Ok(addrs)
    }

    /// Forgets `host:port`, after a connect to its cached address failed.
    pub fn forget(&self, host: &str, port: u16) {
        self.entries.borrow_mut().remove(&(host.to_string(), port));
    }
}
