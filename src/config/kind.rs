//! Provider kinds: which API family a provider speaks, and the facts the
//! gateway knows about each family (default base URL, key requirement,
//! well-known model-name prefixes).

use std::fmt;

/// The API family of a configured provider (`kind = "..."` in `[[providers]]`).
///
/// The first twelve variants speak the OpenAI wire format (possibly with small
/// differences such as Azure's URL layout); the last five have native formats
/// that go through the translation layer (`src/translate/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI (`openai`).
    OpenAi,
    /// Azure OpenAI (`azure`); `base_url` is required.
    Azure,
    /// Groq (`groq`).
    Groq,
    /// Mistral AI (`mistral`).
    Mistral,
    /// DeepSeek (`deepseek`).
    DeepSeek,
    /// Together AI (`together`).
    Together,
    /// OpenRouter (`openrouter`).
    OpenRouter,
    /// Fireworks AI (`fireworks`).
    Fireworks,
    /// xAI (`xai`).
    XAi,
    /// A local Ollama server (`ollama`); no key needed.
    Ollama,
    /// A vLLM server (`vllm`); no key needed.
    Vllm,
    /// Any other OpenAI-compatible server (`openai-compatible`); `base_url` is required.
    #[serde(rename = "openai-compatible")]
    OpenAiCompatible,
    /// Anthropic (`anthropic`).
    Anthropic,
    /// Google Gemini API (`gemini`).
    Gemini,
    /// AWS Bedrock (`bedrock`).
    Bedrock,
    /// Google Vertex AI (`vertex`).
    Vertex,
    /// Cohere (`cohere`).
    Cohere,
}

impl ProviderKind {
    /// Every kind, in documentation order.
    pub const ALL: [ProviderKind; 17] = [
        ProviderKind::OpenAi,
        ProviderKind::Azure,
        ProviderKind::Groq,
        ProviderKind::Mistral,
        ProviderKind::DeepSeek,
        ProviderKind::Together,
        ProviderKind::OpenRouter,
        ProviderKind::Fireworks,
        ProviderKind::XAi,
        ProviderKind::Ollama,
        ProviderKind::Vllm,
        ProviderKind::OpenAiCompatible,
        ProviderKind::Anthropic,
        ProviderKind::Gemini,
        ProviderKind::Bedrock,
        ProviderKind::Vertex,
        ProviderKind::Cohere,
    ];

