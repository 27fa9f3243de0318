//! Keeping old files in the store and copying them back: hard links
//! where the file system allows, 0600 copies where it does not.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Keeps the file at `real` as `to`: a hard link, else a copy with the
/// same mode, owner and mtime.
pub(super) fn keep_file(real: &Path, to: &Path) -> std::io::Result<()> {
    match fs::hard_link(real, to) {
        Ok(()) => Ok(()),
        Err(_) => copy_file(real, to, &fs::symlink_metadata(real)?, true),
    }
}

pub(super) fn copy_file(
    from: &Path,
    to: &Path,
    meta: &fs::Metadata,
    keep: bool,
) -> std::io::Result<()> {
    let mut src = fs::File::open(from)?;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(to)?;
    std::io::copy(&mut src, &mut dst)?;
    let _ = std::os::unix::fs::fchown(&dst, Some(meta.uid()), Some(meta.gid()));
    // A kept file stays 0600 (it may be a secret); its mode is in the
    // record and put back with it. Copies back into place take theirs.
    if !keep {
        dst.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    let _ = dst.set_modified(mtime_of(meta.mtime(), meta.mtime_nsec() as u32));
    Ok(())
}

/// `t` as the (seconds, nanoseconds) of a stat's mtime.
pub(super) fn mtime_parts(t: SystemTime) -> (i64, u32) {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            if d.subsec_nanos() == 0 {
                (-(d.as_secs() as i64), 0)
            } else {
                (-(d.as_secs() as i64) - 1, 1_000_000_000 - d.subsec_nanos())
            }
        }
    }
}

pub(super) fn mtime_of(secs: i64, nanos: u32) -> SystemTime {
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
            + Duration::from_nanos(nanos.into())
    }
}

/// Copies the tree `from` to `to`: files hard-linked when `link` and
/// possible, else copied; directories and symlinks made anew with the
/// same mode and owner.
/// Returns the bytes of the files it kept. `keep` (recording): files are
/// hard-linked where possible, else kept as 0600 copies, directories
/// 0700; the modes of both (by path below `from`) are added to it.
/// `None` (restoring): copies with their modes.
pub(super) fn copy_tree(
    from: &Path,
    to: &Path,
    mut keep: Option<&mut Vec<(PathBuf, u32)>>,
) -> std::io::Result<u64> {
    copy_below(from, to, Path::new(""), &mut keep)
}

fn copy_below(
    from: &Path,
    to: &Path,
    rel: &Path,
    keep: &mut Option<&mut Vec<(PathBuf, u32)>>,
) -> std::io::Result<u64> {
    let meta = fs::symlink_metadata(from)?;
    let ft = meta.file_type();
    let mut bytes = 0;
    if ft.is_dir() {
        fs::DirBuilder::new().mode(0o700).create(to)?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            let name = entry.file_name();
            bytes += copy_below(&entry.path(), &to.join(&name), &rel.join(&name), keep)?;
        }
        let _ = std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()));
        match keep {
            // Kept 0700 in the store (what is below may be secret); its
            // mode comes back with the tree.
            Some(modes) => modes.push((rel.to_path_buf(), meta.mode() & 0o7777)),
            None => fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))?,
        }
        let _ = fs::File::open(to)
            .and_then(|d| d.set_modified(mtime_of(meta.mtime(), meta.mtime_nsec() as u32)));
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(from)?, to)?;
        let _ = std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()));
    } else if let Some(modes) = keep {
        if fs::hard_link(from, to).is_err() {
            copy_file(from, to, &meta, true)?;
            modes.push((rel.to_path_buf(), meta.mode() & 0o7777));
        }
        bytes += meta.len();
    } else {
        copy_file(from, to, &meta, false)?;
        bytes += meta.len();
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mtime_survives_the_trip_through_seconds_and_nanoseconds() {
        // Before the epoch too: a stat reports -1.25 s as (-2, 750000000).
        for (secs, nanos) in [
            (0, 0),
            (1_700_000_000, 123_456_789),
            (-2, 750_000_000),
            (-5, 0),
        ] {
            let t = mtime_of(secs, nanos);
            assert_eq!(mtime_parts(t), (secs, nanos), "{secs}.{nanos}");
        }
        assert_eq!(
            mtime_of(-2, 750_000_000),
            SystemTime::UNIX_EPOCH - Duration::from_millis(1250)
        );
    }
}
