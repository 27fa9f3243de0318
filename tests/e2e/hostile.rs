//! Values that try to become commands, and caches that are not ours:
//! attribute values with shell metacharacters in a `Command`, and
//! metacharacters in the paths, users and arguments the agent bootstrap
//! and the transports put into shell command lines (real sshd, both SSH
//! transports). Each hostile value tries to create a marker file; the
//! marker must never appear, and the value must arrive as plain text.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use batou_core::remote::bootstrap::{AgentLaunch, BootstrapError, launch};

use super::refusal::{assert_cache_dir_refused, start_refused};
use super::support::{LOCAL, Project};
use super::transport::{agent_script, launch_as, talk_to_agent, transports};
use crate::remote_support::SshServer;

/// Values that would run `touch MARKER` if they reached a shell unquoted.
fn hostile_values(marker: &Path) -> Vec<String> {
    let m = marker.display();
    vec![
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!("; touch {m}"),
        format!("x && touch {m}"),
        format!("x | touch {m}"),
        format!("' ; touch {m} ; '"),
        format!("\" ; touch {m} ; \""),
        format!("x\ntouch {m}"),
        format!("> {m}"),
        format!("$HOME ${{IFS}}* ~ %s \\ \t x"),
    ]
}

/// The INI spelling of `value` (a newline continues on an indented line).
fn ini_value(value: &str) -> String {
    value.replace('\n', "\n    ")
}

#[test]
fn command_attributes_cannot_inject_commands() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    for value in hostile_values(&marker) {
        let p = Project::new().env(
            "x",
            &format!(
                "{LOCAL}[hosts]\nlocalhost = say\n[component:say]\nword = {}\n",
                ini_value(&value)
            ),
        );
        p.run(&["deploy", "x"]).success();
        assert_eq!(
            p.read("work/say/said.txt"),
            format!("{value}\n"),
            "the value arrives as one word, unchanged"
        );
        assert!(!marker.exists(), "{value:?} ran a command");
    }
}

#[test]
fn metacharacters_in_paths_users_and_arguments_do_not_inject() {
    let server = SshServer::start();
    let target = server.target("target");
    for (name, t) in transports() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("pwned");
        let m = marker.display();
        let weird = format!("a $(touch {m}) `touch {m}`; touch {m} 'q' \"d\"");

        // put_file: the path is quoted in the remote shell script.
        let path = dir.path().join(format!("{weird}.bin"));
        t.put_file(&target, b"payload", path.to_str().unwrap(), 0o600)
            .unwrap_or_else(|e| panic!("{name}: put_file: {e}"));
        assert_eq!(std::fs::read(&path).unwrap(), b"payload", "{name}");

        // The agent cache directory and the agent's arguments.
        let cache = dir.path().join(format!("cache {weird}"));
        let binary = agent_script(dir.path());
        let launched = launch(&AgentLaunch {
            transport: &*t,
            target: &target,
            binary: &binary,
            cache_dir: Some(cache.display().to_string()),
            service_user: None,
            require_sudo: None,
            agent_args: vec![
                "agent".into(),
                format!("$(touch {m})"),
                format!("; touch {m}"),
            ],
            upload: Default::default(),
        })
        .unwrap_or_else(|e| panic!("{name}: launch: {e}"));
        assert_eq!(
            talk_to_agent(name, launched),
            format!("agent-user root args agent $(touch {m}) ; touch {m}"),
            "{name}: the arguments arrive as text"
        );
        assert!(
            cache.join(format!("batou-agent-{}", binary.hash)).exists(),
            "{name}: the cache is at the literal path"
        );

        // A service user name is passed to sudo as one argument.
        match launch_as(
            &*t,
            &target,
            &binary,
            Some(&cache),
            Some(&format!("nobody;touch {m}")),
        ) {
            Err(BootstrapError::Sudo { .. }) => {}
            Err(other) => panic!("{name}: expected sudo to refuse the user, got {other}"),
            Ok(_) => panic!("{name}: an agent started as `nobody;touch ...`"),
        }
        assert!(!marker.exists(), "{name}: a metacharacter ran a command");
    }
}

