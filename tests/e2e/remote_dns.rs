//! DNS is resolved on the targets, as in batou: each namespaced host has
//! its own dnsmasq (inside its namespace, `--no-resolv`: it answers or
//! refuses everything itself) that gives `db.batou.test` that host's
//! address. The controller runs with a resolv.conf pointing at h1's
//! dnsmasq (in a private mount namespace), so no query of this test ever
//! leaves for the machine's real nameserver.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::remote::both_transports;
use super::remote_hosts::Cluster;
use super::support::{Outcome, Project};
use crate::remote_support::NetnsHosts;

/// A dnsmasq inside a namespace, on its loopback and its veth address;
/// killed on drop.
struct Dnsmasq {
    child: Child,
}

impl Dnsmasq {
    fn start(ns: &str, ip: &str, records: &[(&str, &str)]) -> Dnsmasq {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, "/usr/sbin/dnsmasq"])
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--port=53",
                "--user=root",
                "--pid-file=",
                "--local=/batou.test/",
                "--log-facility=-",
            ])
            .arg(format!("--listen-address={ip}"));
        for (name, address) in records {
            cmd.arg(format!("--address=/{name}/{address}"));
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start dnsmasq in {ns}: {e} (apt-get install dnsmasq)")
            });
        let addr: SocketAddr = format!("{ip}:53").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("dnsmasq in {ns} exited: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "dnsmasq in {ns} never listened on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Dnsmasq { child }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the controller in a private mount namespace whose
/// /etc/resolv.conf names only `nameserver`.
fn run_with_nameserver(p: &Project, nameserver: &str, args: &[&str]) -> Outcome {
    let resolv = p.path().join("controller-resolv.conf");
    std::fs::write(&resolv, format!("nameserver {nameserver}\n")).unwrap();
    let inner = p.command(args, &[]);
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"")
        .arg(&resolv)
        .arg(inner.get_program())
        .args(inner.get_args())
        .stdin(Stdio::null());
    if let Some(dir) = inner.get_current_dir() {
        cmd.current_dir(dir);
    }
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let output = cmd.output().expect("run the controller under unshare");
    Outcome {
        args: args.iter().map(|a| a.to_string()).collect(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output.status.code(),
    }
}

both_transports! {
    /// `db.batou.test` is each host's own address on that host; a name
    /// only h1's DNS knows fails on h2 and h3 with one error naming both.
    fn names_are_resolved_on_each_target(method: &str) {
        let cluster = Cluster::with(NetnsHosts::create_with_resolv_conf(
            3,
            Some("nameserver 127.0.0.1\n"),
        ));
        let _dns: Vec<Dnsmasq> = cluster
            .hosts
            .hosts
            .iter()
            .enumerate()
            .map(|(k, h)| {
                let mut records = vec![("db.batou.test", h.ip.as_str())];
                if k == 0 {
                    records.push(("only-h1.batou.test", h.ip.as_str()));
                }
                Dnsmasq::start(&h.ns, &h.ip, &records)
            })
            .collect();
        let h1 = cluster.hosts.hosts[0].ip.clone();
        let p = cluster.project();
        let env = |name: &str| {
            format!(
                "[environment]\nconnect_method = {method}\njobs = 3\n\n{}[component:resolved]\naddress = {name}:5432\n",
                cluster.host_sections("resolved", |_| String::new())
            )
        };

        p.write("environments/only.cfg", &env("only-h1.batou.test"));
        let out = run_with_nameserver(&p, &h1, &["deploy", "only"])
            .code(3)
            .stderr_contains("only-h1.batou.test")
            .message("hosts: h2, h3")
            .stdout_lacks("Scheduling component");
        assert_eq!(out.error_count(), 1, "one merged error:\n{}", out.stderr);
        for k in 0..3 {
            assert!(!cluster.deployed(k, "work/resolved").exists(), "h{} deployed", k + 1);
        }

        p.write("environments/db.cfg", &env("db.batou.test"));
        run_with_nameserver(&p, &h1, &["deploy", "db"]).success();
        for (k, host) in cluster.hosts.hosts.iter().enumerate() {
            assert_eq!(
                cluster.read(k, "work/resolved/listen.txt"),
                format!("{}:5432\n", host.ip),
                "h{} resolved db.batou.test through its own DNS",
                k + 1
            );
        }
    }
}
