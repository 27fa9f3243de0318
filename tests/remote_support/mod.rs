//! Real remote targets for the transport and remote-deploy tests: an
//! OpenSSH `sshd` on 127.0.0.1 ([`sshd`]), several hosts in network
//! namespaces ([`netns`]), other systems' root file systems for them or
//! for a chroot ([`rootfs`]: Debian 11, busybox only, aarch64), and
//! throwaway users with sudo rules ([`users`]). Everything is created per
//! test and removed on drop; a missing `sshd`, `sudo`, `ip` or
//! `debootstrap` is a loud failure, never a skip.

// Each test uses a different part of the harness.
#![allow(dead_code, unused_imports)]

pub mod netns;
pub mod rootfs;
pub mod sshd;
pub mod users;

pub use netns::NetnsHosts;
pub use rootfs::RootFs;
pub use sshd::SshServer;
pub use users::{ServiceUser, User};

use std::sync::atomic::{AtomicU32, Ordering};

/// A short name unique to this process and call, for users, namespaces
/// and temp files that must not collide between parallel tests (or two
/// test runs on one machine).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}{:x}",
        (std::process::id() ^ nanos.rotate_left(16)).wrapping_add(n.wrapping_mul(0x9e37_79b9))
            & 0xff_ffff
    )
}

/// Runs a setup command and panics with its output when it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} {args:?}: {e} (the remote tests need it installed)")
        });
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Like [`run`], ignoring failure (for cleanup).
pub fn run_quiet(program: &str, args: &[&str]) {
    let _ = std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}
