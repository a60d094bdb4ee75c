//! The search benches' set-up and timing (benches/search.rs on SQLite, benches/search_pg.rs on
//! PostgreSQL): one campaign of `n` generated accounts recorded through the store API, the same
//! five queries, and the median of several runs.

use std::time::{Duration, Instant};

use chrono::Utc;
use pwresetd::directory::{Account, ScanItem};
use pwresetd::store::{Campaign, CampaignSpec, Scope, Store};

use super::Res;

/// The queries, from one account to every account: (what, text).
pub const QUERIES: [(&str, &str); 5] = [
    ("one account (part of a login)", "user054321"),
    ("about 100 (part of a mail)", "family123@"),
    ("about 7,700 (a mail domain)", "corp3.example"),
    ("every account (common text)", "example"),
    ("none", "zzqqxx"),
];

fn account(i: usize) -> ScanItem {
    ScanItem::InScope(Account {
        dn: format!("uid=user{i:06},ou=people,dc=example,dc=org"),
        login: format!("user{i:06}"),
        mail: vec![format!("first{i}.family{}@corp{}.example", i % 997, i % 13)],
        display_name: Some(format!("First{i} Family{}", i % 997)),
        given_name: None,
        surname: None,
        language: None,
        flagged: false,
        policy: None,
    })
}

/// A campaign `bench` with `n` accounts, recorded 1,000 at a time as a scan does; and how long
/// recording them took.
pub fn record(store: &Store, n: usize) -> Res<(Campaign, Duration)> {
    let spec = CampaignSpec {
        name: "bench".into(),
        reason: "bench".into(),
        deadline: Utc::now() + chrono::Duration::days(7),
        scope: Scope {
            flavor: "openldap".into(),
            base_dn: "ou=people,dc=example,dc=org".into(),
            user_filter: "(objectClass=inetOrgPerson)".into(),
            exclude_filter: None,
            login_attribute: "uid".into(),
        },
    };
    let (campaign, _) = store.create_or_resume(&spec, "bench")?;
    let start = Instant::now();
    let items: Vec<ScanItem> = (0..n).map(account).collect();
    for chunk in items.chunks(1000) {
        store.insert_scanned(campaign.id, chunk)?;
    }
    Ok((campaign, start.elapsed()))
}

/// The median time of `runs` calls of `f` (one at least), and what the last one returned.
pub fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let start = Instant::now();
    let mut last = f();
    let mut times = vec![start.elapsed()];
    for _ in 1..runs {
        let start = Instant::now();
        let out = f();
        times.push(start.elapsed());
        last = out;
    }
    times.sort();
    (times[times.len() / 2], last)
}

/// `d` as `12.34 ms`.
pub fn shown(d: Duration) -> String {
    format!("{:.2} ms", super::ms(d))
}
