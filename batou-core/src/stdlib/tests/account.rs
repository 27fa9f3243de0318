//! `User` and `UnixGroup` against the real shadow tools (the tests run as
//! root, as CI does), with fresh names removed again by a guard.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::accounts::{Account, sh};
use super::*;
use crate::stdlib::{File, UnixGroup, User};
use crate::testutil::needing_update;

/// Fresh account names by scene case: (user, group).
static NAMES: Mutex<BTreeMap<usize, (String, String, PathBuf)>> = Mutex::new(BTreeMap::new());

/// A user and a group name nobody uses, and a temp dir for the home;
/// whatever the test made of them is removed on drop.
struct Names {
    user: String,
    group: String,
    dir: tempfile::TempDir,
    _accounts: [Account; 2],
}

impl Names {
    fn new(s: &Stage) -> Self {
        let accounts = [Account::reserve("btu"), Account::reserve("btg")];
        let names = Names {
            user: accounts[0].name.clone(),
            group: accounts[1].name.clone(),
            dir: tempfile::tempdir().unwrap(),
            _accounts: accounts,
        };
        NAMES.lock().unwrap().insert(
            s.case,
            (
                names.user.clone(),
                names.group.clone(),
                names.dir.path().join("home"),
            ),
        );
        names
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
}

fn names(scene: &Scene) -> (String, String, PathBuf) {
    NAMES.lock().unwrap()[&scene.case].clone()
}

/// `getent passwd NAME` fields, or empty.
fn passwd(name: &str) -> Vec<String> {
    sh(&format!("getent passwd {name} || true"))
        .split(':')
        .map(str::to_string)
        .collect()
}

fn groups_of(name: &str) -> Vec<String> {
    sh(&format!("id -nG {name}"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_user_with_shell_home_and_groups_is_created_kept_and_repaired() {
    let s = Stage::new(|scene, ctx| {
        let (user, group, home) = names(scene);
        ctx.add(UnixGroup::new(group.clone()))?;
        ctx.add(
            User::new(user)
                .home(home)
                .shell("/bin/bash")
                .groups([group]),
        )?;
        Ok(())
    });
    let n = Names::new(&s);

    let (report, _) = s.predict();
    assert_eq!(report.changed, 2);
    assert_eq!(passwd(&n.user), [""], "predict created the user");
    assert!(sh(&format!("getent group {} || true", n.group)).is_empty());

    let (report, events) = s.deploy();
    assert_eq!(report.changed, 2, "{events:#?}");
    let entry = passwd(&n.user);
    assert_eq!(entry[5], n.home().display().to_string());
    assert_eq!(entry[6], "/bin/bash");
    assert!(n.home().is_dir(), "home created");
    assert!(groups_of(&n.user).contains(&n.group));

    // Nothing to do: the account files are not even rewritten.
    let (passwd_before, group_before) = (mtime("/etc/passwd"), mtime("/etc/group"));
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(mtime("/etc/passwd"), passwd_before);
    assert_eq!(mtime("/etc/group"), group_before);

    // Drift: another shell, dropped from the group.
    sh(&format!("usermod -s /bin/sh {}", n.user));
    sh(&format!("gpasswd -d {} {} >/dev/null", n.user, n.group));
    let (_, events) = s.predict();
    assert_eq!(
        needing_update(&events),
        [format!("Scene > User('{}')", n.user)]
    );
    assert_eq!(passwd(&n.user)[6], "/bin/sh", "predict repaired");
    s.deploy();
    assert_eq!(passwd(&n.user)[6], "/bin/bash");
    assert!(groups_of(&n.user).contains(&n.group));
    assert_eq!(s.deploy().0.changed, 0);
}

/// The fixed gid of the next test; gid + 1 is free too.
static FIXED_GID: AtomicU32 = AtomicU32::new(0);

/// Two consecutive unused gids, starting at a place that depends on the
/// process: other runs of this test on the same machine (other worktrees)
/// must not pick the same ones.
fn free_gid_pair() -> u32 {
    let unused = |gid: u32| {
        !std::process::Command::new("getent")
            .args(["group", &gid.to_string()])
            .output()
            .unwrap()
            .status
            .success()
    };
    let mut gid = 40_000 + (std::process::id() % 10_000) * 2;
    while !(unused(gid) && unused(gid + 1)) {
        gid += 2;
    }
    gid
}

#[test]
fn a_group_with_a_fixed_gid_is_created_and_its_gid_repaired() {
    let gid = free_gid_pair();
    FIXED_GID.store(gid, Ordering::SeqCst);
    let s = Stage::new(|scene, ctx| {
        let (_, group, _) = names(scene);
        ctx.add(UnixGroup::new(group).gid(FIXED_GID.load(Ordering::SeqCst)))?;
        Ok(())
    });
    let n = Names::new(&s);
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(
        sh(&format!("getent group {}", n.group)),
        format!("{}:x:{gid}:", n.group)
    );
    assert_eq!(s.deploy().0.changed, 0);
    sh(&format!("groupmod -g {} {}", gid + 1, n.group));
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(
        sh(&format!("getent group {}", n.group)),
        format!("{}:x:{gid}:", n.group)
    );
}

#[test]
fn a_user_created_earlier_in_the_deploy_owns_a_file_deployed_after_it() {
    let s = Stage::new(|scene, ctx| {
        let (user, group, home) = names(scene);
        ctx.add(UnixGroup::new(group.clone()))?;
        ctx.add(
            User::new(user.clone())
                .home(home)
                .create_home(false)
                .group(group.clone()),
        )?;
        ctx.add(File::new("owned").content("x\n").owner(user).group(group))?;
        Ok(())
    });
    let n = Names::new(&s);
    // Predicting: neither exists yet, which is no error.
    let (report, _) = s.predict();
    assert!(report.changed >= 4, "{report:?}");
    assert!(!s.path("owned").exists());
    assert!(!n.home().exists());

    s.deploy();
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(s.path("owned")).unwrap();
    assert_eq!(meta.uid().to_string(), passwd(&n.user)[2]);
    assert_eq!(meta.gid().to_string(), passwd(&n.user)[3]);
    assert!(!n.home().exists(), "create_home(false)");
    assert_eq!(s.deploy().0.changed, 0);
}

#[test]
fn bad_account_arguments_are_configuration_errors() {
    let cases: &[(Build, &str)] = &[
        (
            |_, ctx| {
                ctx.add(User::new("Bad Name"))?;
                Ok(())
            },
            "invalid user name `Bad Name`",
        ),
        (
            |_, ctx| {
                ctx.add(User::new(""))?;
                Ok(())
            },
            "invalid user name ``",
        ),
        (
            |_, ctx| {
                ctx.add(User::new("app").shell("bash"))?;
                Ok(())
            },
            "the shell must be an absolute path, not `bash`",
        ),
        (
            |_, ctx| {
                ctx.add(User::new("app").home("srv/app"))?;
                Ok(())
            },
            "the home directory must be absolute",
        ),
        (
            |_, ctx| {
                ctx.add(User::new("app").groups(["ok", "no way"]))?;
                Ok(())
            },
            "invalid group name `no way`",
        ),
        (
            |_, ctx| {
                ctx.add(UnixGroup::new("1234"))?;
                Ok(())
            },
            "invalid group name `1234`",
        ),
    ];
    assert_config_errors(cases);
}
