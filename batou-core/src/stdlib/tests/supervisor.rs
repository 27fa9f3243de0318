//! `Supervisor` and `supervisor::Program` against a real supervisord
//! (Debian's `supervisor` package) started by the deploy in the test's
//! own workdir; the guard shuts it down.

use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::*;
use crate::stdlib::supervisor::Program;
use crate::stdlib::{Deployment, File, Supervisor};
use crate::testutil::needing_update;

/// Shuts the test's supervisord down, whatever happened.
struct Daemon {
    conf: PathBuf,
    pidfile: PathBuf,
}

impl Daemon {
    fn of(s: &Stage) -> Self {
        Daemon {
            conf: s.path("etc/supervisord.conf"),
            pidfile: s.path("var/supervisord.pid"),
        }
    }

    fn ctl(&self, args: &[&str]) -> String {
        assert!(
            Path::new("/usr/bin/supervisorctl").exists(),
            "supervisorctl is missing: install Debian's `supervisor` (./test does)"
        );
        let out = Proc::new("supervisorctl")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The daemon's pid (0: not running).
    fn pid(&self) -> u32 {
        self.ctl(&["pid"]).parse().unwrap_or(0)
    }

    /// A program's pid (0: not running).
    fn pid_of(&self, name: &str) -> u32 {
        self.ctl(&["pid", name]).parse().unwrap_or(0)
    }

    fn state(&self, name: &str) -> String {
        let out = self.ctl(&["status", name]);
        out.split_whitespace().nth(1).unwrap_or("").to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.pid() != 0 {
            self.ctl(&["shutdown"]);
        }
        // Shut down or not answering: its pid file says which process.
        if let Ok(pid) = std::fs::read_to_string(&self.pidfile)
            && let Ok(pid) = pid.trim().parse::<i32>()
            && pid > 1
        {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while Path::new(&format!("/proc/{pid}")).exists()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            if Path::new(&format!("/proc/{pid}")).exists() {
                // SAFETY: a pid our own supervisord wrote.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

static ARGS_VERSION: AtomicUsize = AtomicUsize::new(1000);
static DEP_VERSION: AtomicUsize = AtomicUsize::new(1);

#[test]
fn programs_start_survive_a_no_op_deploy_and_restart_only_when_they_changed() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Supervisor::new())?;
        let args = ARGS_VERSION.load(Ordering::SeqCst);
        ctx.add(
            Program::new("sleeper")
                .command("sleep")
                .args(args.to_string())
                .startsecs(1)
                .env("GREETING", "it's 50%")
                .env("QUOTED", "say \"a, b\" = c")
                .depends_on(
                    File::new("sleeper.toml")
                        .content(format!("v{}\n", DEP_VERSION.load(Ordering::SeqCst))),
                ),
        )?;
        ctx.add(
            Program::new("other")
                .command("/bin/sleep 100000")
                .startsecs(1),
        )?;
        Ok(())
    });
    let d = Daemon::of(&s);
    let section = s.path("etc/supervisor.d/sleeper.conf");

    // Predicting writes nothing and starts nothing.
    let (report, events) = s.predict();
    assert!(report.changed >= 3, "{events:#?}");
    assert!(!s.path("etc").exists(), "predict wrote files");
    assert_eq!(d.pid(), 0, "predict started supervisord");

    let (_, events) = s.deploy();
    let sleeper = "Scene > supervisor.Program('sleeper')";
    assert!(needing_update(&events).contains(&"Scene > Supervisor".to_string()));
    assert!(needing_update(&events).contains(&sleeper.to_string()));
    let daemon = d.pid();
    assert_ne!(daemon, 0);
    assert_eq!(d.state("sleeper"), "RUNNING");
    assert_eq!(d.state("other"), "RUNNING");
    let (pid, other) = (d.pid_of("sleeper"), d.pid_of("other"));
    assert_ne!(pid, 0);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, b"sleep\x001000\x00");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    for wanted in [&b"GREETING=it's 50%"[..], b"QUOTED=say \"a, b\" = c"] {
        assert!(
            environ.split(|b| *b == 0).any(|v| v == wanted),
            "{} did not reach the program unchanged",
            String::from_utf8_lossy(wanted)
        );
    }
    // The service user's own supervisorctl.
    let out = Proc::new(s.path("bin/supervisorctl"))
        .args(["pid", "sleeper"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), pid.to_string());
    assert_eq!(mode_of(&s.path("var/supervisor.sock")) & 0o077, 0);

    // Nothing changed: nothing written, no process touched.
    let before = identity(&section);
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(identity(&section), before);
    assert_eq!(
        (d.pid(), d.pid_of("sleeper"), d.pid_of("other")),
        (daemon, pid, other)
    );

