//! HTTPS for the mock (`--tls-cert`, `--tls-key`): a rustls server configuration on the `ring`
//! provider, TLS 1.2 and 1.3, ALPN `http/1.1`, built once and shared by every worker thread.

use std::path::Path;
use std::sync::Arc;

use monoio_rustls::TlsAcceptor;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// Builds the acceptor from a PEM certificate chain (leaf first) and a PEM private key (PKCS#8,
/// PKCS#1 or SEC1). The error names the file and what is wrong with it.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| pem_error("--tls-cert", cert, e))?;
    if chain.is_empty() {
        return Err(format!(
            "--tls-cert {}: no CERTIFICATE section in the file",
            cert.display()
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        pem::Error::NoItemsFound => format!(
            "--tls-key {}: no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY section in the file",
            key.display()
        ),
        e => pem_error("--tls-key", key, e),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            let why = match e {
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                    "the private key does not match the certificate".to_string()
                }
                rustls::Error::InvalidCertificate(c) => {
                    format!("the leaf certificate is not valid X.509 ({c:?})")
                }
                e => e.to_string(),
            };
            format!(
                "--tls-cert {} / --tls-key {}: {why}",
                cert.display(),
                key.display()
            )
        })?;
    // The mock speaks HTTP/1.1 only; a client offering h2 and http/1.1 gets http/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// `FLAG PATH: reason`, with the I/O error itself rather than rustls' `I/O error: ...` wrapper.
fn pem_error(flag: &str, path: &Path, e: pem::Error) -> String {
    let path = path.display();
    match e {
        pem::Error::Io(io) => format!("{flag} {path}: {io}"),
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "{flag} {path}: invalid PEM: no `-----END {}-----` line",
            String::from_utf8_lossy(&end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "{flag} {path}: invalid PEM: bad section start `{}`",
            String::from_utf8_lossy(&line)
        ),
        e => format!("{flag} {path}: invalid PEM: {e}"),
    }
}
