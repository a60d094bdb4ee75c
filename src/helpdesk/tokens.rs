//! API tokens for automation: `NAME.SECRET`, where SECRET is 256 random bits (unpadded
//! base64url). The tokens file (`helpdesk.api_tokens_file`) holds one `NAME:PHC` line per token,
//! PHC being the argon2id hash of the whole token: the file gives nothing away if read.
//!
//! Cost of checking: a token names its line, so one argon2 verification (tens of ms), never one
//! per line. A verified token is remembered for [`CACHE_TTL`] under the SHA-256 of the token
//! (never the token itself), so a script's burst of requests pays once. A token of an unknown
//! NAME is verified against a dummy hash, so timing does not tell which names exist. Argon2
//! runs on the blocking pool, one job per core at most; failures are also rate-limited per
//! client address by the caller.
//!
//! Revoking: delete the line. The file is stat'ed at most every [`RELOAD_EVERY`]; when it
//! changed it is read again and the cache emptied, so a revoked token stops working within
//! seconds, without a restart. Which names came and went is kept for the caller to audit
//! ([`Tokens::take_changes`]): a token is created offline, and its line appearing in the file is
//! when the server learns of it. Must not log tokens or secrets.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// How long a verified token is trusted without verifying it again.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// How often the file is checked for changes.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);
/// Verified tokens remembered at most (a handful of automation tokens is the normal case).
const CACHE_MAX: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("helpdesk.api_tokens_file: cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("helpdesk.api_tokens_file: {path} line {line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("token name {0:?}: use 1 to 64 letters, digits, '-' or '_'")]
    Name(String),
    #[error("cannot draw random bytes or hash the token: {0}")]
    Crypto(String),
}

/// Whether `name` can name a token.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new token and the line to add to the tokens file.
pub struct Created {
    pub token: crate::secret::Secret,
    pub line: String,
}

/// Creates a token named `name` (`pwresetd helpdesk token create`).
pub fn create(name: &str) -> Result<Created, TokenError> {
    if !valid_name(name) {
        return Err(TokenError::Name(name.to_owned()));
    }
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| TokenError::Crypto(e.to_string()))?;
    let token = format!("{name}.{}", URL_SAFE_NO_PAD.encode(bytes));
    let phc = hash(&token)?;
    Ok(Created {
        token: crate::secret::Secret::new(token),
        line: format!("{name}:{phc}"),
    })
}

fn hash(token: &str) -> Result<String, TokenError> {
    let mut salt = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| TokenError::Crypto(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| TokenError::Crypto(e.to_string()))?;
    Argon2::default()
        .hash_password(token.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| TokenError::Crypto(e.to_string()))
}

/// Parses the tokens file: `NAME:PHC` lines, blank lines and `#` comments.
pub fn parse(path: &Path, text: &str) -> (HashMap<String, String>, Vec<TokenError>) {
    let mut map = HashMap::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |message: &str| TokenError::Line {
            path: path.to_owned(),
            line: i + 1,
            message: message.to_owned(),
        };
        let Some((name, phc)) = line.split_once(':') else {
            errors.push(err("expected NAME:HASH"));
            continue;
        };
        if !valid_name(name) {
            errors.push(err("the name must be 1 to 64 letters, digits, '-' or '_'"));
        } else if PasswordHash::new(phc)
            .map(|h| h.algorithm.as_str() != "argon2id")
            .unwrap_or(true)
        {
            errors.push(err("the hash is not an argon2id PHC string"));
        } else if map.insert(name.to_owned(), phc.to_owned()).is_some() {
            errors.push(err("this name is listed twice; the last line wins"));
        }
    }
    (map, errors)
}

/// File identity used to notice changes.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
}

struct Loaded {
    hashes: HashMap<String, String>,
    stamp: Stamp,
    checked: Instant,
}

/// What changed in the tokens file: names that appeared, names that went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: BTreeSet<String>,
    pub removed: BTreeSet<String>,
}

