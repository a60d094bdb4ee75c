//! Breached-password index: building from generated HIBP-format files and looking hashes up.
//!
//! Covers sorted and unsorted input, the external merge (tiny runs), duplicates, CRLF, mixed
//! case, first/last entries, malformed lines (with their number) and damaged index files.

// Helpers outside #[test] fns are test code too; clippy.toml only exempts the #[test] fns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use pwresetd::policy::breach::{self, BreachIndex, BuildOptions, BuildProgress};

/// xorshift64*: deterministic hashes without a dependency.
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

fn hex(h: &[u8; 20]) -> String {
    h.iter().map(|b| format!("{b:02X}")).collect()
}

fn write_input(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("pwned.txt");
    std::fs::write(&path, text).unwrap();
    path
}

fn build_text(text: &str, run_entries: usize) -> Result<(BreachIndex, breach::BuildStats, tempfile::TempDir), String> {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), text);
    let output = dir.path().join("pwned.idx");
    let options = BuildOptions { run_entries };
    let stats = breach::build_with(&input, &output, &options, &mut |_| {})
        .map_err(|e| e.to_string().replace(&input.display().to_string(), "INPUT"))?;
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "temporary files left behind: {leftovers:?}");
    Ok((BreachIndex::open(&output).unwrap(), stats, dir))
}

/// A build of `text` must fail with `expected` (the input path shown as INPUT), with and
/// without spilling, and leave no files behind.
fn check_error(text: &str, expected: &str) {
    for run_entries in [1, 1 << 20] {
        let dir = tempfile::tempdir().unwrap();
        let input = write_input(dir.path(), text);
        let output = dir.path().join("pwned.idx");
        let options = BuildOptions { run_entries };
        let err = breach::build_with(&input, &output, &options, &mut |_| {}).unwrap_err();
        assert_eq!(err.to_string().replace(&input.display().to_string(), "INPUT"), expected);
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 1, "only the input should remain");
    }
}

#[test]
fn malformed_input_table() {
    let good = "000000005AD76BD555C1D6D771DE417A4B87E4B4:10\n";
    check_error(
        &format!("{good}{good}nonsense\n"),
        "INPUT: line 3: expected 40 hex digits, a colon and a count",
    );
    check_error(
        &format!("{good}\n{good}000000005AD76BD555C1D6D771DE417A4B87E4B4:ten\n"),
        "INPUT: line 4: the count after the colon must be a whole number",
    );
    check_error(
        "8846F7EAEE8FB117AD06BDD830B7586C:3\n",
        "INPUT: line 1: expected 40 hex digits (SHA-1) but found 32: this looks like the NTLM edition of Pwned Passwords; download the SHA-1 edition",
    );
    check_error("", "INPUT holds no password hashes");
    check_error("\r\n\n", "INPUT holds no password hashes");
}

/// Builds `lines` (as given) and expects each (hash, count) and absent hash.
fn check(text: &str, present: &[([u8; 20], u32)], absent: &[[u8; 20]]) {
    for run_entries in [1, 2, 3, 7, 1 << 20] {
        let (index, _, _dir) = build_text(text, run_entries).unwrap();
        for (h, count) in present {
            assert_eq!(
                index.lookup(h).unwrap(),
                Some(*count),
                "{} runs of {run_entries}",
                hex(h)
            );
        }
        for h in absent {
            assert_eq!(index.lookup(h).unwrap(), None, "{} runs of {run_entries}", hex(h));
        }
    }
}

#[test]
fn small_files_table() {
    let a = breach::sha1("password");
    let b = breach::sha1("123456");
    let c = breach::sha1("correct horse battery staple");
    let zero = [0u8; 20];
    let ones = [0xFF; 20];
    let line = |h: &[u8; 20], n: u32| format!("{}:{n}\n", hex(h));
    // Sorted, unsorted, CRLF, lowercase.
    check(
        &format!("{}{}", line(&zero, 1), line(&ones, 2)),
        &[(zero, 1), (ones, 2)],
        &[a],
    );
    check(
        &format!("{}{}{}", line(&c, 3), line(&a, 1), line(&b, 2)),
        &[(a, 1), (b, 2), (c, 3)],
        &[zero, ones],
    );
    check(
        &format!("{}:7\r\n{}:8\r\n", hex(&a), hex(&b).to_lowercase()),
        &[(a, 7), (b, 8)],
        &[c],
    );
    // Duplicates keep the highest count, wherever they are.
    check(
        &format!("{}{}{}{}", line(&a, 5), line(&b, 1), line(&a, 9), line(&a, 2)),
        &[(a, 9), (b, 1)],
        &[c],
    );
    // No trailing newline; blank lines skipped.
    check(
        &format!("\n{}\n{}:4", line(&a, 3).trim_end(), hex(&b)),
        &[(a, 3), (b, 4)],
        &[c],
    );
    // Same 2-byte bucket, neighbouring hashes.
    let mut near = a;
    near[19] ^= 1;
    check(&line(&a, 1), &[(a, 1)], &[near]);
}

