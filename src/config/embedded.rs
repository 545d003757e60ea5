//! The embedded default configuration used when no config file is given:
//! server defaults plus one provider per well-known key variable.

use super::keys::secret_problem;
use super::{BaseUrl, Config, KeyConfig, ProviderConfig, ProviderKind, ServerConfig};

/// Key variables of supported kinds, in registration order.
pub const SUPPORTED_KEY_VARS: &[(&str, ProviderKind)] = &[
    ("OPENAI_API_KEY", ProviderKind::OpenAi),
    ("GROQ_API_KEY", ProviderKind::Groq),
    ("MISTRAL_API_KEY", ProviderKind::Mistral),
    ("DEEPSEEK_API_KEY", ProviderKind::DeepSeek),
    ("TOGETHER_API_KEY", ProviderKind::Together),
    ("OPENROUTER_API_KEY", ProviderKind::OpenRouter),
    ("FIREWORKS_API_KEY", ProviderKind::Fireworks),
    ("XAI_API_KEY", ProviderKind::XAi),
];

/// Credential variables of kinds this build cannot serve yet.
pub const UNSUPPORTED_KEY_VARS: &[(&str, ProviderKind)] = &[
    ("ANTHROPIC_API_KEY", ProviderKind::Anthropic),
    ("GEMINI_API_KEY", ProviderKind::Gemini),
    ("COHERE_API_KEY", ProviderKind::Cohere),
    ("AWS_ACCESS_KEY_ID", ProviderKind::Bedrock),
];

/// Variable overriding the openai provider's base URL (for tests and proxies).
pub const OPENAI_BASE_URL_VAR: &str = "OPENAI_BASE_URL";

/// See [`Config::embedded_default`].
pub fn embedded_default(env: &dyn Fn(&str) -> Option<String>) -> (Config, Vec<String>) {
    let present = |name: &str| env(name).filter(|v| !v.is_empty());
    let mut banner = Vec::new();
    let mut providers = Vec::new();
    let base_override = present(OPENAI_BASE_URL_VAR);
    if base_override.is_some() && present("OPENAI_API_KEY").is_none() {
        banner.push(format!(
            "{OPENAI_BASE_URL_VAR} is set but OPENAI_API_KEY is not; ignored"
        ));
    }
    for &(var, kind) in SUPPORTED_KEY_VARS {
        let Some(key) = present(var) else { continue };
        if let Some(problem) = secret_problem(&key) {
            banner.push(format!("skipped provider '{kind}': {var} {problem}"));
            continue;
        }
        let url_text = match (&base_override, kind) {
            (Some(url), ProviderKind::OpenAi) => url.as_str(),
            _ => kind.default_base_url().unwrap_or_default(),
        };
        let base_url = match BaseUrl::parse(url_text) {
            Ok(u) => u,
            Err(m) => {
                banner.push(format!(
                    "skipped provider '{kind}': {OPENAI_BASE_URL_VAR} is not a valid base URL ({m})"
                ));
                continue;
            }
        };
        banner.push(format!(
            "registered provider '{kind}' ({kind}, {base_url}) from {var}"
        ));
        providers.push(provider(kind, base_url, key));
    }
    for &(var, kind) in UNSUPPORTED_KEY_VARS {
        if present(var).is_some() {
            banner.push(format!(
                "found {var}, but provider kind '{kind}' is not supported by this build yet (OpenAI-format kinds only); not registered"
            ));
        }
    }
    if providers.is_empty() {
        let vars: Vec<_> = SUPPORTED_KEY_VARS.iter().map(|(v, _)| *v).collect();
        banner.push(format!(
            "no provider registered: set one of {} in the environment, or run with --config FILE (see docs/configuration.md)",
            vars.join(", ")
        ));
    }
    let config = Config {
        server: ServerConfig::default(),
        providers,
        models: Vec::new(),
    };
    (config, banner)
}

/// A provider named like its kind, with one key and default settings.
fn provider(kind: ProviderKind, base_url: BaseUrl, key: String) -> ProviderConfig {
    let mut p = ProviderConfig::new(kind.as_str(), kind, base_url);
    p.keys.push(KeyConfig {
        value: key,
        weight: 1,
        models: Vec::new(),
    });
    p
}
