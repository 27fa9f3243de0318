//! `Buildout` with Debian's /usr/bin/python3: zc.buildout, setuptools and
//! wheel installed offline (`--no-index`) from the wheelhouse `./test`
//! fills once from PyPI, and a buildout whose one part uses a recipe the
//! test writes as a develop egg (so the run needs no index either). The
//! recipe appends a line to a log outside the workdir each time buildout
//! runs it: the log tells exactly when buildout ran.

use std::path::{Path, PathBuf};

use super::fixture::{param, set_params};
use super::python::PYTHON;
use super::*;
use crate::stdlib::{Buildout, File};

/// The wheelhouse `./test` fills (its pins are these).
const WHEELS: &str = "/opt/batou-wheels/buildout/zc.buildout-3.3_setuptools-69.5.1_wheel-0.43.0";

fn wheelhouse() -> &'static str {
    assert!(
        Path::new(WHEELS)
            .join("zc.buildout-3.3-py2.py3-none-any.whl")
            .exists(),
        "the buildout wheelhouse {WHEELS} is missing: run ./test once (it downloads \
         zc.buildout, setuptools and wheel from PyPI into it)"
    );
    assert!(
        Path::new(PYTHON).exists(),
        "{PYTHON} is missing: install Debian's python3 and python3-venv (./test does)"
    );
    WHEELS
}

const SETUP: &str = "from setuptools import setup\n\
    setup(name='greeter', version='1.0', py_modules=['greeter'],\n\
    \x20     entry_points={'zc.buildout': ['default = greeter:Recipe']})\n";

/// A recipe: logs each run, writes `text` to `path`, fails or hangs when
/// asked.
const RECIPE: &str = "class Recipe:\n\
    \x20   def __init__(self, buildout, name, options):\n\
    \x20       self.options = options\n\
    \x20   def install(self):\n\
    \x20       o = self.options\n\
    \x20       with open(o['log'], 'a') as f:\n\
    \x20           f.write('run ' + o['text'] + '\\n')\n\
    \x20       if o['text'] == 'hang':\n\
    \x20           import time; time.sleep(600)\n\
    \x20       if o['text'] == 'fail':\n\
    \x20           raise SystemExit('greeter: asked to fail')\n\
    \x20       with open(o['path'], 'w') as f:\n\
    \x20           f.write(o['text'] + '\\n')\n\
    \x20       return [o['path']]\n\
    \x20   update = install\n";

/// The recipe's develop egg and the log, outside the workdir.
struct Recipe {
    tmp: tempfile::TempDir,
}

impl Recipe {
    fn new() -> Recipe {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("greeter");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("setup.py"), SETUP).unwrap();
        std::fs::write(src.join("greeter.py"), RECIPE).unwrap();
        std::fs::write(tmp.path().join("versions.cfg"), "[versions]\n").unwrap();
        Recipe { tmp }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("buildout.log")).unwrap_or_default()
    }

    fn watched(&self) -> PathBuf {
        self.tmp.path().join("versions.cfg")
    }

    /// A configuration whose part writes `text` to `greeting`.
    fn config(&self, text: &str) -> String {
        format!(
            "[buildout]\ndevelop = {src}\nparts = greet\noffline = true\nnewest = false\n\
             extends = {watched}\n\n\
             [greet]\nrecipe = greeter\npath = ${{buildout:directory}}/greeting\n\
             text = {text}\nlog = {log}\n",
            src = self.tmp.path().join("greeter").display(),
            watched = self.watched().display(),
            log = self.tmp.path().join("buildout.log").display(),
        )
    }

    fn params(&self, s: &Stage, text: &str) {
        set_params(
            s.case,
            &[
                wheelhouse(),
                &self.config(text),
                self.watched().to_str().unwrap(),
            ],
        );
    }
}

fn greeter(s: &Scene, ctx: &mut Configure<'_>) -> Result<()> {
    ctx.add(
        Buildout::new("3.3")
            .setuptools("69.5.1")
            .wheel("0.43.0")
            .executable(PYTHON)
            .find_links(param(s, 0))
            .no_index()
            .config(File::new("buildout.cfg").content(param(s, 1)))
            .watch(param(s, 2)),
    )?;
    Ok(())
}

#[test]
fn buildout_runs_once_and_again_only_when_its_inputs_change() {
    let r = Recipe::new();
    let s = Stage::new(greeter);
    r.params(&s, "hi");

    let (report, _) = s.predict();
    assert!(report.changed >= 3, "venv, config, buildout: {report:?}");
    assert!(
        !s.path("bin/python").exists(),
        "predict made the environment"
    );
    assert!(!s.path("buildout.cfg").exists(), "predict wrote the config");
    assert_eq!(r.log(), "", "predict ran buildout");

    s.deploy();
    assert_eq!(r.log(), "run hi\n");
    assert_eq!(s.read("greeting"), "hi\n");
    assert!(s.path(".installed.cfg").exists());

    // No-op: buildout not run, the stamp untouched.
    let stamp = identity(&s.path(".batou-buildout"));
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(r.log(), "run hi\n", "buildout ran again");
    assert_eq!(identity(&s.path(".batou-buildout")), stamp);

    // A changed configuration: predicted (config and buildout), nothing
    // written or run; then run.
    r.params(&s, "moin");
    let (report, _) = s.predict();
    assert_eq!(report.changed, 2, "{report:?}");
    assert_eq!(r.log(), "run hi\n", "predict ran buildout");
    assert!(
        !s.read("buildout.cfg").contains("moin"),
        "predict wrote the config"
    );
    assert_eq!(s.deploy().0.changed, 2);
    assert_eq!(s.read("greeting"), "moin\n");
    assert_eq!(r.log(), "run hi\nrun moin\n");
    assert_eq!(s.deploy().0.changed, 0);

    // A watched file changed (nothing else): run again.
    std::fs::write(r.watched(), "[versions]\nzc.buildout = 3.3\n").unwrap();
    let (report, _) = s.predict();
    assert_eq!(report.changed, 1);
    assert_eq!(r.log().lines().count(), 2, "predict ran buildout");
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(r.log().lines().count(), 3);
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(r.log().lines().count(), 3);
}

