//! List prices of models, shipped as data (`data/prices.toml`, embedded at build time): USD per
//! million input, output and cached-input tokens. The cost-aware strategy ranks targets with
//! them and governance estimates spend with them.
//!
//! Lookups tolerate the names providers actually answer with: case, dated or versioned
//! suffixes (`gpt-4o-mini-2024-07-18`, `claude-sonnet-4-5@20250929`, `amazon.nova-pro-v1:0`),
//! Gemini's `models/` prefix, Bedrock's cross-region prefixes (`us.anthropic...`) and
//! OpenRouter's `vendor/model` names. A lookup hashes a few prefixes of the name and allocates
//! only for a name with upper-case letters; still, resolve the prices of configured targets
//! once at start-up rather than per request.

use std::borrow::Cow;
use std::sync::OnceLock;

use rustc_hash::FxHashMap;

use crate::config::ProviderKind;

/// The built-in table's source text (`data/prices.toml`).
pub const BUILTIN_PRICES: &str = include_str!("../../data/prices.toml");

/// A model's list price, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Price {
    /// Prompt tokens not read from the provider's prompt cache.
    pub input: f64,
    /// Generated tokens (reasoning tokens included).
    pub output: f64,
    /// Prompt tokens read from the provider's prompt cache; `None`: they cost `input`.
    pub cached_input: Option<f64>,
}

impl Price {
    /// The cost in USD of one request. `cached` counts the prompt tokens served from the
    /// provider's cache and is part of `input` (OpenAI's convention; for Anthropic's usage pass
    /// `input_tokens + cache_read_input_tokens` as `input`). A `cached` above `input` is
    /// clamped.
    pub fn cost(&self, input: u64, output: u64, cached: u64) -> f64 {
        let cached = cached.min(input);
        let fresh = input - cached;
        let cached_price = self.cached_input.unwrap_or(self.input);
        (fresh as f64 * self.input + cached as f64 * cached_price + output as f64 * self.output)
            / 1_000_000.0
    }

    /// One number to compare prices by: a 3:1 input:output token mix, typical of chat
    /// traffic (prompts carry the conversation, answers are shorter).
    pub fn blended(&self) -> f64 {
        (3.0 * self.input + self.output) / 4.0
    }
}

/// Prices by section (a provider kind name, `"openai"`, `"bedrock"`, ...) and model name.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    as_of: Option<String>,
    sections: FxHashMap<String, FxHashMap<String, Price>>,
}

/// Bedrock's cross-region inference profile prefixes (`us.anthropic.claude-...`).
const BEDROCK_REGION_PREFIXES: [&str; 9] = [
    "us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.", "apne.",
];

/// OpenRouter vendor prefix → the section with that vendor's list prices.
const OPENROUTER_VENDORS: [(&str, &str); 7] = [
    ("openai", "openai"),
    ("anthropic", "anthropic"),
    ("google", "gemini"),
    ("mistralai", "mistral"),
    ("deepseek", "deepseek"),
    ("cohere", "cohere"),
    ("x-ai", "xai"),
];

