//! What each host said it runs, remembered between deploys in
//! `target/batou-agents/platforms` (one `address<TAB>os arch` line per
//! host), so the controller offers each host the agent for its platform
//! on the first try: a mixed fleet (x86_64 and aarch64) costs no extra
//! round trip on a no-op deploy, and after a rebuild the agents for known
//! platforms are built before their hosts are asked again.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The remembered platforms, and the file they are kept in.
#[derive(Debug)]
pub struct HostPlatforms {
    file: Option<PathBuf>,
    known: Mutex<BTreeMap<String, (String, String)>>,
}

impl HostPlatforms {
    /// Reads `file` (missing or unreadable: nothing remembered).
    pub fn load(file: &Path) -> HostPlatforms {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let known = text
            .lines()
            .filter_map(|line| {
                let (address, platform) = line.split_once('\t')?;
                let (os, arch) = platform.split_once(' ')?;
                Some((address.to_string(), (os.to_string(), arch.to_string())))
            })
            .collect();
        HostPlatforms {
            file: Some(file.to_path_buf()),
            known: Mutex::new(known),
        }
    }

    /// Remembers nothing, keeps nothing.
    pub fn none() -> HostPlatforms {
        HostPlatforms {
            file: None,
            known: Mutex::new(BTreeMap::new()),
        }
    }

    /// `(os, arch)` the host at `address` said it runs, last time.
    pub fn get(&self, address: &str) -> Option<(String, String)> {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(address)
            .cloned()
    }

    /// Every remembered platform, once each.
    pub fn distinct(&self) -> Vec<(String, String)> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<_> = known.values().cloned().collect();
        all.sort();
        all.dedup();
        all
    }

    /// Remembers what the host at `address` runs; the file is rewritten
    /// (atomically; best effort) only when that is news.
    pub fn learn(&self, address: &str, os: &str, arch: &str) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let platform = (os.to_string(), arch.to_string());
        if address.contains(['\t', '\n']) || known.get(address) == Some(&platform) {
            return;
        }
        known.insert(address.to_string(), platform);
        let Some(file) = &self.file else { return };
        let text: String = known
            .iter()
            .map(|(a, (os, arch))| format!("{a}\t{os} {arch}\n"))
            .collect();
        let Some(dir) = file.parent() else { return };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir)
            && tmp.write_all(text.as_bytes()).is_ok()
        {
            let _ = tmp.persist(file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_learned_in_one_run_are_known_in_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agents/platforms");
        let first = HostPlatforms::load(&file);
        assert_eq!(first.get("web1.example.com"), None);
        first.learn("web1.example.com", "Linux", "x86_64");
        first.learn("arm1.example.com", "Linux", "aarch64");
        first.learn("web2.example.com", "Linux", "x86_64");
        // Odd addresses are not kept (they would break the file).
        first.learn("bad\taddress", "Linux", "x86_64");
        let next = HostPlatforms::load(&file);
        assert_eq!(
            next.get("arm1.example.com"),
            Some(("Linux".into(), "aarch64".into()))
        );
        assert_eq!(next.get("bad\taddress"), None);
        assert_eq!(
            next.distinct(),
            [
                ("Linux".to_string(), "aarch64".to_string()),
                ("Linux".to_string(), "x86_64".to_string())
            ]
        );
        // A host that changed its platform is remembered anew.
        next.learn("arm1.example.com", "Linux", "x86_64");
        assert_eq!(
            HostPlatforms::load(&file).get("arm1.example.com"),
            Some(("Linux".into(), "x86_64".into()))
        );
        assert_eq!(HostPlatforms::none().get("web1.example.com"), None);
    }
}
