//! `Agents` with a stand-in for cargo: a script that writes the "built"
//! binary where cargo would and counts its calls, so what is built when,
//! and how often, can be checked without compiling anything.

use std::sync::Arc;

use super::*;
use crate::event::Collected;

struct Fixture {
    dir: tempfile::TempDir,
    controller: AgentBinary,
}

impl Fixture {
    /// A project whose "cargo" sleeps `delay` seconds, then writes
    /// `agent for <triple>` as the binary, or fails when the target is
    /// `fail`'s.
    fn new(delay: &str, fail: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\n").unwrap();
        let cargo = dir.path().join("cargo");
        std::fs::write(
            &cargo,
            format!(
                r#"#!/bin/sh
echo "$*" >> "{calls}"
while [ "$1" != --target ]; do shift; done
t=$2
echo "   Compiling components v0.1.0 for $t" >&2
sleep {delay}
if [ "$t" = "{fail}" ]; then echo "error: linking with cc failed" >&2; exit 101; fi
mkdir -p "{target}/$t/release"
printf 'agent for %s' "$t" > "{target}/$t/release/batou-deploy"
echo "    Finished release" >&2
"#,
                calls = dir.path().join("calls").display(),
                target = dir.path().join("target").display(),
            ),
        )
        .unwrap();
        std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let exe = dir.path().join("target/release/batou-deploy");
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        std::fs::write(&exe, b"the controller").unwrap();
        let controller = AgentBinary::from_path(&exe, "Linux", "x86_64").unwrap();
        Fixture { dir, controller }
    }

    fn source(&self) -> AgentSource {
        AgentSource {
            manifest: self.dir.path().join("Cargo.toml"),
            package: Some("components".into()),
            bin: "batou-deploy".into(),
            profile: "release".into(),
            target_dir: self.dir.path().join("target"),
            builder: Builder::Cargo,
            cargo: self.dir.path().join("cargo"),
        }
    }

