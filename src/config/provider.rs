//! `[[providers]]`: reading and checking one provider (keys in `keys.rs`, headers in `headers.rs`).

use super::headers::read_headers;
use super::keys::read_keys;
use super::path::index_path;
use super::reader::{check_range, wrong_type, Errors, Fields};
use super::server::MAX_TIMEOUT_MS;
use super::{BaseUrl, ProviderConfig, ProviderKind};
use toml::Value;

/// The `api-version` used for azure when none is configured.
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

/// Default `timeout_ms`: the whole upstream response.
pub const DEFAULT_TIMEOUT_MS: u64 = 60_000;
/// Default `connect_timeout_ms`.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Default `pool_idle_timeout_ms`.
pub const DEFAULT_POOL_IDLE_TIMEOUT_MS: u64 = 90_000;
/// Default `pool_max_idle` (per shard, per provider).
pub const DEFAULT_POOL_MAX_IDLE: usize = 256;

impl ProviderConfig {
    /// A provider with no keys, no models, no extra headers and every other
    /// field at its default (for the embedded default and for tests).
    pub fn new(name: impl Into<String>, kind: ProviderKind, base_url: BaseUrl) -> ProviderConfig {
        ProviderConfig {
            name: name.into(),
            kind,
            base_url,
            keys: Vec::new(),
            models: Vec::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            pool_idle_timeout_ms: DEFAULT_POOL_IDLE_TIMEOUT_MS,
            pool_max_idle: DEFAULT_POOL_MAX_IDLE,
            api_version: (kind == ProviderKind::Azure)
                .then(|| DEFAULT_AZURE_API_VERSION.to_string()),
            headers: Vec::new(),
            tls_ca_file: None,
            region: None,
            project: None,
            credentials_file: None,
            first_byte_timeout_ms: DEFAULT_TIMEOUT_MS,
            stream_idle_timeout_ms: DEFAULT_TIMEOUT_MS,
            total_timeout_ms: 0,
            retry: super::RetryConfig::default(),
        }
    }
}

const FIELDS: &[&str] = &[
    "name",
    "kind",
    "base_url",
    "keys",
    "api_key",
    "models",
    "timeout_ms",
    "connect_timeout_ms",
    "pool_idle_timeout_ms",
    "pool_max_idle",
    "api_version",
    "headers",
    "tls_ca_file",
    "region",
    "project",
    "credentials_file",
    "first_byte_timeout_ms",
    "stream_idle_timeout_ms",
    "total_timeout_ms",
    "retry",
];

