//! The compiled, immutable state all shards share: the configuration turned into the structures
//! the request path reads (providers with pre-formatted headers, the model index, the models list).

use std::sync::Arc;

use bytes::Bytes;
use futures_channel::mpsc::UnboundedSender;
use monoio_rustls::TlsConnector;

use crate::config::Config;
use crate::http::request::HeadLimits;
use crate::pipeline::resolve::ModelIndex;
use crate::providers::Provider;

/// A request for a shard's metrics snapshot, answered on the oneshot.
pub type SnapshotRequest = futures_channel::oneshot::Sender<crate::metrics::Snapshot>;

/// Everything the request path needs that changes only with a reload (which builds a new one).
pub struct Gateway {
    /// The validated configuration.
    pub config: Config,
    /// Providers in configuration order; routing refers to them by index.
    pub providers: Vec<Provider>,
    /// Model name → provider/model resolution.
    pub models: ModelIndex,
    /// The `GET /v1/models` body, built once.
    pub models_json: Bytes,
    /// TLS client configuration.
    pub tls: TlsConnector,
    /// Request head limits.
    pub head_limits: HeadLimits,
    /// One channel per shard for metrics snapshots, indexed by shard id.
    pub metric_peers: Vec<UnboundedSender<SnapshotRequest>>,
    /// Incremented by every reload; pooled connections remember the generation they belong to.
    pub generation: u64,
    /// Circuit-breaker and health settings (from `[routing]`).
    pub health: crate::routing::health::HealthConfig,
    /// Routing rules (`[[routes]]`), compiled.
    pub rules: crate::routing::rules::Rules,
    /// Each provider's kind, by index (the price table is keyed by kind).
    pub kinds: Vec<crate::config::ProviderKind>,
}

impl Gateway {
    /// Compiles `config`; `metric_peers` must have one sender per shard.
    pub fn build(
        config: Config,
        metric_peers: Vec<UnboundedSender<SnapshotRequest>>,
        generation: u64,
    ) -> Result<Arc<Gateway>, String> {
        let providers = config
            .providers
            .iter()
            .map(Provider::compile)
            .collect::<Result<Vec<_>, _>>()?;
        let models = ModelIndex::build(&config, &providers);
        let models_json = models.models_list_json(&config);
        let head_limits = HeadLimits {
            max_head_bytes: config.server.max_header_bytes,
            max_headers: config.server.max_headers,
        };
        let r = &config.routing;
        let health = crate::routing::health::HealthConfig {
            failure_threshold: r.failure_threshold,
            error_rate_threshold: r.error_rate_threshold,
            min_requests: r.min_requests,
            open_duration: std::time::Duration::from_millis(r.open_ms),
            max_open_duration: std::time::Duration::from_millis(r.max_open_ms),
            ..crate::routing::health::HealthConfig::default()
        };
        let rules = crate::routing::rules::Rules::compile(&config.routes);
        let kinds = providers.iter().map(|p| p.kind).collect();
        Ok(Arc::new(Gateway {
            health,
            rules,
            kinds,
            providers,
            models,
            models_json,
            tls: crate::upstream::tls::connector(&[])?,
            head_limits,
            metric_peers,
            generation,
            config,
        }))
    }
}
