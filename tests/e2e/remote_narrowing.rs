//! Narrowing a remote deploy: a host none of whose roots is selected is
//! not connected at all, so a stopped host can be left out with
//! `--skip-hosts` or `--components`.

use super::remote::{both_transports, private_dirs};
use super::support::Project;
use crate::remote_support::SshServer;

both_transports! {
    /// `target` runs a real sshd; `gone` had one, stopped before the deploy;
    /// `watched` runs one whose log shows whether anything connected (the
    /// connections opened while the model configures must skip it too).
    fn a_deselected_stopped_host_is_not_connected(method: &str) {
        let server = SshServer::start();
        let stopped = SshServer::start();
        let watched = SshServer::start();
        let config = format!(
            "{}{}{}",
            server.config_block("target", "root", &server.known_hosts()),
            stopped.config_block("gone", "root", &stopped.known_hosts()),
            watched.config_block("watched", "root", &watched.known_hosts())
        );
        drop(stopped);
        let p = Project::new().file("ssh_config", &config);
        p.write(
            "environments/remote.cfg",
            &format!(
                "[environment]\nconnect_method = {method}\nconnect_timeout = 20\n{}\n\
                 [host:target]\ncomponents = hello\n[host:gone]\ncomponents = featured\n\
                 [host:watched]\ncomponents = featured\n",
                private_dirs(&p)
            ),
        );
        // Unnarrowed, the stopped host is a connection error.
        p.run(&["deploy", "remote"])
            .code(4)
            .stderr_contains("gone")
            .stdout_contains("🌐 gone: Connecting via");
        p.assert_missing("remote/target/work/hello");
        let connections = || watched.log().matches("Connection from").count();
        let before = connections();
        assert!(before > 0, "the unnarrowed run connected to every host:\n{}", watched.log());

        p.run(&["deploy", "--skip-hosts", "gone,watched", "remote"])
            .success()
            .stdout_contains(&format!("🌐 target: Connecting via {method} (1/3)"))
            .stdout_contains("⏭️ gone: Not connecting: no component selected (2/3)")
            .stdout_contains("⏭️ watched: Not connecting: no component selected (3/3)")
            .stdout_contains("Skipping component featured ... (Not selected)")
            .stdout_lacks("🌐 gone")
            .stdout_contains("DEPLOYMENT FINISHED");
        p.assert_exists("remote/target/work/hello/hello.txt");

        let o = p
            .run(&["deploy", "--json", "--components", "hello", "remote"])
            .success();
        let events: Vec<serde_json::Value> = o
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        let about_gone: Vec<&str> = events
            .iter()
            .filter(|e| e["host"] == "gone")
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(about_gone, ["host_not_selected", "root_skipped"], "{}", o.stdout);
        p.run(&["deploy", "--hosts", "target", "remote"]).success();
        assert_eq!(connections(), before, "a deselected host was connected:\n{}", watched.log());
    }
}
