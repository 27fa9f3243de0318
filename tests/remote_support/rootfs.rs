//! Root file systems of real targets the agent must run on: a Debian 11
//! (bullseye) built with `debootstrap` (glibc 2.31, OpenSSL 1.1: too old
//! for a glibc controller binary), and busybox-only systems with no libc
//! at all, for this machine's architecture and for aarch64 (run under
//! qemu-user through binfmt_misc, see [`ensure_qemu_aarch64`]).
//!
//! What is slow to make (the debootstrap, the arm64 busybox download) is
//! made once per machine under [`CACHE`], keyed by its recipe, and never
//! changed there; every test works on its own copy in its own temp dir
//! ([`RootFs`]), so tests can neither see nor break each other's targets.
//! A missing tool is a loud failure naming the package (`.ci/run`
//! installs them all).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::run;

/// Where built root file systems are kept between test runs (outside the
/// clone, so a fresh checkout reuses them; a fresh machine builds them).
pub const CACHE: &str = "/var/cache/batou-tests";

/// Packages of the Debian 11 root file system: an sshd to reach it and
/// sudo for the service user (what a minimal real server has).
const BULLSEYE_INCLUDE: &str = "openssh-server,sudo";

/// Bumped when the way a cached root file system is made changes, so an
/// older cache entry is never taken for a new one.
const RECIPE_VERSION: u32 = 1;

/// A private copy of a root file system in a temp dir of its own; removed
/// on drop (after whatever ran in it has ended).
pub struct RootFs {
    dir: tempfile::TempDir,
    /// The root directory (`chroot` into it).
    pub root: PathBuf,
}

impl RootFs {
    /// A copy of the cached Debian 11 root file system (built on first
    /// use, about 1.5 minutes; 200 MB).
    pub fn bullseye() -> RootFs {
        let base = bullseye_base();
        let fs = RootFs::empty("batou-bullseye-");
        run(
            "cp",
            &["-a", &format!("{}/.", base.display()), path_str(&fs.root)],
        );
        fs
    }

