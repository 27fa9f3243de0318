//! Which OS and architecture a binary is built for, in `uname -s` /
//! `uname -m` terms, so the controller can tell before starting it whether
//! a binary can run on a host.

use std::io::Read;
use std::path::Path;

/// The architectures `uname -m` spells two ways: (Linux's name, the
/// BSDs' and macOS's). The first is the normal form.
const ARCH_SPELLINGS: &[(&str, &str)] = &[("x86_64", "amd64"), ("aarch64", "arm64")];

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
    match std::env::consts::ARCH {
        "x86" => "i686",
        "arm" => "armv7l",
        other => other,
    }
}

/// `(os, arch)` of this process, as `uname` names them.
pub fn current() -> (String, String) {
    (local_os().to_string(), local_arch().to_string())
}

/// `arch` in its normal form, lowercase: `amd64` is `x86_64`, `arm64` is
/// `aarch64`.
pub fn normal_arch(arch: &str) -> String {
    let lower = arch.to_ascii_lowercase();
    match ARCH_SPELLINGS.iter().find(|(_, other)| *other == lower) {
        Some((normal, _)) => normal.to_string(),
        None => lower,
    }
}

/// The other spelling of a normal-form `arch`, if it has one (`x86_64`:
/// `amd64`).
pub fn other_spelling(arch: &str) -> Option<&'static str> {
    ARCH_SPELLINGS
        .iter()
        .find(|(normal, _)| *normal == arch)
        .map(|(_, other)| *other)
}

/// The Rust target triple to suggest for a host printing `os`/`arch`.
pub fn suggested_triple(os: &str, arch: &str) -> String {
    let arch = normal_arch(arch);
    match os {
        "Linux" => format!("{arch}-unknown-linux-musl"),
        "Darwin" => format!("{arch}-apple-darwin"),
        "FreeBSD" => format!("{arch}-unknown-freebsd"),
        other => format!("{arch}-unknown-{}", other.to_lowercase()),
    }
}

/// `(os, arch)` of an ELF executable, read from its header; `None` if the
/// file is not one we understand.
///
/// ```
/// let me = std::env::current_exe().unwrap();
/// assert_eq!(batou_core::remote::platform::of_binary(&me), Some(batou_core::remote::platform::current()));
/// ```
pub fn of_binary(path: &Path) -> Option<(String, String)> {
    let mut header = [0u8; 20];
    std::fs::File::open(path)
        .ok()?
        .read_exact(&mut header)
        .ok()?;
    if &header[..4] != b"\x7fELF" {
        return None;
    }
    let little = header[5] == 1;
    let machine = if little {
        u16::from_le_bytes([header[18], header[19]])
    } else {
        u16::from_be_bytes([header[18], header[19]])
    };
    let arch = match machine {
        0x03 => "i686",
        0x28 => "armv7l",
        0x3E => "x86_64",
        0xB7 => "aarch64",
        0xF3 => "riscv64",
        0x15 => "ppc64le",
        0x16 => "s390x",
        _ => return None,
    };
    // ELF OS/ABI is 0 (System V) for Linux binaries almost always; 9 is
    // FreeBSD.
    let os = match header[7] {
        9 => "FreeBSD",
        _ => "Linux",
    };
    Some((os.to_string(), arch.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_an_architecture_are_one() {
        assert_eq!(normal_arch("x86_64"), "x86_64");
        assert_eq!(normal_arch("amd64"), "x86_64");
        assert_eq!(normal_arch("AMD64"), "x86_64");
        assert_eq!(normal_arch("aarch64"), "aarch64");
        assert_eq!(normal_arch("arm64"), "aarch64");
        assert_eq!(normal_arch("riscv64"), "riscv64");
        assert_eq!(other_spelling("x86_64"), Some("amd64"));
        assert_eq!(other_spelling("aarch64"), Some("arm64"));
        assert_eq!(other_spelling("riscv64"), None);
    }

    #[test]
    fn this_machine_is_named_as_uname_names_it() {
        let uname = |flag: &str| {
            let out = std::process::Command::new("uname")
                .arg(flag)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        assert_eq!(local_os(), uname("-s"));
        assert_eq!(normal_arch(local_arch()), normal_arch(&uname("-m")));
        assert_eq!(current(), (uname("-s"), local_arch().to_string()));
    }

    #[test]
    fn triples_are_suggested_in_the_normal_spelling() {
        assert_eq!(
            suggested_triple("Linux", "aarch64"),
            "aarch64-unknown-linux-musl"
        );
        assert_eq!(suggested_triple("Darwin", "arm64"), "aarch64-apple-darwin");
        assert_eq!(
            suggested_triple("FreeBSD", "amd64"),
            "x86_64-unknown-freebsd"
        );
    }
}
