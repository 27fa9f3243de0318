//! The local `Host` on temp dirs: atomic writes, stat, symlinks,
//! directories, removal, users; commands are in `commands`.

mod beneath;
mod commands;

use super::*;
use std::os::unix::fs::MetadataExt;

fn setup() -> (tempfile::TempDir, Host) {
    (tempfile::tempdir().unwrap(), Host::local())
}

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn atomic_write_keeps_mode() {
    let (dir, host) = setup();
    let p = dir.path().join("f");
    host.write(&p, b"one", Some(0o600)).unwrap();
    host.write(&p, b"two", None).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"two");
    assert_eq!(host.stat(&p).unwrap().unwrap().mode, 0o600);
}

#[test]
fn a_new_file_is_0644_whatever_the_umask() {
    let (dir, host) = setup();
    let p = dir.path().join("new");
    host.write(&p, b"x", None).unwrap();
    assert_eq!(mode_of(&p), 0o644);
    assert_eq!(listing(dir.path()), ["new"], "no temp file left behind");
}

#[test]
fn an_explicit_mode_applies_to_new_and_existing_files() {
    let (dir, host) = setup();
    let p = dir.path().join("f");
    host.write(&p, b"x", Some(0o751)).unwrap();
    assert_eq!(mode_of(&p), 0o751);
    host.write(&p, b"y", Some(0o600)).unwrap();
    assert_eq!(mode_of(&p), 0o600);
    assert_eq!(fs::read(&p).unwrap(), b"y");
}

#[test]
fn a_write_replaces_the_file_rather_than_rewriting_it() {
    let (dir, host) = setup();
    let p = dir.path().join("f");
    host.write(&p, b"old", None).unwrap();
    // A reader holding the old file keeps seeing the old content.
    let held = fs::File::open(&p).unwrap();
    let inode = fs::metadata(&p).unwrap().ino();
    host.write(&p, b"new content", None).unwrap();
    assert_ne!(fs::metadata(&p).unwrap().ino(), inode);
    let mut old = String::new();
    use std::io::Read;
    (&held).read_to_string(&mut old).unwrap();
    assert_eq!(old, "old");
    assert_eq!(fs::read_to_string(&p).unwrap(), "new content");
    assert_eq!(listing(dir.path()), ["f"]);
}

#[test]
fn a_write_told_the_path_was_empty_still_replaces_what_appeared_there() {
    for host in [Host::local(), Host::local_batched()] {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        // Seen empty by the caller; a file with its own mode is there now.
        fs::write(&p, b"appeared").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        host.write_seen(&p, b"wanted", None, None).unwrap();
        host.sync().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"wanted");
        assert_eq!(mode_of(&p), 0o600, "the mode of the file found there");
        assert_eq!(listing(dir.path()), ["f"], "no temp file left behind");
    }
}

#[test]
fn a_new_file_appears_whole_with_its_mode() {
    // 0666 and the setuid bit are more than a usual umask lets a new file
    // have: those need a chmod after creation.
    for mode in [0o600, 0o644, 0o666, 0o4755] {
        for host in [Host::local(), Host::local_batched()] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("new");
            host.write_seen(&p, b"secret", Some(mode), None).unwrap();
            assert_eq!(fs::read(&p).unwrap(), b"secret");
            assert_eq!(mode_of(&p), mode, "{mode:o}");
            assert_eq!(fs::metadata(&p).unwrap().nlink(), 1);
            assert_eq!(listing(dir.path()), ["new"]);
            host.sync().unwrap();
        }
    }
}

