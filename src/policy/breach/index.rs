//! Opening and querying a built index ([`BreachIndex`]).
//!
//! Owns the lookup algorithm: fan-out bucket from memory, then interpolation search with
//! positioned 4 KiB reads into a stack buffer (see the format notes in the parent module).
//! Must not write to the file.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{ENTRIES_OFFSET, ENTRY_LEN, FANOUT_LEN, HEADER_LEN, MAGIC, SUFFIX_LEN, VERSION, bucket};

/// Entries read per probe: as many as fit in 4 KiB.
const WINDOW: u64 = (4096 / ENTRY_LEN) as u64;
/// Interpolation probes before falling back to bisection (bounds a hostile file's cost).
const INTERPOLATION_PROBES: u32 = 4;

/// An open breached-password index. Cheap to share: lookups take `&self`.
pub struct BreachIndex {
    path: PathBuf,
    file: File,
    fanout: Box<[u64]>,
    entries: u64,
}

/// The index cannot be opened or read. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("opening the breached-password index {}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{} is not a breached-password index (build one with `pwresetd breach-index build`)", path.display())]
    NotAnIndex { path: PathBuf },
    #[error("{} is a breached-password index of format {found}; this pwresetd reads format {VERSION}: rebuild it", path.display())]
    Version { path: PathBuf, found: u32 },
    #[error("the breached-password index {} is damaged ({reason}): rebuild it", path.display())]
    Corrupt { path: PathBuf, reason: &'static str },
    #[error("reading the breached-password index {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
}

impl std::fmt::Debug for BreachIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the 65,536-entry fan-out.
        f.debug_struct("BreachIndex")
            .field("path", &self.path)
            .field("entries", &self.entries)
            .finish()
    }
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

impl BreachIndex {
    /// Opens `path`, checks the header and size, and reads the fan-out table (512 KiB).
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        let path_buf = path.to_path_buf();
        let open = |source| IndexError::Open {
            path: path_buf.clone(),
            source,
        };
        let mut file = File::open(path).map_err(open)?;
        let size = file.metadata().map_err(open)?.len();
        let read_err = |source| IndexError::Read {
            path: path_buf.clone(),
            source,
        };
        let corrupt = |reason| IndexError::Corrupt {
            path: path_buf.clone(),
            reason,
        };

        let mut head = [0u8; HEADER_LEN as usize];
        if size < ENTRIES_OFFSET {
            file.read_exact(&mut head[..size.min(8) as usize]).map_err(read_err)?;
            if head[..8] != MAGIC {
                return Err(IndexError::NotAnIndex { path: path_buf.clone() });
            }
            return Err(corrupt("shorter than its header"));
        }
        file.read_exact(&mut head).map_err(read_err)?;
        if head[..8] != MAGIC {
            return Err(IndexError::NotAnIndex { path: path_buf.clone() });
        }
        let version = le_u32(&head[8..]);
        if version != VERSION {
            return Err(IndexError::Version {
                path: path_buf.clone(),
                found: version,
            });
        }
        if le_u32(&head[12..]) as usize != ENTRY_LEN {
            return Err(corrupt("unexpected entry size"));
        }
        let entries = le_u64(&head[16..]);
        let expected = entries
            .checked_mul(ENTRY_LEN as u64)
            .and_then(|n| n.checked_add(ENTRIES_OFFSET));
        if expected != Some(size) {
            return Err(corrupt("its size does not match its entry count"));
        }
        let mut raw = vec![0u8; FANOUT_LEN * 8];
        file.read_exact(&mut raw).map_err(read_err)?;
        let fanout: Box<[u64]> = raw.chunks_exact(8).map(le_u64).collect();
        let monotonic = fanout.windows(2).all(|w| w[0] <= w[1]);
        if !monotonic || fanout.last() != Some(&entries) {
            return Err(corrupt("its fan-out table is inconsistent"));
        }
        Ok(Self {
            path: path_buf,
            file,
            fanout,
            entries,
        })
    }

    /// Number of distinct hashes in the index.
    pub fn len(&self) -> u64 {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The breach count of `sha1`, or `None` when absent. One `pread` of at most 4 KiB in the
    /// usual case; no heap allocation.
    pub fn lookup(&self, sha1: &[u8; 20]) -> Result<Option<u32>, IndexError> {
        let b = bucket(sha1);
        let mut lo = if b == 0 { 0 } else { self.fanout[b - 1] };
        let mut hi = self.fanout[b];
        let suffix = &sha1[2..];
        let target = be_u64(suffix);
        // Bounds on the first 8 suffix bytes of the entries in [lo, hi), for interpolation.
        let (mut lo_key, mut hi_key) = (0u64, u64::MAX);
        let mut buf = [0u8; WINDOW as usize * ENTRY_LEN];
        let mut probes = 0;
        while lo < hi {
            let n = hi - lo;
            let (start, count) = if n <= WINDOW {
                (lo, n)
            } else {
                let guess = if probes < INTERPOLATION_PROBES {
                    let span = u128::from(hi_key.saturating_sub(lo_key)) + 1;
                    let offset = u128::from(target.saturating_sub(lo_key)) * u128::from(n) / span;
                    lo + u64::try_from(offset).unwrap_or(n - 1).min(n - 1)
                } else {
                    lo + n / 2
                };
                (guess.saturating_sub(WINDOW / 2).clamp(lo, hi - WINDOW), WINDOW)
            };
            probes += 1;
            let window = &mut buf[..count as usize * ENTRY_LEN];
            self.file
                .read_exact_at(window, ENTRIES_OFFSET + start * ENTRY_LEN as u64)
                .map_err(|source| IndexError::Read {
                    path: self.path.clone(),
                    source,
                })?;
            let first = &window[..SUFFIX_LEN];
            let last = &window[window.len() - ENTRY_LEN..][..SUFFIX_LEN];
            if suffix < first {
                (hi, hi_key) = (start, be_u64(first));
            } else if suffix > last {
                (lo, lo_key) = (start + count, be_u64(last));
            } else {
                return Ok(search_window(window, suffix));
            }
        }
        Ok(None)
    }
}

/// Binary search among the sorted entries of one window.
fn search_window(window: &[u8], suffix: &[u8]) -> Option<u32> {
    let (mut lo, mut hi) = (0, window.len() / ENTRY_LEN);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let entry = &window[mid * ENTRY_LEN..][..ENTRY_LEN];
        match entry[..SUFFIX_LEN].cmp(suffix) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(le_u32(&entry[SUFFIX_LEN..])),
        }
    }
    None
}