    // Its own section changed: predicting restarts nothing, deploying
    // restarts that program alone.
    ARGS_VERSION.store(2000, Ordering::SeqCst);
    let (_, events) = s.predict();
    assert!(needing_update(&events).contains(&sleeper.to_string()));
    assert_eq!(d.pid_of("sleeper"), pid);
    assert_eq!(identity(&section), before);
    let (_, events) = s.deploy();
    assert_eq!(
        needing_update(&events),
        [
            "Scene > supervisor.Program('sleeper') > File('etc/supervisor.d/sleeper.conf') > Content('sleeper.conf')"
                .replace("etc/supervisor.d/sleeper.conf", &section.display().to_string()),
            sleeper.to_string()
        ]
    );
    let restarted = d.pid_of("sleeper");
    assert!(restarted != 0 && restarted != pid, "{pid} -> {restarted}");
    let cmdline = std::fs::read(format!("/proc/{restarted}/cmdline")).unwrap();
    assert_eq!(cmdline, b"sleep\x002000\x00");
    assert_eq!((d.pid(), d.pid_of("other")), (daemon, other));
    assert_eq!(d.state("sleeper"), "RUNNING");

    // A component it depends on changed: restarted, nothing else.
    DEP_VERSION.store(2, Ordering::SeqCst);
    s.deploy();
    let again = d.pid_of("sleeper");
    assert!(again != 0 && again != restarted, "{restarted} -> {again}");
    assert_eq!((d.pid(), d.pid_of("other")), (daemon, other));
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(d.pid_of("sleeper"), again);

    // Drift: stopped by hand, then started by the deploy.
    d.ctl(&["stop", "sleeper"]);
    assert_eq!(d.state("sleeper"), "STOPPED");
    let (_, events) = s.deploy();
    assert_eq!(needing_update(&events), [sleeper]);
    assert_eq!(d.state("sleeper"), "RUNNING");

    // Drift: the section edited and applied by hand; written back and
    // applied again.
    let wanted = std::fs::read_to_string(&section).unwrap();
    std::fs::write(&section, wanted.replace("2000", "3000")).unwrap();
    d.ctl(&["update", "sleeper"]);
    let drifted = d.pid_of("sleeper");
    s.deploy();
    assert_eq!(std::fs::read_to_string(&section).unwrap(), wanted);
    let repaired = d.pid_of("sleeper");
    assert!(repaired != 0 && repaired != drifted);
    assert_eq!(
        std::fs::read(format!("/proc/{repaired}/cmdline")).unwrap(),
        b"sleep\x002000\x00"
    );
    // Written but never applied (a deploy that stopped half-way): found
    // by comparing with what supervisord loaded.
    std::fs::write(&section, wanted.replace("2000", "3000")).unwrap();
    d.ctl(&["update", "sleeper"]);
    std::fs::write(&section, &wanted).unwrap();
    let (_, events) = s.deploy();
    assert_eq!(needing_update(&events), [sleeper]);
    let applied = d.pid_of("sleeper");
    assert_eq!(
        std::fs::read(format!("/proc/{applied}/cmdline")).unwrap(),
        b"sleep\x002000\x00"
    );

    // Drift of the daemon's configuration: written back and reloaded.
    let conf = s.path("etc/supervisord.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("loglevel = info", "loglevel = debug")).unwrap();
    let (_, events) = s.deploy();
    assert!(needing_update(&events).contains(&"Scene > Supervisor".to_string()));
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), text);
    assert_eq!(d.state("sleeper"), "RUNNING");
    assert_eq!(d.state("other"), "RUNNING");
    assert_eq!(s.deploy().0.changed, 0);

    // The daemon is gone: started again, with its programs.
    d.ctl(&["shutdown"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while d.pid() != 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(d.pid(), 0);
    s.deploy();
    assert_ne!(d.pid(), 0);
    assert_eq!(d.state("sleeper"), "RUNNING");
    assert_eq!(d.state("other"), "RUNNING");
    assert_eq!(s.deploy().0.changed, 0);
}

static ENABLED: AtomicBool = AtomicBool::new(true);

#[test]
fn enable_false_keeps_a_program_stopped() {
    let s = Stage::new(|_, ctx| {
        let on = ENABLED.load(Ordering::SeqCst);
        ctx.add(Supervisor::new())?;
        ctx.add(
            Program::new("sleeper")
                .command("sleep 1000")
                .startsecs(1)
                .enable(on),
        )?;
        Ok(())
    });
    let d = Daemon::of(&s);
    s.deploy();
    assert_eq!(d.state("sleeper"), "RUNNING");
    ENABLED.store(false, Ordering::SeqCst);
    s.deploy();
    assert_eq!(d.state("sleeper"), "STOPPED");
    assert!(
        std::fs::read_to_string(s.path("etc/supervisor.d/sleeper.conf"))
            .unwrap()
            .contains("autostart = false")
    );
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(d.state("sleeper"), "STOPPED");
}

static SUPERVISOR_ON: AtomicBool = AtomicBool::new(true);

#[test]
fn a_disabled_supervisor_is_shut_down() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Supervisor::new().enable(SUPERVISOR_ON.load(Ordering::SeqCst)))?;
        ctx.add(Program::new("sleeper").command("sleep 1000").startsecs(1))?;
        Ok(())
    });
    let d = Daemon::of(&s);
    s.deploy();
    assert_ne!(d.pid(), 0);
    SUPERVISOR_ON.store(false, Ordering::SeqCst);
    let (_, events) = s.deploy();
    assert!(needing_update(&events).contains(&"Scene > Supervisor".to_string()));
    assert_eq!(d.pid(), 0);
    assert_eq!(s.deploy().0.changed, 0);
}

