//! The `[store]` section: the embedded SQLite file (`path`, the default) or a shared PostgreSQL
//! (`url`, with `password_file` or the systemd credential `db-password`, `ca_file`,
//! `allow_insecure`), validated into [`StoreConfig`].
//!
//! Reads only the password file and checks that `ca_file` exists; must not connect nor build TLS
//! parameters (`store::tls` does). A password never comes from the URL, and no error message
//! repeats a URL that could hold one.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, Origin, read_secret};
use crate::secret::Secret;

/// Name of the systemd credential holding the PostgreSQL password (`LoadCredential=db-password:…`).
pub const PASSWORD_CREDENTIAL: &str = "db-password";

/// Connect timeout when the URL sets none: a database that does not answer must fail a request
/// (and `/readyz`) in bounded time, not hang it.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long sent data may stay unacknowledged when the URL sets no `tcp_user_timeout`: a query
/// to a host that vanished (power, network) fails after it instead of after the kernel's
/// ~15 minutes of retransmissions.
pub const DEFAULT_TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// The server ends a session of ours idle inside a transaction for this long, when the URL sets
/// no `options`: an instance paused there (SIGSTOP, a frozen VM, a half-open connection) holds
/// the locks of the rows it wrote — a fenced write's first is its lease row — and another
/// instance's take-over of the lease would wait for it without end. Our transactions run their
/// statements back to back, so only a stalled client reaches it.
///
/// The service's configuration sets it to half of `daemon.lease_ttl` ([`StoreConfig::for_lease_ttl`]),
/// the expiry a lease holder writes (engine/lease.rs): a holder stalled inside a transaction
/// then loses its row locks when its lease runs out, and the take-over still lands within the
/// TTL. This default is that of the default TTL (30 s), for tools that read no `[daemon]`.
pub const DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the store lives.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// The embedded database file (`store.path`).
    Sqlite { path: PathBuf },
    /// A shared PostgreSQL database (`store.url`).
    Postgres(Box<PgConfig>),
}

/// Connections one instance keeps to PostgreSQL at most when `store.pool_size` is unset.
pub const DEFAULT_POOL_SIZE: u32 = 10;
/// The largest `store.pool_size`: PostgreSQL's own default `max_connections` is 100, shared by
/// every instance and tool.
pub const MAX_POOL_SIZE: u32 = 100;

/// A validated `store.url` and its companions.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// The URL as configured (it never holds a password), for messages.
    pub url: String,
    pub password: Secret,
    /// Trust anchors for the server's certificate (PEM); `None`: the system's roots.
    pub ca_file: Option<PathBuf>,
    pub allow_insecure: bool,
    pub tls: PgTls,
    /// `idle_in_transaction_session_timeout` for our sessions, unless the URL sets `options`.
    pub idle_in_transaction_timeout: Duration,
    /// Connections this instance keeps at most (`store.pool_size`).
    pub pool_size: u32,
    /// The URL parsed, without `sslmode` and without the password.
    client: postgres::Config,
}

/// What `sslmode` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgTls {
    /// TLS required, the certificate chained to `ca_file` (or the system's roots) and naming the
    /// host: `sslmode=verify-full`, the default.
    VerifyFull,
    /// TLS when the server offers it, else plain (`prefer`/`allow`): `allow_insecure` only.
    Prefer,
    /// Plain TCP (`disable`): `allow_insecure` only.
    Disable,
}

impl StoreConfig {
    /// The SQLite file, when the store is SQLite.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            StoreConfig::Sqlite { path } => Some(path),
            StoreConfig::Postgres(_) => None,
        }
    }

    /// This store with PostgreSQL's idle-in-transaction limit at half of `lease_ttl`
    /// (`daemon.lease_ttl`; see [`DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT`]).
    pub fn for_lease_ttl(self, lease_ttl: Duration) -> StoreConfig {
        match self {
            StoreConfig::Postgres(mut pg) => {
                pg.idle_in_transaction_timeout = lease_ttl / 2;
                StoreConfig::Postgres(pg)
            }
            sqlite => sqlite,
        }
    }

    /// One line naming the store, for messages (no secret in it).
    pub fn describe(&self) -> String {
        match self {
            StoreConfig::Sqlite { path } => path.display().to_string(),
            StoreConfig::Postgres(pg) => pg.url.clone(),
        }
    }

    /// The folder for local state files beside the store (the default DONT_EXPIRE ledger): the
    /// SQLite file's folder, or the state directory with PostgreSQL.
    pub fn local_dir(&self, state_dir: Option<&Path>) -> PathBuf {
        match (self, state_dir) {
            (StoreConfig::Sqlite { path }, _) => path.parent().unwrap_or(Path::new(".")).to_owned(),
            (StoreConfig::Postgres(_), Some(dir)) => dir.to_owned(),
            (StoreConfig::Postgres(_), None) => PathBuf::from("/var/lib/pwresetd"),
        }
    }
}

