//! Benchmark of the password policy: breached-password index build and lookups (warm, cold,
//! against an in-memory HashSet baseline), process RSS for a small and a large index, and full
//! policy checks without and with argon2 history verification.
//!
//! Run through `scripts/bench-policy` (release build). Needs in Cargo.toml:
//! `[[bench]] name = "policy" harness = false`. Options: `--lines N` (default 10,000,000,
//! ~450 MB of input), `--small-lines N` (default 100,000), `--dir DIR` (default
//! `target/bench-policy`), `--keep` (keep the generated files). Measures, never asserts.
#![cfg_attr(test, allow(dead_code, unused))] // compiled as an empty libtest bench until harness = false

use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pwresetd::policy::breach::{self, BreachIndex};
use pwresetd::policy::{CheckInput, Password, Policy, PolicyConfig, Subject, hash_for_history};

/// Every SAMPLE_EVERY-th generated hash is remembered for "present" lookups.
const SAMPLE_EVERY: u64 = 100;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn hash(&mut self) -> [u8; 20] {
        let mut h = [0u8; 20];
        for chunk in h.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        h
    }
}

struct Options {
    lines: u64,
    small_lines: u64,
    dir: PathBuf,
    keep: bool,
}

fn parse_options() -> Options {
    let mut o = Options {
        lines: 10_000_000,
        small_lines: 100_000,
        dir: "target/bench-policy".into(),
        keep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--lines" => o.lines = args.next().and_then(|v| v.parse().ok()).unwrap_or(o.lines),
            "--small-lines" => o.small_lines = args.next().and_then(|v| v.parse().ok()).unwrap_or(o.small_lines),
            "--dir" => o.dir = args.next().map(PathBuf::from).unwrap_or(o.dir),
            "--keep" => o.keep = true,
            "--bench" => {} // passed by `cargo bench`
            other => eprintln!("ignoring unknown argument {other:?}"),
        }
    }
    o
}

/// Writes `lines` random HIBP lines (unsorted, uppercase hex, CRLF like the real download);
/// returns a sample of the hashes written.
fn generate(path: &Path, lines: u64, seed: u64) -> std::io::Result<Vec<[u8; 20]>> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut rng = Rng(seed);
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut sample = Vec::with_capacity((lines / SAMPLE_EVERY) as usize + 1);
    let mut line = Vec::with_capacity(64);
    for i in 0..lines {
        let h = rng.hash();
        if i % SAMPLE_EVERY == 0 {
            sample.push(h);
        }
        line.clear();
        for b in h {
            line.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
        // Counts skewed like the real list: mostly small.
        let count = 1 + (rng.next() % 1000).pow(2) / 1000;
        write!(line, ":{count}\r\n")?;
        out.write_all(&line)?;
    }
    out.flush()?;
    Ok(sample)
}

/// The hashes [`generate`] writes, replayed from the same seed.
fn replay(lines: u64, seed: u64) -> impl Iterator<Item = [u8; 20]> {
    let mut rng = Rng(seed);
    (0..lines).map(move |_| {
        let h = rng.hash();
        rng.next(); // the count
        h
    })
}

/// The most hashes the in-memory baseline holds.
const BASELINE_MAX: u64 = 20_000_000;

/// Free bytes on the file system holding `dir` (`df`); `None` when it cannot be read.
fn free_bytes(dir: &Path) -> Option<u64> {
    let out = std::process::Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().nth(1)?.trim().parse().ok()
}

fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn drop_page_cache() -> bool {
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

fn per_second(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

/// Child mode: open `index`, do lookups of `probes` random hashes, print RSS before/after.
fn lookup_child(index: &Path, probes: usize) {
    let (rss0, _) = rss_kib();
    let Ok(idx) = BreachIndex::open(index) else {
        return println!("cannot open {}", index.display());
    };
    let (rss_open, _) = rss_kib();
    let mut rng = Rng(99);
    let mut hits = 0u32;
    for _ in 0..probes {
        hits += u32::from(matches!(idx.lookup(&rng.hash()), Ok(Some(_))));
    }
    let (rss_end, hwm) = rss_kib();
    println!("{rss0} {rss_open} {rss_end} {hwm} {hits}");
}

fn child_rss(index: &Path, probes: usize) -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let out = std::process::Command::new(exe)
        .args(["--lookup-child", &index.display().to_string(), &probes.to_string()])
        .output();
    match out {
        Ok(o) => {
            let v: Vec<u64> = String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|s| s.parse().ok())
                .collect();
            match v.as_slice() {
                [start, open, end, hwm, _] => format!(
                    "VmRSS start {start} KiB, after open {open} KiB, after {probes} lookups {end} KiB (VmHWM {hwm} KiB)"
                ),
                _ => format!("child failed: {}", String::from_utf8_lossy(&o.stderr)),
            }
        }
        Err(e) => format!("child failed: {e}"),
    }
}

