//! The POSIX `sh` scripts run on the target to start the agent or upload
//! it, and the quoting that builds their command lines.

use super::binary::AgentBinary;
use super::launch::AgentLaunch;
use crate::remote::platform::{normal_arch, other_spelling};
use crate::transport::quote;

/// The cache directory used when the environment sets none.
pub const DEFAULT_CACHE_DIR: &str = "~/.cache/batou/agents";

/// Shell functions both inner scripts share, after the arguments (`$h`
/// hash, `$c` cache dir, `$u` the user we run as) are read. The cache is
/// created 0700 and must belong to the user we run as, since whoever can
/// write there can replace what we execute.
///
/// `sum` hashes with whatever the target has: `openssl` first (it uses
/// the CPU's SHA instructions, ~4× faster than coreutils here), then
/// `sha256sum` (coreutils, or busybox's applet), `busybox sha256sum`,
/// `shasum -a 256` and BSD `sha256`. It prints nothing when none exists.
///
/// Every process started here costs a few milliseconds on each deploy, so
/// the scripts start as few as they can: `uname`, `find` and the hasher
/// (and `id` once, in the outer script); everything else is shell builtins.
const PRELUDE: &str = r#"case $c in "~") c=$HOME ;; "~/"*) c=$HOME/${c#??} ;; esac
sum() {
  r=
  if command -v openssl >/dev/null 2>&1; then r=$(openssl dgst -sha256 -r < "$1" 2>/dev/null) || r=; fi
  if [ -n "$r" ]; then :
  elif command -v sha256sum >/dev/null 2>&1; then r=$(sha256sum < "$1")
  elif command -v busybox >/dev/null 2>&1; then r=$(busybox sha256sum < "$1")
  elif command -v shasum >/dev/null 2>&1; then r=$(shasum -a 256 < "$1")
  elif command -v sha256 >/dev/null 2>&1; then r=$(sha256 -q < "$1")
  fi
  echo "${r%% *}"
}
nohash() { echo "BATOU-ERROR nohash no sha256 tool on the target (openssl, sha256sum, busybox, shasum or sha256); install one"; exit 0; }
if [ ! -d "$c" ]; then
  ( umask 077 && mkdir -p "$c" ) 2>/dev/null || { echo "BATOU-ERROR cache $c: cannot create it as $u"; exit 0; }
fi
if [ -L "$c" ]; then echo "BATOU-ERROR cache $c: is a symbolic link; refusing to use it"; exit 0; fi
if [ ! -O "$c" ]; then echo "BATOU-ERROR cache $c: owned by another user, not $u; refusing to use it"; exit 0; fi
if [ -n "$(find "$c" -prune \( -perm -020 -o -perm -002 \) -print)" ]; then echo "BATOU-ERROR cache $c: writable by other users; refusing to use it"; exit 0; fi
f=$c/batou-agent-$h
"#;

/// Runs the cached binary if it is there and intact: a regular file
/// (never a symbolic link) whose sha256 is the expected one, hashed on
/// every start. Anything else in its place is removed, never executed.
///
/// The agent itself prints `BATOU-START` when it runs, so an `exec` that
/// fails (a missing loader or library, another architecture) ends the
/// script with the target's own message on stderr instead.
///
/// When the binary is missing, the script says what an upload can build
/// on before `BATOU-MISSING`: the verified older agents in the cache
/// (`BATOU-HAVE`, a delta is applied by one of them) and the
/// decompressors on the path (`BATOU-UNPACK`). It also makes sure the
/// cache can hold executables at all (not mounted `noexec`), so nothing is
/// uploaded that could not run.
pub(super) const START: &str = r#"if [ -L "$f" ]; then rm -f "$f"
elif [ -e "$f" ] && [ ! -f "$f" ]; then echo "BATOU-ERROR cache $f: not a regular file; remove it"; exit 0
fi
if [ -f "$f" ]; then
  s=$(sum "$f")
  [ -n "$s" ] || nohash
  if [ "$s" = "$h" ]; then
    [ -x "$f" ] || chmod 700 "$f"
    if [ ! -x "$f" ]; then echo "BATOU-ERROR noexec $c"; exit 0; fi
    BATOU_AGENT_HASH=$h; export BATOU_AGENT_HASH; exec "$f" "$@"
  fi
  rm -f "$f"
