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
    scan_members(body, |key, _, member| visit(key, member))
}

/// Whether a member's key and (string) value contain backslash escapes.
#[derive(Clone, Copy)]
struct Escapes {
    key: bool,
    value: bool,
}

/// [`scan_object`] that also tells the visitor which strings contain escapes, so that key
/// comparison and model extraction skip decoding (and even looking for backslashes) in the
/// common case.
#[inline(always)]
fn scan_members(
    body: &[u8],
    mut visit: impl FnMut(&[u8], Escapes, &Member),
) -> Result<(), ScanError> {
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
            let (key, key_escaped) = s.key_colon(after_comma)?;
            after_comma = true;
            let vstart = s.pos;
            // Top-level strings are scanned here rather than in `value` so that the visitor
            // learns whether they contain escapes without looking again.
            let value_escaped = if s.peek() == Some(b'"') {
                s.string()?
            } else {
                s.value(1)?;
                false
            };
            let member = Member {
                key,
                value: vstart..s.pos,
            };
            let key_raw = body.get(member.key.clone()).unwrap_or_default();
            visit(
                key_raw,
                Escapes {
                    key: key_escaped,
                    value: value_escaped,
                },
                &member,
            );
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
    fn key_colon(&mut self, after_comma: bool) -> Result<(Range<usize>, bool), ScanError> {
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
        let escaped = self.string()?;
        let key = kstart..self.pos - 1;
        self.skip_ws();
        match self.peek() {
            Some(b':') => self.pos += 1,
            None => return Err(fail(self.pos, "unexpected end of input: expected ':'")),
            Some(_) => return Err(fail(self.pos, "expected ':' after object key")),
        }
        self.skip_ws();
        Ok((key, escaped))
    }

    /// Validates one value of any kind starting at `pos` (whitespace already skipped) and leaves
    /// `pos` just after it. `outer` is the number of containers already open around it.
    ///
    /// Iterative: containers are tracked in a `u128` bit stack (bit 0 = innermost, 1 = object),
    /// which is enough because `MAX_DEPTH` is 128, so hostile nesting costs neither stack nor heap.
    fn value(&mut self, outer: usize) -> Result<(), ScanError> {
        let mut stack: u128 = 0;
        let mut depth: usize = 0; // containers opened inside this call
        'value: loop {
            match self.peek() {
                Some(b'"') => {
                    self.string()?;
                }
                Some(c @ (b'{' | b'[')) => {
                    if outer + depth >= MAX_DEPTH {
                        return Err(fail(self.pos, "nesting too deep"));
                    }
                    let is_obj = c == b'{';
                    // Push: the innermost container is bit 0. At most MAX_DEPTH - 1 = 127
                    // containers are open here, so no bit that matters is shifted out.
                    stack = (stack << 1) | u128::from(is_obj);
                    depth += 1;
                    self.pos += 1;
                    self.skip_ws();
                    let close = if is_obj { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        depth -= 1;
                        stack >>= 1;
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
                let in_obj = stack & 1 == 1;
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
                        stack >>= 1;
                    }
                    Some(b']') if !in_obj => {
                        self.pos += 1;
                        depth -= 1;
                        stack >>= 1;
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
    /// quote. Returns whether the string contains escapes.
    ///
    /// [`next_special`] jumps to the next byte that needs attention (quote, backslash, control
    /// character, non-ASCII): SSE2 over the first 64 bytes, then memchr2 (AVX2) plus a
    /// vectorized check for long text. Only non-ASCII text goes through UTF-8 validation.
    /// Outside strings every valid byte is ASCII, so validating strings this way validates the
    /// whole body's UTF-8 without a separate `from_utf8` pass over it.
    #[inline(always)]
    fn string(&mut self) -> Result<bool, ScanError> {
        let b = self.b;
        let open = self.pos;
        let mut i = open + 1;
        let mut escaped = false;
        loop {
            let Some(j) = next_special(b, i) else {
                return Err(fail(open, "unterminated string"));
            };
            match b.get(j) {
                Some(b'"') => {
                    self.pos = j + 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    // Two-byte escapes are the common ones (`\"`, `\n` in prompts and in JSON
                    // embedded in strings); keep them inline.
                    i = match b.get(j + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j + 2,
                        _ => self.escape(j)?,
                    };
                }
                Some(&c) if c >= 0x80 => {
                    // One multi-byte character in ASCII text (an accent, a dash, an emoji) is
                    // checked in place; where another follows, the text is dense non-ASCII and
                    // the rest of the run is validated in one go.
                    let Some(n) = utf8_char_len(b, j) else {
                        return Err(fail(j, "invalid UTF-8 in string"));
                    };
                    i = j + n;
                    if b.get(i).is_some_and(|&c| c >= 0x80) {
                        i = non_ascii_run(b, i, open)?;
                    }
                }
                _ => return Err(fail(j, "control character in string (must be escaped)")),
            }
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

    /// Matches `true`, `false` or `null` exactly; what follows is checked by the caller's
    /// structure (so `truex` fails at the `x` with "expected ',' ...").
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

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `x` that is a quote, a backslash, a control character (< 0x20)
/// or non-ASCII (>= 0x80). The lowest set bit is always exact (borrows in the subtractions only
/// create false flags *above* a true one), which is all [`next_special`] needs.
#[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
#[inline(always)]
fn special_mask(x: u64) -> u64 {
    let q = x ^ (LO * u64::from(b'"'));
    let s = x ^ (LO * u64::from(b'\\'));
    let quote = q.wrapping_sub(LO) & !q;
    let slash = s.wrapping_sub(LO) & !s;
    let ctrl_or_high = x.wrapping_sub(LO * 0x20) | x;
    (quote | slash | ctrl_or_high) & HI
}

/// True for the bytes that end a plain run inside a string.
#[inline(always)]
fn is_special(c: u8) -> bool {
    c == b'"' || c == b'\\' || c.wrapping_sub(0x20) >= 0x60
}

/// How many 16-byte (or 2 × 8-byte) blocks [`next_special`] checks in registers before handing
/// a long run to memchr. 64 bytes covers keys, roles, model names and short messages without
/// a call; past that the run is message text, where memchr2's AVX2 loop is faster per byte.
const INLINE_BLOCKS: usize = 4;

/// Index of the first quote, backslash, control character or non-ASCII byte at or after `i`,
/// or `None` if there is none before the end of the body.
#[inline(always)]
fn next_special(b: &[u8], i: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    return next_special_sse2(b, i);
    #[cfg(not(target_arch = "x86_64"))]
    return next_special_swar(b, i);
}

/// [`next_special`] with SSE2, 16 bytes per step.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn next_special_sse2(b: &[u8], mut i: usize) -> Option<usize> {
    for _ in 0..INLINE_BLOCKS {
        let Some(w) = b.get(i..i + 16).and_then(|w| <[u8; 16]>::try_from(w).ok()) else {
            return next_special_tail(b, i);
        };
        let m = special_mask16(w);
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
        i += 16;
    }
    next_special_long(b, i)
}

/// Bit k set when byte k of `w` is a quote, a backslash, a control character or non-ASCII.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn special_mask16(w: [u8; 16]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_set_epi64x,
    };
    let [a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7] = w;
    let lo = i64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]);
    let hi = i64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]);
    // SAFETY: SSE2 is part of the x86_64 baseline, so these intrinsics exist on every CPU this
    // code can run on, and none of them accesses memory (the bytes were read by safe code
    // above; LLVM fuses that into one unaligned load). This is the module's only `unsafe`.
    #[allow(unsafe_code)]
    unsafe {
        let x = _mm_set_epi64x(hi, lo);
        let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
        let slash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
        // Signed compare: bytes >= 0x80 are negative, so one test catches < 0x20 and non-ASCII.
        let other = _mm_cmplt_epi8(x, _mm_set1_epi8(0x20));
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, slash), other)) as u32
    }
}