#[test]
fn a_program_that_does_not_stay_up_fails_the_deploy_naming_its_state_and_log() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Supervisor::new())?;
        ctx.add(
            Program::new("crasher")
                .command("/bin/sh -c 'echo dying; exit 3'")
                .startsecs(1)
                .startretries(0),
        )?;
        Ok(())
    });
    let _d = Daemon::of(&s);
    let (result, _) = s.run(false);
    let text = result.expect_err("a crashing program deployed").to_string();
    assert!(
        text.contains("crasher is FATAL instead of RUNNING"),
        "{text}"
    );
    assert!(text.contains("var/log/crasher.log"), "{text}");
    let log = s.read("var/log/crasher.log");
    assert!(log.contains("dying"), "{log}");
}

#[test]
fn bad_arguments_are_clear_errors() {
    assert_config_errors(&[
        (
            |_, ctx| {
                ctx.add(Supervisor::new())?;
                ctx.add(Program::new("app"))?;
                Ok(())
            },
            "supervisor Program `app`: a command is required",
        ),
        (
            |_, ctx| {
                ctx.add(Supervisor::new())?;
                ctx.add(Program::new("my app").command("true"))?;
                Ok(())
            },
            "supervisor Program `my app`: a name of letters",
        ),
        (
            |_, ctx| {
                ctx.add(Supervisor::new())?;
                ctx.add(Program::new("app").command("true").env("1X", "y"))?;
                Ok(())
            },
            "invalid environment variable `1X`",
        ),
        (
            |_, ctx| {
                ctx.add(Supervisor::new())?;
                ctx.add(Program::new("app").command("true").env("X", "'quoted'"))?;
                Ok(())
            },
            "the value of environment variable `X` cannot be written",
        ),
        (
            |_, ctx| {
                ctx.add(Supervisor::new())?;
                ctx.add(Program::new("app").command("true").option("command", "x"))?;
                Ok(())
            },
            "option `command` is set by the Program itself",
        ),
        (
            |_, ctx| {
                ctx.add(Supervisor::new())?;
                ctx.add(Program::new("app").command("true").args("a\nb"))?;
                Ok(())
            },
            "args must be one line",
        ),
        (
            |_, ctx| {
                ctx.add(Supervisor::new().loglevel("loud"))?;
                Ok(())
            },
            "Supervisor: unknown loglevel `loud`",
        ),
        (
            |_, ctx| {
                ctx.add(Supervisor::new().dir("/srv/my apps"))?;
                Ok(())
            },
            "contains whitespace",
        ),
        (
            |_, ctx| {
                ctx.add(Supervisor::new().dir(format!("/srv/{}", "d".repeat(100))))?;
                Ok(())
            },
            "longer than a unix socket allows",
        ),
        (
            |_, ctx| {
                ctx.add(Program::new("app").command("true"))?;
                Ok(())
            },
            "supervisor",
        ),
    ]);
}

/// The version of the sibling file the next deploy writes.
static SIBLING: AtomicUsize = AtomicUsize::new(1);

/// Appends what the sibling file says when it starts and when it is
/// stopped to `NAME.log` in its working directory.
const SERVICE: &str = "#!/bin/sh\n\
    log=\"$1.log\"\n\
    IFS= read -r seen < sibling.conf\n\
    echo \"start $seen\" >> \"$log\"\n\
    trap 'IFS= read -r seen < sibling.conf; echo \"stop $seen\" >> \"$log\"; exit 0' TERM\n\
    sleep 100000 &\n\
    wait\n";