#[test]
fn a_cache_dir_others_may_write_to_is_refused() {
    let server = SshServer::start();
    let target = server.target("target");
    for (name, t) in transports() {
        assert_cache_dir_refused(
            name,
            &*t,
            &target,
            |cache| {
                std::fs::set_permissions(cache, std::fs::Permissions::from_mode(0o777)).unwrap()
            },
            "writable by other users",
            "used a world-writable cache",
        );
    }
}

#[test]
fn an_unknown_host_is_refused_even_if_the_ssh_config_would_trust_it() {
    let server = SshServer::start();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let known_hosts = dir.path().join("known_hosts");
    for trusting in ["accept-new", "no"] {
        std::fs::write(&known_hosts, "").unwrap();
        // The user's config says to trust new (or any) keys.
        let config = dir.path().join(format!("ssh_config_{trusting}"));
        let block = server.config_block("target", "root", &known_hosts).replace(
            "StrictHostKeyChecking yes",
            &format!("StrictHostKeyChecking {trusting}"),
        );
        std::fs::write(&config, block).unwrap();
        let target = batou_core::transport::Target {
            ssh_config: Some(config),
            ..server.target("target")
        };
        for (name, t) in transports() {
            let command = format!("touch {}", marker.display());
            let refused = matches!(
                start_refused(&*t, &target, &command),
                Ok(batou_core::transport::TransportError::HostKey { .. })
            );
            assert!(
                refused,
                "{name} with StrictHostKeyChecking {trusting}: not refused"
            );
            assert!(
                !marker.exists(),
                "{name} ({trusting}): a command ran on an unknown host"
            );
            assert_eq!(
                std::fs::read_to_string(&known_hosts).unwrap(),
                "",
                "{name} ({trusting}): the unknown key was learned"
            );
        }
    }
}

/// The uid of nobody on the test machine: the user who plants links.
const STRANGER: u32 = 54_321;

/// A project deploying `hello` to `target` over `method`, its target
/// directory made beforehand with `mode`.
fn remote_hello(server: &SshServer, method: &str, mode: u32) -> (Project, std::path::PathBuf) {
    let p = super::remote::ssh_project(&server.ssh_config(), "");
    p.write(
        "environments/remote.cfg",
        &format!(
            "[environment]\nconnect_method = {method}\n{}\n[hosts]\ntarget = hello\n",
            super::remote::private_dirs(&p)
        ),
    );
    let target = p.path().join("remote/target");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)).unwrap();
    (p, target)
}

super::remote::both_transports! {
    /// A target directory others may write to (no sticky bit) is refused
    /// like the lock directory: anyone could swap `work` for a link.
    fn a_target_directory_others_may_write_to_is_refused(method: &str) {
        let server = SshServer::start();
        let (p, target) = remote_hello(&server, method, 0o777);
        let out = p.run(&["deploy", "remote"]);
        assert_ne!(out.code, Some(0), "{}", out.stderr);
        let out = out
            .message(&format!("refusing to keep the deployment in {}", target.display()))
            .message("other users may write to it (mode 777)");
        drop(out);
        assert!(!target.join("work").exists());
    }
}

super::remote::both_transports! {
    /// In a sticky world-writable target directory (allowed, as /tmp),
    /// another user plants `work` as a link to elsewhere: root's agent
    /// does not write through it (#15).
    fn a_symlink_another_user_planted_is_not_followed(method: &str) {
        let server = SshServer::start();
        let (p, target) = remote_hello(&server, method, 0o1777);
        let elsewhere = tempfile::tempdir().unwrap();
        let work = target.join("work");
        std::os::unix::fs::symlink(elsewhere.path(), &work).unwrap();
        std::os::unix::fs::lchown(&work, Some(STRANGER), None).unwrap();
        let out = p.run(&["deploy", "remote"]);
        assert_ne!(out.code, Some(0), "{}", out.stdout);
        out.message("refusing to follow the symlink work")
            .message("it belongs to uid 54321");
        assert_eq!(
            std::fs::read_dir(elsewhere.path()).unwrap().count(),
            0,
            "the agent wrote through the planted link"
        );
    }
}
