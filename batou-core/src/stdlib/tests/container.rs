//! `Container` against a real rootful podman (Debian's `podman`), with a
//! storage root, run root and tmpdir of the test's own (nothing of the
//! machine's podman state is read or changed), an image the test imports
//! from a tarball of busybox-static (no registry, no network), and
//! `--network=none` (no CNI bridge or firewall rules on the machine).
//!
//! Two settings are forced by these machines, not by the component:
//! `--runtime=runc`, because crun refuses the hybrid cgroup layout here
//! ("cgroups in hybrid mode not supported, drop all controllers from
//! cgroupv2": /sys/fs/cgroup/unified has the `hugetlb` controller), and
//! `--ulimit` for nofile/nproc at or below the current hard limits,
//! because setrlimit(2) may not raise a hard limit here even as root with
//! CAP_SYS_RESOURCE (EPERM), and podman's defaults (nofile 1048576) would.

use std::path::Path;
use std::process::Command as Proc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::fixture::{param, set_params};
use super::*;
use crate::stdlib::{Container, File};
use crate::testutil::needing_update;

/// The test's podman: its own storage, removed with the test's directory;
/// its containers are removed on drop.
struct Podman {
    /// `podman`, or a script running it in the test's network namespace.
    program: String,
    options: Vec<String>,
    /// The network namespace to delete on drop.
    netns: Option<String>,
    /// libcni's result cache directories (`/var/lib/cni/results`, which
    /// podman has no option to move) that did not exist before this
    /// podman: removed on drop when empty again, so that the test leaves
    /// nothing outside its directory behind.
    cni_cache_made: Vec<&'static str>,
    /// `--runroot`; removed after the containers (fields drop after
    /// `Drop::drop`).
    _runroot: tempfile::TempDir,
}

/// Where libcni keeps its results, innermost first.
const CNI_CACHE: [&str; 2] = ["/var/lib/cni/results", "/var/lib/cni"];

static NETNS: AtomicUsize = AtomicUsize::new(0);