#[test]
fn stats_count_duplicates_and_runs() {
    let a = hex(&breach::sha1("a"));
    let b = hex(&breach::sha1("b"));
    let text = format!("{a}:1\n{b}:1\n{a}:3\n\n{b}:2\n");
    let (_, stats, _dir) = build_text(&text, 2).unwrap();
    assert_eq!(
        (stats.lines, stats.entries, stats.duplicates, stats.spilled_runs),
        (4, 2, 2, 2)
    );
    let (_, stats, _dir) = build_text(&text, 100).unwrap();
    assert_eq!(
        (stats.lines, stats.entries, stats.duplicates, stats.spilled_runs),
        (4, 2, 2, 0)
    );
}

/// Many random hashes (sorted and shuffled input, one and many runs): every one is found with
/// its count, first and last included; random others are not.
#[test]
fn generated_file_round_trip() {
    let mut rng = Rng(42);
    let mut entries: Vec<([u8; 20], u32)> = (0..20_000).map(|i| (rng.hash(), i as u32 + 1)).collect();
    // Crowd one bucket so lookups exercise interpolation across several windows.
    for i in 0..3_000u32 {
        let mut h = rng.hash();
        h[0] = 0xAB;
        h[1] = 0xCD;
        entries.push((h, i));
    }
    let shuffled: String = entries.iter().map(|(h, n)| format!("{}:{n}\n", hex(h))).collect();
    let mut sorted_entries = entries.clone();
    sorted_entries.sort();
    let sorted: String = sorted_entries
        .iter()
        .map(|(h, n)| format!("{}:{n}\r\n", hex(h)))
        .collect();
    for (text, run_entries) in [(&shuffled, 1 << 20), (&shuffled, 1_000), (&sorted, 4_096)] {
        let mut progress = Vec::new();
        let dir = tempfile::tempdir().unwrap();
        let input = write_input(dir.path(), text);
        let output = dir.path().join("idx");
        let stats = breach::build_with(&input, &output, &BuildOptions { run_entries }, &mut |p| {
            progress.push(p)
        })
        .unwrap();
        assert_eq!(stats.entries, entries.len() as u64);
        assert!(matches!(
            progress.last(),
            Some(BuildProgress::Writing {
                entries: 23_000,
                total: 23_000
            })
        ));
        let index = BreachIndex::open(&output).unwrap();
        assert_eq!(index.len(), 23_000);
        for (h, n) in &entries {
            assert_eq!(index.lookup(h).unwrap(), Some(*n));
        }
        let (first, last) = (sorted_entries[0], sorted_entries[sorted_entries.len() - 1]);
        assert_eq!(index.lookup(&first.0).unwrap(), Some(first.1));
        assert_eq!(index.lookup(&last.0).unwrap(), Some(last.1));
        for _ in 0..5_000 {
            let mut h = rng.hash();
            if rng.next() % 2 == 0 {
                (h[0], h[1]) = (0xAB, 0xCD);
            }
            assert_eq!(index.lookup(&h).unwrap(), None);
        }
    }
}

fn check_open_error(bytes: &[u8], expected_start: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idx");
    std::fs::write(&path, bytes).unwrap();
    let err = BreachIndex::open(&path)
        .unwrap_err()
        .to_string()
        .replace(&path.display().to_string(), "IDX");
    assert!(err.starts_with(expected_start), "{err}");
}

#[test]
fn damaged_index_table() {
    let (_, _, dir) = build_text(&format!("{}:1\n", hex(&breach::sha1("x"))), 10).unwrap();
    let good = std::fs::read(dir.path().join("pwned.idx")).unwrap();
    check_open_error(b"", "IDX is not a breached-password index");
    check_open_error(
        b"hello world, this is not an index",
        "IDX is not a breached-password index",
    );
    check_open_error(
        &good[..100],
        "the breached-password index IDX is damaged (shorter than its header)",
    );
    check_open_error(
        &good[..good.len() - 1],
        "the breached-password index IDX is damaged (its size does not match",
    );
    let mut v2 = good.clone();
    v2[8] = 2;
    check_open_error(
        &v2,
        "IDX is a breached-password index of format 2; this pwresetd reads format 1",
    );
    let mut bad_fanout = good.clone();
    bad_fanout[32..40].copy_from_slice(&5u64.to_le_bytes());
    check_open_error(
        &bad_fanout,
        "the breached-password index IDX is damaged (its fan-out table is inconsistent)",
    );
    let debug = format!("{:?}", BreachIndex::open(&dir.path().join("pwned.idx")).unwrap());
    assert!(debug.len() < 200, "Debug must not dump the fan-out: {debug}");
    let err = BreachIndex::open(Path::new("/nonexistent/idx"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("opening the breached-password index /nonexistent/idx: "),
        "{err}"
    );
}

#[test]
fn output_is_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("idx");
    let a = write_input(dir.path(), &format!("{}:1\n", hex(&breach::sha1("a"))));
    breach::build(&a, &output, &mut |_| {}).unwrap();
    std::fs::write(&a, "broken\n").unwrap();
    assert!(breach::build(&a, &output, &mut |_| {}).is_err());
    // The failed rebuild left the previous index intact.
    let index = BreachIndex::open(&output).unwrap();
    assert_eq!(index.lookup(&breach::sha1("a")).unwrap(), Some(1));
}
