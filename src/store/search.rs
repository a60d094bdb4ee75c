//! The helpdesk's search of the accounts the store knows (every account of every campaign's
//! scope, excluded ones too): any part of a login, display name or mail address, through the
//! trigram index `accounts_search` (migration 10), which answers an infix query without reading
//! every row. Must not decide the query's minimum length or page size (the helpdesk does); a
//! query under 3 characters finds nothing here, as a trigram index cannot answer it.

use super::db::params;

use super::{Store, StoreError, db};
use crate::campaign::state::AccountState;

/// One account found by a search, with where it stands in each campaign.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Found {
    pub login: Option<String>,
    pub dn: String,
    pub display_name: Option<String>,
    pub mail: Vec<String>,
    pub campaigns: Vec<FoundIn>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FoundIn {
    pub campaign: String,
    pub state: AccountState,
}

impl Found {
    /// The order of a search's answer: the login typed exactly first, then by login and DN
    /// (ASCII case folded, as SQLite's `lower` does), so that the store's and the directory's
    /// answers merge into one order and pages do not overlap.
    pub fn order_key(&self, query: &str) -> (bool, String, String) {
        let login = self.login.as_deref().unwrap_or_default();
        (
            !login.eq_ignore_ascii_case(query),
            login.to_ascii_lowercase(),
            self.dn.to_ascii_lowercase(),
        )
    }
}

/// `text` as an FTS5 phrase: every character taken literally (the trigram tokenizer then
/// matches it as a substring of any column).
fn phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

const SQLITE_SEARCH: &str = "SELECT a.login, a.dn, a.display_name, a.mail, c.name, a.state
     FROM accounts a JOIN campaigns c ON c.id = a.campaign_id
     WHERE a.id IN (SELECT rowid FROM accounts_search WHERE accounts_search MATCH ?1)
     ORDER BY lower(coalesce(a.login, '')) != lower(?2), lower(coalesce(a.login, '')),
              lower(a.dn), a.campaign_id
     LIMIT ?3";

/// The same on PostgreSQL: ILIKE through the trigram GIN indexes (`schema_pg`), ordered as on
/// SQLite (ASCII case folded, byte order: whatever the database's collation).
static PG_SEARCH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let fold =
        |x: &str| format!("translate({x}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') COLLATE \"C\"");
    let login = fold("coalesce(a.login, '')");
    format!(
        "SELECT a.login, a.dn, a.display_name, a.mail, c.name, a.state
         FROM accounts a JOIN campaigns c ON c.id = a.campaign_id
         WHERE a.login ILIKE ?1 OR a.display_name ILIKE ?1 OR pwresetd_mail_text(a.mail) ILIKE ?1
         ORDER BY {login} != {}, {login}, {}, a.campaign_id
         LIMIT ?3",
        fold("?2"),
        fold("a.dn")
    )
});

/// `text` as an ILIKE pattern for "contains": `%`, `_` and `\` taken literally.
fn ilike_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The PostgreSQL statement [`Store::search_accounts`] runs, as the server receives it (`$N`
/// placeholders), and its first parameter for `query` (the ILIKE pattern; the second is `query`,
/// the third the row limit: `limit + 1` rows per campaign). For benches/search_pg.rs, which has
/// the server `EXPLAIN` the very statement the store runs instead of a copy that could drift.
#[doc(hidden)]
pub fn pg_search_statement(query: &str) -> (String, String) {
    (super::pg::rewrite(&PG_SEARCH), ilike_pattern(query))
}

impl Store {
    /// The first `limit` accounts (grouped by DN over campaigns) whose login, display name or
    /// mail address contains `query`, case-insensitively, in [`Found::order_key`] order; `true`
    /// when more matched.
    pub fn search_accounts(&self, query: &str, limit: usize) -> Result<(Vec<Found>, bool), StoreError> {
        let conn = self.lock();
        let (sql, pattern) = if conn.is_postgres() {
            if query.chars().count() < 3 {
                // As the trigram index on SQLite: too short to answer.
                return Ok((Vec::new(), false));
            }
            (PG_SEARCH.as_str(), ilike_pattern(query))
        } else {
            (SQLITE_SEARCH, phrase(query))
        };
        let mut stmt = conn.prepare_cached(sql).map_err(db("search accounts"))?;
        // An account has a row per campaign: this many rows hold `limit` accounts and one more,
        // and the limit lets SQLite keep only the first rows while sorting (not every match).
        let campaigns: i64 = conn
            .query_row("SELECT count(*) FROM campaigns", [], |r| r.get(0))
            .map_err(db("search accounts"))?;
        let rows_needed = i64::try_from(limit)
            .unwrap_or(i64::MAX)
            .saturating_add(1)
            .saturating_mul(campaigns.max(1));
        let rows = stmt
            .query_map(params![pattern, query, rows_needed], |r| {
                let mail: String = r.get(3)?;
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    serde_json::from_str::<Vec<String>>(&mail).unwrap_or_default(),
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(db("search accounts"))?;
        let mut found: Vec<Found> = Vec::new();
        for row in rows {
            let (login, dn, display_name, mail, campaign, state) = row.map_err(db("search accounts"))?;
            let state = AccountState::parse(&state).unwrap_or(AccountState::Pending);
            // Rows of one DN are adjacent unless its login changed between campaigns.
            if let Some(f) = found.iter_mut().rev().find(|f| f.dn.eq_ignore_ascii_case(&dn)) {
                f.campaigns.push(FoundIn { campaign, state });
                continue;
            }
            if found.len() == limit {
                return Ok((found, true));
            }
            found.push(Found {
                login,
                dn,
                display_name,
                mail,
                campaigns: vec![FoundIn { campaign, state }],
            });
        }
        Ok((found, false))
    }

    /// What the store says about an account the directory found for `query`: `None` when the
    /// store's own search finds it too (it is in that answer already), else the campaigns that
    /// recorded it without the text in its login, name or mail (an excluded account is recorded
    /// by login only), often none. Through the login's index; the text is matched here as the
    /// trigram index matches it (case folded, the mail addresses joined by spaces), rather than
    /// by asking the index once per account.
    pub fn directory_hit(&self, query: &str, login: &str, dn: &str) -> Result<Option<Vec<FoundIn>>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT a.dn, c.name, a.state, a.login, a.display_name, a.mail
                 FROM accounts a JOIN campaigns c ON c.id = a.campaign_id
                 WHERE a.login = ?1 ORDER BY a.campaign_id",
            )
            .map_err(db("search accounts"))?;
        let text = query.to_lowercase();
        let has = |v: &str| v.to_lowercase().contains(&text);
        let rows = stmt
            .query_map([login], |r| {
                let mail: String = r.get(5)?;
                let mail = serde_json::from_str::<Vec<String>>(&mail).unwrap_or_default().join(" ");
                let login: Option<String> = r.get(3)?;
                let name: Option<String> = r.get(4)?;
                let matched = [login, name, Some(mail)].iter().flatten().any(|v| has(v));
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    matched,
                ))
            })
            .map_err(db("search accounts"))?;
        let mut campaigns = Vec::new();
        for row in rows {
            let (row_dn, campaign, state, matched) = row.map_err(db("search accounts"))?;
            if !crate::directory::dn::equal(&row_dn, dn) {
                continue;
            }
            if matched {
                return Ok(None);
            }
            let state = AccountState::parse(&state).unwrap_or(AccountState::Pending);
            campaigns.push(FoundIn { campaign, state });
        }
        Ok(Some(campaigns))
    }
}

