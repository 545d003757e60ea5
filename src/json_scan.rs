//! One-pass JSON validation and top-level field location for request bodies.
//!
//! The passthrough path (SPEC §2 "Buffers") forwards an OpenAI-format body upstream as bytes and
//! changes only the `model` value. It still has to know that the body is valid JSON (so that the
//! caller gets a precise 400 from us instead of a confusing error from the provider), where the
//! top-level `"model"` and `"stream"` values sit, and how to put a new model string in. Building a
//! tree (serde_json / simd-json) for that costs allocations and a full re-serialization; this module
//! validates in one forward pass, reports each top-level member's byte span, and never allocates.
//!
//! Validation is strict RFC 8259, with these choices made on purpose:
//! - the body must be exactly one JSON **object**, with optional leading/trailing whitespace
//!   (space, tab, LF, CR only);
//! - strings must be valid UTF-8, must not contain raw control characters (< 0x20), and their
//!   `\uXXXX` escapes must not form a lone surrogate: a high surrogate must be followed by an
//!   escaped low surrogate, a low surrogate must not appear on its own. This is what
//!   `serde_json::Value` does too (it fails to decode such a string), and a lone surrogate cannot
//!   become a Rust `&str`, so accepting it would only move the failure somewhere less clear;
//! - numbers follow the RFC grammar only; their magnitude is not checked. `1e400` is valid here,
//!   while serde_json (without `arbitrary_precision`) rejects it as "number out of range" — the
//!   gateway forwards numbers verbatim and never evaluates them, so range is the provider's call;
//! - nesting is limited to [`MAX_DEPTH`] open containers (the top-level object counts as one).
//!   serde_json's limit is one lower (it rejects the 128th level); the scanner is iterative, so
//!   the limit protects downstream parsers, not our stack;
//! - duplicate keys are valid JSON; only [`scan_request`] rejects a duplicate `"model"` (and
//!   `"stream"`), because the gateway and the provider could pick different ones.

use std::fmt;
use std::ops::Range;

use bytes::BytesMut;
use memchr::{memchr, memchr2};

/// Maximum number of simultaneously open objects/arrays, the top-level object included.
///
/// Deeper input is rejected with "nesting too deep" rather than risking work or stack downstream.
pub const MAX_DEPTH: usize = 128;

/// Where one top-level member's key and value sit in the body, as byte ranges into it.
///
/// Spans let the gateway splice or forward slices of the original buffer without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The key's bytes without the surrounding quotes, still escaped as written.
    pub key: Range<usize>,
    /// The whole value: quotes included for strings, brackets included for objects and arrays.
    pub value: Range<usize>,
}

/// Why a body is not valid JSON (or not a JSON object), and where.
///
/// `offset` is a byte offset into the body, so the caller's 400 can point at the problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanError {
    /// Byte offset of the offending byte (the body length when the input ended too early).
    pub offset: usize,
    /// Short human-readable description of what was wrong.
    pub reason: &'static str,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for ScanError {}

/// Builds an error off the hot path; `#[cold]` keeps the happy path's code compact.
#[cold]
#[inline(never)]
fn fail(offset: usize, reason: &'static str) -> ScanError {
    ScanError { offset, reason }
}

/// Validates `body` as exactly one JSON object and reports its top-level members.
///
/// Calls `visit(key_raw, member)` for each top-level member in document order, where `key_raw`
/// is the key's bytes without quotes and still escaped (`member.key` is its span). Nested values
/// are fully validated but not reported. Leading and trailing whitespace is allowed; anything
/// else before or after the object is an error. Members visited before an error was found have
/// already been reported, so callers should act on them only once this returns `Ok`.
pub fn scan_object(body: &[u8], mut visit: impl FnMut(&[u8], &Member)) -> Result<(), ScanError> {
    let mut s = Scanner { b: body, pos: 0 };
    s.skip_ws();
    match s.peek() {
        Some(b'{') => s.pos += 1,
        None if body.is_empty() => return Err(fail(0, "empty body")),
        None => return Err(fail(s.pos, "expected '{' but the body is only whitespace")),
        Some(_) => return Err(fail(s.pos, "expected '{': the body must be a JSON object")),
    }
    s.skip_ws();
    if s.peek() == Some(b'}') {
        s.pos += 1;
    } else {
        let mut after_comma = false;
        loop {
            let key = s.key_colon(after_comma)?;
            after_comma = true;
            let vstart = s.pos;
            s.value(1)?;
            let member = Member {
                key,
                value: vstart..s.pos,
            };
            visit(body.get(member.key.clone()).unwrap_or_default(), &member);
            s.skip_ws();
            match s.peek() {
                Some(b',') => {
                    s.pos += 1;
                    s.skip_ws();
                }
                Some(b'}') => {
                    s.pos += 1;
                    break;
                }
                None => return Err(fail(s.pos, "unexpected end of input: expected ',' or '}'")),
                Some(_) => return Err(fail(s.pos, "expected ',' or '}' after object member")),
            }
        }
    }
    s.skip_ws();
    if s.pos != body.len() {
        return Err(fail(s.pos, "trailing characters after the JSON object"));
    }
    Ok(())
}

