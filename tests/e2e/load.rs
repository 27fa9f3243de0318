//! Load: one deploy to 50 hosts (each its own network namespace with its
//! own sshd, and its own service user so each has its own target
//! directory, lock and agent cache) with `-j 50`, twice: the first puts
//! every file in place on every host, the second changes nothing. The
//! controller's peak memory (its maxrss, from wait4) is printed and must
//! stay under [`MEMORY_LIMIT_MB`]; tests/README.md records what it was.

use std::io::Read;
use std::process::Stdio;

use super::support::Project;
use crate::remote_support::{NetnsHosts, User};

const HOSTS: usize = 50;

/// A generous bound on the controller's peak resident memory for 50
/// hosts; the measured peak is far below (see tests/README.md). A leak
/// per host or per event would break it.
const MEMORY_LIMIT_MB: u64 = 512;

/// Runs the deploy to completion; (exit code, stdout, stderr, maxrss KiB).
// The child is reaped by wait4 (for its rusage), not by Child::wait.
#[allow(clippy::zombie_processes)]
fn deploy_measured(p: &Project, args: &[&str]) -> (Option<i32>, String, String, u64) {
    let mut child = p
        .command(args, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the deploy");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, with pointers to live locals; it
    // reaps the child, which is not waited on again.
    let rc = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(rc, child.id() as i32, "wait4");
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (
        code,
        out.join().unwrap(),
        err.join().unwrap(),
        usage.ru_maxrss as u64,
    )
}

#[test]
fn fifty_hosts_with_50_jobs_deploy_every_file_then_change_nothing() {
    let hosts = NetnsHosts::create(HOSTS);
    let services: Vec<User> = (0..HOSTS).map(|_| User::create("bt-ld")).collect();
    let config = std::fs::read_to_string(hosts.ssh_config()).unwrap();
    let p = Project::new().file("ssh_config", &config);
    // A stripped copy of this build as the agent: the same code, a
    // twelfth of the bytes to upload 50 times.
    let agent = p.path().join("agent");
    std::fs::copy(super::support::BIN, &agent).unwrap();
    crate::remote_support::run("strip", &[agent.to_str().unwrap()]);
    let mut env = String::from(
        "[environment]\nconnect_method = ssh2\nagent_binary = agent\n\n\
         [component:payload]\nfill = loaded\nsize_mb = 1\n\n",
    );
    for (k, service) in services.iter().enumerate() {
        env.push_str(&format!(
            "[host:host{k}]\ncomponents = payload, hostdata\nservice_user = {}\ndata-index = {k}\n\n",
            service.name
        ));
    }
    p.write("environments/load.cfg", &env);

    let (code, stdout, stderr, first_kib) = deploy_measured(&p, &["deploy", "-j", "50", "load"]);
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let big = batou_tests::fixtures::payload_bytes("loaded", 1);
    for (k, service) in services.iter().enumerate() {
        let work = service.home.join("deployment/work");
        let read = |path: &str| {
            std::fs::read(work.join(path)).unwrap_or_else(|e| panic!("host{k}: {path}: {e}"))
        };
        assert_eq!(read("payload/big.bin"), big, "host{k}");
        assert_eq!(read("payload/small.txt"), b"loaded\n", "host{k}");
        assert_eq!(
            String::from_utf8(read("hostdata/data.json")).unwrap(),
            format!("{{\"index\":\"{k}\"}}\n"),
            "host{k}"
        );
    }

    let (code, stdout, stderr, second_kib) = deploy_measured(&p, &["deploy", "-j", "50", "load"]);
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("Nothing changed."), "{stdout}");
    for k in 0..HOSTS {
        assert!(
            stdout.contains(&format!("host{k}: connect=")),
            "host{k} in the summary:\n{stdout}"
        );
    }
    assert!(!stdout.contains("Uploaded agent"), "{stdout}");

    let peak_mb = first_kib.max(second_kib) / 1024;
    println!(
        "controller peak memory for {HOSTS} hosts, -j {HOSTS}: first deploy {} MiB, second {} MiB",
        first_kib / 1024,
        second_kib / 1024
    );
    assert!(
        peak_mb < MEMORY_LIMIT_MB,
        "the controller peaked at {peak_mb} MiB (limit {MEMORY_LIMIT_MB})"
    );
}