#[cfg(test)]
mod tests {
    use crate::directory::{Account, ScanItem};
    use crate::store::tests::{account, on_both_backends, open, spec};

    fn search_finds_any_part_literally_and_groups_campaigns() {
        let (_d, store) = open();
        let (a, _) = store.create_or_resume(&spec("a"), "t").unwrap();
        let (b, _) = store.create_or_resume(&spec("b"), "t").unwrap();
        let odd = ScanItem::InScope(Account {
            dn: "uid=o\\2Aneil,ou=people,dc=example,dc=org".into(),
            login: "o*neil_x".into(),
            mail: vec!["Oisin.ONeil@Example.org".into()],
            display_name: Some("Ó Néill (100%) \"the\" boss".into()),
            given_name: None,
            surname: None,
            language: None,
            flagged: false,
            policy: None,
        });
        for c in [a.id, b.id] {
            store
                .insert_scanned(c, &[account("xann", false), account("ann", false), odd.clone()])
                .unwrap();
        }
        let (found, more) = store.search_accounts("ann", 10).unwrap();
        assert!(!more);
        let logins: Vec<_> = found.iter().map(|f| f.login.as_deref().unwrap()).collect();
        assert_eq!(logins, ["ann", "xann"], "the exact login first");
        assert_eq!(found[0].campaigns.len(), 2);
        assert_eq!(store.search_accounts("XANN@EXAMPLE", 10).unwrap().0.len(), 1);
        for (query, hits) in [
            ("o*n", 1),
            ("100%)", 1),
            ("\"the\"", 1),
            ("oneil@exa", 1),
            ("l_x", 1),
            ("n_x", 0),
            ("n_i", 0),
            ("o%l", 0),
            ("\\2A", 0),
            ("néi", 1),
            ("\\2a", 0),
            (")(uid", 0),
            ("\",\"", 0),
            ("ann OR bob", 0),
        ] {
            assert_eq!(store.search_accounts(query, 10).unwrap().0.len(), hits, "{query}");
        }
        let (one, more) = store.search_accounts("example.org", 1).unwrap();
        assert_eq!((one.len(), more), (1, true));
        let ann = "UID=ann,ou=people,dc=example,dc=org";
        assert_eq!(
            store.directory_hit("ann", "ann", ann).unwrap(),
            None,
            "in the store's answer"
        );
        let elsewhere = store.directory_hit("zzz", "ann", ann).unwrap().unwrap();
        assert_eq!(elsewhere.len(), 2, "found by the directory only: its campaigns");
        let unknown = store
            .directory_hit("ann", "ann", "uid=other,dc=example,dc=org")
            .unwrap();
        assert_eq!(unknown, Some(vec![]));
    }

    fn the_index_follows_changes_of_the_account_row() {
        let (_d, store) = open();
        let (a, _) = store.create_or_resume(&spec("a"), "t").unwrap();
        store.insert_scanned(a.id, &[account("ann", false)]).unwrap();
        let conn = store.lock();
        conn.execute("UPDATE accounts SET display_name = 'Zelda Quux'", [])
            .unwrap();
        drop(conn);
        assert_eq!(store.search_accounts("quu", 10).unwrap().0.len(), 1);
        assert_eq!(store.search_accounts("ann@", 10).unwrap().0.len(), 1);
    }

    on_both_backends!(
        search_finds_any_part_literally_and_groups_campaigns,
        the_index_follows_changes_of_the_account_row
    );
}