#[test]
fn a_cold_program_is_stopped_before_an_earlier_sibling_changes_and_started_after() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Supervisor::new())?;
        let version = SIBLING.load(Ordering::SeqCst);
        ctx.add(File::new("sibling.conf").content(format!("v{version}\n")))?;
        for (name, deployment) in [("cold", Deployment::Cold), ("hot", Deployment::Hot)] {
            ctx.add(
                Program::new(name)
                    .command(format!("/bin/sh service.sh {name}"))
                    .startsecs(1)
                    // The trap's `sleep` goes with it.
                    .option("stopasgroup", true)
                    .deployment(deployment),
            )?;
        }
        Ok(())
    });
    let d = Daemon::of(&s);
    std::fs::write(s.prepare().join("service.sh"), SERVICE).unwrap();
    let log = |name: &str| std::fs::read_to_string(s.path(&format!("{name}.log"))).unwrap();

    s.deploy();
    assert_eq!(log("cold"), "start v1\n");
    assert_eq!(log("hot"), "start v1\n");
    let (cold, hot) = (d.pid_of("cold"), d.pid_of("hot"));
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!((d.pid_of("cold"), d.pid_of("hot")), (cold, hot));

    SIBLING.store(2, Ordering::SeqCst);
    // Predicting lists the stop and stops nothing.
    let (_, events) = s.predict();
    let handlers = crate::testutil::triggered(&events);
    assert_eq!(handlers.len(), 1, "{handlers:?}");
    assert_eq!(handlers[0].1, "stop");
    assert!(handlers[0].4, "predicted");
    assert_eq!(d.pid_of("cold"), cold);

    // The cold program saw the old content when stopped, the new one when
    // started; the hot one never noticed.
    s.deploy();
    assert_eq!(log("cold"), "start v1\nstop v1\nstart v2\n");
    assert_eq!(d.state("cold"), "RUNNING");
    assert_ne!(d.pid_of("cold"), cold);
    assert_eq!(log("hot"), "start v1\n");
    assert_eq!(d.pid_of("hot"), hot);
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(log("cold"), "start v1\nstop v1\nstart v2\n");
}

/// The supervisor as a root of its own, as batou deploys it.
#[derive(Default, Serialize, Deserialize)]
struct Daemons;

impl Component for Daemons {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(Supervisor::new())?;
        Ok(())
    }
}

/// An application root whose program runs under that supervisor.
#[derive(Default, Serialize, Deserialize)]
struct App;

impl Component for App {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(Program::new("app").command("sleep 1000").startsecs(1))?;
        Ok(())
    }
}

#[test]
fn programs_of_other_roots_find_the_supervisor_and_deploy_after_it() {
    let project = crate::testutil::Project::new();
    let mut registry = Registry::new();
    registry
        .component::<Daemons>("daemons")
        .component::<App>("app");
    let ini = "[environment]\nconnect_method = local\n[hosts]\nlocalhost = app, daemons\n";
    let d = Daemon {
        conf: project.workdir("daemons").join("etc/supervisord.conf"),
        pidfile: project.workdir("daemons").join("var/supervisord.pid"),
    };
    let mut model = project.model(&registry, ini);
    assert_eq!(crate::testutil::order_names(&model), ["daemons", "app"]);
    crate::testutil::deploy_ok(&mut model, false);
    assert_eq!(d.state("app"), "RUNNING");
    assert!(
        project
            .workdir("daemons")
            .join("etc/supervisor.d/app.conf")
            .exists()
    );
    let pid = d.pid_of("app");
    let mut model = project.model(&registry, ini);
    let (report, events) = crate::testutil::deploy_ok(&mut model, false);
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(d.pid_of("app"), pid);

    // Without programs a supervisor is no unused resource.
    let mut model = project.model(
        &registry,
        "[environment]\nconnect_method = local\n[hosts]\nlocalhost = daemons\n",
    );
    assert_eq!(crate::testutil::deploy_ok(&mut model, false).0.changed, 0);
}

static RUN_AS: Mutex<String> = Mutex::new(String::new());

#[test]
fn a_program_runs_as_the_user_it_names() {
    let account = super::accounts::Account::user("bsup");
    *RUN_AS.lock().unwrap() = account.name.clone();
    let s = Stage::new(|_, ctx| {
        ctx.add(Supervisor::new())?;
        let user = RUN_AS.lock().unwrap().clone();
        ctx.add(
            Program::new("sleeper")
                .command("sleep 1000")
                .directory("/")
                .startsecs(1)
                .user(user),
        )?;
        Ok(())
    });
    let d = Daemon::of(&s);
    s.deploy();
    let pid = d.pid_of("sleeper");
    let uid = crate::host::Host::local()
        .user(&account.name)
        .unwrap()
        .unwrap()
        .uid;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        line.split_whitespace().nth(1),
        Some(uid.to_string().as_str())
    );
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(d.pid_of("sleeper"), pid);
}
