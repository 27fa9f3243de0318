//! Running commands on the target: shell or argv, extra environment,
//! working directory, timeout. stdin is closed at once (as batou does), so
//! an interactive program sees EOF instead of hanging the deploy — unless
//! the spec gives bytes for it ([`CommandSpec::stdin`]), which are written
//! and then closed; a command that exits without reading them is fine.
//!
//! A command is done when its own process exits: processes it leaves
//! running in the background (a daemon it starts) keep running and do not
//! hold the deploy up; what they print afterwards is dropped (see
//! `capture`). Each command runs in a process group of its own, which a
//! timeout kills whole.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::capture;

/// A command to run.
///
/// ```
/// use batou_core::host::CommandSpec;
/// use std::time::Duration;
///
/// let spec = CommandSpec::shell("systemctl reload nginx")
///     .timeout(Duration::from_secs(30))
///     .env("LC_ALL", "C");
/// assert_eq!(spec.display(), "systemctl reload nginx");
/// ```
#[derive(Debug, Clone)]
pub struct CommandSpec {
    program: Program,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
    timeout: Option<Duration>,
    stdin: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
enum Program {
    Shell(String),
    Argv(Vec<String>),
}

impl CommandSpec {
    /// A command line run by `/bin/sh -c`.
    pub fn shell(line: impl Into<String>) -> Self {
        Self::with(Program::Shell(line.into()))
    }

    /// A program and its arguments, run without a shell (no quoting issues).
    pub fn argv<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with(Program::Argv(args.into_iter().map(Into::into).collect()))
    }

    fn with(program: Program) -> Self {
        CommandSpec {
            program,
            env: Vec::new(),
            cwd: None,
            timeout: None,
            stdin: None,
        }
    }

    /// Bytes for the command's stdin (then closed). A command that exits
    /// without reading them all is not an error.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Adds an environment variable (on top of the inherited environment).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Kills the command (and its process group) after this long. A
    /// duration past the clock's range (`Duration::MAX`) is no limit.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The working directory, if one was set.
    pub(super) fn cwd_dir(&self) -> Option<&std::path::Path> {
        self.cwd.as_deref()
    }

    /// Whether a timeout was set.
    pub fn has_timeout(&self) -> bool {
        self.timeout.is_some()
    }

    /// The command as a user would type it, for messages.
    pub fn display(&self) -> String {
        match &self.program {
            Program::Shell(line) => line.clone(),
            Program::Argv(args) => args
                .iter()
                .map(|a| {
                    if a.is_empty()
                        || a.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c))
                    {
                        format!("'{}'", a.replace('\'', r"'\''"))
                    } else {
                        a.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// What a finished command printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A command that could not run or did not succeed.
#[derive(Debug, thiserror::Error)]
#[error("{command}: {kind}")]
pub struct CommandError {
    pub command: String,
    pub kind: CommandErrorKind,
}

impl CommandError {
    /// The missing working directory, when that is why it did not start.
    pub fn no_working_directory(&self) -> Option<&std::path::Path> {
        match &self.kind {
            CommandErrorKind::NoWorkingDirectory(dir) => Some(dir),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommandErrorKind {
    #[error("cannot start: {0}")]
    Spawn(std::io::Error),
    /// The directory it was to run in is missing (spawning says only "No
    /// such file or directory", which reads as a missing program).
    #[error("cannot start: its working directory {} does not exist", .0.display())]
    NoWorkingDirectory(std::path::PathBuf),
    #[error("return code {code}{}", show_output(.stdout, .stderr))]
    Failed {
        code: i32,
        stdout: String,
        stderr: String,
    },
    #[error("killed by signal {signal}{}", show_output(.stdout, .stderr))]
    Signal {
        signal: i32,
        stdout: String,
        stderr: String,
    },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

/// Why a command did not start: its missing working directory when that
/// is what is missing, else what the system said.
fn spawn_failed(spec: &CommandSpec, e: std::io::Error) -> CommandErrorKind {
    match spec.cwd_dir() {
        Some(dir) if e.kind() == std::io::ErrorKind::NotFound && !dir.is_dir() => {
            CommandErrorKind::NoWorkingDirectory(dir.to_path_buf())
        }
        _ => CommandErrorKind::Spawn(e),
    }
}

fn show_output(stdout: &str, stderr: &str) -> String {
    let mut s = String::new();
    if !stdout.trim().is_empty() {
        s.push_str("\nSTDOUT\n");
        s.push_str(stdout.trim_end());
    }
    if !stderr.trim().is_empty() {
        s.push_str("\nSTDERR\n");
        s.push_str(stderr.trim_end());
    }
    s
}

pub(super) fn run(spec: &CommandSpec) -> Result<CommandOutput, CommandError> {
    let fail = |kind| CommandError {
        command: spec.display(),
        kind,
    };
    let mut cmd = match &spec.program {
        Program::Shell(line) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(line);
            c
        }
        Program::Argv(args) => {
            let Some((first, rest)) = args.split_first() else {
                return Err(fail(CommandErrorKind::Spawn(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "empty command",
                ))));
            };
            let mut c = Command::new(first);
            c.args(rest);
            c
        }
    };
    cmd.stdin(if spec.stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    // Own process group, so a timeout kills the shell's children too.
    .process_group(0);
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| fail(spawn_failed(spec, e)))?;
    // Its process group is its pid: a second Ctrl-C kills it whole.
    let _running = crate::interrupt::running_command(child.id() as i32);
    if let (Some(bytes), Some(mut pipe)) = (spec.stdin.clone(), child.stdin.take()) {
        // On its own thread, so a command that neither reads nor exits
        // cannot block us past the timeout. A command that exits without
        // reading gives EPIPE (Rust ignores SIGPIPE): not an error, its
        // exit status says how it went.
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = pipe.write_all(&bytes);
        });
    }
    // A timeout past the clock's range (`u64::MAX` seconds) is no limit.
    let deadline = spec.timeout.and_then(|t| Instant::now().checked_add(t));
    let Ok(captured) = capture::wait(&mut child, deadline) else {
        // SAFETY: kill(2) on our child's process group; no memory involved.
        unsafe {
            libc::kill(-(child.id() as i32), libc::SIGKILL);
        }
        let _ = child.wait();
        return Err(fail(CommandErrorKind::Timeout(
            spec.timeout.unwrap_or_default(),
        )));
    };
    let status = captured.status;
    let stdout = String::from_utf8_lossy(&captured.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&captured.stderr).into_owned();
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(CommandOutput {
            status: 0,
            stdout,
            stderr,
        }),
        (Some(code), _) => Err(fail(CommandErrorKind::Failed {
            code,
            stdout,
            stderr,
        })),
        (None, signal) => Err(fail(CommandErrorKind::Signal {
            signal: signal.unwrap_or(0),
            stdout,
            stderr,
        })),
    }
}