impl PriceTable {
    /// The table shipped with the gateway, parsed once. A unit test guarantees that it parses;
    /// should it not, lookups find nothing rather than the gateway failing.
    pub fn builtin() -> &'static PriceTable {
        static TABLE: OnceLock<PriceTable> = OnceLock::new();
        TABLE.get_or_init(|| PriceTable::parse(BUILTIN_PRICES).unwrap_or_default())
    }

    /// Parses a table in the format of `data/prices.toml`: an optional top-level
    /// `as_of = "YYYY-MM-DD"`, then one TOML table per section mapping model names to
    /// `{ input, output, cached_input }` (numbers ≥ 0; `output` defaults to 0 for embedding
    /// models, `cached_input` is optional). Names are stored in lower case. Errors name the
    /// offending entry.
    pub fn parse(text: &str) -> Result<PriceTable, String> {
        let doc: toml::Table = toml::from_str(text).map_err(|e| format!("price table: {e}"))?;
        let mut table = PriceTable::default();
        for (name, value) in &doc {
            if name == "as_of" {
                let date = value
                    .as_str()
                    .ok_or_else(|| "price table: as_of must be a string".to_string())?;
                table.as_of = Some(date.to_string());
                continue;
            }
            let models = value
                .as_table()
                .ok_or_else(|| format!("price table: [{name}] must be a table of models"))?;
            let section = table.sections.entry(name.to_ascii_lowercase()).or_default();
            for (model, entry) in models {
                let price =
                    parse_entry(entry).map_err(|e| format!("price table: {name}.{model}: {e}"))?;
                section.insert(model.to_ascii_lowercase(), price);
            }
        }
        Ok(table)
    }

    /// Adds the entries of `overrides`, replacing those of the same section and model (an
    /// operator's own prices over the built-in ones).
    pub fn extend(&mut self, overrides: PriceTable) {
        for (name, models) in overrides.sections {
            self.sections.entry(name).or_default().extend(models);
        }
        if overrides.as_of.is_some() {
            self.as_of = overrides.as_of;
        }
    }

    /// The date the table's prices were compiled, as written in it.
    pub fn as_of(&self) -> Option<&str> {
        self.as_of.as_deref()
    }

    /// Number of priced models over all sections.
    pub fn len(&self) -> usize {
        self.sections.values().map(FxHashMap::len).sum()
    }

    /// Whether the table prices nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The price listed for exactly `model` (lower case) in `section`.
    pub fn get(&self, section: &str, model: &str) -> Option<Price> {
        self.sections.get(section)?.get(model).copied()
    }

    /// The price of `model` in `section`, tolerating case, a `models/` prefix and suffixes: the
    /// longest listed prefix of the name that ends where the name has a `-`, `@` or `:` wins.
    /// Failing that, the same with `.` read as `-` (`claude-sonnet-4.5` as written by
    /// OpenRouter).
    pub fn lookup_in(&self, section: &str, model: &str) -> Option<Price> {
        let models = self.sections.get(section)?;
        let lowered: Cow<'_, str> = if model.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(model.to_ascii_lowercase())
        } else {
            Cow::Borrowed(model)
        };
        let name = lowered.trim();
        let name = name.strip_prefix("models/").unwrap_or(name);
        if let Some(price) = longest_prefix(models, name) {
            return Some(price);
        }
        if name.contains('.') {
            let dashed = name.replace('.', "-");
            return longest_prefix(models, &dashed);
        }
        None
    }

    /// The price of `model` served by a provider of `kind`. The section named like the kind
    /// comes first (so operators can price e.g. `[azure]` or `[together]` themselves); then
    /// the family that kind resells: Azure → OpenAI, Vertex → Gemini and Anthropic, Bedrock →
    /// its own ids then Anthropic for `anthropic.*`, OpenRouter → the vendor in `vendor/model`.
    pub fn lookup(&self, kind: ProviderKind, model: &str) -> Option<Price> {
        match kind {
            ProviderKind::Bedrock => {
                let id = strip_bedrock_region(model);
                self.lookup_in("bedrock", id).or_else(|| {
                    id.strip_prefix("anthropic.")
                        .and_then(|m| self.lookup_in("anthropic", m))
                })
            }
            ProviderKind::Vertex => {
                // Vertex names may come as full resource paths (publishers/google/models/...).
                let m = model.rsplit('/').next().unwrap_or(model);
                self.lookup_in("vertex", m)
                    .or_else(|| self.lookup_in("gemini", m))
                    .or_else(|| self.lookup_in("anthropic", m))
            }
            ProviderKind::Azure => self
                .lookup_in("azure", model)
                .or_else(|| self.lookup_in("openai", model)),
            ProviderKind::OpenRouter => self.lookup_in("openrouter", model).or_else(|| {
                let (vendor, rest) = model.split_once('/')?;
                let (_, section) = OPENROUTER_VENDORS
                    .iter()
                    .find(|(v, _)| v.eq_ignore_ascii_case(vendor))?;
                self.lookup_in(section, rest)
            }),
            _ => self.lookup_in(kind.as_str(), model),
        }
    }
}

/// The longest prefix of `name` listed in `models` that ends at a `-`, `@` or `:` of `name`
/// (or is all of it).
fn longest_prefix(models: &FxHashMap<String, Price>, name: &str) -> Option<Price> {
    let mut candidate = name;
    loop {
        if let Some(price) = models.get(candidate) {
            return Some(*price);
        }
        match candidate.rfind(['-', '@', ':']) {
            Some(cut) if cut > 0 => candidate = &candidate[..cut],
            _ => return None,
        }
    }
}

fn strip_bedrock_region(model: &str) -> &str {
    BEDROCK_REGION_PREFIXES
        .iter()
        .find_map(|prefix| {
            model
                .get(..prefix.len())
                .filter(|head| head.eq_ignore_ascii_case(prefix))
                .and_then(|_| model.get(prefix.len()..))
        })
        .unwrap_or(model)
}

