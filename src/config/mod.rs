//! Gateway configuration: the TOML file format (`docs/configuration.md`),
//! `${VAR}` interpolation, validation that reports every error with its
//! location, and the embedded default used when no file is given.
//!
//! Loading is three steps: parse the text into a `toml` tree, interpolate
//! `${VAR}` in every string of the tree, then read the tree into [`Config`]
//! while checking every field (unknown fields are errors).

mod alias;
mod base_url;
mod embedded;
mod headers;
mod interpolate;
mod keys;
mod kind;
mod parse;
mod path;
mod provider;
mod reader;
mod rules;
mod server;
#[cfg(test)]
mod tests;

pub use base_url::BaseUrl;
pub use interpolate::interpolate_str;
pub use kind::ProviderKind;
pub use rules::{HeaderCondition, ModelPattern, RouteMatch, RouteRule, RouteTo};

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

/// The whole gateway configuration, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Listener, shard, limit and timeout settings (`[server]`).
    pub server: ServerConfig,
    /// Upstream providers (`[[providers]]`), in file order; names are unique.
    pub providers: Vec<ProviderConfig>,
    /// Model aliases (`[[models]]`), in file order; names are unique.
    pub models: Vec<ModelAlias>,
    /// Routing rules (`[[routes]]`), in file order: the first that matches a request decides
    /// where it goes (docs/routing.md); default none.
    pub routes: Vec<RouteRule>,
    /// Health tracking and circuit breakers (`[routing]`).
    pub routing: RoutingConfig,
}

/// `[routing]`: when a target's circuit breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoutingConfig {
    /// Consecutive failures of a target that open its circuit (0: never by count); default 5.
    pub failure_threshold: u32,
    /// Error rate (0–1, an average over recent attempts) above which the circuit opens once
    /// `min_requests` attempts were seen; default 0.5.
    pub error_rate_threshold: f64,
    /// Attempts needed before the error rate may open a circuit; default 20.
    pub min_requests: u32,
    /// How long a circuit stays open before one probe is let through, in ms; default 10000
    /// (doubled for each failed probe, up to `max_open_ms`).
    pub open_ms: u64,
    /// Longest open period, in ms; default 300000.
    pub max_open_ms: u64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            failure_threshold: 5,
            error_rate_threshold: 0.5,
            min_requests: 20,
            open_ms: 10_000,
            max_open_ms: 300_000,
        }
    }
}

/// Settings of the HTTP server and its shards (`[server]`).
#[derive(Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on; default `127.0.0.1:8080`. Port 0 binds a free port.
    pub listen: SocketAddr,
    /// Number of shards (worker threads); 0 = one per available core. At most 1024.
    pub shards: usize,
    /// Pin each shard to its own core; default false.
    pub pin_cores: bool,
    /// Largest accepted request body in bytes; default 33554432 (32 MiB).
    pub max_request_bytes: usize,
    /// Largest accepted request head (request line + headers) in bytes; default 16384.
    pub max_header_bytes: usize,
    /// Largest accepted number of request headers; default 64.
    pub max_headers: usize,
    /// Time allowed to receive a complete request head, in ms; default 10000.
    pub header_read_timeout_ms: u64,
    /// Time allowed to receive a complete request body, in ms; default 30000.
    pub body_read_timeout_ms: u64,
    /// Keep-alive idle time before an idle client connection is closed, in ms; default 60000.
    pub idle_timeout_ms: u64,
    /// Time in-flight requests get to finish on shutdown, in ms; default 30000.
    pub drain_timeout_ms: u64,
    /// Bearer token that protects `/admin/...`; `None` (default) disables the admin API.
    pub admin_token: Option<String>,
}

/// One upstream provider (`[[providers]]`).
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// Unique name matching `[a-z0-9_-]+`; the prefix in `name/model`.
    pub name: String,
    /// The API family the provider speaks.
    pub kind: ProviderKind,
    /// Resolved upstream base URL: the configured one or the kind's default.
    pub base_url: BaseUrl,
    /// API keys, tried by weight; empty only for kinds that need no key.
    pub keys: Vec<KeyConfig>,
    /// Bare model names this provider serves (for bare-name resolution); default empty.
    pub models: Vec<String>,
    /// Time allowed for the whole upstream response, in ms; default 60000.
    pub timeout_ms: u64,
    /// Time allowed to connect (TCP + TLS) upstream, in ms; default 5000.
    pub connect_timeout_ms: u64,
    /// How long an idle pooled upstream connection is kept, in ms; default 90000.
    pub pool_idle_timeout_ms: u64,
    /// Most idle upstream connections kept per shard for this provider; default 256 (0 = no pooling).
    pub pool_max_idle: usize,
    /// Azure `api-version` query value; `Some("2024-10-21")` by default for azure, `None` otherwise.
    pub api_version: Option<String>,
    /// Extra headers sent upstream with every request, sorted by name; default empty.
    pub headers: Vec<(String, String)>,
    /// PEM file of CA certificates trusted for this provider besides the built-in webpki roots;
    /// default none.
    pub tls_ca_file: Option<String>,
    /// Cloud region: the AWS region for bedrock (SigV4 and the default URL), the location for
    /// vertex (`us-central1`, `global`); required for those two, refused for other kinds.
    pub region: Option<String>,
    /// Google Cloud project id (vertex only, required there).
    pub project: Option<String>,
    /// Path of a service-account JSON key (vertex only); the gateway exchanges it for OAuth
    /// tokens off the request path. Without it, vertex `keys` are used as access tokens.
    pub credentials_file: Option<String>,
    /// Time allowed until the response head arrives, in ms; default `timeout_ms`.
    pub first_byte_timeout_ms: u64,
    /// Longest gap between two reads of a response body (a stream's events), in ms; default
    /// `timeout_ms`.
    pub stream_idle_timeout_ms: u64,
    /// Longest time for one attempt on this provider, response body included, in ms; 0 (the
    /// default) means no limit beyond the other timeouts.
    pub total_timeout_ms: u64,
    /// Retries and key cooldown (`retry = { ... }`).
    pub retry: RetryConfig,
}

