//! The portal benches' set-up and load (benches/portal.rs: the portal in-process;
//! benches/portal_ha.rs: `serve` processes): accounts of the bench's slapd flagged with
//! `pwdReset`, 5 earlier campaigns completed through the store API (5 argon2id history hashes
//! per account), the benchmark's campaign with one link per account, and virtual users who GET
//! a link's form and POST a new password (the POST timed).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use pwresetd::campaign::state::{AccountState, Via};
use pwresetd::directory::{Directory, ScanItem};
use pwresetd::policy::{Password, hash_for_history};
use pwresetd::store::{AuditEntry, CampaignSpec, Completion, MailOutcome, Scope, Store};

use super::Res;

/// A link and the new password its user types.
pub type Link = (String, String);

const WORDS: [&str; 24] = [
    "violet", "tractor", "umbrella", "quantum", "marble", "kettle", "horizon", "saffron", "glacier", "pepper",
    "lantern", "orchid", "canyon", "biscuit", "falcon", "meadow", "copper", "walrus", "thimble", "nebula", "juniper",
    "anchor", "velvet", "cobalt",
];

/// The new password of the `i`th link: passes the default policy, differs per link.
pub fn password(i: usize) -> String {
    let w = |k: usize| WORDS[(i * 7 + k * 5 + k * k) % WORDS.len()];
    format!("{} {} {} {} {}", w(1), w(2), w(3), 100 + i, w(4))
}

/// The `[directory]` section for the bench's slapd (`ldap`: its env file).
pub fn directory_toml(ldap: &HashMap<String, String>) -> String {
    format!(
        "[directory]\nurl = \"{}\"\nca_file = \"{}\"\nbind_dn = \"{}\"\nbind_password_file = \"{}\"\n\
         base_dn = \"{}\"\nuser_filter = \"(uid=user*)\"\ndefault_policy_dn = \"{}\"\nmax_concurrency = 32\n\
         connections = 4\n",
        ldap["LDAP_URL"],
        ldap["LDAP_CA_FILE"],
        ldap["LDAP_BIND_DN"],
        ldap["LDAP_BIND_PASSWORD_FILE"],
        ldap["LDAP_PEOPLE_DN"],
        ldap["LDAP_POLICY_DN"],
    )
}

/// Flags `user{range}` in the directory; the scan items a campaign records for them.
pub async fn flag(directory: &dyn Directory, range: Range<usize>) -> Res<Vec<ScanItem>> {
    let mut items = Vec::new();
    for i in range {
        let login = format!("user{i:05}");
        let details = directory
            .find_by_login(&login)
            .await?
            .ok_or_else(|| format!("{login} is missing: start slapd with more --users"))?;
        directory.mark(&details.account.dn).await?;
        let mut account = details.account;
        account.flagged = true; // read before marking
        items.push(ScanItem::InScope(account));
    }
    Ok(items)
}

fn campaign(store: &Store, name: &str, base: &str, items: &[ScanItem]) -> Res<i64> {
    let spec = CampaignSpec {
        name: name.into(),
        reason: "benchmark".into(),
        deadline: Utc::now() + chrono::Duration::days(7),
        scope: Scope {
            flavor: "openldap".into(),
            base_dn: base.into(),
            user_filter: "(uid=user*)".into(),
            exclude_filter: None,
            login_attribute: "uid".into(),
        },
    };
    let (c, _) = store.create_or_resume(&spec, "bench")?;
    store.insert_scanned(c.id, items)?;
    Ok(c.id)
}

/// The campaign's accounts waiting for a change, in login order (the order of `items`).
fn marked(store: &Store, campaign: i64) -> Res<Vec<pwresetd::store::AccountRecord>> {
    let mut records = store.accounts_in_state(campaign, AccountState::Marked, 1_000_000)?;
    records.sort_by(|a, b| a.login.cmp(&b.login));
    Ok(records)
}

/// The 5 history entries of one password scheme each: as written before the account salt
/// (one salt each: 5 argon2id computations per check), then sharing one salt (one computation
/// per check); oldest first. The same 5 strings for every account: the cost of checking them is
/// what matters.
fn history() -> Res<[Vec<String>; 2]> {
    let old: Vec<String> = (0..5)
        .map(|k| hash_for_history(&Password::new(format!("retired password number {k}")), &[]))
        .collect::<Result<_, _>>()?;
    let mut shared: Vec<String> = Vec::new();
    for k in 0..5 {
        let entry = hash_for_history(&Password::new(format!("retired password number {k}")), &shared)?;
        shared.insert(0, entry);
    }
    shared.reverse(); // oldest first, like `old`: inserted in that order
    Ok([old, shared])
}