/// Cursor over the body. All reads go through `get`, so no input can make it panic.
struct Scanner<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    #[inline(always)]
    fn skip_ws(&mut self) {
        while let Some(&c) = self.b.get(self.pos) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// Parses `"key"` `:` and the whitespace after it; returns the key's span without quotes.
    ///
    /// Expects whitespace before the key already skipped. `after_comma` only sharpens the error
    /// message for `{"a":1,}`.
    #[inline(always)]
    fn key_colon(&mut self, after_comma: bool) -> Result<Range<usize>, ScanError> {
        match self.peek() {
            Some(b'"') => {}
            Some(b'}') if after_comma => return Err(fail(self.pos, "trailing comma in object")),
            None => {
                return Err(fail(
                    self.pos,
                    "unexpected end of input: expected a string key",
                ))
            }
            Some(_) => return Err(fail(self.pos, "expected a string key")),
        }
        let kstart = self.pos + 1;
        self.string()?;
        let key = kstart..self.pos - 1;
        self.skip_ws();
        match self.peek() {
            Some(b':') => self.pos += 1,
            None => return Err(fail(self.pos, "unexpected end of input: expected ':'")),
            Some(_) => return Err(fail(self.pos, "expected ':' after object key")),
        }
        self.skip_ws();
        Ok(key)
    }

    /// Validates one value of any kind starting at `pos` (whitespace already skipped) and leaves
    /// `pos` just after it. `outer` is the number of containers already open around it.
    ///
    /// Iterative: containers are tracked in a `u128` bit stack (1 = object), which is enough
    /// because `MAX_DEPTH` is 128, so hostile nesting costs neither stack nor heap.
    fn value(&mut self, outer: usize) -> Result<(), ScanError> {
        let mut stack: u128 = 0;
        let mut depth: usize = 0; // containers opened inside this call
        'value: loop {
            match self.peek() {
                Some(b'"') => self.string()?,
                Some(c @ (b'{' | b'[')) => {
                    if outer + depth >= MAX_DEPTH {
                        return Err(fail(self.pos, "nesting too deep"));
                    }
                    let is_obj = c == b'{';
                    // depth < MAX_DEPTH - outer <= 127 here, so the shift never wraps.
                    stack = (stack & !(1u128.wrapping_shl(depth as u32)))
                        | (u128::from(is_obj)).wrapping_shl(depth as u32);
                    depth += 1;
                    self.pos += 1;
                    self.skip_ws();
                    let close = if is_obj { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        depth -= 1;
                    } else {
                        if is_obj {
                            self.key_colon(false)?;
                        }
                        continue 'value;
                    }
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(b']') => return Err(fail(self.pos, "expected a value, found ']'")),
                Some(_) => return Err(fail(self.pos, "expected a value")),
                None => return Err(fail(self.pos, "unexpected end of input: expected a value")),
            }
            // A value just ended: close as many containers as the input closes here.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                self.skip_ws();
                let in_obj = (stack >> (depth - 1)) & 1 == 1;
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_ws();
                        if in_obj {
                            self.key_colon(true)?;
                        } else if self.peek() == Some(b']') {
                            return Err(fail(self.pos, "trailing comma in array"));
                        }
                        continue 'value;
                    }
                    Some(b'}') if in_obj => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    Some(b']') if !in_obj => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    None => return Err(fail(self.pos, "unexpected end of input in nested value")),
                    Some(_) if in_obj => {
                        return Err(fail(self.pos, "expected ',' or '}' after object member"))
                    }
                    Some(_) => {
                        return Err(fail(self.pos, "expected ',' or ']' after array element"))
                    }
                }
            }
        }
    }

    /// Validates a string starting at the opening quote at `pos`; leaves `pos` after the closing
    /// quote.
    ///
    /// memchr2 jumps to the next quote or backslash (SIMD); the span skipped is then checked for
    /// control characters and non-ASCII bytes in one vectorizable pass, and only a span that does
    /// contain non-ASCII goes through UTF-8 validation. Outside strings every valid byte is
    /// ASCII, so validating strings this way validates the body's UTF-8 without a separate pass.
    #[inline]
    fn string(&mut self) -> Result<(), ScanError> {
        let open = self.pos;
        let mut i = open + 1;
        loop {
            let rest = self.b.get(i..).unwrap_or_default();
            let Some(k) = memchr2(b'"', b'\\', rest) else {
                return Err(fail(open, "unterminated string"));
            };
            let end = i + k;
            check_segment(rest.get(..k).unwrap_or_default(), i)?;
            if self.b.get(end) == Some(&b'"') {
                self.pos = end + 1;
                return Ok(());
            }
            i = self.escape(end)?;
        }
    }

    /// Validates the escape sequence whose backslash is at `at`; returns the index after it.
    fn escape(&self, at: usize) -> Result<usize, ScanError> {
        match self.b.get(at + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(at + 2),
            Some(b'u') => {
                let Some(cp) = hex4(self.b, at + 2) else {
                    return Err(fail(at, "invalid \\u escape: expected 4 hex digits"));
                };
                match cp {
                    0xD800..=0xDBFF => {
                        // A high surrogate is only meaningful followed by an escaped low one.
                        if self.b.get(at + 6) == Some(&b'\\') && self.b.get(at + 7) == Some(&b'u') {
                            match hex4(self.b, at + 8) {
                                Some(0xDC00..=0xDFFF) => return Ok(at + 12),
                                None => {
                                    return Err(fail(
                                        at + 6,
                                        "invalid \\u escape: expected 4 hex digits",
                                    ))
                                }
                                Some(_) => {}
                            }
                        }
                        Err(fail(at, "lone surrogate in \\u escape"))
                    }
                    0xDC00..=0xDFFF => Err(fail(at, "lone surrogate in \\u escape")),
                    _ => Ok(at + 6),
                }
            }
            None => Err(fail(at, "unterminated string")),
            Some(_) => Err(fail(at, "invalid escape sequence")),
        }
    }

    fn literal(&mut self, lit: &'static [u8]) -> Result<(), ScanError> {
        if self.b.get(self.pos..self.pos + lit.len()) == Some(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(fail(
                self.pos,
                "invalid literal (expected true, false or null)",
            ))
        }
    }

    /// RFC 8259 number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<(), ScanError> {
        let b = self.b;
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => {
                i += 1;
                if matches!(b.get(i), Some(b'0'..=b'9')) {
                    return Err(fail(i - 1, "invalid number: leading zero"));
                }
            }
            Some(b'1'..=b'9') => i = digits(b, i + 1),
            _ => return Err(fail(i, "invalid number: expected a digit")),
        }
        if b.get(i) == Some(&b'.') {
            let j = digits(b, i + 1);
            if j == i + 1 {
                return Err(fail(j, "invalid number: expected a digit after '.'"));
            }
            i = j;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let j = digits(b, i);
            if j == i {
                return Err(fail(j, "invalid number: expected a digit in the exponent"));
            }
            i = j;
        }
        self.pos = i;
        Ok(())
    }
}