impl PgConfig {
    /// Validates a PostgreSQL URL and its companions as `[store]` does (the same refusals, under
    /// the same key names): for tests and tools that have no configuration file.
    pub fn new(
        url: &str,
        password: Secret,
        ca_file: Option<PathBuf>,
        allow_insecure: bool,
    ) -> Result<PgConfig, ConfigError> {
        let (client, sslmode) = parse_url(url)?;
        let tls = tls_mode(sslmode.as_deref(), allow_insecure)?;
        if let Some(path) = &ca_file {
            check_ca_file(path, tls)?;
        }
        if password.expose().is_empty() {
            return Err(ConfigError::invalid("store.password_file", "the password is empty"));
        }
        Ok(PgConfig {
            url: url.to_owned(),
            password,
            ca_file,
            allow_insecure,
            tls,
            idle_in_transaction_timeout: DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT,
            pool_size: DEFAULT_POOL_SIZE,
            client,
        })
    }

    /// The connection parameters, password included, TLS mode set from `sslmode`
    /// (`VerifyFull` is `Require` here: the connector of `store::tls` verifies the chain and the
    /// host name), with [`DEFAULT_CONNECT_TIMEOUT`], [`DEFAULT_TCP_USER_TIMEOUT`] and
    /// `idle_in_transaction_timeout` ([`DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT`]) when the URL sets
    /// none (its own `options` win: a site that set them knows its server). `connect_timeout` bounds only the TCP connect: bound the whole connect with
    /// [`super::pg_connect::connect_bounded`].
    pub fn client_config(&self) -> postgres::Config {
        let mut config = self.client.clone();
        config.password(self.password.expose());
        config.ssl_mode(match self.tls {
            PgTls::VerifyFull => postgres::config::SslMode::Require,
            PgTls::Prefer => postgres::config::SslMode::Prefer,
            PgTls::Disable => postgres::config::SslMode::Disable,
        });
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(DEFAULT_TCP_USER_TIMEOUT);
        }
        if config.get_options().is_none() {
            let ms = self.idle_in_transaction_timeout.as_millis();
            config.options(&format!("-c idle_in_transaction_session_timeout={ms}"));
        }
        config
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    path: Option<PathBuf>,
    url: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    allow_insecure: bool,
    pool_size: Option<u32>,
}

impl RawStore {
    /// `path` (default: `state.db` in systemd's `$STATE_DIRECTORY`, else under /var/lib/pwresetd)
    /// or `url`, never both.
    pub fn validate(self, origin: Origin<'_>, state_dir: Option<&Path>) -> Result<StoreConfig, ConfigError> {
        if self.path.is_some() && self.url.is_some() {
            return Err(ConfigError::invalid(
                "store.url",
                "store.path and store.url are both set; keep store.path for the embedded SQLite \
                 file or store.url for a shared PostgreSQL, not both",
            ));
        }
        let Some(url) = &self.url else {
            return self.sqlite(origin, state_dir);
        };
        self.postgres(url, origin).map(|pg| StoreConfig::Postgres(Box::new(pg)))
    }

    fn sqlite(&self, origin: Origin<'_>, state_dir: Option<&Path>) -> Result<StoreConfig, ConfigError> {
        for (key, set) in [
            ("store.password_file", self.password_file.is_some()),
            ("store.ca_file", self.ca_file.is_some()),
            ("store.allow_insecure", self.allow_insecure),
            ("store.pool_size", self.pool_size.is_some()),
        ] {
            if set {
                return Err(ConfigError::invalid(
                    key,
                    "only applies to a PostgreSQL store; set store.url, or remove the key",
                ));
            }
        }
        let path = match (&self.path, state_dir) {
            (Some(p), _) => origin.resolve(p),
            (None, Some(dir)) => dir.join("state.db"),
            (None, None) => PathBuf::from("/var/lib/pwresetd/state.db"),
        };
        Ok(StoreConfig::Sqlite { path })
    }

    fn postgres(&self, url: &str, origin: Origin<'_>) -> Result<PgConfig, ConfigError> {
        // URL first: its refusals say more than a missing password file.
        let (_, sslmode) = parse_url(url)?;
        tls_mode(sslmode.as_deref(), self.allow_insecure)?;
        let ca_file = self.ca_file.as_deref().map(|p| origin.resolve(p));
        let mut pg = PgConfig::new(url, self.password(origin)?, ca_file, self.allow_insecure)?;
        if let Some(size) = self.pool_size {
            if !(1..=MAX_POOL_SIZE).contains(&size) {
                return Err(ConfigError::invalid(
                    "store.pool_size",
                    format!(
                        "{size} is not between 1 and {MAX_POOL_SIZE}; the default is {DEFAULT_POOL_SIZE} \
                         (keep instances x pool_size below the server's max_connections)"
                    ),
                ));
            }
            pg.pool_size = size;
        }
        Ok(pg)
    }