/// Portable [`next_special`]: 8 bytes per step in a general-purpose register (SWAR). Used on
/// targets other than x86_64, and checked against the SSE2 version by the tests.
#[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
#[inline(always)]
fn next_special_swar(b: &[u8], mut i: usize) -> Option<usize> {
    for _ in 0..INLINE_BLOCKS * 2 {
        let Some(w) = b.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) else {
            return next_special_tail(b, i);
        };
        let m = special_mask(u64::from_le_bytes(w));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    next_special_long(b, i)
}

/// [`next_special`] for the last few bytes of the body.
#[inline(never)]
fn next_special_tail(b: &[u8], i: usize) -> Option<usize> {
    let rest = b.get(i..)?;
    rest.iter().position(|&c| is_special(c)).map(|p| i + p)
}

/// [`next_special`] for long runs of text.
#[inline(never)]
fn next_special_long(b: &[u8], i: usize) -> Option<usize> {
    let rest = b.get(i..)?;
    let Some(k) = memchr2(b'"', b'\\', rest) else {
        // No terminator at all: still report a control/non-ASCII byte if there is one, the
        // caller turns `None` into "unterminated string".
        return next_special_tail(b, i);
    };
    let run = rest.get(..k).unwrap_or_default();
    if all_plain_ascii(run) {
        Some(i + k)
    } else {
        run.iter().position(|&c| is_special(c)).map(|p| i + p)
    }
}

