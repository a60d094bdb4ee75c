//! The mail schedule over days of a campaign: `notify::pass` deciding with
//! `campaign::schedule`, read against a clock that follows tokio's paused time, writing real
//! messages through the file transport. Deadline: 7 days (168 h) after the start; reminders at
//! the default 72 h and 24 h before it (hours 96 and 144).

use std::collections::BTreeMap;
use std::sync::Arc;

use pwresetd::campaign::state::AccountState;
use pwresetd::notify::pass::{self, Mail};
use pwresetd::notify::{Mailer, Templates};
use pwresetd::store::{AuditEntry, OperatorChange};

use crate::common::fake_directory::FakeDirectory;
use crate::support::{Bed, Clock, config, settings};

/// What each login was sent: (hour, kind, step), in order.
type Timeline = BTreeMap<String, Vec<(u32, String, u32)>>;

/// A marked campaign of `people`, its mail set-up and what has been sent so far.
struct Mailing {
    clock: Clock,
    bed: Bed,
    mail: Mail,
    config: pwresetd::daemon::config::Config,
    sent: Timeline,
}

impl Mailing {
    async fn start(people: usize) -> Mailing {
        let clock = Clock::start();
        let bed = Bed::new(FakeDirectory::with_people(people), clock.at(168));
        let config = config(bed.tmp.path(), "");
        let mail = Mail {
            settings: Arc::new(config.mail.clone()),
            templates: Arc::new(Templates::load(&config.mail).unwrap()),
            mailer: Arc::new(Mailer::new(&config.mail).unwrap()),
        };
        bed.mark(&settings(4, 0)).await.unwrap();
        let sent = Timeline::new();
        Mailing {
            clock,
            bed,
            mail,
            config,
            sent,
        }
    }

    /// Runs one mail pass at each of `hours` after the start.
    async fn passes(&mut self, hours: impl IntoIterator<Item = u32>) {
        let campaign = self.bed.campaign();
        let (reminders, links) = (&self.config.campaign.reminders, self.config.portal.links());
        let now = || self.clock.now();
        for hour in hours {
            self.clock.until(hour).await;
            let driver = pass::Driver {
                now: &now,
                stop: None,
                progress: &pass::Silent,
            };
            pass::run_at(&self.mail, &self.bed.store, &campaign, reminders, &links, &driver)
                .await
                .unwrap();
            note(&self.bed, &mut self.sent, hour);
        }
    }

    /// The helpdesk extends `login`'s deadline to `hour` after the start.
    fn extend(&self, login: &str, hour: u32) {
        let account = self
            .bed
            .store
            .run_blocking(|s| s.accounts_for(login, None))
            .unwrap()
            .remove(0);
        let change = OperatorChange {
            account_id: account.id,
            expected: AccountState::Marked,
            next: AccountState::Marked,
            deadline: Some(Some(self.clock.at(hour))),
            revoke_links: false,
            audit: AuditEntry {
                at: self.clock.now(),
                actor: "helpdesk".into(),
                action: "deadline.extended".into(),
                campaign: Some("c".into()),
                account: Some(login.into()),
                detail: None,
            },
        };
        self.bed
            .store
            .run_blocking(|s| s.operator_change(&change))
            .unwrap()
            .unwrap();
    }

    fn of(&self, login: &str) -> Vec<(u32, &str, u32)> {
        self.sent[login].iter().map(|(h, k, s)| (*h, k.as_str(), *s)).collect()
    }

    fn spooled(&self) -> usize {
        let spool = std::fs::read_dir(self.bed.tmp.path().join("spool")).unwrap();
        spool
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "eml"))
            .count()
    }
}

/// Adds the mails the store recorded since the last look to `sent`, as sent at `hour`.
fn note(bed: &Bed, sent: &mut Timeline, hour: u32) {
    for account in bed
        .store
        .run_blocking(|s| s.accounts_in_state(bed.campaign_id, AccountState::Marked, 1000))
        .unwrap()
    {
        let history = bed.store.run_blocking(|s| s.mail_history(account.id)).unwrap();
        let seen = sent.entry(account.login.unwrap()).or_default();
        for m in &history[seen.len()..] {
            seen.push((hour, m.kind.clone(), m.step));
        }
    }
}

const ON_TIME: [(u32, &str, u32); 3] = [(0, "notice", 0), (96, "reminder", 1), (144, "reminder", 2)];

#[tokio::test(start_paused = true)]
async fn a_notice_then_each_reminder_once_then_silence_after_the_deadline() {
    let mut m = Mailing::start(3).await;
    m.passes(0..=240).await; // hourly for ten days
    for login in ["user0000", "user0001", "user0002"] {
        assert_eq!(m.of(login), ON_TIME, "{login}");
    }
    assert_eq!(m.spooled(), 9, "nine messages written");
}

#[tokio::test(start_paused = true)]
async fn after_days_down_only_the_latest_reminder_goes_out() {
    let mut m = Mailing::start(2).await;
    m.passes([0, 150, 151, 167, 168, 200]).await;
    assert_eq!(m.of("user0001"), [(0, "notice", 0), (150, "reminder", 2)]);
    assert_eq!(m.spooled(), 4);
}

#[tokio::test(start_paused = true)]
async fn an_extended_deadline_moves_the_reminders() {
    let mut m = Mailing::start(2).await;
    m.passes(0..=24).await;
    m.extend("user0000", 216); // two more days
    m.passes(25..=264).await;
    let moved = [(0, "notice", 0), (144, "reminder", 1), (192, "reminder", 2)];
    assert_eq!(m.of("user0000"), moved);
    assert_eq!(m.of("user0001"), ON_TIME, "the others keep the campaign's deadline");
}

/// An extension after the last reminder re-arms the reminders relative to the new deadline:
/// each new point (72 h and 24 h before hour 240: hours 168 and 216) is sent once, numbered on
/// from the reminders already sent. (Until issue 15 nothing more was sent.)
#[tokio::test(start_paused = true)]
async fn an_extension_after_the_last_reminder_re_arms_the_reminders() {
    let mut m = Mailing::start(2).await;
    m.passes(0..=150).await;
    m.extend("user0000", 240);
    m.passes(151..=264).await;
    let re_armed = [
        (0, "notice", 0),
        (96, "reminder", 1),
        (144, "reminder", 2),
        (168, "reminder", 3),
        (216, "reminder", 4),
    ];
    assert_eq!(m.of("user0000"), re_armed);
    assert_eq!(m.of("user0001"), ON_TIME, "the others keep the campaign's deadline");
    assert_eq!(m.spooled(), 8);
}