fi
x=$c/.batou-exec-probe
if ! { : > "$x" && chmod 700 "$x" && [ -x "$x" ]; }; then rm -f "$x"; echo "BATOU-ERROR noexec $c"; exit 0; fi
rm -f "$x"
o=
for x in "$c"/batou-agent-*; do [ -f "$x" ] && [ ! -L "$x" ] && o="$o ${x##*/batou-agent-}"; done
echo "BATOU-HAVE$o"
z=
for x in zstd xz gzip; do command -v $x >/dev/null 2>&1 && z="$z $x"; done
echo "BATOU-UNPACK$z"
echo BATOU-MISSING
"#;

/// Receives the binary on stdin, verifies it and moves it into place.
/// Its arguments say how the bytes come: `$1` is `raw`, `zstd`, `xz`,
/// `gzip` (unpacked by that tool) or `patch` (a zstd delta against the
/// cached agent `$2`, applied by that agent after checking its hash); `$3`
/// is how many agents the cache keeps, the new one included (the rest,
/// least recently used first, are removed).
///
/// Whatever goes wrong (a full disk, a corrupt stream, a hash mismatch),
/// the temp file is removed and nothing reaches `$f`: a half-uploaded
/// agent never starts. The error line carries the target's own message.
///
/// An upload killed before its `mv` (the connection's shell killed, the
/// host rebooted) leaves its temp file; the cache belongs to this user
/// alone, so a temp file whose shell (`.tmp.<pid>`) is gone is stale and
/// removed first.
pub(super) const UPLOAD: &str = r#"umask 077
m=$1; b=$2; k=$3
for s in "$c"/.batou-agent-*.tmp.*; do [ -f "$s" ] && ! kill -0 "${s##*.}" 2>/dev/null && rm -f "$s"; done
t=$c/.batou-agent-$h.tmp.$$
fail() { rm -f "$t"; echo "BATOU-ERROR upload $1"; exit 1; }
case $m in
  raw) e=$( { cat > "$t"; } 2>&1 ) || fail "cannot write $t: $e" ;;
  zstd|xz|gzip) e=$( { "$m" -dc > "$t"; } 2>&1 ) || fail "cannot unpack ($m) into $t: $e" ;;
  patch)
    p=$c/batou-agent-$b
    { [ -f "$p" ] && [ ! -L "$p" ] && [ "$(sum "$p")" = "$b" ]; } || fail "patch base $b is not intact"
    e=$( { "$p" agent-patch "$p" > "$t"; } 2>&1 ) || fail "cannot patch into $t: $e" ;;
  *) fail "unknown upload mode $m" ;;
esac
s=$(sum "$t")
[ -n "$s" ] || { rm -f "$t"; nohash; }
[ "$s" = "$h" ] || fail "checksum mismatch on the target: got $s"
chmod 700 "$t" && mv -f "$t" "$f" || fail "cannot move it to $f"
n=0
for x in $(ls -t "$c" 2>/dev/null); do
  case $x in batou-agent-*) n=$((n + 1)); [ "$n" -gt "$k" ] && rm -f "$c/$x" ;; esac
done
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
    let arch = normal_arch(&binary.arch);
    let alt = other_spelling(&arch).unwrap_or(&arch);
    // Compared ignoring case, as `runs_on` compares them, with glob
    // character classes rather than a `tr` process.
    format!(
        "case $p in {os}\\ {arch}|{os}\\ {alt}) ;; *) exit 0 ;; esac\n",
        os = any_case(&binary.os),
        arch = any_case(&arch),
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
            "set -- raw '' 3\nc='{}'; h={h}; f=$c/batou-agent-$h\nsum() {{ sha256sum \"$1\" | cut -d' ' -f1; }}\n{UPLOAD}",
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