impl Podman {
    /// podman in a network namespace of the test's own, with a CNI
    /// network `batoutest` (bridge, host-local addresses kept in the test
    /// directory, portmap) configured in the test directory: published
    /// ports, and the bridge and the firewall rules, exist in that
    /// namespace only. `nsenter --net`, unlike `ip netns exec`, leaves the
    /// mounts alone (runc needs the cgroup mounts).
    fn in_netns(dir: &Path) -> Self {
        let ns = format!(
            "batou-ctr-{}-{}",
            std::process::id(),
            NETNS.fetch_add(1, Ordering::SeqCst)
        );
        for args in [
            vec!["netns", "add", &ns],
            vec!["-n", &ns, "link", "set", "lo", "up"],
        ] {
            let out = Proc::new("ip").args(&args).output().expect("ip (iproute2)");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut podman = Self::new(dir);
        podman.netns = Some(ns.clone());
        podman.cni_cache_made = CNI_CACHE
            .into_iter()
            .filter(|p| !Path::new(p).exists())
            .collect();
        let cni = dir.join("podman/cni");
        std::fs::create_dir_all(&cni).unwrap();
        std::fs::write(
            cni.join("batoutest.conflist"),
            format!(
                r#"{{"cniVersion": "0.4.0", "name": "batoutest", "plugins": [
  {{"type": "bridge", "bridge": "batou0", "isGateway": true, "ipMasq": false,
    "ipam": {{"type": "host-local", "dataDir": "{}",
      "ranges": [[{{"subnet": "10.201.0.0/24", "gateway": "10.201.0.1"}}]],
      "routes": [{{"dst": "0.0.0.0/0"}}]}}}},
  {{"type": "portmap", "capabilities": {{"portMappings": true}}}}]}}"#,
                dir.join("podman/cni-state").display()
            ),
        )
        .unwrap();
        podman
            .options
            .push(format!("--network-config-dir={}", cni.display()));
        let script = dir.join("podman/podman-in-netns");
        std::fs::write(
            &script,
            format!("#!/bin/sh\nexec nsenter --net=/run/netns/{ns} podman \"$@\"\n"),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        podman.program = script.display().to_string();
        podman
    }

    /// An HTTP GET from inside the namespace (busybox wget): the body,
    /// or `None` when nothing answered.
    fn get(&self, url: &str) -> Option<String> {
        let ns = self.netns.as_ref().unwrap();
        let out = Proc::new("nsenter")
            .arg(format!("--net=/run/netns/{ns}"))
            .args(["busybox", "wget", "-q", "-O-", url])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn new(dir: &Path) -> Self {
        assert!(
            Path::new("/usr/bin/podman").exists() && Path::new("/usr/bin/runc").exists(),
            "podman or runc is missing: install Debian's `podman` and `runc` (./test does)"
        );
        let d = dir.join("podman");
        std::fs::create_dir_all(&d).unwrap();
        // podman refuses a run root longer than 50 bytes, which a test
        // directory below a run's own TMPDIR easily is: a short one in
        // /run (tmpfs, as podman's own default), removed with the podman.
        let runroot = tempfile::Builder::new()
            .prefix("batou-podman-")
            .tempdir_in("/run")
            .expect("a run root in /run");
        let options = vec![
            format!("--root={}", d.join("storage").display()),
            format!("--runroot={}", runroot.path().display()),
            format!("--tmpdir={}", d.join("tmp").display()),
            "--storage-driver=vfs".into(),
            "--runtime=runc".into(),
            "--cgroup-manager=cgroupfs".into(),
            "--events-backend=file".into(),
        ];
        Podman {
            program: "podman".into(),
            options,
            netns: None,
            cni_cache_made: Vec::new(),
            _runroot: runroot,
        }
    }

    /// Runs podman; its stdout, or a panic with what it said.
    fn run(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.try_run(args);
        assert!(ok, "podman {args:?} failed: {out}\n{err}");
        out
    }

    fn try_run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Proc::new(&self.program)
            .args(&self.options)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run podman: {e}"));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )
    }

    /// `{{FORMAT}}` of container `name`.
    fn inspect(&self, name: &str, format: &str) -> String {
        self.run(&["container", "inspect", "--format", format, name])
    }

    fn id(&self, name: &str) -> String {
        self.inspect(name, "{{.Id}}")
    }

    fn names(&self) -> String {
        self.run(&["ps", "-a", "--format", "{{.Names}}"])
    }

    /// Imports a busybox-static root file system (plus `marker`, so each
    /// import is a different image) as `localhost/bb:1`.
    fn import(&self, dir: &Path, marker: &str) -> String {
        let root = dir.join(format!("rootfs-{marker}"));
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::copy("/bin/busybox", root.join("bin/busybox"))
            .expect("/bin/busybox: install Debian's busybox-static (./test does)");
        for tool in [
            "sh", "sleep", "cat", "test", "echo", "touch", "httpd", "wget",
        ] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(tool)).unwrap();
        }
        std::fs::write(root.join("marker"), marker).unwrap();
        std::fs::create_dir_all(root.join("www")).unwrap();
        std::fs::write(root.join("www/index.html"), format!("served by {marker}\n")).unwrap();
        let tar = dir.join(format!("rootfs-{marker}.tar"));
        let status = Proc::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        self.run(&["import", tar.to_str().unwrap(), "localhost/bb:1"]);
        self.run(&["image", "inspect", "--format", "{{.Id}}", "localhost/bb:1"])
    }

    /// What a scene gives its `Container`: the options, one a line, and
    /// the executable (the case's parameters).
    fn params(&self) -> [&str; 2] {
        // Leaked: a test's scene reads them for the test's whole run.
        [
            Box::leak(self.options.join("\n").into_boxed_str()),
            self.program.as_str(),
        ]
    }
}

/// Whether a process runs whose command line names `dir`.
fn runs_in(dir: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        e.file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            && std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(dir))
    })
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.try_run(&["rm", "--all", "--force", "--time=0"]);
        // A stopped container's conmon runs `podman container cleanup`
        // afterwards, which writes into the storage: wait for it, or it
        // recreates files in the test's directory after its removal.
        if let Some(root) = self.options.first().and_then(|o| o.strip_prefix("--root=")) {
            let dir = Path::new(root).parent().unwrap().display().to_string();
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while runs_in(&dir) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        if let Some(ns) = &self.netns {
            let _ = Proc::new("ip").args(["netns", "delete", ns]).status();
        }
        for made in &self.cni_cache_made {
            // Only an empty directory goes: a result another podman
            // wrote meanwhile stays, and so does its directory.
            let _ = std::fs::remove_dir(made);
        }
    }
}

