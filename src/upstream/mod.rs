//! The upstream HTTP/1.1 client: per-shard keep-alive pools per provider, plain TCP or TLS
//! (rustls with built-in webpki roots), DNS off the event loop, and one request/response exchange.

pub mod body;
pub mod dns;
pub mod exchange;
pub mod pool;
pub mod stream;
pub mod tls;

use std::net::{IpAddr, SocketAddr};

use crate::config::BaseUrl;

pub use exchange::{UpstreamConn, UpstreamFailure};
pub use pool::UpstreamPool;
pub use stream::UpstreamStream;

/// Where a provider lives: host, port, TLS, and the pre-computed `Host` header value.
#[derive(Debug, Clone)]
pub struct Origin {
    /// Host name or IP literal (no brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether to speak TLS.
    pub tls: bool,
    /// `host[:port]` as sent in the `Host` header.
    pub host_header: String,
    /// The address when `host` is an IP literal: no DNS needed.
    pub literal: Option<SocketAddr>,
}

impl Origin {
    /// The origin of a parsed base URL.
    pub fn new(url: &BaseUrl) -> Origin {
        let host = url
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let literal = host
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, url.port));
        let default_port = if url.tls { 443 } else { 80 };
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let host_header = if url.port == default_port {
            bracketed
        } else {
            format!("{bracketed}:{}", url.port)
        };
        Origin {
            host,
            port: url.port,
            tls: url.tls,
            host_header,
            literal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(tls: bool, host: &str, port: u16) -> BaseUrl {
        BaseUrl {
            tls,
            host: host.into(),
            port,
            path: String::new(),
        }
    }

    #[test]
    fn host_headers() {
        assert_eq!(
            Origin::new(&url(true, "api.openai.com", 443)).host_header,
            "api.openai.com"
        );
        assert_eq!(
            Origin::new(&url(false, "127.0.0.1", 9000)).host_header,
            "127.0.0.1:9000"
        );
        let v6 = Origin::new(&url(false, "::1", 80));
        assert_eq!(v6.host_header, "[::1]");
        assert!(v6.literal.is_some());
        assert!(Origin::new(&url(true, "example.com", 443))
            .literal
            .is_none());
    }
}