/// Index of the first non-digit at or after `i`.
#[inline(always)]
fn digits(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b'0'..=b'9')) {
        i += 1;
    }
    i
}

/// The value of the four hex digits at `at`, if there are four.
#[inline]
fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let h = b.get(at..at + 4)?;
    let mut v = 0u32;
    for &c in h {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | u32::from(d);
    }
    Some(v)
}

/// Checks string content between quotes/escapes: no control characters, valid UTF-8.
/// `base` is `seg`'s offset in the body, for error positions.
#[inline(always)]
fn check_segment(seg: &[u8], base: usize) -> Result<(), ScanError> {
    if all_plain_ascii(seg) {
        Ok(())
    } else {
        check_segment_slow(seg, base)
    }
}

/// True when every byte is printable ASCII or DEL (0x20..=0x7F), the overwhelmingly common case.
///
/// `b - 0x20` (wrapping) maps exactly the allowed bytes to 0..0x60, so one max-reduction per
/// chunk answers the question; LLVM turns the fixed-size inner loop into a few SIMD ops.
#[inline(always)]
fn all_plain_ascii(seg: &[u8]) -> bool {
    let mut chunks = seg.chunks_exact(16);
    for c in &mut chunks {
        let mut m = 0u8;
        for &x in c {
            m = m.max(x.wrapping_sub(0x20));
        }
        if m >= 0x60 {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|&x| x.wrapping_sub(0x20) < 0x60)
}

/// The rare path: the segment has a control character or non-ASCII text. Reports whichever
/// problem comes first. A segment always starts and ends at an ASCII byte (quote, backslash or
/// escape), so a valid multi-byte character is never split across segments.
#[cold]
#[inline(never)]
fn check_segment_slow(seg: &[u8], base: usize) -> Result<(), ScanError> {
    let ctrl = seg.iter().position(|&c| c < 0x20);
    let bad_utf8 = std::str::from_utf8(seg).err().map(|e| e.valid_up_to());
    match (ctrl, bad_utf8) {
        (Some(c), Some(u)) if u < c => Err(fail(base + u, "invalid UTF-8 in string")),
        (Some(c), _) => Err(fail(
            base + c,
            "control character in string (must be escaped)",
        )),
        (None, Some(u)) => Err(fail(base + u, "invalid UTF-8 in string")),
        (None, None) => Ok(()),
    }
}

/// Decodes the contents of a validated JSON string (no quotes) and feeds its UTF-8 bytes to
/// `push` in pieces. Returns false if `push` asked to stop (returned false) or the input is not
/// a valid escaped string; true when everything was pushed.
fn unescape_with(raw: &[u8], mut push: impl FnMut(&[u8]) -> bool) -> bool {
    let mut i = 0;
    loop {
        let rest = raw.get(i..).unwrap_or_default();
        let Some(k) = memchr(b'\\', rest) else {
            return push(rest);
        };
        if !push(rest.get(..k).unwrap_or_default()) {
            return false;
        }
        let at = i + k;
        let mut buf = [0u8; 4];
        let (decoded, next): (&[u8], usize) = match raw.get(at + 1) {
            Some(b'"') => (b"\"", at + 2),
            Some(b'\\') => (b"\\", at + 2),
            Some(b'/') => (b"/", at + 2),
            Some(b'b') => (b"\x08", at + 2),
            Some(b'f') => (b"\x0c", at + 2),
            Some(b'n') => (b"\n", at + 2),
            Some(b'r') => (b"\r", at + 2),
            Some(b't') => (b"\t", at + 2),
            Some(b'u') => {
                let Some(hi) = hex4(raw, at + 2) else {
                    return false;
                };
                let (cp, next) = if (0xD800..0xDC00).contains(&hi) {
                    let lo = match (raw.get(at + 6..at + 8), hex4(raw, at + 8)) {
                        (Some(b"\\u"), Some(lo)) if (0xDC00..0xE000).contains(&lo) => lo,
                        _ => return false,
                    };
                    (0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00), at + 12)
                } else {
                    (hi, at + 6)
                };
                let Some(ch) = char::from_u32(cp) else {
                    return false;
                };
                (ch.encode_utf8(&mut buf).as_bytes(), next)
            }
            _ => return false,
        };
        if !push(decoded) {
            return false;
        }
        i = next;
    }
}

/// Whether the raw (escaped) key `raw` decodes to `want`. Plain keys compare bytes directly;
/// only a key containing a backslash is decoded, and without allocating.
#[inline]
fn key_is(raw: &[u8], want: &[u8]) -> bool {
    if raw == want {
        return true;
    }
    // The longest spelling of `want` escapes every byte as `\u00XX` (6 bytes each); a key with
    // no backslash that is not byte-equal cannot match.
    if raw.len() <= want.len() || raw.len() > want.len() * 6 || memchr(b'\\', raw).is_none() {
        return false;
    }
    let mut rest = want;
    unescape_with(raw, |piece| match rest.strip_prefix(piece) {
        Some(r) => {
            rest = r;
            true
        }
        None => false,
    }) && rest.is_empty()
}

/// What the gateway needs from an OpenAI-format request body, found by [`scan_request`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFields {
    /// Span of the top-level `"model"` string value, quotes included (what
    /// [`splice_string`] replaces); `None` when the body has no `model`.
    pub model: Option<Range<usize>>,
    /// True when the model string contains escapes, so [`model_str`] must decode it.
    pub model_escaped: bool,
    /// The top-level `"stream"` flag; `false` when absent or `null`.
    pub stream: bool,
}

