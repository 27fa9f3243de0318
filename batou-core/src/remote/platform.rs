//! Which OS and architecture a binary is built for, in `uname -s` /
//! `uname -m` terms, so the controller can tell before starting it whether
//! a binary can run on a host.

use std::io::Read;
use std::path::Path;

/// `(os, arch)` of this process, as `uname` names them.
pub fn current() -> (String, String) {
    let os = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        "freebsd" => "FreeBSD",
        "openbsd" => "OpenBSD",
        "netbsd" => "NetBSD",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86" => "i686",
        "arm" => "armv7l",
        other => other,
    };
    (os.to_string(), arch.to_string())
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
