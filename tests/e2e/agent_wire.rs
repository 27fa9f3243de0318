//! The agent's way onto a target: the hash check before every start,
//! what is said when a verified agent cannot start, and uploads that
//! ship only what changed (issue #17 items 3–4, issue #15 bug 3).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use batou_core::remote::bootstrap::{
    AgentBinary, AgentLaunch, BootstrapError, Launched, UploadOptions, launch, local_arch, local_os,
};
use batou_core::transport::{Target, Transport};

use super::transport::{agent_script, talk_to_agent, transports};
use crate::remote_support::{SshServer, run, run_quiet, unique};

fn launch_with(
    t: &dyn Transport,
    target: &Target,
    binary: &AgentBinary,
    cache: &Path,
    upload: UploadOptions,
) -> Result<Launched, BootstrapError> {
    launch(&AgentLaunch {
        transport: t,
        target,
        binary,
        cache_dir: Some(cache.display().to_string()),
        service_user: None,
        require_sudo: None,
        agent_args: vec!["agent".into()],
        upload,
    })
}

fn cached_agents(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A script that leaves `marker` behind if it ever runs, with its
/// modification time far in the past (older than the cache directory).
fn tampered(path: &Path, marker: &Path) {
    std::fs::write(path, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400);
    std::fs::File::options()
        .append(true)
        .open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
}

#[test]
fn a_tampered_agent_with_its_mtime_set_back_or_a_symlink_never_runs() {
    let server = SshServer::start();
    let target = server.target("target");
    for (name, t) in transports() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let binary = agent_script(dir.path());
        let opts = UploadOptions::default;
        talk_to_agent(
            name,
            launch_with(&*t, &target, &binary, &cache, opts()).unwrap(),
        );
        let cached = cache.join(format!("batou-agent-{}", binary.hash));
        let marker = dir.path().join("tampered-ran");

        // Replaced in place, its mtime set back before the directory's.
        tampered(&cached, &marker);
        let again = launch_with(&*t, &target, &binary, &cache, opts()).unwrap();
        assert!(again.uploaded, "{name}: the tampered agent is replaced");
        assert!(talk_to_agent(name, again).starts_with("agent-user root"));
        assert!(!marker.exists(), "{name}: the tampered agent ran");

        // A symlink to an old file in its place.
        let elsewhere = dir.path().join("evil");
        tampered(&elsewhere, &marker);
        std::fs::remove_file(&cached).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &cached).unwrap();
        let again = launch_with(&*t, &target, &binary, &cache, opts()).unwrap();
        assert!(again.uploaded, "{name}: the symlink is replaced");
        assert!(talk_to_agent(name, again).starts_with("agent-user root"));
        assert!(!marker.exists(), "{name}: the symlinked agent ran");
        let meta = std::fs::symlink_metadata(&cached).unwrap();
        assert!(meta.is_file(), "{name}: a regular file again");
        assert_eq!(
            AgentBinary::from_path(&cached, "Linux", "x").unwrap().hash,
            binary.hash,
            "{name}: the verified agent is in the cache"
        );
        assert!(elsewhere.exists(), "{name}: the link's target is untouched");
    }
}

/// `/bin/true` with one string of its ELF file replaced by another of the
/// same length: a dynamically linked program whose loader or library this
/// host does not have.
fn broken_elf(dir: &Path, from: &str, to: &str) -> AgentBinary {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read("/bin/true").unwrap();
    let at = bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("/bin/true does not name {from}: not a glibc x86_64 system?"));
    bytes[at..at + to.len()].copy_from_slice(to.as_bytes());
    // A unique tail gives it a hash of its own.
    bytes.extend_from_slice(unique("nonce-").as_bytes());
    let path = dir.join(unique("agent-"));
    std::fs::write(&path, bytes).unwrap();
    AgentBinary::from_path(&path, local_os(), local_arch()).unwrap()
}

fn start_error(
    t: &dyn Transport,
    target: &Target,
    binary: &AgentBinary,
    cache: &Path,
) -> BootstrapError {
    match launch_with(t, target, binary, cache, UploadOptions::default()) {
        Ok(_) => panic!("the agent started"),
        Err(e) => e,
    }
}