/// Why a request body cannot be passed through: invalid JSON or a badly typed field we rely on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// The body is not a valid JSON object.
    Json(ScanError),
    /// The top-level `model` is present but not a string.
    ModelNotString,
    /// The top-level `model` key appears more than once (the gateway and the provider might pick
    /// different ones, so routing could disagree with what is actually served).
    DuplicateModel,
    /// The top-level `stream` is present but neither a boolean nor `null`.
    StreamNotBool,
    /// The top-level `stream` key appears more than once (same reason as `DuplicateModel`: we
    /// must not treat a streaming response as a plain one or the reverse).
    DuplicateStream,
    /// [`model_str`] was asked for the model but the body has none.
    MissingModel,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::Json(e) => e.fmt(f),
            FieldError::ModelNotString => f.write_str("\"model\" must be a string"),
            FieldError::DuplicateModel => f.write_str("duplicate \"model\" key in request body"),
            FieldError::StreamNotBool => f.write_str("\"stream\" must be a boolean"),
            FieldError::DuplicateStream => f.write_str("duplicate \"stream\" key in request body"),
            FieldError::MissingModel => f.write_str("missing \"model\" in request body"),
        }
    }
}

impl std::error::Error for FieldError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FieldError::Json(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ScanError> for FieldError {
    fn from(e: ScanError) -> Self {
        FieldError::Json(e)
    }
}

/// Validates an OpenAI-format request body and finds its top-level `model` and `stream`.
///
/// JSON errors take precedence over field errors (the whole body is validated first); among field
/// errors the first one in document order is returned. `"stream": null` counts as `false`, as the
/// OpenAI API treats it. `"model"` nested inside other values is ignored. A missing `model` is not
/// an error here (some routes take the model from the path); [`model_str`] reports it.
pub fn scan_request(body: &[u8]) -> Result<RequestFields, FieldError> {
    let mut fields = RequestFields::default();
    let mut seen_model = false;
    let mut seen_stream = false;
    let mut first_err: Option<FieldError> = None;
    scan_object(body, |key, m| {
        let value = body.get(m.value.clone()).unwrap_or_default();
        if key_is(key, b"model") {
            if seen_model {
                first_err.get_or_insert(FieldError::DuplicateModel);
                return;
            }
            seen_model = true;
            if value.first() == Some(&b'"') {
                fields.model = Some(m.value.clone());
                fields.model_escaped = memchr(b'\\', value).is_some();
            } else {
                first_err.get_or_insert(FieldError::ModelNotString);
            }
        } else if key_is(key, b"stream") {
            if seen_stream {
                first_err.get_or_insert(FieldError::DuplicateStream);
                return;
            }
            seen_stream = true;
            match value {
                b"true" => fields.stream = true,
                b"false" | b"null" => fields.stream = false,
                _ => {
                    first_err.get_or_insert(FieldError::StreamNotBool);
                }
            }
        }
    })?;
    match first_err {
        Some(e) => Err(e),
        None => Ok(fields),
    }
}

/// The model name from a body scanned by [`scan_request`], unescaped.
///
/// Without escapes (the common case) this borrows straight from `body`; with escapes it decodes
/// into `scratch` (cleared first, so one `String` can be reused across requests) and borrows that.
/// `fields` must come from scanning this same `body`; a span that does not point at a JSON string
/// yields [`FieldError::Json`] rather than a panic.
pub fn model_str<'a>(
    body: &'a [u8],
    fields: &RequestFields,
    scratch: &'a mut String,
) -> Result<&'a str, FieldError> {
    let span = fields.model.clone().ok_or(FieldError::MissingModel)?;
    let bad = || {
        FieldError::Json(fail(
            span.start,
            "model span does not point at a JSON string",
        ))
    };
    let lit = body.get(span.clone()).ok_or_else(bad)?;
    let inner = match lit {
        [b'"', inner @ .., b'"'] => inner,
        _ => return Err(bad()),
    };
    if !fields.model_escaped {
        // Validated already, but re-checking a short name is cheaper than an `unsafe` claim.
        return std::str::from_utf8(inner).map_err(|_| bad());
    }
    scratch.clear();
    let ok = unescape_with(inner, |piece| match std::str::from_utf8(piece) {
        Ok(s) => {
            scratch.push_str(s);
            true
        }
        Err(_) => false,
    });
    if ok {
        Ok(scratch.as_str())
    } else {
        Err(bad())
    }
}

/// Appends `body` to `out` with the bytes in `span` replaced by `replacement` written as a JSON
/// string literal (quoted; `"`, `\` and control characters escaped; other text kept as UTF-8).
///
/// This is how the gateway rewrites `"model"` without re-serializing: pass
/// `RequestFields::model` as `span`. One pass over the input; `out` is reserved once, so nothing
/// else allocates. A span outside the body is clamped to it rather than panicking.
pub fn splice_string(body: &[u8], span: Range<usize>, replacement: &str, out: &mut BytesMut) {
    let start = span.start.min(body.len());
    let end = span.end.clamp(start, body.len());
    let head = body.get(..start).unwrap_or_default();
    let tail = body.get(end..).unwrap_or_default();
    out.reserve(head.len() + replacement.len() + 2 + tail.len());
    out.extend_from_slice(head);
    write_json_string(replacement, out);
    out.extend_from_slice(tail);
}