fn time_lookups(idx: &BreachIndex, hashes: &[[u8; 20]]) -> (Duration, usize) {
    let start = Instant::now();
    let found = hashes.iter().filter(|h| matches!(idx.lookup(h), Ok(Some(_)))).count();
    (start.elapsed(), found)
}

fn build_index(input: &Path, output: &Path) -> Option<(Duration, breach::BuildStats)> {
    let start = Instant::now();
    match breach::build(input, output, &mut |_| {}) {
        Ok(stats) => Some((start.elapsed(), stats)),
        Err(e) => {
            println!("build failed: {e}");
            None
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--lookup-child") {
        let probes = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(100_000);
        return lookup_child(Path::new(args.get(2).map(String::as_str).unwrap_or_default()), probes);
    }
    let o = parse_options();
    if let Err(e) = std::fs::create_dir_all(&o.dir) {
        return println!("cannot create {}: {e}", o.dir.display());
    }
    println!(
        "# pwresetd policy benchmark ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let large = run_index_bench(&o, "large", o.lines, 1);
    let small = run_index_bench(&o, "small", o.small_lines, 2);
    if let (Some(large), Some(_)) = (&large, &small) {
        run_cold(large);
        run_check_bench(large);
    }
    if !o.keep {
        let _ = std::fs::remove_dir_all(&o.dir);
    }
}

struct Built {
    index: PathBuf,
    sample: Vec<[u8; 20]>,
}

fn run_index_bench(o: &Options, name: &str, lines: u64, seed: u64) -> Option<Built> {
    let input = o.dir.join(format!("{name}.txt"));
    let index = o.dir.join(format!("{name}.idx"));
    // ~47 bytes per input line, ~22 per index entry, plus the build's spilled runs: ask for
    // twice the input's size free before writing anything.
    let needed = lines.saturating_mul(47 * 2);
    match free_bytes(&o.dir) {
        Some(free) if free < needed => {
            println!(
                "\n## {name} index skipped: {lines} lines need ~{} GB free in {}, only {} GB are",
                needed / 1_000_000_000,
                o.dir.display(),
                free / 1_000_000_000
            );
            return None;
        }
        _ => {}
    }
    let start = Instant::now();
    let sample = generate(&input, lines, seed).ok()?;
    let input_mb = std::fs::metadata(&input).map_or(0, |m| m.len()) / 1_000_000;
    println!(
        "\n## {name} index: {lines} unsorted lines, {input_mb} MB of input, generated in {:.1?}",
        start.elapsed()
    );
    let (elapsed, stats) = build_index(&input, &index)?;
    let index_mb = std::fs::metadata(&index).map_or(0, |m| m.len()) as f64 / 1e6;
    // The process has so far only generated (streaming) and built: its high-water mark is the
    // build's peak (the small index is built after the large one, so this holds for both).
    println!(
        "build: {elapsed:.2?} ({:.0} lines/s), {} entries, {} runs spilled, index {index_mb:.1} MB, \
         peak RSS so far {:.0} MB",
        per_second(lines as usize, elapsed),
        stats.entries,
        stats.spilled_runs,
        rss_kib().1 as f64 / 1024.0
    );
    let _ = std::fs::remove_file(&input);
    let idx = BreachIndex::open(&index).ok()?;
    let mut rng = Rng(7);
    let absent: Vec<[u8; 20]> = (0..sample.len().max(10_000)).map(|_| rng.hash()).collect();
    let _ = time_lookups(&idx, &sample); // warm the page cache
    let (t_present, found) = time_lookups(&idx, &sample);
    let (t_absent, false_hits) = time_lookups(&idx, &absent);
    let (rss_before, _) = rss_kib();
    // The baseline holds at most BASELINE_MAX hashes (~60 bytes each in a HashSet): at 100M it
    // would need 6 GB. Past that it is a set of the first BASELINE_MAX; the sample's hashes
    // beyond them are then counted as absent by it, which does not change its cost per lookup.
    let set: HashSet<[u8; 20]> = replay(lines.min(BASELINE_MAX), seed).collect();
    let set_mb = rss_kib().0.saturating_sub(rss_before) as f64 / 1024.0;
    let start = Instant::now();
    let set_found = sample.iter().chain(&absent).filter(|h| set.contains(*h)).count();
    let t_set = start.elapsed();
    let warm = per_second(sample.len() + absent.len(), t_present + t_absent);
    let baseline = per_second(sample.len() + absent.len(), t_set);
    println!(
        "warm lookups: present {:.0}/s ({found}/{} found), absent {:.0}/s ({false_hits} false hits); \
         all {warm:.0}/s = {:.1} µs each",
        per_second(sample.len(), t_present),
        sample.len(),
        per_second(absent.len(), t_absent),
        1e6 / warm
    );
    println!(
        "baseline: HashSet<[u8;20]> of {} hashes in memory (+{set_mb:.0} MB RSS): \
         {baseline:.0}/s ({set_found} found); an index lookup costs {:.1}x a HashSet lookup",
        set.len(),
        baseline / warm
    );
    drop(set);
    println!("RSS of a process doing 100,000 lookups: {}", child_rss(&index, 100_000));
    println!(
        "table: | breached index, {lines} hashes: warm lookup (build {elapsed:.0?}, {index_mb:.0} MB) | {:.1} µs | \
         HashSet in memory {:.2} µs | x{:.1} |",
        1e6 / warm,
        1e6 / baseline,
        baseline / warm
    );
    Some(Built { index, sample })
}

fn run_cold(large: &Built) {
    println!("\n## cold lookups (large index)");
    let Ok(idx) = BreachIndex::open(&large.index) else {
        return;
    };
    if !drop_page_cache() {
        println!("could not write /proc/sys/vm/drop_caches (not root or read-only /proc): cold figures skipped");
        return;
    }
    let probes: Vec<[u8; 20]> = large.sample.iter().step_by(37).take(2_000).copied().collect();
    let mut times: Vec<Duration> = probes
        .iter()
        .map(|h| {
            let start = Instant::now();
            let _ = idx.lookup(h);
            start.elapsed()
        })
        .collect();
    times.sort();
    let total: Duration = times.iter().sum();
    println!(
        "after drop_caches: {} lookups, mean {:.1?}, median {:.1?}, p99 {:.1?} ({:.0}/s)",
        times.len(),
        total / times.len() as u32,
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        per_second(times.len(), total)
    );
}

fn time_checks(policy: &Policy, history: &[String], n: usize) -> Duration {
    let subject = Subject {
        login: "jdoe".into(),
        given_name: Some("John".into()),
        surname: Some("Doe".into()),
        display_name: Some("John Doe".into()),
        mail: vec!["john.doe@example.org".into()],
    };
    let mut rng = Rng(5);
    let words = [
        "violet", "tractor", "harbour", "sleepy", "wobbles", "quartz", "meadow", "lantern",
    ];
    let start = Instant::now();
    for _ in 0..n {
        let phrase: Vec<&str> = (0..5).map(|_| words[(rng.next() % 8) as usize]).collect();
        let password = Password::new(phrase.join(" "));
        let input = CheckInput {
            password: &password,
            current: None,
            history,
            subject: &subject,
        };
        let _ = policy.check(&input);
    }
    start.elapsed() / n as u32
}

fn run_check_bench(large: &Built) {
    println!("\n## full policy check (defaults + large breach index)");
    let Ok(idx) = BreachIndex::open(&large.index) else {
        return;
    };
    let policy = Policy::from_parts(PolicyConfig::default(), None, Some(idx));
    let start = Instant::now();
    // Entries as written before the account salt (one salt each), and as written now (each new
    // entry takes the newest entry's salt).
    let legacy: Vec<String> = (0..5)
        .filter_map(|i| hash_for_history(&Password::new(format!("old password number {i}")), &[]).ok())
        .collect();
    println!("hash_for_history: {:.1?} each", start.elapsed() / 5);
    let mut shared: Vec<String> = Vec::new();
    for i in 0..5 {
        if let Ok(entry) = hash_for_history(&Password::new(format!("old password number {i}")), &shared) {
            shared.insert(0, entry);
        }
    }
    let without = time_checks(&policy, &[], 200);
    let with_legacy = time_checks(&policy, &legacy, 40);
    let with_shared = time_checks(&policy, &shared, 40);
    println!("check without history: {without:.2?}");
    println!(
        "check with history N=5, 5 legacy salts (all verified, no match): {with_legacy:.2?} = {:.0}x the check without",
        with_legacy.as_secs_f64() / without.as_secs_f64()
    );
    println!(
        "check with history N=5, one account salt: {with_shared:.2?} = {:.0}x the check without, {:.2}x the legacy check",
        with_shared.as_secs_f64() / without.as_secs_f64(),
        with_shared.as_secs_f64() / with_legacy.as_secs_f64()
    );
    println!(
        "table: | policy check, history of 5 (one account salt) | {with_shared:.1?} | 5 legacy salts {with_legacy:.1?} | x{:.2} |",
        with_shared.as_secs_f64() / with_legacy.as_secs_f64()
    );
    println!(
        "=> one argon2 computation ≈ {:.2?}",
        (with_legacy.saturating_sub(without)) / 5
    );
}
