//! The API's TCP listener, served only with TLS and client certificates (dockerd's
//! `--tlsverify`): the server presents its certificate, and a client must present one
//! signed by the given CA, or the handshake fails before any request is read. The docker
//! CLI connects with `-H tcp://HOST:PORT --tlsverify --tlscacert CA --tlscert CERT --tlskey
//! KEY` (or `DOCKER_HOST`, `DOCKER_TLS_VERIFY=1`, `DOCKER_CERT_PATH`).

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The PEM files of a TLS listener.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA whose certificates clients must present.
    pub ca: PathBuf,
    /// The server's certificate (chain).
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

fn certs(p: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(p)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("api tls: {what} {}: {e}", p.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "api tls: {what} {}: no PEM certificate in it",
            p.display()
        ));
    }
    Ok(certs)
}

/// The acceptor of `f`'s server certificate that requires a client certificate of `f`'s CA.
pub fn acceptor(f: &TlsFiles) -> Result<TlsAcceptor, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for c in certs(&f.ca, "CA")? {
        roots
            .add(c)
            .map_err(|e| format!("api tls: CA {}: {e}", f.ca.display()))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("api tls: CA {}: {e}", f.ca.display()))?;
    let key = PrivateKeyDer::from_pem_file(&f.key)
        .map_err(|e| format!("api tls: key {}: {e}", f.key.display()))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("api tls: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&f.cert, "certificate")?, key)
        .map_err(|e| format!("api tls: certificate {}: {e}", f.cert.display()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
