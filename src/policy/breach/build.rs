//! Building an index from a HIBP "Pwned Passwords" SHA-1 file ([`build`]).
//!
//! Input may be sorted or not: lines are parsed into runs of bounded memory
//! ([`BuildOptions::run_entries`]), each sorted and, when there is more than one, spilled to a
//! temporary file beside the output; the runs are then merged (k-way, a binary heap) into the
//! index. Duplicate hashes keep the **maximum** count: duplicates come from concatenating
//! editions of the list, where a sum would count the same sightings twice. The index is written
//! to a temporary file and renamed into place, so a failed build never leaves a half index
//! under the real name. Temporary files are removed on success and on error.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::parse::{LineProblem, parse_line};
use super::{ENTRIES_OFFSET, FANOUT_LEN, bucket, header};

type Record = ([u8; 20], u32);
const RECORD_LEN: usize = 24;
/// Progress is reported every this many lines or entries.
const PROGRESS_EVERY: u64 = 1 << 16;

/// Tuning for [`build_with`].
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Entries held in memory per sorted run (24 bytes each). Default 4 Mi entries, ~96 MiB.
    pub run_entries: usize,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self { run_entries: 4 << 20 }
    }
}

/// Reported while building, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildProgress {
    /// Parsing the input: bytes read so far of `total`.
    Reading { bytes: u64, total: u64 },
    /// Writing the index: entries merged so far of at most `total` (duplicates shrink it).
    Writing { entries: u64, total: u64 },
}

/// What a build did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildStats {
    /// Hash lines read (blank lines excluded).
    pub lines: u64,
    /// Distinct hashes written.
    pub entries: u64,
    /// Lines whose hash had already been seen.
    pub duplicates: u64,
    /// Sorted runs spilled to temporary files (0 when the input fit in memory).
    pub spilled_runs: usize,
}

/// A build failed. Each message names the file; a bad line gives its number.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("opening {}: {source}", path.display())]
    OpenInput { path: PathBuf, source: std::io::Error },
    #[error("reading {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: line {line}: {problem}", path.display())]
    Line {
        path: PathBuf,
        line: u64,
        problem: LineProblem,
    },
    #[error("{} holds no password hashes", path.display())]
    Empty { path: PathBuf },
    #[error("writing {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// Builds the index at `output` from the HIBP file `input` with default options.
pub fn build(input: &Path, output: &Path, progress: &mut dyn FnMut(BuildProgress)) -> Result<BuildStats, BuildError> {
    build_with(input, output, &BuildOptions::default(), progress)
}

/// Removes the files it holds when dropped (temporary runs and the unfinished index).
struct TempFiles(Vec<PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path); // best effort: it may already be renamed or gone
        }
    }
}

fn temp_path(output: &Path, suffix: &str) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!(".{name}.{}.{suffix}", std::process::id()))
}

/// [`build`] with explicit options.
pub fn build_with(
    input: &Path,
    output: &Path,
    options: &BuildOptions,
    progress: &mut dyn FnMut(BuildProgress),
) -> Result<BuildStats, BuildError> {
    let open_err = |source| BuildError::OpenInput {
        path: input.to_path_buf(),
        source,
    };
    let file = File::open(input).map_err(open_err)?;
    let total = file.metadata().map_err(open_err)?.len();
    let mut temps = TempFiles(Vec::new());
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Write { path, source }
    };

    let (mut run, lines) = read_runs(input, file, total, options, output, &mut temps, progress)?;
    if lines == 0 {
        return Err(BuildError::Empty {
            path: input.to_path_buf(),
        });
    }
    let spilled_runs = temps.0.len();
    let tmp_index = temp_path(output, "tmp");
    temps.0.push(tmp_index.clone());
    let mut writer = IndexWriter::create(&tmp_index).map_err(write_err(&tmp_index))?;
    let mut report = |entries| {
        if entries % PROGRESS_EVERY == 0 {
            progress(BuildProgress::Writing { entries, total: lines });
        }
    };
    if spilled_runs == 0 {
        run.sort_unstable();
        for record in run {
            writer.push(record).map_err(write_err(&tmp_index))?;
            report(writer.entries);
        }
    } else {
        drop(run);
        merge(&temps.0[..spilled_runs], &mut writer, &mut report)
            .map_err(|(path, source)| BuildError::Write { path, source })?;
    }
    let entries = writer.finish().map_err(write_err(&tmp_index))?;
    progress(BuildProgress::Writing { entries, total: lines });
    std::fs::rename(&tmp_index, output).map_err(write_err(output))?;
    Ok(BuildStats {
        lines,
        entries,
        duplicates: lines - entries,
        spilled_runs,
    })
}

