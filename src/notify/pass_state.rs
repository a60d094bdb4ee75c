//! What one pass over a campaign's due mails shares with its sessions ([`super::slot`]): the
//! pass's inputs and stop flag ([`Pass`]), the mails it hands out ([`Job`]), how it is driven
//! ([`Driver`], [`Progress`]) and what it did ([`PassSummary`]).
//!
//! Types and the stop test only, below both `pass` (which decides what is due) and `slot` (which
//! sends it); must not import either.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::deliver::{Mail, Row, Target};
use super::templates::Kind;
use crate::store::{Campaign, Store};
use crate::token::Links;

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassSummary {
    pub sent: u64,
    /// Refused for good (recorded with the server's reply).
    pub failed: u64,
    /// Transient failures: tried again on the next pass.
    pub retry: u64,
    pub no_address: u64,
}

/// Where a pass reports progress: the mails it found due, and those it has dealt with.
pub trait Progress: Send + Sync {
    /// `n` more mails are due.
    fn add_work(&self, n: u64);
    /// `n` mails were sent, or their failure recorded.
    fn advance(&self, n: u64);
}

/// Progress that nobody watches.
pub struct Silent;

impl Progress for Silent {
    fn add_work(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// How a pass is driven: its clock (tests drive days of reminders on tokio's paused time), its
/// clean stop, and where it reports progress.
pub struct Driver<'a> {
    pub now: &'a (dyn Fn() -> DateTime<Utc> + Sync),
    pub stop: Option<&'a CancellationToken>,
    pub progress: &'a dyn Progress,
}

/// What one pass works with, for each of its mails.
pub(super) struct Pass<'a> {
    pub(super) mail: &'a Mail,
    pub(super) store: &'a Store,
    pub(super) campaign: &'a Campaign,
    pub(super) reminders: &'a [Duration],
    pub(super) links: &'a Links,
    pub(super) driver: &'a Driver<'a>,
    /// Set when the mail server is down or unusable: no further mail is started.
    pub(super) halted: AtomicBool,
}

impl Pass<'_> {
    /// Whether no further mail is to be started: the server is unusable, or a clean stop.
    pub(super) fn stopping(&self) -> bool {
        self.halted.load(Ordering::Relaxed) || self.driver.stop.is_some_and(CancellationToken::is_cancelled)
    }
}

/// A mail due now: to whom, which, and under which row of the store.
pub(super) struct Job {
    pub(super) target: Target,
    pub(super) kind: Kind,
    pub(super) row: Row,
    pub(super) with_link: bool,
}
