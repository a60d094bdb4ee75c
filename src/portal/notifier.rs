//! What the portal tells the rest of pwresetd after the fact: a password was changed (send the
//! "changed" confirmation), a person asked for a new link. The daemon implements
//! [`ChangeNotifier`] with the mailer; [`RecordingNotifier`] is the test double and
//! [`LogNotifier`] the stand-in used until the mailer is wired in.
//!
//! Implementations handle their own failures (log, retry): the portal calls them after the
//! change is recorded, and nothing they do can undo it.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::directory::AccountDetails;
use crate::store::AccountRecord;

#[async_trait]
pub trait ChangeNotifier: Send + Sync {
    /// The account's password was changed through the portal and the store records it as
    /// completed. `details` is what the directory said about the account just before.
    async fn password_changed(&self, account: &AccountRecord, details: &AccountDetails);

    /// Someone asked for a new link for `login`, an account with an open campaign (the
    /// directory's spelling of the login). Whoever implements this decides whether to send one.
    async fn link_requested(&self, login: &str);
}

/// Logs what would be sent. Used by `pwresetd serve` until the mailer is wired in.
#[derive(Debug, Default)]
pub struct LogNotifier;

#[async_trait]
impl ChangeNotifier for LogNotifier {
    async fn password_changed(&self, account: &AccountRecord, _details: &AccountDetails) {
        tracing::info!(
            login = account.login.as_deref().unwrap_or_default(),
            campaign = %account.campaign,
            "password changed: confirmation mail not sent (no mailer configured)"
        );
    }

    async fn link_requested(&self, login: &str) {
        tracing::info!(login, "new link requested: not sent (no mailer configured)");
    }
}

/// One call received by a [`RecordingNotifier`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    PasswordChanged {
        login: Option<String>,
        account_id: i64,
        dn: String,
    },
    LinkRequested {
        login: String,
    },
}

/// Records every call, for tests.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    calls: Mutex<Vec<Call>>,
    changed: Notify,
}

impl RecordingNotifier {
    pub fn calls(&self) -> Vec<Call> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Call>> {
        self.calls.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push(&self, call: Call) {
        self.lock().push(call);
        self.changed.notify_waiters();
    }

    /// Waits until at least `n` calls were recorded (the portal notifies in the background), at
    /// most `timeout`; returns the calls seen.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Call> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            let calls = self.calls();
            if calls.len() >= n || tokio::time::Instant::now() >= deadline {
                return calls;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
}

#[async_trait]
impl ChangeNotifier for RecordingNotifier {
    async fn password_changed(&self, account: &AccountRecord, details: &AccountDetails) {
        self.push(Call::PasswordChanged {
            login: account.login.clone(),
            account_id: account.id,
            dn: details.account.dn.clone(),
        });
    }

    async fn link_requested(&self, login: &str) {
        self.push(Call::LinkRequested {
            login: login.to_owned(),
        });
    }
}
