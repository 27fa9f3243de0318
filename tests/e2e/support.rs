//! A small builder for end-to-end tests, in the style of `just`'s:
//!
//! ```text
//! let project = Project::new().env("local", "[environment]\n...");
//! project.run(&["deploy", "local"]).code(0).stdout_contains("DEPLOYMENT FINISHED");
//! ```
//!
//! A [`Project`] is a temporary deployment project directory; [`Project::run`]
//! runs the `batou-test` binary (the example deployment plus the test
//! components) in it and returns an [`Outcome`] whose assertion helpers
//! print both output streams when they fail.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_batou-test");

/// The workspace root (the directory holding `batou`, `environments/`, ...).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// cargo's target directory of this workspace (where the controller
/// keeps the agents it builds, in `batou-agents/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// The agent the test binary builds for `triple` (a static musl build of
/// the same `batou-test` binary, profile `agent-test`): where the
/// controller keeps it, by the controller's own hash. Exists once a
/// remote deploy needed it.
pub fn built_agent(triple: &str) -> PathBuf {
    static CONTROLLER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let controller = CONTROLLER.get_or_init(|| {
        batou_core::remote::bootstrap::hash_file(Path::new(BIN)).expect("hash the test binary")
    });
    target_dir()
        .join("batou-agents")
        .join(controller)
        .join(triple)
        .join("batou-test")
}

/// Builds the agent for this machine's hosts once per test run, as the
/// controller would (same command, same target directory, so the
/// controller's own build is then a no-op). For tests that wait a
/// bounded time for a background deploy to reach a point: on a fresh
/// machine the first build of the agent takes minutes, which is not what
/// they wait for.
pub fn native_agent_built() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let root = workspace_root();
        let ours = [
            (
                "BATOU_AGENT_MANIFEST",
                root.join("Cargo.toml").into_os_string(),
            ),
            ("BATOU_AGENT_PACKAGE", "batou-tests".into()),
            ("BATOU_AGENT_PROFILE", "agent-test".into()),
            ("BATOU_AGENT_BUILDER", "cargo".into()),
        ];
        let var = |name: &str| {
            ours.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var_os(name))
        };
        let source = batou_core::agent_build::AgentSource::from_vars(var, Path::new(BIN), &root)
            .expect("the workspace manifest builds the agent");
        if let Err(e) = source.build(NATIVE_AGENT, &mut |_| {}) {
            panic!(
                "building the agent failed: {}: {}\n{}",
                e.command,
                e.status,
                e.tail.join("\n")
            );
        }
    });
}

/// Whether the ELF executable at `path` runs without a program
/// interpreter (a loader such as `ld-linux`): statically linked, or a
/// static PIE. Reads the 64-bit little-endian program headers.
pub fn is_static(path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        bytes.len() > 64 && &bytes[..4] == b"\x7fELF" && bytes[4] == 2 && bytes[5] == 1,
        "{} is not a 64-bit little-endian ELF file",
        path.display()
    );
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    (0..count).all(|i| {
        let o = phoff + i * size;
        u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) != PT_INTERP
    })
}

/// The triple of the agent for hosts of this machine's architecture.
pub const NATIVE_AGENT: &str = if cfg!(target_arch = "aarch64") {
    "aarch64-unknown-linux-musl"
} else {
    "x86_64-unknown-linux-musl"
};

/// The example's own environment, `environments/local.cfg`.
pub fn example_env() -> String {
    std::fs::read_to_string(workspace_root().join("environments/local.cfg"))
        .expect("environments/local.cfg of the workspace")
}

/// The usual header of a local test environment.
pub const LOCAL: &str = "[environment]\nconnect_method = local\n";

/// A temporary deployment project.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