/// Parses the input; spills full runs to temporary files (recorded in `temps`). Returns the
/// last, unspilled run (the whole input when nothing was spilled) and the number of records.
fn read_runs(
    input: &Path,
    file: File,
    total: u64,
    options: &BuildOptions,
    output: &Path,
    temps: &mut TempFiles,
    progress: &mut dyn FnMut(BuildProgress),
) -> Result<(Vec<Record>, u64), BuildError> {
    let capacity = options.run_entries.max(1);
    let estimate = usize::try_from(total / 45).unwrap_or(capacity); // ~45 bytes a line
    let mut run: Vec<Record> = Vec::with_capacity(capacity.min(estimate + 1));
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(64);
    let (mut line_no, mut bytes, mut records) = (0u64, 0u64, 0u64);
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|source| BuildError::Read {
            path: input.to_path_buf(),
            source,
        })?;
        if n == 0 {
            break;
        }
        (line_no, bytes) = (line_no + 1, bytes + n as u64);
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        match parse_line(body) {
            Ok(Some(record)) => run.push(record),
            Ok(None) => continue,
            Err(problem) => {
                return Err(BuildError::Line {
                    path: input.to_path_buf(),
                    line: line_no,
                    problem,
                });
            }
        }
        records += 1;
        if run.len() >= capacity {
            let path = temp_path(output, &format!("run{}", temps.0.len()));
            temps.0.push(path.clone());
            spill(&mut run, &path).map_err(|source| BuildError::Write { path, source })?;
        }
        if line_no % PROGRESS_EVERY == 0 {
            progress(BuildProgress::Reading { bytes, total });
        }
    }
    if !temps.0.is_empty() && !run.is_empty() {
        let path = temp_path(output, &format!("run{}", temps.0.len()));
        temps.0.push(path.clone());
        spill(&mut run, &path).map_err(|source| BuildError::Write { path, source })?;
    }
    progress(BuildProgress::Reading { bytes, total });
    Ok((run, records))
}

/// Sorts `run`, writes it as 24-byte records and empties it.
fn spill(run: &mut Vec<Record>, path: &Path) -> std::io::Result<()> {
    run.sort_unstable();
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    for (hash, count) in run.drain(..) {
        out.write_all(&hash)?;
        out.write_all(&count.to_le_bytes())?;
    }
    out.flush()
}

fn next_record(reader: &mut BufReader<File>) -> std::io::Result<Option<Record>> {
    let mut buf = [0u8; RECORD_LEN];
    match reader.read_exact(&mut buf) {
        Ok(()) => {
            let (hash, count) = buf.split_at(20);
            let mut h = [0u8; 20];
            h.copy_from_slice(hash);
            let mut c = [0u8; 4];
            c.copy_from_slice(count);
            Ok(Some((h, u32::from_le_bytes(c))))
        }
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// K-way merge of sorted run files into `writer`. Errors carry the file they concern.
fn merge(
    runs: &[PathBuf],
    writer: &mut IndexWriter,
    report: &mut dyn FnMut(u64),
) -> Result<(), (PathBuf, std::io::Error)> {
    let mut readers = Vec::with_capacity(runs.len());
    let mut heap = BinaryHeap::with_capacity(runs.len());
    for (i, path) in runs.iter().enumerate() {
        let file = File::open(path).map_err(|e| (path.clone(), e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        if let Some((hash, count)) = next_record(&mut reader).map_err(|e| (path.clone(), e))? {
            heap.push(Reverse((hash, count, i)));
        }
        readers.push(reader);
    }
    while let Some(Reverse((hash, count, i))) = heap.pop() {
        writer.push((hash, count)).map_err(|e| (writer.path.clone(), e))?;
        report(writer.entries);
        if let Some((h, c)) = next_record(&mut readers[i]).map_err(|e| (runs[i].clone(), e))? {
            heap.push(Reverse((h, c, i)));
        }
    }
    Ok(())
}

/// Writes sorted records as index entries, merging equal hashes (max count), then the header
/// and fan-out once the counts are known.
struct IndexWriter {
    path: PathBuf,
    out: BufWriter<File>,
    counts: Vec<u64>,
    pending: Option<Record>,
    /// Distinct hashes seen so far (including the pending one).
    entries: u64,
}

impl IndexWriter {
    fn create(path: &Path) -> std::io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        std::io::copy(&mut std::io::repeat(0).take(ENTRIES_OFFSET), &mut out)?;
        let counts = vec![0; FANOUT_LEN];
        Ok(Self {
            path: path.to_path_buf(),
            out,
            counts,
            pending: None,
            entries: 0,
        })
    }

    fn push(&mut self, (hash, count): Record) -> std::io::Result<()> {
        match &mut self.pending {
            Some((h, c)) if *h == hash => *c = (*c).max(count),
            pending => {
                if let Some(done) = pending.replace((hash, count)) {
                    self.write(done)?;
                }
                self.entries += 1;
            }
        }
        Ok(())
    }

    fn write(&mut self, (hash, count): Record) -> std::io::Result<()> {
        self.counts[bucket(&hash)] += 1;
        self.out.write_all(&hash[2..])?;
        self.out.write_all(&count.to_le_bytes())
    }

    /// Flushes, writes header and fan-out, syncs. Returns the number of entries.
    fn finish(mut self) -> std::io::Result<u64> {
        if let Some(done) = self.pending.take() {
            self.write(done)?;
        }
        let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        let mut head = BufWriter::new(&mut file);
        head.write_all(&header(self.entries))?;
        let mut cumulative = 0u64;
        for count in &self.counts {
            cumulative += count;
            head.write_all(&cumulative.to_le_bytes())?;
        }
        head.flush()?;
        drop(head);
        file.sync_all()?;
        Ok(self.entries)
    }
}
