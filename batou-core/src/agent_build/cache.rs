//! Built agents, kept in cargo's target directory by the hash of the
//! controller they were built with:
//!
//! ```text
//! target/batou-agents/<controller sha256>/<target triple>/<bin>
//! target/batou-agents/<controller sha256>/<target triple>/<bin>.sha256
//! ```
//!
//! The controller is built from the same sources just before it runs
//! (`./batou`), so an unchanged controller finds its agents here without
//! calling cargo at all, and any change to the deployment's code (a new
//! controller hash) builds them afresh. The `.sha256` file (in
//! `sha256sum`'s format) is written after the binary is hashed and moved
//! into place, so a found entry is complete and costs no hashing.

use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::remote::bootstrap::AgentBinary;

use super::triple::platform_of;

/// Controller builds whose agents are kept (the newest by use); older
/// ones are removed after a build.
pub const KEEP_CONTROLLERS: usize = 3;

/// `<target dir>/batou-agents`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCache {
    dir: PathBuf,
}

impl AgentCache {
    /// The cache in cargo's target directory `target_dir`.
    pub fn new(target_dir: &Path) -> AgentCache {
        AgentCache {
            dir: target_dir.join("batou-agents"),
        }
    }

    /// Where the platforms of hosts are remembered (see
    /// [`super::HostPlatforms`]).
    pub fn platforms_file(&self) -> PathBuf {
        self.dir.join("platforms")
    }

    /// The directory of the agents built with controller `controller`.
    pub fn controller_dir(&self, controller: &str) -> PathBuf {
        self.dir.join(controller)
    }

    fn entry(&self, controller: &str, triple: &str) -> PathBuf {
        self.controller_dir(controller).join(triple)
    }

    /// The agent built for `triple` with this controller, if there is one.
    pub fn lookup(&self, controller: &str, triple: &str, bin: &str) -> Option<AgentBinary> {
        let dir = self.entry(controller, triple);
        let text = fs::read_to_string(dir.join(format!("{bin}.sha256"))).ok()?;
        let hash = text.split_whitespace().next()?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let path = dir.join(bin);
        let size = fs::metadata(&path).ok().filter(|m| m.is_file())?.len();
        let (os, arch) = platform_of(triple);
        Some(AgentBinary {
            path,
            hash: hash.to_ascii_lowercase(),
            size,
            os,
            arch,
        })
    }

    /// Every agent built with this controller (one per target).
    pub fn all(&self, controller: &str, bin: &str) -> Vec<AgentBinary> {
        let Ok(entries) = fs::read_dir(self.controller_dir(controller)) else {
            return Vec::new();
        };
        let mut found: Vec<AgentBinary> = entries
            .flatten()
            .filter_map(|e| {
                let triple = e.file_name().into_string().ok()?;
                self.lookup(controller, &triple, bin)
            })
            .collect();
        found.sort_by(|a, b| a.path.cmp(&b.path));
        found
    }

