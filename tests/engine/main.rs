//! The middle test tier: the campaign runner, the daemon's worker, leases and the mail schedule,
//! against an in-memory directory (`common::fake_directory`) and a real SQLite store in a temp
//! dir, on tokio's paused time: hours and days of schedule run in milliseconds, and no server is
//! needed (plain `cargo test --test engine`). What the real directories do stays tested against
//! real servers (`tests/campaign.rs`, `resume.rs`, `reconcile.rs`, `notify_campaign.rs`…).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

#[path = "../common/mod.rs"]
mod common;
mod deadline;
mod reminders;
mod runner;
mod support;
mod worker;
