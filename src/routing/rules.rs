//! Routing rules (`[[routes]]`), compiled for the request path.
//!
//! [`Rules::route`] tries the rules in file order and returns the first whose conditions all
//! hold, with where it sends the request. It is built to cost nothing when there are no rules
//! ([`Rules::is_empty`] lets the caller skip the call) and little when there are:
//!
//! - conditions are checked cheapest first: the requested model, the body size, headers, and
//!   only then the body's features, so a rule that fails on its model never looks at the body;
//! - the body's features ([`RequestFeatures`]) are found by one forward pass over the raw bytes,
//!   at most once per request however many rules ask, without building a JSON tree;
//! - nothing allocates: every lookup borrows from the rules or the request (the test
//!   `tests/routing_rules_alloc.rs` counts allocations to hold this).
//!
//! The feature scan reads JSON structure, not text: `"tools"` or `"image_url"` inside a string
//! (a prompt that quotes JSON) is content and never counts. It expects a body the gateway has
//! already validated as JSON; on anything else it never panics and reports what it found
//! before the input stopped making sense.

use memchr::memchr2;

use crate::config::{ModelPattern, RouteRule, RouteTo};

/// The compiled routing rules of one configuration, in file order.
#[derive(Debug, Default)]
pub struct Rules {
    rules: Box<[Rule]>,
}

/// One compiled rule: the config's conditions in the forms the request path compares directly.
#[derive(Debug)]
struct Rule {
    name: Box<str>,
    /// Empty: any model.
    models: Box<[ModelPattern]>,
    headers: Box<[HeaderRule]>,
    /// Inclusive body size bounds; `0..=usize::MAX` when not set.
    min_bytes: usize,
    max_bytes: usize,
    has_tools: Option<bool>,
    has_images: Option<bool>,
    target: Target,
}

/// A header condition, as bytes to compare with the request's.
#[derive(Debug)]
struct HeaderRule {
    /// Lower-case.
    name: Box<[u8]>,
    /// The exact value; `None`: present with any value.
    value: Option<Box<[u8]>>,
}

#[derive(Debug)]
enum Target {
    Model(Box<str>),
    /// Never empty: [`Rules::compile`] drops rules without targets.
    Targets(Box<[WeightedTarget]>),
}

/// One weighted `provider/model` target of a rule (`to.targets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedTarget {
    /// `provider/model`, written out once so that picking returns a borrowed name.
    name: Box<str>,
    /// Where the `/` after the provider is.
    slash: usize,
    weight: u32,
}

impl WeightedTarget {
    /// `provider/model`, as a caller would write it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The provider's name (before the first `/`).
    pub fn provider(&self) -> &str {
        self.name.get(..self.slash).unwrap_or_default()
    }

    /// The model name sent to the provider (after the first `/`).
    pub fn model(&self) -> &str {
        self.name.get(self.slash + 1..).unwrap_or_default()
    }

    /// Relative share of the rule's traffic; at least 1.
    pub fn weight(&self) -> u32 {
        self.weight
    }
}

/// The rule that matched a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routed<'a> {
    /// The rule's `name`, for logs and metrics.
    pub name: &'a str,
    /// The rule's position in the file (`routes[index]`).
    pub index: usize,
    /// Where the rule sends the request.
    pub target: RuleTarget<'a>,
}

/// Where a matching rule sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleTarget<'a> {
    /// `to.model`: an alias or `provider/model` that replaces the requested model; resolve it
    /// like a name the caller sent.
    Model(&'a str),
    /// `to.targets`: `provider/model` targets to choose from by weight; never empty.
    Targets(&'a [WeightedTarget]),
}

impl<'a> RuleTarget<'a> {
    /// The model name to resolve in place of the requested one: `to.model`, or one of
    /// `to.targets` (`provider/model`) drawn by weight from `rng`.
    pub fn pick(&self, rng: &mut fastrand::Rng) -> &'a str {
        match *self {
            RuleTarget::Model(name) => name,
            RuleTarget::Targets(targets) => {
                let total: u64 = targets.iter().map(|t| u64::from(t.weight)).sum();
                let mut ticket = rng.u64(0..total.max(1));
                for t in targets {
                    let w = u64::from(t.weight);
                    if ticket < w {
                        return &t.name;
                    }
                    ticket -= w;
                }
                // Only reached with zero total weight, which `compile` rules out.
                targets.last().map_or("", |t| &t.name)
            }
        }
    }
}