/// The tokens accepted now.
pub struct Tokens {
    path: Option<PathBuf>,
    loaded: Mutex<Loaded>,
    changes: Mutex<Changes>,
    cache: Mutex<HashMap<[u8; 32], (String, Instant)>>,
    dummy: String,
    cpu: Semaphore,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps stay consistent whatever panicked while holding them.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Tokens {
    /// Reads the file (strictly: any bad line is an error at start-up).
    pub fn load(path: Option<&Path>) -> Result<Tokens, TokenError> {
        let (hashes, stamp) = match path {
            None => (HashMap::new(), None),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| TokenError::Read {
                    path: p.to_owned(),
                    message: e.to_string(),
                })?;
                let (hashes, mut errors) = parse(p, &text);
                if !errors.is_empty() {
                    return Err(errors.remove(0));
                }
                (hashes, stamp(p))
            }
        };
        let changes = Changes {
            added: hashes.keys().cloned().collect(),
            removed: BTreeSet::new(),
        };
        Ok(Tokens {
            path: path.map(Path::to_owned),
            changes: Mutex::new(changes),
            loaded: Mutex::new(Loaded {
                hashes,
                stamp,
                checked: Instant::now(),
            }),
            cache: Mutex::new(HashMap::new()),
            dummy: hash("dummy.token-for-unknown-names")?,
            cpu: Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())),
        })
    }

    /// Reads the file again if it changed (leniently: bad lines are logged and skipped; an
    /// unreadable file accepts no token until fixed).
    fn refresh(&self) {
        let Some(path) = &self.path else { return };
        let mut loaded = lock(&self.loaded);
        if loaded.checked.elapsed() < RELOAD_EVERY {
            return;
        }
        loaded.checked = Instant::now();
        let now = stamp(path);
        if now == loaded.stamp {
            return;
        }
        loaded.stamp = now;
        let before: BTreeSet<String> = loaded.hashes.keys().cloned().collect();
        loaded.hashes = match std::fs::read_to_string(path) {
            Ok(text) => {
                let (hashes, errors) = parse(path, &text);
                for e in errors {
                    tracing::warn!("{e}");
                }
                hashes
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "helpdesk.api_tokens_file unreadable: no API token is accepted");
                HashMap::new()
            }
        };
        lock(&self.cache).clear();
        tracing::info!(tokens = loaded.hashes.len(), "helpdesk API tokens reloaded");
        let after: BTreeSet<String> = loaded.hashes.keys().cloned().collect();
        let mut changes = lock(&self.changes);
        changes.added.extend(after.difference(&before).cloned());
        changes.removed.extend(before.difference(&after).cloned());
    }

    /// The names added to and removed from the file since the last call (at first: every name
    /// loaded at start-up), for the audit trail.
    pub fn take_changes(&self) -> Changes {
        std::mem::take(&mut *lock(&self.changes))
    }

    /// Whether `presented` has a token's shape (`NAME.SECRET`, 43 base64url characters of
    /// secret) and names a token of the file: worth an argon2 check whatever the address did
    /// before, since only a holder of the file's names can send it.
    pub fn is_plausible(&self, presented: &str) -> bool {
        self.refresh();
        let Some((name, secret)) = presented.split_once('.') else {
            return false;
        };
        valid_name(name) && crate::token::well_formed(secret) && lock(&self.loaded).hashes.contains_key(name)
    }

    fn cached(&self, key: &[u8; 32]) -> Option<String> {
        lock(&self.cache)
            .get(key)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(name, _)| name.clone())
    }

    /// Whether `presented` was verified recently (checking it again costs nothing).
    pub fn is_cached(&self, presented: &str) -> bool {
        self.refresh();
        self.cached(&Sha256::digest(presented.as_bytes()).into()).is_some()
    }

    /// The token's name when `presented` is a valid token.
    pub async fn verify(&self, presented: &str) -> Option<String> {
        self.refresh();
        let key: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if let Some(name) = self.cached(&key) {
            return Some(name);
        }
        let (name, _) = presented.split_once('.')?;
        if !valid_name(name) || presented.len() > 200 {
            return None;
        }
        let phc = lock(&self.loaded).hashes.get(name).cloned();
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy.clone());
        let candidate = presented.to_owned();
        let ok = {
            let _permit = self.cpu.acquire().await.ok()?;
            tokio::task::spawn_blocking(move || {
                PasswordHash::new(&phc)
                    .map(|h| Argon2::default().verify_password(candidate.as_bytes(), &h).is_ok())
                    .unwrap_or(false)
            })
            .await
            .unwrap_or(false)
        };
        if !(ok && known) {
            return None;
        }
        let mut cache = lock(&self.cache);
        if cache.len() >= CACHE_MAX {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(key, (name.to_owned(), Instant::now()));
        Some(name.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_verify_cache_and_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let a = create("ci-bot").unwrap();
        let b = create("reports").unwrap();
        assert!(a.token.expose().starts_with("ci-bot."));
        assert_eq!(a.token.expose().len(), "ci-bot.".len() + 43);
        std::fs::write(&path, format!("# helpdesk tokens\n{}\n\n{}\n", a.line, b.line)).unwrap();
        let tokens = Tokens::load(Some(&path)).unwrap();
        assert_eq!(tokens.verify(a.token.expose()).await.as_deref(), Some("ci-bot"));
        assert_eq!(tokens.verify(b.token.expose()).await.as_deref(), Some("reports"));
        // Cached: the same answer without argon2.
        assert_eq!(tokens.verify(a.token.expose()).await.as_deref(), Some("ci-bot"));
        // Another name's secret, an unknown name, garbage: refused.
        let swapped = format!("reports.{}", a.token.expose().split_once('.').unwrap().1);
        for bad in [swapped.as_str(), "ghost.abc", "no-dot", "", ".x", "ci-bot."] {
            assert_eq!(tokens.verify(bad).await, None, "{bad:?}");
        }
        assert!(tokens.is_plausible(a.token.expose()));
        let forged = format!("ci-bot.{}", "A".repeat(43));
        assert!(tokens.is_plausible(&forged), "the shape and a known name");
        for bad in [
            "ghost.".to_owned() + &"A".repeat(43),
            "ci-bot.short".into(),
            "ci-bot".into(),
        ] {
            assert!(!tokens.is_plausible(&bad), "{bad}");
        }
        let loaded = tokens.take_changes();
        assert_eq!(
            loaded.added.iter().map(String::as_str).collect::<Vec<_>>(),
            ["ci-bot", "reports"]
        );
        assert_eq!(tokens.take_changes(), Changes::default(), "taken once");
        // Revoked by deleting its line: refused after the next check of the file.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, format!("{}\n", b.line)).unwrap();
        tokens.lock_checked_in_the_past();
        assert_eq!(tokens.verify(a.token.expose()).await, None);
        assert_eq!(tokens.verify(b.token.expose()).await.as_deref(), Some("reports"));
        let changed = tokens.take_changes();
        assert!(changed.added.is_empty(), "{changed:?}");
        assert_eq!(
            changed.removed.iter().map(String::as_str).collect::<Vec<_>>(),
            ["ci-bot"]
        );
    }

    impl Tokens {
        fn lock_checked_in_the_past(&self) {
            let mut l = lock(&self.loaded);
            l.checked = Instant::now() - RELOAD_EVERY * 2;
            l.stamp = None;
        }
    }

    #[test]
    fn file_lines_are_checked() {
        let ok = create("x").unwrap().line;
        let text = format!(
            "{ok}\nbad line\nsp ace:{}\ny:$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA\n{ok}\n",
            ok.split_once(':').unwrap().1
        );
        let (map, errors) = parse(Path::new("t"), &text);
        assert_eq!(map.len(), 1);
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].contains("line 2: expected NAME:HASH"));
        assert!(lines[1].contains("line 3: the name"));
        assert!(lines[2].contains("line 4: the hash is not an argon2id"));
        assert!(lines[3].contains("line 5: this name is listed twice"));
        assert!(matches!(create("bad name"), Err(TokenError::Name(_))));
        assert!(Tokens::load(Some(Path::new("/nonexistent/tokens"))).is_err());
    }
}