/// A container of the scene's test podman: its options are the case's
/// parameters.
fn container(scene: &Scene, name: &str) -> Container {
    let mut c = Container::new(name)
        .image("localhost/bb")
        .tag("1")
        .run_option("--ulimit=nofile=1024:1024")
        .run_option("--ulimit=nproc=1024:1024")
        .stop_timeout(1);
    for option in param(scene, 0).lines() {
        c = c.engine_option(option);
    }
    c.executable(param(scene, 1))
}

/// A shell loop that stops at once on SIGTERM (as PID 1 it has no
/// default handler), after writing its greeting to the volume.
const SERVE: &str = "echo \"$GREETING\" > /data/greeting; trap 'exit 0' TERM; \
                     while :; do sleep 1 & wait; done";

/// The components that changed (the gate's log lines also announce it,
/// so `needing_update` lists it; it never changes anything).
fn changed(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ComponentFinished {
                component,
                changed: true,
                ..
            } => Some(component.clone()),
            _ => None,
        })
        .collect()
}

static GREETING: AtomicUsize = AtomicUsize::new(1);

#[test]
fn a_container_runs_survives_a_no_op_deploy_and_is_replaced_only_when_it_changed() {
    let s = Stage::new(|scene, ctx| {
        ctx.add(File::new("data").ensure_directory())?;
        ctx.add(
            container(scene, "web")
                .network("none")
                .volume("data", "/data")
                .env(
                    "GREETING",
                    format!("hello {}", GREETING.load(Ordering::SeqCst)),
                )
                .env("TOKEN", "s3cr3t-t0ken")
                .command(["/bin/sh", "-c", SERVE])
                .health_cmd("test -s /data/greeting")
                .health_interval(Duration::from_millis(200)),
        )?;
        Ok(())
    });
    let dir = s.prepare();
    let podman = Podman::new(&dir);
    set_params(s.case, &podman.params());
    let image = podman.import(&dir, "one");
    let env_file = s.path("web.env");

    // Predicting creates nothing and writes nothing.
    let (report, events) = s.predict();
    assert!(report.changed >= 2, "{events:#?}");
    assert_eq!(podman.names(), "");
    assert!(!env_file.exists(), "predict wrote the env file");

    // First deploy: created, running, environment through the env file.
    let (_, events) = s.deploy();
    assert!(
        needing_update(&events).contains(&"Scene > Container('web') > podman run".to_string()),
        "{:?}",
        needing_update(&events)
    );
    let id = podman.id("web");
    assert_eq!(podman.inspect("web", "{{.State.Running}}"), "true");
    assert_eq!(podman.inspect("web", "{{.Image}}"), image);
    assert_eq!(s.read("data/greeting"), "hello 1\n");
    assert_eq!(mode_of(&env_file), 0o600);
    let created = podman.inspect("web", "{{.Config.CreateCommand}}");
    assert!(created.contains("--env-file="), "{created}");
    assert!(
        !created.contains("s3cr3t"),
        "a secret on the command line: {created}"
    );
    assert!(
        !format!("{events:?}").contains("s3cr3t"),
        "the secret is in the events"
    );
    assert_eq!(hidden(&events).len(), 1, "the env file's diff is hidden");
    // The health gate ran and passed.
    let gate = "Scene > Container('web') > HealthCheck('web: test -s /data/greeting')";
    assert!(
        events.iter().any(
            |e| matches!(e, Event::Log { component: Some(c), message, .. }
            if c == gate && message.contains("healthy"))
        ),
        "{events:#?}"
    );

    // Nothing changed: the same container, nothing written.
    let before = identity(&env_file);
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(podman.id("web"), id);
    assert_eq!(identity(&env_file), before);

    // Drift: stopped by hand, started again (the same container).
    podman.run(&["stop", "--time=1", "web"]);
    let (_, events) = s.deploy();
    assert_eq!(changed(&events), ["Scene > Container('web') > podman run"]);
    assert_eq!(podman.id("web"), id);
    assert_eq!(podman.inspect("web", "{{.State.Running}}"), "true");

    // Its definition changed (an environment value): predicting keeps
    // it, deploying replaces it.
    GREETING.store(2, Ordering::SeqCst);
    s.predict();
    assert_eq!(podman.id("web"), id);
    s.deploy();
    let replaced = podman.id("web");
    assert_ne!(replaced, id);
    assert_eq!(s.read("data/greeting"), "hello 2\n");
    assert_eq!(podman.names(), "web", "the old container is gone");
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(podman.id("web"), replaced);

    // A new image under the same tag: replaced, runs the new image.
    let newer = podman.import(&dir, "two");
    assert_ne!(newer, image);
    s.deploy();
    let third = podman.id("web");
    assert_ne!(third, replaced);
    assert_eq!(podman.inspect("web", "{{.Image}}"), newer);
    assert_eq!(
        podman.run(&["exec", "web", "cat", "/marker"]),
        "two",
        "the container runs the new image"
    );

    // Drift: removed by hand, created again.
    podman.run(&["rm", "--force", "--time=0", "web"]);
    s.deploy();
    assert_ne!(podman.id("web"), third);
    assert_eq!(podman.inspect("web", "{{.State.Running}}"), "true");

    // Drift: a container of the same name that batou did not make (no
    // label): replaced.
    podman.run(&["rm", "--force", "--time=0", "web"]);
    podman.run(&[
        "run",
        "-d",
        "--name=web",
        "--network=none",
        "--ulimit=nofile=1024:1024",
        "--ulimit=nproc=1024:1024",
        "localhost/bb:1",
        "/bin/sh",
        "-c",
        SERVE,
    ]);
    let foreign = podman.id("web");
    s.deploy();
    assert_ne!(podman.id("web"), foreign);
    assert_eq!(
        podman
            .inspect("web", "{{index .Config.Labels \"batou.definition\"}}")
            .len(),
        64
    );
}

