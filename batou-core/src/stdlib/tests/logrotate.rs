//! `RotatedLogfile` collected by `Logrotate`; the written configuration
//! is run through the real `logrotate`, and the schedule through the real
//! `crontab`.

use serde::{Deserialize, Serialize};

use super::cron::{CronUser, Tab, without_comments};
use crate::component::{Component, Configure, Registry};
use crate::error::Result;
use crate::stdlib::{Logrotate, RotatedLogfile};
use crate::testutil::{Project, configure_err, configure_ok, deploy_ok, messages, needing_update};

/// The root with the log files.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct Logs {
    /// A directive to add (to see bad input rejected).
    extra: String,
}

impl Component for Logs {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let mut args = vec!["rotate 3".to_string(), "missingok".to_string()];
        if !self.extra.is_empty() {
            args.push(self.extra.replace("\\n", "\n"));
        }
        ctx.add(
            RotatedLogfile::new("../logs/app.log")
                .args(args)
                .postrotate("touch ../logs/rotated"),
        )?;
        ctx.add(RotatedLogfile::new("../logs/access.log").args(["rotate 1"]))?;
        Ok(())
    }
}

/// The root with the configuration.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct Rotation {
    schedule: String,
}

impl Component for Rotation {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        let mut rotation = Logrotate::new().common(["nocompress"]);
        if !self.schedule.is_empty() {
            rotation = rotation.schedule(self.schedule.clone());
        }
        ctx.add(rotation)?;
        Ok(())
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.component::<Logs>("logs");
    r.component::<Rotation>("rotation");
    r.component::<Tab>("tab");
    r
}

fn env(hosts: &str, extra: &str) -> String {
    format!("[environment]\nconnect_method = local\n[hosts]\nlocalhost = {hosts}\n{extra}")
}

#[test]
fn logfiles_from_another_root_make_one_configuration_that_logrotate_runs() {
    let p = Project::new();
    let ini = env("rotation, logs", "");
    let model = || configure_ok(p.env(&ini), &registry(), &p.options());
    let conf = p.workdir("rotation").join("logrotate.conf");
    let logs = p.path().join("work/logs");
    let logs = logs.display();
    let work = p.path().join("work");
    let work = work.display();

    let (report, _) = deploy_ok(&mut model(), true);
    assert_eq!(report.changed, 1);
    assert!(!conf.exists(), "predict wrote the configuration");

    let (_, events) = deploy_ok(&mut model(), false);
    assert_eq!(
        needing_update(&events),
        ["Rotation > Logrotate > File('logrotate.conf') > Content('logrotate.conf')"]
    );
    let text = std::fs::read_to_string(&conf).unwrap();
    assert_eq!(
        without_comments(&text),
        format!(
            "nocompress\n\n{work}/logs/access.log {{\n    rotate 1\n}}\n\n\
             {work}/logs/app.log {{\n    rotate 3\n    missingok\n    postrotate\n        \
             touch ../logs/rotated\n    endscript\n}}\n"
        )
    );

    // The real logrotate accepts and applies it.
    std::fs::create_dir_all(p.path().join("work/logs")).unwrap();
    std::fs::write(p.path().join("work/logs/app.log"), "line\n").unwrap();
    std::fs::write(p.path().join("work/logs/access.log"), "line\n").unwrap();
    let out = std::process::Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(p.path().join("state"))
        .arg(&conf)
        .current_dir(p.workdir("rotation"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "logrotate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::path::Path::new(&format!("{logs}/app.log.1")).exists());
    assert!(std::path::Path::new(&format!("{logs}/access.log.1")).exists());
    assert!(std::path::Path::new(&format!("{logs}/rotated")).exists());

    // Nothing to do, nothing rewritten.
    let before = std::fs::metadata(&conf).unwrap().modified().unwrap();
    assert_eq!(deploy_ok(&mut model(), false).0.changed, 0);
    assert_eq!(
        std::fs::metadata(&conf).unwrap().modified().unwrap(),
        before
    );

    // Drift repaired.
    std::fs::write(&conf, "garbage\n").unwrap();
    assert_eq!(deploy_ok(&mut model(), false).0.changed, 1);
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), text);
}

#[test]
fn a_schedule_is_a_cron_job_for_the_hosts_crontab() {
    let user = CronUser::new();
    let p = Project::new();
    let ini = env(
        "rotation, logs, tab",
        &format!(
            "[component:rotation]\nschedule = @daily\n[component:tab]\nuser = {}\n",
            user.0
        ),
    );
    let mut model = configure_ok(p.env(&ini), &registry(), &p.options());
    deploy_ok(&mut model, false);
    let dir = p.workdir("rotation");
    assert!(
        without_comments(&user.installed()).contains(&format!(
            "@daily /usr/sbin/logrotate -s {0}/logrotate.state {0}/logrotate.conf\n",
            dir.display()
        )),
        "{}",
        user.installed()
    );
}

#[test]
fn bad_directives_are_configuration_errors() {
    let p = Project::new();
    for (extra, expected) in [
        (
            "weekly\\nrotate 1",
            "must be one non-empty line without braces",
        ),
        ("size {", "must be one non-empty line without braces"),
    ] {
        let ini = env(
            "rotation, logs",
            &format!("[component:logs]\nextra = {extra}\n"),
        );
        let errors = configure_err(p.env(&ini), &registry(), &p.options());
        let text = messages(&errors);
        assert!(
            text.contains("RotatedLogfile `../logs/app.log`") && text.contains(expected),
            "{text}"
        );
    }
}

#[test]
fn logrotate_named_as_a_root_in_the_environment_deploys_and_redeploys_as_a_no_op() {
    let p = Project::new();
    let mut r = registry();
    r.add::<Logrotate>();
    let ini = env(
        "logrotate, logs",
        "[component:logrotate]\ncommon = compress, missingok\npath = rotate.conf\n",
    );
    let model = || configure_ok(p.env(&ini), &r, &p.options());
    let conf = p.workdir("logrotate").join("rotate.conf");
    let (report, events) = deploy_ok(&mut model(), false);
    assert_eq!(
        needing_update(&events),
        ["Logrotate > File('rotate.conf') > Content('rotate.conf')"]
    );
    assert_eq!(report.changed, 1);
    let text = without_comments(&std::fs::read_to_string(&conf).unwrap());
    assert!(
        text.starts_with("compress\nmissingok\n\n") && text.contains("/logs/app.log {\n"),
        "{text}"
    );
    let (report, events) = deploy_ok(&mut model(), false);
    assert_eq!(report.changed, 0, "{events:#?}");
}
