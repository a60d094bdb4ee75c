//! Directory errors, in the terms an administrator acts on.

use ldap3::LdapError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DirectoryError {
    /// The TLS settings themselves are unusable (e.g. a CA file without certificates).
    #[error("directory TLS settings: {0}")]
    TlsSettings(String),
    #[error("cannot connect to {url}: {message}; check directory.url and that the server is running")]
    Connect { url: String, message: String },
    #[error(
        "TLS handshake with {url} failed: {message}; check directory.ca_file and the server's certificate (its name must match the URL's host)"
    )]
    Tls { url: String, message: String },
    #[error("bind as {dn} to {url} refused: {}; check directory.bind_dn and the password file", describe_rc(*rc, text))]
    Bind {
        url: String,
        dn: String,
        rc: u32,
        text: String,
    },
    #[error("{op} timed out after {seconds}s on {url}; the directory is slow or unreachable (directory.timeout)")]
    Timeout {
        url: String,
        op: &'static str,
        seconds: u64,
    },
    #[error("connection to {url} lost during {op}: {message}")]
    ConnectionLost {
        url: String,
        op: &'static str,
        message: String,
    },
    #[error("{op} on {dn} failed: {}", describe_rc(*rc, text))]
    Operation {
        op: &'static str,
        dn: String,
        rc: u32,
        text: String,
    },
    /// The server stopped a scope search at one of its limits before the whole scope was read.
    /// pwresetd never splits the search to get round it: the administrator raises the limit for
    /// the service account, as `fix` (the flavour's own words) says.
    #[error("{}\nFix: {fix}", limit_stopped(base, account, *kind, *rc, text))]
    Limit {
        base: String,
        /// The service account the limit applies to.
        account: String,
        kind: LimitKind,
        rc: u32,
        text: String,
        fix: String,
    },
    /// The Active Directory flavour's record of cleared DONT_EXPIRE_PASSWORD bits, kept in the
    /// store, cannot be used.
    #[error("DONT_EXPIRE_PASSWORD ledger (in the store): {message}")]
    Ledger { message: String },
    /// An earlier version's ledger file (`directory.dont_expire_ledger`) cannot be imported.
    #[error("DONT_EXPIRE_PASSWORD ledger file {}: {message}; check directory.dont_expire_ledger", path.display())]
    LedgerFile { path: std::path::PathBuf, message: String },
}

/// Which of the server's limits stopped a search. The result codes mean the same on every
/// server (RFC 4511); what the administrator changes is the flavour's to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// timeLimitExceeded (3): the search ran longer than the server allows this account.
    Time,
    /// sizeLimitExceeded (4): more entries than the server returns to this account.
    Size,
    /// adminLimitExceeded (11): another administrative limit, e.g. entries looked through, paged
    /// results, or the size of a paged result set.
    Admin,
}

impl LimitKind {
    /// The limit a search result code reports, if it reports one.
    pub fn from_rc(rc: u32) -> Option<Self> {
        match rc {
            3 => Some(LimitKind::Time),
            4 => Some(LimitKind::Size),
            11 => Some(LimitKind::Admin),
            _ => None,
        }
    }

    /// In plain words, as in "stopped the search at its size limit".
    pub fn describe(self) -> &'static str {
        match self {
            LimitKind::Time => "time limit",
            LimitKind::Size => "size limit",
            LimitKind::Admin => "administrative limit",
        }
    }
}

impl DirectoryError {
    /// True when the directory as a whole is unavailable (worth a retry later), as opposed to a
    /// refusal concerning one entry.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            DirectoryError::Connect { .. }
                | DirectoryError::Tls { .. }
                | DirectoryError::Bind { .. }
                | DirectoryError::Timeout { .. }
                | DirectoryError::ConnectionLost { .. }
        ) || matches!(self, DirectoryError::Operation { rc: 51 | 52, .. })
    }

    /// Classifies an ldap3 error raised while connecting (before the bind).
    pub(crate) fn from_connect(url: &str, err: LdapError, timeout_secs: u64) -> Self {
        let url = url.to_owned();
        match err {
            LdapError::Timeout { .. } => DirectoryError::Timeout {
                url,
                op: "connect",
                seconds: timeout_secs,
            },
            LdapError::Rustls { source } => DirectoryError::Tls {
                url,
                message: source.to_string(),
            },
            LdapError::Io { source } => match tls_cause(&source) {
                Some(message) => DirectoryError::Tls { url, message },
                None => DirectoryError::Connect {
                    url,
                    message: source.to_string(),
                },
            },
            LdapError::LdapResult { result } => {
                // A refused StartTLS comes back as an LDAP result.
                DirectoryError::Tls {
                    url,
                    message: describe_rc(result.rc, &result.text),
                }
            }
            other => DirectoryError::Connect {
                url,
                message: other.to_string(),
            },
        }
    }

    /// Classifies an ldap3 error from an operation on `dn`.
    pub(crate) fn from_op(url: &str, op: &'static str, dn: &str, err: LdapError, timeout_secs: u64) -> Self {
        match err {
            LdapError::LdapResult { result } => DirectoryError::Operation {
                op,
                dn: dn.to_owned(),
                rc: result.rc,
                text: result.text,
            },
            LdapError::Timeout { .. } => DirectoryError::Timeout {
                url: url.to_owned(),
                op,
                seconds: timeout_secs,
            },
            other => DirectoryError::ConnectionLost {
                url: url.to_owned(),
                op,
                message: other.to_string(),
            },
        }
    }

    /// The server stopped a search of the scope, made as `account`, at one of its limits: `fix`
    /// says what the administrator changes. Any other error is returned as it is.
    pub(crate) fn at_limit(self, account: &str, fix: impl FnOnce(LimitKind) -> String) -> Self {
        match self {
            DirectoryError::Operation {
                op: "search",
                dn,
                rc,
                text,
            } => match LimitKind::from_rc(rc) {
                Some(kind) => DirectoryError::Limit {
                    base: dn,
                    account: account.to_owned(),
                    kind,
                    rc,
                    text,
                    fix: fix(kind),
                },
                None => DirectoryError::Operation {
                    op: "search",
                    dn,
                    rc,
                    text,
                },
            },
            other => other,
        }
    }

    /// The error in words without the fix a [`DirectoryError::Limit`] carries, for a report that
    /// shows the fix apart (the preflight); other errors as they display.
    pub fn without_fix(&self) -> String {
        match self {
            DirectoryError::Limit {
                base,
                account,
                kind,
                rc,
                text,
                ..
            } => limit_stopped(base, account, *kind, *rc, text),
            other => other.to_string(),
        }
    }

    /// The LDAP result code, when the server answered.
    pub fn result_code(&self) -> Option<u32> {
        match self {
            DirectoryError::Operation { rc, .. }
            | DirectoryError::Bind { rc, .. }
            | DirectoryError::Limit { rc, .. } => Some(*rc),
            _ => None,
        }
    }
}

