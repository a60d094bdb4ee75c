//! The breached-password index: a compact, sorted, on-disk form of the HIBP "Pwned Passwords"
//! SHA-1 list, built once by `pwresetd breach-index build` ([`build`]) and queried by
//! [`BreachIndex::lookup`].
//!
//! Owns the file format below; must not know about rules or messages.
//!
//! # Format (version 1, all integers little-endian)
//!
//! | offset        | size                | content                                           |
//! |---------------|---------------------|---------------------------------------------------|
//! | 0             | 8                   | magic `PWRBRIDX`                                  |
//! | 8             | 4                   | version (1)                                       |
//! | 12            | 4                   | entry size in bytes (22)                          |
//! | 16            | 8                   | entry count *n*                                   |
//! | 24            | 8                   | reserved (0)                                      |
//! | 32            | 65,536 × 8          | fan-out: entry index where each 2-byte prefix ends |
//! | 524,320       | *n* × 22            | entries sorted by hash                            |
//!
//! An entry is the last 18 bytes of the SHA-1 (the first 2 are implied by the fan-out bucket)
//! and the count as a u32. Why this shape:
//! * The full remaining hash is kept, so a hit is exact: the refusal message quotes a count,
//!   and a false positive would tell someone their fresh password was breached. Truncating to
//!   8 bytes would save 40% of the file at a ~n/2⁸⁰ false-positive rate; not worth the doubt.
//! * A u32 count: the most common password is seen ~50 million times, far below 2³²; larger
//!   inputs saturate. A u8 log-scale would lose the number the message shows.
//! * Fixed-width entries make the file seekable without an offset table; SHA-1 is uniform,
//!   so a 2-byte fan-out splits 1 billion hashes into buckets of ~15,000 entries (330 KB), and
//!   interpolating inside a bucket usually lands within one 4 KiB read.
//! * Full HIBP (~0.93 billion hashes) is ~20.5 GB; 10 million hashes, 220 MB.
//!
//! # Why positioned reads instead of mmap
//! The crate forbids `unsafe`, and `memmap2::Mmap::map` is `unsafe` (the file could change
//! under the mapping). A lookup instead keeps the 512 KiB fan-out in memory and does
//! `pread(2)` (`FileExt::read_exact_at`) of one 4 KiB window into a stack buffer: usually one
//! system call and one or two page-cache pages, no allocation, and `&self` lookups are safe
//! from many threads. The kernel's page cache does the caching mmap would have done, and the
//! process RSS stays flat whatever the index size (the benchmark shows it).

mod build;
mod index;
mod parse;

pub use build::{BuildError, BuildOptions, BuildProgress, BuildStats, build, build_with};
pub use index::{BreachIndex, IndexError};
pub use parse::LineProblem;

/// File magic.
pub(crate) const MAGIC: [u8; 8] = *b"PWRBRIDX";
/// Format version written and accepted.
pub(crate) const VERSION: u32 = 1;
/// Bytes of hash kept per entry (the first 2 are the fan-out bucket).
pub(crate) const SUFFIX_LEN: usize = 18;
/// Bytes per entry: hash suffix and u32 count.
pub(crate) const ENTRY_LEN: usize = SUFFIX_LEN + 4;
/// Header size.
pub(crate) const HEADER_LEN: u64 = 32;
/// Number of fan-out buckets (2 leading bytes).
pub(crate) const FANOUT_LEN: usize = 1 << 16;
/// Where the entries start.
pub(crate) const ENTRIES_OFFSET: u64 = HEADER_LEN + (FANOUT_LEN as u64) * 8;

/// The SHA-1 of a password, as the index stores it.
pub fn sha1(text: &str) -> [u8; 20] {
    use sha1::Digest;
    sha1::Sha1::digest(text.as_bytes()).into()
}

/// The fan-out bucket of a hash.
pub(crate) fn bucket(hash: &[u8; 20]) -> usize {
    usize::from(u16::from_be_bytes([hash[0], hash[1]]))
}

/// The header bytes for `entries` entries.
pub(crate) fn header(entries: u64) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(ENTRY_LEN as u32).to_le_bytes());
    h[16..24].copy_from_slice(&entries.to_le_bytes());
    h
}
