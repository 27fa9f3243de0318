//! The journal file: one JSON record per line, oldest first.
//!
//! Every write replaces the whole file: the records are read, the new one
//! added (or an open record of the same deploy replaced), the oldest
//! dropped until at most [`MAX_RECORDS`] records of at most [`MAX_BYTES`]
//! remain, and the result written to a private temporary file in the same
//! directory that is then renamed over the journal. A reader, or a crash,
//! sees the old journal or the new one, never half of one; and the file
//! never grows past the bound, however many deploys there are.

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::record::Record;

/// The newest records kept.
pub const MAX_RECORDS: usize = 200;
/// The most bytes a journal holds (a record names at most 50 changed
/// components, so 200 records fit unless component names are long).
pub const MAX_BYTES: usize = 1 << 20;

/// The journal's name, in the deploy lock's directory.
pub const FILE_NAME: &str = "history.jsonl";

/// Why a record could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot keep the deploy history in {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing to use {} as the deploy history: {why}", .path.display())]
    Unsafe { path: PathBuf, why: String },
}

/// The journal next to the deploy lock `lock`.
pub fn journal_beside(lock: &Path) -> PathBuf {
    lock.parent()
        .map_or_else(|| PathBuf::from(FILE_NAME), |d| d.join(FILE_NAME))
}

/// The records of a journal's text, and what was wrong with the lines
/// that are not records (`line N: why`). Blank lines are skipped.
pub fn parse_journal(text: &str) -> (Vec<Record>, Vec<String>) {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) => records.push(r),
            Err(e) => problems.push(format!("line {}: {e}", i + 1)),
        }
    }
    (records, problems)
}

/// Reads the journal at `path` (none yet: no records). Lines that are
/// not records are dropped (a journal written by a newer batou, or
/// damaged by hand, must not stop deploys).
pub fn read_journal(path: &Path) -> Result<Vec<Record>, JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(unsafe_journal(path, "it is a symlink"));
        }
        Err(e) => return Err(io(e)),
    };
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(unsafe_journal(path, "it is not a regular file"));
    }
    // SAFETY: geteuid cannot fail and touches no memory.
    let uid = unsafe { libc::geteuid() };
    if meta.uid() != uid {
        return Err(unsafe_journal(
            path,
            &format!("it belongs to uid {}, not to us", meta.uid()),
        ));
    }
    let mut text = String::new();
    // Never more than a journal may hold (plus slack for one record).
    file.by_ref()
        .take(2 * MAX_BYTES as u64)
        .read_to_string(&mut text)
        .map_err(io)?;
    Ok(parse_journal(&text).0)
}

fn unsafe_journal(path: &Path, why: &str) -> JournalError {
    JournalError::Unsafe {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

/// Adds `record` to the journal at `path`, replacing a record of the same
/// deploy and host (an open record is closed this way), and drops the
/// oldest beyond the bounds. The directory is created private (0700) and
/// must not be writable by others; the file is 0600.
pub fn write_record(path: &Path, record: &Record) -> Result<(), JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io)?;
    crate::host::check_dir(dir, "the deploy history").map_err(|e| JournalError::Unsafe {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    let mut records = read_journal(path)?;
    match records
        .iter_mut()
        .find(|r| r.id == record.id && r.host == record.host)
    {
        Some(old) => *old = record.clone(),
        None => records.push(record.clone()),
    }
    let text = bounded(&records);
    // tempfile creates it 0600, in the journal's directory (so the rename
    // stays on one file system), and removes it if anything fails.
    let mut tmp = tempfile::Builder::new()
        .prefix(".history.")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    use std::io::Write;
    tmp.write_all(text.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    // The rename itself survives a crash only once the directory is synced.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The newest records (oldest first) that fit the bounds, as lines.
fn bounded(records: &[Record]) -> String {
    let lines: Vec<String> = records
        .iter()
        .filter_map(|r| serde_json::to_string(r).ok())
        .collect();
    let mut kept = 0;
    let mut bytes = 0;
    for line in lines.iter().rev() {
        if kept == MAX_RECORDS || bytes + line.len() + 1 > MAX_BYTES {
            break;
        }
        kept += 1;
        bytes += line.len() + 1;
    }
    let mut text = String::with_capacity(bytes);
    for line in &lines[lines.len() - kept..] {
        text.push_str(line);
        text.push('\n');
    }
    text
}