#[test]
fn a_batched_host_writes_atomically_and_syncs_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::local_batched();
    let p = dir.path().join("f");
    host.write(&p, b"old", Some(0o640)).unwrap();
    let inode = fs::metadata(&p).unwrap().ino();
    host.write(&p, b"new", None).unwrap();
    // Replaced, not rewritten, and visible at once; the sync only adds
    // durability.
    assert_ne!(fs::metadata(&p).unwrap().ino(), inode);
    assert_eq!(fs::read(&p).unwrap(), b"new");
    assert_eq!(mode_of(&p), 0o640);
    assert_eq!(listing(dir.path()), ["f"], "no temp file left behind");
    // The replaced file is freed in the background; by the end of the
    // sync nothing of this process holds it any more.
    host.sync().unwrap();
    let held: Vec<PathBuf> = fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| fs::read_link(e.unwrap().path()).ok())
        .filter(|target| target.starts_with(dir.path()))
        .collect();
    assert_eq!(held, Vec::<PathBuf>::new(), "descriptors left open");
    // A file removed before the sync is not an error.
    let gone = dir.path().join("gone");
    host.write(&gone, b"x", None).unwrap();
    fs::remove_file(&gone).unwrap();
    host.sync().unwrap();
    // Nothing pending any more; a plain host has nothing to sync.
    host.sync().unwrap();
    Host::local().sync().unwrap();
}

#[test]
fn a_batched_sync_of_many_files_reports_the_one_it_could_not_open() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::local_batched();
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    // Enough files for the sync to run on several threads.
    for i in 0..500 {
        let parent = if i == 321 { &sub } else { dir.path() };
        host.write(&parent.join(format!("f{i}")), b"x", None)
            .unwrap();
    }
    // `sub/f321` can no longer be opened: its directory became a file.
    fs::remove_dir_all(&sub).unwrap();
    fs::write(&sub, b"not a directory").unwrap();
    let err = host.sync().unwrap_err();
    assert_eq!(err.path, sub.join("f321"));
    assert!(err.to_string().contains("f321"), "{err}");
    // The error took the pending writes with it; the files are all there.
    host.sync().unwrap();
    assert_eq!(listing(dir.path()).len(), 500, "499 files and `sub`");
}

#[test]
fn writing_into_a_missing_directory_fails_naming_it() {
    let (dir, host) = setup();
    let missing = dir.path().join("nope");
    let err = host.write(&missing.join("f"), b"x", None).unwrap_err();
    assert_eq!(err.path, missing);
    assert_eq!(err.source.kind(), std::io::ErrorKind::NotFound);
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
    assert!(!missing.exists());
}

#[test]
fn read_of_missing_is_none() {
    let (dir, host) = setup();
    assert_eq!(host.read(&dir.path().join("x")).unwrap(), None);
    fs::write(dir.path().join("y"), b"\x00\xff").unwrap();
    assert_eq!(
        host.read(&dir.path().join("y")).unwrap().unwrap(),
        b"\x00\xff"
    );
}

#[test]
fn stat_kinds_without_following_links() {
    let (dir, host) = setup();
    let d = dir.path();
    fs::write(d.join("file"), b"12345").unwrap();
    fs::create_dir(d.join("dir")).unwrap();
    std::os::unix::fs::symlink("file", d.join("link")).unwrap();
    std::os::unix::fs::symlink("nowhere", d.join("dangling")).unwrap();
    let fifo = std::ffi::CString::new(d.join("fifo").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let kind = |n: &str| host.stat(&d.join(n)).unwrap().map(|s| s.kind);
    assert_eq!(kind("file"), Some(FileKind::File));
    assert_eq!(kind("dir"), Some(FileKind::Directory));
    assert_eq!(kind("link"), Some(FileKind::Symlink));
    assert_eq!(kind("dangling"), Some(FileKind::Symlink));
    assert_eq!(kind("fifo"), Some(FileKind::Other));
    assert_eq!(kind("missing"), None);
    let s = host.stat(&d.join("file")).unwrap().unwrap();
    assert_eq!(s.size, 5);
    assert_eq!(s.uid, unsafe { libc::getuid() });
    assert_eq!(s.gid, unsafe { libc::getgid() });
    host.chmod(&d.join("file"), 0o4710).unwrap();
    assert_eq!(host.stat(&d.join("file")).unwrap().unwrap().mode, 0o4710);
}

#[test]
fn symlinks_are_created_and_replaced_atomically() {
    let (dir, host) = setup();
    let link = dir.path().join("current");
    host.symlink(Path::new("releases/1"), &link).unwrap();
    assert_eq!(
        host.read_link(&link).unwrap().unwrap(),
        Path::new("releases/1")
    );
    // Replacing an existing symlink.
    host.symlink(Path::new("releases/2"), &link).unwrap();
    assert_eq!(
        host.read_link(&link).unwrap().unwrap(),
        Path::new("releases/2")
    );
    // Replacing a file.
    let file = dir.path().join("file");
    fs::write(&file, b"x").unwrap();
    host.symlink(Path::new("/etc/hostname"), &file).unwrap();
    assert_eq!(
        host.read_link(&file).unwrap().unwrap(),
        Path::new("/etc/hostname")
    );
    assert_eq!(
        listing(dir.path()),
        ["current", "file"],
        "no temp links left"
    );
}

#[test]
fn a_symlink_cannot_silently_replace_a_directory() {
    let (dir, host) = setup();
    let d = dir.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("keep"), b"x").unwrap();
    assert!(host.symlink(Path::new("x"), &d).is_err());
    assert!(d.join("keep").is_file());
    assert_eq!(listing(dir.path()), ["d"], "the temp link is cleaned up");
}

