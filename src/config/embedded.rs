//! The embedded default configuration used when no config file is given:
//! server defaults plus one provider per well-known credential variable.

use super::keys::secret_problem;
use super::{BaseUrl, Config, KeyConfig, ProviderConfig, ProviderKind, ServerConfig};

/// Key variables of API-key kinds, in registration order, with the variable that overrides
/// that provider's base URL (for tests and corporate proxies).
pub const KEY_VARS: &[(&str, ProviderKind, &str)] = &[
    ("OPENAI_API_KEY", ProviderKind::OpenAi, "OPENAI_BASE_URL"),
    (
        "ANTHROPIC_API_KEY",
        ProviderKind::Anthropic,
        "ANTHROPIC_BASE_URL",
    ),
    ("GEMINI_API_KEY", ProviderKind::Gemini, "GEMINI_BASE_URL"),
    ("GROQ_API_KEY", ProviderKind::Groq, "GROQ_BASE_URL"),
    ("MISTRAL_API_KEY", ProviderKind::Mistral, "MISTRAL_BASE_URL"),
    ("COHERE_API_KEY", ProviderKind::Cohere, "COHERE_BASE_URL"),
    (
        "DEEPSEEK_API_KEY",
        ProviderKind::DeepSeek,
        "DEEPSEEK_BASE_URL",
    ),
    (
        "TOGETHER_API_KEY",
        ProviderKind::Together,
        "TOGETHER_BASE_URL",
    ),
    (
        "OPENROUTER_API_KEY",
        ProviderKind::OpenRouter,
        "OPENROUTER_BASE_URL",
    ),
    (
        "FIREWORKS_API_KEY",
        ProviderKind::Fireworks,
        "FIREWORKS_BASE_URL",
    ),
    ("XAI_API_KEY", ProviderKind::XAi, "XAI_BASE_URL"),
];

/// Region used for bedrock when neither `AWS_REGION` nor `AWS_DEFAULT_REGION` is set.
pub const DEFAULT_AWS_REGION: &str = "us-east-1";
/// Location used for vertex when `GOOGLE_CLOUD_LOCATION` is not set.
pub const DEFAULT_VERTEX_LOCATION: &str = "us-central1";

/// See [`Config::embedded_default`].
pub fn embedded_default(env: &dyn Fn(&str) -> Option<String>) -> (Config, Vec<String>) {
    let present = |name: &str| env(name).filter(|v| !v.is_empty());
    let mut banner = Vec::new();
    let mut providers = Vec::new();
    for &(var, kind, base_var) in KEY_VARS {
        let base_override = present(base_var);
        let Some(key) = present(var) else {
            if base_override.is_some() {
                banner.push(format!("{base_var} is set but {var} is not; ignored"));
            }
            continue;
        };
        if let Some(problem) = secret_problem(&key) {
            banner.push(format!("skipped provider '{kind}': {var} {problem}"));
            continue;
        }
        let url_text = base_override
            .clone()
            .unwrap_or_else(|| kind.default_base_url().unwrap_or_default().to_string());
        let base_url = match BaseUrl::parse(&url_text) {
            Ok(u) => u,
            Err(m) => {
                banner.push(format!(
                    "skipped provider '{kind}': {base_var} is not a valid base URL ({m})"
                ));
                continue;
            }
        };
        banner.push(format!(
            "registered provider '{kind}' ({kind}, {base_url}) from {var}"
        ));
        providers.push(provider(kind, base_url, Some(key)));
    }
    if let Some(p) = bedrock(&present, &mut banner) {
        providers.push(p);
    }
    if let Some(p) = vertex(&present, &mut banner) {
        providers.push(p);
    }
    if providers.is_empty() {
        let vars: Vec<_> = KEY_VARS.iter().map(|(v, _, _)| *v).collect();
        banner.push(format!(
            "no provider registered: set one of {}, AWS_ACCESS_KEY_ID with AWS_SECRET_ACCESS_KEY, or GOOGLE_APPLICATION_CREDENTIALS with GOOGLE_CLOUD_PROJECT in the environment, or run with --config FILE (see docs/configuration.md)",
            vars.join(", ")
        ));
    }
    let config = Config {
        server: ServerConfig::default(),
        providers,
        models: Vec::new(),
        routes: Vec::new(),
        routing: super::RoutingConfig::default(),
    };
    (config, banner)
}

/// Bedrock from the standard AWS variables.
fn bedrock(
    present: &dyn Fn(&str) -> Option<String>,
    banner: &mut Vec<String>,
) -> Option<ProviderConfig> {
    let id = present("AWS_ACCESS_KEY_ID")?;
    let Some(secret) = present("AWS_SECRET_ACCESS_KEY") else {
        banner.push(
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; bedrock not registered"
                .into(),
        );
        return None;
    };
    let mut key = format!("{id}:{secret}");
    if let Some(token) = present("AWS_SESSION_TOKEN") {
        key.push(':');
        key.push_str(&token);
    }
    if secret_problem(&key).is_some() || key.split(':').any(str::is_empty) {
        banner.push(
            "skipped provider 'bedrock': the AWS credential variables contain whitespace or ':'"
                .into(),
        );
        return None;
    }
    let region = present("AWS_REGION")
        .or_else(|| present("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| DEFAULT_AWS_REGION.to_string());
    let url = present("BEDROCK_BASE_URL")
        .unwrap_or_else(|| ProviderKind::Bedrock.regional_base_url(&region));
    let Ok(base_url) = BaseUrl::parse(&url) else {
        banner.push(format!(
            "skipped provider 'bedrock': invalid base URL {url}"
        ));
        return None;
    };
    banner.push(format!(
        "registered provider 'bedrock' (bedrock, {base_url}, region {region}) from AWS_ACCESS_KEY_ID"
    ));
    let mut p = provider(ProviderKind::Bedrock, base_url, Some(key));
    p.region = Some(region);
    Some(p)
}

/// Vertex from a service-account file and a project.
fn vertex(
    present: &dyn Fn(&str) -> Option<String>,
    banner: &mut Vec<String>,
) -> Option<ProviderConfig> {
    let file = present("GOOGLE_APPLICATION_CREDENTIALS")?;
    let Some(project) = present("GOOGLE_CLOUD_PROJECT") else {
        banner.push("GOOGLE_APPLICATION_CREDENTIALS is set but GOOGLE_CLOUD_PROJECT is not; vertex not registered".into());
        return None;
    };
    let region =
        present("GOOGLE_CLOUD_LOCATION").unwrap_or_else(|| DEFAULT_VERTEX_LOCATION.to_string());
    let url = ProviderKind::Vertex.regional_base_url(&region);
    let Ok(base_url) = BaseUrl::parse(&url) else {
        banner.push(format!(
            "skipped provider 'vertex': invalid location {region}"
        ));
        return None;
    };
    banner.push(format!(
        "registered provider 'vertex' (vertex, {base_url}, project {project}) from GOOGLE_APPLICATION_CREDENTIALS"
    ));
    let mut p = provider(ProviderKind::Vertex, base_url, None);
    p.region = Some(region);
    p.project = Some(project);
    p.credentials_file = Some(file);
    Some(p)
}

/// A provider named like its kind, with at most one key and default settings.
fn provider(kind: ProviderKind, base_url: BaseUrl, key: Option<String>) -> ProviderConfig {
    let mut p = ProviderConfig::new(kind.as_str(), kind, base_url);
    if let Some(value) = key {
        p.keys.push(KeyConfig {
            value,
            weight: 1,
            models: Vec::new(),
        });
    }
    p
}
