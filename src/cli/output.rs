//! Small helpers for human-readable output.

use std::io::IsTerminal;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::engine::runner::Progress;

pub fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

pub fn json(value: &impl Serialize) -> Result<(), super::Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| super::Failure::new(super::EX_SOFTWARE, e))?;
    println!("{text}");
    Ok(())
}

/// A progress bar on stderr when it is a terminal, hidden otherwise; the engine reports to it.
pub struct Bar(ProgressBar);

impl Bar {
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn add_work(&self, n: u64) {
        self.0.inc_length(n);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

impl crate::notify::pass::Progress for Bar {
    fn add_work(&self, n: u64) {
        self.0.inc_length(n);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

pub fn progress_bar(message: &'static str) -> Arc<Bar> {
    Arc::new(Bar(terminal_bar(message)))
}

fn terminal_bar(message: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(message);
    bar
}