/// What stopped a scope search at a limit, in plain words.
fn limit_stopped(base: &str, account: &str, kind: LimitKind, rc: u32, text: &str) -> String {
    format!(
        "the directory stopped the search of the scope under {base} at its {} for {account} ({}), so \
         the whole scope could not be read; pwresetd reads the scope in one paged search and does not \
         work around server limits.",
        kind.describe(),
        describe_rc(rc, text)
    )
}

fn tls_cause(err: &std::io::Error) -> Option<String> {
    let inner = err.get_ref()?;
    if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
        return Some(tls.to_string());
    }
    let text = inner.to_string();
    (text.contains("certificate") || text.contains("tls") || text.contains("TLS")).then_some(text)
}

/// The name of an LDAP result code, with the server's diagnostic text.
pub fn describe_rc(rc: u32, text: &str) -> String {
    let name = match rc {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        8 => "strongerAuthRequired",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        64 => "namingViolation",
        65 => "objectClassViolation",
        68 => "entryAlreadyExists",
        80 => "other",
        _ => "result",
    };
    let text = text.trim();
    if text.is_empty() {
        format!("{name} ({rc})")
    } else {
        format!("{name} ({rc}): {text}")
    }
}

/// Why a password could not be set.
#[derive(Debug, Error)]
pub enum PasswordError {
    /// The current password given is wrong (the account's failure count went up).
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    /// The directory's own rules refused the new password; `reason` is what its answer tells
    /// (the portal says it in the person's language), `detail` is the server's answer for logs
    /// and the helpdesk.
    #[error("the directory refused the new password: {detail}")]
    Refused { reason: Refusal, detail: String },
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// Why the directory refused a new password, as far as its answer tells. Flavours that say
/// less get the less precise variants; each names what the person can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// pwresetd could not hash the password for the directory: try again.
    NotPrepared,
    /// One of the directory's remembered passwords.
    UsedBefore,
    /// The directory's minimum age has not passed.
    TooRecent,
    /// The current password.
    SameAsCurrent,
    /// Too short, with the directory's minimum when its answer names it.
    TooShort { min: Option<u32> },
    /// OpenLDAP's quality check (ppolicy): too weak.
    TooWeak,
    /// Active Directory's complexity: three of four kinds of characters, no account name.
    NotComplex,
    /// 389-DS's quality rules: length, variety, no name.
    InsufficientQuality,
    /// OpenLDAP refused without saying which rule.
    Unspecified,
    /// Active Directory refused without saying which rule (real AD never does).
    DomainRules,
    /// 389-DS refused without a policy response: weak, current or recent.
    WeakOrRecent,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(op: &'static str, rc: u32) -> DirectoryError {
        DirectoryError::Operation {
            op,
            dn: "ou=people,dc=example,dc=org".into(),
            rc,
            text: String::new(),
        }
    }

    #[test]
    fn only_a_search_stopped_at_a_limit_becomes_a_limit() {
        let table = [
            (op("search", 3), Some(LimitKind::Time)),
            (op("search", 4), Some(LimitKind::Size)),
            (op("search", 11), Some(LimitKind::Admin)),
            (op("search", 32), None),
            (op("mark", 4), None),
        ];
        for (error, want) in table {
            let before = error.to_string();
            let after = error.at_limit("cn=svc", |kind| format!("raise the {}", kind.describe()));
            match (&after, want) {
                (DirectoryError::Limit { kind, account, fix, .. }, Some(want)) => {
                    assert_eq!(*kind, want, "{before}");
                    assert_eq!(account, "cn=svc");
                    assert_eq!(fix, &format!("raise the {}", want.describe()));
                    let text = after.to_string();
                    assert!(text.contains(want.describe()) && text.contains("cn=svc"), "{text}");
                    assert!(text.ends_with(&format!("\nFix: {fix}")), "{text}");
                    assert!(!after.without_fix().contains("Fix:"), "{text}");
                }
                (other, None) => assert_eq!(other.to_string(), before),
                (other, Some(want)) => panic!("{before}: {other} instead of a {want:?} limit"),
            }
        }
    }
}
