//! The verify helpers on `Deploy`, used by custom components.

use std::time::{Duration, SystemTime};

use super::*;
use crate::component::{Deploy, Verdict};
use crate::stdlib::File;
use crate::testutil::needing_update;

/// Rebuilds `out` (appending a line to `runs`) when it is not current
/// relative to `in1` and `in2` (which may be missing).
struct Rebuild;

impl Component for Rebuild {
    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        Ok(Verdict::update_if(
            !ctx.file_is_current("out", ["in1", "in2"])?,
        ))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        ctx.cmd("echo built >> runs && touch out")?;
        Ok(())
    }
}

fn set_mtime(path: &std::path::Path, time: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

#[test]
fn file_is_current_compares_with_the_requirements_that_exist() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Rebuild)?;
        Ok(())
    });
    let dir = s.prepare();
    std::fs::write(dir.join("in1"), "").unwrap();
    let (report, _) = s.predict();
    assert_eq!(report.changed, 1, "a missing reference is not current");
    assert!(!dir.join("out").exists());

    s.deploy();
    assert_eq!(s.read("runs"), "built\n");
    assert_eq!(s.deploy().0.changed, 0, "in2 is missing, in1 older");

    // A requirement newer than the reference.
    set_mtime(
        &dir.join("in1"),
        SystemTime::now() + Duration::from_secs(60),
    );
    let (_, events) = s.deploy();
    assert_eq!(needing_update(&events), ["Scene > Rebuild"]);
    assert_eq!(s.read("runs"), "built\nbuilt\n");
}

#[test]
fn last_updated_is_none_for_nothing_and_the_mtime_otherwise() {
    struct Probe;
    impl Component for Probe {
        fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
            assert_eq!(ctx.last_updated("missing")?, None);
            let when = ctx.last_updated("there")?.expect("there exists");
            assert_eq!(
                when,
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)
            );
            Ok(Verdict::UpToDate)
        }
    }
    let s = Stage::new(|_, ctx| {
        ctx.add(Probe)?;
        Ok(())
    });
    let dir = s.prepare();
    std::fs::write(dir.join("there"), "").unwrap();
    set_mtime(
        &dir.join("there"),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
    );
    assert_eq!(s.deploy().0.changed, 0);
}

/// Creates `marker` unless `test -f marker` succeeds.
struct Marker;

impl Component for Marker {
    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        assert!(!ctx.cmd_succeeds("exit 3")?, "a failing command is false");
        Ok(Verdict::update_if(!ctx.cmd_succeeds("test -f marker")?))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        ctx.cmd("echo made >> marker")?;
        Ok(())
    }
}

#[test]
fn cmd_succeeds_is_a_verify_check() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Marker)?;
        Ok(())
    });
    s.prepare();
    assert_eq!(s.predict().0.changed, 1);
    assert!(!s.path("marker").exists());
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(s.read("marker"), "made\n");
}

/// Restarts (appends to `restarts`) when its config file changed.
struct Service;

impl Component for Service {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(File::new("svc.conf").content("v1\n"))?;
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        Ok(Verdict::update_if(!ctx.no_subcomponent_changes()))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        ctx.cmd("echo restart >> restarts")?;
        Ok(())
    }
}

#[test]
fn no_subcomponent_changes_follows_the_sub_components() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Service)?;
        Ok(())
    });
    s.deploy();
    assert_eq!(s.read("restarts"), "restart\n");
    assert_eq!(s.deploy().0.changed, 0);
    std::fs::write(s.path("svc.conf"), "drift\n").unwrap();
    s.deploy();
    assert_eq!(s.read("restarts"), "restart\nrestart\n");
}
