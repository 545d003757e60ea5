//! Scraping shardgate's Prometheus `/metrics` and reading quantiles out of the difference of two
//! scrapes of a histogram, interpolated within buckets like Prometheus' `histogram_quantile`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The histogram of the gateway's own time per request.
pub const OVERHEAD: &str = "shardgate_overhead_seconds";

/// Cumulative buckets `(upper bound in seconds, count)`, ascending, `+Inf` last.
pub type Buckets = Vec<(f64, u64)>;

/// `GET /metrics` from `addr` (`host:port`), the body as text.
pub fn fetch(addr: &str) -> io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other("no HTTP head in /metrics answer"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(io::Error::other(format!(
            "/metrics: {}",
            head.lines().next().unwrap_or("")
        )));
    }
    Ok(body.to_string())
}

/// The buckets of histogram `name` in exposition `text` (summed over label sets other than `le`).
pub fn buckets(text: &str, name: &str) -> Buckets {
    let prefix = format!("{name}_bucket{{");
    let mut out: Buckets = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(&prefix) else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once('}') else {
            continue;
        };
        let Some(le) = labels.split(',').find_map(|l| l.trim().strip_prefix("le=")) else {
            continue;
        };
        let le = le.trim_matches('"');
        let bound = if le == "+Inf" {
            f64::INFINITY
        } else {
            match le.parse::<f64>() {
                Ok(b) => b,
                Err(_) => continue,
            }
        };
        let Ok(count) = value.trim().parse::<f64>() else {
            continue;
        };
        match out.iter_mut().find(|b| b.0 == bound) {
            Some(b) => b.1 += count as u64,
            None => out.push((bound, count as u64)),
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// `after - before`, bucket by bucket.
pub fn delta(before: &Buckets, after: &Buckets) -> Buckets {
    after
        .iter()
        .map(|&(le, n)| {
            let b = before.iter().find(|x| x.0 == le).map_or(0, |x| x.1);
            (le, n.saturating_sub(b))
        })
        .collect()
}

/// The `q` quantile in seconds, linearly interpolated within its bucket; `None` if empty.
pub fn quantile(b: &Buckets, q: f64) -> Option<f64> {
    let total = b.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut prev = (0.0, 0u64);
    for &(le, n) in b {
        if n as f64 >= rank {
            if le.is_infinite() {
                return Some(prev.0);
            }
            let span = (n - prev.1) as f64;
            let frac = if span > 0.0 {
                (rank - prev.1 as f64) / span
            } else {
                0.0
            };
            return Some(prev.0 + (le - prev.0) * frac);
        }
        prev = (le, n);
    }
    Some(prev.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE shardgate_overhead_seconds histogram\n\
        shardgate_overhead_seconds_bucket{le=\"0.000001\"} 0\n\
        shardgate_overhead_seconds_bucket{le=\"0.0000025\"} 10\n\
        shardgate_overhead_seconds_bucket{le=\"0.000005\"} 90\n\
        shardgate_overhead_seconds_bucket{le=\"0.00001\"} 100\n\
        shardgate_overhead_seconds_bucket{le=\"+Inf\"} 100\n\
        shardgate_overhead_seconds_sum 0.0003\n";

    #[test]
    fn parses_and_interpolates() {
        let b = buckets(TEXT, OVERHEAD);
        assert_eq!(b.len(), 5);
        assert_eq!(b[4], (f64::INFINITY, 100));
        // Rank 50 lies in (2.5 µs, 5 µs] holding ranks 10..90: halfway.
        let p50 = quantile(&b, 0.5).unwrap_or(0.0);
        assert!((p50 - 3.75e-6).abs() < 1e-12, "{p50}");
        let p99 = quantile(&b, 0.99).unwrap_or(0.0);
        assert!((p99 - 9.5e-6).abs() < 1e-12, "{p99}");
        let before = buckets(&TEXT.replace("} 100", "} 95"), OVERHEAD);
        let d = delta(&before, &b);
        assert_eq!(d[4].1, 5);
        assert_eq!(quantile(&delta(&b, &b), 0.5), None);
    }
}
