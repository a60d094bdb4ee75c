//! The helpdesk's account search, one page at a time: any part of a login, display name or mail
//! address, case-insensitive, over the whole scope. Two sources, merged into one order
//! ([`Found::order_key`]):
//! - the store, which holds every account of every campaign's scope with its campaign states,
//!   through its trigram index (fast at 100k accounts, pages exactly);
//! - the directory, for the accounts the store does not find (created since the last scan, no
//!   campaign yet, or excluded from a campaign, which records them by login only): an escaped substring filter under the user filter, asked for at most
//!   [`DIRECTORY_LIMIT`] entries — below a stock server's own size limit (500 on OpenLDAP,
//!   1000 on Active Directory), so the server's limit never cuts the answer short unnoticed.
//!   Past that, the answer says the directory had more and asks for a longer query.
//!
//! A query shorter than [`MIN_QUERY`] characters is refused: one letter would list the company.
//! Must not render anything (the API and the pages do).

use serde::Serialize;

use super::HelpdeskState;
use super::error::ApiError;
use crate::store::Found;

/// Shortest search text accepted (and the shortest a trigram index can answer).
pub const MIN_QUERY: usize = 3;
/// Longest search text accepted.
pub const MAX_QUERY: usize = 200;
/// Accounts per page unless asked otherwise, and at most.
pub const PAGE_DEFAULT: usize = 25;
pub const PAGE_MAX: usize = 100;
/// The deepest page start accepted (a person is found by typing more, not by paging that far).
pub const OFFSET_MAX: usize = 10_000;
/// Entries asked of the directory per search.
pub const DIRECTORY_LIMIT: i32 = 200;

/// One page of a search's answer.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub query: String,
    pub offset: usize,
    pub limit: usize,
    pub results: Vec<Found>,
    /// Where the next page starts; `None` on the last page.
    pub next_offset: Option<usize>,
    /// Where the previous page starts; `None` on the first page.
    pub previous_offset: Option<usize>,
    /// More accounts follow (`next_offset` is set).
    pub truncated: bool,
    /// The directory had more matches than it was asked for: accounts known only to the
    /// directory may be missing; a longer query finds them.
    pub directory_truncated: bool,
    /// The directory could not be asked (the store's answer is still given).
    pub directory_error: Option<String>,
}

/// The text of a search, checked: trimmed, 3 to 200 characters, no control characters.
pub fn checked_query(query: &str) -> Result<String, ApiError> {
    let q = query.trim();
    let n = q.chars().count();
    if n < MIN_QUERY {
        return Err(ApiError::bad_request(
            "query_too_short",
            format!(
                "type at least {MIN_QUERY} characters of a login, display name or mail address \
                 (shorter text would match too many accounts)"
            ),
        ));
    }
    if n > MAX_QUERY || q.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("give {MIN_QUERY} to {MAX_QUERY} characters of a login, display name or mail address"),
        ));
    }
    Ok(q.to_owned())
}

/// The page asked for, checked.
fn checked_page(offset: Option<usize>, limit: Option<usize>) -> Result<(usize, usize), ApiError> {
    let (offset, limit) = (offset.unwrap_or(0), limit.unwrap_or(PAGE_DEFAULT));
    if offset > OFFSET_MAX || !(1..=PAGE_MAX).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_page",
            format!("offset goes from 0 to {OFFSET_MAX}, limit from 1 to {PAGE_MAX}"),
        ));
    }
    Ok((offset, limit))
}

/// The page of accounts matching `query` from `offset`, at most `limit` (see the module's text).
pub async fn search(
    state: &HelpdeskState,
    query: &str,
    offset: Option<usize>,
    limit: Option<usize>,
) -> Result<SearchResult, ApiError> {
    let q = checked_query(query)?;
    let (offset, limit) = checked_page(offset, limit)?;
    // The two sources are asked at once: a broad query costs the store most (every match is
    // sorted), a narrow one the directory (an unindexed substring filter reads every entry).
    let key = q.clone();
    let (asked, stored) = tokio::join!(
        state.directory().search_accounts(&q, DIRECTORY_LIMIT),
        // The first offset + limit + 1 in order from the store: merged with every directory
        // match it does not know, they hold this page and tell whether one follows.
        state.store().run(move |s| s.search_accounts(&key, offset + limit + 1)),
    );
    let (directory, directory_truncated, directory_error) = match asked {
        Ok((found, more)) => (found, more, None),
        Err(e) => {
            tracing::warn!(error = %e, "helpdesk search: the directory could not be searched");
            (Vec::new(), false, Some(e.to_string()))
        }
    };
    let (mut all, _) = stored.map_err(|e| ApiError::store(&e))?;
    if !directory.is_empty() {
        let key = q.clone();
        let extra = state
            .store()
            .run(move |s| {
                let mut extra = Vec::new();
                for a in directory {
                    if let Some(campaigns) = s.directory_hit(&key, &a.login, &a.dn)? {
                        extra.push(Found {
                            login: Some(a.login),
                            dn: a.dn,
                            display_name: a.display_name,
                            mail: a.mail,
                            campaigns,
                        });
                    }
                }
                Ok(extra)
            })
            .await
            .map_err(|e| ApiError::store(&e))?;
        all.extend(extra);
    }
    all.sort_by_cached_key(|f| f.order_key(&q));
    // Should the two sources disagree on a match (exotic case folding), an account is listed once.
    all.dedup_by(|a, b| a.dn.eq_ignore_ascii_case(&b.dn));
    let more = all.len() > offset + limit;
    let results: Vec<Found> = all.into_iter().skip(offset).take(limit).collect();
    Ok(SearchResult {
        query: q,
        offset,
        limit,
        results,
        next_offset: more.then_some(offset + limit),
        previous_offset: (offset > 0).then(|| offset.saturating_sub(limit)),
        truncated: more,
        directory_truncated,
        directory_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_pages_are_checked() {
        for (q, ok) in [
            ("ab", false),
            ("  ab  ", false),
            ("abc", true),
            ("né", false),
            ("néi", true),
        ] {
            assert_eq!(checked_query(q).is_ok(), ok, "{q:?}");
        }
        assert_eq!(checked_query("a").unwrap_err().code, "query_too_short");
        assert_eq!(checked_query("ab\u{7}c").unwrap_err().code, "invalid_query");
        assert_eq!(checked_query(&"x".repeat(201)).unwrap_err().code, "invalid_query");
        assert_eq!(checked_page(None, None).unwrap(), (0, PAGE_DEFAULT));
        assert!(checked_page(Some(0), Some(0)).is_err());
        assert!(checked_page(Some(0), Some(PAGE_MAX + 1)).is_err());
        assert!(checked_page(Some(OFFSET_MAX + 1), None).is_err());
    }
}
