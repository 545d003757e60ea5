//! TLS to providers: rustls with the `ring` provider and the webpki root set compiled in, so no
//! system trust store is needed.

use std::sync::Arc;

use monoio_rustls::TlsConnector;

/// Builds the connector shared by all shards (rustls configs are immutable and `Send + Sync`).
pub fn connector() -> Result<TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
