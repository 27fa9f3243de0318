//! `Git` against real repositories made with the git CLI, cloned over
//! local paths and `file://` URLs, with a submodule.

use std::path::{Path, PathBuf};

use super::fixture::{param, run, set_params};
use super::*;
use crate::error::Error;
use crate::stdlib::Git;

/// `upstream` (branch `main`: `a.txt` v1 tagged `v1`, then a submodule
/// `libs/sub`, then `a.txt` v2 tagged `v2`; `*.log` ignored) and `sub`.
struct Repos {
    _tmp: tempfile::TempDir,
    upstream: PathBuf,
}

impl Repos {
    fn new() -> Repos {
        let tmp = tempfile::tempdir().unwrap();
        let (upstream, sub) = (tmp.path().join("upstream"), tmp.path().join("sub"));
        for dir in [&upstream, &sub] {
            std::fs::create_dir(dir).unwrap();
            run(dir, "git", &["init", "-q", "-b", "main"]);
        }
        std::fs::write(sub.join("s.txt"), "sub\n").unwrap();
        run(&sub, "git", &["add", "."]);
        run(&sub, "git", &["commit", "-qm", "sub"]);
        let repos = Repos {
            _tmp: tmp,
            upstream,
        };
        std::fs::write(repos.upstream.join(".gitignore"), "*.log\n").unwrap();
        repos.commit("a.txt", "v1\n");
        repos.git(&["tag", "v1"]);
        run(
            &repos.upstream,
            "git",
            &[
                "-c",
                "protocol.file.allow=always",
                "submodule",
                "add",
                "-q",
                sub.to_str().unwrap(),
                "libs/sub",
            ],
        );
        repos.git(&["commit", "-qm", "submodule"]);
        repos.commit("a.txt", "v2\n");
        repos.git(&["tag", "-a", "-m", "two", "v2"]);
        repos
    }

    fn git(&self, args: &[&str]) -> String {
        run(&self.upstream, "git", args).trim().to_string()
    }

    fn commit(&self, file: &str, content: &str) -> String {
        std::fs::write(self.upstream.join(file), content).unwrap();
        self.git(&["add", "."]);
        self.git(&["commit", "-qm", content.trim()]);
        self.git(&["rev-parse", "HEAD"])
    }

    fn url(&self) -> String {
        self.upstream.to_str().unwrap().to_string()
    }
}

fn checkout_git(dir: &Path, args: &[&str]) -> String {
    run(dir, "git", args).trim().to_string()
}

/// params: url, "branch"/"tag"/"revision", name, "clobber" or "".
fn checkout(s: &Scene, ctx: &mut Configure<'_>) -> Result<()> {
    let git = Git::new(param(s, 0))
        .target("app")
        .clobber(param(s, 3) == "clobber")
        .git_config("protocol.file.allow", "always");
    let git = match param(s, 1).as_str() {
        "branch" => git.branch(param(s, 2)),
        "tag" => git.tag(param(s, 2)),
        _ => git.revision(param(s, 2)),
    };
    ctx.add(git)?;
    Ok(())
}

#[test]
fn a_branch_is_cloned_with_submodules_kept_and_followed() {
    let repos = Repos::new();
    let s = Stage::new(checkout);
    let url = format!("file://{}", repos.url());
    set_params(s.case, &[&url, "branch", "main", ""]);
    s.prepare();

    let (report, _) = s.predict();
    assert_eq!(report.changed, 1);
    assert!(!s.path("app").exists(), "predict cloned");

    assert_eq!(s.deploy().0.changed, 1);
    let app = s.path("app");
    assert_eq!(s.read("app/a.txt"), "v2\n");
    assert_eq!(s.read("app/libs/sub/s.txt"), "sub\n");
    assert_eq!(
        checkout_git(&app, &["symbolic-ref", "--short", "HEAD"]),
        "main"
    );
    assert_eq!(
        checkout_git(&app, &["rev-parse", "--abbrev-ref", "@{upstream}"]),
        "origin/main"
    );

    let before = identity(&s.path("app/a.txt"));
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(identity(&s.path("app/a.txt")), before, "rewritten");

    // Upstream moves on: predicting sees it without fetching; deploying
    // follows.
    let v3 = repos.commit("a.txt", "v3\n");
    let tracking = checkout_git(&app, &["rev-parse", "origin/main"]);
    assert_eq!(s.predict().0.changed, 1);
    assert_eq!(checkout_git(&app, &["rev-parse", "origin/main"]), tracking);
    assert_eq!(s.read("app/a.txt"), "v2\n");
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(s.read("app/a.txt"), "v3\n");
    assert_eq!(checkout_git(&app, &["rev-parse", "HEAD"]), v3);

    // Drift: someone checked out another commit and deinitialised the
    // submodule (a clean tree, so nothing is lost).
    checkout_git(&app, &["submodule", "deinit", "-q", "--all", "--force"]);
    checkout_git(&app, &["checkout", "-q", "v1"]);
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(checkout_git(&app, &["rev-parse", "HEAD"]), v3);
    assert_eq!(
        checkout_git(&app, &["symbolic-ref", "--short", "HEAD"]),
        "main"
    );
    assert_eq!(s.read("app/libs/sub/s.txt"), "sub\n");
    assert_eq!(s.deploy().0.changed, 0);
}