/// True for a valid provider name: `[a-z0-9_-]+`.
pub fn is_provider_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Reads `providers[index]`. Returns the name as written (for duplicate and
/// alias-target checks, even when the provider has errors) and the provider
/// when it has none of its own.
pub fn read_provider(
    value: &Value,
    index: usize,
    errors: &mut Errors,
) -> (Option<String>, Option<ProviderConfig>) {
    let path = index_path("providers", index);
    let Value::Table(table) = value else {
        errors.push(path, wrong_type("a table", value));
        return (None, None);
    };
    let before = errors.0.len();
    let f = Fields::new(table, path);
    f.deny_unknown(FIELDS, &[], errors);

    let name = f.str("name", errors);
    match &name {
        None if f.get("name").is_none() => {
            errors.push(f.path.clone(), "missing required field 'name'")
        }
        Some(n) if !is_provider_name(n) => errors.push(
            f.at("name"),
            format!(
                "{n:?} is not a valid provider name (use lower-case letters, digits, '-' and '_')"
            ),
        ),
        _ => {}
    }
    let kind = read_kind(&f, name.as_deref(), errors);
    let cloud = read_cloud(&f, kind, errors);
    let base_url = read_base_url(&f, kind, cloud.region.as_deref(), errors);
    let keys = read_keys(&f, kind, errors);
    let api_version = read_api_version(&f, kind, errors);
    check_cloud_keys(&f, kind, &keys, cloud.credentials_file.is_some(), errors);
    let headers = read_headers(&f, errors);
    let models = f.str_list("models", errors);
    let tls_ca_file = read_tls_ca_file(&f, errors);
    let mut timeout = |key: &str, default: u64| {
        let v = f.u64(key, default, errors);
        check_range(errors, &f.at(key), v, 1, MAX_TIMEOUT_MS);
        v
    };
    let timeout_ms = timeout("timeout_ms", DEFAULT_TIMEOUT_MS);
    // Absent: `timeout_ms` (already checked; an invalid one is reported once, not three times).
    let mut derived = |key: &str| {
        if f.get(key).is_some() {
            timeout(key, timeout_ms)
        } else {
            timeout_ms
        }
    };
    let first_byte_timeout_ms = derived("first_byte_timeout_ms");
    let stream_idle_timeout_ms = derived("stream_idle_timeout_ms");
    let connect_timeout_ms = timeout("connect_timeout_ms", DEFAULT_CONNECT_TIMEOUT_MS);
    let pool_idle_timeout_ms = timeout("pool_idle_timeout_ms", DEFAULT_POOL_IDLE_TIMEOUT_MS);
    let total_timeout_ms = f.u64("total_timeout_ms", 0, errors);
    check_range(
        errors,
        &f.at("total_timeout_ms"),
        total_timeout_ms,
        0,
        MAX_TIMEOUT_MS,
    );
    let pool_max_idle = f.usize("pool_max_idle", DEFAULT_POOL_MAX_IDLE, errors);
    let retry = read_retry(&f, errors);

    let provider = match (name.clone(), kind, base_url) {
        (Some(name), Some(kind), Some(base_url)) if errors.0.len() == before => {
            Some(ProviderConfig {
                name,
                kind,
                base_url,
                keys,
                models,
                timeout_ms,
                connect_timeout_ms,
                pool_idle_timeout_ms,
                pool_max_idle,
                api_version,
                headers,
                tls_ca_file,
                region: cloud.region,
                project: cloud.project,
                credentials_file: cloud.credentials_file,
                first_byte_timeout_ms,
                stream_idle_timeout_ms,
                total_timeout_ms,
                retry,
            })
        }
        _ => None,
    };
    (name, provider)
}

/// `kind`, defaulting to the name when the name is a kind's name.
fn read_kind(f: &Fields<'_>, name: Option<&str>, errors: &mut Errors) -> Option<ProviderKind> {
    let kind = match f.str("kind", errors) {
        Some(k) => k,
        None if f.get("kind").is_some() => return None,
        None => match name.and_then(ProviderKind::parse) {
            Some(kind) => return Some(kind),
            None => {
                errors.push(
                    f.path.clone(),
                    "missing required field 'kind' (it may be left out only when the name is a kind, like name = \"openai\")",
                );
                return None;
            }
        },
    };
    match ProviderKind::parse(&kind) {
        Some(k) => Some(k),
        None => {
            let all: Vec<_> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
            errors.push(
                f.at("kind"),
                format!(
                    "unknown provider kind {kind:?} (expected one of: {})",
                    all.join(", ")
                ),
            );
            None
        }
    }
}

/// `retry = { max_attempts, backoff_ms, max_backoff_ms, cooldown_ms, deadline_ms }`, each
/// optional.
fn read_retry(f: &Fields<'_>, errors: &mut Errors) -> super::RetryConfig {
    let mut retry = super::RetryConfig::default();
    let Some(value) = f.get("retry") else {
        return retry;
    };
    let Value::Table(t) = value else {
        errors.push(f.at("retry"), wrong_type("a table", value));
        return retry;
    };
    let r = Fields::new(t, f.at("retry"));
    r.deny_unknown(
        &[
            "max_attempts",
            "backoff_ms",
            "max_backoff_ms",
            "cooldown_ms",
        ],
        &[],
        errors,
    );
    let attempts = r.u64("max_attempts", u64::from(retry.max_attempts), errors);
    if check_range(errors, &r.at("max_attempts"), attempts, 1, 20) {
        retry.max_attempts = attempts as u32;
    }
    let mut ms = |key: &str, default: u64| {
        let v = r.u64(key, default, errors);
        check_range(errors, &r.at(key), v, 0, MAX_TIMEOUT_MS);
        v
    };
    retry.backoff_ms = ms("backoff_ms", retry.backoff_ms);
    retry.max_backoff_ms = ms("max_backoff_ms", retry.max_backoff_ms);
    retry.cooldown_ms = ms("cooldown_ms", retry.cooldown_ms);
    retry.deadline_ms = ms("deadline_ms", retry.deadline_ms);
    if retry.max_backoff_ms < retry.backoff_ms {
        errors.push(r.at("max_backoff_ms"), "must not be below backoff_ms");
    }
    retry
}

/// Bedrock keys are `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`; vertex needs
/// `credentials_file` or keys (OAuth access tokens).
fn check_cloud_keys(
    f: &Fields<'_>,
    kind: Option<ProviderKind>,
    keys: &[super::KeyConfig],
    has_credentials_file: bool,
    errors: &mut Errors,
) {
    match kind {
        Some(ProviderKind::Bedrock) => {
            for (i, k) in keys.iter().enumerate() {
                let parts: Vec<&str> = k.value.split(':').collect();
                if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
                    errors.push(
                        index_path(&f.at("keys"), i),
                        "a bedrock key is \"ACCESS_KEY_ID:SECRET_ACCESS_KEY\" or \"ACCESS_KEY_ID:SECRET_ACCESS_KEY:SESSION_TOKEN\"",
                    );
                }
            }
        }
        Some(ProviderKind::Vertex) if keys.is_empty() && !has_credentials_file => errors.push(
            f.path.clone(),
            "kind 'vertex' needs credentials_file (a service-account JSON key) or keys (OAuth access tokens)",
        ),
        _ => {}
    }
}

