//! Templates and static files are data, not code (issue #18 item 3): a
//! template edit uploads no agent and sends only the changed file, a
//! damaged cached copy on the target is sent again, and a missing asset
//! stops the deploy in configure, naming the component and the path.
//! Both SSH transports, against a real sshd on 127.0.0.1.

use std::path::Path;

use super::remote::{both_transports, file_identities, private_dirs, ssh_project, summary_line};
use super::support::{Project, workspace_root};
use crate::remote_support::{SshServer, run, unique};

/// The example deployment on host `target`, started from `agent` (a
/// stripped copy of this build: a native static agent would need a build
/// of its own, and the asset path does not depend on which binary runs).
fn env(method: &str, dirs: &str) -> String {
    format!(
        "[environment]\nconnect_method = {method}\nagent_binary = agent\n{dirs}\n\
         [host:target]\ncomponents = backend, frontend\ndata-role = primary\ndata-datacenter = home\n\n\
         [component:backend]\naddress = app.internal:8080\nworkers = 2\n\n\
         [resolver]\napp.internal = 127.0.0.1\n"
    )
}

/// A project holding the example's `components` crate's templates (and a
/// `Cargo.toml`, which makes the project's copies the ones read), so the
/// test edits its own files, not the repository's.
fn project(server: &SshServer, method: &str) -> Project {
    let p = ssh_project(&server.ssh_config(), "");
    p.write("environments/remote.cfg", &env(method, &private_dirs(&p)));
    p.write(
        "components/Cargo.toml",
        "# the example's crate, as far as assets go\n",
    );
    let templates = workspace_root().join("components/templates");
    for name in ["backend.conf", "frontend.conf", "index.html"] {
        let text = std::fs::read_to_string(templates.join(name)).unwrap();
        p.write(&format!("components/templates/{name}"), &text);
    }
    let agent = p.path().join("agent");
    std::fs::copy(super::support::BIN, &agent).unwrap();
    run("strip", &[agent.to_str().unwrap()]);
    p
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `(count, bytes)` of `, N asset(s) sent (B bytes)` in the summary line;
/// `(0, 0)` when there is none.
fn assets_sent(line: &str) -> (usize, u64) {
    let Some(at) = line.find(" sent (") else {
        return (0, 0);
    };
    let head = &line[..at];
    let count = head
        .rsplit(", ")
        .next()
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line}"));
    let bytes = line[at + 7..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {line}"));
    (count, bytes)
}

fn listing(dir: &Path) -> Vec<String> {
    file_identities(dir).into_iter().map(|f| f.0).collect()
}

both_transports! {
    /// First deploy ships the agent and every asset; an unchanged one
    /// ships nothing; after a template edit only that template goes over
    /// the wire (no agent), it is deployed, and the line that carried it
    /// is the template plus a small, fixed framing.
    fn a_template_edit_ships_only_the_template(method: &str) {
        let server = SshServer::start();
        let p = project(&server, method);
        let first = p.run(&["deploy", "remote"]).success();
        let line = summary_line(&first, "target");
        assert!(line.ends_with(", agent uploaded (as root)"), "{line}");
        let (count, _) = assets_sent(&line);
        assert!(count >= 3, "the example's three templates at least: {line}");
        let agents = p.path().join("remote/cache");
        let blobs = p.path().join("remote/cache-assets");
        let agent_cache = file_identities(&agents);
        let cached_blobs = listing(&blobs);
        assert_eq!(cached_blobs.len(), count, "one cached blob per blob sent");

        let again = p.run(&["deploy", "remote"]).success();
        let line = summary_line(&again, "target");
        assert!(line.ends_with(", changed=0 (as root)"), "nothing sent: {line}");

        // About 2 KB more template: a size the framing cannot hide in.
        let path = "components/templates/backend.conf";
        let mut text = p.read(path);
        let marker = unique("edited-");
        for i in 0..40 {
            text.push_str(&format!("# {marker} note {i:02}: templates are data, not code\n"));
        }
        p.write(path, &text);
        let edited = p.run(&["deploy", "remote"]).success();
        let line = summary_line(&edited, "target");
        assert!(!line.contains("agent uploaded"), "no agent upload: {line}");
        assert_eq!(file_identities(&agents), agent_cache, "the agent cache is untouched");
        let (count, bytes) = assets_sent(&line);
        assert_eq!(count, 1, "only the edited template: {line}");
        // The blob travels as a JSON string: the text, its escaped
        // newlines, and the request's framing with the sha256.
        let escaped = serde_json::to_string(&text).unwrap().len() as u64;
        assert!(bytes >= text.len() as u64, "{bytes} bytes cannot hold the template");
        assert!(
            bytes <= escaped + 128,
            "{bytes} bytes for a {} byte template ({escaped} escaped)",
            text.len()
        );
        let deployed = p.read("remote/target/work/backend/etc/backend.conf");
        assert!(deployed.contains(&format!("# {marker} note 39:")), "{deployed}");
        let blob = blobs.join(sha256(text.as_bytes()));
        assert_eq!(std::fs::read_to_string(&blob).unwrap(), text, "cached by its hash");
        assert_eq!(listing(&blobs).len(), cached_blobs.len() + 1);
    }
}

both_transports! {
    /// A cached blob that no longer matches its hash is never used: the
    /// agent asks for it again and deploys the real template.
    fn a_damaged_cached_template_is_sent_again(method: &str) {
        let server = SshServer::start();
        let p = project(&server, method);
        p.run(&["deploy", "remote"]).success();
        let text = p.read("components/templates/frontend.conf");
        let blob = p.path().join("remote/cache-assets").join(sha256(text.as_bytes()));
        let damaged = text.replace("upstream", "downstream");
        assert_ne!(damaged, text);
        std::fs::write(&blob, &damaged).unwrap();

        let again = p.run(&["deploy", "remote"]).success();
        let line = summary_line(&again, "target");
        assert_eq!(assets_sent(&line).0, 1, "the damaged one is sent again: {line}");
        assert!(line.contains(", changed=0"), "the real template was deployed: {line}");
        assert_eq!(std::fs::read_to_string(&blob).unwrap(), text, "and cached intact");
        let frontend = p.read("remote/target/work/frontend/frontend.conf");
        assert!(!frontend.contains("downstream"), "{frontend}");
    }
}

both_transports! {
    /// A template the project lacks is a configuration error naming the
    /// component and the path, and the target is not touched.
    fn a_missing_asset_is_named_before_anything_is_deployed(method: &str) {
        let server = SshServer::start();
        let p = project(&server, method);
        std::fs::remove_file(p.path().join("components/templates/index.html")).unwrap();
        let out = p.run(&["deploy", "remote"]).code(3).no_panic();
        // Paths in the project are shown relative to it.
        let said = out.stderr_unwrapped();
        assert!(
            said.contains("frontend: asset templates/index.html: cannot read components/templates/index.html: No such file"),
            "{said}"
        );
        assert!(said.contains("(host: target, component: frontend)"), "{said}");
        p.assert_missing("remote/target");
        p.assert_missing("remote/cache");
    }
}