/// Five earlier campaigns completed through the store API (5 history hashes per account:
/// those of `items[legacy]` with legacy salts, the others sharing one salt), then the
/// benchmark's campaign with one link per account; the links in account order and the two
/// history schemes (see [`history`]). Blocking: call it off the async runtime (PostgreSQL's
/// client must not run on it).
pub fn prefill(
    store: &Store,
    base: &str,
    items: &[ScanItem],
    legacy: Range<usize>,
) -> Res<(Vec<Link>, [Vec<String>; 2])> {
    let [old, shared] = history()?;
    for k in 0..5 {
        let id = campaign(store, &format!("earlier-{k}"), base, items)?;
        for (i, record) in marked(store, id)?.into_iter().enumerate() {
            let phc = if legacy.contains(&i) { &old[k] } else { &shared[k] };
            let audit = AuditEntry {
                at: Utc::now(),
                actor: "bench".into(),
                action: "password.changed".into(),
                campaign: Some(record.campaign.clone()),
                account: record.login.clone(),
                detail: None,
            };
            let completion = Completion {
                account_id: record.id,
                via: Via::Portal,
                token_hash: None,
                history: Some((phc, 5)),
                audit,
            };
            store.complete(&completion)?.map_err(|e| format!("prefill: {e}"))?;
        }
    }
    let id = campaign(store, "bench", base, items)?;
    let mut links = Vec::new();
    for (i, record) in marked(store, id)?.into_iter().enumerate() {
        let issued = pwresetd::token::issue()?;
        let expires = Utc::now() + chrono::Duration::hours(2);
        let mail = store.begin_mail(record.id, "notice", 0, "x@example.org", Some((&issued.hash, expires)))?;
        let sent = MailOutcome::Sent {
            message_id: format!("<{i}@bench>"),
        };
        store.finish_mail(mail, &sent, Some(&issued.hash))?;
        if store.password_history(&record.dn, 5)?.len() != 5 {
            return Err(format!("{}: not 5 history entries after the prefill", record.dn).into());
        }
        links.push((issued.token.expose().to_owned(), password(i)));
    }
    Ok((links, [old, shared]))
}

/// The form's CSRF field.
pub fn csrf(html: &str) -> Option<String> {
    let start = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[start..start + html[start..].find('"')?].to_owned())
}

/// One person: GET the link's form, pause, POST the password; the POST's latency.
pub async fn one_change(url: &str, (link, password): &Link, pause: Duration) -> Res<Duration> {
    let client = reqwest::Client::builder().cookie_store(true).build()?;
    let form_url = format!("{url}/reset/{link}");
    let page = client.get(&form_url).send().await?.text().await?;
    let token = csrf(&page).ok_or("no csrf field on the form")?;
    tokio::time::sleep(pause).await;
    let fields = [
        ("csrf", token.as_str()),
        ("new_password", password.as_str()),
        ("confirm_password", password.as_str()),
    ];
    let t0 = Instant::now();
    let response = client.post(&form_url).form(&fields).send().await?;
    let status = response.status();
    let _ = response.bytes().await?;
    let took = t0.elapsed();
    if status != 200 {
        return Err(format!("submit on {url} answered {status}").into());
    }
    Ok(took)
}

/// How the virtual users go from the form to the submit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// At once, back to back: a closed loop that saturates the CPU.
    NoPause,
    /// 1–3 s of typing between page and submit, first arrivals spread over 3 s.
    Typing,
}

/// `users` virtual users, user `u` on `urls[u % urls.len()]` (sticky per user, round robin
/// over users, as a load balancer would), share `links`; the submit latencies.
pub async fn scenario(urls: &[String], links: &[Link], users: usize, pace: Pace) -> Res<Vec<Duration>> {
    let links = Arc::new(links.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for u in 0..users {
        let (links, next, url) = (links.clone(), next.clone(), urls[u % urls.len()].clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            if pace == Pace::Typing {
                // People do not all open their mail in the same millisecond: arrivals spread
                // over the first 3 s.
                tokio::time::sleep(Duration::from_millis((u * 3000 / users.max(1)) as u64)).await;
            }
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(link) = links.get(i) else {
                    return Ok::<_, String>(out);
                };
                // 1–3 s of "typing", spread deterministically.
                let pause = match pace {
                    Pace::Typing => Duration::from_millis(1000 + ((i * 7919 + u * 104_729) % 2000) as u64),
                    Pace::NoPause => Duration::ZERO,
                };
                out.push(one_change(&url, link, pause).await.map_err(|e| e.to_string())?);
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}
