//! Why a verified agent did not start: the start script reached its
//! `exec`, but the kernel, the dynamic loader or the shell refused. The
//! target's own words are kept and a cause and a remedy put beside them.

use super::error::BootstrapError;
use crate::remote::platform::suggested_triple;

/// The error for a start script that ended after its `exec` with
/// `stderr`, on a host whose `uname -sm` printed `platform`. `None` when
/// stderr shows none of the known refusals.
pub(super) fn explain(
    host: &str,
    platform: &str,
    code: Option<i32>,
    stderr: &str,
) -> Option<BootstrapError> {
    let (os, arch) = platform.split_once(' ').unwrap_or((platform, ""));
    let triple = suggested_triple(os, arch);
    let static_build = format!(
        "build a static agent for it (`cargo build --release --target {triple}`) and set `agent_binary = PATH` in [environment] or [host:{host}]"
    );
    let said = |pred: &dyn Fn(&str) -> bool| {
        let lines: Vec<&str> = stderr.lines().filter(|l| pred(l)).collect();
        (!lines.is_empty()).then(|| lines.join("; ").trim().to_string())
    };
    let found = |cause: &str, message: String, hint: String| {
        Some(BootstrapError::AgentStart {
            host: host.to_string(),
            cause: cause.to_string(),
            message,
            hint,
        })
    };
    if let Some(m) = said(&|l| {
        l.contains("error while loading shared libraries")
            || l.contains("version `GLIBC")
            || l.contains("not found (required by")
    }) {
        return found(
            "the agent is linked against libraries this host lacks or has in an older version",
            m,
            static_build,
        );
    }
    if let Some(m) = said(&|l| {
        l.contains("Exec format error")
            || l.contains("cannot execute binary file")
            // busybox sh runs what the kernel refused as a script.
            || (l.contains("line 1:") && l.contains("ELF"))
    }) {
        return found(
            &format!("the agent is not a program for this host ({platform})"),
            m,
            static_build,
        );
    }
    if let Some(m) =
        said(&|l| l.contains("Permission denied") || l.contains("Operation not permitted"))
    {
        return found(
            "the host refused to execute the agent",
            m,
            "its cache directory may be on a file system mounted noexec, or a security policy (SELinux, AppArmor, fapolicyd) forbids running it: set `agent_cache = DIR` in [environment] to a directory where this user may run programs".into(),
        );
    }
    if code == Some(127)
        && let Some(m) = said(&|l| l.contains("not found") || l.contains("No such file"))
    {
        // The file was just hashed, so what is missing is its program
        // interpreter (the dynamic loader named in the binary).
        return found(
            "the agent's dynamic loader is missing on this host (the binary is not static)",
            m,
            static_build,
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause(code: i32, stderr: &str) -> Option<String> {
        explain("web1", "Linux x86_64", Some(code), stderr).map(|e| e.to_string())
    }

    #[test]
    fn the_targets_own_words_with_a_cause_and_a_remedy() {
        let e = cause(
            127,
            "/home/u/.cache/batou/agents/batou-agent-ab: error while loading shared libraries: libssl.so.3: cannot open shared object file: No such file or directory",
        )
        .unwrap();
        assert!(e.starts_with("web1: "), "{e}");
        assert!(
            e.contains("libssl.so.3: cannot open shared object file"),
            "{e}"
        );
        assert!(e.contains("x86_64-unknown-linux-musl"), "{e}");
        let e = cause(
            1,
            "/x: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.34' not found (required by /x)",
        )
        .unwrap();
        assert!(
            e.contains("GLIBC_2.34") && e.contains("older version"),
            "{e}"
        );
        let e = cause(126, "sh: 1: exec: /c/batou-agent-ab: Exec format error").unwrap();
        assert!(
            e.contains("not a program for this host (Linux x86_64)"),
            "{e}"
        );
        let e = cause(
            127,
            "/c/batou-agent-ab: line 1: \u{7f}ELF\u{2}\u{1}: not found",
        )
        .unwrap();
        assert!(e.contains("not a program for this host"), "{e}");
        let e = cause(126, "sh: 1: exec: /c/batou-agent-ab: Permission denied").unwrap();
        assert!(
            e.contains("refused to execute") && e.contains("noexec"),
            "{e}"
        );
        let e = cause(127, "sh: 1: exec: /c/batou-agent-ab: not found").unwrap();
        assert!(e.contains("dynamic loader is missing"), "{e}");
        assert_eq!(cause(101, "thread 'main' panicked at src/x.rs"), None);
    }
}
