//! TLS to PostgreSQL: the rustls connector (ring, no OpenSSL) the `postgres` client uses, with
//! `sslmode=verify-full` semantics whatever the mode — the chain must lead to `store.ca_file` (or
//! a system root) and the certificate must name the host of `store.url` — and the words that
//! turn a refused handshake into the key to fix.
//!
//! Owns no connection and opens none: the store's PostgreSQL backend calls [`connector`] once and
//! hands it to every connect.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use thiserror::Error;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::config::PgConfig;

#[derive(Debug, Error)]
pub enum PgTlsError {
    #[error("store.ca_file {}: {message}; make it a readable PEM file holding the database server's CA", .path.display())]
    CaFile { path: PathBuf, message: String },
    #[error("no usable CA certificate in the system's store; set store.ca_file to the database server's CA")]
    NoSystemRoots,
    #[error("TLS settings for the database: {0}")]
    Settings(String),
}

/// The connector for every connection to `pg`: trusts `pg.ca_file` alone when set, else the
/// system's roots. Also used with `sslmode=prefer` (`allow_insecure`), where it verifies the
/// same way whenever the server does speak TLS.
pub fn connector(pg: &PgConfig) -> Result<MakeRustlsConnect, PgTlsError> {
    let roots = match &pg.ca_file {
        Some(path) => roots_from_file(path)?,
        None => system_roots()?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PgTlsError::Settings(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, PgTlsError> {
    let fail = |message: String| PgTlsError::CaFile {
        path: path.to_owned(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("holds no PEM certificate".into()));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| fail(e.to_string()))?;
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, PgTlsError> {
    let mut roots = RootCertStore::empty();
    // Unparsable system roots are skipped, as every TLS client does.
    let (added, _) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if added == 0 {
        return Err(PgTlsError::NoSystemRoots);
    }
    Ok(roots)
}

/// What to do about a failed connect, when the cause is the server's certificate: `None` for
/// any other failure (the client's own message says it then).
pub fn certificate_hint(error: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(rustls::Error::InvalidCertificate(problem)) = rustls_error(e) {
            return Some(match problem {
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    "the database server's certificate is not signed by a CA pwresetd trusts: \
                     set store.ca_file to the CA that signed it"
                }
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    "the database server's certificate does not name the host of store.url: use a \
                     host name the certificate carries (or have it reissued with that name)"
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "the database server's certificate has expired: renew it"
                }
                _ => "the database server's certificate was refused: check it and store.ca_file",
            });
        }
        cause = e.source();
    }
    None
}

/// A rustls error, bare or inside the `io::Error` tokio-rustls wraps it in.
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    e.downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn pg(ca_file: Option<PathBuf>) -> PgConfig {
        PgConfig::new(
            "postgres://pwresetd@db.example.org/pwresetd",
            Secret::new("pw"),
            ca_file,
            false,
        )
        .unwrap()
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "no certificate here\n").unwrap();
        let e = connector(&pg(Some(path))).err().unwrap();
        assert!(matches!(e, PgTlsError::CaFile { .. }), "{e}");
        assert!(e.to_string().contains("store.ca_file"), "{e}");
        assert!(e.to_string().contains("holds no PEM certificate"), "{e}");
    }

    #[test]
    fn hints_name_the_certificate_problem() {
        let unknown = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        assert!(certificate_hint(&unknown).unwrap().contains("store.ca_file"));
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert!(certificate_hint(&name).unwrap().contains("does not name the host"));
        let other = std::io::Error::other("connection refused");
        assert_eq!(certificate_hint(&other), None);
    }
}
