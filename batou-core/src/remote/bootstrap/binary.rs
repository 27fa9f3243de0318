//! The agent executable: what it is (hash, size) and what it runs on.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

/// The executable the agent runs from, and what it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentBinary {
    /// The file uploaded to the targets.
    pub path: PathBuf,
    /// sha256 of the file, lowercase hex.
    pub hash: String,
    /// Its size in bytes.
    pub size: u64,
    /// The OS as `uname -s` prints it (`Linux`, `Darwin`, `FreeBSD`).
    pub os: String,
    /// The machine as `uname -m` prints it (`x86_64`, `aarch64`).
    pub arch: String,
}

impl AgentBinary {
    /// The running executable (the controller uploads itself). Hashed once
    /// per process.
    pub fn current() -> std::io::Result<AgentBinary> {
        static CURRENT: OnceLock<Mutex<Option<AgentBinary>>> = OnceLock::new();
        let cell = CURRENT.get_or_init(|| Mutex::new(None));
        let mut cached = cell.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(binary) = cached.as_ref() {
            return Ok(binary.clone());
        }
        let path = std::env::current_exe()?;
        let binary = match crate::remote::self_hash::lookup(&path) {
            Some((hash, size)) => AgentBinary {
                path,
                hash,
                size,
                os: local_os().to_string(),
                arch: local_arch().to_string(),
            },
            None => {
                let binary = AgentBinary::from_path(&path, local_os(), local_arch())?;
                crate::remote::self_hash::store(&binary.path, &binary.hash);
                binary
            }
        };
        *cached = Some(binary.clone());
        Ok(binary)
    }

    /// A binary built for `os`/`arch` (as `uname -s`/`uname -m` print
    /// them), e.g. one cross-compiled for the targets.
    pub fn from_path(path: &Path, os: &str, arch: &str) -> std::io::Result<AgentBinary> {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
        let hash = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(AgentBinary {
            path: path.to_path_buf(),
            hash,
            size,
            os: os.to_string(),
            arch: arch.to_string(),
        })
    }

    /// Whether a host whose `uname -s`/`uname -m` print `os`/`arch` can run
    /// this binary (`arm64` is `aarch64`, `amd64` is `x86_64`).
    pub fn runs_on(&self, os: &str, arch: &str) -> bool {
        self.os.eq_ignore_ascii_case(os)
            && normal_arch(&self.arch.to_lowercase()) == normal_arch(&arch.to_lowercase())
    }
}

pub(super) fn normal_arch(arch: &str) -> &str {
    match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    }
}

/// This machine's OS as `uname -s` prints it.
pub fn local_os() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        "freebsd" => "FreeBSD",
        "openbsd" => "OpenBSD",
        "netbsd" => "NetBSD",
        other => other,
    }
}

/// This machine's architecture as `uname -m` prints it on Linux.
pub fn local_arch() -> &'static str {
    std::env::consts::ARCH
}

/// The Rust target triple to suggest for a host printing `os`/`arch`.
pub(super) fn suggested_triple(os: &str, arch: &str) -> String {
    let arch = normal_arch(arch);
    match os {
        "Linux" => format!("{arch}-unknown-linux-musl"),
        "Darwin" => format!("{arch}-apple-darwin"),
        "FreeBSD" => format!("{arch}-unknown-freebsd"),
        other => format!("{arch}-unknown-{}", other.to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_compare_like_uname_prints_them() {
        let b = AgentBinary {
            path: PathBuf::from("/x"),
            hash: String::new(),
            size: 0,
            os: "Linux".into(),
            arch: "x86_64".into(),
        };
        assert!(b.runs_on("Linux", "x86_64"));
        assert!(b.runs_on("Linux", "amd64"));
        assert!(!b.runs_on("Linux", "aarch64"));
        assert!(!b.runs_on("Darwin", "x86_64"));
        assert_eq!(
            suggested_triple("Linux", "aarch64"),
            "aarch64-unknown-linux-musl"
        );
        assert_eq!(suggested_triple("Darwin", "arm64"), "aarch64-apple-darwin");
    }

    #[test]
    fn hashes_like_sha256sum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin");
        std::fs::write(&path, b"abc").unwrap();
        let b = AgentBinary::from_path(&path, "Linux", "x86_64").unwrap();
        assert_eq!(
            b.hash,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(b.size, 3);
    }
}
