//! The CLI's HTTP client for the helpdesk API: one HTTP/1.1 request per connection
//! (`Connection: close`), over TLS (rustls, already in the tree for the directory) when the URL
//! is https. Deliberately small — no connection reuse, no redirects, no proxies — so that the
//! binary needs no HTTP client crate. Blocking: the CLI does one request at a time.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::secret::Secret;

/// Largest answer read (a CSV of 100k accounts fits).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--url {0}")]
    Url(String),
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("the answer from {url} is not HTTP: {message}")]
    Protocol { url: String, message: String },
}

/// An answer: status, content type and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

pub struct Client {
    url: url::Url,
    token: Secret,
    tls: Option<Arc<rustls::ClientConfig>>,
    timeout: Duration,
}

/// A value as one URL path segment.
pub fn segment(value: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, SET).to_string()
}

fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| ClientError::Tls(format!("--ca-file {}: {e}", path.display())))?;
            for cert in certs {
                let cert = cert.map_err(|e| ClientError::Tls(format!("--ca-file {}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| ClientError::Tls(format!("--ca-file {}: {e}", path.display())))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl Client {
    /// A client for the helpdesk at `url` (`http://host:port` or `https://…`).
    pub fn new(url: &str, token: Secret, ca_file: Option<&Path>) -> Result<Client, ClientError> {
        let parsed = url::Url::parse(url).map_err(|e| ClientError::Url(format!("{url:?} is not a URL: {e}")))?;
        if parsed.host_str().is_none_or(str::is_empty) || parsed.query().is_some() {
            return Err(ClientError::Url(format!("{url:?} must be http(s)://host[:port]")));
        }
        let tls = match parsed.scheme() {
            "http" => None,
            "https" => Some(tls_config(ca_file)?),
            other => return Err(ClientError::Url(format!("scheme {other:?} is not http or https"))),
        };
        Ok(Client {
            url: parsed,
            token,
            tls,
            timeout: Duration::from_secs(60),
        })
    }

    pub fn get(&self, path: &str) -> Result<Reply, ClientError> {
        self.request("GET", path, None)
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<Reply, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Url(e.to_string()))?;
        self.request("POST", path, Some(bytes))
    }

    fn request(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<Reply, ClientError> {
        let host = self.url.host_str().unwrap_or_default().to_owned();
        let port = self.url.port_or_known_default().unwrap_or(80);
        let shown = format!("{}://{host}:{port}", self.url.scheme());
        let connect_err = |message: String| ClientError::Connect {
            url: shown.clone(),
            message,
        };
        let addr = (host.trim_start_matches('[').trim_end_matches(']'), port)
            .to_socket_addrs()
            .map_err(|e| connect_err(e.to_string()))?
            .next()
            .ok_or_else(|| connect_err("the name has no address".into()))?;
        let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(|e| connect_err(e.to_string()))?;
        tcp.set_read_timeout(Some(self.timeout))
            .map_err(|e| connect_err(e.to_string()))?;
        tcp.set_write_timeout(Some(self.timeout))
            .map_err(|e| connect_err(e.to_string()))?;
        let prefix = self.url.path().trim_end_matches('/');
        let host_header = match self.url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let mut head = format!(
            "{method} {prefix}{path} HTTP/1.1\r\nHost: {host_header}\r\nAuthorization: Bearer {}\r\n\
             Accept: application/json\r\nUser-Agent: pwresetd/{}\r\nConnection: close\r\n",
            self.token.expose(),
            env!("CARGO_PKG_VERSION")
        );
        if let Some(b) = &body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        head.push_str("\r\n");
        let mut wire = head.into_bytes();
        wire.extend(body.unwrap_or_default());
        let raw = match &self.tls {
            None => exchange(tcp, &wire),
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from(
                    host.trim_start_matches('[').trim_end_matches(']').to_owned(),
                )
                .map_err(|e| ClientError::Tls(format!("{host}: {e}")))?;
                let conn =
                    rustls::ClientConnection::new(config.clone(), name).map_err(|e| ClientError::Tls(e.to_string()))?;
                exchange(rustls::StreamOwned::new(conn, tcp), &wire)
            }
        }
        .map_err(|e| connect_err(e.to_string()))?;
        parse(&raw).map_err(|message| ClientError::Protocol { url: shown, message })
    }
}

/// Writes the request and reads the answer until the server closes the connection.
fn exchange(mut stream: impl Read + Write, request: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(request)?;
    stream.flush()?;
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() > MAX_RESPONSE {
                    return Err(std::io::Error::other("the answer is too large"));
                }
            }
            // A TLS peer that closes without close_notify: what arrived is the answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => break,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Parses an HTTP/1.1 answer (Content-Length, chunked, or read-to-close bodies).
pub fn parse(raw: &[u8]) -> Result<Reply, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "headers are not UTF-8")?;
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut content_type = None;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = Some(value.to_owned()),
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        rest.get(..n)
            .ok_or("the body is shorter than its Content-Length")?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Reply {
        status,
        content_type,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|_| "bad chunk size")?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or_default().trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).ok_or("truncated chunk")?);
        data = data.get(size + 2..).ok_or("truncated chunk")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed() {
        let r =
            parse(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}trailing")
                .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{\"a\":1}"[..]));
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        let r =
            parse(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")
                .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"abcde"[..]));
        let r = parse(b"HTTP/1.0 503 x\r\n\r\nbody").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (503, &b"body"[..]));
        for bad in [
            &b"garbage"[..],
            b"SMTP 220\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(segment("o*neil/x y"), "o%2Aneil%2Fx%20y");
        assert!(Client::new("ftp://x", Secret::new("t"), None).is_err());
        assert!(Client::new("http://", Secret::new("t"), None).is_err());
    }
}