impl Rules {
    /// Compiles validated rules (`Config::routes`), keeping their order.
    ///
    /// A rule with an empty `to.targets` list (which the config reader refuses) is left out
    /// rather than kept as a rule that matches but cannot send anywhere; zero weights count
    /// as 1, like alias targets.
    pub fn compile(rules: &[RouteRule]) -> Rules {
        let rules = rules
            .iter()
            .filter_map(|r| {
                let target = match &r.to {
                    RouteTo::Model(m) => Target::Model(m.as_str().into()),
                    RouteTo::Targets(ts) if ts.is_empty() => return None,
                    RouteTo::Targets(ts) => Target::Targets(
                        ts.iter()
                            .map(|t| WeightedTarget {
                                name: format!("{}/{}", t.provider, t.model).into(),
                                slash: t.provider.len(),
                                weight: t.weight.max(1),
                            })
                            .collect(),
                    ),
                };
                let w = &r.when;
                Some(Rule {
                    name: r.name.as_str().into(),
                    models: w.models.iter().cloned().collect(),
                    headers: w
                        .headers
                        .iter()
                        .map(|h| HeaderRule {
                            name: h.name.to_ascii_lowercase().into_bytes().into(),
                            value: h.value.as_ref().map(|v| v.as_bytes().into()),
                        })
                        .collect(),
                    min_bytes: w.min_prompt_bytes.map_or(0, saturate),
                    max_bytes: w.max_prompt_bytes.map_or(usize::MAX, saturate),
                    has_tools: w.has_tools,
                    has_images: w.has_images,
                    target,
                })
            })
            .collect();
        Rules { rules }
    }

    /// True when there are no rules: the request path can skip [`Rules::route`] entirely.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// The rules' names in order, e.g. to register metric labels up front.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| &*r.name)
    }

    /// The first rule that matches a request, or `None` (resolve the requested model as usual).
    ///
    /// `model` is the model name the caller sent (body `model`, or the Gemini path's model);
    /// `headers(name)` returns the value of the request's first header called `name` (given in
    /// lower case; compare case-insensitively, like `Request::header`); `body` is the raw
    /// request body. Does not allocate; reads the body at most once, and only when a rule
    /// whose other conditions hold has a feature condition.
    pub fn route<'h>(
        &self,
        model: &str,
        headers: impl Fn(&[u8]) -> Option<&'h [u8]>,
        body: &[u8],
    ) -> Option<Routed<'_>> {
        let mut features: Option<RequestFeatures> = None;
        for (index, rule) in self.rules.iter().enumerate() {
            if rule.matches(model, &headers, body, &mut features) {
                return Some(Routed {
                    name: &rule.name,
                    index,
                    target: match &rule.target {
                        Target::Model(m) => RuleTarget::Model(m),
                        Target::Targets(ts) => RuleTarget::Targets(ts),
                    },
                });
            }
        }
        None
    }
}

/// A `u64` byte count as `usize`, saturating (only matters on 32-bit targets, where a bound
/// beyond `usize::MAX` is as good as none).
fn saturate(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl Rule {
    /// Whether every condition holds, cheapest checks first; `features` is filled the first
    /// time any rule needs it and reused by the rules after.
    fn matches<'h>(
        &self,
        model: &str,
        headers: &impl Fn(&[u8]) -> Option<&'h [u8]>,
        body: &[u8],
        features: &mut Option<RequestFeatures>,
    ) -> bool {
        if !self.models.is_empty() && !self.models.iter().any(|p| p.matches(model)) {
            return false;
        }
        if body.len() < self.min_bytes || body.len() > self.max_bytes {
            return false;
        }
        for h in self.headers.iter() {
            match (headers(&h.name), &h.value) {
                (None, _) => return false,
                (Some(have), Some(want)) if have != &**want => return false,
                _ => {}
            }
        }
        if self.has_tools.is_none() && self.has_images.is_none() {
            return true;
        }
        let f = *features.get_or_insert_with(|| RequestFeatures::scan(body));
        self.has_tools.is_none_or(|want| want == f.has_tools)
            && self.has_images.is_none_or(|want| want == f.has_images)
    }
}

/// What a request body holds, as far as routing rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestFeatures {
    /// The request declares tools: a non-empty top-level `tools` array (OpenAI chat and
    /// Responses, Anthropic, Gemini) or legacy OpenAI `functions` array.
    pub has_tools: bool,
    /// The conversation contains an image: in the top-level `messages` (OpenAI chat,
    /// Anthropic), `contents` (Gemini) or `input` (OpenAI Responses), an object with `"type"`
    /// `"image_url"` (OpenAI), `"input_image"` (Responses) or `"image"` (Anthropic), or a Gemini
    /// `inlineData`/`fileData` part whose `mimeType` starts with `image/`. Tool arguments and
    /// results written as JSON (`input`, `args`, `response`, `arguments` objects) are the
    /// caller's data, not content parts, and are not looked into.
    pub has_images: bool,
}

