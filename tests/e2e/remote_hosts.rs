//! Several hosts, each in its own network namespace with its own sshd, a
//! login user and a service user (namespaces share the file system and
//! the users, so a service user per host gives each its own home, target
//! directory, deploy lock and agent cache, as separate machines have): a
//! provide/require chain across hosts deploys in order, and `-j` runs
//! independent roots on different hosts at once.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::remote::{both_transports, summary_line, uid_of};
use super::support::{Outcome, Project};
use crate::remote_support::{NetnsHosts, User};

/// `n` namespaced hosts `h1`..`hn`, each logged into as its own user who
/// may sudo (NOPASSWD) to that host's own service user. Dropped in field
/// order: the namespaces (and every process in them) go before the users.
pub(super) struct Cluster {
    pub hosts: NetnsHosts,
    pub services: Vec<User>,
    /// Kept until drop (removed after the namespaces).
    _logins: Vec<User>,
}

impl Cluster {
    pub fn create(n: usize) -> Cluster {
        Cluster::with(NetnsHosts::create(n))
    }

    pub fn with(mut hosts: NetnsHosts) -> Cluster {
        let mut services = Vec::new();
        let mut logins = Vec::new();
        for k in 0..hosts.hosts.len() {
            let service = User::create("bt-s");
            let login = User::create("bt-l");
            login.allow_sudo(&service.name, true);
            hosts.add_alias(k, &Cluster::name(k), &login.name);
            services.push(service);
            logins.push(login);
        }
        Cluster {
            hosts,
            services,
            _logins: logins,
        }
    }

    /// The environment's (and ssh_config's) name of host `k`: `h1`, ...
    pub fn name(k: usize) -> String {
        format!("h{}", k + 1)
    }

    /// `[host:hK]` sections: `components` and `service_user`, plus
    /// `extra(k)`.
    pub fn host_sections(&self, components: &str, extra: impl Fn(usize) -> String) -> String {
        (0..self.services.len())
            .map(|k| {
                format!(
                    "[host:{}]\ncomponents = {components}\nservice_user = {}\n{}\n",
                    Cluster::name(k),
                    self.services[k].name,
                    extra(k)
                )
            })
            .collect()
    }

    /// A project with this cluster's ssh_config.
    pub fn project(&self) -> Project {
        super::remote::ssh_project(&self.hosts.ssh_config(), "")
    }

    /// A file in host `k`'s target directory (the default,
    /// `~/deployment` of its service user).
    pub fn deployed(&self, k: usize, path: &str) -> PathBuf {
        self.services[k].home.join("deployment").join(path)
    }

    #[track_caller]
    pub fn read(&self, k: usize, path: &str) -> String {
        let full = self.deployed(k, path);
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
    }

    /// `(start, end)` of the `link` root on host `k`, in ns.
    #[track_caller]
    pub fn interval(&self, k: usize) -> (u128, u128) {
        let text = self.read(k, "work/link/interval.txt");
        let (a, b) = text
            .trim()
            .split_once(' ')
            .unwrap_or_else(|| panic!("interval {text:?}"));
        let (a, b) = (a.parse().unwrap(), b.parse().unwrap());
        assert!(a <= b, "{text}");
        (a, b)
    }

    pub fn intervals(&self) -> Vec<(u128, u128)> {
        (0..self.services.len()).map(|k| self.interval(k)).collect()
    }
}

/// Every host's summary line ends with `(as <its service user>)`.
#[track_caller]
fn runs_as_service_users(cluster: &Cluster, out: &Outcome) {
    for (k, service) in cluster.services.iter().enumerate() {
        let line = summary_line(out, &Cluster::name(k));
        assert!(line.ends_with(&format!(" (as {})", service.name)), "{line}");
    }
}

both_transports! {
    /// h1 provides `a`, h2 requires `a` and provides `b`, h3 requires `b`:
    /// even with `-j 3` they deploy one after the other, each with its
    /// upstream's value; then independent roots overlap with `-j 3` and do
    /// not with `-j 1`.
    fn a_chain_across_namespaced_hosts_deploys_in_order_and_jobs_run_hosts_at_once(method: &str) {
        let cluster = Cluster::create(3);
        let p = cluster.project();
        let chain = format!(
            "[environment]\nconnect_method = {method}\n\n{}[component:link]\nsleep_ms = 300\n",
            cluster.host_sections("link", |k| match k {
                0 => "data-provides = a\n".into(),
                1 => "data-requires = a\ndata-provides = b\n".into(),
                _ => "data-requires = b\n".into(),
            })
        );
        p.write("environments/chain.cfg", &chain);
        let out = p
            .run(&["deploy", "-j", "3", "chain"])
            .success()
            .stdout_in_order(&[
                "h1: Scheduling component link",
                "h2: Scheduling component link",
                "h3: Scheduling component link",
            ]);
        runs_as_service_users(&cluster, &out);
        for (k, service) in cluster.services.iter().enumerate() {
            let file = cluster.deployed(k, "work/link/got.txt");
            let meta = std::fs::metadata(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert_eq!(meta.uid(), uid_of(&service.name), "{}", file.display());
            let cached = service.home.join(".cache/batou/agents");
            assert!(cached.is_dir(), "h{} has its own agent cache", k + 1);
        }
        assert_eq!(cluster.read(0, "work/link/got.txt"), "(nothing)\n");
        assert_eq!(cluster.read(1, "work/link/got.txt"), "a from h1\n");
        assert_eq!(cluster.read(2, "work/link/got.txt"), "b from h2 after a from h1\n");
        let iv = cluster.intervals();
        assert!(iv[0].1 <= iv[1].0, "h1 finished before h2 started: {iv:?}");
        assert!(iv[1].1 <= iv[2].0, "h2 finished before h3 started: {iv:?}");

        // Three independent slow roots, one per host.
        let parallel = |sleep_ms: u64| {
            format!(
                "[environment]\nconnect_method = {method}\n\n{}[component:link]\nsleep_ms = {sleep_ms}\n",
                cluster.host_sections("link", |_| String::new())
            )
        };
        p.write("environments/parallel.cfg", &parallel(2000));
        p.run(&["deploy", "-j", "3", "parallel"]).success();
        let iv = cluster.intervals();
        let latest_start = iv.iter().map(|i| i.0).max().unwrap();
        let earliest_end = iv.iter().map(|i| i.1).min().unwrap();
        assert!(
            latest_start < earliest_end,
            "with -j 3 all three ran at the same time: {iv:?}"
        );

        p.write("environments/parallel.cfg", &parallel(500));
        p.run(&["deploy", "-j", "1", "parallel"]).success();
        let mut iv = cluster.intervals();
        iv.sort();
        assert!(
            iv.windows(2).all(|w| w[0].1 <= w[1].0),
            "with -j 1 one after the other: {iv:?}"
        );
    }
}