#[test]
fn an_agent_that_cannot_start_says_why_in_the_targets_words() {
    let server = SshServer::start();
    let target = server.target("target");
    for (name, t) in transports() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");

        let no_library = broken_elf(dir.path(), "libc.so.6", "libq.so.6");
        let e = start_error(&*t, &target, &no_library, &cache).to_string();
        assert!(
            e.starts_with("target: the agent cannot start"),
            "{name}: {e}"
        );
        assert!(
            e.contains("libq.so.6: cannot open shared object file"),
            "{name}: the loader's own words: {e}"
        );
        assert!(e.contains("-unknown-linux-musl"), "{name}: what to do: {e}");

        let no_loader = broken_elf(
            dir.path(),
            "/lib64/ld-linux-x86-64.so.2",
            "/lib64/ld-linux-x86-64.so.9",
        );
        let e = start_error(&*t, &target, &no_loader, &cache).to_string();
        assert!(e.contains("dynamic loader is missing"), "{name}: {e}");
        assert!(
            e.contains("not found") || e.contains("No such file"),
            "{name}: {e}"
        );

        // An ELF file for a machine that does not exist.
        let path = dir.path().join(unique("agent-"));
        let mut bytes = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\xff\xff".to_vec();
        bytes.extend_from_slice(unique("nonce-").as_bytes());
        std::fs::write(&path, bytes).unwrap();
        let other_arch = AgentBinary::from_path(&path, local_os(), local_arch()).unwrap();
        let e = start_error(&*t, &target, &other_arch, &cache).to_string();
        assert!(e.contains("Exec format error"), "{name}: {e}");
        assert!(
            e.contains("not a program for this host (Linux"),
            "{name}: {e}"
        );
        assert!(!e.contains("Broken pipe"), "{name}: {e}");
    }
}

/// A tmpfs of `options` mounted at `dir` for one test; unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, options: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        run(
            "mount",
            &["-t", "tmpfs", "-o", options, "tmpfs", dir.to_str().unwrap()],
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        run_quiet("umount", &["-l", self.0.to_str().unwrap()]);
    }
}

