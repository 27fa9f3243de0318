//! Batched durability for [`super::Host::local_batched`]: writes stay
//! atomic, their `fsync`s wait for the end of a root.
//!
//! Two kinds of kernel work per written file need not hold up the deploy
//! and go to a background thread: starting the new file's writeback, and
//! freeing the inode it replaced (the rename drops the last name of the
//! old file; the kernel frees its blocks when the last reference goes,
//! which is then the background thread's, not the rename's). On two
//! cores, that overlaps with rendering and writing the next files.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Mutex, PoisonError};

use super::{HostError, fail};

/// Batched syncs per thread of [`Batch::sync`] (below that, a thread costs
/// more than it saves), and at most this many threads.
const SYNCS_PER_WORKER: usize = 16;
const MAX_SYNC_WORKERS: usize = 32;

/// Writes since the last [`Batch::sync`], and the background thread.
#[derive(Debug, Default)]
pub(super) struct Batch {
    unsynced: Mutex<Unsynced>,
    /// Started with the first write.
    background: Mutex<Option<SyncSender<Job>>>,
}

#[derive(Debug, Default)]
struct Unsynced {
    files: Vec<PathBuf>,
    dirs: BTreeSet<PathBuf>,
}

#[derive(Debug)]
enum Job {
    /// The new file (already renamed into place): start its writeback.
    Written(fs::File),
    /// The file that was replaced: closing it frees it.
    Replaced(fs::File),
    /// Answer once every job before this one is done.
    Drain(SyncSender<()>),
}

impl Batch {
    /// Opens what is at `path` now without reading it, so that replacing
    /// it does not free it inside the rename; `None` if nothing is there.
    #[cfg(target_os = "linux")]
    pub(super) fn hold(path: &Path) -> Option<fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
            .open(path)
            .ok()
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn hold(_path: &Path) -> Option<fs::File> {
        None
    }

    /// Records that `path` in `dir` was replaced by `written` (the renamed
    /// temp file), which replaced `held` (from [`Batch::hold`]).
    pub(super) fn written(
        &self,
        path: &Path,
        dir: &Path,
        written: fs::File,
        held: Option<fs::File>,
    ) {
        {
            let mut unsynced = self.unsynced.lock().unwrap_or_else(PoisonError::into_inner);
            unsynced.files.push(path.to_path_buf());
            unsynced.dirs.insert(dir.to_path_buf());
        }
        let mut background = self
            .background
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let tx = background.get_or_insert_with(spawn_background);
        for job in std::iter::once(Job::Written(written)).chain(held.map(Job::Replaced)) {
            // A background thread that is gone leaves the job to this one.
            if let Err(job) = tx.send(job) {
                run(job.0);
            }
        }
    }

    /// Makes every write since the last sync durable: each file, then each
    /// directory that got a new entry, is synced. A file replaced again
    /// meanwhile is synced once.
    pub(super) fn sync(&self) -> Result<(), HostError> {
        self.drain();
        let pending =
            std::mem::take(&mut *self.unsynced.lock().unwrap_or_else(PoisonError::into_inner));
        let mut seen = BTreeSet::new();
        let files: Vec<PathBuf> = pending
            .files
            .into_iter()
            .filter(|f| seen.insert(f.clone()))
            .collect();
        // Several syncs in flight at once: a journaling file system
        // commits them together and the disk sees a queue, not one request
        // after another (their data is already on its way, see `run`).
        let workers = (files.len() / SYNCS_PER_WORKER).clamp(1, MAX_SYNC_WORKERS);
        if workers == 1 {
            files.iter().try_for_each(|f| sync_file(f))?;
        } else {
            let chunk = files.len().div_ceil(workers);
            std::thread::scope(|scope| {
                let running: Vec<_> = files
                    .chunks(chunk)
                    .map(|part| scope.spawn(move || part.iter().try_for_each(|f| sync_file(f))))
                    .collect();
                // The scope joins every thread, also after a first error.
                running
                    .into_iter()
                    .try_for_each(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            })?;
        }
        for dir in pending.dirs {
            if let Ok(d) = fs::File::open(&dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Waits until the background thread has done every job so far.
    fn drain(&self) {
        let background = self
            .background
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = background.as_ref() {
            let (done, wait) = sync_channel(1);
            if tx.send(Job::Drain(done)).is_ok() {
                let _ = wait.recv();
            }
        }
    }
}

/// Jobs queued for the background thread at most: each holds a file
/// descriptor, and a writer that runs ahead waits rather than running out
/// of them.
const QUEUED_JOBS: usize = 128;

fn spawn_background() -> SyncSender<Job> {
    let (tx, rx) = sync_channel(QUEUED_JOBS);
    let spawned = std::thread::Builder::new()
        .name("batou-writeback".into())
        .spawn(move || background(rx));
    // Without a thread, every send fails and the writer does the jobs.
    if spawned.is_err() {
        return sync_channel(0).0;
    }
    tx
}

fn background(jobs: Receiver<Job>) {
    for job in jobs {
        run(job);
    }
}

fn run(job: Job) {
    match job {
        Job::Written(file) => start_writeback(&file),
        Job::Replaced(file) => drop(file),
        Job::Drain(done) => {
            let _ = done.send(());
        }
    }
}

/// `fsync` of the file at `path`; one that is gone was removed or replaced
/// by a later component and needs nothing.
fn sync_file(path: &Path) -> Result<(), HostError> {
    match fs::File::open(path) {
        Ok(f) => f.sync_all().map_err(fail("sync", path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fail("sync", path)(e)),
    }
}

/// Starts writing `file`'s data to the disk without waiting, so the
/// batched sync mostly finds it written: the disk works while the deploy
/// renders the next files, and the file system commits the allocations of
/// many files at once.
#[cfg(target_os = "linux")]
fn start_writeback(file: &fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain syscall on an open descriptor; a failure only loses
    // the head start (the sync still writes everything).
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &fs::File) {}