#[test]
fn a_failing_health_command_fails_the_root() {
    let s = Stage::new(|scene, ctx| {
        ctx.add(
            container(scene, "sick")
                .network("none")
                .command([
                    "/bin/sh",
                    "-c",
                    "trap 'exit 0' TERM; while :; do sleep 1 & wait; done",
                ])
                .health_cmd("test -f /healthy")
                .health_retries(1)
                .health_interval(Duration::from_millis(100)),
        )?;
        ctx.add(File::new("after-the-gate").content("x"))?;
        Ok(())
    });
    let dir = s.prepare();
    let podman = Podman::new(&dir);
    set_params(s.case, &podman.params());
    podman.import(&dir, "one");

    let (result, _) = s.run(false);
    let error = result.expect_err("the health command fails").to_string();
    assert!(
        error.contains("health check failed") && error.contains("sick: test -f /healthy"),
        "{error}"
    );
    assert!(
        !s.path("after-the-gate").exists(),
        "the deploy went on past a failed gate"
    );

    // Healthy now: the same container passes, and the deploy goes on.
    let id = podman.id("sick");
    podman.run(&["exec", "sick", "touch", "/healthy"]);
    s.deploy();
    assert_eq!(podman.id("sick"), id);
    assert_eq!(s.read("after-the-gate"), "x");
}

#[test]
fn bad_container_arguments_are_clear_errors() {
    assert_config_errors(&[
        (
            |_, ctx| ctx.add(Container::new("web")).map(drop),
            "Container('web'): no image given",
        ),
        (
            |_, ctx| ctx.add(Container::new("-x").image("a")).map(drop),
            "a container name is letters, digits",
        ),
        (
            |_, ctx| {
                ctx.add(Container::new("web").image("a").tag("1 2"))
                    .map(drop)
            },
            "invalid tag `1 2`",
        ),
        (
            |_, ctx| {
                ctx.add(Container::new("web").image("a").env("1X", "v"))
                    .map(drop)
            },
            "invalid environment variable name `1X`",
        ),
        (
            |_, ctx| {
                ctx.add(Container::new("web").image("a").env("K", "secret\nline"))
                    .map(drop)
            },
            "the value of environment variable `K` contains a line break",
        ),
        (
            |_, ctx| {
                ctx.add(Container::new("web").image("a").port("8080", "http"))
                    .map(drop)
            },
            "invalid port `8080:http`",
        ),
        (
            |_, ctx| {
                ctx.add(Container::new("web").image("a").volume("d", "rel"))
                    .map(drop)
            },
            "invalid volume target `rel`",
        ),
        (
            |_, ctx| {
                ctx.add(Container::new("web").image("a").restart("sometimes"))
                    .map(drop)
            },
            "unknown restart policy `sometimes`",
        ),
        (
            |_, ctx| {
                ctx.add(Container::new("web").image("a").run_option("memory=1g"))
                    .map(drop)
            },
            "option `memory=1g` does not start with `-`",
        ),
    ]);
}