impl RequestFeatures {
    /// Scans a request body (a JSON object) once, without allocating. Keys and values are
    /// compared after JSON unescaping (`"tool\u0073"` is `tools`, `"image\/png"` is
    /// `image/png`); text inside strings is never mistaken for structure.
    pub fn scan(body: &[u8]) -> RequestFeatures {
        let mut c = Cursor { b: body, pos: 0 };
        let (mut tools, mut functions, mut images) = (false, false, false);
        c.skip_ws();
        if c.peek() != Some(b'{') {
            return RequestFeatures::default();
        }
        c.pos += 1;
        loop {
            c.skip_ws();
            match c.peek() {
                Some(b'"') => {}
                Some(b',') => {
                    c.pos += 1;
                    continue;
                }
                // `}` ends the object; anything else is not JSON this scan can follow.
                _ => break,
            }
            let key = c.string();
            c.skip_ws();
            if c.peek() != Some(b':') {
                break;
            }
            c.pos += 1;
            c.skip_ws();
            // A repeated key counts as its last occurrence, as JSON parsers that keep one
            // value per key (serde_json, the providers') read it.
            match top_key(key) {
                TopKey::Tools => tools = c.non_empty_array(),
                TopKey::Functions => functions = c.non_empty_array(),
                TopKey::Conversation if !images => images = c.find_images(),
                _ => c.skip_value(),
            }
        }
        RequestFeatures {
            has_tools: tools || functions,
            has_images: images,
        }
    }
}

/// A JSON string as found in the body: its bytes between the quotes, still escaped.
#[derive(Clone, Copy)]
struct RawStr<'b> {
    raw: &'b [u8],
    /// Whether it contains a backslash, so that the common case compares bytes directly.
    escaped: bool,
}

/// The longest key or value the scan compares against (`inline_data`, `input_image`).
const NAME_BUF: usize = 16;

impl RawStr<'_> {
    /// The string's first `N` characters (or all of them, when shorter), unescaped, and
    /// whether that is the whole string. Non-ASCII characters come out as `0xFF`, which equals
    /// no name the scan looks for; each is one output byte per input byte or escape.
    fn decode<const N: usize>(&self, buf: &mut [u8; N]) -> (usize, bool) {
        let raw = self.raw;
        let (mut i, mut n) = (0, 0);
        while n < N {
            let Some(&b) = raw.get(i) else {
                return (n, true);
            };
            let (out, len) = if b != b'\\' {
                (if b < 0x80 { b } else { 0xFF }, 1)
            } else {
                match raw.get(i + 1) {
                    Some(b'"') => (b'"', 2),
                    Some(b'\\') => (b'\\', 2),
                    Some(b'/') => (b'/', 2),
                    Some(b'b') => (0x08, 2),
                    Some(b'f') => (0x0C, 2),
                    Some(b'n') => (b'\n', 2),
                    Some(b'r') => (b'\r', 2),
                    Some(b't') => (b'\t', 2),
                    Some(b'u') => (hex4(raw.get(i + 2..i + 6)), 6),
                    _ => (0xFF, 2),
                }
            };
            if let Some(slot) = buf.get_mut(n) {
                *slot = out;
            }
            n += 1;
            i += len;
        }
        (n, i >= raw.len())
    }

    /// Whether the unescaped string is one of the ASCII `names`; returns its index.
    fn which(&self, names: &[&[u8]]) -> Option<usize> {
        if !self.escaped {
            return names.iter().position(|n| *n == self.raw);
        }
        let mut buf = [0u8; NAME_BUF];
        let (n, whole) = self.decode(&mut buf);
        if !whole {
            return None;
        }
        let s = buf.get(..n)?;
        names.iter().position(|name| *name == s)
    }

    /// Whether the unescaped string starts with the ASCII `prefix`, ignoring ASCII case.
    fn starts_with_ignore_case(&self, prefix: &[u8]) -> bool {
        if !self.escaped {
            return self
                .raw
                .get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix));
        }
        let mut buf = [0u8; NAME_BUF];
        let (n, _) = self.decode(&mut buf);
        buf.get(..n)
            .and_then(|s| s.get(..prefix.len()))
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    }
}

/// The code unit of a `\uXXXX` escape's four hex digits if it is ASCII, else `0xFF`.
fn hex4(digits: Option<&[u8]>) -> u8 {
    let Some(digits) = digits else {
        return 0xFF;
    };
    let mut v: u32 = 0;
    for &d in digits {
        let Some(x) = char::from(d).to_digit(16) else {
            return 0xFF;
        };
        v = v * 16 + x;
    }
    u8::try_from(v).ok().filter(u8::is_ascii).unwrap_or(0xFF)
}

