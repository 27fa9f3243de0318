//! `Owner` and `Group` (and `File::owner` / `File::group`) against real
//! users and groups: the tests run as root (as CI does) and create
//! throwaway accounts, removed again by a guard each test holds.
//!
//! A scene's build function is a plain `fn`, so it finds its account in a
//! per-test static; the static holds only the ids ([`Ids`]), never the
//! guard: statics are not dropped, so a guard kept there would leave the
//! account behind after every run.

use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use super::accounts::{self, fresh_name};
use super::*;
use crate::error::Error;
use crate::stdlib::{Command, File, Group, Owner};
use crate::testutil::needing_update;

/// The name and ids of a test account.
struct Ids {
    name: String,
    uid: u32,
    gid: u32,
}

/// A user and a group of the same fresh name, with their ids; removed
/// on drop.
struct Account(
    Ids,
    // Held only to be dropped with the ids.
    #[allow(dead_code)] accounts::Account,
);

impl std::ops::Deref for Account {
    type Target = Ids;
    fn deref(&self) -> &Ids {
        &self.0
    }
}

fn id_of(what: &str, name: &str) -> u32 {
    let out = std::process::Command::new("getent")
        .args([what, name])
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    line.split(':').nth(2).unwrap().trim().parse().unwrap()
}

impl Account {
    fn new() -> Self {
        let guard = accounts::Account::user_and_group("bt");
        let name = guard.name.clone();
        Account(
            Ids {
                uid: id_of("passwd", &name),
                gid: id_of("group", &name),
                name,
            },
            guard,
        )
    }

    /// A copy of the ids, for a static the scene reads.
    fn ids(&self) -> Ids {
        Ids {
            name: self.name.clone(),
            uid: self.uid,
            gid: self.gid,
        }
    }
}

fn ids(path: &std::path::Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap();
    (m.uid(), m.gid())
}

static NAMED: OnceLock<Ids> = OnceLock::new();

#[test]
fn owner_and_group_by_name_are_applied_kept_and_repaired() {
    let guard = Account::new();
    let account = NAMED.get_or_init(|| guard.ids());
    let s = Stage::new(|_, ctx| {
        let a = NAMED.get().unwrap();
        ctx.add(
            File::new("owned")
                .content("x\n")
                .owner(a.name.as_str())
                .group(a.name.as_str()),
        )?;
        Ok(())
    });
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 3, "{events:#?}");
    assert_eq!(ids(&s.path("owned")), (account.uid, account.gid));

    let before = identity(&s.path("owned"));
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(identity(&s.path("owned")), before);

    // Drift: only the owner changed back; only Owner repairs it.
    std::os::unix::fs::lchown(s.path("owned"), Some(0), None).unwrap();
    let (_, events) = s.deploy();
    assert_eq!(
        needing_update(&events),
        ["Scene > File('owned') > Owner('owned')"]
    );
    assert_eq!(ids(&s.path("owned")), (account.uid, account.gid));
}

static KEEP: OnceLock<Ids> = OnceLock::new();

#[test]
fn chown_keeps_the_other_id_and_numeric_ids_work() {
    let guard = Account::new();
    let account = KEEP.get_or_init(|| guard.ids());
    let s = Stage::new(|_, ctx| {
        let a = KEEP.get().unwrap();
        ctx.add(Owner::new("by-id", a.uid))?;
        ctx.add(Group::new("group-only", a.gid))?;
        Ok(())
    });
    let dir = s.prepare();
    std::fs::write(dir.join("by-id"), "").unwrap();
    std::fs::write(dir.join("group-only"), "").unwrap();
    std::os::unix::fs::lchown(dir.join("by-id"), Some(0), Some(account.gid)).unwrap();
    std::os::unix::fs::lchown(dir.join("group-only"), Some(account.uid), Some(0)).unwrap();
    let (report, _) = s.deploy();
    assert_eq!(report.changed, 2);
    assert_eq!(ids(&dir.join("by-id")), (account.uid, account.gid));
    assert_eq!(ids(&dir.join("group-only")), (account.uid, account.gid));
    assert_eq!(s.deploy().0.changed, 0);
}