/// True when every byte is printable ASCII or DEL (0x20..=0x7F), the overwhelmingly common case.
#[inline(always)]
fn all_plain_ascii(seg: &[u8]) -> bool {
    // OR-accumulate and test once at the end: no per-chunk horizontal reduction, and this simple
    // u64 loop is one LLVM vectorizes (SSE2: 32 bytes per handful of instructions).
    let mut acc = 0u64;
    let mut words = seg.chunks_exact(8);
    for w in &mut words {
        let Ok(w) = <[u8; 8]>::try_from(w) else {
            return false;
        };
        let x = u64::from_le_bytes(w);
        // A byte < 0x20 borrows into its own high bit; a byte >= 0x80 has it set already.
        acc |= x.wrapping_sub(LO * 0x20) | x;
    }
    let tail = words
        .remainder()
        .iter()
        .fold(0u8, |m, &x| m.max(x.wrapping_sub(0x20)));
    acc & HI == 0 && tail < 0x60
}

/// Length of the valid UTF-8 character starting at `j` (a byte >= 0x80), or `None` if the bytes
/// there are not one (overlong forms, surrogates and code points above U+10FFFF included), per
/// the well-formed byte sequences table of the Unicode standard.
#[inline(always)]
fn utf8_char_len(b: &[u8], j: usize) -> Option<usize> {
    let cont = |k: usize, lo: u8, hi: u8| b.get(j + k).is_some_and(|&c| (lo..=hi).contains(&c));
    let any = |k: usize| cont(k, 0x80, 0xBF);
    let ok = match b.get(j)? {
        0xC2..=0xDF => return any(1).then_some(2),
        0xE0 => cont(1, 0xA0, 0xBF) && any(2),
        0xE1..=0xEC | 0xEE..=0xEF => any(1) && any(2),
        0xED => cont(1, 0x80, 0x9F) && any(2),
        0xF0 => return (cont(1, 0x90, 0xBF) && any(2) && any(3)).then_some(4),
        0xF1..=0xF3 => return (any(1) && any(2) && any(3)).then_some(4),
        0xF4 => return (cont(1, 0x80, 0x8F) && any(2) && any(3)).then_some(4),
        _ => false,
    };
    ok.then_some(3)
}

/// Handles string content at `j` that is a control character or non-ASCII: validates the run up
/// to the next quote or backslash in one go (text with one accented letter usually has more) and
/// returns where scanning continues. `open` is the string's opening quote, for the error.
#[inline(never)]
fn non_ascii_run(b: &[u8], j: usize, open: usize) -> Result<usize, ScanError> {
    let rest = b.get(j..).unwrap_or_default();
    let k = memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
    check_segment_slow(rest.get(..k).unwrap_or_default(), j)?;
    if k == rest.len() {
        return Err(fail(open, "unterminated string"));
    }
    Ok(j + k)
}

/// Checks a run of string content for control characters and invalid UTF-8, reporting whichever
/// comes first. A run always starts and ends next to an ASCII byte (quote, backslash or escape),
/// so a valid multi-byte character is never split across runs.
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

