//! `[server]`: defaults, reading and range checks.

use super::reader::{check_range, Errors, Fields};
use super::{ConfigError, ServerConfig};
use std::net::{Ipv4Addr, SocketAddr};

/// Largest accepted `server.shards`.
pub const MAX_SHARDS: usize = 1024;
/// Largest accepted timeout of any kind, in ms (one day): keeps deadline
/// arithmetic far from overflow.
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;

const FIELDS: &[&str] = &[
    "listen",
    "shards",
    "pin_cores",
    "max_request_bytes",
    "max_header_bytes",
    "max_headers",
    "header_read_timeout_ms",
    "body_read_timeout_ms",
    "idle_timeout_ms",
    "drain_timeout_ms",
    "admin_token",
];

impl Default for ServerConfig {
    /// The documented defaults: `127.0.0.1:8080`, one shard per core, no pinning, ...
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            shards: 0,
            pin_cores: false,
            max_request_bytes: 33_554_432,
            max_header_bytes: 16_384,
            max_headers: 64,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            drain_timeout_ms: 30_000,
            admin_token: None,
        }
    }
}

impl ServerConfig {
    /// The number of shards to run: `shards`, or the available cores when 0.
    pub fn shard_count(&self) -> usize {
        match self.shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// Range checks of every field (locations `server.FIELD`); run on load,
    /// and again by callers that override fields from the command line.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Errors::default();
        let e = &mut errors;
        check_range(e, "server.shards", self.shards as u64, 0, MAX_SHARDS as u64);
        check_range(
            e,
            "server.max_request_bytes",
            self.max_request_bytes as u64,
            1,
            u64::MAX,
        );
        // Heads are indexed with 32-bit offsets and parsed into a fixed header table.
        check_range(
            e,
            "server.max_header_bytes",
            self.max_header_bytes as u64,
            1,
            1 << 20,
        );
        check_range(e, "server.max_headers", self.max_headers as u64, 1, 256);
        for (name, value) in [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("drain_timeout_ms", self.drain_timeout_ms),
        ] {
            check_range(e, &format!("server.{name}"), value, 1, MAX_TIMEOUT_MS);
        }
        if let Some(token) = &self.admin_token {
            if token.is_empty() {
                e.push(
                    "server.admin_token",
                    "is empty; set a token or remove the field to disable the admin API",
                );
            } else if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                e.push(
                    "server.admin_token",
                    "must not contain whitespace or control characters (check the variable it comes from)",
                );
            }
        }
        errors.0
    }
}

/// Reads `[server]` (absent = all defaults), reporting type and range errors.
pub fn read_server(value: Option<&toml::Value>, errors: &mut Errors) -> ServerConfig {
    let d = ServerConfig::default();
    let table = match value {
        None => return d,
        Some(toml::Value::Table(t)) => t,
        Some(other) => {
            errors.push(
                "server",
                super::reader::wrong_type("a table ([server])", other),
            );
            return d;
        }
    };
    let f = Fields::new(table, "server");
    f.deny_unknown(FIELDS, &[], errors);
    let listen = match f.str("listen", errors) {
        None => d.listen,
        Some(s) => s.trim().parse().unwrap_or_else(|_| {
            errors.push(
                f.at("listen"),
                format!("{s:?} is not IP:PORT such as 127.0.0.1:8080 or [::]:8080 (host names are not resolved)"),
            );
            d.listen
        }),
    };
    let server = ServerConfig {
        listen,
        shards: f.usize("shards", d.shards, errors),
        pin_cores: f.bool("pin_cores", d.pin_cores, errors),
        max_request_bytes: f.usize("max_request_bytes", d.max_request_bytes, errors),
        max_header_bytes: f.usize("max_header_bytes", d.max_header_bytes, errors),
        max_headers: f.usize("max_headers", d.max_headers, errors),
        header_read_timeout_ms: f.u64("header_read_timeout_ms", d.header_read_timeout_ms, errors),
        body_read_timeout_ms: f.u64("body_read_timeout_ms", d.body_read_timeout_ms, errors),
        idle_timeout_ms: f.u64("idle_timeout_ms", d.idle_timeout_ms, errors),
        drain_timeout_ms: f.u64("drain_timeout_ms", d.drain_timeout_ms, errors),
        admin_token: f.str("admin_token", errors),
    };
    errors.0.extend(server.validate());
    server
}