/// The cloud fields of bedrock and vertex.
struct Cloud {
    region: Option<String>,
    project: Option<String>,
    credentials_file: Option<String>,
}

/// `region`, `project` and `credentials_file`: each only where its kind uses it.
fn read_cloud(f: &Fields<'_>, kind: Option<ProviderKind>, errors: &mut Errors) -> Cloud {
    let cloud_kind = matches!(kind, Some(ProviderKind::Bedrock | ProviderKind::Vertex));
    let is_vertex = kind == Some(ProviderKind::Vertex);
    let region = f.str("region", errors);
    let project = f.str("project", errors);
    let credentials_file = f.str("credentials_file", errors);
    if let Some(k) = kind {
        if region.is_some() && !cloud_kind {
            errors.push(
                f.at("region"),
                format!("applies only to kinds 'bedrock' and 'vertex', not '{k}'"),
            );
        }
        if project.is_some() && !is_vertex {
            errors.push(f.at("project"), "applies only to kind 'vertex'");
        }
        if credentials_file.is_some() && !is_vertex {
            errors.push(f.at("credentials_file"), "applies only to kind 'vertex'");
        }
        if cloud_kind && region.is_none() && f.get("region").is_none() {
            errors.push(f.path.clone(), format!("missing required field 'region' (kind '{k}' needs it, like \"us-east-1\" or \"us-central1\")"));
        }
        if is_vertex && project.is_none() && f.get("project").is_none() {
            errors.push(
                f.path.clone(),
                "missing required field 'project' (the Google Cloud project id)",
            );
        }
    }
    if let Some(r) = &region {
        if r.is_empty()
            || !r
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            errors.push(
                f.at("region"),
                format!("{r:?} is not a valid region (lower-case letters, digits and '-')"),
            );
        }
    }
    if let Some(p) = &project {
        if p.is_empty()
            || !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'_'))
        {
            errors.push(f.at("project"), format!("{p:?} is not a valid project id"));
        }
    }
    if let Some(path) = &credentials_file {
        if let Err(e) = std::fs::read(path) {
            errors.push(f.at("credentials_file"), format!("cannot read {path}: {e}"));
        }
    }
    Cloud {
        region,
        project,
        credentials_file,
    }
}

/// `base_url`, or the kind's default (derived from the region for bedrock and vertex).
fn read_base_url(
    f: &Fields<'_>,
    kind: Option<ProviderKind>,
    region: Option<&str>,
    errors: &mut Errors,
) -> Option<BaseUrl> {
    let text = match f.str("base_url", errors) {
        Some(t) => t,
        None if f.get("base_url").is_some() => return None,
        None => {
            let kind = kind?;
            match kind.default_base_url() {
                Some(d) => d.to_string(),
                None if matches!(kind, ProviderKind::Bedrock | ProviderKind::Vertex) => {
                    // The region was reported missing already when it is.
                    kind.regional_base_url(region?)
                }
                None => {
                    errors.push(
                        f.path.clone(),
                        format!("missing required field 'base_url' (kind '{kind}' has no default)"),
                    );
                    return None;
                }
            }
        }
    };
    match BaseUrl::parse(&text) {
        Ok(url) => Some(url),
        Err(m) => {
            errors.push(f.at("base_url"), format!("invalid URL: {m}"));
            None
        }
    }
}

/// `api_version`: azure only, default [`DEFAULT_AZURE_API_VERSION`].
fn read_api_version(
    f: &Fields<'_>,
    kind: Option<ProviderKind>,
    errors: &mut Errors,
) -> Option<String> {
    let value = f.str("api_version", errors);
    let is_azure = kind == Some(ProviderKind::Azure);
    match value {
        Some(_) if kind.is_some() && !is_azure => {
            errors.push(f.at("api_version"), "applies only to kind 'azure'");
            None
        }
        Some(v)
            if v.is_empty()
                || !v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) =>
        {
            errors.push(
                f.at("api_version"),
                format!("{v:?} is not a valid version (like \"{DEFAULT_AZURE_API_VERSION}\")"),
            );
            None
        }
        Some(v) => Some(v),
        None if is_azure => Some(DEFAULT_AZURE_API_VERSION.to_string()),
        None => None,
    }
}

/// `tls_ca_file`: a PEM file of extra CA certificates trusted for this provider (for servers
/// behind a private CA). Checked at load so a bad path fails `shardgate check`, not a request.
fn read_tls_ca_file(f: &Fields<'_>, errors: &mut Errors) -> Option<String> {
    let path = f.str("tls_ca_file", errors)?;
    match crate::upstream::tls::read_ca_file(std::path::Path::new(&path)) {
        Ok(_) => Some(path),
        Err(e) => {
            errors.push(f.at("tls_ca_file"), e);
            None
        }
    }
}
