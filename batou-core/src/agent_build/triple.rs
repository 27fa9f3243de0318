//! Which Rust target an agent for a host is built for, from what the host
//! says of itself (`uname -s`, `uname -m`).
//!
//! Linux hosts get a static musl build: it needs nothing from the host
//! but the kernel (no glibc of a given version, no OpenSSL), so one agent
//! serves every distribution of an architecture.

/// `(uname -m spellings, Rust target)` of the Linux architectures an
/// agent can be built for automatically. x86_64 and aarch64 are tested;
/// the others are the musl targets rustup ships a standard library for.
const LINUX: &[(&[&str], &str)] = &[
    (&["x86_64", "amd64"], "x86_64-unknown-linux-musl"),
    (&["aarch64", "arm64"], "aarch64-unknown-linux-musl"),
    (
        &["armv7l", "armv7", "armhf"],
        "armv7-unknown-linux-musleabihf",
    ),
    (&["i686", "i586", "i386", "x86"], "i686-unknown-linux-musl"),
    (&["riscv64"], "riscv64gc-unknown-linux-musl"),
    (&["ppc64le"], "powerpc64le-unknown-linux-musl"),
];

/// The target an agent for a host printing `os` / `arch` is built for
/// automatically; `None` for systems an agent is not built for (macOS,
/// the BSDs, unknown architectures: see [`suggested`]).
///
/// ```
/// use batou_core::agent_build::triple::automatic;
/// assert_eq!(automatic("Linux", "x86_64"), Some("x86_64-unknown-linux-musl"));
/// assert_eq!(automatic("Linux", "arm64"), Some("aarch64-unknown-linux-musl"));
/// assert_eq!(automatic("Darwin", "arm64"), None);
/// ```
pub fn automatic(os: &str, arch: &str) -> Option<&'static str> {
    if !os.eq_ignore_ascii_case("linux") {
        return None;
    }
    let arch = arch.to_ascii_lowercase();
    LINUX
        .iter()
        .find(|(names, _)| names.contains(&arch.as_str()))
        .map(|(_, triple)| *triple)
}

/// The target to name in an error for a host no agent is built for
/// automatically: the musl one for Linux, else the system's usual one.
pub fn suggested(os: &str, arch: &str) -> String {
    if let Some(triple) = automatic(os, arch) {
        return triple.to_string();
    }
    let arch = match arch.to_ascii_lowercase().as_str() {
        "amd64" => "x86_64".to_string(),
        "arm64" => "aarch64".to_string(),
        other => other.to_string(),
    };
    match os {
        "Linux" => format!("{arch}-unknown-linux-musl"),
        "Darwin" => format!("{arch}-apple-darwin"),
        "FreeBSD" => format!("{arch}-unknown-freebsd"),
        other => format!("{arch}-unknown-{}", other.to_lowercase()),
    }
}

/// `(os, arch)` as `uname -s` / `uname -m` print them on a host the
/// agent built for `triple` runs on.
pub fn platform_of(triple: &str) -> (String, String) {
    let arch = triple.split('-').next().unwrap_or(triple);
    let arch = match arch {
        "armv7" => "armv7l",
        "riscv64gc" => "riscv64",
        "powerpc64le" => "ppc64le",
        other => other,
    };
    let os = if triple.contains("-linux-") {
        "Linux"
    } else if triple.contains("-apple-") {
        "Darwin"
    } else if triple.contains("-freebsd") {
        "FreeBSD"
    } else {
        triple.rsplit('-').next().unwrap_or(triple)
    };
    (os.to_string(), arch.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_automatic_target_names_the_platform_it_was_chosen_for() {
        for (names, triple) in LINUX {
            for name in *names {
                assert_eq!(automatic("Linux", name), Some(*triple), "{name}");
                assert_eq!(automatic("linux", &name.to_uppercase()), Some(*triple));
            }
            let (os, arch) = platform_of(triple);
            assert_eq!(os, "Linux");
            assert_eq!(automatic(&os, &arch), Some(*triple), "{triple}");
        }
    }

    #[test]
    fn other_systems_get_a_suggestion_only() {
        assert_eq!(automatic("Darwin", "arm64"), None);
        assert_eq!(automatic("FreeBSD", "amd64"), None);
        assert_eq!(automatic("Linux", "mips"), None);
        assert_eq!(suggested("Darwin", "arm64"), "aarch64-apple-darwin");
        assert_eq!(suggested("FreeBSD", "amd64"), "x86_64-unknown-freebsd");
        assert_eq!(suggested("Linux", "mips"), "mips-unknown-linux-musl");
        assert_eq!(suggested("Linux", "arm64"), "aarch64-unknown-linux-musl");
    }
}
