//! HTTPS: a rustls server configuration (ring provider) from PEM files.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{ServeError, TlsFiles};

/// The rustls server configuration of `files`, ALPN `http/1.1` (the MQTT
/// endpoint uses it too, with its own ALPN list).
pub(super) fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let certs = read_certs(&files.cert)?;
    let key = read_key(&files.key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key_error = |message: String| ServeError::Tls {
        flag: "--tls-key",
        path: files.key.clone(),
        message,
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| key_error(format!("cannot set up TLS: {e}")))?;
    let mut config = builder
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            key_error(format!(
                "expected the private key of the certificate in {}: {e}",
                files.cert.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn open(flag: &'static str, path: &Path) -> Result<BufReader<File>, ServeError> {
    let file = File::open(path).map_err(|e| ServeError::Tls {
        flag,
        path: path.to_path_buf(),
        message: format!("cannot read the file: {e}"),
    })?;
    Ok(BufReader::new(file))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServeError> {
    let bad = |message: String| ServeError::Tls {
        flag: "--tls-cert",
        path: path.to_path_buf(),
        message,
    };
    let certs = rustls_pemfile::certs(&mut open("--tls-cert", path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("expected PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(bad(
            "expected a PEM file with at least one `BEGIN CERTIFICATE` block, found none".into(),
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ServeError> {
    let bad = |message: String| ServeError::Tls {
        flag: "--tls-key",
        path: path.to_path_buf(),
        message,
    };
    match rustls_pemfile::private_key(&mut open("--tls-key", path)?) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(bad(
            "expected a PEM private key (`BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY`), found none".into(),
        )),
        Err(e) => Err(bad(format!("expected a PEM private key: {e}"))),
    }
}