/// Top-level members the scan cares about.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TopKey {
    Tools,
    Functions,
    /// Where content parts (and so images) live.
    Conversation,
    Other,
}

fn top_key(key: RawStr<'_>) -> TopKey {
    match key.which(&[b"tools", b"functions", b"messages", b"contents", b"input"]) {
        Some(0) => TopKey::Tools,
        Some(1) => TopKey::Functions,
        Some(2..) => TopKey::Conversation,
        None => TopKey::Other,
    }
}

/// Members inside the conversation that the image search reacts to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum InnerKey {
    /// `type`: a content part's kind.
    Type,
    /// Gemini `inlineData` / `fileData` (or their snake_case spellings).
    Media,
    /// `mimeType` directly inside a `Media` object.
    MimeType,
    /// Tool arguments/results: arbitrary JSON of the caller's, skipped unread.
    Opaque,
    Other,
}

fn inner_key(key: RawStr<'_>, in_media: bool) -> InnerKey {
    const NAMES: &[&[u8]] = &[
        b"type",
        b"inlineData",
        b"inline_data",
        b"fileData",
        b"file_data",
        b"input",
        b"args",
        b"response",
        b"arguments",
        b"mimeType",
        b"mime_type",
    ];
    match key.which(NAMES) {
        Some(0) => InnerKey::Type,
        Some(1..=4) => InnerKey::Media,
        Some(5..=8) => InnerKey::Opaque,
        Some(9..) if in_media => InnerKey::MimeType,
        _ => InnerKey::Other,
    }
}

/// A forward-only cursor over the body. Every read goes through `get`, so no input can make
/// it panic, and every step consumes at least one byte or stops, so it always ends.
struct Cursor<'b> {
    b: &'b [u8],
    pos: usize,
}