#[test]
fn a_noexec_cache_is_named_before_anything_is_uploaded() {
    let server = SshServer::start();
    let target = server.target("target");
    let dir = tempfile::tempdir().unwrap();
    let _fs = Tmpfs::mount(&dir.path().join("fs"), "size=8m,mode=0700,noexec");
    let cache = dir.path().join("fs/cache");
    for (name, t) in transports() {
        let binary = agent_script(dir.path());
        let e = start_error(&*t, &target, &binary, &cache);
        assert!(
            matches!(&e, BootstrapError::NoExec { host, path } if host == "target" && path == &cache.display().to_string()),
            "{name}: {e:?}"
        );
        assert!(e.to_string().contains("agent_cache"), "{name}: {e}");
        assert_eq!(cached_agents(&cache), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn a_full_disk_during_the_upload_says_so_and_leaves_nothing() {
    let server = SshServer::start();
    let target = server.target("target");
    let dir = tempfile::tempdir().unwrap();
    let _fs = Tmpfs::mount(&dir.path().join("fs"), "size=256k,mode=0700");
    let cache = dir.path().join("fs/cache");
    for (name, t) in transports() {
        // 2 MB that no compressor shrinks below the 256 KiB free.
        let binary = padded_agent(dir.path(), "big", 2 << 20, 1);
        let e = start_error(&*t, &target, &binary, &cache);
        let text = e.to_string();
        assert!(matches!(e, BootstrapError::Upload { .. }), "{name}: {e:?}");
        assert!(text.starts_with("target: "), "{name}: {text}");
        assert!(text.contains("No space left on device"), "{name}: {text}");
        assert_eq!(
            cached_agents(&cache),
            Vec::<String>::new(),
            "{name}: no half-uploaded agent or temp file stays"
        );
    }
}

/// An agent script followed by `size` bytes of noise (seeded): what a
/// rebuilt binary looks like to the wire, and able to apply a delta
/// through the real `agent-patch` of the test binary.
fn padded_agent(dir: &Path, version: &str, size: usize, seed: u64) -> AgentBinary {
    padded_agent_with(dir, version, size, seed, None)
}

fn padded_agent_with(
    dir: &Path,
    version: &str,
    size: usize,
    seed: u64,
    edit: Option<usize>,
) -> AgentBinary {
    let mut bytes = format!(
        "#!/bin/sh\ncase $1 in agent-patch) exec {} agent-patch \"$2\" ;; esac\necho BATOU-START\necho \"agent {version}\"\nexec cat\n",
        env!("CARGO_BIN_EXE_batou-test")
    )
    .into_bytes();
    let mut x = seed;
    let mut noise: Vec<u8> = (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    if let Some(at) = edit {
        // A one-line change: a few bytes more in the middle, shifting
        // everything after them.
        noise.splice(at..at, b"println!(\"one more line\");".iter().copied());
    }
    bytes.extend_from_slice(&noise);
    let path = dir.join(unique(&format!("agent-{version}-")));
    std::fs::write(&path, bytes).unwrap();
    AgentBinary::from_path(&path, local_os(), local_arch()).unwrap()
}

const AGENT_SIZE: usize = 12 << 20;

#[test]
fn a_changed_agent_ships_as_a_small_delta_and_the_cache_stays_bounded() {
    let server = SshServer::start();
    let target = server.target("target");
    let dir = tempfile::tempdir().unwrap();
    let v1 = padded_agent_with(dir.path(), "v1", AGENT_SIZE, 11, None);
    let v2 = padded_agent_with(dir.path(), "v2", AGENT_SIZE, 11, Some(AGENT_SIZE / 2));
    let v3 = padded_agent_with(dir.path(), "v3", AGENT_SIZE, 11, Some(AGENT_SIZE / 3));
    for (name, t) in transports() {
        let cache = dir.path().join(format!("cache-{name}"));
        let store = dir.path().join(format!("store-{name}"));
        let opts = || UploadOptions {
            keep: 2,
            store: Some(store.clone()),
        };
        let first = launch_with(&*t, &target, &v1, &cache, opts()).unwrap();
        assert!(
            first.sent_bytes >= AGENT_SIZE as u64,
            "{name}: {}",
            first.sent_bytes
        );
        assert_eq!(talk_to_agent(name, first), "agent v1");

        let second = launch_with(&*t, &target, &v2, &cache, opts()).unwrap();
        assert!(second.uploaded, "{name}");
        assert!(
            second.sent_bytes <= 1_500_000,
            "{name}: a one-line change cost {} bytes on the wire",
            second.sent_bytes
        );
        assert_eq!(
            talk_to_agent(name, second),
            "agent v2",
            "{name}: the new agent runs"
        );
        let cached = cache.join(format!("batou-agent-{}", v2.hash));
        assert_eq!(
            AgentBinary::from_path(&cached, "Linux", "x").unwrap().hash,
            v2.hash,
            "{name}"
        );

        let third = launch_with(&*t, &target, &v3, &cache, opts()).unwrap();
        assert!(
            third.sent_bytes <= 1_500_000,
            "{name}: {}",
            third.sent_bytes
        );
        assert_eq!(talk_to_agent(name, third), "agent v3");
        let agents: Vec<String> = cached_agents(&cache)
            .into_iter()
            .filter(|n| n.starts_with("batou-agent-"))
            .collect();
        assert_eq!(
            agents,
            {
                let mut kept = vec![
                    format!("batou-agent-{}", v2.hash),
                    format!("batou-agent-{}", v3.hash),
                ];
                kept.sort();
                kept
            },
            "{name}: the cache keeps the newest 2"
        );
    }
}

#[test]
fn a_delta_that_does_not_apply_falls_back_to_the_whole_agent() {
    let server = SshServer::start();
    let target = server.target("target");
    let dir = tempfile::tempdir().unwrap();
    // An old agent whose `agent-patch` writes something else (as a
    // corrupt or mismatched delta would): the result fails the hash check.
    let path = dir.path().join(unique("agent-old-"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n# {}\ncase $1 in agent-patch) cat >/dev/null; echo not-the-agent; exit 0 ;; esac\necho BATOU-START\necho old\nexec cat\n",
            unique("nonce-")
        ),
    )
    .unwrap();
    let old = AgentBinary::from_path(&path, local_os(), local_arch()).unwrap();
    let new = padded_agent(dir.path(), "new", 1 << 20, 5);
    for (name, t) in transports() {
        let cache = dir.path().join(format!("cache-{name}"));
        let store = dir.path().join(format!("store-{name}"));
        let opts = || UploadOptions {
            keep: 3,
            store: Some(store.clone()),
        };
        assert_eq!(
            talk_to_agent(
                name,
                launch_with(&*t, &target, &old, &cache, opts()).unwrap()
            ),
            "old"
        );
        let next = launch_with(&*t, &target, &new, &cache, opts()).unwrap();
        assert!(next.uploaded, "{name}");
        assert!(
            next.sent_bytes > 1 << 20,
            "{name}: the delta and then the whole agent were sent: {}",
            next.sent_bytes
        );
        assert_eq!(talk_to_agent(name, next), "agent new", "{name}");
        assert!(
            !cached_agents(&cache).iter().any(|n| n.contains(".tmp.")),
            "{name}: no temp file stays"
        );
    }
}