/// `retry = { max_attempts, backoff_ms, max_backoff_ms, cooldown_ms }` of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts on this provider per request, keys included (1 = no retry); default 3.
    pub max_attempts: u32,
    /// First backoff before a retry after a 5xx or connection failure, in ms (doubled each time,
    /// with full jitter); default 100.
    pub backoff_ms: u64,
    /// Largest backoff, in ms; default 2000.
    pub max_backoff_ms: u64,
    /// How long a key answered with 429 rests when the provider names no `retry-after`, in ms;
    /// default 30000.
    pub cooldown_ms: u64,
    /// Longest time spent on this provider's attempts for one request (backoffs included) before
    /// moving on to the next target, in ms; default 60000.
    pub deadline_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            backoff_ms: 100,
            max_backoff_ms: 2_000,
            cooldown_ms: 30_000,
            deadline_ms: 60_000,
        }
    }
}

/// One API key of a provider.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyConfig {
    /// The secret itself (never printed by `Debug`).
    pub value: String,
    /// Relative share of traffic; at least 1, default 1.
    pub weight: u32,
    /// Models this key may be used for; empty = all models.
    pub models: Vec<String>,
}

/// A model alias (`[[models]]`): callers ask for `name`, the gateway picks a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelAlias {
    /// The name callers use; no `/`.
    pub name: String,
    /// Where requests go, ordered by `strategy`; never empty.
    pub targets: Vec<AliasTarget>,
    /// Tried in order after every target failed: aliases or `provider/model` names; default empty.
    pub fallbacks: Vec<String>,
    /// How targets are ordered per request: `weighted` (default), `latency`, `least-busy`,
    /// `cost` or `ordered`.
    pub strategy: String,
    /// `cost` strategy: targets slower than this (latency EWMA) are tried after cheaper fast
    /// ones; default 5000.
    pub max_latency_ms: u64,
}

/// One target of an alias: `provider/model` with a weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasTarget {
    /// Name of a configured provider (the text before the first `/`).
    pub provider: String,
    /// Model name sent to that provider (the text after the first `/`; may contain `/`).
    pub model: String,
    /// Relative share of traffic; at least 1, default 1.
    pub weight: u32,
}

/// One configuration problem, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where: a field path (`providers[1].keys[0].value`), `line L, column C`
    /// for syntax errors, or the file name for I/O errors.
    pub location: String,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
}

impl ConfigError {
    /// Builds an error at `location`.
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            location: location.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    /// Formats as `location: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses, interpolates (`${VAR}` looked up with `env`) and validates a
    /// TOML configuration; on failure returns every error found.
    pub fn from_toml_str(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Vec<ConfigError>> {
        parse::from_toml_str(text, env)
    }

    /// Reads and loads the file at `path`, with `${VAR}` taken from the process environment.
    pub fn load_file(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError::new(
                path.display().to_string(),
                format!("cannot read the config file: {e}"),
            )]
        })?;
        Config::from_toml_str(&text, &|name| std::env::var(name).ok())
    }

    /// The configuration used when no file is given: server defaults and one
    /// provider per well-known key variable found with `env`; also returns
    /// banner lines saying what was registered or skipped and why.
    pub fn embedded_default(env: &dyn Fn(&str) -> Option<String>) -> (Config, Vec<String>) {
        embedded::embedded_default(env)
    }

    /// The provider called `name`, if configured.
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The alias called `name`, if configured.
    pub fn alias(&self, name: &str) -> Option<&ModelAlias> {
        self.models.iter().find(|m| m.name == name)
    }
}

/// Shows a secret as its length only.
struct Redacted(usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted, {} chars>", self.0)
    }
}

fn redact(secret: &str) -> Redacted {
    Redacted(secret.chars().count())
}

impl fmt::Debug for ServerConfig {
    /// Like a derived `Debug`, with `admin_token` redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("shards", &self.shards)
            .field("pin_cores", &self.pin_cores)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_headers", &self.max_headers)
            .field("header_read_timeout_ms", &self.header_read_timeout_ms)
            .field("body_read_timeout_ms", &self.body_read_timeout_ms)
            .field("idle_timeout_ms", &self.idle_timeout_ms)
            .field("drain_timeout_ms", &self.drain_timeout_ms)
            .field("admin_token", &self.admin_token.as_deref().map(redact))
            .finish()
    }
}

impl fmt::Debug for ProviderConfig {
    /// Like a derived `Debug`, with header values redacted (they may carry credentials).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<_> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), redact(v)))
            .collect();
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url.to_string())
            .field("keys", &self.keys)
            .field("models", &self.models)
            .field("timeout_ms", &self.timeout_ms)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("pool_idle_timeout_ms", &self.pool_idle_timeout_ms)
            .field("pool_max_idle", &self.pool_max_idle)
            .field("api_version", &self.api_version)
            .field("headers", &headers)
            .field("tls_ca_file", &self.tls_ca_file)
            .finish()
    }
}

impl fmt::Debug for KeyConfig {
    /// Like a derived `Debug`, with the key value redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyConfig")
            .field("value", &redact(&self.value))
            .field("weight", &self.weight)
            .field("models", &self.models)
            .finish()
    }
}
