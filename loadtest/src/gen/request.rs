//! The target URL and the request bytes: a fixed head and a JSON chat body whose prompt carries a
//! per-request decimal id written in place, so every request is unique (no cache can help) while the
//! length, and so `Content-Length`, stays constant.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Width of the decimal request id in the prompt.
const ID_DIGITS: usize = 16;
/// Placeholder the id overwrites.
const ID_MARK: &str = "0000000000000000";

/// Size class of the request body.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BodySize {
    /// About 200 bytes.
    Small,
    /// About 10 KB.
    Large,
}

/// A parsed `http://host[:port]/path` URL.
#[derive(Debug, Clone)]
pub struct Target {
    /// Resolved socket address.
    pub addr: SocketAddr,
    /// `Host` header value (`host:port` as written).
    pub host: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Target {
    /// Parses and resolves `url`; only plain `http://` is supported.
    pub fn parse(url: &str) -> io::Result<Target> {
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{url}: {m}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// URLs are supported"))?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let with_port = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        let addr = with_port
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| bad("resolves to nothing"))?;
        Ok(Target {
            addr,
            host: host.to_string(),
            path: path.to_string(),
        })
    }
}

/// A complete request with an id field to overwrite before each send.
#[derive(Debug, Clone)]
pub struct Template {
    /// Head and body.
    pub bytes: Vec<u8>,
    /// Offset of the id digits in `bytes`.
    id_at: usize,
    /// Body length.
    pub body_len: usize,
}

impl Template {
    /// Builds a `POST` of a chat-completions body for `model` with `extra_headers` (`Name: value`).
    /// `run_tag` distinguishes runs so that repeated runs do not repeat prompts either.
    pub fn new(
        target: &Target,
        model: &str,
        size: BodySize,
        stream: bool,
        extra_headers: &[String],
        run_tag: u32,
    ) -> Template {
        let mut prompt = format!(
            "Request {ID_MARK} run {run_tag:08x}: summarize why a thread-per-core gateway keeps tail latency low."
        );
        if size == BodySize::Large {
            let filler =
                " The quick brown fox jumps over the lazy dog while the gateway forwards bytes.";
            while prompt.len() < 10_000 {
                prompt.push_str(filler);
            }
        }
        let stream_field = if stream { r#","stream":true"# } else { "" };
        let body = format!(
            r#"{{"model":"{model}","messages":[{{"role":"user","content":"{prompt}"}}],"max_tokens":16{stream_field}}}"#
        );
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n",
            target.path, target.host
        );
        for h in extra_headers {
            head.push_str(h.trim());
            head.push_str("\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let id_at = head.len() + body.find(ID_MARK).unwrap_or(0);
        let body_len = body.len();
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        Template {
            bytes,
            id_at,
            body_len,
        }
    }

    /// Writes `id` (mod 10^16) as fixed-width decimal into `buf`, a copy of [`Template::bytes`].
    pub fn stamp(&self, buf: &mut [u8], mut id: u64) {
        let Some(field) = buf.get_mut(self.id_at..self.id_at + ID_DIGITS) else {
            return;
        };
        for b in field.iter_mut().rev() {
            *b = b'0' + (id % 10) as u8;
            id /= 10;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::parse("http://127.0.0.1:9/v1/chat/completions").expect("url")
    }

    #[test]
    fn parses_urls() {
        let t = target();
        assert_eq!(t.addr.port(), 9);
        assert_eq!(t.host, "127.0.0.1:9");
        assert_eq!(t.path, "/v1/chat/completions");
        assert_eq!(
            Target::parse("http://127.0.0.1").map(|t| t.path).ok(),
            Some("/".into())
        );
        assert!(Target::parse("https://x/").is_err());
    }

    #[test]
    fn sizes_and_unique_ids() {
        let small = Template::new(&target(), "m", BodySize::Small, false, &[], 7);
        assert!((150..260).contains(&small.body_len), "{}", small.body_len);
        let large = Template::new(&target(), "m", BodySize::Large, true, &[], 7);
        assert!(
            (9_500..11_000).contains(&large.body_len),
            "{}",
            large.body_len
        );
        let mut a = small.bytes.clone();
        small.stamp(&mut a, 42);
        let text = String::from_utf8_lossy(&a);
        assert!(text.contains("Request 0000000000000042 run 00000007"));
        let body = &a[a.len() - small.body_len..];
        let v: serde_json::Value = serde_json::from_slice(body).expect("json body");
        assert_eq!(v["model"], "m");
        assert!(text.contains(&format!("Content-Length: {}\r\n", small.body_len)));
        let lb = &large.bytes[large.bytes.len() - large.body_len..];
        let v: serde_json::Value = serde_json::from_slice(lb).expect("json body");
        assert_eq!(v["stream"], true);
    }
}
