//! Server-sent events: an incremental parser for provider streams and writers for caller streams.

/// One parsed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, empty when absent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Incremental SSE parser: feed bytes cut anywhere, get complete events.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no newline (so a long line is scanned once).
    scanned: usize,
    event: String,
    data: String,
    has_data: bool,
}

/// Most bytes of one event kept (its unfinished line included): a provider that never ends a
/// line, or never ends an event, must not grow the buffers without bound.
const MAX_EVENT: usize = 8 * 1024 * 1024;

impl SseParser {
    /// A parser with nothing buffered.
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Consumes `bytes`, appending completed events to `out`. Errors only when one line exceeds
    /// the bound.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), String> {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        let mut from = self.scanned;
        while let Some(nl) = memchr::memchr(b'\n', &self.buf[from..]) {
            let end = from + nl;
            let mut line = &self.buf[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = String::from_utf8_lossy(line).into_owned();
            start = end + 1;
            from = start;
            self.line(&line, out);
            if self.data.len() > MAX_EVENT {
                return Err("event stream event too long".to_string());
            }
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        if self.buf.len() + self.data.len() > MAX_EVENT {
            return Err("event stream event too long".to_string());
        }
        Ok(())
    }

    /// The stream ended: completes an event that lacked its blank line.
    pub fn end(&mut self, out: &mut Vec<SseEvent>) {
        if !self.buf.is_empty() {
            self.scanned = 0;
            let rest = String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
            self.line(rest.trim_end_matches('\r'), out);
        }
        self.line("", out);
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if self.has_data || !self.event.is_empty() {
                out.push(SseEvent {
                    event: std::mem::take(&mut self.event),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
    }
}

/// Appends `data: {json}\n\n`.
pub fn write_data(json: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
}

/// Appends `event: {name}\ndata: {json}\n\n`.
pub fn write_event(name: &str, json: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\n");
    write_data(json, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_cut_anywhere() {
        let stream =
            b"event: a\ndata: {\"x\":1}\n\n: comment\ndata: l1\r\ndata: l2\r\n\r\ndata: [DONE]\n\n";
        for cut in 0..stream.len() {
            let mut p = SseParser::new();
            let mut out = Vec::new();
            p.feed(&stream[..cut], &mut out).unwrap();
            p.feed(&stream[cut..], &mut out).unwrap();
            p.end(&mut out);
            assert_eq!(out.len(), 3, "cut at {cut}");
            assert_eq!(out[0].event, "a");
            assert_eq!(out[0].data, "{\"x\":1}");
            assert_eq!(out[1].data, "l1\nl2");
            assert_eq!(out[2].data, "[DONE]");
        }
    }

    #[test]
    fn events_that_never_end_are_refused() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let line = format!("data: {}\n", "x".repeat(60_000));
        let mut failed = false;
        for _ in 0..200 {
            if p.feed(line.as_bytes(), &mut out).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed && out.is_empty());
        let mut p = SseParser::new();
        let chunk = vec![b'y'; 16 * 1024];
        let refused = (0..600).any(|_| p.feed(&chunk, &mut out).is_err());
        assert!(refused, "a line that never ends must be refused");
    }

    #[test]
    fn unterminated_last_event_is_kept() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"data: {}", &mut out).unwrap();
        assert!(out.is_empty());
        p.end(&mut out);
        assert_eq!(out[0].data, "{}");
    }
}
