//! shardgate: a thread-per-core LLM gateway on monoio and io_uring.
//!
//! Module map (one module per pipeline stage; see docs/architecture.md):
//! - [`server`]: shards, listeners, signals; `server::conn` is stage 1 (receive)
//! - [`http`]: the HTTP/1.1 codec shared by server and client
//! - [`pipeline`]: routes, resolve, forward, relay, respond (stages 3, 6–9)
//! - [`providers`]: one file per provider wire format
//! - [`upstream`]: pooled HTTP/1.1 client with TLS
//! - [`metrics`]: per-shard counters and histograms, Prometheus exposition
//! - [`config`]: TOML configuration, `${VAR}` interpolation, validation, the embedded default
//! - [`json_scan`]: one-pass JSON validation and field splicing for the passthrough path
//! - [`error`]: the gateway's one error type

pub mod cache;
pub mod config;
pub mod error;
pub mod gateway;
pub mod http;
pub mod json_scan;
pub mod metrics;
pub mod pipeline;
pub mod providers;
pub mod routing;
pub mod server;
pub mod translate;
pub mod upstream;
