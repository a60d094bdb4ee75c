//! Searches shared by the flavours: paged streaming over a scope, and single-entry reads.

use std::collections::HashMap;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Scope, SearchEntry};

use super::DirectoryError;
use super::conn::Pool;

/// A search result entry with attribute names folded to lower case.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub dn: String,
    attrs: HashMap<String, Vec<String>>,
}

impl Entry {
    fn from_search(e: SearchEntry) -> Self {
        let attrs = e.attrs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
        Entry { dn: e.dn, attrs }
    }

    pub fn first(&self, attr: &str) -> Option<&str> {
        self.all(attr).first().map(String::as_str)
    }

    /// The account fields every flavour reads from the configured attributes; the flavour
    /// says whether the account is flagged and which policy entry governs it.
    pub fn account(
        &self,
        c: &crate::directory::config::DirectoryConfig,
        flagged: bool,
        policy: Option<&str>,
    ) -> super::Account {
        super::Account {
            dn: self.dn.clone(),
            login: self.first(&c.login_attribute).unwrap_or_default().to_owned(),
            mail: self.all(&c.mail_attribute).to_vec(),
            display_name: self.first(&c.display_name_attribute).map(str::to_owned),
            given_name: self.first(&c.given_name_attribute).map(str::to_owned),
            surname: self.first(&c.surname_attribute).map(str::to_owned),
            language: self.first(&c.language_attribute).map(str::to_owned),
            flagged,
            policy: policy.map(str::to_owned),
        }
    }

    pub fn all(&self, attr: &str) -> &[String] {
        self.attrs
            .get(&attr.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// An entry from attribute-value pairs, for the flavours' parsing tests.
    #[cfg(test)]
    pub fn from_pairs(dn: &str, pairs: &[(&str, &str)]) -> Self {
        let mut attrs: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            attrs.entry(k.to_ascii_lowercase()).or_default().push((*v).to_owned());
        }
        Entry {
            dn: dn.to_owned(),
            attrs,
        }
    }
}

/// Runs a paged subtree search, sending `map(entry)` for each entry into `sink`; stops early
/// when the receiver is gone.
pub(crate) async fn paged<T: Send>(
    pool: &Pool,
    base: &str,
    filter: &str,
    attrs: &[&str],
    page_size: i32,
    sink: &tokio::sync::mpsc::Sender<T>,
    map: impl Fn(Entry) -> T + Send + Sync,
) -> Result<(), DirectoryError> {
    let url = &pool.endpoint().url;
    let secs = pool.endpoint().timeout_secs();
    let mut ldap = pool.get().await?;
    let adapters: Vec<Box<dyn Adapter<_, _>>> =
        vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(page_size))];
    let mut stream = ldap
        .streaming_search_with(adapters, base, Scope::Subtree, filter, attrs.to_vec())
        .await
        .map_err(|e| DirectoryError::from_op(url, "search", base, e, secs))?;
    loop {
        let next = stream
            .next()
            .await
            .map_err(|e| DirectoryError::from_op(url, "search", base, e, secs))?;
        let Some(raw) = next else { break };
        if sink
            .send(map(Entry::from_search(SearchEntry::construct(raw))))
            .await
            .is_err()
        {
            let _ = stream.finish().await;
            return Ok(());
        }
    }
    let res = stream.finish().await;
    match res.rc {
        0 => Ok(()),
        rc => Err(DirectoryError::Operation {
            op: "search",
            dn: base.to_owned(),
            rc,
            text: res.text,
        }),
    }
}

/// Reads entries matching `filter` under `base` with `scope` (small results only, unpaged).
pub(crate) async fn read(
    pool: &Pool,
    base: &str,
    scope: Scope,
    filter: &str,
    attrs: &[&str],
) -> Result<Vec<Entry>, DirectoryError> {
    let url = &pool.endpoint().url;
    let secs = pool.endpoint().timeout_secs();
    let mut ldap = pool.get().await?;
    let res = ldap
        .with_timeout(pool.endpoint().timeout)
        .search(base, scope, filter, attrs.to_vec())
        .await
        .map_err(|e| DirectoryError::from_op(url, "search", base, e, secs))?;
    match res.1.rc {
        // Continuation references (Active Directory answers domain-root searches with some)
        // are not entries: skipped, never followed.
        0 => Ok(res
            .0
            .into_iter()
            .filter(|e| !e.is_ref() && !e.is_intermediate())
            .map(|e| Entry::from_search(SearchEntry::construct(e)))
            .collect()),
        32 => Ok(Vec::new()),
        rc => Err(DirectoryError::Operation {
            op: "search",
            dn: base.to_owned(),
            rc,
            text: res.1.text,
        }),
    }
}

/// Reads at most `limit` entries matching `filter` under `base` (subtree), asking the server
/// for that size limit; `true` when it stopped there (sizeLimitExceeded, rc 4), whether at our
/// limit or at a lower one of its own.
pub(crate) async fn read_some(
    pool: &Pool,
    base: &str,
    filter: &str,
    attrs: &[&str],
    limit: i32,
) -> Result<(Vec<Entry>, bool), DirectoryError> {
    let url = &pool.endpoint().url;
    let secs = pool.endpoint().timeout_secs();
    let mut ldap = pool.get().await?;
    let res = ldap
        .with_search_options(ldap3::SearchOptions::new().sizelimit(limit))
        .with_timeout(pool.endpoint().timeout)
        .search(base, Scope::Subtree, filter, attrs.to_vec())
        .await
        .map_err(|e| DirectoryError::from_op(url, "search", base, e, secs))?;
    let entries = || {
        res.0
            .iter()
            .filter(|e| !e.is_ref() && !e.is_intermediate())
            .map(|e| Entry::from_search(SearchEntry::construct(e.clone())))
            .collect::<Vec<_>>()
    };
    match res.1.rc {
        0 => Ok((entries(), false)),
        4 => Ok((entries(), true)),
        32 => Ok((Vec::new(), false)),
        rc => Err(DirectoryError::Operation {
            op: "search",
            dn: base.to_owned(),
            rc,
            text: res.1.text.clone(),
        }),
    }
}

/// A cheap liveness check through the pool: a bound connection answers a root DSE read.
pub(crate) async fn ping(pool: &Pool) -> Result<(), DirectoryError> {
    read(pool, "", Scope::Base, "(objectClass=*)", &["1.1"]).await.map(drop)
}

/// Scans a campaign's scope, shared by the flavours: every entry matching the scope filter,
/// turned into an item by the flavour's `classify` (an account in scope, or why it is left out),
/// then every entry matching the exclusion filter, as excluded.
pub(crate) async fn scan_scope(
    pool: &Pool,
    config: &crate::directory::config::DirectoryConfig,
    attrs: &[&str],
    sink: &tokio::sync::mpsc::Sender<super::ScanItem>,
    classify: impl Fn(Entry) -> super::ScanItem + Send + Sync,
) -> Result<(), DirectoryError> {
    let c = config;
    let filter = super::scope::scope_filter(c);
    paged(pool, &c.base_dn, &filter, attrs, c.page_size, sink, classify).await?;
    if let Some(exclude) = &c.exclude_filter {
        let filter = format!("(&{}{})", c.user_filter, exclude);
        let attrs = [c.login_attribute.as_str()];
        paged(pool, &c.base_dn, &filter, &attrs, c.page_size, sink, |e| {
            super::ScanItem::Excluded {
                login: e.first(&c.login_attribute).map(str::to_owned),
                dn: e.dn,
                reason: super::ExclusionReason::ExcludeFilter,
            }
        })
        .await?;
    }
    Ok(())
}
