//! Files too big to hold in memory: read as a stream, or written in pieces
//! (a download) that only appear at their path once complete and checked.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::beneath::At;
use super::{Host, HostError, fail, parent_dir};

/// A temp file beside its final path. Write to it, then [`StagedFile::commit`]
/// renames it into place atomically; dropping it uncommitted deletes it, so
/// an aborted or rejected write leaves nothing behind and the previous file
/// (if any) untouched.
///
/// ```
/// use std::io::Write;
/// let dir = tempfile::tempdir().unwrap();
/// let host = batou_core::host::Host::local();
/// let mut staged = host.stage(&dir.path().join("big.bin")).unwrap();
/// staged.write_all(b"chunk").unwrap();
/// staged.commit(Some(0o644)).unwrap();
/// ```
pub struct StagedFile {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
    /// Where `path` is reached (see `Host::beneath`).
    at: At,
    /// The host it was staged on (to record how to undo the commit).
    host: Host,
}

impl Host {
    /// The file opened for reading, or `None` if nothing is there.
    pub fn open(&self, path: &Path) -> Result<Option<fs::File>, HostError> {
        match self.open_file(path) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(fail("open", path)(e)),
        }
    }

    /// Starts writing `path` through a temp file in its directory.
    pub fn stage(&self, path: &Path) -> Result<StagedFile, HostError> {
        let dir = parent_dir(path);
        let at = self
            .entry(path)
            .map_err(fail("create a temporary file in", dir))?;
        let tmp = tempfile::Builder::new()
            .prefix(".batou-tmp-")
            .tempfile_in(&at.dir)
            .map_err(fail("create a temporary file in", dir))?;
        Ok(StagedFile {
            tmp,
            path: path.to_path_buf(),
            at,
            host: self.clone(),
        })
    }
}

impl StagedFile {
    /// Where the file will end up.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs the bytes and renames the file into place. `mode` defaults to
    /// the existing file's mode, else 0644.
    pub fn commit(self, mode: Option<u32>) -> Result<(), HostError> {
        let path = self.path;
        let at = self.at;
        let existing = fs::symlink_metadata(&at.path)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.permissions().mode() & 0o7777);
        let mode = mode.or(existing).unwrap_or(0o644);
        fs::set_permissions(self.tmp.path(), fs::Permissions::from_mode(mode))
            .map_err(fail("chmod", &path))?;
        self.tmp.as_file().sync_all().map_err(fail("sync", &path))?;
        let seen = self.host.stat(&path)?;
        self.host.note("replace", &path, &at.path, seen.as_ref())?;
        self.tmp
            .persist(&at.path)
            .map_err(|e| fail("replace", &path)(e.error))?;
        if let Ok(d) = fs::File::open(&at.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Write for StagedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tmp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.tmp.flush()
    }
}