static LATE: OnceLock<String> = OnceLock::new();

#[test]
fn a_user_created_earlier_in_the_same_deploy_is_resolved_at_verify_time() {
    let name = LATE.get_or_init(|| fresh_name("bt")).clone();
    // Removed even if the test fails half-way.
    let _cleanup = accounts::Account { name: name.clone() };
    let s = Stage::new(|_, ctx| {
        let name = LATE.get().unwrap();
        ctx.add(
            Command::new(format!("groupadd {name} && useradd -M -N -g {name} {name}"))
                .unless(format!("id {name}")),
        )?;
        ctx.add(
            File::new("late")
                .content("")
                .owner(name.as_str())
                .group(name.as_str()),
        )?;
        Ok(())
    });
    // Predicting: the user does not exist yet, which is no error.
    let (report, _) = s.predict();
    assert!(report.changed >= 3, "{report:?}");
    assert!(!s.path("late").exists(), "predict wrote the file");

    s.deploy();
    assert_eq!(
        ids(&s.path("late")),
        (id_of("passwd", &name), id_of("group", &name))
    );
    assert_eq!(s.deploy().0.changed, 0);
}

#[test]
fn an_unknown_user_or_group_is_an_error_naming_it() {
    let s = Stage::new(|_, ctx| {
        ctx.add(File::new("f").content("").owner("no-such-user-bt"))?;
        Ok(())
    });
    match s.run(false) {
        (Err(e), _) => {
            assert!(
                matches!(&e.source, Error::Usage(m) if m.contains("unknown user `no-such-user-bt`")),
                "{e}"
            );
            assert_eq!(e.component, "Scene > File('f') > Owner('f')");
        }
        (Ok(r), _) => panic!("deployed: {r:?}"),
    }
    let s = Stage::new(|_, ctx| {
        ctx.add(Group::new("f", "no-such-group-bt"))?;
        Ok(())
    });
    match s.run(false) {
        (Err(e), _) => {
            assert!(
                matches!(&e.source, Error::Usage(m) if m.contains("unknown group `no-such-group-bt`")),
                "{e}"
            )
        }
        (Ok(r), _) => panic!("deployed: {r:?}"),
    }
    let s = Stage::new(|_, ctx| {
        ctx.add(File::new("f").content("").owner(""))?;
        Ok(())
    });
    assert!(
        s.try_model().is_err(),
        "an empty owner is a configuration error"
    );
}

static LINK: OnceLock<Ids> = OnceLock::new();

#[test]
fn a_symlinks_own_ids_change_never_its_targets() {
    let guard = Account::new();
    let account = LINK.get_or_init(|| guard.ids());
    let s = Stage::new(|_, ctx| {
        let a = LINK.get().unwrap();
        ctx.add(File::new("target").content("t\n"))?;
        ctx.add(
            File::new("link")
                .symlink_to("target")
                .owner(a.uid)
                .group(a.gid),
        )?;
        Ok(())
    });
    s.deploy();
    assert_eq!(ids(&s.path("link")), (account.uid, account.gid));
    assert_eq!(ids(&s.path("target")), (0, 0));
    assert_eq!(s.deploy().0.changed, 0);
}

static PREDICT: OnceLock<Ids> = OnceLock::new();

#[test]
fn predicting_changes_no_ids() {
    let guard = Account::new();
    let account = PREDICT.get_or_init(|| guard.ids());
    let s = Stage::new(|_, ctx| {
        let a = PREDICT.get().unwrap();
        ctx.add(Owner::new("f", a.name.as_str()))?;
        Ok(())
    });
    std::fs::write(s.prepare().join("f"), "").unwrap();
    let (report, events) = s.predict();
    assert_eq!(report.changed, 1);
    assert_eq!(needing_update(&events), ["Scene > Owner('f')"]);
    assert_eq!(ids(&s.path("f")), (0, 0));
    assert_ne!(account.uid, 0);
}