impl Project {
    /// An empty project (no `environments/` yet).
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("batou-e2e-")
            .tempdir()
            .expect("temp dir");
        Project { dir }
    }

    /// A project with the example's `environments/local.cfg`.
    pub fn example() -> Self {
        Project::new().env("local", &example_env())
    }

    /// Writes `environments/NAME.cfg`.
    pub fn env(self, name: &str, text: &str) -> Self {
        self.file(&format!("environments/{name}.cfg"), text)
    }

    /// Writes `environments/PATH` (e.g. `prod/environment.cfg`, `x.toml`).
    pub fn env_file(self, path: &str, text: &str) -> Self {
        self.file(&format!("environments/{path}"), text)
    }

    /// Writes any file under the project, creating directories.
    pub fn file(self, path: &str, text: &str) -> Self {
        self.write(path, text);
        self
    }

    /// Writes raw bytes to a file under the project.
    pub fn bytes(self, path: &str, bytes: &[u8]) -> Self {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(&full, bytes).expect("write");
        self
    }

    /// (Over)writes a file in place, e.g. to edit an environment between
    /// runs.
    pub fn write(&self, path: &str, text: &str) {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(&full, text).expect("write");
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the test binary with `args` in this project.
    pub fn run(&self, args: &[&str]) -> Outcome {
        self.run_with(args, &[])
    }

    /// Like [`Project::run`], with extra environment variables.
    pub fn run_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Outcome {
        let output = self
            .command(args, vars)
            .output()
            .expect("run the batou-test binary");
        Outcome {
            args: args.iter().map(|a| a.to_string()).collect(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code(),
        }
    }

    /// The command [`Project::run_with`] runs, for tests that start it in
    /// the background. `HOME` is `<project>/home`. Agents for remote
    /// hosts are built as `./batou` would have them built, from this
    /// workspace: the `batou-test` binary, with the cheap `agent-test`
    /// profile, by plain cargo (`musl-gcc` for this machine's
    /// architecture; the aarch64 tests ask for `zigbuild`).
    pub fn command(&self, args: &[&str], vars: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(self.path())
            .env("BATOU_PROJECT_DIR", self.path())
            .env("BATOU_AGENT_MANIFEST", workspace_root().join("Cargo.toml"))
            .env("BATOU_AGENT_PACKAGE", "batou-tests")
            .env("BATOU_AGENT_PROFILE", "agent-test")
            .env("BATOU_AGENT_BUILDER", "cargo")
            .env("NO_COLOR", "1")
            .env("COLUMNS", "80")
            .env("HOME", self.path().join("home"))
            .env_remove("RUST_BACKTRACE")
            // No desktop notifications from the tests (tests that want
            // them set one of these).
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(std::process::Stdio::null());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// Text of a file under the project; panics with the path if missing.
    #[track_caller]
    pub fn read(&self, path: &str) -> String {
        let full = self.path().join(path);
        std::fs::read_to_string(&full)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()))
    }

    /// Whether something (a file, directory or symlink, even dangling)
    /// exists at `path`.
    pub fn exists(&self, path: &str) -> bool {
        self.path().join(path).symlink_metadata().is_ok()
    }

    #[track_caller]
    pub fn assert_exists(&self, path: &str) {
        assert!(
            self.exists(path),
            "expected {path} to exist; the project has:\n{}",
            self.listing()
        );
    }

    #[track_caller]
    pub fn assert_missing(&self, path: &str) {
        assert!(
            !self.exists(path),
            "expected {path} not to exist; the project has:\n{}",
            self.listing()
        );
    }

    /// Asserts that the deployment wrote nothing (no `work/`).
    #[track_caller]
    pub fn assert_untouched(&self) {
        self.assert_missing("work");
    }

    /// Every path under the project, one per line (for failure messages).
    pub fn listing(&self) -> String {
        self.states()
            .keys()
            .map(|p| format!("  {}", p.display()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The state of every file, directory and symlink under `dir` (relative
    /// to the project): kind, inode, size, mode, mtime, content.
    pub fn states_under(&self, dir: &str) -> BTreeMap<PathBuf, FileState> {
        let mut out = BTreeMap::new();
        collect(self.path(), &self.path().join(dir), &mut out);
        out
    }

    /// [`Project::states_under`] for the whole project.
    pub fn states(&self) -> BTreeMap<PathBuf, FileState> {
        self.states_under("")
    }
}

/// What we know about one path, to prove that a run changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub kind: &'static str,
    pub inode: u64,
    pub mode: u32,
    pub size: u64,
    pub mtime: Option<SystemTime>,
    pub ctime: (i64, i64),
    /// File content, or the symlink's target.
    pub content: Option<Vec<u8>>,
}

fn collect(root: &Path, path: &Path, out: &mut BTreeMap<PathBuf, FileState>) {
    let Ok(meta) = path.symlink_metadata() else {
        return;
    };
    let kind = if meta.file_type().is_symlink() {
        "symlink"
    } else if meta.is_dir() {
        "dir"
    } else {
        "file"
    };
    let content = match kind {
        "file" => std::fs::read(path).ok(),
        "symlink" => std::fs::read_link(path)
            .ok()
            .map(|t| t.as_os_str().as_encoded_bytes().to_vec()),
        _ => None,
    };
    let rel = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    out.insert(
        rel,
        FileState {
            kind,
            inode: meta.ino(),
            mode: meta.mode(),
            size: meta.size(),
            mtime: meta.modified().ok(),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            content,
        },
    );
    if kind == "dir" {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for e in entries {
            collect(root, &e, out);
        }
    }
}

/// What a run of the binary produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub args: Vec<String>,
    pub stdout: String,
    pub stderr: String,
    /// `None` if the process was killed by a signal.
    pub code: Option<i32>,
}

impl Outcome {
    fn report(&self) -> String {
        format!(
            "command: batou-test {}\nexit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }

    #[track_caller]
    fn check(&self, ok: bool, what: String) {
        assert!(ok, "{what}\n{}", self.report());
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        self.check(
            self.code == Some(code),
            format!("expected exit code {code}"),
        );
        self
    }

    #[track_caller]
    pub fn success(self) -> Self {
        self.code(0)
    }

    #[track_caller]
    pub fn stdout_contains(self, needle: &str) -> Self {
        self.check(
            self.stdout.contains(needle),
            format!("expected stdout to contain {needle:?}"),
        );
        self
    }

    #[track_caller]
    pub fn stdout_lacks(self, needle: &str) -> Self {
        self.check(
            !self.stdout.contains(needle),
            format!("expected stdout not to contain {needle:?}"),
        );
        self
    }

    #[track_caller]
    pub fn stderr_contains(self, needle: &str) -> Self {
        self.check(
            self.stderr.contains(needle),
            format!("expected stderr to contain {needle:?}"),
        );
        self
    }

    #[track_caller]
    pub fn stderr_lacks(self, needle: &str) -> Self {
        self.check(
            !self.stderr.contains(needle),
            format!("expected stderr not to contain {needle:?}"),
        );
        self
    }

    /// stderr with miette's line wrapping undone, so a long message can be
    /// matched as one string.
    pub fn stderr_unwrapped(&self) -> String {
        let mut out = String::new();
        for line in self.stderr.lines() {
            let trimmed = line.trim_start();
            if let Some(rest) = trimmed.strip_prefix("│ ") {
                let rest = rest.trim_start();
                if rest.starts_with("(at ") || rest.starts_with("(host") {
                    out.push('\n');
                } else if !out.ends_with('\n') && !out.ends_with('/') {
                    out.push(' ');
                }
                out.push_str(rest);
            } else {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(line);
            }
        }
        out
    }

    /// Like [`Outcome::stderr_contains`] on [`Outcome::stderr_unwrapped`].
    #[track_caller]
    pub fn message(self, needle: &str) -> Self {
        let text = self.stderr_unwrapped();
        self.check(
            text.contains(needle),
            format!("expected the error output to contain {needle:?}\n(unwrapped:\n{text})"),
        );
        self
    }

    /// Asserts that `needles` appear in stdout in this order.
    #[track_caller]
    pub fn stdout_in_order(self, needles: &[&str]) -> Self {
        let mut rest = self.stdout.as_str();
        for n in needles {
            match rest.find(n) {
                Some(i) => rest = &rest[i + n.len()..],
                None => self.check(
                    false,
                    format!("expected stdout to contain, in order, {needles:?}; missing {n:?}"),
                ),
            }
        }
        self
    }

    /// How many `ERROR: ` diagnostics stderr holds.
    pub fn error_count(&self) -> usize {
        self.stderr.matches("ERROR: ").count()
    }

    /// Never a crash: no panic message, no internal-error exit code, no
    /// signal.
    #[track_caller]
    pub fn no_panic(self) -> Self {
        self.check(
            matches!(self.code, Some(0..=4)),
            "expected one of the documented exit codes 0-4".into(),
        );
        self.check(
            !self.stderr.contains("panicked") && !self.stderr.contains("This is a bug in batou"),
            "expected no panic".into(),
        );
        self
    }
}

/// The transcript with everything that varies between runs replaced:
/// timings (`0.01s` → `<t>`), the version line, the project path.
pub fn redact(text: &str, project: &Path) -> String {
    let text = text.replace(&project.display().to_string(), "<project>");
    let version = format!(
        "batou/{} (rust, {} {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    let text = text.replace(&version, "batou/<version>");
    redact_timings(&text)
}

/// Replaces every `\d+\.\d\ds` with `<t>`.
pub fn redact_timings(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()) {
            let mut j = i;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            if j + 3 < bytes.len()
                && bytes[j] == b'.'
                && bytes[j + 1].is_ascii_digit()
                && bytes[j + 2].is_ascii_digit()
                && bytes[j + 3] == b's'
            {
                out.push_str("<t>");
                i = j + 4;
                continue;
            }
            out.push_str(&text[i..j]);
            i = j;
            continue;
        }
        let ch = text[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

#[test]
fn timings_are_redacted() {
    assert_eq!(
        redact_timings("took total=0.03s, connect=12.50s, x=1.5s 3.00s"),
        "took total=<t>, connect=<t>, x=1.5s <t>"
    );
}
