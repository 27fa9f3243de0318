//! Throwaway accounts for the tests that need real users and groups (the
//! tests run as root, as CI does): fresh names, created with the shadow
//! tools where a test needs them to exist, and removed again on drop with
//! whatever the test made of them (a crontab, the user, a group of the
//! same name). Also the shell helper those tests use.

use std::sync::atomic::{AtomicUsize, Ordering};

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A name no account has: `<prefix><pid>x<n>`.
pub(super) fn fresh_name(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// Runs `line` with `sh -c` and returns its stdout, trimmed; fails the
/// test with both output streams unless it succeeds.
#[track_caller]
pub(super) fn sh(line: &str) -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", line])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{line}`: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// An account name a test owns; on drop its crontab, the user and a group
/// of the same name are removed, whichever exist.
pub(super) struct Account {
    pub name: String,
}

impl Account {
    /// A fresh name and nothing created: the test's components create
    /// the account (or a test shows they do not).
    pub fn reserve(prefix: &str) -> Account {
        Account {
            name: fresh_name(prefix),
        }
    }

    /// A fresh user with `/bin/sh` and no home (`useradd -M`).
    pub fn user(prefix: &str) -> Account {
        let account = Account::reserve(prefix);
        sh(&format!("useradd -M -s /bin/sh {}", account.name));
        account
    }

    /// A fresh group and a user of the same name in it, with no home and
    /// no login shell.
    pub fn user_and_group(prefix: &str) -> Account {
        let account = Account::reserve(prefix);
        sh(&format!(
            "groupadd {0} && useradd -M -N -g {0} -s /bin/false {0}",
            account.name
        ));
        account
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        let _ = std::process::Command::new("sh")
            .args([
                "-c",
                &format!(
                    "crontab -u {0} -r 2>/dev/null; userdel {0} 2>/dev/null; groupdel {0} 2>/dev/null",
                    self.name
                ),
            ])
            .status();
    }
}
