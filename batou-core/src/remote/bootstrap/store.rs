//! The controller's copies of the agents it has shipped, so the next
//! build can be sent as a delta against one a host still caches.
//!
//! One file per agent, named by its sha256, in a directory of the
//! project (`.batou/agents/`); the `agent_cache_keep` newest stay. A copy
//! is checked against its name before a delta is built on it, so a
//! damaged one costs a full upload, never a wrong agent (the target checks
//! the result's hash as well).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::binary::AgentBinary;

/// The agents this controller has shipped.
#[derive(Debug, Clone)]
pub(super) struct Store<'a> {
    pub(super) dir: &'a Path,
    pub(super) keep: usize,
}

impl Store<'_> {
    fn path(&self, hash: &str) -> PathBuf {
        self.dir.join(hash)
    }

    /// Keeps a copy of `binary` (once; later calls only mark it the
    /// newest) and removes all but the `keep` newest. Best effort: a
    /// store that cannot be written only costs later deltas. A copy, not
    /// a hard link: touching a link would change the controller's own
    /// file (and the identity its cached self-hash is keyed on).
    pub(super) fn put(&self, binary: &AgentBinary) {
        let path = self.path(&binary.hash);
        let have =
            std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() == binary.size);
        if have {
            let _ = std::fs::File::options()
                .append(true)
                .open(&path)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
        } else if std::fs::create_dir_all(self.dir).is_ok()
            && let Ok(tmp) = tempfile::NamedTempFile::new_in(self.dir)
            && std::fs::copy(&binary.path, tmp.path()).is_ok()
        {
            let _ = tmp.persist(&path);
        }
        self.prune();
    }

    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(self.dir) else {
            return;
        };
        let mut agents: Vec<(std::time::SystemTime, PathBuf)> = entries
            .flatten()
            .filter(|e| is_hash(&e.file_name().to_string_lossy()))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        agents.sort_by_key(|a| std::cmp::Reverse(a.0));
        for (_, path) in agents.into_iter().skip(self.keep.max(1)) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// The newest of `hashes` that the store holds intact.
    pub(super) fn base_among(&self, hashes: &[String]) -> Option<(String, PathBuf)> {
        let mut found: Vec<(std::time::SystemTime, &String)> = hashes
            .iter()
            .filter(|h| is_hash(h))
            .filter_map(|h| {
                let m = std::fs::symlink_metadata(self.path(h)).ok()?;
                m.is_file().then_some((m.modified().ok()?, h))
            })
            .collect();
        found.sort_by_key(|a| std::cmp::Reverse(a.0));
        // Checked once per process and version of the file: every host
        // missing the agent asks.
        type Seen = (PathBuf, u64, std::time::SystemTime);
        static CHECKED: std::sync::Mutex<Vec<Seen>> = std::sync::Mutex::new(Vec::new());
        found.into_iter().find_map(|(modified, h)| {
            let path = self.path(h);
            let len = std::fs::symlink_metadata(&path).ok()?.len();
            let seen = (path.clone(), len, modified);
            let mut checked = CHECKED.lock().unwrap_or_else(|p| p.into_inner());
            if checked.contains(&seen) {
                return Some((h.clone(), path));
            }
            let bytes = std::fs::read(&path).ok()?;
            let sum: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if &sum == h {
                checked.push(seen);
                Some((h.clone(), path))
            } else {
                let _ = std::fs::remove_file(&path);
                None
            }
        })
    }
}

fn is_hash(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_only_intact_copies() {
        let dir = tempfile::tempdir().unwrap();
        let store_dir = dir.path().join("store");
        let store = Store {
            dir: &store_dir,
            keep: 2,
        };
        let mut hashes = Vec::new();
        for i in 0..3 {
            let p = dir.path().join(format!("bin{i}"));
            std::fs::write(&p, format!("agent {i}")).unwrap();
            let b = AgentBinary::from_path(&p, "Linux", "x86_64").unwrap();
            store.put(&b);
            hashes.push(b.hash);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!store_dir.join(&hashes[0]).exists(), "the oldest is gone");
        assert_eq!(std::fs::read_dir(&store_dir).unwrap().count(), 2);
        let (h, _) = store.base_among(&hashes).unwrap();
        assert_eq!(h, hashes[2], "the newest base is chosen");
        std::fs::write(store_dir.join(&hashes[2]), b"damaged").unwrap();
        let (h, _) = store.base_among(&hashes).unwrap();
        assert_eq!(h, hashes[1], "a damaged copy is skipped");
        assert!(!store_dir.join(&hashes[2]).exists(), "and removed");
    }
}
