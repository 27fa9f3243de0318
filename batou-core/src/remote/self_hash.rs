//! The controller's own hash, remembered between runs: hashing a binary of
//! several megabytes costs each deploy milliseconds of CPU, while the same
//! build deploys again and again. An entry is used only while the file's
//! device, inode, size, modification and change times are all as they
//! were when it was hashed (the change time cannot be set back by anyone
//! but root), so a rebuilt or replaced binary is always hashed afresh.
//! Best effort: without a cache directory, or on any error, it hashes.

use std::hash::{Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// `$XDG_CACHE_HOME/batou/self-hash` or `~/.cache/batou/self-hash`.
fn dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => super::whoami::home()?.join(".cache"),
    };
    Some(base.join("batou").join("self-hash"))
}

/// One file per binary path.
fn entry(dir: &Path, path: &Path) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    dir.join(format!("{:016x}", h.finish()))
}

/// What identifies this exact file content without reading it.
fn identity(path: &Path) -> Option<(String, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((
        format!(
            "{} {} {} {}.{} {}.{} {}",
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
            path.display()
        ),
        m.size(),
    ))
}

/// The remembered `(hash, size)` of `path`, if it is still that file.
pub(crate) fn lookup(path: &Path) -> Option<(String, u64)> {
    lookup_in(&dir()?, path)
}

/// Remembers `hash` for `path` (atomically; errors are ignored).
pub(crate) fn store(path: &Path, hash: &str) {
    if let Some(dir) = dir() {
        store_in(&dir, path, hash)
    }
}

fn lookup_in(dir: &Path, path: &Path) -> Option<(String, u64)> {
    let (id, size) = identity(path)?;
    let text = std::fs::read_to_string(entry(dir, path)).ok()?;
    let (hash, rest) = text.trim_end_matches('\n').split_once(' ')?;
    (rest == id && hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| (hash.to_string(), size))
}

fn store_in(dir: &Path, path: &Path, hash: &str) {
    let Some((id, _)) = identity(path) else {
        return;
    };
    let entry = entry(dir, path);
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) {
        use std::io::Write;
        if writeln!(tmp, "{hash} {id}").is_ok() {
            let _ = tmp.persist(&entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_a_hash_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let bin = dir.path().join("bin");
        std::fs::write(&bin, b"abc").unwrap();
        assert_eq!(lookup_in(&cache, &bin), None);
        let hash = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        store_in(&cache, &bin, hash);
        assert_eq!(lookup_in(&cache, &bin), Some((hash.to_string(), 3)));
        // Rewritten (even with the same size): its times differ, so it is
        // hashed again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&bin, b"abd").unwrap();
        assert_eq!(lookup_in(&cache, &bin), None);
        // Another binary has its own entry.
        let other = dir.path().join("other");
        std::fs::write(&other, b"abc").unwrap();
        assert_eq!(lookup_in(&cache, &other), None);
    }

    #[test]
    fn a_garbled_entry_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::write(&bin, b"abc").unwrap();
        let (id, _) = identity(&bin).unwrap();
        std::fs::write(entry(dir.path(), &bin), format!("not-a-hash {id}\n")).unwrap();
        assert_eq!(lookup_in(dir.path(), &bin), None);
    }
}