#[test]
fn a_missing_podman_is_a_clear_error() {
    let s = Stage::new(|_, ctx| {
        ctx.add(
            Container::new("web")
                .image("localhost/bb")
                .executable("/nonexistent/podman"),
        )?;
        Ok(())
    });
    let (result, _) = s.run(true);
    let error = result.expect_err("no podman").to_string();
    assert!(
        error.contains("cannot run podman (`/nonexistent/podman`)"),
        "{error}"
    );
}

static PORT: AtomicUsize = AtomicUsize::new(18080);

#[test]
fn published_ports_answer_and_a_changed_port_replaces_the_container() {
    let s = Stage::new(|scene, ctx| {
        ctx.add(
            container(scene, "site")
                .network("batoutest")
                .port(format!("127.0.0.1:{}", PORT.load(Ordering::SeqCst)), "8080")
                .command(["/bin/httpd", "-f", "-p", "8080", "-h", "/www"])
                .health_cmd("wget -q -O /dev/null http://127.0.0.1:8080/index.html")
                .health_interval(Duration::from_millis(200)),
        )?;
        Ok(())
    });
    let dir = s.prepare();
    let podman = Podman::in_netns(&dir);
    set_params(s.case, &podman.params());
    podman.import(&dir, "one");

    s.deploy();
    let id = podman.id("site");
    assert_eq!(
        podman.get("http://127.0.0.1:18080/index.html").as_deref(),
        Some("served by one\n")
    );
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(podman.id("site"), id);

    PORT.store(18081, Ordering::SeqCst);
    s.deploy();
    assert_ne!(podman.id("site"), id);
    assert_eq!(
        podman.get("http://127.0.0.1:18081/index.html").as_deref(),
        Some("served by one\n")
    );
    assert_eq!(podman.get("http://127.0.0.1:18080/index.html"), None);
}

#[test]
fn the_health_command_is_a_gate_of_its_root() {
    let s = Stage::new(|_, ctx| {
        ctx.add(
            Container::new("web")
                .image("localhost/bb")
                .health_cmd("wget -q -O /dev/null http://127.0.0.1:8080/"),
        )?;
        Ok(())
    });
    let model = s.model();
    assert_eq!(
        crate::rollout::gates_of(&model.roots[0]),
        ["HealthCheck('web: wget -q -O /dev/null http://127.0.0.1:8080/')"]
    );
}

static PLAIN: AtomicUsize = AtomicUsize::new(0);

#[test]
fn an_env_file_is_removed_when_the_container_has_no_environment_any_more() {
    let s = Stage::new(|scene, ctx| {
        let mut c = container(scene, "plain").network("none").command([
            "/bin/sh",
            "-c",
            "trap 'exit 0' TERM; while :; do sleep 1 & wait; done",
        ]);
        if PLAIN.load(Ordering::SeqCst) == 0 {
            c = c.env("TOKEN", "s3cr3t");
        }
        ctx.add(c)?;
        Ok(())
    });
    let dir = s.prepare();
    let podman = Podman::new(&dir);
    set_params(s.case, &podman.params());
    podman.import(&dir, "one");
    s.deploy();
    assert!(s.path("plain.env").exists());
    let id = podman.id("plain");
    PLAIN.store(1, Ordering::SeqCst);
    s.deploy();
    assert!(!s.path("plain.env").exists(), "the old env file is left");
    assert_ne!(podman.id("plain"), id, "replaced without the environment");
    assert_eq!(
        podman.run(&["exec", "plain", "/bin/sh", "-c", "echo ${TOKEN:-none}"]),
        "none"
    );
}
