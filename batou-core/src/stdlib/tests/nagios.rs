//! `ServiceCheck`s collected by `NagiosServer` and `NrpeHost`, both
//! named as roots in the environment. The server's reload runs the real
//! `nagios4 -v` pre-flight check on the written file (with the object
//! templates it uses, written by the test), so the file is one nagios
//! accepts; the reloads log to a file, which tells when they ran.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::component::{Component, Configure, Registry};
use crate::error::Result;
use crate::stdlib::{NagiosServer, NrpeHost, ServiceCheck};
use crate::testutil::{Project, configure_err, configure_ok, deploy, deploy_ok, messages};

/// The root with the checks.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct Checks {
    url_args: String,
    twice: bool,
}

impl Component for Checks {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let args = if self.url_args.is_empty() {
            "-u /login.html"
        } else {
            &self.url_args
        };
        ctx.add(
            ServiceCheck::new("http, app")
                .command("check_http")
                .args(args)
                .depend_on("localhost", "supervisor")
                .contact_groups(["ops"])
                .notes_url("https://wiki.example.org/app"),
        )?;
        ctx.add(ServiceCheck::new("supervisor").command("check_supervisor"))?;
        ctx.add(
            ServiceCheck::new("App Disk")
                .nrpe()
                .command("/usr/lib/nagios/plugins/check_disk")
                .args("-w 20% -c 10% -p /srv"),
        )?;
        if self.twice {
            ctx.add(ServiceCheck::new("supervisor").command("check_procs"))?;
        }
        Ok(())
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.add::<NagiosServer>().add::<NrpeHost>();
    r.component::<Checks>("checks");
    r
}

/// Nagios's own objects the generated file refers to: the templates
/// `generic-service` / `generic-servicedependency`, the host, commands,
/// contacts, service groups.
const OBJECTS: &str = "\
define timeperiod {\n timeperiod_name always\n alias always\n monday 00:00-24:00\n}\n\
define contact {\n contact_name ops\n host_notifications_enabled 0\n service_notifications_enabled 0\n \
host_notification_period always\n service_notification_period always\n host_notification_options n\n \
service_notification_options n\n host_notification_commands true\n service_notification_commands true\n}\n\
define contactgroup {\n contactgroup_name ops\n alias ops\n members ops\n}\n\
define command {\n command_name true\n command_line /bin/true\n}\n\
define command {\n command_name check_http\n command_line /bin/true $ARG1$\n}\n\
define command {\n command_name check_supervisor\n command_line /bin/true\n}\n\
define command {\n command_name check_nrpe\n command_line /bin/true $ARG1$\n}\n\
define host {\n host_name localhost\n address 127.0.0.1\n max_check_attempts 1\n check_period always\n \
contact_groups ops\n notification_period always\n}\n\
define service {\n name generic-service\n register 0\n max_check_attempts 1\n check_interval 5\n \
retry_interval 1\n check_period always\n notification_period always\n contact_groups ops\n}\n\
define servicedependency {\n name generic-servicedependency\n register 0\n \
execution_failure_criteria n\n notification_failure_criteria w,u,c\n}\n\
define servicegroup {\n servicegroup_name direct\n}\n\
define servicegroup {\n servicegroup_name nrpe\n}\n";

/// A directory nagios (which reads as its own user) can read: the main
/// configuration, the objects, and where the reload copies the file.
struct Checker {
    dir: tempfile::TempDir,
}