#[test]
fn read_link_of_a_non_symlink_is_none() {
    let (dir, host) = setup();
    fs::write(dir.path().join("f"), b"").unwrap();
    assert_eq!(host.read_link(&dir.path().join("f")).unwrap(), None);
    assert_eq!(host.read_link(dir.path()).unwrap(), None);
    assert_eq!(host.read_link(&dir.path().join("missing")).unwrap(), None);
}

#[test]
fn mkdir_with_and_without_leading() {
    let (dir, host) = setup();
    let deep = dir.path().join("a/b/c");
    let err = host.mkdir(&deep, false).unwrap_err();
    assert_eq!(err.path, deep);
    host.mkdir(&deep, true).unwrap();
    assert!(deep.is_dir());
    // Already there is fine, with or without leading.
    host.mkdir(&deep, true).unwrap();
    host.mkdir(&deep, false).unwrap();
    // A file in the way is not.
    let file = dir.path().join("f");
    fs::write(&file, b"").unwrap();
    assert!(host.mkdir(&file, false).is_err());
    assert!(host.mkdir(&file, true).is_err());
}

#[test]
fn remove_anything_or_nothing() {
    let (dir, host) = setup();
    let d = dir.path();
    fs::write(d.join("file"), b"").unwrap();
    fs::create_dir_all(d.join("tree/sub")).unwrap();
    fs::write(d.join("tree/sub/f"), b"").unwrap();
    fs::create_dir(d.join("target")).unwrap();
    fs::write(d.join("target/keep"), b"").unwrap();
    std::os::unix::fs::symlink(d.join("target"), d.join("link")).unwrap();
    for name in ["file", "tree", "link", "missing"] {
        host.remove(&d.join(name)).unwrap();
        assert!(host.stat(&d.join(name)).unwrap().is_none(), "{name}");
    }
    // Removing the link left what it pointed to alone.
    assert!(d.join("target/keep").is_file());
}

#[test]
fn chown_to_ourselves_works_and_does_not_follow_links() {
    let (dir, host) = setup();
    let f = dir.path().join("f");
    fs::write(&f, b"").unwrap();
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    host.chown(&f, Some(uid), Some(gid)).unwrap();
    host.chown(&f, None, None).unwrap();
    let link = dir.path().join("l");
    std::os::unix::fs::symlink("missing-target", &link).unwrap();
    host.chown(&link, Some(uid), None).unwrap();
    assert!(
        host.chown(&dir.path().join("missing"), Some(uid), None)
            .is_err()
    );
}

#[test]
fn users_and_groups() {
    let host = Host::local();
    assert_eq!(host.user_id("root").unwrap(), Some(0));
    assert_eq!(host.group_id("root").unwrap(), Some(0));
    assert_eq!(host.user_id("4242").unwrap(), Some(4242));
    assert_eq!(host.group_id("4243").unwrap(), Some(4243));
    assert_eq!(host.user_id("no-such-user-batou").unwrap(), None);
    assert_eq!(host.group_id("no-such-group-batou").unwrap(), None);
    assert_eq!(host.user_id("nul\0byte").unwrap(), None);
}
