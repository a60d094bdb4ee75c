//! What the benchmarks share, so that each sets up and measures the same way: numbers from the
//! command line, milliseconds, the env files of the fixtures the bench scripts start (slapd,
//! PostgreSQL), CPU time from /proc, percentiles; the portal benches' set-up and load
//! ([`portal`]) and the search benches' accounts and timing ([`search`]). Each bench includes
//! it with `mod common;` (a folder with `mod.rs` is not a bench target of its own). Prints
//! nothing and never asserts a timing: benchmarks print figures.
#![allow(dead_code)] // each bench uses its part

pub mod portal;
pub mod search;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use pwresetd::secret::Secret;
use pwresetd::store::config::PgConfig;

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The number after `name` on the command line, else `default`; stops on one that is not a
/// number (a typo must not silently run the default size).
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a whole number, not {v:?}"))
        })
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `KEY=value` lines of a fixture's env file, whose path is in the variable `var` (set by
/// `scripts/<script>`).
pub fn env_file(var: &str, script: &str) -> Res<HashMap<String, String>> {
    let path = std::env::var(var).map_err(|_| format!("{var} is not set: run scripts/{script}"))?;
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('\'').to_owned()))
        .collect())
}

/// The private PostgreSQL of `scripts/pg-start`'s env file `pg`.
pub fn pg_config(pg: &HashMap<String, String>) -> Res<PgConfig> {
    let password = Secret::from_file(Path::new(&pg["PWRESETD_TEST_PG_PASSWORD_FILE"]))?;
    let ca = pg["PWRESETD_TEST_PG_CA"].clone().into();
    Ok(PgConfig::new(&pg["PWRESETD_TEST_PG_URL"], password, Some(ca), false)?)
}

/// CPU seconds (user + system) used so far by process `pid` ("self" for this one).
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<f64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0.0)).collect();
    let ticks = fields.get(11).unwrap_or(&0.0) + fields.get(12).unwrap_or(&0.0);
    ticks / 100.0 // USER_HZ is 100 on Linux
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The `p` quantile (0 to 1) of `sorted`.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}