    fn agents(&self) -> Agents {
        Agents::built_from(self.source(), &self.controller)
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn hosts_of_one_platform_wait_for_one_build_and_the_next_run_builds_nothing() {
    let f = Fixture::new("0.3", "none");
    let agents = f.agents();
    assert!(agents.ready().is_empty(), "nothing built yet");
    let events = Collected::new();
    let hosts = ["web1", "web2", "web3", "web4"];
    let got: Vec<Arc<AgentBinary>> = std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|h| {
                let (agents, events) = (&agents, &events);
                s.spawn(move || agents.for_platform(h, "Linux", "aarch64", events).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        f.calls().len(),
        1,
        "one build for four hosts: {:?}",
        f.calls()
    );
    assert!(
        f.calls()[0].starts_with("build --release --target aarch64-unknown-linux-musl"),
        "{:?}",
        f.calls()
    );
    let expected = sha256(b"agent for aarch64-unknown-linux-musl");
    for agent in &got {
        assert_eq!(agent.hash, expected);
        assert_eq!(
            (agent.os.as_str(), agent.arch.as_str()),
            ("Linux", "aarch64")
        );
        assert!(
            agent.path.starts_with(
                f.dir
                    .path()
                    .join("target/batou-agents")
                    .join(&f.controller.hash)
            ),
            "{}",
            agent.path.display()
        );
    }
    // cargo's progress came through, between a start and a finish.
    let events = events.events();
    assert!(
        matches!(&events[0], Event::AgentBuildStarted { triple, command, .. }
        if triple == "aarch64-unknown-linux-musl" && command.contains("--bin batou-deploy"))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::AgentBuildOutput { line, .. }
        if line.contains("Compiling components")))
    );
    assert!(matches!(
        events.last(),
        Some(Event::AgentBuildFinished { success: true, .. })
    ));
    assert_eq!(agents.ready().len(), 1);

    // The same controller again (the next deploy): at hand, no cargo.
    let again = f.agents();
    assert_eq!(again.ready().len(), 1);
    let quiet = Collected::new();
    let agent = again
        .for_platform("web9", "Linux", "arm64", &quiet)
        .unwrap();
    assert_eq!(agent.hash, expected);
    assert_eq!(
        f.calls().len(),
        1,
        "no cargo call for an unchanged controller"
    );
    assert!(quiet.events().is_empty());

    // Another platform is built on its own.
    let x86 = again
        .for_platform("db1", "Linux", "x86_64", &quiet)
        .unwrap();
    assert_eq!(x86.hash, sha256(b"agent for x86_64-unknown-linux-musl"));
    assert_eq!(f.calls().len(), 2);
    assert_eq!(again.ready().len(), 2);
}

#[test]
fn a_new_controller_builds_afresh_and_old_ones_are_pruned() {
    let f = Fixture::new("0", "none");
    let mut controllers = Vec::new();
    for i in 0..5 {
        let mut controller = f.controller.clone();
        controller.hash = format!("{i}").repeat(64);
        let agents = Agents::built_from(f.source(), &controller);
        agents
            .for_platform("web1", "Linux", "x86_64", &crate::event::Discard)
            .unwrap();
        controllers.push(controller.hash);
        // Distinct modification times for the pruning order.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(f.calls().len(), 5, "each controller builds its own agent");
    let cache = AgentCache::new(&f.dir.path().join("target"));
    let kept: Vec<bool> = controllers
        .iter()
        .map(|c| cache.controller_dir(c).exists())
        .collect();
    assert_eq!(kept, [false, false, true, true, true]);
}

#[test]
fn a_failed_build_is_reported_to_every_host_waiting_for_it() {
    let f = Fixture::new("0.2", "aarch64-unknown-linux-musl");
    let agents = f.agents();
    let errors: Vec<AgentError> = std::thread::scope(|s| {
        let handles: Vec<_> = ["arm1", "arm2"]
            .iter()
            .map(|h| {
                let agents = &agents;
                s.spawn(move || {
                    agents
                        .for_platform(h, "Linux", "aarch64", &crate::event::Discard)
                        .unwrap_err()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(f.calls().len(), 1);
    let mut hosts = Vec::new();
    for e in errors {
        let text = e.to_string();
        let AgentError::BuildFailed { host, .. } = &e else {
            panic!("{e:?}");
        };
        hosts.push(host.clone());
        assert!(
            text.starts_with(&format!(
                "{host} runs Linux aarch64: building its agent failed: `"
            )),
            "{text}"
        );
        assert!(
            text.contains("--target aarch64-unknown-linux-musl"),
            "{text}"
        );
        assert!(text.contains("exit status: 101"), "{text}");
        assert!(text.contains("\n  error: linking with cc failed"), "{text}");
        assert!(
            text.contains("cargo-zigbuild"),
            "the hint names the fix: {text}"
        );
    }
    hosts.sort();
    assert_eq!(hosts, ["arm1", "arm2"]);
    assert!(agents.ready().is_empty());
}

#[test]
fn platforms_without_an_automatic_build_name_the_command() {
    let f = Fixture::new("0", "none");
    let err = f
        .agents()
        .for_platform("mac1", "Darwin", "arm64", &crate::event::Discard)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "mac1 runs Darwin arm64 and batou has no agent for it: batou builds agents for Linux only: build one with `{}` and set `agent_binary = PATH` in [environment]",
            f.source().command_line("aarch64-apple-darwin")
        )
    );
    assert!(f.calls().is_empty());
}

#[test]
fn a_fixed_binary_serves_its_platform_only() {
    let f = Fixture::new("0", "none");
    let agents = Agents::fixed(f.controller.clone());
    let same = agents
        .for_platform("a", "Linux", "amd64", &crate::event::Discard)
        .unwrap();
    assert_eq!(same.hash, f.controller.hash);
    let err = agents
        .for_platform("b", "Linux", "aarch64", &crate::event::Discard)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "b runs Linux aarch64, but agent_binary {} is built for Linux x86_64: build one for Linux aarch64 (e.g. `cargo zigbuild --release --target aarch64-unknown-linux-musl --bin batou-deploy`)",
            f.controller.path.display()
        )),
        "{err}"
    );

    let outside = Agents::controller_only(f.controller.clone());
    let err = outside
        .for_platform("c", "Linux", "aarch64", &crate::event::Discard)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("c runs Linux aarch64 and batou has no agent for it: the project has no Cargo.toml to build one from"), "{err}");
    assert!(
        err.contains(
            "`cargo zigbuild --release --target aarch64-unknown-linux-musl --bin batou-deploy`"
        ),
        "{err}"
    );
    assert!(f.calls().is_empty());
}

#[test]
fn hosts_are_offered_the_agent_for_the_platform_they_said_they_run() {
    let f = Fixture::new("0", "none");
    let agents = f.agents();
    let Offer::Probe(probe) = agents.offer("arm1") else {
        panic!("nothing known, nothing built: a probe");
    };
    assert!(!probe.runs_on("Linux", "x86_64") && !probe.runs_on("Linux", "aarch64"));
    let arm = agents
        .for_platform("arm1", "Linux", "aarch64", &crate::event::Discard)
        .unwrap();
    agents.learn("arm1", "Linux", "aarch64");
    let x86 = agents
        .for_platform("web1", "Linux", "x86_64", &crate::event::Discard)
        .unwrap();
    agents.learn("web1", "Linux", "x86_64");

    // The next deploy, same controller.
    let next = f.agents();
    assert_eq!(next.offer("arm1"), Offer::Ready(arm.clone()));
    assert_eq!(next.offer("web1"), Offer::Ready(x86.clone()));
    // A host never seen gets the agent for the controller's platform.
    assert_eq!(next.offer("new1"), Offer::Ready(x86));

    // After a rebuild of the controller, known platforms are built first.
    let mut rebuilt = f.controller.clone();
    rebuilt.hash = "f".repeat(64);
    let after = Agents::built_from(f.source(), &rebuilt);
    assert_eq!(
        after.offer("arm1"),
        Offer::Build {
            os: "Linux".into(),
            arch: "aarch64".into()
        }
    );
    // agent_binary is offered to everyone.
    let fixed = Agents::fixed((*arm).clone());
    assert_eq!(fixed.offer("web1"), Offer::Ready(arm));
}
