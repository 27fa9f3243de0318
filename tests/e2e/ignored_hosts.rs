//! Many ignored hosts cost work in proportion to their number (#15: 5,000
//! took 0.23 s, 10,000 0.96 s, 100,000 476 s). The measure is the CPU
//! time the deploy used (its own and its agent's, from wait4), not the
//! wall clock: ten times the hosts may cost at most thirty times the work
//! (linear gives about ten, quadratic a hundred). A CPU limit on the big
//! run turns a quadratic cost into a failure instead of a long wait.

use std::os::unix::process::CommandExt;
use std::process::Stdio;

use super::support::Project;

/// `localhost = hello` and `n` ignored hosts (`!hN` in `[hosts]`, every
/// tenth as a `[host:hN]` section with `ignore = True`).
fn environment(method: &str, n: usize) -> String {
    let mut text =
        format!("[environment]\nconnect_method = {method}\n[hosts]\nlocalhost = hello\n");
    let mut sections = String::new();
    for i in 0..n {
        if i % 10 == 0 {
            sections.push_str(&format!("[host:h{i}]\ncomponents = hello\nignore = True\n"));
        } else {
            text.push_str(&format!("!h{i} = hello\n"));
        }
    }
    text + &sections
}

/// Deploys `n` ignored hosts; returns the CPU seconds it took and stdout.
fn deploy(p: &Project, method: &str, n: usize, cpu_limit: Option<u64>) -> (f64, String) {
    p.write("environments/many.cfg", &environment(method, n));
    let mut cmd = p.command(&["deploy", "many"], &[]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(limit) = cpu_limit {
        // SAFETY: setrlimit(2) between fork and exec touches no memory of
        // the parent.
        unsafe {
            cmd.pre_exec(move || {
                let rl = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_CPU, &rl) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let child = cmd.spawn().expect("start the deploy");
    let pid = child.id() as i32;
    // Read the output on threads while wait4 reaps the process.
    let mut child = child;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).unwrap();
        s
    });
    let mut status = 0;
    // SAFETY: wait4 on our own child with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4");
    let stdout = reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{n} ignored hosts via {method}: the deploy did not succeed (status {status:#x}; \
         SIGXCPU or SIGKILL: it used more CPU than linear work allows)\n{stderr}"
    );
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (seconds(usage.ru_utime) + seconds(usage.ru_stime), stdout)
}

fn linear(method: &str) {
    let p = Project::new();
    // Once first, so the agent upload is not part of what is compared.
    deploy(&p, method, 10, None);
    let (small, out) = deploy(&p, method, 10_000, None);
    assert_eq!(out.matches("(Host ignored)").count(), 10_000, "{method}");
    // Generous: linear work is ~10x; the limit only stops a runaway.
    let limit = (small * 30.0) as u64 + 60;
    let (big, out) = deploy(&p, method, 100_000, Some(limit));
    assert_eq!(out.matches("(Host ignored)").count(), 100_000, "{method}");
    assert!(
        out.contains("Connection ignored (100001/100001)") || method != "local",
        "{method}"
    );
    assert!(out.contains("DEPLOYMENT FINISHED"), "{method}");
    assert!(
        big < small * 30.0,
        "{method}: 100,000 ignored hosts took {big:.2} s of CPU, 10,000 took {small:.2} s"
    );
}

#[test]
fn a_hundred_thousand_ignored_hosts_cost_linear_work_locally() {
    linear("local");
}

/// Through an agent (the `subprocess` transport starts a real one): the
/// controller schedules, skips and reports every ignored root.
#[test]
fn a_hundred_thousand_ignored_hosts_cost_linear_work_remotely() {
    linear("subprocess");
}
