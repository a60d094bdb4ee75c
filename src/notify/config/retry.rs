//! The retry policy of the `[mail]` section: `max_attempts`, `retry_initial` and `retry_max`,
//! validated into [`RetryPolicy`], and the pause it prescribes after each failed attempt.
//!
//! Must not sleep nor retry anything: [`crate::notify::Mailer`] does, with this policy.

use std::time::Duration;

use super::{MailConfig, MailConfigError, at_least_one, duration};

/// Longest pause between two attempts, whatever `retry_initial` and `max_attempts` say.
pub const DEFAULT_RETRY_MAX: &str = "5m";

/// Retries of one message after transient failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Pause after the first failure; doubled after each further failure...
    pub initial: Duration,
    /// ... up to this.
    pub max: Duration,
}

impl RetryPolicy {
    /// The pause after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

impl MailConfig {
    /// The `max_attempts`, `retry_initial` and `retry_max` keys.
    pub(super) fn retry(&self) -> Result<RetryPolicy, MailConfigError> {
        let policy = RetryPolicy {
            max_attempts: at_least_one("max_attempts", self.max_attempts)?,
            initial: duration("retry_initial", &self.retry_initial)?,
            max: duration("retry_max", &self.retry_max)?,
        };
        if policy.initial > policy.max {
            return Err(MailConfigError::new(
                "retry_initial",
                format!(
                    "{} is longer than mail.retry_max ({}); lower it or raise mail.retry_max",
                    self.retry_initial, self.retry_max
                ),
            ));
        }
        Ok(policy)
    }
}
