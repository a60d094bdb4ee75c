//! The labels of every mail pwresetd sends (migration 10): its reference code (printed in the
//! footer), its Message-ID and the SHA-256 of its link's token, recorded with the intent before
//! the mail goes out — one row per attempt, so a mail sent twice (a kill mid-send) is known by
//! both. The helpdesk's "is this mail ours?" reads them. Never a token in clear.

use super::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{MailState, Store, StoreError, db, parse_time, timestamp};

/// What labels one mail; the token's hash when a link goes with it.
#[derive(Debug, Clone)]
pub struct MailLabel {
    pub reference: String,
    pub message_id: String,
    pub token_hash: Option<String>,
}

/// Where a mail's link stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// The mail carried no link (a confirmation).
    None,
    /// It still opens the portal, until its expiry.
    Live,
    Used,
    /// Replaced by a newer link, or no longer needed (done, exempted, reverted).
    Revoked,
    Expired,
}

/// A mail pwresetd sent, found by one of its labels (a store row: the helpdesk's payload is
/// `helpdesk::mail_check::MailAnswer`).
#[derive(Debug, Clone)]
pub struct SentMail {
    pub campaign: String,
    pub login: Option<String>,
    pub dn: String,
    pub recipient: Option<String>,
    /// `notice`, `reminder`, `resend`, `requested`, `changed`, …
    pub kind: String,
    pub step: u32,
    /// The last attempt's state of this (kind, step).
    pub state: MailState,
    /// When this mail was handed to the mail server.
    pub sent_at: DateTime<Utc>,
    pub reference: String,
    pub message_id: String,
    pub link: LinkState,
    pub link_expires_at: Option<DateTime<Utc>>,
}

fn link_state(
    has_link: bool,
    expires: Option<DateTime<Utc>>,
    used: bool,
    revoked: bool,
    now: DateTime<Utc>,
) -> LinkState {
    match (has_link, expires) {
        (false, _) | (true, None) => LinkState::None,
        _ if used => LinkState::Used,
        _ if revoked => LinkState::Revoked,
        (true, Some(e)) if e <= now => LinkState::Expired,
        _ => LinkState::Live,
    }
}

/// Inserts the labels of notification `notification_id` (on a transaction when the caller has one).
pub(super) fn insert_label(
    conn: &super::db::Conn,
    notification_id: i64,
    label: &MailLabel,
    now: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO mail_labels (notification_id, reference, message_id, token_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            notification_id,
            label.reference,
            label.message_id,
            label.token_hash,
            now
        ])
    })
    .map(drop)
    .map_err(db("record mail label"))
}

impl Store {
    /// Records the labels of the mail about to be sent as notification `notification_id`.
    pub fn label_mail(&self, notification_id: i64, label: &MailLabel) -> Result<(), StoreError> {
        insert_label(&self.lock(), notification_id, label, &timestamp(Utc::now()))
    }

    /// The mail with any of these labels. One query whatever is given (a `None` matches
    /// nothing), so a miss takes the same path as a hit.
    pub fn find_mail(
        &self,
        message_id: Option<&str>,
        reference: Option<&str>,
        token_hash: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<SentMail>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT c.name, a.login, a.dn, n.recipient, n.kind, n.step, n.state, l.created_at,
                        l.reference, l.message_id, l.token_hash IS NOT NULL, t.expires_at,
                        t.used_at IS NOT NULL, t.revoked_at IS NOT NULL
                 FROM mail_labels l JOIN notifications n ON n.id = l.notification_id
                 JOIN accounts a ON a.id = n.account_id JOIN campaigns c ON c.id = a.campaign_id
                 LEFT JOIN tokens t ON t.hash = l.token_hash
                 WHERE l.message_id = ?1 OR l.reference = ?2 OR l.token_hash = ?3
                 ORDER BY l.id LIMIT 1",
            )
            .map_err(db("find mail"))?;
        stmt.query_row(params![message_id, reference, token_hash], |r| {
            let expires = r.get::<_, Option<String>>(11)?.as_deref().map(parse_time);
            Ok(SentMail {
                campaign: r.get(0)?,
                login: r.get(1)?,
                dn: r.get(2)?,
                recipient: r.get(3)?,
                kind: r.get(4)?,
                step: r.get(5)?,
                state: MailState::parse(&r.get::<_, String>(6)?).unwrap_or(MailState::Sending),
                sent_at: parse_time(&r.get::<_, String>(7)?),
                reference: r.get(8)?,
                message_id: r.get(9)?,
                link: link_state(r.get(10)?, expires, r.get(12)?, r.get(13)?, now),
                link_expires_at: expires,
            })
        })
        .optional()
        .map_err(db("find mail"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MailOutcome;
    use crate::store::tests::{account, on_both_backends, open, spec};

    fn a_mail_is_found_by_each_label_and_nothing_else() {
        let (_d, store) = open();
        let (c, _) = store.create_or_resume(&spec("a"), "t").unwrap();
        store.insert_scanned(c.id, &[account("ann", true)]).unwrap();
        let ann = store.accounts_for("ann", None).unwrap().remove(0);
        let later = Utc::now() + chrono::Duration::hours(1);
        let id = store
            .begin_mail(ann.id, "notice", 0, "ann@example.org", Some(("h1", later)))
            .unwrap();
        let label = MailLabel {
            reference: "7K3MQ9TX2HDP".into(),
            message_id: "<pwresetd.1@example.org>".into(),
            token_hash: Some("h1".into()),
        };
        store.label_mail(id, &label).unwrap();
        let sent = MailOutcome::Sent {
            message_id: label.message_id.clone(),
        };
        store.finish_mail(id, &sent, Some("h1")).unwrap();
        let now = Utc::now();
        for (m, r, t) in [
            (Some("<pwresetd.1@example.org>"), None, None),
            (None, Some("7K3MQ9TX2HDP"), None),
            (None, None, Some("h1")),
        ] {
            let found = store.find_mail(m, r, t, now).unwrap().expect("found");
            assert_eq!((found.kind.as_str(), found.login.as_deref()), ("notice", Some("ann")));
            assert_eq!(found.recipient.as_deref(), Some("ann@example.org"));
            assert_eq!((found.state, found.link), (MailState::Sent, LinkState::Live));
        }
        assert!(
            store
                .find_mail(Some("<x@example.org>"), None, None, now)
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .find_mail(None, Some("7K3MQ9TX2HDQ"), Some("h2"), now)
                .unwrap()
                .is_none()
        );
        assert!(store.find_mail(None, None, None, now).unwrap().is_none());
        let later_still = later + chrono::Duration::hours(1);
        let found = store.find_mail(None, Some("7K3MQ9TX2HDP"), None, later_still).unwrap();
        assert_eq!(found.unwrap().link, LinkState::Expired);
    }

    on_both_backends!(a_mail_is_found_by_each_label_and_nothing_else);
}