fn parse_entry(entry: &toml::Value) -> Result<Price, String> {
    let fields = entry
        .as_table()
        .ok_or_else(|| "expected { input = ..., output = ... }".to_string())?;
    let number = |key: &str| -> Result<Option<f64>, String> {
        let Some(v) = fields.get(key) else {
            return Ok(None);
        };
        let n = match v {
            toml::Value::Float(f) => *f,
            toml::Value::Integer(i) => *i as f64,
            _ => return Err(format!("{key} must be a number")),
        };
        if !n.is_finite() || n < 0.0 {
            return Err(format!("{key} must be a finite number >= 0"));
        }
        Ok(Some(n))
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "input" | "output" | "cached_input"))
    {
        return Err(format!(
            "unknown field '{unknown}' (expected input, output, cached_input)"
        ));
    }
    Ok(Price {
        input: number("input")?.ok_or_else(|| "input is required".to_string())?,
        output: number("output")?.unwrap_or(0.0),
        cached_input: number("cached_input")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn builtin_table_parses_and_is_dated() {
        let table = PriceTable::parse(BUILTIN_PRICES);
        assert!(table.is_ok(), "{table:?}");
        let table = PriceTable::builtin();
        assert!(table.len() > 100, "only {} prices", table.len());
        assert!(table
            .as_of()
            .is_some_and(|d| d.len() == 10 && d.starts_with("20")));
        for section in [
            "openai",
            "anthropic",
            "gemini",
            "mistral",
            "groq",
            "deepseek",
            "cohere",
            "bedrock",
        ] {
            assert!(
                table.sections.get(section).is_some_and(|s| !s.is_empty()),
                "{section}"
            );
        }
        // Sanity: output never cheaper than cached input, cached never dearer than input.
        for (section, models) in &table.sections {
            for (model, p) in models {
                if let Some(c) = p.cached_input {
                    assert!(c <= p.input, "{section}.{model}");
                }
            }
        }
    }

    #[test]
    fn dated_and_suffixed_names_resolve() {
        let t = PriceTable::builtin();
        let p = |kind, model| t.lookup(kind, model).map(|p| (p.input, p.output));
        assert_eq!(
            p(ProviderKind::OpenAi, "gpt-4o-mini-2024-07-18"),
            Some((0.15, 0.60))
        );
        assert_eq!(p(ProviderKind::OpenAi, "GPT-4o"), Some((2.50, 10.00)));
        // An exact dated entry beats its family.
        assert_eq!(
            p(ProviderKind::OpenAi, "gpt-4o-2024-05-13"),
            Some((5.00, 15.00))
        );
        // gpt-4 must not swallow gpt-4o or gpt-4.1.
        assert_eq!(
            p(ProviderKind::OpenAi, "gpt-4.1-2025-04-14"),
            Some((2.00, 8.00))
        );
        assert_eq!(
            p(ProviderKind::OpenAi, "o3-mini-2025-01-31"),
            Some((1.10, 4.40))
        );
        assert_eq!(
            p(ProviderKind::Anthropic, "claude-sonnet-4-5-20250929"),
            Some((3.00, 15.00))
        );
        assert_eq!(
            p(ProviderKind::Anthropic, "claude-opus-4-1-20250805"),
            Some((15.00, 75.00))
        );
        assert_eq!(
            p(ProviderKind::Anthropic, "claude-opus-4-20250514"),
            Some((15.00, 75.00))
        );
        assert_eq!(
            p(ProviderKind::Anthropic, "claude-opus-4-5-20251101"),
            Some((5.00, 25.00))
        );
        assert_eq!(
            p(ProviderKind::Anthropic, "claude-3-5-haiku-latest"),
            Some((0.80, 4.00))
        );
        assert_eq!(
            p(ProviderKind::Gemini, "models/gemini-2.5-flash"),
            Some((0.30, 2.50))
        );
        assert_eq!(
            p(ProviderKind::Gemini, "gemini-2.5-flash-lite-preview-06-17"),
            Some((0.10, 0.40))
        );
        assert_eq!(
            p(ProviderKind::Gemini, "gemini-3.1-pro-preview"),
            Some((2.00, 12.00))
        );
        assert_eq!(
            p(ProviderKind::Mistral, "mistral-large-2411"),
            Some((2.00, 6.00))
        );
        assert_eq!(
            p(ProviderKind::Mistral, "mistral-small-latest"),
            Some((0.10, 0.30))
        );
        assert_eq!(
            p(ProviderKind::Groq, "openai/gpt-oss-120b"),
            Some((0.15, 0.60))
        );
        assert_eq!(
            p(ProviderKind::DeepSeek, "deepseek-chat"),
            Some((0.28, 0.42))
        );
        assert_eq!(
            p(ProviderKind::Cohere, "command-a-03-2025"),
            Some((2.50, 10.00))
        );
        assert_eq!(
            p(ProviderKind::Cohere, "command-r7b-12-2024"),
            Some((0.0375, 0.15))
        );
        assert_eq!(p(ProviderKind::OpenAi, "no-such-model"), None);
        assert_eq!(p(ProviderKind::Ollama, "llama3"), None);
    }

    #[test]
    fn resellers_map_to_their_families() {
        let t = PriceTable::builtin();
        let p = |kind, model| t.lookup(kind, model).map(|p| (p.input, p.output));
        assert_eq!(
            p(ProviderKind::Bedrock, "amazon.nova-pro-v1:0"),
            Some((0.80, 3.20))
        );
        assert_eq!(
            p(
                ProviderKind::Bedrock,
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
            ),
            Some((3.00, 15.00))
        );
        assert_eq!(
            p(
                ProviderKind::Bedrock,
                "global.anthropic.claude-haiku-4-5-20251001-v1:0"
            ),
            Some((1.00, 5.00))
        );
        assert_eq!(
            p(ProviderKind::Bedrock, "meta.llama3-3-70b-instruct-v1:0"),
            Some((0.72, 0.72))
        );
        assert_eq!(
            p(ProviderKind::Vertex, "claude-sonnet-4-5@20250929"),
            Some((3.00, 15.00))
        );
        assert_eq!(
            p(ProviderKind::Vertex, "gemini-2.5-pro"),
            Some((1.25, 10.00))
        );
        assert_eq!(
            p(
                ProviderKind::Vertex,
                "publishers/google/models/gemini-2.5-flash"
            ),
            Some((0.30, 2.50))
        );
        assert_eq!(p(ProviderKind::Azure, "gpt-4o"), Some((2.50, 10.00)));
        assert_eq!(
            p(ProviderKind::OpenRouter, "anthropic/claude-sonnet-4.5"),
            Some((3.00, 15.00))
        );
        assert_eq!(
            p(ProviderKind::OpenRouter, "google/gemini-2.5-pro"),
            Some((1.25, 10.00))
        );
        assert_eq!(p(ProviderKind::OpenRouter, "meta-llama/llama-3-70b"), None);
    }

    #[test]
    fn cost_counts_cached_tokens_at_their_price() {
        let p = Price {
            input: 2.50,
            output: 10.00,
            cached_input: Some(1.25),
        };
        assert!(close(p.cost(1_000_000, 0, 0), 2.50));
        assert!(close(p.cost(0, 1_000_000, 0), 10.00));
        assert!(close(
            p.cost(1_000_000, 0, 400_000),
            0.6 * 2.50 + 0.4 * 1.25
        ));
        // More cached than input: clamped, never negative.
        assert!(close(p.cost(100, 0, 1_000), 100.0 * 1.25 / 1e6));
        let no_cache = Price {
            cached_input: None,
            ..p
        };
        assert!(close(no_cache.cost(1_000, 0, 1_000), 1_000.0 * 2.50 / 1e6));
        assert!(close(p.blended(), (7.5 + 10.0) / 4.0));
        assert!(p.cost(u64::MAX, u64::MAX, u64::MAX).is_finite());
    }

    #[test]
    fn overrides_and_errors() {
        let mut t = PriceTable::builtin().clone();
        let own = PriceTable::parse(
            "[openai]\n\"gpt-4o\" = { input = 1, output = 4 }\n[ollama]\n\"llama3\" = { input = 0 }\n",
        );
        assert!(own.is_ok(), "{own:?}");
        if let Ok(own) = own {
            t.extend(own);
        }
        assert_eq!(
            t.lookup(ProviderKind::OpenAi, "gpt-4o-2024-08-06")
                .map(|p| p.input),
            Some(1.0)
        );
        assert_eq!(
            t.lookup(ProviderKind::Ollama, "llama3:8b")
                .map(|p| p.output),
            Some(0.0)
        );
        for (text, needle) in [
            ("[openai]\n\"m\" = { input = -1 }", "openai.m"),
            ("[openai]\n\"m\" = { output = 1 }", "input is required"),
            (
                "[openai]\n\"m\" = { input = 1, cache_input = 1 }",
                "cache_input",
            ),
            ("[openai]\n\"m\" = { input = \"1\" }", "must be a number"),
            ("[openai]\n\"m\" = 3", "expected"),
            ("openai = 3", "must be a table"),
            ("as_of = 2026", "as_of"),
            ("[openai", "price table"),
        ] {
            let err = PriceTable::parse(text);
            assert!(
                err.as_ref().is_err_and(|e| e.contains(needle)),
                "{text}: {err:?}"
            );
        }
    }
}
