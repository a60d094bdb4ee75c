//! The breached-password index reader (`policy::BreachIndex`) on corrupted files: a valid index
//! (built once by `breach::build_with`) with bytes overwritten, cut short or extended by the
//! input. Opening refuses the file or lookups answer (or fail with an error) — never a panic, a
//! hang or an out-of-bounds read. An untouched index finds every hash it holds.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pwresetd::policy::BreachIndex;
use pwresetd::policy::breach::{self, BuildOptions};

/// Hashes in the built index: 400 in one fan-out bucket (more than one 4 KiB window, so the
/// interpolation search runs) and 200 spread over others, with their counts.
fn entries() -> Vec<([u8; 20], u32)> {
    let mut out = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..600u32 {
        let mut h = [0u8; 20];
        for chunk in h.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bytes = x.to_be_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        if i < 400 {
            h[0] = 0x12;
            h[1] = 0x34;
        }
        out.push((h, i + 1));
    }
    out
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    bytes: Vec<u8>,
    entries: Vec<([u8; 20], u32)>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("temp dir");
        let entries = entries();
        let text: String = entries
            .iter()
            .map(|(h, n)| format!("{}:{n}\n", h.iter().map(|b| format!("{b:02X}")).collect::<String>()))
            .collect();
        let input = dir.path().join("hibp.txt");
        std::fs::write(&input, text).expect("write input");
        let built = dir.path().join("built.idx");
        breach::build_with(&input, &built, &BuildOptions::default(), &mut |_| {}).expect("build");
        let bytes = std::fs::read(&built).expect("read index");
        let path = dir.path().join("fuzzed.idx");
        Fixture {
            _dir: dir,
            path,
            bytes,
            entries,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let mut bytes = f.bytes.clone();
    // [mode][len: u32]? then (offset: u32, value: u8)*
    let (mode, mut rest) = data.split_first().map_or((0, &[][..]), |(m, r)| (*m, r));
    if mode & 3 != 0 && rest.len() >= 4 {
        let n = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        rest = &rest[4..];
        match mode & 3 {
            1 => bytes.truncate(n % (bytes.len() + 1)),
            2 => bytes.extend(std::iter::repeat_n(0xa5, n % 4096)),
            _ => bytes.truncate(32 + n % 64),
        }
    }
    let untouched = data.is_empty();
    for op in rest.chunks_exact(5) {
        if bytes.is_empty() {
            break;
        }
        let at = u32::from_le_bytes([op[0], op[1], op[2], op[3]]) as usize;
        // Half the writes go to the header and the fan-out table's ends, where checks live.
        let at = if at & 1 == 0 {
            (at >> 1) % bytes.len()
        } else {
            (at >> 1) % 64.min(bytes.len())
        };
        bytes[at] = op[4];
    }
    std::fs::write(&f.path, &bytes).expect("write the fuzzed index");
    let index = match BreachIndex::open(&f.path) {
        Ok(index) => index,
        Err(e) => {
            assert!(!untouched, "the untouched index was refused: {e}");
            return;
        }
    };
    let _ = index.len();
    for (i, (hash, count)) in f.entries.iter().enumerate().step_by(37) {
        let found = index.lookup(hash);
        if untouched {
            assert_eq!(found.ok().flatten(), Some(*count), "entry {i}");
        }
    }
    let _ = index.lookup(&breach::sha1(&String::from_utf8_lossy(data)));
    let mut absent = f.entries[0].0;
    absent[19] ^= 1;
    let _ = index.lookup(&absent);
});