/// Whether the raw key `raw` (with `escaped` telling whether it has escapes) decodes to `want`.
/// Plain keys compare bytes directly; only an escaped key is decoded, and without allocating.
#[inline(always)]
fn key_is(raw: &[u8], escaped: bool, want: &[u8]) -> bool {
    if !escaped {
        return raw == want;
    }
    // The longest spelling of `want` escapes every byte as `\u00XX` (6 bytes each).
    if raw.len() <= want.len() || raw.len() > want.len() * 6 {
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
    /// Span of the whole top-level `"fallbacks"` member (key, colon and value), which the gateway
    /// reads and removes before forwarding; `None` when absent.
    pub fallbacks: Option<Range<usize>>,
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
    scan_members(body, |key, escapes, m| {
        let value = body.get(m.value.clone()).unwrap_or_default();
        if key_is(key, escapes.key, b"model") {
            if seen_model {
                first_err.get_or_insert(FieldError::DuplicateModel);
                return;
            }
            seen_model = true;
            if value.first() == Some(&b'"') {
                fields.model = Some(m.value.clone());
                fields.model_escaped = escapes.value;
            } else {
                first_err.get_or_insert(FieldError::ModelNotString);
            }
        } else if key_is(key, escapes.key, b"fallbacks") {
            // The key's opening quote is one byte before its contents.
            fields.fallbacks = Some(m.key.start.saturating_sub(1)..m.value.end);
        } else if key_is(key, escapes.key, b"stream") {
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

/// Copies `body` without the object member at `span` (as found by [`scan_request`]) and the comma
/// that separated it from its neighbour, so the result is still a valid JSON object.
pub fn remove_member(body: &[u8], span: Range<usize>) -> Vec<u8> {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let (mut start, mut end) = (span.start.min(body.len()), span.end.min(body.len()));
    // A following comma goes with the member; else the preceding one (it was the last member).
    let after = end + body[end..].iter().take_while(|b| is_ws(b)).count();
    if body.get(after) == Some(&b',') {
        end = after + 1;
    } else {
        let before = start - body[..start].iter().rev().take_while(|b| is_ws(b)).count();
        if before > 0 && body[before - 1] == b',' {
            start = before - 1;
        }
    }
    let mut out = Vec::with_capacity(body.len() - (end - start));
    out.extend_from_slice(&body[..start]);
    out.extend_from_slice(&body[end..]);
    out
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

/// Appends `s` as a JSON string literal (quoted and escaped), copying runs of bytes that need no
/// escaping in one go. The gateway's one JSON string writer (error bodies, the models list, ...).
pub fn write_json_string(s: &str, out: &mut BytesMut) {
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
mod fallbacks_tests {
    use super::*;

    #[test]
    fn fallbacks_member_is_found_and_removed() {
        for (body, expected) in [
            (
                r#"{"model":"m","fallbacks":["a","b"],"stream":true}"#,
                r#"{"model":"m","stream":true}"#,
            ),
            (
                r#"{"model":"m", "fallbacks" : ["a"] }"#,
                r#"{"model":"m" }"#,
            ),
            (r#"{"fallbacks":[],"model":"m"}"#, r#"{"model":"m"}"#),
            (r#"{"fallbacks":["x"]}"#, r#"{}"#),
        ] {
            let fields = scan_request(body.as_bytes()).unwrap();
            let span = fields.fallbacks.clone().unwrap();
            let out = remove_member(body.as_bytes(), span);
            assert_eq!(std::str::from_utf8(&out).unwrap(), expected, "{body}");
            assert!(scan_request(&out).is_ok());
        }
        assert!(scan_request(br#"{"model":"m"}"#)
            .unwrap()
            .fallbacks
            .is_none());
    }
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
        // The documented off-by-one with serde_json, whose recursion limit stops one level lower.
        assert_eq!(
            serde_accepts_object(nest(MAX_DEPTH - 1).as_bytes()),
            Ok(true)
        );
        assert!(serde_accepts_object(nest(MAX_DEPTH).as_bytes())
            .unwrap_err()
            .contains("recursion limit exceeded"));
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
                fallbacks: None,
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

    #[test]
    fn special_byte_search_matches_reference() {
        // The SIMD/SWAR searches must find exactly the first byte a byte-by-byte loop finds,
        // from every start offset, including near the end of the buffer.
        let mut r = Rng(0x1234_5678_9ABC_DEF1);
        let alphabet = b"abcdefgh \"\\\x00\x1f\x20\x7f\x80\xc3\xff/";
        for len in 0..200 {
            for _ in 0..6 {
                // Mostly plain text, so long clean runs reach the memchr path.
                let buf: Vec<u8> = (0..len)
                    .map(|_| {
                        if r.below(40) == 0 {
                            *r.pick(alphabet)
                        } else {
                            b'a' + r.below(26) as u8
                        }
                    })
                    .collect();
                for i in 0..=len {
                    let want = buf[i..].iter().position(|&c| is_special(c)).map(|p| i + p);
                    assert_eq!(next_special(&buf, i), want, "{buf:?} from {i}");
                    assert_eq!(next_special_swar(&buf, i), want, "{buf:?} from {i}");
                }
            }
        }
        assert_eq!(next_special(b"abc", 10), None);
    }

    #[test]
    fn string_scanning_across_block_boundaries() {
        // Strings of every length up to a few blocks, made of pieces that are special in
        // different ways, placed at every offset relative to block boundaries.
        let pieces = [
            "a",
            "bcdefgh",
            "\\\"",
            "\\\\",
            "\\n",
            "\\u00e9",
            "\\ud83d\\ude00",
            "\u{e9}",
            "\u{4e2d}\u{6587}",
            "\u{1f600}",
            "\u{7f}",
        ];
        let mut r = Rng(42);
        let mut scratch = String::new();
        for _ in 0..3_000 {
            let mut content = String::new();
            for _ in 0..r.below(40) {
                let piece: &&str = r.pick(&pieces);
                content.push_str(piece);
            }
            let pad = " ".repeat(r.below(17));
            let body = format!(r#"{{{pad}"model":"{content}","x":[1]}}"#);
            let b = body.as_bytes();
            let f = scan_request(b).unwrap_or_else(|e| panic!("{body}: {e}"));
            let start = pad.len() + 9;
            assert_eq!(f.model, Some(start..start + content.len() + 2), "{body}");
            let want: serde_json::Value = serde_json::from_slice(b).unwrap();
            assert_eq!(
                Some(model_str(b, &f, &mut scratch).unwrap()),
                want["model"].as_str()
            );

            // A raw control character or a stray continuation byte anywhere in the content is
            // reported exactly there.
            let at = start + 1 + r.below(content.len() + 1);
            for bad in [0x01u8, 0x1f, 0x80] {
                let mut broken = b.to_vec();
                broken.insert(at, bad);
                let e = err(&broken);
                if bad < 0x20 {
                    // Unless it landed inside an escape, which then is the first problem.
                    if e.reason.starts_with("control") {
                        assert_eq!(e.offset, at, "{broken:?}");
                    }
                } else {
                    // It may complete a valid sequence with the bytes after it, leaving one of
                    // those stray, but never more than a character's length further on.
                    assert!(e.offset <= at + 3, "{e:?} for {broken:?}");
                }
            }
        }
    }

    #[test]
    fn utf8_char_len_matches_std() {
        // The second byte is where the ranges differ per lead byte, so it is exhaustive; later
        // bytes only need to be inside or outside 0x80..=0xBF.
        let edges = [0x00, 0x7f, 0x80, 0xbf, 0xc0, 0xff];
        for lead in 0x80..=0xffu8 {
            for second in 0..=0xffu8 {
                for third in edges {
                    for fourth in edges {
                        let buf = [lead, second, third, fourth];
                        let want = (2..=4).find(|&n| std::str::from_utf8(&buf[..n]).is_ok());
                        assert_eq!(utf8_char_len(&buf, 0), want, "{buf:x?}");
                    }
                }
            }
        }
        // Truncated at the end of the body.
        assert_eq!(utf8_char_len(b"\xe2\x82", 0), None);
        assert_eq!(utf8_char_len(b"\xc3", 0), None);
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
        const ITERS: usize = 20_000;
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut valid, mut invalid, mut checked_fields) = (0, 0, 0);
        for iter in 0..ITERS {
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
