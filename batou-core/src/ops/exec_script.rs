//! The POSIX `sh` script `exec` runs on each target: it becomes the
//! service user (through `sudo -n -u`, as the agent does for a deploy),
//! takes the deploy lock with `--lock`, says that the command started
//! and as whom, then runs the command under the target's `timeout`.

use std::time::Duration;

use crate::environment::Environment;
use crate::transport::quote;

/// The first stdout line of the script: the command starts now, as this
/// user (so an exit status after it is the command's, not the
/// transport's).
pub(super) const STARTED: &str = "BATOU-EXEC-STARTED ";
/// The stderr line when sudo to the service user is refused.
pub(super) const SUDO_REFUSED: &str = "BATOU-EXEC-SUDO-REFUSED";
/// The stderr line when `--lock` finds the deploy lock held.
pub(super) const LOCKED: &str = "BATOU-EXEC-LOCKED";
/// The stderr line when `--lock` cannot take the lock at all.
pub(super) const NO_FLOCK: &str = "BATOU-EXEC-NO-LOCK";

/// What the script for one host needs.
pub(super) struct Wrap<'a> {
    pub env: &'a Environment,
    pub host: &'a str,
    pub command: &'a str,
    /// Through a transport (else on this machine, as this user).
    pub remote: bool,
    pub timeout: Option<Duration>,
    pub lock: bool,
}

/// Run as the target user with `$1` the command, `$2` the timeout in
/// seconds (or empty), `$3` the lock file (or empty; `~/` is that user's
/// home). The lock is an `flock` on the same file a deploy's agent locks,
/// held by descriptor 9 for as long as the command (and what it started)
/// runs.
const INNER: &str = r#"cd 2>/dev/null
if [ -n "$3" ]; then
  l=$3
  case $l in "~/"*) l="$HOME/${l#??}" ;; esac
  command -v flock >/dev/null 2>&1 || { echo "BATOU-EXEC-NO-LOCK flock(1) is not installed" >&2; exit 125; }
  mkdir -p -m 700 "$(dirname "$l")" 2>/dev/null
  exec 9>>"$l" || { echo "BATOU-EXEC-NO-LOCK cannot open $l" >&2; exit 125; }
  flock -n 9 || { echo "BATOU-EXEC-LOCKED $l" >&2; exit 75; }
fi
echo "BATOU-EXEC-STARTED $(id -un)"
if [ -n "$2" ] && command -v timeout >/dev/null 2>&1; then exec timeout -k 2 "$2" sh -c "$1"; fi
exec sh -c "$1"
"#;

/// The script for `w.host`: through `sudo -n -u` when the login user is
/// not the service user (or `require_sudo` says so). Locally, as this
/// user.
///
/// With a timeout, the target's `timeout` (coreutils, where it has one)
/// ends the command there as well: cutting the connection alone would
/// leave it running on the host.
pub(super) fn wrapper(w: &Wrap<'_>) -> String {
    let config = &w.env.hosts[w.host];
    let mode = match (w.remote, config.require_sudo) {
        (false, _) | (true, Some(false)) => "no",
        (true, Some(true)) => "yes",
        (true, None) => "auto",
    };
    let user = if w.remote {
        w.env.service_user_of(config).unwrap_or_default()
    } else {
        String::new()
    };
    let limit = w
        .timeout
        .map_or(String::new(), |t| t.as_secs().max(1).to_string());
    let lock = if w.lock {
        w.env
            .settings
            .deploy_lock
            .clone()
            .unwrap_or_else(|| "~/.batou/deploy.lock".into())
    } else {
        String::new()
    };
    format!(
        r#"inner={inner}
set -- {cmd} {limit} {lock}
su={user}
mode={mode}
me=$(id -un)
use_sudo=no
if [ "$mode" = yes ]; then use_sudo=yes; [ -n "$su" ] || su=root
elif [ "$mode" = auto ] && [ -n "$su" ] && [ "$me" != "$su" ]; then use_sudo=yes; fi
if [ "$use_sudo" = yes ]; then
  sudo -n -u "$su" -H true </dev/null >/dev/null 2>&1 || {{ echo "{SUDO_REFUSED} $su" >&2; exit 125; }}
  exec sudo -n -u "$su" -H sh -c "$inner" batou-exec "$@"
fi
exec sh -c "$inner" batou-exec "$@"
"#,
        inner = quote(INNER),
        cmd = quote(w.command),
        limit = quote(&limit),
        lock = quote(&lock),
        user = quote(&user),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_prints_the_markers_the_controller_reads() {
        for marker in [STARTED, LOCKED, NO_FLOCK] {
            assert!(INNER.contains(marker), "{marker}");
        }
        let env = Environment::from_source(
            std::path::Path::new("/p"),
            "t",
            std::path::Path::new("/p/environments/t.cfg"),
            "[environment]\nservice_user = svc\n[hosts]\nh = a\n",
        )
        .unwrap();
        let script = wrapper(&Wrap {
            env: &env,
            host: "h",
            command: "echo it's",
            remote: true,
            timeout: Some(Duration::from_secs(9)),
            lock: true,
        });
        assert!(script.contains(SUDO_REFUSED), "{script}");
        assert!(script.contains("su=svc\nmode=auto\n"), "{script}");
        assert!(
            script.contains(r#"set -- 'echo it'\''s' 9 '~/.batou/deploy.lock'"#),
            "{script}"
        );
    }
}
