//! A `Directory` that records latency and errors of every operation of the one it wraps.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::metrics::{Metrics, Op, OpError};
use crate::directory::config::Flavor;
use crate::directory::{
    Account, AccountDetails, AtDeadline, BindCheck, Directory, DirectoryError, Lockout, PasswordError, Presence,
    ScanItem, Warning,
};
use crate::policy::DirectoryRules;
use crate::secret::Secret;

pub struct Instrumented {
    inner: Arc<dyn Directory>,
    metrics: Arc<Metrics>,
}

impl Instrumented {
    pub fn new(inner: Arc<dyn Directory>, metrics: Arc<Metrics>) -> Self {
        Instrumented { inner, metrics }
    }

    fn observe<T>(&self, op: &str, started: Instant, result: &Result<T, DirectoryError>) {
        self.record(op, started, result.as_ref().err());
    }

    fn observe_password(&self, op: &str, started: Instant, result: &Result<(), PasswordError>) {
        // A refused password or a wrong current one is the user's answer, not a directory error.
        let failure = match result {
            Err(PasswordError::Directory(e)) => Some(e),
            _ => None,
        };
        self.record(op, started, failure);
    }

    fn record(&self, op: &str, started: Instant, failure: Option<&DirectoryError>) {
        let labels = Op { op: op.to_owned() };
        self.metrics
            .directory_seconds
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        if let Some(e) = failure {
            let code = e
                .result_code()
                .map_or_else(|| "unavailable".to_owned(), |rc| rc.to_string());
            self.metrics
                .directory_errors
                .get_or_create(&OpError {
                    op: op.to_owned(),
                    code,
                })
                .inc();
        }
    }
}

macro_rules! timed {
    ($self:ident, $op:literal, $call:expr) => {{
        let started = Instant::now();
        let result = $call.await;
        $self.observe($op, started, &result);
        result
    }};
}

#[async_trait]
impl Directory for Instrumented {
    fn flavor(&self) -> Flavor {
        self.inner.flavor()
    }

    async fn check(&self) -> Result<Vec<Warning>, DirectoryError> {
        timed!(self, "check", self.inner.check())
    }

    async fn ping(&self) -> Result<(), DirectoryError> {
        timed!(self, "ping", self.inner.ping())
    }

    async fn scan(&self, sink: mpsc::Sender<ScanItem>) -> Result<(), DirectoryError> {
        timed!(self, "scan", self.inner.scan(sink))
    }

    async fn policy_warnings(&self, policies: &BTreeSet<Option<String>>) -> Result<Vec<Warning>, DirectoryError> {
        timed!(self, "policy", self.inner.policy_warnings(policies))
    }

    async fn write_warnings(&self, dn: &str) -> Result<Option<Vec<Warning>>, DirectoryError> {
        timed!(self, "rights", self.inner.write_warnings(dn))
    }

    async fn password_rules(&self, dn: Option<&str>) -> Result<Option<DirectoryRules>, DirectoryError> {
        timed!(self, "rules", self.inner.password_rules(dn))
    }

    async fn policy_rules(&self, policy: Option<&str>) -> Result<Option<DirectoryRules>, DirectoryError> {
        timed!(self, "rules", self.inner.policy_rules(policy))
    }

    async fn remembered_password_rules(&self, dn: Option<&str>) -> Result<Option<DirectoryRules>, DirectoryError> {
        timed!(self, "rules", self.inner.remembered_password_rules(dn))
    }

    fn forget_policies(&self) {
        self.inner.forget_policies();
    }

    async fn find_by_login(&self, login: &str) -> Result<Option<AccountDetails>, DirectoryError> {
        timed!(self, "lookup", self.inner.find_by_login(login))
    }

    async fn search_accounts(&self, text: &str, limit: i32) -> Result<(Vec<Account>, bool), DirectoryError> {
        timed!(self, "lookup", self.inner.search_accounts(text, limit))
    }

    async fn read(&self, dn: &str) -> Result<Option<AccountDetails>, DirectoryError> {
        timed!(self, "read", self.inner.read(dn))
    }

    async fn locate(&self, dn: &str) -> Result<Presence, DirectoryError> {
        timed!(self, "locate", self.inner.locate(dn))
    }

    async fn mark(&self, dn: &str) -> Result<(), DirectoryError> {
        let result = timed!(self, "mark", self.inner.mark(dn));
        if result.is_ok() {
            self.metrics.marks.inc();
        }
        result
    }

    async fn clear(&self, dn: &str) -> Result<(), DirectoryError> {
        timed!(self, "clear", self.inner.clear(dn))
    }

    async fn check_password(&self, dn: &str, password: &Secret) -> Result<BindCheck, DirectoryError> {
        timed!(self, "user_bind", self.inner.check_password(dn, password))
    }

    async fn is_current_password(&self, dn: &str, candidate: &Secret) -> Result<Option<bool>, DirectoryError> {
        timed!(self, "compare_current", self.inner.is_current_password(dn, candidate))
    }

    async fn is_earlier_password(&self, dn: &str, candidate: &Secret) -> Result<Option<bool>, DirectoryError> {
        timed!(self, "compare_history", self.inner.is_earlier_password(dn, candidate))
    }

    async fn change_password_as_user(&self, dn: &str, old: &Secret, new: &Secret) -> Result<(), PasswordError> {
        let started = Instant::now();
        let result = self.inner.change_password_as_user(dn, old, new).await;
        self.observe_password("user_change", started, &result);
        result
    }

    async fn set_password_as_admin(&self, dn: &str, new: &Secret) -> Result<(), PasswordError> {
        let started = Instant::now();
        let result = self.inner.set_password_as_admin(dn, new).await;
        self.observe_password("admin_set", started, &result);
        result
    }

    async fn find_operator(&self, login: &str, base_dn: &str) -> Result<Option<AccountDetails>, DirectoryError> {
        timed!(self, "operator_lookup", self.inner.find_operator(login, base_dn))
    }

    async fn lockout(&self, policy: Option<&str>) -> Result<Lockout, DirectoryError> {
        timed!(self, "lockout_policy", self.inner.lockout(policy))
    }

    async fn is_member(&self, dn: &str, group_dn: &str) -> Result<bool, DirectoryError> {
        timed!(self, "membership", self.inner.is_member(dn, group_dn))
    }

    async fn lock_state(&self, dn: &str, action: AtDeadline) -> Result<Option<bool>, DirectoryError> {
        timed!(self, "read", self.inner.lock_state(dn, action))
    }

    async fn lock(&self, dn: &str, action: AtDeadline) -> Result<(), DirectoryError> {
        timed!(self, "lock", self.inner.lock(dn, action))
    }

    async fn unlock(&self, dn: &str, action: AtDeadline) -> Result<(), DirectoryError> {
        timed!(self, "unlock", self.inner.unlock(dn, action))
    }

    async fn lock_warnings(
        &self,
        policies: &BTreeSet<Option<String>>,
        action: AtDeadline,
    ) -> Result<Vec<Warning>, DirectoryError> {
        timed!(self, "policy", self.inner.lock_warnings(policies, action))
    }
}