    /// A root file system holding nothing but a static busybox for `arch`
    /// (`x86_64` from this machine's `busybox-static`, `aarch64` from
    /// Debian's arm64 package) with its applets linked, and what any Unix
    /// system has: `/etc/passwd` and `/etc/group` for root, `/root`,
    /// `/tmp`, the usual device nodes and an empty `/proc` to mount on.
    pub fn busybox(arch: &str) -> RootFs {
        let busybox = match arch {
            "x86_64" => host_busybox(),
            "aarch64" => arm64_busybox(),
            other => panic!("no busybox for {other}"),
        };
        let fs = RootFs::empty(&format!("batou-busybox-{arch}-"));
        let r = &fs.root;
        for d in [
            "bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "proc", "dev",
        ] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        fs::create_dir_all(r.join("tmp")).unwrap();
        fs::set_permissions(r.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        fs::set_permissions(r.join("root"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::copy(&busybox, r.join("bin/busybox")).unwrap();
        fs::set_permissions(r.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(
            r.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .unwrap();
        fs::write(r.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
        make_device_nodes(&r.join("dev"));
        // `--install -s` links every applet (sh, sha256sum, mkdir, ...)
        // to /bin/busybox; run inside, so it runs under qemu for aarch64.
        run("chroot", &[path_str(r), "/bin/busybox", "--install", "-s"]);
        assert!(
            r.join("bin/sh").symlink_metadata().is_ok(),
            "busybox --install -s made no /bin/sh in {}",
            r.display()
        );
        fs
    }

    fn empty(prefix: &str) -> RootFs {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("temp dir for a root file system");
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        // A root file system's / is world-readable, whatever the umask.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        RootFs { dir, root }
    }

    /// The temp dir holding [`RootFs::root`] (room for files that must not
    /// be inside the target).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `path` (absolute, as the target sees it) on this machine.
    pub fn host_path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// Runs `command` with `sh -c` inside the root file system (no /proc)
    /// and returns its stdout; panics with its output when it fails.
    pub fn sh(&self, command: &str) -> String {
        run("chroot", &[path_str(&self.root), "/bin/sh", "-c", command])
    }
}

/// `/dev/null`, `zero`, `random`, `urandom`, `tty` and `full` as real
/// device nodes (the bootstrap scripts redirect to `/dev/null`).
fn make_device_nodes(dev: &Path) {
    for (name, major, minor) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        run(
            "mknod",
            &[
                "-m",
                "666",
                path_str(&dev.join(name)),
                "c",
                &major.to_string(),
                &minor.to_string(),
            ],
        );
    }
}

/// The Debian 11 root file system in the cache, built on first use (once
/// per machine; concurrent test processes wait for one build).
fn bullseye_base() -> PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let mirror = debian_mirror();
        let recipe = format!(
            "v{RECIPE_VERSION} debootstrap --variant=minbase --include={BULLSEYE_INCLUDE} bullseye {mirror}"
        );
        cached(&format!("bullseye-{}", short_hash(&recipe)), |tmp| {
            assert!(
                Path::new("/usr/sbin/debootstrap").exists(),
                "debootstrap is missing: the real-target tests need it (see ./test)"
            );
            run(
                "debootstrap",
                &[
                    "--variant=minbase",
                    &format!("--include={BULLSEYE_INCLUDE}"),
                    "bullseye",
                    path_str(tmp),
                    &mirror,
                ],
            );
            // What only the build needed: downloaded packages, indexes,
            // docs. Every test copies the rest.
            for junk in [
                "var/cache/apt/archives",
                "var/lib/apt/lists",
                "usr/share/doc",
                "usr/share/man",
                "usr/share/locale",
                "usr/share/info",
            ] {
                let p = tmp.join(junk);
                if p.exists() {
                    fs::remove_dir_all(&p).unwrap();
                    fs::create_dir_all(&p).unwrap();
                }
            }
            // The host keys debootstrap generated would be shared by every
            // copy; each test's sshd gets its own key instead.
            for e in fs::read_dir(tmp.join("etc/ssh")).unwrap().flatten() {
                if e.file_name().to_string_lossy().starts_with("ssh_host_") {
                    fs::remove_file(e.path()).unwrap();
                }
            }
        })
    })
    .clone()
}

/// This machine's static busybox (Debian's `busybox-static`; were it
/// dynamic, running it in the empty root file system would fail loudly).
fn host_busybox() -> PathBuf {
    let path = PathBuf::from("/bin/busybox");
    assert!(
        path.exists(),
        "{} is missing: the busybox-only target needs the busybox-static package (see ./test)",
        path.display()
    );
    path
}

/// A static busybox for arm64 from Debian's `busybox-static:arm64`
/// package (`dpkg --add-architecture arm64`, see `.ci/run`), downloaded
/// once per package version.
fn arm64_busybox() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let policy = run("apt-cache", &["policy", "busybox-static:arm64"]);
        let version = policy
            .lines()
            .find_map(|l| l.trim().strip_prefix("Candidate:"))
            .map(str::trim)
            .filter(|v| *v != "(none)")
            .unwrap_or_else(|| {
                panic!(
                    "apt knows no busybox-static:arm64 (run `dpkg --add-architecture arm64 && apt-get update`, see ./test):\n{policy}"
                )
            })
            .to_string();
        let dir = cached(&format!("busybox-arm64-{}", short_hash(&version)), |tmp| {
            let download = tmp.join("download");
            fs::create_dir(&download).unwrap();
            let status = std::process::Command::new("apt-get")
                .args(["-o", "APT::Sandbox::User=root", "download"])
                .arg(format!("busybox-static:arm64={version}"))
                .current_dir(&download)
                .status()
                .expect("run apt-get download");
            assert!(status.success(), "apt-get download busybox-static:arm64 failed");
            let deb = fs::read_dir(&download)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "deb"))
                .expect("apt-get download left a .deb");
            let unpacked = tmp.join("unpacked");
            run("dpkg-deb", &["-x", path_str(&deb), path_str(&unpacked)]);
            fs::rename(unpacked.join("bin/busybox"), tmp.join("busybox")).unwrap();
            fs::remove_dir_all(&download).unwrap();
            fs::remove_dir_all(&unpacked).unwrap();
        });
        dir.join("busybox")
    })
    .clone()
}

