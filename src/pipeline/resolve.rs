//! Stage 3, resolve: the model name a caller sent → a provider and the model name it knows.
//! Pure lookups in maps built at start-up; no I/O, no allocation on success.
//!
//! Order (SPEC §5): an alias of that name; `provider/model` with a registered provider prefix;
//! a provider whose configured `models` list has the name; a well-known family prefix
//! (`gpt-` → the first registered OpenAI provider, and so on).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
// Keys are configuration strings; callers only look up, so a fast non-keyed hash is safe here.
use rustc_hash::FxHashMap as HashMap;

use crate::config::Config;
use crate::error::{ErrorKind, GatewayError};
use crate::json_scan::write_json_string;
use crate::providers::Provider;

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// Provider index.
    pub provider: usize,
    /// The model name as the provider knows it (prefix stripped).
    pub model: &'a str,
}

/// One target of an alias, compiled.
#[derive(Debug)]
pub struct AliasTarget {
    /// Provider index.
    pub provider: usize,
    /// The model name as the provider knows it.
    pub model: String,
    /// Relative weight.
    pub weight: u32,
}

/// An alias compiled for routing.
#[derive(Debug)]
pub struct AliasEntry {
    /// Its targets, in configuration order.
    pub targets: Vec<AliasTarget>,
    /// Names tried after every target failed, in order (aliases or `provider/model`).
    pub fallbacks: Vec<String>,
    /// How targets are ordered per request.
    pub strategy: crate::routing::strategy::Strategy,
}

/// What a requested name resolves to.
#[derive(Debug, Clone, Copy)]
pub enum Resolved<'a> {
    /// An alias: its targets are ordered by its strategy, then its fallbacks follow.
    Alias(&'a AliasEntry),
    /// One provider and model.
    Direct(Target<'a>),
}

/// Lookup tables for resolution.
#[derive(Debug, Default)]
pub struct ModelIndex {
    aliases: HashMap<String, AliasEntry>,
    providers: HashMap<String, usize>,
    listed: HashMap<String, usize>,
    families: Vec<(&'static str, usize)>,
    provider_names: Vec<String>,
}

impl ModelIndex {
    /// Builds the tables from a validated configuration and its compiled providers.
    pub fn build(config: &Config, providers: &[Provider]) -> ModelIndex {
        let mut index = ModelIndex::default();
        for (i, p) in providers.iter().enumerate() {
            index.providers.insert(p.name.clone(), i);
            index.provider_names.push(p.name.clone());
            for prefix in p.kind.model_prefixes() {
                if !index.families.iter().any(|(f, _)| f == prefix) {
                    index.families.push((prefix, i));
                }
            }
        }
        for (i, p) in config.providers.iter().enumerate() {
            for m in &p.models {
                index.listed.entry(m.clone()).or_insert(i);
            }
        }
        for alias in &config.models {
            let targets = alias
                .targets
                .iter()
                .filter_map(|t| {
                    index
                        .providers
                        .get(&t.provider)
                        .map(|&provider| AliasTarget {
                            provider,
                            model: t.model.clone(),
                            weight: t.weight.max(1),
                        })
                })
                .collect();
            let strategy = crate::routing::strategy::Strategy::from_config(
                &alias.strategy,
                std::time::Duration::from_millis(alias.max_latency_ms),
            );
            index.aliases.insert(
                alias.name.clone(),
                AliasEntry {
                    targets,
                    fallbacks: alias.fallbacks.clone(),
                    strategy,
                },
            );
        }
        index
    }

    /// Resolves `name`; unknown names are a 404 in the caller's format.
    pub fn resolve<'a>(
        &'a self,
        name: &'a str,
        rng: &mut fastrand::Rng,
    ) -> Result<Target<'a>, GatewayError> {
        if let Some(alias) = self.aliases.get(name) {
            if let Some(t) =
                crate::providers::weighted_pick(alias.targets.iter(), |t| t.weight, rng)
            {
                return Ok(Target {
                    provider: t.provider,
                    model: &t.model,
                });
            }
        }
        if let Some((prefix, rest)) = name.split_once('/') {
            if let Some(&provider) = self.providers.get(prefix) {
                if rest.is_empty() {
                    return Err(GatewayError::new(
                        ErrorKind::UnknownModel,
                        format!(
                            "model '{name}' names provider '{prefix}' but no model after the '/'"
                        ),
                    ));
                }
                return Ok(Target {
                    provider,
                    model: rest,
                });
            }
        }
        if let Some(&provider) = self.listed.get(name) {
            return Ok(Target {
                provider,
                model: name,
            });
        }
        if let Some(&(_, provider)) = self
            .families
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix))
        {
            return Ok(Target {
                provider,
                model: name,
            });
        }
        Err(self.unknown(name))
    }

    /// Resolves `name` without choosing among an alias's targets (routing orders them).
    pub fn lookup<'a>(&'a self, name: &'a str) -> Result<Resolved<'a>, GatewayError> {
        if let Some(alias) = self.aliases.get(name) {
            if !alias.targets.is_empty() {
                return Ok(Resolved::Alias(alias));
            }
        }
        // Not an alias: `resolve` never draws from the RNG then.
        let mut unused = fastrand::Rng::with_seed(0);
        self.resolve(name, &mut unused).map(Resolved::Direct)
    }

    fn unknown(&self, name: &str) -> GatewayError {
        let providers = if self.provider_names.is_empty() {
            "none are configured".to_string()
        } else {
            self.provider_names.join(", ")
        };
        GatewayError::new(
            ErrorKind::UnknownModel,
            format!(
                "model '{name}' is not served by this gateway: name it as provider/model (providers: {providers}) or use a configured alias"
            ),
        )
    }

    /// The `GET /v1/models` body: every alias and every listed `provider/model`.
    pub fn models_list_json(&self, config: &Config) -> Bytes {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut out = BytesMut::new();
        out.extend_from_slice(b"{\"object\":\"list\",\"data\":[");
        let mut first = true;
        let mut entry = |id: &str, owner: &str, out: &mut BytesMut| {
            if !first {
                out.extend_from_slice(b",");
            }
            first = false;
            out.extend_from_slice(b"{\"id\":");
            write_json_string(id, out);
            out.extend_from_slice(b",\"object\":\"model\",\"created\":");
            out.extend_from_slice(itoa::Buffer::new().format(created).as_bytes());
            out.extend_from_slice(b",\"owned_by\":");
            write_json_string(owner, out);
            out.extend_from_slice(b"}");
        };
        for alias in &config.models {
            entry(&alias.name, "shardgate", &mut out);
        }
        for p in &config.providers {
            for m in &p.models {
                entry(&format!("{}/{}", p.name, m), &p.name, &mut out);
            }
        }
        out.extend_from_slice(b"]}");
        out.freeze()
    }
}