#[test]
fn drift_of_the_installation_the_config_or_the_stamp_is_repaired() {
    let r = Recipe::new();
    let s = Stage::new(greeter);
    r.params(&s, "hi");
    s.deploy();
    assert_eq!(r.log().lines().count(), 1);

    // buildout's record of what it installed removed.
    std::fs::remove_file(s.path(".installed.cfg")).unwrap();
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 1, "{events:#?}");
    assert_eq!(r.log().lines().count(), 2);

    // The configuration edited by hand: put back, and buildout runs with
    // it (the run before may have used the edited one).
    std::fs::write(s.path("buildout.cfg"), r.config("edited")).unwrap();
    assert_eq!(s.deploy().0.changed, 2);
    assert_eq!(s.read("buildout.cfg"), r.config("hi"));
    assert_eq!(r.log().lines().count(), 3);

    // The stamp removed, and bin/buildout gone: run again (through the
    // environment's python, which does not need that script).
    std::fs::remove_file(s.path(".batou-buildout")).unwrap();
    std::fs::remove_file(s.path("bin/buildout")).unwrap();
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(r.log().lines().count(), 4);
    assert!(s.path(".batou-buildout").exists());
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(r.log().lines().count(), 4);
}

#[test]
fn a_failed_run_leaves_no_stamp_and_is_tried_again() {
    let r = Recipe::new();
    let s = Stage::new(greeter);
    r.params(&s, "fail");
    let (result, _) = s.run(false);
    let error = result.expect_err("the recipe fails").to_string();
    assert!(error.contains("asked to fail"), "{error}");
    assert!(!s.path(".batou-buildout").exists());
    assert_eq!(r.log(), "run fail\n");

    // The same inputs: tried again, not taken as done.
    assert!(s.run(false).0.is_err());
    assert_eq!(r.log(), "run fail\nrun fail\n");

    r.params(&s, "ok");
    s.deploy();
    assert_eq!(s.read("greeting"), "ok\n");
    assert!(s.path(".batou-buildout").exists());
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(r.log().lines().count(), 3);
}

#[test]
fn bad_arguments_are_configuration_errors() {
    assert_config_errors(&[
        (
            |_, ctx| {
                ctx.add(Buildout::new("3.3"))?;
                Ok(())
            },
            "Buildout('3.3'): a setuptools version is required",
        ),
        (
            |_, ctx| {
                ctx.add(Buildout::new(">=3").setuptools("69.5.1"))?;
                Ok(())
            },
            "invalid zc.buildout version \">=3\"",
        ),
        (
            |_, ctx| {
                ctx.add(Buildout::new("3.3").setuptools("69.5.1").wheel(""))?;
                Ok(())
            },
            "invalid wheel version \"\"",
        ),
        (
            |_, ctx| {
                ctx.add(Buildout::new("3.3").setuptools("69.5.1").no_index())?;
                Ok(())
            },
            "no_index without find_links",
        ),
        (
            |_, ctx| {
                ctx.add(
                    Buildout::new("3.3")
                        .setuptools("69.5.1")
                        .env("BAD NAME", "x"),
                )?;
                Ok(())
            },
            "invalid environment variable name `BAD NAME`",
        ),
        (
            |_, ctx| {
                ctx.add(Buildout::new("3.3").setuptools("69.5.1").python("2.7"))?;
                Ok(())
            },
            "invalid Python version `2.7`",
        ),
    ]);
}

fn templated(s: &Scene, ctx: &mut Configure<'_>) -> Result<()> {
    ctx.add(
        Buildout::new("3.3")
            .setuptools("69.5.1")
            .wheel("0.43.0")
            .executable(PYTHON)
            .find_links(param(s, 0))
            .no_index()
            .config(File::new("buildout.cfg").template(("buildout.cfg", param(s, 1)))),
    )?;
    Ok(())
}

#[test]
fn the_configuration_comes_from_a_template_rendered_with_the_root() {
    let r = Recipe::new();
    let s = Stage::new(templated);
    let template = r.config("{{ component.greeting }}-{{ component.port }}");
    set_params(s.case, &[wheelhouse(), &template]);
    s.deploy();
    assert_eq!(s.read("greeting"), "hello-8080\n");
    assert_eq!(r.log(), "run hello-8080\n");
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(r.log().lines().count(), 1);
}

fn limited(s: &Scene, ctx: &mut Configure<'_>) -> Result<()> {
    ctx.add(
        Buildout::new("3.3")
            .setuptools("69.5.1")
            .wheel("0.43.0")
            .executable(PYTHON)
            .find_links(param(s, 0))
            .no_index()
            .config(File::new("buildout.cfg").content(param(s, 1)))
            .timeout(std::time::Duration::from_secs(2)),
    )?;
    Ok(())
}

#[test]
fn a_run_over_its_timeout_is_stopped_and_leaves_no_stamp() {
    let r = Recipe::new();
    let s = Stage::new(limited);
    set_params(s.case, &[wheelhouse(), &r.config("hang")]);
    let (result, _) = s.run(false);
    let error = result.expect_err("the run hangs").to_string();
    assert!(error.contains("timed out"), "{error}");
    assert_eq!(r.log(), "run hang\n");
    assert!(!s.path(".batou-buildout").exists());
    assert!(!s.path("greeting").exists());
}
