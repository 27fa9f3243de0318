//! Full `batou-test deploy` runs over real OpenSSH, for both SSH
//! transports (`ssh`, `ssh2`): the example deployment to an sshd on
//! 127.0.0.1 (agent uploaded once), sudo to a service user, and a changed
//! host key. Several namespaced hosts are in `remote_hosts.rs`, killed
//! connections and concurrent deploys in `remote_interrupt.rs`, DNS on the
//! targets in `remote_dns.rs`; this module also holds their helpers (a
//! deploy in the background and its probes are in `background.rs`).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::support::{NATIVE_AGENT, Outcome, Project, built_agent};
use crate::remote_support::{SshServer, User};

/// Generates `mod $name { fn ssh(); fn ssh2(); }`, running `$body` with
/// `$method` set to the transport's name.
macro_rules! both_transports {
    ($(#[$meta:meta])* fn $name:ident($method:ident: &str) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run($method: &str) $body

            #[test]
            fn ssh() {
                run("ssh")
            }

            #[test]
            fn ssh2() {
                run("ssh2")
            }
        }
    };
}
pub(super) use both_transports;

/// A project whose `ssh_config` is `ssh_config`'s text and whose
/// environment `remote` is `env`.
pub(super) fn ssh_project(ssh_config: &Path, env: &str) -> Project {
    let config = std::fs::read_to_string(ssh_config).expect("the harness's ssh_config");
    Project::new()
        .file("ssh_config", &config)
        .env("remote", env)
}

/// `target_directory`, `agent_cache` and `deploy_lock` inside the project
/// (`remote/…`), so parallel tests deploying as root never share them.
pub(super) fn private_dirs(p: &Project) -> String {
    let d = p.path().join("remote");
    format!(
        "target_directory = {0}/target\nagent_cache = {0}/cache\ndeploy_lock = {0}/lock/deploy.lock\n",
        d.display()
    )
}

/// The example deployment (as `environments/local.cfg`) on host `target`.
fn example_env(method: &str, dirs: &str) -> String {
    format!(
        "[environment]\nconnect_method = {method}\n{dirs}\n\
         [host:target]\ncomponents = backend, frontend\ndata-role = primary\ndata-datacenter = home\n\n\
         [component:backend]\naddress = app.internal:8080\nworkers = 2\ngreeting = Hello from {{{{ host.name }}}}\n\n\
         [component:frontend]\ntitle = batou example\n\n\
         [resolver]\napp.internal = 127.0.0.1\n"
    )
}

