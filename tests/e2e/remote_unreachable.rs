//! A host that becomes unreachable halfway through a multi-host deploy
//! (its network link taken down: packets vanish, nothing is reset), for
//! both SSH transports. The controller names the host and stops starting
//! roots; the other hosts' files are whole; its orphaned agent, hearing
//! nothing more from the controller, ends while the host is still cut
//! off, so the lock is free and, once the host is back, the next deploy
//! converges.

use std::path::PathBuf;
use std::time::Duration;

use super::background::{
    Background, assert_lock_free, no_agent_within, temp_files, wait_until_no_agent,
};
use super::remote::both_transports;
use super::remote_hosts::Cluster;

/// h1..h3 each deploy `payload` of `fill`; h2 also runs `sleeper` for
/// `seconds` (between its payload and h3's), with one root at a time.
fn env(cluster: &Cluster, method: &str, fill: &str, seconds: Option<u64>) -> String {
    let h2 = if seconds.is_some() {
        "payload, sleeper"
    } else {
        "payload"
    };
    let mut text = format!("[environment]\nconnect_method = {method}\njobs = 1\n\n");
    for k in 0..3 {
        text.push_str(&format!(
            "[host:{}]\ncomponents = {}\nservice_user = {}\n\n",
            Cluster::name(k),
            if k == 1 { h2 } else { "payload" },
            cluster.services[k].name
        ));
    }
    text.push_str(&format!(
        "[component:payload]\nfill = {fill}\nsize_mb = 1\n\n[component:sleeper]\nseconds = {}\n",
        seconds.unwrap_or(0)
    ));
    text
}

fn lock(cluster: &Cluster, k: usize) -> PathBuf {
    cluster.services[k].home.join(".batou/deploy.lock")
}

both_transports! {
    fn a_host_unreachable_halfway_is_named_and_the_next_deploy_converges(method: &str) {
        let cluster = Cluster::create(3);
        let p = cluster.project();
        p.write("environments/multi.cfg", &env(&cluster, method, "old", None));
        p.run(&["deploy", "multi"]).success();

        p.write("environments/multi.cfg", &env(&cluster, method, "new", Some(6)));
        let mut running = Background::start(&p, &["deploy", "multi"], lock(&cluster, 1));
        running.wait_for(&cluster.deployed(1, "work/sleeper/started"));
        cluster.hosts.hosts[1].set_link(false);
        let (code, stdout, stderr) = running.finish();
        // Still cut off, h2's orphaned agent hears nothing more from its
        // controller, finishes its running root and ends, releasing the
        // lock (CONTROLLER_SILENCE, 15 s, after the last word), without
        // waiting for TCP to give the connection up.
        let orphan = no_agent_within(&lock(&cluster, 1), Duration::from_secs(60));
        // Restore the link before asserting, so a failure does not leave
        // the orphaned agent waiting for ever.
        cluster.hosts.hosts[1].set_link(true);
        assert_eq!(orphan, Ok(()), "h2's orphaned agent still runs or holds the lock");
        assert_eq!(code, Some(4), "stdout:\n{stdout}\nstderr:\n{stderr}");
        assert!(
            stderr.contains("ERROR: h2: ") && stderr.contains("connection lost"),
            "names the host:\n{stderr}"
        );
        assert_eq!(
            stderr.matches("ERROR:").count(),
            1,
            "only h2 failed:\n{stderr}"
        );
        assert!(stdout.contains("DEPLOYMENT FAILED"), "{stdout}");
        // h1 and h2's payload deployed before the link went; h3's never
        // started.
        assert_eq!(cluster.read(0, "work/payload/small.txt"), "new\n");
        assert_eq!(cluster.read(1, "work/payload/small.txt"), "new\n");
        assert_eq!(cluster.read(2, "work/payload/small.txt"), "old\n");

        for k in 0..3 {
            wait_until_no_agent(&lock(&cluster, k), Duration::from_secs(20));
            assert_lock_free(&lock(&cluster, k));
        }
        p.write("environments/multi.cfg", &env(&cluster, method, "new", None));
        p.run(&["deploy", "multi"]).success();
        for k in 0..3 {
            assert_eq!(cluster.read(k, "work/payload/small.txt"), "new\n");
            let big = std::fs::read(cluster.deployed(k, "work/payload/big.bin")).unwrap();
            assert_eq!(big, batou_tests::fixtures::payload_bytes("new", 1));
            let home = cluster.services[k].home.join("deployment");
            assert_eq!(temp_files(&home), Vec::<PathBuf>::new());
        }
        p.run(&["deploy", "multi"]).success().stdout_contains("Nothing changed.");
    }
}