impl Checker {
    fn new() -> Checker {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let at = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(at("objects.cfg"), OBJECTS).unwrap();
        std::fs::write(
            at("main.cfg"),
            format!(
                "cfg_file={}\ncfg_file={}\nillegal_macro_output_chars=`~$&|'\"<>\n",
                at("objects.cfg"),
                at("generated.cfg")
            ),
        )
        .unwrap();
        Checker { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The server's reload: copy, pre-flight check, log.
    fn reload(&self) -> String {
        format!(
            "cp nagios.cfg {gen} && chmod 644 {gen} && nagios4 -v {main} > {out} && echo server >> {log}",
            gen = self.path("generated.cfg").display(),
            main = self.path("main.cfg").display(),
            out = self.path("preflight.txt").display(),
            log = self.path("reloads.log").display(),
        )
    }

    fn reloads(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("reloads.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
}

fn env(checker: &Checker, hosts: &str, extra: &str) -> String {
    format!(
        "[environment]\nconnect_method = local\nservice_user = app\n[hosts]\nlocalhost = {hosts}\n\
         [component:nagios_server]\npath = nagios.cfg\nreload = {}\nstatic = # static part\n\
         [component:nrpe_host]\npath = nrpe.cfg\nreload = echo nrpe >> {}\n{extra}",
        checker.reload(),
        checker.path("reloads.log").display()
    )
}

const SERVER_CFG: &str = "# Generated from template; don't edit manually!\n\
\n#\n# App Disk\n#\ndefine service {\n    use         generic-service\n    host_name   localhost\n    \
service_description App Disk\n    check_command check_nrpe!app_disk\n    servicegroups nrpe\n}\n\
\n#\n# http_ app\n#\ndefine service {\n    use         generic-service\n    host_name   localhost\n    \
service_description http_ app\n    check_command check_http!-u /login.html\n    servicegroups direct\n    \
contact_groups ops\n    notes_url https://wiki.example.org/app\n}\n\
\ndefine servicedependency {\n    use generic-servicedependency\n    host_name localhost\n    \
dependent_host_name localhost\n    service_description supervisor\n    dependent_service_description http_ app\n}\n\
\n#\n# supervisor\n#\ndefine service {\n    use         generic-service\n    host_name   localhost\n    \
service_description supervisor\n    check_command check_supervisor\n    servicegroups direct\n}\n\
\n# static part\n";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn checks_are_collected_written_checked_by_nagios_and_kept() {
    let checker = Checker::new();
    let p = Project::new();
    let ini = env(&checker, "nagios_server, nrpe_host, checks", "");
    let model = || configure_ok(p.env(&ini), &registry(), &p.options());
    let server_file = p.workdir("nagios_server").join("nagios.cfg");
    let nrpe_file = p.workdir("nrpe_host").join("nrpe.cfg");

    // Predicting writes nothing and reloads nothing.
    let (report, _) = deploy_ok(&mut model(), true);
    assert!(report.changed >= 4, "{report:?}");
    assert!(!server_file.exists() && !nrpe_file.exists());
    assert!(checker.reloads().is_empty());

    deploy_ok(&mut model(), false);
    assert_eq!(read(&server_file), SERVER_CFG);
    assert_eq!(
        read(&nrpe_file),
        "# Generated from template; don't edit manually!\n\
         command[app_disk]=/usr/lib/nagios/plugins/check_disk -w 20% -c 10% -p /srv\n"
    );
    assert_eq!(checker.reloads(), ["server", "nrpe"]);
    let preflight = read(&checker.path("preflight.txt"));
    assert!(preflight.contains("Checked 3 services."), "{preflight}");
    assert!(
        preflight.contains("Checked 1 service dependencies"),
        "{preflight}"
    );
    assert!(preflight.contains("Total Errors:   0"), "{preflight}");
    assert!(preflight.contains("Total Warnings: 0"), "{preflight}");

    // Nothing changed: nothing written, no reload.
    let before = std::fs::metadata(&server_file).unwrap().modified().unwrap();
    let (report, events) = deploy_ok(&mut model(), false);
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(checker.reloads().len(), 2);
    assert_eq!(
        std::fs::metadata(&server_file).unwrap().modified().unwrap(),
        before
    );

    // Drift: edited by hand, put back and reloaded (only the server).
    std::fs::write(&server_file, "define service {\n}\n").unwrap();
    let (report, _) = deploy_ok(&mut model(), false);
    assert!(report.changed >= 1);
    assert_eq!(read(&server_file), SERVER_CFG);
    assert_eq!(checker.reloads(), ["server", "nrpe", "server"]);

    // A changed check: rewritten and reloaded.
    let changed = env(
        &checker,
        "nagios_server, nrpe_host, checks",
        "[component:checks]\nurl_args = -u /health\n",
    );
    let mut model = configure_ok(p.env(&changed), &registry(), &p.options());
    deploy_ok(&mut model, false);
    assert!(read(&server_file).contains("check_command check_http!-u /health\n"));
    assert_eq!(checker.reloads().len(), 4);
}

#[test]
fn a_failed_reload_fails_the_deploy_and_is_tried_again() {
    let checker = Checker::new();
    let p = Project::new();
    // Without the objects the server's checks refer to, nagios refuses.
    std::fs::write(checker.path("objects.cfg"), "").unwrap();
    let ini = env(&checker, "nagios_server, checks", "");
    let mut model = configure_ok(p.env(&ini), &registry(), &p.options());
    let (result, _) = deploy(&mut model, false);
    assert!(
        result.is_err(),
        "nagios4 -v accepted a broken configuration"
    );
    assert!(checker.reloads().is_empty());
    let preflight = read(&checker.path("preflight.txt"));
    assert!(preflight.contains("Error"), "{preflight}");
    let marker = p
        .workdir("nagios_server")
        .join(".nagios-server.reload-pending");
    assert!(marker.exists(), "no pending reload recorded");

    // Tried again on the next deploy, though the file is as wanted now.
    std::fs::write(checker.path("objects.cfg"), OBJECTS).unwrap();
    let mut model = configure_ok(p.env(&ini), &registry(), &p.options());
    deploy_ok(&mut model, false);
    assert_eq!(checker.reloads(), ["server"]);
    assert!(!marker.exists());
    let mut model = configure_ok(p.env(&ini), &registry(), &p.options());
    assert_eq!(deploy_ok(&mut model, false).0.changed, 0);
    assert_eq!(checker.reloads(), ["server"]);
}

#[test]
fn bad_checks_and_collectors_are_configuration_errors() {
    let checker = Checker::new();
    let p = Project::new();
    let cases = [
        (
            env(
                &checker,
                "nagios_server, checks",
                "[component:checks]\ntwice = true\n",
            ),
            "NagiosServer: two checks `supervisor` on host localhost",
        ),
        // A check nobody collects: an unused resource, as in batou.
        (env(&checker, "checks", ""), "batou:nagios-service"),
        (
            "[environment]\nconnect_method = local\n[hosts]\nlocalhost = nagios_server\n".into(),
            "NagiosServer: no service_user in the environment to name the file after; set `path`",
        ),
    ];
    for (ini, expected) in cases {
        let errors = configure_err(p.env(&ini), &registry(), &p.options());
        let text = messages(&errors);
        assert!(text.contains(expected), "expected `{expected}` in: {text}");
    }

    let bad = [
        (
            ServiceCheck::new("x"),
            "ServiceCheck `x`: a command is required",
        ),
        (
            ServiceCheck::new(" ").command("c"),
            "a description is required",
        ),
        (
            ServiceCheck::new("x").command("c").args("a\nb"),
            "no line breaks or braces",
        ),
        (
            ServiceCheck::new("x").command("c").contact_groups(["a b"]),
            "invalid contact group `a b`",
        ),
        (
            ServiceCheck::new("x").command("c").nrpe().name("a/b"),
            "invalid NRPE command name `a/b`",
        ),
        (
            ServiceCheck::new("x").command("c").name("n"),
            "`name` is for NRPE checks",
        ),
    ];
    for (check, expected) in bad {
        let error = check.definition("localhost").expect_err("refused");
        assert!(error.to_string().contains(expected), "{expected}: {error}");
    }
}