    /// Copies the freshly built `built` into the cache as the agent for
    /// `triple`, hashing it on the way (a temp file renamed into place,
    /// then its `.sha256`), and marks this controller's agents as used.
    pub fn store(
        &self,
        controller: &str,
        triple: &str,
        bin: &str,
        built: &Path,
    ) -> std::io::Result<AgentBinary> {
        let dir = self.entry(controller, triple);
        fs::create_dir_all(&dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        std::io::copy(&mut fs::File::open(built)?, tmp.as_file_mut())?;
        tmp.as_file().sync_all()?;
        let (os, arch) = platform_of(triple);
        let mut binary = AgentBinary::from_path(tmp.path(), &os, &arch)?;
        fs::set_permissions(
            tmp.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        let path = dir.join(bin);
        tmp.persist(&path).map_err(|e| e.error)?;
        let mut sum = tempfile::NamedTempFile::new_in(&dir)?;
        writeln!(sum, "{}  {bin}", binary.hash)?;
        fs::set_permissions(
            sum.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )?;
        sum.persist(dir.join(format!("{bin}.sha256")))
            .map_err(|e| e.error)?;
        binary.path = path;
        self.touch(controller);
        Ok(binary)
    }

    /// Marks this controller's agents as just used (pruning keeps the
    /// newest).
    pub fn touch(&self, controller: &str) {
        let dir = self.controller_dir(controller);
        if let Ok(f) = fs::File::open(&dir) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
    }

    /// Removes the agents of all but the `keep` most recently used
    /// controllers (never `current`'s). Best effort.
    pub fn prune(&self, keep: usize, current: &str) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = entries
            .flatten()
            .filter(|e| e.file_name() != current && e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
        for (_, dir) in dirs.into_iter().skip(keep.saturating_sub(1)) {
            let _ = fs::remove_dir_all(dir);
        }
    }

    /// Waits for, then holds, the lock on building `triple` with this
    /// controller, so two batou runs build it once (the second finds the
    /// first's agent). Released when the file is dropped.
    pub fn lock(&self, controller: &str, triple: &str) -> std::io::Result<fs::File> {
        let dir = self.controller_dir(controller);
        fs::create_dir_all(&dir)?;
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{triple}.lock")))?;
        // SAFETY: flock(2) on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn a_stored_agent_is_found_with_its_hash_and_platform() {
        let dir = tempfile::tempdir().unwrap();
        let cache = AgentCache::new(dir.path());
        assert_eq!(cache.lookup(A, "aarch64-unknown-linux-musl", "b"), None);
        let built = dir.path().join("built");
        fs::write(&built, b"abc").unwrap();
        let stored = cache
            .store(A, "aarch64-unknown-linux-musl", "b", &built)
            .unwrap();
        assert_eq!(
            stored.hash,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            (stored.os.as_str(), stored.arch.as_str()),
            ("Linux", "aarch64")
        );
        assert_eq!(fs::read(&stored.path).unwrap(), b"abc");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&stored.path).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(
            cache.lookup(A, "aarch64-unknown-linux-musl", "b"),
            Some(stored.clone())
        );
        assert_eq!(cache.all(A, "b"), vec![stored]);
        // Another controller has none.
        assert_eq!(cache.all(&"b".repeat(64), "b"), vec![]);
        // The sum file is sha256sum's format.
        let sum = fs::read_to_string(
            cache
                .controller_dir(A)
                .join("aarch64-unknown-linux-musl/b.sha256"),
        )
        .unwrap();
        assert_eq!(
            sum,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  b\n"
        );
    }

    #[test]
    fn an_entry_without_its_sum_is_not_an_agent() {
        let dir = tempfile::tempdir().unwrap();
        let cache = AgentCache::new(dir.path());
        let entry = cache.controller_dir(A).join("x86_64-unknown-linux-musl");
        fs::create_dir_all(&entry).unwrap();
        fs::write(entry.join("b"), b"half").unwrap();
        assert_eq!(cache.lookup(A, "x86_64-unknown-linux-musl", "b"), None);
        fs::write(entry.join("b.sha256"), "not a hash  b\n").unwrap();
        assert_eq!(cache.lookup(A, "x86_64-unknown-linux-musl", "b"), None);
    }

    #[test]
    fn pruning_keeps_the_newest_controllers_and_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let cache = AgentCache::new(dir.path());
        let names: Vec<String> = (0..5).map(|i| format!("{i}").repeat(64)).collect();
        for (i, name) in names.iter().enumerate() {
            let d = cache.controller_dir(name);
            fs::create_dir_all(&d).unwrap();
            let t =
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000 + i as u64);
            fs::File::open(&d).unwrap().set_modified(t).unwrap();
        }
        // The oldest is the current one: it stays, with the two newest.
        cache.prune(3, &names[0]);
        let left: Vec<bool> = names
            .iter()
            .map(|n| cache.controller_dir(n).exists())
            .collect();
        assert_eq!(left, [true, false, false, true, true]);
    }
}
