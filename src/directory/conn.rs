//! Connections to the directory: TLS set-up, a small pool of bound service connections, and
//! one-off connections for binds as a user.
//!
//! ldap3 has no pool; a cloned `Ldap` handle shares its connection and multiplexes operations on
//! it, so the pool keeps `connections` bound connections and hands out clones round-robin. A
//! closed connection is replaced on the next `get`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use tokio::sync::Mutex;

use super::DirectoryError;
use crate::directory::config::{DirectoryConfig, Transport};
use crate::secret::Secret;

/// How to reach the directory: URL, transport protection and timeouts.
#[derive(Clone)]
pub struct Endpoint {
    pub url: String,
    transport: Transport,
    tls: Option<Arc<ClientConfig>>,
    pub timeout: Duration,
}

impl Endpoint {
    pub fn new(config: &DirectoryConfig) -> Result<Self, DirectoryError> {
        let tls = match config.transport {
            Transport::Plain => None,
            Transport::Ldaps | Transport::StartTls => Some(tls_config(config.ca_file.as_deref())?),
        };
        Ok(Endpoint {
            url: config.url.clone(),
            transport: config.transport,
            tls,
            timeout: config.timeout,
        })
    }

    pub fn timeout_secs(&self) -> u64 {
        self.timeout.as_secs()
    }

    /// Connects the TCP socket ourselves, with `TCP_NODELAY`: LDAP requests are small, and
    /// Nagle's algorithm with delayed ACKs otherwise stalls a bind by ~40 ms.
    async fn socket(&self) -> Result<std::net::TcpStream, DirectoryError> {
        let connect_err = |message: String| DirectoryError::Connect {
            url: self.url.clone(),
            message,
        };
        let url = url::Url::parse(&self.url).map_err(|e| connect_err(e.to_string()))?;
        let port = url.port().unwrap_or(if url.scheme() == "ldaps" { 636 } else { 389 });
        let connect = async {
            match url.host() {
                Some(url::Host::Domain(d)) => tokio::net::TcpStream::connect((d, port)).await,
                Some(url::Host::Ipv4(a)) => tokio::net::TcpStream::connect((a, port)).await,
                Some(url::Host::Ipv6(a)) => tokio::net::TcpStream::connect((a, port)).await,
                None => Err(std::io::Error::other("no host in the URL")),
            }
        };
        let stream = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| DirectoryError::Timeout {
                url: self.url.clone(),
                op: "connect",
                seconds: self.timeout_secs(),
            })?
            .map_err(|e| connect_err(e.to_string()))?;
        stream.set_nodelay(true).map_err(|e| connect_err(e.to_string()))?;
        stream.into_std().map_err(|e| connect_err(e.to_string()))
    }

    /// Opens a new connection (TLS negotiated, not bound).
    pub async fn open(&self) -> Result<Ldap, DirectoryError> {
        let socket = self.socket().await?;
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout)
            .set_std_stream(ldap3::StdStream::Tcp(socket));
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        if self.transport == Transport::StartTls {
            settings = settings.set_starttls(true);
        }
        let (conn, ldap) = LdapConnAsync::with_settings(settings, &self.url)
            .await
            .map_err(|e| DirectoryError::from_connect(&self.url, e, self.timeout_secs()))?;
        ldap3::drive!(conn);
        Ok(ldap)
    }

    /// Opens a connection and binds as `dn`. A refused bind is [`DirectoryError::Bind`].
    pub async fn bind(&self, dn: &str, password: &Secret) -> Result<Ldap, DirectoryError> {
        let mut ldap = self.open().await?;
        let res = ldap
            .with_timeout(self.timeout)
            .simple_bind(dn, password.expose())
            .await
            .map_err(|e| DirectoryError::from_op(&self.url, "bind", dn, e, self.timeout_secs()))?;
        if res.rc != 0 {
            return Err(DirectoryError::Bind {
                url: self.url.clone(),
                dn: dn.to_owned(),
                rc: res.rc,
                text: res.text,
            });
        }
        Ok(ldap)
    }
}

/// Builds the rustls client configuration: the CA file when given, else the system's roots.
fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, DirectoryError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|e| DirectoryError::TlsSettings(format!("directory.ca_file {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(DirectoryError::TlsSettings(format!(
                    "directory.ca_file {} holds no PEM certificate",
                    path.display()
                )));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| DirectoryError::TlsSettings(format!("directory.ca_file {}: {e}", path.display())))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // Unparsable system roots are skipped, as every TLS client does.
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DirectoryError::TlsSettings(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A fixed set of connections bound as the service account.
pub struct Pool {
    endpoint: Endpoint,
    bind_dn: String,
    bind_password: Secret,
    slots: Vec<Mutex<Option<Ldap>>>,
    next: AtomicUsize,
}

impl Pool {
    pub fn new(endpoint: Endpoint, config: &DirectoryConfig) -> Self {
        let slots = (0..config.connections).map(|_| Mutex::new(None)).collect();
        Pool {
            endpoint,
            bind_dn: config.bind_dn.clone(),
            bind_password: config.bind_password.clone(),
            slots,
            next: AtomicUsize::new(0),
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// A handle on a bound service connection, reconnecting when the slot's connection closed.
    pub async fn get(&self) -> Result<Ldap, DirectoryError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().await;
        if let Some(ldap) = slot.as_mut() {
            if !ldap.is_closed() {
                return Ok(ldap.clone());
            }
        }
        let ldap = self.endpoint.bind(&self.bind_dn, &self.bind_password).await?;
        *slot = Some(ldap.clone());
        Ok(ldap)
    }

    /// Drops the connection behind a handle that failed, so the next `get` reconnects.
    pub async fn discard_all(&self) {
        for slot in &self.slots {
            if let Some(mut ldap) = slot.lock().await.take() {
                let _ = ldap.unbind().await;
            }
        }
    }
}
