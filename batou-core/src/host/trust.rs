//! Whether a directory may hold what batou writes below it (a deploy
//! lock, the deployment's files): nobody but its owner (the deploying
//! user or root) may change what is in it, or they could swap an entry
//! for a symlink to somewhere batou would then write.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// `Err` (naming `dir`, `what` it was to hold and why) unless `dir`
/// belongs to the effective user or root and neither its group nor others
/// may write to it, unless the sticky bit stops them from touching others'
/// entries (as in `/tmp`).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// assert!(batou_core::host::check_dir(dir.path(), "the deployment").is_ok());
/// ```
pub fn check_dir(dir: &Path, what: &str) -> std::io::Result<()> {
    let meta = std::fs::metadata(dir)?;
    let mode = meta.mode();
    let others_write = mode & 0o022 != 0;
    let sticky = mode & 0o1000 != 0;
    let refuse = |why: String| {
        std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("refusing to keep {what} in {}: {why}", dir.display()),
        )
    };
    // SAFETY: geteuid cannot fail and touches no memory.
    let uid = unsafe { libc::geteuid() };
    if meta.uid() != uid && meta.uid() != 0 {
        return Err(refuse(format!(
            "it belongs to uid {}, not to us",
            meta.uid()
        )));
    }
    if others_write && !sticky {
        return Err(refuse(format!(
            "other users may write to it (mode {:o})",
            mode & 0o7777
        )));
    }
    Ok(())
}