#[test]
fn tags_and_revisions_are_checked_out_detached_fetching_only_what_is_missing() {
    let repos = Repos::new();
    let s = Stage::new(checkout);
    set_params(s.case, &[&repos.url(), "tag", "v1", ""]);
    s.prepare();
    assert_eq!(s.deploy().0.changed, 1);
    let app = s.path("app");
    assert_eq!(s.read("app/a.txt"), "v1\n");
    assert!(!s.path("app/libs/sub").exists());
    assert_eq!(s.deploy().0.changed, 0);

    // v2 is present locally: switching to it needs no remote at all.
    let v2 = repos.git(&["rev-parse", "v2^{commit}"]);
    let away = repos.upstream.with_file_name("moved-away");
    std::fs::rename(&repos.upstream, &away).unwrap();
    set_params(s.case, &[&repos.url(), "tag", "v2", ""]);
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(checkout_git(&app, &["rev-parse", "HEAD"]), v2);
    assert_eq!(s.read("app/libs/sub/s.txt"), "sub\n");
    assert_eq!(
        checkout_git(&app, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "HEAD"
    );
    std::fs::rename(&away, &repos.upstream).unwrap();

    // A commit made after the clone, on a side branch: fetched.
    repos.git(&["checkout", "-q", "-b", "side"]);
    let side = repos.commit("a.txt", "side\n");
    set_params(s.case, &[&repos.url(), "revision", &side, ""]);
    let (report, _) = s.predict();
    assert_eq!(report.changed, 1);
    assert_eq!(s.read("app/a.txt"), "v2\n", "predict checked out");
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(s.read("app/a.txt"), "side\n");
    assert_eq!(checkout_git(&app, &["rev-parse", "HEAD"]), side);
    assert_eq!(s.deploy().0.changed, 0);

    // Back to v1, which has no submodule: its work tree goes too, so the
    // next run does not see it as untracked files.
    set_params(s.case, &[&repos.url(), "tag", "v1", ""]);
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(s.read("app/a.txt"), "v1\n");
    assert!(!s.path("app/libs/sub").exists());
    assert_eq!(s.deploy().0.changed, 0);

    set_params(s.case, &[&repos.url(), "tag", "v9", ""]);
    let message = s.run(false).0.expect_err("no such tag").to_string();
    assert!(
        message.contains("tag \"v9\" cannot be fetched from")
            && message.contains("couldn't find remote ref refs/tags/v9"),
        "{message}"
    );
}

#[test]
fn local_changes_are_never_clobbered_unless_told() {
    let repos = Repos::new();
    let s = Stage::new(checkout);
    set_params(s.case, &[&repos.url(), "branch", "main", ""]);
    s.prepare();
    s.deploy();
    std::fs::write(s.path("app/a.txt"), "my edit\n").unwrap();
    std::fs::write(s.path("app/notes"), "mine\n").unwrap();
    std::fs::write(s.path("app/debug.log"), "ignored\n").unwrap();
    std::fs::write(s.path("app/libs/sub/junk"), "in the submodule\n").unwrap();

    for predict in [true, false] {
        let message = s.run(predict).0.expect_err("refused").to_string();
        assert!(message.contains("refusing to clobber"), "{message}");
        assert!(message.contains("modified: a.txt"), "{message}");
        assert!(message.contains("untracked: notes"), "{message}");
        assert!(message.contains("modified: libs/sub"), "{message}");
        assert!(!message.contains("debug.log"), "{message}");
        assert!(message.contains("set `clobber`"), "{message}");
    }
    assert_eq!(s.read("app/a.txt"), "my edit\n");
    assert_eq!(s.read("app/notes"), "mine\n");

    set_params(s.case, &[&repos.url(), "branch", "main", "clobber"]);
    let (report, _) = s.predict();
    assert_eq!(report.changed, 1);
    assert_eq!(s.read("app/a.txt"), "my edit\n", "predict clobbered");
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(s.read("app/a.txt"), "v2\n");
    assert!(!s.path("app/notes").exists());
    assert!(!s.path("app/libs/sub/junk").exists());
    assert_eq!(s.read("app/debug.log"), "ignored\n");
    assert_eq!(s.deploy().0.changed, 0);

    // A local commit is a local change too: checking out the branch's
    // remote head would leave it behind.
    set_params(s.case, &[&repos.url(), "branch", "main", ""]);
    std::fs::write(s.path("app/a.txt"), "committed here\n").unwrap();
    run(&s.path("app"), "git", &["commit", "-qam", "local work"]);
    let message = s.run(false).0.expect_err("refused").to_string();
    assert!(
        message.contains("local commits would be lost: unpushed commit: ")
            && message.contains("local work"),
        "{message}"
    );
    assert_eq!(s.read("app/a.txt"), "committed here\n");

    // Something that is not a clone at the target is not replaced either.
    let s = Stage::new(checkout);
    set_params(s.case, &[&repos.url(), "branch", "main", ""]);
    std::fs::create_dir_all(s.path("app")).unwrap();
    std::fs::write(s.path("app/precious"), "x").unwrap();
    let message = s.run(false).0.expect_err("refused").to_string();
    assert!(
        message.contains("is not a git checkout (it holds precious)"),
        "{message}"
    );
    assert_eq!(s.read("app/precious"), "x");
    set_params(s.case, &[&repos.url(), "branch", "main", "clobber"]);
    assert_eq!(s.deploy().0.changed, 1);
    assert!(!s.path("app/precious").exists());
    assert_eq!(s.read("app/a.txt"), "v2\n");
}

/// A misuse of the builder, and the error it gives.
type Misuse = (fn(Git) -> Git, &'static str);

const BAD: &[Misuse] = &[
    (|g| g, "set exactly one of `branch`, `tag` or `revision`"),
    (|g| g.branch("main").tag("v1"), "set exactly one"),
    (|g| g.tag("--upload-pack=touch pwned"), "is not a valid"),
    (|g| g.revision(""), "is not a valid"),
];

fn bad(s: &Scene, ctx: &mut Configure<'_>) -> Result<()> {
    let i: usize = param(s, 0).parse().unwrap();
    ctx.add(BAD[i].0(Git::new("/srv/repo.git")))?;
    Ok(())
}

#[test]
fn bad_arguments_are_configuration_errors_and_names_cannot_inject() {
    for (i, (_, expected)) in BAD.iter().enumerate() {
        let s = Stage::new(bad);
        set_params(s.case, &[&i.to_string()]);
        let errors = s.try_model().err().expect("configure fails");
        assert!(
            matches!(&errors[..], [ConfigError::Component { source: Error::Usage(m), .. }] if m.contains(expected)),
            "case {i}: {errors:?}"
        );
    }

    // Shell metacharacters are just characters in an argument vector; a
    // failed first checkout leaves no half-made clone behind.
    let repos = Repos::new();
    let s = Stage::new(checkout);
    set_params(
        s.case,
        &[
            &repos.url(),
            "branch",
            "main;touch${IFS}pwned$(touch${IFS}pwned)",
            "",
        ],
    );
    let dir = s.prepare();
    for _ in 0..2 {
        let message = s.run(false).0.expect_err("no such branch").to_string();
        assert!(message.contains("does not exist in"), "{message}");
        assert!(!s.path("app").exists());
    }
    assert!(!dir.join("pwned").exists());
}

#[test]
fn a_url_password_is_masked_in_labels_and_errors() {
    // A bare copy served over git's dumb HTTP protocol by a real server.
    let repos = Repos::new();
    let www = repos.upstream.with_file_name("www");
    std::fs::create_dir(&www).unwrap();
    let bare = www.join("repo.git");
    run(
        &www,
        "git",
        &[
            "clone",
            "-q",
            "--bare",
            &repos.url(),
            bare.to_str().unwrap(),
        ],
    );
    run(&bare, "git", &["update-server-info"]);
    let server = super::fixture::Server::http(&www);

    let s = Stage::new(checkout);
    let url = format!("http://bob:s3cret@127.0.0.1:{}/repo.git", server.port);
    set_params(s.case, &[&url, "tag", "v2", ""]);
    s.prepare();
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 1);
    assert_eq!(s.read("app/a.txt"), "v2\n");
    let shown = format!("{events:?}");
    assert!(shown.contains("Git('http://bob:****@127.0.0.1"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert_eq!(s.deploy().0.changed, 0);

    let s = Stage::new(checkout);
    let url = format!("http://bob:s3cret@127.0.0.1:{}/missing.git", server.port);
    set_params(s.case, &[&url, "branch", "main", ""]);
    s.prepare();
    let (result, events) = s.run(false);
    let message = result.expect_err("no such repository").to_string();
    assert!(message.contains("bob:****@127.0.0.1"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
    assert!(!format!("{events:?}").contains("s3cret"));
    assert!(!s.path("app").exists());
}