/// `CACHE/name`, made by `build` (into a temp dir renamed into place when
/// complete) unless it is there. An exclusive lock on `CACHE/name.lock`
/// makes concurrent test runs wait for one build.
fn cached(name: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let cache = Path::new(CACHE);
    fs::create_dir_all(cache).unwrap_or_else(|e| panic!("cannot create {CACHE}: {e}"));
    let done = cache.join(name);
    if done.is_dir() {
        return done;
    }
    let lock = fs::File::create(cache.join(format!("{name}.lock"))).unwrap();
    // SAFETY: flock(2) on a descriptor we own; released when `lock` closes.
    let locked = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    assert_eq!(locked, 0, "cannot lock {CACHE}/{name}.lock");
    if done.is_dir() {
        return done;
    }
    let tmp = cache.join(format!("{name}.tmp"));
    if tmp.exists() {
        // A build that was killed; we hold the lock, so nobody uses it.
        fs::remove_dir_all(&tmp).unwrap();
    }
    fs::create_dir(&tmp).unwrap();
    build(&tmp);
    fs::rename(&tmp, &done).unwrap();
    done
}

/// The first `http(s)` Debian mirror apt uses here (deb822 `URIs:` or a
/// one-line `deb` entry), else deb.debian.org.
fn debian_mirror() -> String {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let text = fs::read_to_string(&file).unwrap_or_default();
        for line in text.lines().map(str::trim) {
            let candidates: Vec<&str> = if let Some(uris) = line.strip_prefix("URIs:") {
                uris.split_whitespace().collect()
            } else if let Some(rest) = line.strip_prefix("deb ") {
                rest.split_whitespace()
                    .filter(|w| !w.starts_with('['))
                    .take(1)
                    .collect()
            } else {
                Vec::new()
            };
            if let Some(uri) = candidates.into_iter().find(|u| {
                (u.starts_with("http://") || u.starts_with("https://"))
                    && !u.contains("security")
                    && u.trim_end_matches('/').ends_with("/debian")
            }) {
                return uri.to_string();
            }
        }
    }
    "http://deb.debian.org/debian".to_string()
}

/// Twelve hex digits of the sha256 of `text`, for cache names.
fn short_hash(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// Makes sure the kernel runs aarch64 ELF binaries through
/// `qemu-aarch64` (Debian's `qemu-user-static`), also inside a chroot:
/// mounts `binfmt_misc` if it is not, and registers Debian's entry
/// (`/usr/lib/binfmt.d/qemu-aarch64.conf`) with the `F` flag, which opens
/// the interpreter now, so the chroot needs no copy of it. A machine-wide
/// setting, left in place (it is what installing qemu-user-static with
/// binfmt-support does on a normal system).
pub fn ensure_qemu_aarch64() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let misc = Path::new("/proc/sys/fs/binfmt_misc");
        if !misc.join("register").exists() {
            run("mount", &["-t", "binfmt_misc", "binfmt_misc", path_str(misc)]);
        }
        let entry = misc.join("qemu-aarch64");
        if !entry.exists() {
            let conf = fs::read_to_string("/usr/lib/binfmt.d/qemu-aarch64.conf").unwrap_or_else(|e| {
                panic!(
                    "/usr/lib/binfmt.d/qemu-aarch64.conf: {e}: the aarch64 target needs qemu-user-static (see ./test)"
                )
            });
            let line = conf
                .lines()
                .find(|l| l.starts_with(":qemu-aarch64:"))
                .expect("a :qemu-aarch64: line in qemu-aarch64.conf");
            // Debian's line already asks for F (and P, O); make sure.
            let (head, flags) = line.rsplit_once(':').expect("binfmt line with flags");
            let flags = if flags.contains('F') {
                flags.to_string()
            } else {
                format!("{flags}F")
            };
            // A concurrent test process may register it first: fine.
            let _ = fs::write(misc.join("register"), format!("{head}:{flags}"));
        }
        let state = fs::read_to_string(&entry).unwrap_or_default();
        assert!(
            state.starts_with("enabled") && state.contains("flags:") && {
                let flags = state
                    .lines()
                    .find_map(|l| l.strip_prefix("flags:"))
                    .unwrap_or("");
                flags.contains('F')
            },
            "qemu-aarch64 is not registered with binfmt_misc (flag F) here:\n{state}"
        );
    });
}