    /// The name used in configuration files (`"openai"`, `"openai-compatible"`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Azure => "azure",
            ProviderKind::Groq => "groq",
            ProviderKind::Mistral => "mistral",
            ProviderKind::DeepSeek => "deepseek",
            ProviderKind::Together => "together",
            ProviderKind::OpenRouter => "openrouter",
            ProviderKind::Fireworks => "fireworks",
            ProviderKind::XAi => "xai",
            ProviderKind::Ollama => "ollama",
            ProviderKind::Vllm => "vllm",
            ProviderKind::OpenAiCompatible => "openai-compatible",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Bedrock => "bedrock",
            ProviderKind::Vertex => "vertex",
            ProviderKind::Cohere => "cohere",
        }
    }

    /// Parses a configuration name (exact, lower case); `None` when unknown.
    pub fn parse(name: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The base URL used when a provider of this kind sets none; `None` means
    /// `base_url` is required (azure, vertex, bedrock, openai-compatible).
    pub fn default_base_url(&self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
            ProviderKind::Groq => Some("https://api.groq.com/openai/v1"),
            ProviderKind::Mistral => Some("https://api.mistral.ai/v1"),
            ProviderKind::DeepSeek => Some("https://api.deepseek.com/v1"),
            ProviderKind::Together => Some("https://api.together.xyz/v1"),
            ProviderKind::OpenRouter => Some("https://openrouter.ai/api/v1"),
            ProviderKind::Fireworks => Some("https://api.fireworks.ai/inference/v1"),
            ProviderKind::XAi => Some("https://api.x.ai/v1"),
            ProviderKind::Ollama => Some("http://127.0.0.1:11434/v1"),
            ProviderKind::Vllm => Some("http://127.0.0.1:8000/v1"),
            ProviderKind::Anthropic => Some("https://api.anthropic.com/v1"),
            ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com/v1beta"),
            ProviderKind::Cohere => Some("https://api.cohere.com"),
            ProviderKind::Azure
            | ProviderKind::Vertex
            | ProviderKind::Bedrock
            | ProviderKind::OpenAiCompatible => None,
        }
    }

    /// True when the provider speaks the OpenAI wire format (openai through
    /// openai-compatible, Azure included), so bodies can be passed through.
    pub fn is_openai_format(&self) -> bool {
        !matches!(
            self,
            ProviderKind::Anthropic
                | ProviderKind::Gemini
                | ProviderKind::Bedrock
                | ProviderKind::Vertex
                | ProviderKind::Cohere
        )
    }

    /// The default base URL of a regional kind: bedrock's runtime endpoint, or vertex's
    /// regional endpoint (`global` has no region prefix).
    pub fn regional_base_url(&self, region: &str) -> String {
        match self {
            ProviderKind::Bedrock => format!("https://bedrock-runtime.{region}.amazonaws.com"),
            ProviderKind::Vertex if region == "global" => {
                "https://aiplatform.googleapis.com/v1".to_string()
            }
            ProviderKind::Vertex => format!("https://{region}-aiplatform.googleapis.com/v1"),
            _ => self.default_base_url().unwrap_or_default().to_string(),
        }
    }

    /// True when a provider of this kind needs at least one API key
    /// (false for ollama, vllm and openai-compatible).
    pub fn requires_key(&self) -> bool {
        !matches!(
            self,
            ProviderKind::Ollama
                | ProviderKind::Vllm
                | ProviderKind::OpenAiCompatible
                | ProviderKind::Vertex
        )
    }

    /// Well-known prefixes of bare model names of this family (`gpt-`, `claude-`, ...),
    /// used to resolve a bare model name to a registered provider of the family.
    pub fn model_prefixes(&self) -> &'static [&'static str] {
        match self {
            ProviderKind::OpenAi => &[
                "gpt-",
                "o1",
                "o3",
                "o4",
                "chatgpt-",
                "text-embedding-",
                "davinci",
                "babbage",
                "dall-e",
                "whisper",
                "tts-",
                "omni-",
            ],
            ProviderKind::Anthropic => &["claude-"],
            ProviderKind::Gemini => &["gemini-", "gemma-", "text-embedding-004"],
            ProviderKind::Mistral => &[
                "mistral-",
                "open-mistral",
                "codestral",
                "pixtral",
                "ministral",
                "magistral",
            ],
            ProviderKind::DeepSeek => &["deepseek-"],
            ProviderKind::XAi => &["grok-"],
            ProviderKind::Cohere => &["command", "embed-"],
            _ => &[],
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in ProviderKind::ALL {
            assert_eq!(ProviderKind::parse(k.as_str()), Some(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        assert_eq!(ProviderKind::parse("OpenAI"), None);
        assert_eq!(ProviderKind::parse("openai_compatible"), None);
    }

    #[test]
    fn serde_names_match_config_names() {
        #[derive(serde::Serialize, serde::Deserialize)]
        struct K {
            kind: ProviderKind,
        }
        for k in ProviderKind::ALL {
            let text = format!("kind = \"{}\"", k.as_str());
            let back: Result<K, _> = toml::from_str(&text);
            assert_eq!(back.map(|b| b.kind).ok(), Some(k), "{text}");
        }
    }

    #[test]
    fn facts() {
        assert!(ProviderKind::Azure.is_openai_format());
        assert!(ProviderKind::OpenAiCompatible.is_openai_format());
        assert!(!ProviderKind::Anthropic.is_openai_format());
        assert!(!ProviderKind::Vllm.requires_key());
        assert!(ProviderKind::Groq.requires_key());
        assert_eq!(ProviderKind::Azure.default_base_url(), None);
        assert_eq!(
            ProviderKind::Fireworks.default_base_url(),
            Some("https://api.fireworks.ai/inference/v1")
        );
        assert!(ProviderKind::OpenAi.model_prefixes().contains(&"gpt-"));
        assert!(ProviderKind::Groq.model_prefixes().is_empty());
        for k in ProviderKind::ALL {
            if let Some(url) = k.default_base_url() {
                assert!(crate::config::BaseUrl::parse(url).is_ok(), "{url}");
            }
        }
    }
}
