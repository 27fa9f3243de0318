//! The POSIX `sh` scripts run on the target to start the agent or upload
//! it, and the quoting that builds their command lines.

use super::binary::{AgentBinary, normal_arch};
use super::launch::AgentLaunch;
use crate::transport::quote;

/// The cache directory used when the environment sets none.
pub const DEFAULT_CACHE_DIR: &str = "~/.cache/batou/agents";

/// Shell functions both inner scripts share, after the arguments (`$h`
/// hash, `$c` cache dir, `$u` the user we run as) are read. The cache is
/// created 0700 and must belong to the user we run as, since whoever can
/// write there can replace what we execute.
///
/// Every process started here costs a few milliseconds on each deploy, so
/// the scripts start as few as they can: `uname` and `find` (and `id`
/// once, in the outer script); everything else is shell builtins.
const PRELUDE: &str = r#"case $c in "~") c=$HOME ;; "~/"*) c=$HOME/${c#??} ;; esac
sum() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  else sha256 -q "$1"; fi
}
if [ ! -d "$c" ]; then
  ( umask 077 && mkdir -p "$c" ) 2>/dev/null || { echo "BATOU-ERROR cache $c: cannot create it as $u"; exit 0; }
fi
if [ ! -O "$c" ]; then echo "BATOU-ERROR cache $c: owned by another user, not $u; refusing to use it"; exit 0; fi
if [ -n "$(find "$c" -prune \( -perm -020 -o -perm -002 \) -print)" ]; then echo "BATOU-ERROR cache $c: writable by other users; refusing to use it"; exit 0; fi
f=$c/batou-agent-$h
"#;

/// Runs the cached binary if it is there and intact (a tampered one is
/// removed, never executed).
///
/// Hashing a binary of several megabytes costs more than the rest of the
/// script, so it is hashed only when it may have changed since it was
/// verified: the upload verifies it and then renames it into the cache,
/// which leaves the directory at least as new as the file. Writing to the
/// file afterwards (corruption, tampering in place) makes the file newer
/// than the directory, and then it is hashed again (`-nt` compares
/// modification times; dash and bash to the nanosecond). Putting another
/// file in its place needs write access to this private directory, which
/// only its owner — the user the agent runs as — and root have.
pub(super) const START: &str = r#"if [ -f "$f" ] && [ -x "$f" ]; then
  ok=
  if [ ! "$f" -nt "$c" ]; then ok=1
  elif [ "$(sum "$f")" = "$h" ]; then ok=1; touch "$c" 2>/dev/null
  fi
  if [ -n "$ok" ]; then echo BATOU-START; BATOU_AGENT_HASH=$h; export BATOU_AGENT_HASH; exec "$f" "$@"; fi
  rm -f "$f"
fi
echo BATOU-MISSING
"#;

/// Receives the binary on stdin, verifies it and moves it into place.
///
/// An upload killed before its `mv` (the connection's shell killed, the
/// host rebooted) leaves its temp file; the cache belongs to this user
/// alone, so a temp file whose shell (`.tmp.<pid>`) is gone is stale and
/// removed first.
pub(super) const UPLOAD: &str = r#"umask 077
for s in "$c"/.batou-agent-*.tmp.*; do [ -f "$s" ] && ! kill -0 "${s##*.}" 2>/dev/null && rm -f "$s"; done
t=$c/.batou-agent-$h.tmp.$$
if ! cat > "$t"; then rm -f "$t"; echo "BATOU-ERROR upload cannot write $t"; exit 1; fi
s=$(sum "$t")
if [ "$s" != "$h" ]; then rm -f "$t"; echo "BATOU-ERROR upload checksum mismatch on the target: got $s"; exit 1; fi
chmod 700 "$t" && mv -f "$t" "$f" || { rm -f "$t"; echo "BATOU-ERROR upload cannot move it to $f"; exit 1; }
echo BATOU-UPLOADED
"#;

