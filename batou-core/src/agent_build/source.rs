//! Where an agent is built from and with what: the cargo workspace and
//! binary the controller itself was built from, for another target.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::transport::quote;

/// Which tool runs the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    /// `cargo build --target T`: needs a C compiler and linker for the
    /// target (`musl-gcc` from `musl-tools` for x86_64 musl on x86_64
    /// Linux, or a linker named in `.cargo/config.toml`).
    Cargo,
    /// `cargo zigbuild --target T`: zig compiles and links for every
    /// target, from Linux and macOS alike.
    Zigbuild,
}

/// How to build the agent for a target: `cargo build` of the same
/// package and binary as the controller, with `--target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSource {
    /// The workspace's `Cargo.toml`.
    pub manifest: PathBuf,
    /// The package holding the binary (`-p`), when it must be named.
    pub package: Option<String>,
    /// The binary (`--bin`).
    pub bin: String,
    /// The cargo profile (`release`, as `./batou` builds the controller).
    pub profile: String,
    /// cargo's target directory; built agents are kept in its
    /// `batou-agents/`.
    pub target_dir: PathBuf,
    pub builder: Builder,
    /// The cargo to run.
    pub cargo: PathBuf,
}

impl AgentSource {
    /// The source of the project in `project_dir`, for the controller
    /// executable `exe`, as these variables (read through `var`) say:
    ///
    /// | variable | default |
    /// |---|---|
    /// | `BATOU_AGENT_MANIFEST` | `Cargo.toml` in the project |
    /// | `BATOU_AGENT_PACKAGE` | none (cargo finds the binary) |
    /// | `BATOU_AGENT_BIN` | the executable's file name |
    /// | `BATOU_AGENT_PROFILE` | `release` |
    /// | `BATOU_AGENT_BUILDER` | `zigbuild` when `cargo-zigbuild` is on `PATH`, else `cargo` |
    /// | `CARGO_TARGET_DIR` | `target/` beside the manifest |
    /// | `CARGO` | `cargo` |
    ///
    /// `None` when there is no manifest to build from (a batou binary run
    /// outside its project).
    pub fn from_vars(
        var: impl Fn(&str) -> Option<OsString>,
        exe: &Path,
        project_dir: &Path,
    ) -> Option<AgentSource> {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        let manifest = match set("BATOU_AGENT_MANIFEST") {
            Some(m) => PathBuf::from(m),
            None => project_dir.join("Cargo.toml"),
        };
        if !manifest.is_file() {
            return None;
        }
        let bin = match set("BATOU_AGENT_BIN") {
            Some(b) => b.to_string_lossy().into_owned(),
            None => exe.file_name()?.to_string_lossy().into_owned(),
        };
        let target_dir = match set("CARGO_TARGET_DIR") {
            Some(t) => PathBuf::from(t),
            None => manifest.parent()?.join("target"),
        };
        let path = var("PATH");
        let builder = match set("BATOU_AGENT_BUILDER")
            .as_deref()
            .and_then(|b| b.to_str())
        {
            Some("cargo") => Builder::Cargo,
            Some("zigbuild") => Builder::Zigbuild,
            _ if on_path(path.as_deref(), "cargo-zigbuild") => Builder::Zigbuild,
            _ => Builder::Cargo,
        };
        Some(AgentSource {
            manifest,
            package: set("BATOU_AGENT_PACKAGE").map(|p| p.to_string_lossy().into_owned()),
            bin,
            profile: set("BATOU_AGENT_PROFILE")
                .map_or_else(|| "release".into(), |p| p.to_string_lossy().into_owned()),
            target_dir,
            builder,
            cargo: set("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from),
        })
    }

    /// The arguments after `cargo` that build the agent for `triple`.
    pub fn args(&self, triple: &str) -> Vec<String> {
        let mut args = vec![
            match self.builder {
                Builder::Cargo => "build",
                Builder::Zigbuild => "zigbuild",
            }
            .to_string(),
        ];
        if self.profile == "release" {
            args.push("--release".into());
        } else {
            args.extend(["--profile".into(), self.profile.clone()]);
        }
        args.extend([
            "--target".into(),
            triple.into(),
            "--manifest-path".into(),
            self.manifest.display().to_string(),
        ]);
        if let Some(package) = &self.package {
            args.extend(["-p".into(), package.clone()]);
        }
        args.extend(["--bin".into(), self.bin.clone()]);
        args
    }

    /// The whole command line, as a user would type it.
    pub fn command_line(&self, triple: &str) -> String {
        let cargo = if self.cargo == Path::new("cargo") {
            "cargo".to_string()
        } else {
            quote(&self.cargo.display().to_string())
        };
        std::iter::once(cargo)
            .chain(self.args(triple).iter().map(|a| quote(a)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Where cargo leaves the binary built for `triple`.
    pub fn output(&self, triple: &str) -> PathBuf {
        let dir = match self.profile.as_str() {
            "dev" | "test" => "debug",
            "release" | "bench" => "release",
            other => other,
        };
        self.target_dir.join(triple).join(dir).join(&self.bin)
    }

    /// Runs the build, handing every line cargo prints on stderr (its
    /// progress: `Compiling …`) to `line` as it comes; the last lines are
    /// kept for the error. Returns the built binary.
    pub fn build(&self, triple: &str, line: &mut dyn FnMut(&str)) -> Result<PathBuf, BuildFailure> {
        let fail = |status: String, tail: Vec<String>| BuildFailure {
            command: self.command_line(triple),
            status,
            tail,
        };
        let mut child = Command::new(&self.cargo)
            .args(self.args(triple))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("could not start: {e}"), Vec::new()))?;
        let mut tail: std::collections::VecDeque<String> = Default::default();
        if let Some(stderr) = child.stderr.take() {
            for text in BufReader::new(stderr).lines().map_while(Result::ok) {
                line(&text);
                if tail.len() == TAIL {
                    tail.pop_front();
                }
                tail.push_back(text);
            }
        }
        let status = child
            .wait()
            .map_err(|e| fail(format!("could not be waited for: {e}"), Vec::new()))?;
        let tail: Vec<String> = tail.into();
        if !status.success() {
            return Err(fail(format!("failed ({status})"), tail));
        }
        let output = self.output(triple);
        if !output.is_file() {
            return Err(fail(
                format!("succeeded but left no {}", output.display()),
                tail,
            ));
        }
        Ok(output)
    }
}

/// Lines of cargo's output kept for a failed build's error.
const TAIL: usize = 30;

/// A build that did not produce an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFailure {
    /// What was run.
    pub command: String,
    /// How it ended (`failed (exit status: 101)`).
    pub status: String,
    /// cargo's last lines.
    pub tail: Vec<String>,
}

impl BuildFailure {
    /// What would help, from cargo's words: a missing target, a missing
    /// C compiler or linker.
    pub fn hint(&self, triple: &str) -> Option<String> {
        let text = self.tail.join("\n");
        if text.contains("target may not be installed")
            || text.contains("can't find crate for `core`")
        {
            Some(format!(
                "the Rust standard library for {triple} is missing: `rustup target add {triple}`"
            ))
        } else if text.contains("musl-gcc")
            || text.contains("linker `cc` not found")
            || text.contains("failed to find tool")
            || text.contains("error: linking with")
        {
            Some(format!(
                "no C compiler or linker for {triple}: install zig and cargo-zigbuild (`pip install ziglang cargo-zigbuild`; batou then builds with `cargo zigbuild`), or musl-tools for x86_64"
            ))
        } else {
            None
        }
    }
}

/// Whether `program` is an executable file in one of `path`'s
/// directories.
fn on_path(path: Option<&std::ffi::OsStr>, program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.is_some_and(|p| {
        std::env::split_paths(p).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_batou_script_s_variables_name_the_build() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "[workspace]\n").unwrap();
        let exe = dir.path().join("target/release/batou-deploy");

        let source = AgentSource::from_vars(
            vars(&[("BATOU_AGENT_PACKAGE", "components"), ("PATH", "")]),
            &exe,
            dir.path(),
        )
        .unwrap();
        assert_eq!(source.manifest, manifest);
        assert_eq!(source.bin, "batou-deploy");
        assert_eq!(source.profile, "release");
        assert_eq!(source.target_dir, dir.path().join("target"));
        assert_eq!(source.builder, Builder::Cargo);
        assert_eq!(
            source.args("aarch64-unknown-linux-musl"),
            [
                "build",
                "--release",
                "--target",
                "aarch64-unknown-linux-musl",
                "--manifest-path",
                manifest.to_str().unwrap(),
                "-p",
                "components",
                "--bin",
                "batou-deploy"
            ]
        );
        assert_eq!(
            source.output("aarch64-unknown-linux-musl"),
            dir.path()
                .join("target/aarch64-unknown-linux-musl/release/batou-deploy")
        );

        // A profile of its own, another target dir, zigbuild found on PATH.
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let zig = bin.join("cargo-zigbuild");
        std::fs::write(&zig, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&zig, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let source = AgentSource::from_vars(
            vars(&[
                ("BATOU_AGENT_MANIFEST", manifest.to_str().unwrap()),
                ("BATOU_AGENT_PROFILE", "agent-test"),
                ("CARGO_TARGET_DIR", "/elsewhere"),
                ("PATH", bin.to_str().unwrap()),
            ]),
            &exe,
            Path::new("/elsewhere"),
        )
        .unwrap();
        assert_eq!(source.builder, Builder::Zigbuild);
        assert_eq!(
            source.args("x")[..3],
            ["zigbuild", "--profile", "agent-test"]
        );
        assert_eq!(
            source.output("x86_64-unknown-linux-musl"),
            Path::new("/elsewhere/x86_64-unknown-linux-musl/agent-test/batou-deploy")
        );
        // ... unless told otherwise.
        let forced = AgentSource::from_vars(
            vars(&[
                ("BATOU_AGENT_MANIFEST", manifest.to_str().unwrap()),
                ("BATOU_AGENT_BUILDER", "cargo"),
                ("PATH", bin.to_str().unwrap()),
            ]),
            &exe,
            dir.path(),
        )
        .unwrap();
        assert_eq!(forced.builder, Builder::Cargo);
    }

    #[test]
    fn without_a_manifest_there_is_nothing_to_build_from() {
        // A project without a Cargo.toml (an environment directory only).
        let dir = tempfile::tempdir().unwrap();
        let exe = Path::new("/usr/local/bin/batou-deploy");
        assert_eq!(AgentSource::from_vars(vars(&[]), exe, dir.path()), None);
        let missing = dir.path().join("nothing/Cargo.toml");
        assert_eq!(
            AgentSource::from_vars(
                vars(&[("BATOU_AGENT_MANIFEST", missing.to_str().unwrap())]),
                exe,
                dir.path()
            ),
            None
        );
    }

    #[test]
    fn a_failed_build_keeps_cargo_s_last_lines_and_says_what_helps() {
        let dir = tempfile::tempdir().unwrap();
        let cargo = dir.path().join("cargo");
        std::fs::write(
            &cargo,
            "#!/bin/sh\necho '   Compiling x v1' >&2\necho 'error[E0463]: can'\"'\"'t find crate for `core`' >&2\necho '  = note: the `mips-unknown-linux-musl` target may not be installed' >&2\nexit 101\n",
        )
        .unwrap();
        std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let source = AgentSource {
            manifest: dir.path().join("Cargo.toml"),
            package: None,
            bin: "b".into(),
            profile: "release".into(),
            target_dir: dir.path().join("target"),
            builder: Builder::Cargo,
            cargo,
        };
        let mut seen = Vec::new();
        let failure = source
            .build("mips-unknown-linux-musl", &mut |l| seen.push(l.to_string()))
            .unwrap_err();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], "   Compiling x v1");
        assert_eq!(failure.tail, seen);
        assert!(failure.status.contains("101"), "{}", failure.status);
        assert!(
            failure.command.contains("--target mips-unknown-linux-musl"),
            "{}",
            failure.command
        );
        assert_eq!(
            failure.hint("mips-unknown-linux-musl").as_deref(),
            Some(
                "the Rust standard library for mips-unknown-linux-musl is missing: `rustup target add mips-unknown-linux-musl`"
            )
        );
    }
}
