//! The example deployment, unchanged, on real targets the controller's
//! own (glibc, dynamically linked) binary cannot run on, with the agent
//! the controller builds for each of them:
//!
//! - a Debian 11 host (glibc 2.31, OpenSSL 1.1) in a network namespace,
//!   running its own sshd from a debootstrapped root file system, over
//!   `ssh` and `ssh2`, with sudo to a service user;
//! - a root file system holding only a static busybox (no libc at all),
//!   reached with the `chroot` test transport;
//! - an aarch64 busybox root file system run by qemu-user through
//!   binfmt_misc, for which the controller builds an aarch64 agent itself
//!   (with `cargo zigbuild`).
//!
//! Each also shows the failure this replaces: the controller's own binary
//! as `agent_binary` does not start there ([`glibc_controller_on`] is the
//! setup for the tests of how such a failure is reported).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::remote::{both_transports, summary_line};
use super::support::{BIN, NATIVE_AGENT, Outcome, Project, built_agent, is_static};
use batou_tests::fixtures::CHROOTS_VAR;

use crate::remote_support::rootfs::ensure_qemu_aarch64;
use crate::remote_support::{NetnsHosts, RootFs, User};

/// The example's components and data on host `host`, plus `settings`
/// in `[environment]`.
fn example(host: &str, settings: &str) -> String {
    format!(
        "[environment]\n{settings}\n\
         [host:{host}]\ncomponents = backend, frontend\ndata-role = primary\ndata-datacenter = home\n\n\
         [component:backend]\naddress = app.internal:8080\nworkers = 2\ngreeting = Hello from {{{{ host.name }}}}\n\n\
         [component:frontend]\ntitle = batou example\n\n\
         [resolver]\napp.internal = 127.0.0.1\n"
    )
}

/// Asserts the example's files in the target directory `dir` (a path on
/// this machine), deployed for host `host`.
#[track_caller]
fn assert_example_deployed(dir: &Path, host: &str) {
    let read = |p: &str| {
        std::fs::read_to_string(dir.join(p))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(p).display()))
    };
    let conf = read("work/backend/etc/backend.conf");
    assert!(conf.contains("listen = 127.0.0.1:8080"), "{conf}");
    assert!(conf.contains(&format!("Hello from {host}")), "{conf}");
    let frontend = read("work/frontend/frontend.conf");
    assert!(
        frontend.contains(&format!("upstream {host} = 127.0.0.1:8080")),
        "{frontend}"
    );
    assert_eq!(read("work/frontend/build-id"), format!("{host}\n"));
}

/// The one file in an agent cache directory `cache` (a path on this
/// machine).
#[track_caller]
fn cached_agent(cache: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap_or_else(|e| panic!("{}: {e}", cache.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "one cached agent: {files:?}");
    files.into_iter().next().unwrap()
}

/// The ELF machine of the executable at `path` (0x3e x86_64, 0xb7
/// aarch64).
fn elf_machine(path: &Path) -> u16 {
    let bytes = std::fs::read(path).unwrap();
    u16::from_le_bytes([bytes[18], bytes[19]])
}

fn sha256_of(path: &Path) -> String {
    batou_core::remote::bootstrap::hash_file(path).expect("hash")
}

/// A Debian 11 host (`host0`) with a login user who may sudo (NOPASSWD)
/// to a service user, both users of that system. Dropped in field order:
/// the namespace and its sshd first, then the root file system.
pub(super) struct Bullseye {
    pub hosts: NetnsHosts,
    pub service: User,
    /// Kept until drop (removed with the root file system).
    _login: User,
}

impl Bullseye {
    pub fn start() -> Bullseye {
        let root = RootFs::bullseye();
        let service = User::create_in(Some(&root.root), "bt-s");
        let login = User::create_in(Some(&root.root), "bt-l");
        login.allow_sudo(&service.name, true);
        let mut hosts = NetnsHosts::create_rooted(vec![root]);
        hosts.add_alias(0, "old", &login.name);
        Bullseye {
            hosts,
            service,
            _login: login,
        }
    }

    /// A project reaching the host as `old` (the login user), running the
    /// agent as the service user; `settings` go into `[environment]`.
    pub fn project(&self, method: &str, settings: &str) -> Project {
        let config = std::fs::read_to_string(self.hosts.ssh_config()).unwrap();
        Project::new().file("ssh_config", &config).env(
            "old",
            &example(
                "old",
                &format!(
                    "connect_method = {method}\nservice_user = {}\n{settings}",
                    self.service.name
                ),
            ),
        )
    }

    /// `path` inside the service user's home, on this machine.
    pub fn home_path(&self, path: &str) -> PathBuf {
        self.service
            .host_path(&format!("{}/{path}", self.service.home.display()))
    }
}

both_transports! {
    /// The example deploys to Debian 11 as the service user (sudo), with
    /// the static agent; the second deploy changes and uploads nothing.
    fn the_example_deploys_to_debian_11(method: &str) {
        let host = Bullseye::start();
        let p = host.project(method, "");
        let out = p
            .run(&["deploy", "old"])
            .success()
            .stdout_contains("📦 old: Uploaded agent")
            .stdout_contains("DEPLOYMENT FINISHED");
        assert!(
            summary_line(&out, "old").ends_with(&format!("(as {})", host.service.name)),
            "{}",
            out.stdout
        );
        let target = host.home_path("deployment");
        assert_example_deployed(&target, "old");
        let conf = target.join("work/backend/etc/backend.conf");
        let uid: u32 = host
            .hosts
            .hosts[0]
            .rootfs()
            .unwrap()
            .sh(&format!("id -u {}", host.service.name))
            .trim()
            .parse()
            .unwrap();
        assert_eq!(std::fs::metadata(&conf).unwrap().uid(), uid, "written as the service user");

        let agent = cached_agent(&host.home_path(".cache/batou/agents"));
        assert_eq!(sha256_of(&agent), sha256_of(&built_agent(NATIVE_AGENT)));
        assert!(is_static(&agent));

        p.run(&["deploy", "old"])
            .success()
            .stdout_contains("Nothing changed.")
            .stdout_lacks("Uploaded agent");
        assert_eq!(cached_agent(&host.home_path(".cache/batou/agents")), agent);
    }
}

/// Deploys environment `env` of `project` with the controller's own
/// executable as `agent_binary` (what every deploy did before agents were
/// built per target) and returns the outcome, for the tests of how that
/// failure is reported; `vars` as for [`Project::run_with`].
pub(super) fn glibc_controller_on(project: &Project, env: &str, vars: &[(&str, &str)]) -> Outcome {
    std::fs::copy(BIN, project.path().join("controller")).unwrap();
    let path = format!("environments/{env}.cfg");
    let text = project.read(&path).replacen(
        "[environment]\n",
        "[environment]\nagent_binary = controller\n",
        1,
    );
    project.write(&path, &text);
    project.run_with(&["deploy", env], vars)
}

#[test]
fn the_controllers_own_binary_does_not_start_on_debian_11() {
    let host = Bullseye::start();
    let p = host.project("ssh", "");
    let out = glibc_controller_on(&p, "old", &[]);
    assert_ne!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("old"),
        "the error names the host: {}",
        out.stderr
    );
    assert!(
        !host.home_path("deployment/work").exists(),
        "nothing deployed"
    );
}