/// Identity of every file in `dir` (name, inode, size, mtime, ctime): a
/// rewritten or re-uploaded file changes at least its inode or times.
pub(super) fn file_identities(dir: &Path) -> Vec<(String, u64, u64, i64, i64, i64, i64)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let m = e.metadata().expect("metadata");
            (
                e.file_name().to_string_lossy().into_owned(),
                m.ino(),
                m.size(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The uid of user `name`.
pub(super) fn uid_of(name: &str) -> u32 {
    let out = std::process::Command::new("id")
        .args(["-u", name])
        .output()
        .expect("id -u");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no uid for {name}"))
}

/// The summary line of `host` (`host: connect=…, … (as user)`).
#[track_caller]
pub(super) fn summary_line(out: &Outcome, host: &str) -> String {
    let summary = out
        .stdout
        .split("Summary")
        .nth(1)
        .unwrap_or_else(|| panic!("no summary in:\n{}", out.stdout));
    summary
        .lines()
        .find(|l| l.starts_with(&format!("{host}: connect=")))
        .unwrap_or_else(|| panic!("no summary line for {host} in:\n{summary}"))
        .to_string()
}

both_transports! {
    /// The example deployment to an sshd on 127.0.0.1: uploaded once, then
    /// nothing changes and nothing is uploaded.
    fn example_deploys_then_converges_without_upload(method: &str) {
        let server = SshServer::start();
        let p = ssh_project(&server.ssh_config(), "");
        p.write("environments/remote.cfg", &example_env(method, &private_dirs(&p)));
        let out = p
            .run(&["deploy", "remote"])
            .success()
            .stdout_contains(&format!("🌐 target: Connecting via {method} (1/1)"))
            .stdout_contains("📦 target: Uploaded agent (runs as root)")
            .stdout_contains("DEPLOYMENT FINISHED");
        assert!(
            summary_line(&out, "target").ends_with(", agent uploaded (as root)"),
            "{}",
            out.stdout
        );
        let conf = p.read("remote/target/work/backend/etc/backend.conf");
        assert!(conf.contains("listen = 127.0.0.1:8080"), "{conf}");
        assert!(conf.contains("role = primary"), "{conf}");
        assert!(conf.contains("Hello from target"), "{conf}");
        let frontend = p.read("remote/target/work/frontend/frontend.conf");
        assert!(
            frontend.contains("upstream target = 127.0.0.1:8080"),
            "{frontend}"
        );
        // Nothing landed where the agent's user would deploy by default.
        p.assert_missing("home/deployment");

        let cache = p.path().join("remote/cache");
        let hash = batou_core::remote::bootstrap::hash_file(&built_agent(NATIVE_AGENT)).unwrap();
        let cached = file_identities(&cache);
        assert_eq!(
            cached.iter().map(|c| c.0.clone()).collect::<Vec<_>>(),
            vec![format!("batou-agent-{hash}")],
            "the cache holds exactly the static build of this deployment"
        );

        let again = p
            .run(&["deploy", "remote"])
            .success()
            .stdout_contains("Nothing changed.")
            .stdout_lacks("Uploaded agent")
            .stdout_lacks("agent uploaded")
            .stdout_lacks("did not end cleanly");
        assert!(
            summary_line(&again, "target").ends_with(", changed=0 (as root)"),
            "{}",
            again.stdout
        );
        assert_eq!(
            file_identities(&cache),
            cached,
            "the cached agent was neither re-sent nor rewritten"
        );
    }
}

/// `hello` writing `text` on host `host`.
fn hello_env(method: &str, host: &str, settings: &str) -> String {
    format!(
        "[environment]\nconnect_method = {method}\n{settings}\n\
         [host:{host}]\ncomponents = hello\n\n[component:hello]\ntext = deployed\n"
    )
}

both_transports! {
    /// A login user sudoes to the service user: the agent and everything
    /// it deploys belong to the service user, in its home.
    fn sudo_deploys_as_the_service_user(method: &str) {
        let server = SshServer::start();
        let service = User::create("bt-svc-");
        let login = User::create("bt-lg-");
        login.allow_sudo(&service.name, true);
        server.add_alias("login", &login.name);
        let settings = format!("service_user = {}\n", service.name);
        let p = ssh_project(&server.ssh_config(), &hello_env(method, "login", &settings));
        let out = p
            .run(&["deploy", "remote"])
            .success()
            .stdout_contains(&format!(
                "📦 login: Uploaded agent (runs as {})",
                service.name
            ));
        let line = summary_line(&out, "login");
        assert!(line.ends_with(&format!(" (as {})", service.name)), "{line}");

        let uid = uid_of(&service.name);
        assert_ne!(uid, uid_of(&login.name));
        let hello = service.home.join("deployment/work/hello/hello.txt");
        assert_eq!(
            std::fs::read_to_string(&hello)
                .unwrap_or_else(|e| panic!("{}: {e}", hello.display())),
            "deployed\n"
        );
        for path in [
            hello.clone(),
            service.home.join("deployment/work/hello"),
            service.home.join(".batou/deploy.lock"),
            service.home.join(".cache/batou/agents"),
        ] {
            let meta = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(meta.uid(), uid, "{} belongs to the service user", path.display());
        }
        let cached = file_identities(&service.home.join(".cache/batou/agents"));
        assert_eq!(cached.len(), 1, "{cached:?}");
        assert!(
            !login.home.join("deployment").exists() && !login.home.join(".cache/batou").exists(),
            "nothing was deployed as the login user"
        );
    }
}

both_transports! {
    /// sudo that would prompt for a password fails at once (exit 4) and
    /// says so, instead of hanging until a timeout.
    fn sudo_asking_for_a_password_fails_and_says_so(method: &str) {
        let server = SshServer::start();
        let service = User::create("bt-svc-");
        let login = User::create("bt-pw-");
        // A rule, but without NOPASSWD: sudo would prompt.
        login.allow_sudo(&service.name, false);
        server.add_alias("pw", &login.name);
        let settings = format!("service_user = {}\nconnect_timeout = 60\n", service.name);
        let p = ssh_project(&server.ssh_config(), &hello_env(method, "pw", &settings));
        p.run(&["deploy", "remote"])
            .code(4)
            .stderr_contains(&format!(
                "sudo on pw asks for a password to run as {}",
                service.name
            ))
            .stderr_contains("NOPASSWD")
            .stderr_lacks("did not answer within")
            .stdout_lacks("Uploaded agent");
        for dir in ["deployment", ".cache/batou", ".batou"] {
            assert!(
                !service.home.join(dir).exists() && !login.home.join(dir).exists(),
                "{dir} was created"
            );
        }
    }
}

both_transports! {
    /// A host whose key differs from known_hosts is refused: exit 4, the
    /// host and the key it offered are named, nothing reaches it.
    fn a_changed_host_key_is_refused_and_nothing_is_deployed(method: &str) {
        let server = SshServer::start();
        let p = ssh_project(&server.ssh_config(), "");
        p.write(
            "environments/remote.cfg",
            &hello_env(method, "target", &private_dirs(&p)),
        );
        let real = server.fingerprint();
        let recorded = server.break_host_key();
        assert_ne!(real, recorded);
        let out = p
            .run(&["deploy", "remote"])
            .code(4)
            .stderr_contains("ERROR: target: host key verification failed")
            .stdout_lacks("Uploaded agent")
            .stdout_contains("DEPLOYMENT FAILED");
        // Both transports name the key the server offered.
        assert!(
            out.stderr.contains("the server offered")
                && out.stderr.contains(&real)
                && out.stderr.contains("CHANGED"),
            "names the changed key {real}:\n{}",
            out.stderr
        );
        assert_eq!(out.error_count(), 1, "one error:\n{}", out.stderr);
        p.assert_missing("remote/target");
        p.assert_missing("remote/cache");
        p.assert_missing("remote/lock");

        // The same deploy with the real key goes through.
        server.restore_host_key();
        p.run(&["deploy", "remote"]).success();
        assert_eq!(p.read("remote/target/work/hello/hello.txt"), "deployed\n");
    }
}

both_transports! {
    /// The connection is opened while the controller configures, but the
    /// bootstrap waits for the model to be sound: a configuration error
    /// (exit 3) leaves the target untouched — no agent cache, no lock, no
    /// target directory — and the fixed model then deploys.
    fn a_configuration_error_leaves_the_target_untouched(method: &str) {
        let server = SshServer::start();
        let p = ssh_project(&server.ssh_config(), "");
        let env = hello_env(method, "target", &private_dirs(&p));
        p.write(
            "environments/remote.cfg",
            // An override for an attribute `hello` does not have.
            &format!("{env}nosuchattr = 1\n"),
        );
        p.run(&["deploy", "remote"])
            .code(3)
            .stdout_lacks("Uploaded agent")
            .stdout_contains("CONFIGURATION FAILED");
        p.assert_missing("remote/target");
        p.assert_missing("remote/cache");
        p.assert_missing("remote/lock");

        p.write("environments/remote.cfg", &env);
        p.run(&["deploy", "remote"]).success();
        assert_eq!(p.read("remote/target/work/hello/hello.txt"), "deployed\n");
    }
}
