//! `Host::beneath`: below the deployment's root no symlink of another user
//! is followed (#15: root's agent wrote outside the target directory
//! through a planted link), the deploying user's own links are, and paths
//! elsewhere are left alone.

use super::*;

/// A uid nobody on the test machine uses: the "other user".
const STRANGER: u32 = 54_321;

struct Scene {
    root: tempfile::TempDir,
    outside: tempfile::TempDir,
    host: Host,
}

impl Scene {
    fn new() -> Scene {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("work/app")).unwrap();
        let host = Host::local().beneath(root.path());
        Scene {
            root,
            outside,
            host,
        }
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// A symlink at `rel` to `target`, owned by `uid`.
    fn link(&self, rel: &str, target: &Path, uid: u32) {
        let link = self.at(rel);
        std::os::unix::fs::symlink(target, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(uid), None).unwrap();
    }

    #[track_caller]
    fn assert_outside_untouched(&self) {
        assert_eq!(listing(self.outside.path()), Vec::<String>::new());
    }
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T, HostError>) {
    let err = result.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("refusing to follow the symlink") && text.contains("uid 54321"),
        "{text}"
    );
}

#[test]
fn a_foreign_symlink_on_the_way_is_never_followed() {
    let s = Scene::new();
    s.link("work/app/data", s.outside.path(), STRANGER);
    let below = s.at("work/app/data/x.conf");
    assert_refused(s.host.write(&below, b"secret\n", None));
    assert_refused(s.host.read(&below));
    assert_refused(s.host.stat(&below));
    assert_refused(s.host.mkdir(&s.at("work/app/data/sub/deeper"), true));
    assert_refused(s.host.symlink(Path::new("x"), &below));
    assert_refused(s.host.remove(&below));
    assert_refused(s.host.read_dir(&s.at("work/app/data")));
    assert_refused(s.host.chmod(&s.at("work/app/data"), 0o777));
    assert_refused(s.host.stage(&below).map(|_| ()));
    let err = s
        .host
        .run(&CommandSpec::shell("touch ran").cwd(s.at("work/app/data")))
        .unwrap_err();
    assert!(err.to_string().contains("refusing to follow"), "{err}");
    s.assert_outside_untouched();
    // The link itself may be looked at and replaced.
    assert_eq!(
        s.host.stat(&s.at("work/app/data")).unwrap().unwrap().kind,
        FileKind::Symlink
    );
    s.host
        .write(&s.at("work/app/data"), b"a file now\n", None)
        .unwrap();
    assert!(
        fs::symlink_metadata(s.at("work/app/data"))
            .unwrap()
            .is_file()
    );
    s.assert_outside_untouched();
}

#[test]
fn a_foreign_symlink_in_place_of_the_file_is_replaced_not_written_through() {
    let s = Scene::new();
    let victim = s.outside.path().join("victim");
    fs::write(&victim, "untouched\n").unwrap();
    s.link("work/app/app.conf", &victim, STRANGER);
    let conf = s.at("work/app/app.conf");
    assert_refused(s.host.read(&conf));
    assert_refused(s.host.chmod(&conf, 0o600));
    s.host.write(&conf, b"new\n", Some(0o600)).unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "untouched\n");
    assert_eq!(fs::read_to_string(&conf).unwrap(), "new\n");
    assert!(fs::symlink_metadata(&conf).unwrap().is_file());
}

#[test]
fn the_deploying_users_own_symlinks_are_followed() {
    let s = Scene::new();
    fs::create_dir_all(s.at("work/app/releases/2")).unwrap();
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    s.link("work/app/current", Path::new("releases/2"), me);
    s.link("work/app/shared", s.outside.path(), me);
    s.host
        .write(
            &s.at("work/app/current/config"),
            b"through our link\n",
            None,
        )
        .unwrap();
    assert_eq!(
        fs::read_to_string(s.at("work/app/releases/2/config")).unwrap(),
        "through our link\n"
    );
    s.host
        .mkdir(&s.at("work/app/shared/logs/old"), true)
        .unwrap();
    s.host
        .write(&s.at("work/app/shared/logs/now"), b"x", None)
        .unwrap();
    assert!(s.outside.path().join("logs/old").is_dir());
    assert_eq!(
        s.host.read(&s.at("work/app/shared/logs/now")).unwrap(),
        Some(b"x".to_vec())
    );
}

#[test]
fn plain_paths_below_the_root_work_as_before() {
    let s = Scene::new();
    let f = s.at("work/app/etc/app.conf");
    assert_eq!(s.host.stat(&f).unwrap().map(|_| ()), None);
    assert_eq!(s.host.read(&f).unwrap(), None);
    s.host.mkdir(&s.at("work/app/etc"), true).unwrap();
    s.host.write(&f, b"one\n", None).unwrap();
    s.host.write(&f, b"two\n", Some(0o640)).unwrap();
    assert_eq!(s.host.read(&f).unwrap(), Some(b"two\n".to_vec()));
    assert_eq!(mode_of(&f), 0o640);
    s.host.chmod(&f, 0o600).unwrap();
    assert_eq!(mode_of(&f), 0o600);
    s.host
        .symlink(Path::new("app.conf"), &s.at("work/app/etc/link"))
        .unwrap();
    assert_eq!(
        s.host.read_link(&s.at("work/app/etc/link")).unwrap(),
        Some(PathBuf::from("app.conf"))
    );
    assert_eq!(
        s.host.read_dir(&s.at("work/app/etc")).unwrap().unwrap(),
        ["app.conf", "link"]
    );
    let out = s
        .host
        .run(&CommandSpec::shell("pwd -P; cat app.conf").cwd(s.at("work/app/etc")))
        .unwrap();
    assert!(
        out.stdout.ends_with("/work/app/etc\ntwo\n"),
        "{}",
        out.stdout
    );
    s.host.remove(&s.at("work/app/etc")).unwrap();
    assert!(!s.at("work/app/etc").exists());
    // `..` inside the root stays inside it.
    s.host
        .write(&s.at("work/app/../other"), b"x", None)
        .unwrap();
    assert!(s.at("work/other").is_file());
}

#[test]
fn paths_outside_the_root_are_used_as_they_are() {
    let s = Scene::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let link = elsewhere.path().join("system-link");
    std::os::unix::fs::symlink(s.outside.path(), &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(STRANGER), None).unwrap();
    s.host.write(&link.join("f"), b"x", None).unwrap();
    assert!(s.outside.path().join("f").is_file());
}