/// A project deploying the example through the `chroot` transport into
/// `root`, as host `host`.
fn chroot_project(root: &RootFs, host: &str) -> Project {
    let p = Project::new().env(host, &example(host, "connect_method = chroot\n"));
    std::fs::create_dir(p.path().join("chroots")).unwrap();
    std::os::unix::fs::symlink(&root.root, p.path().join("chroots").join(host)).unwrap();
    p
}

fn chroots(p: &Project) -> String {
    p.path().join("chroots").display().to_string()
}

#[test]
fn the_example_deploys_to_a_system_without_a_libc() {
    let root = RootFs::busybox("x86_64");
    assert!(
        !root.root.join("lib").exists() && !root.root.join("usr/lib").exists(),
        "no libc, no loader"
    );
    let p = chroot_project(&root, "bare");
    let dir = chroots(&p);
    let vars = [(CHROOTS_VAR, dir.as_str())];
    p.run_with(&["deploy", "bare"], &vars)
        .success()
        .stdout_contains("📦 bare: Uploaded agent (runs as root)")
        .stdout_contains("DEPLOYMENT FINISHED");
    assert_example_deployed(&root.host_path("/root/deployment"), "bare");
    let agent = cached_agent(&root.host_path("/root/.cache/batou/agents"));
    assert_eq!(sha256_of(&agent), sha256_of(&built_agent(NATIVE_AGENT)));

    // The agent is at hand: no cargo runs (one that cannot start would
    // fail the deploy).
    let no_cargo = [vars[0], ("CARGO", "/nonexistent/cargo")];
    p.run_with(&["deploy", "bare"], &no_cargo)
        .success()
        .stdout_contains("Nothing changed.")
        .stdout_lacks("Uploaded agent");

    // The controller's own binary cannot start there.
    let out = glibc_controller_on(&p, "bare", &vars);
    assert_ne!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
}

#[test]
fn the_controller_builds_an_aarch64_agent_and_deploys_with_it() {
    ensure_qemu_aarch64();
    let root = RootFs::busybox("aarch64");
    assert_eq!(elf_machine(&root.root.join("bin/busybox")), 0xb7);
    assert_eq!(
        root.sh("uname -m").trim(),
        "aarch64",
        "the target runs as aarch64"
    );
    let triple = "aarch64-unknown-linux-musl";
    let built = built_agent(triple);
    let existed = built.exists();
    let p = chroot_project(&root, "arm64-chroot");
    let dir = chroots(&p);
    let vars = [
        (CHROOTS_VAR, dir.as_str()),
        ("BATOU_AGENT_BUILDER", "zigbuild"),
    ];
    let out = p
        .run_with(&["deploy", "arm64-chroot"], &vars)
        .success()
        .stdout_contains("📦 arm64-chroot: Uploaded agent (runs as root)")
        .stdout_contains("DEPLOYMENT FINISHED");
    if !existed {
        // Built by this run (a test run builds each agent once; later
        // runs of the same controller find it).
        assert!(
            out.stdout.contains(&format!(
                "🔨 arm64-chroot: Building the agent for {triple}: "
            )) && out.stdout.contains("--target aarch64-unknown-linux-musl")
                && out.stderr.contains(&format!("[agent {triple}] Compiling")),
            "{}\n{}",
            out.stdout,
            out.stderr
        );
    }
    assert_example_deployed(&root.host_path("/root/deployment"), "arm64-chroot");
    let agent = cached_agent(&root.host_path("/root/.cache/batou/agents"));
    assert_eq!(elf_machine(&agent), 0xb7, "an aarch64 agent");
    assert!(is_static(&agent));
    assert_eq!(sha256_of(&agent), sha256_of(&built));

    p.run_with(&["deploy", "arm64-chroot"], &vars)
        .success()
        .stdout_contains("Nothing changed.")
        .stdout_lacks("Uploaded agent")
        .stdout_lacks("Building the agent");
}
