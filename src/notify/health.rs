//! The mail server's health as this process sees it: how many server failures came in a row,
//! since when it is down, its last failure and the time of the last delivery.
//!
//! A *server failure* concerns every message (connection refused or reset, a connect or TLS
//! timeout, TLS or authentication refused); a reply to one message (4xx, 5xx) proves the server
//! answers. After `mail.server_failures` server failures in a row the server is *down* until it
//! answers again. [`super::Mailer`] feeds this and stops retrying once it is down; the pass stops
//! sending; the daemon reads it for its metrics, STATUS and helpdesk page. Logs once per change
//! of state (down, up again), never per message. Must not send, sleep or retry anything.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

/// The state of one mail server (or spool directory), shared by every sender of a [`super::Mailer`].
#[derive(Debug)]
pub struct ServerHealth {
    /// `host:port`, or the spool directory.
    server: String,
    /// Server failures in a row that make the server down (at least 1).
    threshold: u32,
    state: Mutex<State>,
    /// Woken when the server goes down, so that senders waiting to retry give up at once.
    went_down: Notify,
}

#[derive(Debug, Default)]
struct State {
    in_a_row: u32,
    down_since: Option<DateTime<Utc>>,
    last_failure: Option<String>,
    last_delivery: Option<DateTime<Utc>>,
}

/// What [`ServerHealth`] knows at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// `host:port`, or the spool directory.
    pub server: String,
    /// `Some` while the server is down.
    pub down_since: Option<DateTime<Utc>>,
    /// Server failures in a row (0 once it answered).
    pub failures_in_a_row: u32,
    /// The last server failure, in the server's or the network's words.
    pub last_failure: Option<String>,
    pub last_delivery: Option<DateTime<Utc>>,
}

impl ServerHealth {
    pub fn new(server: String, threshold: u32) -> ServerHealth {
        ServerHealth {
            server,
            threshold: threshold.max(1),
            state: Mutex::new(State::default()),
            went_down: Notify::new(),
        }
    }

    /// `host:port`, or the spool directory.
    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn snapshot(&self) -> HealthSnapshot {
        let s = self.lock();
        HealthSnapshot {
            server: self.server.clone(),
            down_since: s.down_since,
            failures_in_a_row: s.in_a_row,
            last_failure: s.last_failure.clone(),
            last_delivery: s.last_delivery,
        }
    }

    pub fn is_down(&self) -> bool {
        self.lock().down_since.is_some()
    }

    /// The server answered (a delivery, or a reply about one message).
    pub(super) fn answered(&self) {
        let mut s = self.lock();
        s.in_a_row = 0;
        if let Some(since) = s.down_since.take() {
            let down_for = (Utc::now() - since).to_std().unwrap_or_default();
            tracing::info!(
                server = %self.server,
                down_for = %humantime::format_duration(std::time::Duration::from_secs(down_for.as_secs())),
                "mail server answers again; the mails left due go out now"
            );
        }
    }

    /// The server took a message.
    pub(super) fn delivered(&self) {
        self.answered();
        self.lock().last_delivery = Some(Utc::now());
    }

    /// A server failure; `true` when the server is (now, or still) down.
    pub(super) fn failed(&self, why: &str) -> bool {
        self.record(why, |in_a_row, threshold| in_a_row >= threshold)
    }

    /// A failure no retry can cure (TLS, authentication): the server is down at once.
    pub(super) fn unusable(&self, why: &str) {
        self.record(why, |_, _| true);
    }

    fn record(&self, why: &str, down: impl Fn(u32, u32) -> bool) -> bool {
        let mut s = self.lock();
        s.in_a_row = s.in_a_row.saturating_add(1);
        // The failures name the server already; the operator reads its name once.
        let prefix = format!("{}: ", self.server);
        s.last_failure = Some(why.strip_prefix(&prefix).unwrap_or(why).to_owned());
        if s.down_since.is_some() {
            return true;
        }
        if !down(s.in_a_row, self.threshold) {
            return false;
        }
        s.down_since = Some(Utc::now());
        tracing::warn!(
            server = %self.server,
            failures_in_a_row = s.in_a_row,
            error = why,
            "mail server down: no mail is sent until it answers again; the mails stay due"
        );
        drop(s);
        self.went_down.notify_waiters();
        true
    }

    /// Resolves once the server is down (at once if it is).
    pub(super) async fn until_down(&self) {
        loop {
            // Registered before the check, so a change in between is not missed.
            let notified = self.went_down.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_down() {
                return;
            }
            notified.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a sender panicked while updating counters.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events in order → (down after each event).
    fn check(threshold: u32, events: &[&str], expected: &[bool]) {
        let h = ServerHealth::new("mail.example.org:25".into(), threshold);
        let got: Vec<bool> = events
            .iter()
            .map(|e| {
                match *e {
                    "fail" => {
                        h.failed("mail.example.org:25: Connection refused (os error 111)");
                    }
                    "unusable" => h.unusable("TLS with mail.example.org:25: invalid certificate"),
                    "answer" => h.answered(),
                    "deliver" => h.delivered(),
                    other => panic!("unknown event {other}"),
                }
                h.is_down()
            })
            .collect();
        assert_eq!(got, expected, "threshold {threshold}, events {events:?}");
    }

    #[test]
    fn down_after_the_threshold_in_a_row_up_at_the_first_answer() {
        check(3, &["fail", "fail", "fail", "fail"], &[false, false, true, true]);
        check(3, &["fail", "fail", "answer", "fail", "fail"], &[false; 5]);
        check(
            3,
            &["fail", "fail", "fail", "deliver", "fail"],
            &[false, false, true, false, false],
        );
        check(1, &["fail", "answer"], &[true, false]);
        check(5, &["unusable", "fail", "answer"], &[true, true, false]);
        check(0, &["fail"], &[true]);
    }

    #[test]
    fn the_snapshot_names_the_last_failure_without_the_server() {
        let h = ServerHealth::new("mail.example.org:25".into(), 2);
        assert!(!h.failed("mail.example.org:25: Connection refused (os error 111)"));
        assert!(h.failed("mail.example.org:25: Connection reset by peer (os error 104)"));
        let s = h.snapshot();
        assert_eq!(s.failures_in_a_row, 2);
        assert_eq!(
            s.last_failure.as_deref(),
            Some("Connection reset by peer (os error 104)")
        );
        assert!(s.down_since.is_some() && s.last_delivery.is_none());
        h.delivered();
        let s = h.snapshot();
        assert_eq!((s.failures_in_a_row, s.down_since), (0, None));
        assert!(s.last_delivery.is_some());
    }

    #[tokio::test]
    async fn waiting_senders_hear_that_the_server_went_down() {
        let h = std::sync::Arc::new(ServerHealth::new("m:25".into(), 2));
        let waiter = tokio::spawn({
            let h = h.clone();
            async move { h.until_down().await }
        });
        tokio::task::yield_now().await;
        h.failed("refused");
        assert!(!waiter.is_finished());
        h.failed("refused");
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .unwrap();
    }
}
