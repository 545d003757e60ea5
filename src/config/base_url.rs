//! `base_url` parsing: the upstream endpoint of a provider, split into the
//! parts the connector needs (TLS or not, host, port, path prefix).

use std::fmt;
use std::net::Ipv6Addr;

/// A provider's parsed base URL, e.g. `https://api.openai.com/v1`.
///
/// Only `http` and `https` are accepted; no user info, query or fragment.
/// Request paths are appended to `path` (`/v1` + `/chat/completions`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BaseUrl {
    /// True for `https` (connect with TLS), false for `http`.
    pub tls: bool,
    /// Host name (lower-cased) or IP address; IPv6 without the brackets.
    pub host: String,
    /// TCP port: the explicit one, else 443 for https and 80 for http.
    pub port: u16,
    /// Path prefix without a trailing `/`; `""` when the URL has no path.
    pub path: String,
}

impl BaseUrl {
    /// Parses a base URL; the error says what is wrong (it never echoes the
    /// whole value, which may come from a secret-bearing variable).
    pub fn parse(text: &str) -> Result<BaseUrl, String> {
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters".into());
        }
        if !text.is_ascii() {
            return Err("must be ASCII (percent-encode other characters)".into());
        }
        if text.contains(['?', '#']) {
            return Err("must not contain a query (?) or fragment (#)".into());
        }
        let (tls, rest) = if let Some(rest) = strip_prefix_ci(text, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ci(text, "http://") {
            (false, rest)
        } else {
            return Err("must start with http:// or https://".into());
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(
                "must not contain credentials (user:password@); use keys or headers".into(),
            );
        }
        let (host, port_text) = split_authority(authority)?;
        let port = match port_text {
            None => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(p) => parse_port(p)?,
        };
        Ok(BaseUrl {
            tls,
            host,
            port,
            path: path.trim_end_matches('/').to_string(),
        })
    }

    /// The scheme, `"https"` or `"http"`.
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// The scheme's default port (443 or 80).
    pub fn default_port(&self) -> u16 {
        if self.tls {
            443
        } else {
            80
        }
    }

    /// The value for the upstream `Host` header: host (IPv6 in brackets), plus
    /// `:port` when the port is not the scheme's default.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for BaseUrl {
    /// Renders the URL back (`https://api.openai.com/v1`), default port omitted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme(), self.authority(), self.path)
    }
}

/// Splits `host[:port]` or `[v6][:port]`; validates the host.
fn split_authority(authority: &str) -> Result<(String, Option<&str>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let close = rest
            .find(']')
            .ok_or_else(|| "IPv6 address is missing its closing ']'".to_string())?;
        let (addr, after) = rest.split_at(close);
        if addr.parse::<Ipv6Addr>().is_err() {
            return Err("host is not a valid IPv6 address".into());
        }
        let after = after.get(1..).unwrap_or_default();
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| "unexpected text after the IPv6 address".to_string())?,
            ),
        };
        return Ok((addr.to_ascii_lowercase(), port));
    }
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err("host is missing".into());
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(
            "host may contain only letters, digits, '-', '.' and '_' (IPv6 goes in [])".into(),
        );
    }
    Ok((host.to_ascii_lowercase(), port))
}

/// `text` without `prefix`, compared ignoring ASCII case.
fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        text.get(prefix.len()..)
    } else {
        None
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("port must be a number from 1 to 65535".into());
    }
    match text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err("port must be a number from 1 to 65535".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> BaseUrl {
        match BaseUrl::parse(s) {
            Ok(u) => u,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn defaults_and_paths() {
        let u = ok("https://api.openai.com/v1");
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.path.as_str()),
            (true, "api.openai.com", 443, "/v1")
        );
        let u = ok("http://LocalHost:11434/v1/");
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.path.as_str()),
            (false, "localhost", 11434, "/v1")
        );
        let u = ok("HTTP://example.com");
        assert_eq!((u.port, u.path.as_str()), (80, ""));
        assert_eq!(ok("https://x.org/").path, "");
        assert_eq!(ok("https://x.org//a//").path, "//a");
    }

    #[test]
    fn ipv6_and_display() {
        let u = ok("http://[::1]:8000/v1");
        assert_eq!((u.host.as_str(), u.port), ("::1", 8000));
        assert_eq!(u.authority(), "[::1]:8000");
        assert_eq!(u.to_string(), "http://[::1]:8000/v1");
        let u = ok("https://[2001:DB8::1]");
        assert_eq!((u.host.as_str(), u.port), ("2001:db8::1", 443));
        assert_eq!(u.to_string(), "https://[2001:db8::1]");
        assert_eq!(ok("https://a.b:443/v1").to_string(), "https://a.b/v1");
        assert_eq!(ok("http://10.0.0.1:80").authority(), "10.0.0.1");
    }

    #[test]
    fn rejects() {
        for (s, want) in [
            ("ftp://x.org", "http:// or https://"),
            ("api.openai.com/v1", "http:// or https://"),
            ("https://", "host is missing"),
            ("https://:443/v1", "host is missing"),
            ("https://x.org:0", "port"),
            ("https://x.org:70000", "port"),
            ("https://x.org:", "port"),
            ("https://x.org:8a", "port"),
            ("https://u:p@x.org", "credentials"),
            ("https://x.org/v1?a=b", "query"),
            ("https://x.org/v1#f", "fragment"),
            ("https://x .org", "spaces"),
            ("https://x.org/v1\n", "control"),
            ("https://[::1/v1", "closing"),
            ("https://[zz]/v1", "IPv6"),
            ("https://[::1]x", "after the IPv6"),
            ("https://x!y.org", "host may contain"),
            ("https://bücher.de", "ASCII"),
        ] {
            match BaseUrl::parse(s) {
                Ok(u) => panic!("{s} parsed as {u:?}"),
                Err(e) => assert!(e.contains(want), "{s}: {e}"),
            }
        }
    }
}
