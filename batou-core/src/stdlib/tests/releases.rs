//! `Releases`.

use super::*;
use crate::component::{Deploy, Verdict};
use crate::error::Error;
use crate::stdlib::{File, Releases};

fn release(ctx: &mut Configure<'_>, id: &str) -> Result<()> {
    let id_owned = id.to_string();
    ctx.add(Releases::new(id).keep(3).build(move |ctx, dir| {
        ctx.add(File::new(dir.join("app.conf")).content(format!("release {id_owned}\n")))?;
        Ok(())
    }))?;
    Ok(())
}

/// Switches `s` to the scene `build`.
fn switch(s: &mut Stage, build: Build) {
    let mut builds = BUILDS.lock().unwrap();
    builds.push(build);
    s.case = builds.len() - 1;
}

fn current(s: &Stage) -> PathBuf {
    std::fs::read_link(s.path("current")).unwrap()
}

fn listed(s: &Stage) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(s.path("releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn each_release_is_built_then_current_switched_and_old_ones_pruned() {
    let mut s = Stage::new(|_, ctx| release(ctx, "r1"));
    s.deploy();
    assert_eq!(current(&s), s.path("releases/r1"));
    assert_eq!(s.read("current/app.conf"), "release r1\n");
    assert_eq!(s.deploy().0.changed, 0, "a second deploy changes nothing");
    for build in [
        (|_, ctx| release(ctx, "r2")) as Build,
        |_, ctx| release(ctx, "r3"),
        |_, ctx| release(ctx, "r4"),
    ] {
        switch(&mut s, build);
        s.deploy();
    }
    assert_eq!(current(&s), s.path("releases/r4"));
    assert_eq!(s.read("current/app.conf"), "release r4\n");
    assert_eq!(listed(&s), ["r2", "r3", "r4"], "the newest 3 are kept");
}

/// Fails in update.
struct Broken;

impl Component for Broken {
    fn verify(&mut self, _ctx: &mut Deploy<'_>) -> Result<Verdict> {
        Ok(Verdict::NeedsUpdate)
    }

    fn update(&mut self, _ctx: &mut Deploy<'_>) -> Result<()> {
        Err(Error::msg("the build broke"))
    }
}

#[test]
fn a_failing_build_leaves_current_on_the_previous_release() {
    let mut s = Stage::new(|_, ctx| release(ctx, "r1"));
    s.deploy();
    switch(&mut s, |_, ctx| {
        ctx.add(Releases::new("r2").build(|ctx, dir| {
            ctx.add(File::new(dir.join("app.conf")).content("release r2\n"))?;
            ctx.add(Broken)?;
            Ok(())
        }))?;
        Ok(())
    });
    let (result, _) = s.run(false);
    assert!(result.unwrap_err().to_string().contains("the build broke"));
    assert_eq!(current(&s), s.path("releases/r1"));
    assert_eq!(s.read("current/app.conf"), "release r1\n");
}

#[test]
fn a_release_id_is_one_path_component() {
    let s = Stage::new(|_, ctx| {
        ctx.add(Releases::new("../etc"))?;
        Ok(())
    });
    let errors = s.try_model().err().expect("refused");
    assert!(
        crate::testutil::show(&errors).contains("a release id is one path component, not `../etc`"),
        "{}",
        crate::testutil::show(&errors)
    );
}