/// Writes `s` as a JSON string literal, copying runs of bytes that need no escaping in one go.
fn write_json_string(s: &str, out: &mut BytesMut) {
    let bytes = s.as_bytes();
    out.extend_from_slice(b"\"");
    let mut run = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let mut hex = *b"\\u0000";
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                hex[4] = HEX[usize::from(c >> 4)];
                hex[5] = HEX[usize::from(c & 0xf)];
                &hex
            }
            _ => continue,
        };
        out.extend_from_slice(bytes.get(run..i).unwrap_or_default());
        out.extend_from_slice(esc);
        run = i + 1;
    }
    out.extend_from_slice(bytes.get(run..).unwrap_or_default());
    out.extend_from_slice(b"\"");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &[u8]) -> bool {
        scan_object(body, |_, _| {}).is_ok()
    }

    fn err(body: &[u8]) -> ScanError {
        match scan_object(body, |_, _| {}) {
            Ok(()) => panic!("accepted invalid body {:?}", String::from_utf8_lossy(body)),
            Err(e) => e,
        }
    }

    fn serde_accepts_object(body: &[u8]) -> Result<bool, String> {
        serde_json::from_slice::<serde_json::Value>(body)
            .map(|v| v.is_object())
            .map_err(|e| e.to_string())
    }

    const VALID: &[&str] = &[
        "{}",
        " \t\r\n{ \t\r\n} \t\r\n",
        r#"{"a":1}"#,
        r#"{"":""}"#,
        r#"{"a":[],"b":{},"c":[[]],"d":[{}],"e":{"f":{}}}"#,
        r#"{"n":[0,-0,1,-1,10,0.5,-0.5,1e5,1E5,1e+5,1e-5,1.25E-10,123456789012345678901234567890]}"#,
        r#"{"l":[true,false,null]}"#,
        r#"{"s":"plain","e":"\" \\ \/ \b \f \n \r \t","u":"\u0041\u00e9\u20AC\uFFFF\u0000"}"#,
        r#"{"pair":"\ud83d\ude00","PAIR":"\uD83D\uDE00 trailing"}"#,
        "{\"utf8\":\"caf\u{e9} \u{20ac} \u{1f600} \u{7f}\"}",
        "{\"k\u{e9}y\":1}",
        r#"{ "a" : [ 1 , 2 , { "b" : null } ] , "c" : "d" }"#,
        r#"{"dup":1,"dup":2}"#,
        r#"{"big":1e400,"neg":-1e400}"#,
    ];

    const INVALID: &[&[u8]] = &[
        b"",
        b"   ",
        b"[]",
        b"\"x\"",
        b"1",
        b"null",
        b"{",
        b"{\"a\"",
        b"{\"a\"}",
        b"{\"a\":}",
        b"{\"a\" 1}",
        b"{\"a\":1,}",
        b"{,}",
        b"{\"a\":1,,\"b\":2}",
        b"{\"a\":[1,]}",
        b"{\"a\":[,1]}",
        b"{\"a\":[1 2]}",
        b"{\"a\":{\"b\":1,}}",
        b"{\"a\":{\"b\"}}",
        b"{\"a\":01}",
        b"{\"a\":-01}",
        b"{\"a\":00}",
        b"{\"a\":1.}",
        b"{\"a\":.5}",
        b"{\"a\":-}",
        b"{\"a\":-a}",
        b"{\"a\":+1}",
        b"{\"a\":1e}",
        b"{\"a\":1e+}",
        b"{\"a\":1.e5}",
        b"{\"a\":0x10}",
        b"{\"a\":1.5.2}",
        b"{\"a\":NaN}",
        b"{\"a\":Infinity}",
        b"{\"a\":-Infinity}",
        b"{\"a\":tru}",
        b"{\"a\":True}",
        b"{\"a\":nul}",
        b"{\"a\":falsey}",
        b"{\"a\":\"abc}",
        b"{\"a\":\"abc",
        b"{\"a\":\"abc\\",
        b"{\"a\":\"abc\\\"}",
        b"{\"a\":\"\\x\"}",
        b"{\"a\":\"\\a\"}",
        b"{\"a\":\"\\'\"}",
        b"{\"a\":\"\\u12\"}",
        b"{\"a\":\"\\u12G4\"}",
        b"{\"a\":\"\\uZZZZ\"}",
        b"{\"a\":\"\\U0041\"}",
        b"{\"a\":\"\\ud800\"}",
        b"{\"a\":\"\\udc00\"}",
        b"{\"a\":\"\\ud800\\u0041\"}",
        b"{\"a\":\"\\ud800\\ud800\"}",
        b"{\"a\":\"\\ud800\\n\"}",
        b"{\"a\":\"\\ud800x\"}",
        b"{\"a\":\"\\ude00\\ud83d\"}",
        b"{\"a\":\"tab\there\"}",
        b"{\"a\":\"nl\nhere\"}",
        b"{\"a\":\"nul\x00here\"}",
        b"{\"a\":\"\x1f\"}",
        b"{\"a\":\"\xff\"}",
        b"{\"a\":\"\xc0\xaf\"}",
        b"{\"a\":\"\xed\xa0\x80\"}",
        b"{\"a\":\"\xe2\x82\"}",
        b"{\"a\":\"\xf4\x90\x80\x80\"}",
        b"{\"\xff\":1}",
        b"{\"a\":1}\xff",
        b"\xef\xbb\xbf{}",
        b"{\"a\":1} x",
        b"{}{}",
        b"{\"a\":1}}",
        b"{\"a\":1}]",
        b"{'a':1}",
        b"{\"a\":'b'}",
        b"{a:1}",
        b"{1:1}",
        b"{\"a\":1 /* c */}",
        b"{\"a\":1}//",
        b"{\"a\":[1}",
        b"{\"a\":{]}",
        b"{\"a\":{\"b\":1]}",
        b"{\x0c}",
        b"{\xa0}",
        b"{\"a\":\x0b1}",
        b"{\"a\":undefined}",
        b"{\"a\":\"\\u00e9\" \"b\":1}",
    ];

    #[test]
    fn valid_corpus() {
        for body in VALID {
            assert!(
                ok(body.as_bytes()),
                "rejected {body}: {:?}",
                err(body.as_bytes())
            );
        }
    }

    #[test]
    fn invalid_corpus() {
        for body in INVALID {
            let e = err(body);
            assert!(e.offset <= body.len(), "{e:?} for {body:?}");
        }
    }

    #[test]
    fn corpora_agree_with_serde_json() {
        for body in VALID {
            let serde = serde_accepts_object(body.as_bytes());
            // 1e400 is the documented difference: serde_json rejects out-of-range numbers.
            if body.contains("1e400") {
                assert!(serde.unwrap_err().contains("number out of range"));
                continue;
            }
            assert_eq!(serde, Ok(true), "{body}");
        }
        for body in INVALID {
            assert_ne!(
                serde_accepts_object(body),
                Ok(true),
                "serde_json accepts {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn error_positions_and_messages() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"", 0, "empty body"),
            (b"  ", 2, "expected '{' but the body is only whitespace"),
            (b"[1]", 0, "expected '{': the body must be a JSON object"),
            (b"{\"a\":1,}", 7, "trailing comma in object"),
            (b"{\"a\":[1,]}", 8, "trailing comma in array"),
            (b"{\"a\":01}", 5, "invalid number: leading zero"),
            (
                b"{\"a\":1.}",
                7,
                "invalid number: expected a digit after '.'",
            ),
            (b"{\"a\":.5}", 5, "expected a value"),
            (b"{\"a\":-}", 6, "invalid number: expected a digit"),
            (
                b"{\"a\":1e}",
                7,
                "invalid number: expected a digit in the exponent",
            ),
            (b"{\"a\":\"abc}", 5, "unterminated string"),
            (b"{\"a\":\"\\x\"}", 6, "invalid escape sequence"),
            (
                b"{\"a\":\"\\u12\"}",
                6,
                "invalid \\u escape: expected 4 hex digits",
            ),
            (b"{\"a\":\"\\ud800\"}", 6, "lone surrogate in \\u escape"),
            (
                b"{\"a\":\"x\ty\"}",
                7,
                "control character in string (must be escaped)",
            ),
            (b"{\"a\":\"x\xffy\"}", 7, "invalid UTF-8 in string"),
            (
                b"{\"a\":tru}",
                5,
                "invalid literal (expected true, false or null)",
            ),
            (
                b"{\"a\":1} x",
                8,
                "trailing characters after the JSON object",
            ),
            (
                b"{\"a\":1",
                6,
                "unexpected end of input: expected ',' or '}'",
            ),
            (b"{\"a\" 1}", 5, "expected ':' after object key"),
            (b"{a:1}", 1, "expected a string key"),
            (
                b"{\"a\":[1 2]}",
                8,
                "expected ',' or ']' after array element",
            ),
        ];
        for &(body, offset, reason) in cases {
            assert_eq!(
                err(body),
                ScanError { offset, reason },
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            err(b"{\"a\":1,}").to_string(),
            "invalid JSON at byte 7: trailing comma in object"
        );
    }

    #[test]
    fn nesting_limit() {
        // MAX_DEPTH open containers including the top-level object are fine; one more is not.
        let nest = |n: usize| {
            let mut s = String::from("{\"a\":");
            s.push_str(&"[".repeat(n - 1));
            s.push_str(&"]".repeat(n - 1));
            s.push('}');
            s
        };
        assert!(ok(nest(MAX_DEPTH).as_bytes()));
        let e = err(nest(MAX_DEPTH + 1).as_bytes());
        assert_eq!(e.reason, "nesting too deep");
        assert_eq!(e.offset, 5 + MAX_DEPTH - 1);

        let mut objs = String::new();
        for _ in 0..MAX_DEPTH {
            objs.push_str("{\"k\":");
        }
        objs.push('1');
        objs.push_str(&"}".repeat(MAX_DEPTH));
        assert!(ok(objs.as_bytes()));
    }

    #[test]
    fn hostile_nesting_does_not_crash() {
        let mut deep = b"{\"a\":".to_vec();
        deep.extend(std::iter::repeat_n(b'[', 100_000));
        assert_eq!(err(&deep).reason, "nesting too deep");
        let deep_obj = "{\"a\":".repeat(100_000);
        assert_eq!(err(deep_obj.as_bytes()).reason, "nesting too deep");
        let brackets = vec![b'['; 100_000];
        assert!(err(&brackets).reason.starts_with("expected '{'"));
    }

    #[test]
    fn every_prefix_of_a_valid_body_is_rejected_without_panic() {
        for body in VALID {
            let b = body.trim_end().as_bytes();
            for n in 0..b.len() {
                assert!(!ok(&b[..n]), "accepted prefix {:?}", &body[..n]);
            }
        }
    }

    #[test]
    fn members_are_reported_in_order_with_spans() {
        let body = br#" { "a" : "x\"y" , "b\n":[1,{"c":2}],"d":-1.5e3 ,"e":true} "#;
        let mut seen = Vec::new();
        scan_object(body, |k, m| {
            assert_eq!(k, &body[m.key.clone()]);
            seen.push((
                String::from_utf8(k.to_vec()).unwrap(),
                String::from_utf8(body[m.value.clone()].to_vec()).unwrap(),
            ));
        })
        .unwrap();
        let want = [
            ("a", r#""x\"y""#),
            ("b\\n", r#"[1,{"c":2}]"#),
            ("d", "-1.5e3"),
            ("e", "true"),
        ];
        assert_eq!(seen.len(), want.len());
        for ((k, v), (wk, wv)) in seen.iter().zip(want) {
            assert_eq!((k.as_str(), v.as_str()), (wk, wv));
        }
    }

    fn model_of(body: &[u8]) -> Result<(String, bool), FieldError> {
        let f = scan_request(body)?;
        let mut scratch = String::new();
        Ok((model_str(body, &f, &mut scratch)?.to_owned(), f.stream))
    }

    #[test]
    fn request_fields() {
        let body =
            br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true}"#;
        let f = scan_request(body).unwrap();
        assert_eq!(&body[f.model.clone().unwrap()], br#""gpt-4o-mini""#);
        assert!(!f.model_escaped);
        assert!(f.stream);
        assert_eq!(model_of(body).unwrap(), ("gpt-4o-mini".into(), true));

        assert_eq!(
            model_of(br#"{"stream":false,"model":"a/b"}"#).unwrap(),
            ("a/b".into(), false)
        );
        assert_eq!(
            model_of(br#"{"model":"x","stream":null}"#).unwrap(),
            ("x".into(), false)
        );
        let absent = scan_request(br#"{"messages":[]}"#).unwrap();
        assert_eq!(absent, RequestFields::default());
        let mut s = String::new();
        assert_eq!(
            model_str(b"{}", &absent, &mut s),
            Err(FieldError::MissingModel)
        );
    }

    #[test]
    fn request_field_errors() {
        let cases: &[(&[u8], FieldError)] = &[
            (br#"{"model":1}"#, FieldError::ModelNotString),
            (br#"{"model":null}"#, FieldError::ModelNotString),
            (br#"{"model":["a"]}"#, FieldError::ModelNotString),
            (br#"{"model":"a","model":"b"}"#, FieldError::DuplicateModel),
            (
                br#"{"model":"a","mod\u0065l":"b"}"#,
                FieldError::DuplicateModel,
            ),
            (br#"{"model":1,"model":"b"}"#, FieldError::ModelNotString),
            (br#"{"stream":"true"}"#, FieldError::StreamNotBool),
            (br#"{"stream":1}"#, FieldError::StreamNotBool),
            (
                br#"{"stream":true,"stream":false}"#,
                FieldError::DuplicateStream,
            ),
            (br#"{"\u0073tream":0}"#, FieldError::StreamNotBool),
        ];
        for (body, want) in cases {
            assert_eq!(
                scan_request(body).as_ref().err(),
                Some(want),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        // JSON errors win over field errors found before them.
        assert!(matches!(
            scan_request(br#"{"model":1,"x":tru}"#),
            Err(FieldError::Json(_))
        ));
        assert_eq!(
            FieldError::DuplicateModel.to_string(),
            "duplicate \"model\" key in request body"
        );
        assert_eq!(
            FieldError::Json(err(b"")).to_string(),
            "invalid JSON at byte 0: empty body"
        );
    }

    #[test]
    fn escaped_keys_and_values() {
        // A key written with escapes is the same key.
        for key in [
            r"mod\u0065l",
            r"\u006d\u006F\u0064\u0065\u006c",
            r"m\u006fdel",
        ] {
            let body = format!(r#"{{"{key}":"gpt"}}"#);
            assert_eq!(model_of(body.as_bytes()).unwrap().0, "gpt", "{key}");
        }
        // Near misses are other keys.
        for key in [
            r"model\u0000",
            r"mode",
            r"models",
            r"Model",
            r"mod\u0065",
            r"model\n",
        ] {
            let body = format!(r#"{{"{key}":"gpt"}}"#);
            assert_eq!(scan_request(body.as_bytes()).unwrap().model, None, "{key}");
        }
        let body = br#"{"model":"a\"b\\c\/d\u00e9\ud83d\ude00\n"}"#;
        let f = scan_request(body).unwrap();
        assert!(f.model_escaped);
        let mut scratch = String::from("leftover");
        assert_eq!(
            model_str(body, &f, &mut scratch).unwrap(),
            "a\"b\\c/d\u{e9}\u{1f600}\n"
        );
        // Non-ASCII without escapes is borrowed from the body.
        let body = "{\"model\":\"caf\u{e9}\"}".as_bytes();
        let f = scan_request(body).unwrap();
        assert!(!f.model_escaped);
        assert_eq!(
            model_str(body, &f, &mut String::new()).unwrap(),
            "caf\u{e9}"
        );
    }

    #[test]
    fn nested_model_keys_are_ignored() {
        let body = br#"{"messages":[{"model":"inner","stream":"x"}],"meta":{"model":5,"stream":1},"model":"outer"}"#;
        let f = scan_request(body).unwrap();
        assert_eq!(&body[f.model.clone().unwrap()], br#""outer""#);
        assert!(!f.stream);
        let body = br#"{"messages":[{"model":"inner"}]}"#;
        assert_eq!(scan_request(body).unwrap().model, None);
    }

    #[test]
    fn model_str_never_panics_on_foreign_spans() {
        let body = br#"{"model":"abc"}"#;
        // Built at run time: clippy rightly objects to a literal reversed range, but a caller's
        // arithmetic can produce one.
        let (lo, hi) = (9, 12);
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = hi..lo;
        for span in [0..3, 9..100, reversed, 9..10, 10..14] {
            let f = RequestFields {
                model: Some(span),
                model_escaped: true,
                stream: false,
            };
            let _ = model_str(body, &f, &mut String::new());
            let f = RequestFields {
                model_escaped: false,
                ..f
            };
            let _ = model_str(body, &f, &mut String::new());
        }
    }

    #[test]
    fn splice_round_trips_through_serde_json() {
        let bodies: &[&[u8]] = &[
            br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
            br#"{ "messages" : [] , "model" : "a" }"#,
            br#"{"model":"mod\u0065l \"quoted\"","n":1}"#,
            "{\"model\":\"caf\u{e9}\",\"x\":{\"model\":\"keep\"}}".as_bytes(),
        ];
        let replacements = [
            "openai/gpt-4o",
            "",
            "with \"quotes\" and \\ backslash",
            "ctl \u{0}\u{1}\u{8}\u{c}\n\r\t\u{1f}\u{7f} end",
            "unicode \u{e9}\u{20ac}\u{1f600}\u{2028}",
            "/slash/",
        ];
        let mut out = BytesMut::new();
        for body in bodies {
            let f = scan_request(body).unwrap();
            let span = f.model.clone().unwrap();
            let mut want: serde_json::Value = serde_json::from_slice(body).unwrap();
            for r in replacements {
                out.clear();
                splice_string(body, span.clone(), r, &mut out);
                let got: serde_json::Value = serde_json::from_slice(&out).unwrap();
                want["model"] = serde_json::Value::String(r.to_owned());
                assert_eq!(got, want);
                // The bytes outside the span are untouched.
                assert!(out.starts_with(&body[..span.start]));
                assert!(out.ends_with(&body[span.end..]));
                // And the result scans back to the same model.
                let f2 = scan_request(&out).unwrap();
                let mut s = String::new();
                assert_eq!(model_str(&out, &f2, &mut s).unwrap(), r);
            }
        }
    }

    #[test]
    fn splice_clamps_bad_spans() {
        let mut out = BytesMut::new();
        splice_string(b"abc", 5..9, "x", &mut out);
        assert_eq!(&out[..], b"abc\"x\"");
        out.clear();
        let (one, two) = (1, 2);
        splice_string(b"abc", two..one, "x", &mut out);
        assert_eq!(&out[..], b"ab\"x\"c");
    }

    /// xorshift64*: deterministic, dependency-free randomness for the differential test.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
            &xs[self.below(xs.len())]
        }
    }

    // Generator pieces: mostly valid, with a rare invalid one so that about half the documents
    // stay valid and the other half fail in many different places.
    const STR_GOOD: &[&str] = &[
        "a",
        "model",
        "stream",
        " ",
        "\\\"",
        "\\\\",
        "\\/",
        "\\n",
        "\\t",
        "\\u0041",
        "\\u00e9",
        "\\ud83d\\ude00",
        "\\uDBFF\\uDFFF",
        "\u{e9}",
        "\u{1f600}",
        "\u{7f}",
    ];
    const STR_BAD: &[&str] = &[
        "\\uD800", "\\uDC00", "\\u", "\\u12", "\\x", "\t", "\u{1}", "\"", "\\",
    ];
    const NUM_GOOD: &[&str] = &[
        "0",
        "-0",
        "1",
        "-12",
        "0.5",
        "1.0e10",
        "1E-3",
        "2e+8",
        "123456789012345678901234567890",
    ];
    const NUM_BAD: &[&str] = &["01", "1.", ".5", "-", "1e", "+1", "1e999", "-01", "1.e3"];
    const WS_GOOD: &[&str] = &["", "", "", " ", "\n", "\t", "\r\n"];
    const WS_BAD: &[&str] = &["\u{c}", "\u{a0}", "\u{b}"];
    const LIT_GOOD: &[&str] = &["true", "false", "null"];
    const LIT_BAD: &[&str] = &["nul", "tru", "True", "nulll"];

    fn piece(r: &mut Rng, good: &[&'static str], bad: &[&'static str]) -> &'static [u8] {
        if r.below(60) == 0 {
            r.pick(bad).as_bytes()
        } else {
            r.pick(good).as_bytes()
        }
    }

    fn ws(r: &mut Rng) -> &'static [u8] {
        piece(r, WS_GOOD, WS_BAD)
    }

    fn gen_string(r: &mut Rng, out: &mut Vec<u8>) {
        out.push(b'"');
        for _ in 0..r.below(5) {
            out.extend_from_slice(piece(r, STR_GOOD, STR_BAD));
        }
        out.push(b'"');
    }

    fn gen_value(r: &mut Rng, out: &mut Vec<u8>, depth: usize) {
        let kinds = if depth > 4 { 4 } else { 6 };
        match r.below(kinds) {
            0 | 3 => gen_string(r, out),
            1 => out.extend_from_slice(piece(r, NUM_GOOD, NUM_BAD)),
            2 => out.extend_from_slice(piece(r, LIT_GOOD, LIT_BAD)),
            4 => gen_object(r, out, depth + 1),
            _ => {
                out.push(b'[');
                for i in 0..r.below(4) {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(ws(r));
                    gen_value(r, out, depth + 1);
                }
                out.push(b']');
            }
        }
    }

    fn gen_object(r: &mut Rng, out: &mut Vec<u8>, depth: usize) {
        out.push(b'{');
        for i in 0..r.below(5) {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(ws(r));
            // Bias keys toward the ones scan_request cares about, spelled in several ways.
            match r.below(8) {
                0 => out.extend_from_slice(br#""model""#),
                1 => out.extend_from_slice(br#""stream""#),
                2 => out.extend_from_slice(br#""mod\u0065l""#),
                _ => gen_string(r, out),
            }
            out.extend_from_slice(ws(r));
            out.push(b':');
            gen_value(r, out, depth);
            out.extend_from_slice(ws(r));
        }
        out.push(b'}');
    }

    const ALPHABET: &[u8] =
        b"{}[]:,\"\\ -+.eE0159tfnulasx\t\n\r\x00\x1f\x7f\xc3\xa9\xff\xed\xa0\x80\xf0\x9f";

    fn mutate(r: &mut Rng, doc: &mut Vec<u8>) {
        for _ in 0..r.below(3) {
            let at = r.below(doc.len() + 1);
            match r.below(5) {
                0 if at < doc.len() => doc[at] = *r.pick(ALPHABET),
                1 => doc.insert(at, *r.pick(ALPHABET)),
                2 if at < doc.len() => {
                    doc.remove(at);
                }
                3 => doc.truncate(at),
                _ => {
                    let end = (at + r.below(8)).min(doc.len());
                    let chunk = doc[at..end].to_vec();
                    doc.splice(at..at, chunk);
                }
            }
        }
    }

    #[test]
    fn differential_against_serde_json() {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut valid, mut invalid, mut checked_fields) = (0, 0, 0);
        for iter in 0..20_000 {
            let mut doc = Vec::new();
            if iter % 10 == 9 {
                // Pure noise from the interesting alphabet, usually starting like an object.
                doc.push(b'{');
                for _ in 0..r.below(24) {
                    doc.push(*r.pick(ALPHABET));
                }
            } else {
                doc.extend_from_slice(ws(&mut r));
                gen_object(&mut r, &mut doc, 1);
                doc.extend_from_slice(ws(&mut r));
                if r.below(2) == 0 {
                    mutate(&mut r, &mut doc);
                }
            }
            let ours = scan_object(&doc, |_, _| {});
            let theirs = serde_accepts_object(&doc);
            // Documented difference: serde_json rejects numbers beyond f64's range.
            if ours.is_ok() && matches!(&theirs, Err(m) if m.contains("number out of range")) {
                continue;
            }
            assert_eq!(
                ours.is_ok(),
                theirs == Ok(true),
                "disagree on {:?}: ours {ours:?}, serde_json {theirs:?}",
                String::from_utf8_lossy(&doc)
            );
            if ours.is_ok() {
                valid += 1;
                // Where scan_request accepts, it reads what serde_json reads.
                if let (Ok(f), Ok(v)) = (
                    scan_request(&doc),
                    serde_json::from_slice::<serde_json::Value>(&doc),
                ) {
                    let mut scratch = String::new();
                    let model = model_str(&doc, &f, &mut scratch).ok();
                    assert_eq!(model, v.get("model").and_then(|m| m.as_str()));
                    let stream = v.get("stream").and_then(|s| s.as_bool());
                    assert_eq!(f.stream, stream.unwrap_or(false));
                    checked_fields += 1;
                }
            } else {
                invalid += 1;
            }
        }
        // The generator must exercise both sides substantially.
        assert!(
            valid > 4_000 && invalid > 4_000 && checked_fields > 2_000,
            "valid {valid}, invalid {invalid}, fields checked {checked_fields}"
        );
    }
}
