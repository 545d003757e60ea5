//! Small writers shared by the response formats: JSON string escaping, the deterministic reply text,
//! token counts, clock, and base64 (for OpenAI's `encoding_format: "base64"` embeddings).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Filler words appended after "mock reply from MODEL" when more stream chunks are asked for than the
/// four base words.
const FILLER: [&str; 8] = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
];

/// Seconds since the Unix epoch (the `created` fields).
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Displays a `&str` as a quoted, escaped JSON string (for `write!`).
pub struct Js<'a>(pub &'a str);

impl fmt::Display for Js<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        escape_fmt(f, self.0)?;
        f.write_str("\"")
    }
}

/// Displays the reply text for `model` with `chunks` as a quoted, escaped JSON string.
pub struct ReplyJs<'a> {
    /// Model named in the reply.
    pub model: &'a str,
    /// Stream chunk count the reply is sized for.
    pub chunks: usize,
}

impl fmt::Display for ReplyJs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for i in 0..word_count(self.chunks) {
            if i > 0 {
                f.write_str(" ")?;
            }
            escape_fmt(f, word(self.model, i))?;
        }
        f.write_str("\"")
    }
}

fn escape_fmt(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        f.write_str(&s[start..i])?;
        if esc.is_empty() {
            write!(f, "\\u{:04x}", b)?;
        } else {
            f.write_str(esc)?;
        }
        start = i + 1;
    }
    f.write_str(&s[start..])
}

/// Number of words in the reply: the four of "mock reply from MODEL", more if more chunks are wanted.
pub fn word_count(chunks: usize) -> usize {
    chunks.max(4)
}

/// The `i`-th word of the reply (without separator).
fn word(model: &str, i: usize) -> &str {
    match i {
        0 => "mock",
        1 => "reply",
        2 => "from",
        3 => model,
        _ => FILLER[(i - 4) % FILLER.len()],
    }
}

/// The reply text (unescaped), equal to the concatenation of [`reply_pieces`].
pub fn reply_text(model: &str, chunks: usize) -> String {
    reply_pieces(model, chunks).concat()
}

/// The reply split into `chunks` (at least 1) pieces of whole words; piece k>0 starts with a space,
/// so the pieces concatenate to the full reply text.
pub fn reply_pieces(model: &str, chunks: usize) -> Vec<String> {
    let n = chunks.max(1);
    let words = word_count(chunks);
    let mut pieces = Vec::with_capacity(n);
    for k in 0..n {
        let (from, to) = (k * words / n, (k + 1) * words / n);
        let mut p = String::new();
        for i in from..to {
            if i > 0 {
                p.push(' ');
            }
            p.push_str(word(model, i));
        }
        pieces.push(p);
    }
    pieces
}

/// Deterministic prompt-token estimate: a quarter of the request body's bytes, at least 1.
pub fn prompt_tokens(body_len: usize) -> u64 {
    (body_len as u64 / 4).max(1)
}

/// Standard base64 (with padding) of `data`, appended to `out`.
pub fn base64_into(out: &mut Vec<u8>, data: &[u8]) {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(v >> 18) as usize & 63]);
        out.push(T[(v >> 12) as usize & 63]);
        out.push(if c.len() > 1 {
            T[(v >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if c.len() > 2 {
            T[v as usize & 63]
        } else {
            b'='
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_concatenate_to_text() {
        for n in 0..12 {
            let p = reply_pieces("m\"x", n);
            assert_eq!(p.len(), n.max(1));
            let full = p.concat();
            assert_eq!(full, reply_text("m\"x", n));
            assert!(full.starts_with("mock reply from m\"x"));
            let esc = ReplyJs {
                model: "m\"x",
                chunks: n,
            }
            .to_string();
            assert_eq!(esc, Js(&full).to_string());
        }
    }

    #[test]
    fn escapes() {
        let s = Js("a\"b\\c\n\u{1}é").to_string();
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\u0001é\"");
    }

    #[test]
    fn base64() {
        let mut o = Vec::new();
        base64_into(&mut o, b"foobar");
        base64_into(&mut o, b"fo");
        base64_into(&mut o, b"f");
        assert_eq!(o, b"Zm9vYmFyZm8=Zg==");
    }
}