impl<'b> Cursor<'b> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// Reads the string whose opening quote is at `pos`, leaving `pos` after its closing
    /// quote. String bodies are where the bytes are (prompts, base64 images), so they are
    /// crossed with `memchr2` rather than byte by byte (a plain loop for short strings measured
    /// no faster). Unterminated: the rest of the body.
    fn string(&mut self) -> RawStr<'b> {
        let b = self.b;
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        while let Some(rest) = b.get(i..) {
            let Some(k) = memchr2(b'"', b'\\', rest) else {
                break;
            };
            if rest.get(k) == Some(&b'"') {
                self.pos = i + k + 1;
                return RawStr {
                    raw: b.get(start..i + k).unwrap_or_default(),
                    escaped,
                };
            }
            // A backslash escapes the next byte (for `\uXXXX`, the `u`; the hex digits
            // cannot be quotes or backslashes in valid JSON).
            escaped = true;
            i += k + 2;
        }
        self.pos = b.len();
        RawStr {
            raw: b.get(start..).unwrap_or_default(),
            escaped,
        }
    }

    /// Skips a number, `true`, `false` or `null` (or stray bytes): up to the next `,`, `}`,
    /// `]`, `"` or whitespace, and at least one byte.
    fn skip_scalar(&mut self) {
        self.pos += 1;
        while let Some(c) = self.peek() {
            if matches!(c, b',' | b'}' | b']' | b'"' | b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.pos += 1;
        }
    }

    /// Skips the value at `pos` (whitespace already skipped).
    fn skip_value(&mut self) {
        match self.peek() {
            None | Some(b',' | b'}' | b']') => {}
            Some(b'"') => {
                self.string();
            }
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    match c {
                        b'"' => {
                            self.string();
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                return;
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
            }
            Some(_) => self.skip_scalar(),
        }
    }

    /// Whether the value at `pos` is an array with at least one element; skips it.
    fn non_empty_array(&mut self) -> bool {
        let start = self.pos;
        let mut non_empty = false;
        if self.peek() == Some(b'[') {
            self.pos += 1;
            self.skip_ws();
            non_empty = !matches!(self.peek(), Some(b']') | None);
        }
        self.pos = start;
        self.skip_value();
        non_empty
    }

    /// Walks the value at `pos` (a conversation) looking for an image part; skips it whole.
    ///
    /// A string followed by `:` is a key, so no stack of container kinds is needed: only the
    /// depth (to know where the value ends and which object a `mimeType` belongs to) and the
    /// last key seen (what the next value means).
    fn find_images(&mut self) -> bool {
        let mut found = false;
        let mut depth = 0usize;
        let mut pending = InnerKey::Other;
        // Depth of the Gemini `inlineData`/`fileData` object being read, if any.
        let mut media: Option<usize> = None;
        loop {
            self.skip_ws();
            let Some(c) = self.peek() else {
                break;
            };
            match c {
                b'"' => {
                    let s = self.string();
                    self.skip_ws();
                    if depth > 0 && self.peek() == Some(b':') {
                        self.pos += 1;
                        pending = if found {
                            InnerKey::Other
                        } else {
                            inner_key(s, media == Some(depth))
                        };
                        if pending == InnerKey::Opaque {
                            self.skip_ws();
                            self.skip_value();
                            pending = InnerKey::Other;
                        }
                        continue;
                    }
                    found = found
                        || match pending {
                            InnerKey::Type => {
                                s.which(&[b"image_url", b"input_image", b"image"]).is_some()
                            }
                            InnerKey::MimeType => s.starts_with_ignore_case(b"image/"),
                            _ => false,
                        };
                }
                b'{' | b'[' => {
                    if c == b'{' && pending == InnerKey::Media {
                        media = Some(depth + 1);
                    }
                    depth += 1;
                    self.pos += 1;
                    pending = InnerKey::Other;
                    continue;
                }
                b'}' | b']' => {
                    if depth == 0 {
                        // Not part of this value: the input is not what was expected.
                        break;
                    }
                    if media == Some(depth) {
                        media = None;
                    }
                    depth -= 1;
                    self.pos += 1;
                }
                b',' | b':' => {
                    if depth == 0 {
                        break;
                    }
                    self.pos += 1;
                }
                _ => self.skip_scalar(),
            }
            pending = InnerKey::Other;
            if depth == 0 {
                break;
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const PROVIDERS: &str = r#"
[[providers]]
name = "openai"
api_key = "k"
[[providers]]
name = "anthropic"
api_key = "k"
[[models]]
name = "smart"
targets = ["openai/gpt-4o"]
[[models]]
name = "big-context"
targets = ["anthropic/claude-sonnet-4-5"]
"#;

    fn rules(text: &str) -> Rules {
        let text = format!("{PROVIDERS}{text}");
        match Config::from_toml_str(&text, &|_| None) {
            Ok(c) => Rules::compile(&c.routes),
            Err(e) => panic!("{e:#?}"),
        }
    }

    fn no_headers(_: &[u8]) -> Option<&'static [u8]> {
        None
    }

    /// The name of the rule that takes a request, if any.
    fn which<'r>(
        r: &'r Rules,
        model: &str,
        headers: &[(&str, &'static str)],
        body: &str,
    ) -> Option<&'r str> {
        let lookup = |name: &[u8]| {
            headers
                .iter()
                .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_bytes())
        };
        r.route(model, lookup, body.as_bytes()).map(|m| m.name)
    }

    fn features(body: &str) -> (bool, bool) {
        let f = RequestFeatures::scan(body.as_bytes());
        (f.has_tools, f.has_images)
    }

    #[test]
    fn no_rules() {
        let r = rules("");
        assert!(r.is_empty());
        assert_eq!(r.len(), 0);
        assert_eq!(r.route("smart", no_headers, b"{}"), None);
        assert!(Rules::default().is_empty());
    }

    #[test]
    fn model_condition_and_globs() {
        let r = rules(
            r#"
[[routes]]
name = "exact"
match = { model = "smart" }
to = { model = "big-context" }
[[routes]]
name = "glob"
match = { model = ["x", "gpt-4o*"] }
to = { model = "openai/gpt-4o" }
[[routes]]
name = "provider-glob"
match = { model = "anthropic/*" }
to = { model = "smart" }
"#,
        );
        assert_eq!(which(&r, "smart", &[], "{}"), Some("exact"));
        assert_eq!(which(&r, "smart-2", &[], "{}"), None);
        assert_eq!(which(&r, "gpt-4o", &[], "{}"), Some("glob"));
        assert_eq!(which(&r, "gpt-4o-mini", &[], "{}"), Some("glob"));
        assert_eq!(which(&r, "x", &[], "{}"), Some("glob"));
        assert_eq!(which(&r, "gpt-4", &[], "{}"), None);
        assert_eq!(
            which(&r, "anthropic/claude-sonnet-4-5", &[], "{}"),
            Some("provider-glob")
        );
        assert_eq!(which(&r, "", &[], "{}"), None);
        let m = r.route("smart", no_headers, b"{}");
        assert_eq!(
            m,
            Some(Routed {
                name: "exact",
                index: 0,
                target: RuleTarget::Model("big-context"),
            })
        );
    }

    #[test]
    fn header_conditions() {
        let r = rules(
            r#"
[[routes]]
name = "research"
match = { headers = { "X-Team" = "research", "x-trace" = "*" } }
to = { model = "big-context" }
[[routes]]
name = "team-only"
match = { headers = { "x-team" = "research" } }
to = { model = "smart" }
"#,
        );
        // Names are case-insensitive, values exact; "*" only needs presence (even empty).
        assert_eq!(
            which(&r, "m", &[("x-team", "research"), ("X-Trace", "")], "{}"),
            Some("research")
        );
        assert_eq!(
            which(&r, "m", &[("X-TEAM", "research")], "{}"),
            Some("team-only")
        );
        assert_eq!(which(&r, "m", &[("x-team", "Research")], "{}"), None);
        assert_eq!(which(&r, "m", &[("x-team", "research ")], "{}"), None);
        assert_eq!(which(&r, "m", &[("x-trace", "1")], "{}"), None);
        assert_eq!(which(&r, "m", &[], "{}"), None);
    }

    #[test]
    fn size_conditions_are_inclusive() {
        let r = rules(
            r#"
[[routes]]
name = "mid"
match = { min_prompt_bytes = 10, max_prompt_bytes = 12 }
to = { model = "smart" }
"#,
        );
        for (len, want) in [(9, None), (10, Some("mid")), (12, Some("mid")), (13, None)] {
            let body = format!("{{\"a\":\"{}\"}}", "x".repeat(len - 8));
            assert_eq!(body.len(), len);
            assert_eq!(which(&r, "m", &[], &body), want, "{len}");
        }
    }

    #[test]
    fn feature_conditions_both_ways() {
        let r = rules(
            r#"
[[routes]]
name = "vision-tools"
match = { has_images = true, has_tools = true }
to = { model = "openai/gpt-4o" }
[[routes]]
name = "vision"
match = { has_images = true }
to = { model = "openai/gpt-4o" }
[[routes]]
name = "tools"
match = { has_tools = true }
to = { model = "smart" }
[[routes]]
name = "plain"
match = { has_tools = false, has_images = false }
to = { model = "big-context" }
"#,
        );
        let img = r#"{"type":"image_url","image_url":{"url":"data:"}}"#;
        let tools = r#""tools":[{"type":"function","function":{"name":"f"}}]"#;
        let both = format!(r#"{{"messages":[{{"role":"user","content":[{img}]}}],{tools}}}"#);
        let image = format!(r#"{{"messages":[{{"role":"user","content":[{img}]}}]}}"#);
        let tool = format!(r#"{{"messages":[],{tools}}}"#);
        assert_eq!(which(&r, "m", &[], &both), Some("vision-tools"));
        assert_eq!(which(&r, "m", &[], &image), Some("vision"));
        assert_eq!(which(&r, "m", &[], &tool), Some("tools"));
        assert_eq!(which(&r, "m", &[], r#"{"messages":[]}"#), Some("plain"));
    }

    #[test]
    fn first_match_wins_and_all_conditions_must_hold() {
        let r = rules(
            r#"
[[routes]]
name = "narrow"
match = { model = "smart", headers = { "x-team" = "a" }, min_prompt_bytes = 5 }
to = { model = "big-context" }
[[routes]]
name = "broad"
match = { model = "smart" }
to = { model = "openai/gpt-4o" }
[[routes]]
name = "also-broad"
match = { model = "smart" }
to = { model = "anthropic/claude" }
[[routes]]
name = "rest"
to = { model = "smart" }
"#,
        );
        let team = [("x-team", "a")];
        assert_eq!(which(&r, "smart", &team, r#"{"a":1}"#), Some("narrow"));
        // Each condition of the first rule failing in turn falls through to the second.
        assert_eq!(which(&r, "smart", &[], r#"{"a":1}"#), Some("broad"));
        assert_eq!(which(&r, "smart", &team, "{}"), Some("broad"));
        assert_eq!(which(&r, "other", &team, r#"{"a":1}"#), Some("rest"));
        let m = r.route("other", no_headers, b"{}");
        assert_eq!(
            m.map(|m| (m.index, m.target)),
            Some((3, RuleTarget::Model("smart")))
        );
        assert_eq!(
            r.names().collect::<Vec<_>>(),
            ["narrow", "broad", "also-broad", "rest"]
        );
    }

    #[test]
    fn weighted_targets() {
        let r = rules(
            r#"
[[routes]]
name = "split"
to = { targets = ["openai/gpt-4o", { model = "anthropic/claude-sonnet-4-5", weight = 3 }] }
"#,
        );
        let Some(Routed {
            target: target @ RuleTarget::Targets(ts),
            ..
        }) = r.route("m", no_headers, b"{}")
        else {
            panic!("no match");
        };
        assert_eq!(ts.len(), 2);
        assert_eq!(ts[1].name(), "anthropic/claude-sonnet-4-5");
        assert_eq!(ts[1].provider(), "anthropic");
        assert_eq!(ts[1].model(), "claude-sonnet-4-5");
        assert_eq!(ts[1].weight(), 3);
        let mut rng = fastrand::Rng::with_seed(7);
        let n = 40_000;
        let claude = (0..n)
            .filter(|_| target.pick(&mut rng) == "anthropic/claude-sonnet-4-5")
            .count();
        // Expected 3/4 of n; 1% of n is many standard deviations (sd ≈ 0.2%).
        let expected = n * 3 / 4;
        assert!(claude.abs_diff(expected) < n / 100, "{claude} of {n}");
        assert_eq!(RuleTarget::Model("smart").pick(&mut rng), "smart");
    }

    #[test]
    fn features_on_openai_bodies() {
        assert_eq!(
            features(r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#),
            (false, false)
        );
        assert_eq!(
            features(
                r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":"auto"}"#
            ),
            (true, true)
        );
        assert_eq!(features(r#"{"messages":[],"tools":[]}"#), (false, false));
        assert_eq!(features(r#"{"messages":[],"tools":null}"#), (false, false));
        assert_eq!(
            features(r#"{"messages":[],"tools" : [ {} ] }"#),
            (true, false)
        );
        assert_eq!(
            features(r#"{"functions":[{"name":"f"}],"messages":[]}"#),
            (true, false)
        );
        // Responses API: `input` holds the conversation.
        assert_eq!(
            features(
                r#"{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"x"},{"type":"input_image","image_url":"data:image/png;base64,AAAA"}]}],"tools":[{"type":"web_search"}]}"#
            ),
            (true, true)
        );
        assert_eq!(
            features(r#"{"model":"m","input":"just text"}"#),
            (false, false)
        );
        // An assistant's tool call arguments are a string: never looked into.
        assert_eq!(
            features(
                r#"{"messages":[{"role":"assistant","tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{\"type\":\"image\"}"}}]}]}"#
            ),
            (false, false)
        );
    }

    #[test]
    fn features_on_anthropic_bodies() {
        assert_eq!(
            features(
                r#"{"model":"claude","max_tokens":10,"system":"be brief","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0K"}},{"type":"text","text":"what?"}]}]}"#
            ),
            (false, true)
        );
        assert_eq!(
            features(
                r#"{"model":"claude","tools":[{"name":"get","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hi"}]}"#
            ),
            (true, false)
        );
        // An image inside a tool result counts.
        assert_eq!(
            features(
                r#"{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"image","source":{"type":"url","url":"u"}}]}]}]}"#
            ),
            (false, true)
        );
        // A tool_use input is the model's JSON, not a content part.
        assert_eq!(
            features(
                r#"{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"draw","input":{"type":"image","image_url":"x"}}]}]}"#
            ),
            (false, false)
        );
        // Documents are not images.
        assert_eq!(
            features(
                r#"{"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBE"}}]}]}"#
            ),
            (false, false)
        );
    }

    #[test]
    fn features_on_gemini_bodies() {
        assert_eq!(
            features(
                r#"{"contents":[{"role":"user","parts":[{"text":"describe"},{"inlineData":{"mimeType":"image/jpeg","data":"/9j/4AAQ"}}]}]}"#
            ),
            (false, true)
        );
        // Key order inside the part does not matter; snake_case spellings are accepted too.
        assert_eq!(
            features(
                r#"{"contents":[{"parts":[{"inline_data":{"data":"AAAA","mime_type":"IMAGE/PNG"}}]}]}"#
            ),
            (false, true)
        );
        assert_eq!(
            features(
                r#"{"contents":[{"parts":[{"fileData":{"fileUri":"gs://b/x.png","mimeType":"image/png"}}]}]}"#
            ),
            (false, true)
        );
        // Audio and PDF parts are not images.
        assert_eq!(
            features(
                r#"{"contents":[{"parts":[{"inlineData":{"mimeType":"audio/wav","data":"UklG"}},{"fileData":{"mimeType":"application/pdf","fileUri":"u"}}]}]}"#
            ),
            (false, false)
        );
        // A mimeType outside an inlineData/fileData object is something else.
        assert_eq!(
            features(
                r#"{"contents":[{"parts":[{"text":"x"}],"mimeType":"image/png"}],"generationConfig":{"responseMimeType":"image/png"}}"#
            ),
            (false, false)
        );
        assert_eq!(
            features(
                r#"{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}]}"#
            ),
            (true, false)
        );
        // functionCall args and functionResponse response are the caller's JSON.
        assert_eq!(
            features(
                r#"{"contents":[{"parts":[{"functionCall":{"name":"f","args":{"inlineData":{"mimeType":"image/png"}}}},{"functionResponse":{"name":"f","response":{"type":"image"}}}]}]}"#
            ),
            (false, false)
        );
    }

    #[test]
    fn words_inside_strings_are_not_structure() {
        // Every trigger word appears, quoted, inside string values only.
        let body = r#"{"model":"m","messages":[{"role":"user","content":"{\"tools\":[1],\"type\":\"image_url\",\"inlineData\":{\"mimeType\":\"image/png\"}} and \"type\": \"image\""},{"role":"user","content":[{"type":"text","text":"\"type\":\"image\" \\\"tools\\\": [x]"}]}],"metadata":{"note":"\"tools\":[{}]"},"user":"\"functions\":[1]"}"#;
        assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
        assert_eq!(features(body), (false, false));
        // Keys named like the triggers, at the wrong place, do not count either.
        assert_eq!(
            features(
                r#"{"metadata":{"tools":[1],"messages":[{"type":"image"}]},"messages":[{"content":[{"kind":"image"}]}]}"#
            ),
            (false, false)
        );
        // A "type" key whose value is not a string, then a string elsewhere.
        assert_eq!(
            features(r#"{"messages":[{"type":{"x":1},"a":"image"},{"type":["image"]}]}"#),
            (false, false)
        );
    }

    #[test]
    fn escaped_keys_and_values_are_unescaped() {
        assert_eq!(features(r#"{"tool\u0073":[{}]}"#), (true, false));
        assert_eq!(
            features(r#"{"m\u0065ssages":[{"content":[{"typ\u0065":"imag\u0065"}]}]}"#),
            (false, true)
        );
        assert_eq!(
            features(r#"{"contents":[{"parts":[{"inlineData":{"mimeType":"image\/png"}}]}]}"#),
            (false, true)
        );
        // Escapes that decode to other text do not match.
        assert_eq!(
            features(r#"{"tool\u00e9":[{}],"tools\n":[{}]}"#),
            (false, false)
        );
        assert_eq!(
            features(r#"{"messages":[{"type":"image\u0000"},{"type":"imag\u00e9"}]}"#),
            (false, false)
        );
    }

    #[test]
    fn repeated_keys_count_as_the_last() {
        assert_eq!(features(r#"{"tools":[{}],"tools":[]}"#), (false, false));
        assert_eq!(features(r#"{"tools":[],"tools":[{}]}"#), (true, false));
        assert_eq!(features(r#"{"tools":[],"functions":[{}]}"#), (true, false));
    }

    #[test]
    fn features_after_a_found_image_still_see_tools() {
        let big = "A".repeat(100_000);
        let body = format!(
            r#"{{"messages":[{{"content":[{{"type":"image","source":{{"data":"{big}"}}}},{{"type":"text","text":"x"}}]}}],"tools":[{{"name":"t"}}]}}"#
        );
        assert_eq!(features(&body), (true, true));
    }

    #[test]
    fn malformed_bodies_never_panic() {
        let samples: &[&[u8]] = &[
            b"",
            b"   ",
            b"[]",
            b"{",
            b"{\"",
            b"{\"tools\"",
            b"{\"tools\":",
            b"{\"tools\":[",
            b"{\"tools\":[}",
            b"{\"messages\":[{\"type\":\"image",
            b"{\"messages\":[{\"type\":\"image\\",
            b"{\"messages\":[{\"type\":\"\\u00",
            b"{\"messages\":]]]}",
            b"{\"messages\":,\"tools\":[1]}",
            b"{\"messages\":[,,::]}",
            b"{\"a\" \"b\"}",
            b"{\"contents\":[{\"inlineData\":{\"mimeType\":\"imag",
            b"{\"tools\":[1]}}}}}",
            b"\xff\xfe{\"tools\":[1]}",
        ];
        for s in samples {
            let _ = RequestFeatures::scan(s);
        }
        // Every prefix of a real body.
        let body = br#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u"}},{"type":"text","text":"a\"b\\c\u00e9"}]}],"tools":[{"type":"function"}],"contents":[{"parts":[{"inlineData":{"mimeType":"image/png"}}]}]}"#;
        for end in 0..=body.len() {
            let _ = RequestFeatures::scan(&body[..end]);
        }
        assert_eq!(
            RequestFeatures::scan(body),
            RequestFeatures {
                has_tools: true,
                has_images: true
            }
        );
    }

    #[test]
    fn body_is_not_read_without_feature_conditions() {
        // Not JSON at all: rules without feature conditions never look at it.
        let r = rules(
            r#"
[[routes]]
name = "big"
match = { min_prompt_bytes = 3 }
to = { model = "smart" }
"#,
        );
        assert_eq!(which(&r, "m", &[], "not json"), Some("big"));
    }
}