/// The command run as the login user: it decides on sudo and runs
/// `inner` (which starts with the platform and user lines) as the agent's
/// user.
pub(super) fn outer_command(
    l: &AgentLaunch<'_>,
    inner: &str,
    args: &[String],
    gated: bool,
) -> String {
    let binary = l.binary;
    let inner = format!(
        "h=$1; c=$2; u=${{3:-$(id -un)}}; shift 3\np=$(uname -sm)\necho \"BATOU-PLATFORM $p\"\necho \"BATOU-USER $u\"\n{check}{PRELUDE}{inner}",
        // The script stops itself on a platform mismatch, so nothing that
        // cannot run here is ever uploaded or executed.
        check = platform_check(binary),
    );
    let mode = match l.require_sudo {
        Some(true) => "yes",
        Some(false) => "no",
        None => "auto",
    };
    let user = l.service_user.clone().unwrap_or_default();
    let head = format!(
        "{} {}",
        quote(&binary.hash),
        quote(l.cache_dir.as_deref().unwrap_or(DEFAULT_CACHE_DIR))
    );
    let rest = args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
    // Without sudo the agent runs as the login user, whom `id` names
    // here once; through sudo the inner script asks `id` itself.
    // A gated script waits for a line `go` before doing anything on the
    // target, so the connection can be made while the controller still
    // configures; end of input (configuration failed) ends it untouched.
    let gate = if gated {
        "read -r batou_go || exit 0\n[ \"$batou_go\" = go ] || exit 0\n"
    } else {
        ""
    };
    format!(
        r#"{gate}inner={inner}
su={user}
mode={mode}
me=$(id -un)
use_sudo=no
if [ "$mode" = yes ]; then use_sudo=yes; [ -n "$su" ] || su=root
elif [ "$mode" = auto ] && [ -n "$su" ] && [ "$me" != "$su" ]; then use_sudo=yes; fi
if [ "$use_sudo" = yes ]; then exec sudo -n -u "$su" -H sh -c "$inner" batou-bootstrap {head} '' {rest}
else exec sh -c "$inner" batou-bootstrap {head} "$me" {rest}; fi
"#,
        inner = quote(&inner),
        user = quote(&user),
    )
}

fn platform_check(binary: &AgentBinary) -> String {
    // Accept the spellings `runs_on` accepts; the controller decides.
    let lower = binary.arch.to_lowercase();
    let arch = normal_arch(&lower);
    let alt = match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    // Compared ignoring case, as `runs_on` compares them, with glob
    // character classes rather than a `tr` process.
    format!(
        "case $p in {os}\\ {arch}|{os}\\ {alt}) ;; *) exit 0 ;; esac\n",
        os = any_case(&binary.os),
        arch = any_case(arch),
        alt = any_case(alt),
    )
}

/// A `case` pattern matching `text` in any letter case: `[lL][iI]...`;
/// anything but letters, digits, `_`, `.` and `-` is escaped.
fn any_case(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
            } else if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn the_script_checks_the_platform_like_runs_on() {
        let binary = |os: &str, arch: &str| AgentBinary {
            path: PathBuf::from("/x"),
            hash: String::new(),
            size: 0,
            os: os.into(),
            arch: arch.into(),
        };
        for (b, uname, expected) in [
            (binary("Linux", "x86_64"), "Linux x86_64", true),
            (binary("linux", "x86_64"), "Linux x86_64", true),
            (binary("Linux", "x86_64"), "FreeBSD amd64", false),
            (binary("FreeBSD", "x86_64"), "FreeBSD amd64", true),
            (binary("Darwin", "aarch64"), "Darwin arm64", true),
            (binary("Linux", "riscv128"), "Linux x86_64", false),
        ] {
            let script = format!("p='{uname}'\n{}echo runs", platform_check(&b));
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            let (os, arch) = uname.split_once(' ').unwrap();
            assert_eq!(b.runs_on(os, arch), expected, "{b:?} on {uname}");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim() == "runs",
                expected,
                "script for {b:?} on {uname}"
            );
        }
    }

    #[test]
    fn an_upload_removes_the_temp_files_of_killed_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let dead = gone.id();
        gone.wait().unwrap();
        let stale = c.join(format!(".batou-agent-old.tmp.{dead}"));
        let live = c.join(format!(".batou-agent-old.tmp.{}", std::process::id()));
        std::fs::write(&stale, b"half").unwrap();
        std::fs::write(&live, b"being written").unwrap();
        // sha256("abc")
        let h = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let script = format!(
            "c='{}'; h={h}; f=$c/batou-agent-$h\nsum() {{ sha256sum \"$1\" | cut -d' ' -f1; }}\n{UPLOAD}",
            c.display()
        );
        let mut child = std::process::Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"abc").unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "BATOU-UPLOADED"
        );
        assert!(!stale.exists(), "the killed upload's temp file is gone");
        assert!(live.exists(), "a running upload's temp file stays");
        assert_eq!(
            std::fs::read(c.join(format!("batou-agent-{h}"))).unwrap(),
            b"abc"
        );
    }
}