    fn password(&self, origin: Origin<'_>) -> Result<Secret, ConfigError> {
        let path = match (&self.password_file, origin.credential(PASSWORD_CREDENTIAL)) {
            (Some(file), _) => origin.resolve(file),
            (None, Some(credential)) => credential,
            (None, None) => {
                return Err(ConfigError::invalid(
                    "store.password_file",
                    "store.url needs the database password: set store.password_file to a file holding \
                     it, or pass a systemd credential named db-password",
                ));
            }
        };
        read_secret("store.password_file", &path)
    }
}

/// The TLS mode `sslmode` asks for; the modes that may send in clear need `allow_insecure`.
fn tls_mode(sslmode: Option<&str>, allow_insecure: bool) -> Result<PgTls, ConfigError> {
    match (sslmode, allow_insecure) {
        (None | Some("verify-full"), _) => Ok(PgTls::VerifyFull),
        (Some("disable"), true) => Ok(PgTls::Disable),
        (Some("prefer" | "allow"), true) => Ok(PgTls::Prefer),
        (Some(mode @ ("disable" | "prefer" | "allow")), false) => Err(ConfigError::invalid(
            "store.url",
            format!(
                "sslmode={mode} would (or could silently) send the database password and every \
                 account's state in clear; remove sslmode (verify-full is the default), or \
                 (test databases only) set store.allow_insecure = true"
            ),
        )),
        (Some(mode @ ("require" | "verify-ca")), _) => Err(ConfigError::invalid(
            "store.url",
            format!(
                "sslmode={mode} does not check the server's name; pwresetd always verifies the \
                 certificate and the host: use sslmode=verify-full or leave sslmode out"
            ),
        )),
        (Some(other), _) => Err(ConfigError::invalid(
            "store.url",
            format!("sslmode={other:?} is not a TLS mode; use sslmode=verify-full (the default)"),
        )),
    }
}

fn check_ca_file(path: &Path, tls: PgTls) -> Result<(), ConfigError> {
    if tls == PgTls::Disable {
        return Err(ConfigError::invalid(
            "store.ca_file",
            "set, but store.url says sslmode=disable (no TLS); remove one of them",
        ));
    }
    if !path.is_file() {
        return Err(ConfigError::invalid(
            "store.ca_file",
            format!("{} does not exist or is not a file", path.display()),
        ));
    }
    Ok(())
}

/// Parses `store.url`: the connection parameters (checked by the PostgreSQL client itself) and
/// the `sslmode` it asked for, which is taken out (the client knows no `verify-full`).
fn parse_url(url: &str) -> Result<(postgres::Config, Option<String>), ConfigError> {
    let bad = |why: String| ConfigError::invalid("store.url", why);
    let example = "write postgres://ROLE@HOST:PORT/DATABASE";
    // Not `{url}` in these messages: it may hold a password.
    let mut parsed = url::Url::parse(url).map_err(|e| bad(format!("not a URL ({e}); {example}")))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(bad(format!(
            "scheme {:?} is not PostgreSQL; {example}",
            parsed.scheme()
        )));
    }
    let password_in_query = parsed.query_pairs().any(|(k, _)| k == "password");
    if parsed.password().is_some() || password_in_query {
        return Err(bad(
            "holds a password; remove it from the URL and put it in the file named by \
             store.password_file (or the systemd credential db-password)"
                .into(),
        ));
    }
    if parsed.username().is_empty() {
        return Err(bad(format!("names no role; {example}")));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!("has no host; {example}")));
    }
    let mut sslmode = None;
    let mut rest = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match &*key {
            "sslmode" => sslmode = Some(value.into_owned()),
            "sslrootcert" => return Err(bad("sslrootcert is not read; set store.ca_file instead".into())),
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" => {
                return Err(bad(format!("{key} is not supported (no client certificates)")));
            }
            _ => rest.push((key.into_owned(), value.into_owned())),
        }
    }
    if rest.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(rest);
        // Form encoding writes a space as `+` (a literal `+` as `%2B`), which the PostgreSQL
        // client does not decode: `options=-c%20x%3D1` would reach the server as `-c+x=1`.
        let query = parsed.query().map(|q| q.replace('+', "%20"));
        parsed.set_query(query.as_deref());
    }
    let client = postgres::Config::from_str(parsed.as_str()).map_err(|e| {
        // The client's message ("invalid connection string") puts the detail in its source.
        let detail = std::error::Error::source(&e)
            .map(|s| format!(": {s}"))
            .unwrap_or_default();
        bad(format!("{e}{detail}; {example}"))
    })?;
    Ok((client, sslmode))
}

#[cfg(test)]
mod tests;
