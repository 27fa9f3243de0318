//! What ports of batou deployments meet (issue #20, points 4, 5, 7, 8, 9
//! and 12): behaviour batou 2.7.1 has that a ported deployment relies on.

use super::support::{LOCAL, Project};

fn templated(case: &str) -> Project {
    Project::new().env(
        "t",
        &format!("{LOCAL}[hosts]\nlocalhost = templated\n[component:templated]\ncase = {case}\n"),
    )
}

/// batou warns about templates above 100 KiB (its `template.py`) and
/// still renders them; so do we, naming the template and its size.
#[test]
fn a_template_above_100_kib_is_warned_about_and_rendered() {
    let p = templated("big");
    let o = p.run(&["deploy", "t"]).success();
    let o = o.stdout_contains(
        "WARN: template templated.j2 is 116021 bytes (113.3 KiB), more than 100 KiB",
    );
    // Once, though configure ran more than one pass.
    assert_eq!(
        o.stdout.matches("is 116021 bytes").count(),
        1,
        "{}",
        o.stdout
    );
    assert!(
        p.read("work/templated/out.txt")
            .ends_with("host localhost\n")
    );

    // A small template is not warned about.
    templated("ok")
        .run(&["deploy", "t"])
        .success()
        .stdout_lacks("WARN");
}

/// Who the test runs as (`id -un`).
fn me() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("id(1)");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// batou's `LocalHost` ignores `service_user` without a word (host.py,
/// `LocalHost.connect`: a plain popen gateway). We say so, per host,
/// when it names someone else; the deploy itself goes on as before.
#[test]
fn service_user_with_a_local_deploy_is_said_to_be_unused() {
    let me = me();
    let other = if me == "nobody" { "daemon" } else { "nobody" };
    let env = |user: &str| {
        format!(
            "[environment]\nconnect_method = local\nservice_user = {user}\n\
             [host:localhost]\ncomponents = hello\n[host:second]\ncomponents = hello\nservice_user = {me}\n"
        )
    };
    let p = Project::new().env("l", &env(other));
    let o = p.run(&["deploy", "l"]).success().stdout_contains(&format!(
        "WARN: localhost: service_user = {other} is not used with connect_method = local; this run acts as {me} (ssh runs as {other} through sudo)"
    ));
    // `second` deploys as its own service user, who is us: nothing to say.
    assert_eq!(o.stdout.matches("WARN").count(), 1, "{}", o.stdout);
    p.assert_exists("work/hello/hello.txt");

    // The same for `-c` and `-P`, where batou users meet it with `-L`.
    p.run(&["deploy", "-c", "l"])
        .success()
        .stdout_contains(&format!(
            "WARN: localhost: service_user = {other} is not used"
        ));

    // Our own user as the service user: nothing to warn about.
    Project::new()
        .env("l", &env(&me))
        .run(&["deploy", "l"])
        .success()
        .stdout_lacks("WARN");
}

/// A custom verify running a command, predicted before the first deploy:
/// batou creates the workdir even with `-P` and its verify finds nothing
/// (component.py:384-391, `deploy`: `os.makedirs(self.workdir)`, then verify);
/// we write nothing, so the missing workdir means "would be deployed",
/// not "cannot start: No such file or directory".
#[test]
fn predicting_before_the_first_deploy_treats_a_missing_workdir_as_needing_an_update() {
    let p = Project::new().env("p", &format!("{LOCAL}[hosts]\nlocalhost = probe\n"));
    let o = p.run(&["deploy", "-P", "p"]).success();
    o.stdout_contains("🚀 localhost: Probe")
        .stdout_contains(&format!(
            "localhost: {} does not exist yet: predicted as needing an update",
            p.path().join("work/probe").display()
        ))
        .stdout_lacks("cannot start");
    p.assert_missing("work/probe");

    p.run(&["deploy", "p"]).success();
    p.assert_exists("work/probe/built");
    p.run(&["deploy", "-P", "p"])
        .success()
        .stdout_lacks("Probe")
        .stdout_lacks("does not exist");
}

/// Outside predict mode a command whose working directory is missing says
/// that, not "No such file or directory" as if the program were missing.
#[test]
fn a_missing_working_directory_is_named_as_such() {
    let p = Project::new().env(
        "p",
        &format!("{LOCAL}[hosts]\nlocalhost = probe\n[component:probe]\ncwd = not-there\n"),
    );
    p.run(&["deploy", "p"]).code(1).message(&format!(
        "test -f built: cannot start: its working directory {} does not exist",
        p.path().join("work/probe/not-there").display()
    ));
}

/// A directory of executables the test writes, to put first on `PATH`.
fn bin_dir(scripts: &[(&str, &str)]) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("batou-e2e-bin-")
        .tempdir()
        .unwrap();
    for (name, text) in scripts {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

fn path_with(dir: &std::path::Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// batou 2.7.1 (secrets/encryption.py:383-392, `get_passphrase`) reads
/// an `op://` value of `BATOU_AGE_IDENTITY_PASSPHRASE` with `op read`
/// (the 1Password CLI). The `op` here is a script standing in for it
/// that records how it was called; the passphrase comes back only
/// through its stdout and appears in no argv and no output.
#[test]
fn an_op_reference_as_the_age_passphrase_is_read_with_the_1password_cli() {
    let passphrase = format!("op-canary-{}", std::process::id());
    let reference = "op://batou/deploy key/password";
    let p = Project::new().env_file(
        "sec/environment.cfg",
        &format!("{LOCAL}[hosts]\nlocalhost = hello\n"),
    );
    // An ssh key protected by the passphrase, as member and identity.
    let key = p.path().join("id_ed25519");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-C", "test", "-N", &passphrase, "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen (openssh-client) is needed");
    assert!(status.success());
    let member = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let member = member.trim().to_string();
    for (file, text) in [
        ("secrets.cfg.age", "[hello]\ntext = from the vault\n"),
        ("secret-extra.age", "a second encrypted file\n"),
    ] {
        let text = if file.starts_with("secrets") {
            format!("[batou]\nmembers = {member}\n\n{text}")
        } else {
            text.to_string()
        };
        batou_core::secrets::store::write(
            &p.path().join("environments/sec").join(file),
            batou_core::secrets::Provider::Age,
            text.as_bytes(),
            std::slice::from_ref(&member),
            None,
            false,
            None,
        )
        .unwrap();
    }
    let calls = p.path().join("op-calls");
    let op = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n\
         if [ \"$1\" = read ] && [ \"$2\" = '{reference}' ]; then printf '%s\\n' '{passphrase}'; exit 0; fi\n\
         echo '[ERROR] 2026/12/03 08:00:00 You are not currently signed in.' >&2\nexit 1\n",
        calls.display()
    );
    let bin = bin_dir(&[("op", &op)]);
    let path = path_with(bin.path());
    let run = |reference: &str| {
        p.run_with(
            &["deploy", "sec"],
            &[
                ("PATH", &path),
                ("BATOU_AGE_IDENTITIES", key.to_str().unwrap()),
                ("BATOU_AGE_IDENTITY_PASSPHRASE", reference),
            ],
        )
    };

    let o = run(reference).success();
    assert_eq!(p.read("work/hello/hello.txt"), "from the vault\n");
    // Asked once for both files, with the reference and nothing else.
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        format!("read {reference}\n")
    );
    for text in [&o.stdout, &o.stderr] {
        assert!(!text.contains(&passphrase), "{text}");
    }

    // `op` failing (not signed in): the error says so and names the
    // reference, not a wrong passphrase.
    std::fs::remove_file(&calls).unwrap();
    std::fs::remove_dir_all(p.path().join("work")).unwrap();
    let o = run("op://batou/other/password")
        .code(3)
        .message("`op read op://batou/other/password` failed")
        .message("You are not currently signed in.");
    for text in [&o.stdout, &o.stderr] {
        assert!(!text.contains(&passphrase), "{text}");
    }
    // Not asked again for the second file after it failed.
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        "read op://batou/other/password\n"
    );
    p.assert_missing("work/hello/hello.txt");
}

/// batou 2.7.1 notifies the desktop at the end of a deploy (deploy.py:466
/// and 472: `notify("<ACTION> SUCCEEDED", env)`, `notify(summary, ...)`
/// on failure; utils.py:100-136 picks `osascript`, else `notify-send`
/// when on the PATH). We send the same through a `notify-send` — here a
/// script recording its arguments — but only in a desktop session
/// (`DISPLAY` or `WAYLAND_DISPLAY`).
#[test]
fn the_end_of_a_deploy_is_notified_on_a_desktop_only() {
    let p = Project::new().env("n", &format!("{LOCAL}[hosts]\nlocalhost = probe\n"));
    let calls = p.path().join("notify-calls");
    let stub = format!(
        "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\" >> '{}'; done\necho >> '{}'\n",
        calls.display(),
        calls.display()
    );
    let bin = bin_dir(&[("notify-send", &stub)]);
    let path = path_with(bin.path());
    let notified = || {
        let text = std::fs::read_to_string(&calls).unwrap_or_default();
        let _ = std::fs::remove_file(&calls);
        text
    };

    // Not on a desktop (the support code clears DISPLAY and
    // WAYLAND_DISPLAY): nothing, for success or failure.
    p.run_with(&["deploy", "-P", "n"], &[("PATH", &path)])
        .success();
    assert_eq!(notified(), "");

    p.run_with(
        &["deploy", "-P", "n"],
        &[("PATH", &path), ("DISPLAY", ":7")],
    )
    .success();
    assert_eq!(notified(), "[DEPLOYMENT PREDICTION SUCCEEDED][n]\n");

    p.run_with(
        &["deploy", "n"],
        &[("PATH", &path), ("WAYLAND_DISPLAY", "wayland-0")],
    )
    .success();
    assert_eq!(notified(), "[DEPLOYMENT SUCCEEDED][n]\n");

    p.run_with(
        &["deploy", "-c", "n"],
        &[("PATH", &path), ("DISPLAY", ":7")],
    )
    .success();
    assert_eq!(notified(), "[CONSISTENCY CHECK SUCCEEDED][n]\n");

    // A failed deploy says so, with the step, and nothing else (no error
    // text in the desktop's notification history).
    p.write(
        "environments/n.cfg",
        &format!("{LOCAL}[hosts]\nlocalhost = probe\n[component:probe]\ncwd = not-there\n"),
    );
    let o = p
        .run_with(&["deploy", "n"], &[("PATH", &path), ("DISPLAY", ":7")])
        .code(1);
    let step = o
        .stdout
        .lines()
        .find_map(|l| l.split("DEPLOYMENT FAILED (during ").nth(1))
        .and_then(|rest| rest.split(')').next())
        .expect("the transcript's FAILED section")
        .to_string();
    assert_eq!(
        notified(),
        format!("[DEPLOYMENT FAILED (during {step})][n]\n")
    );
    p.run_with(&["deploy", "n"], &[("PATH", &path)]).code(1);
    assert_eq!(notified(), "");
}

/// A template written for batou uses the component's properties
/// (component.py:164-192: `host`, `environment`, `root`, `defdir`;
/// `workdir`, `features`) and the context of `_template_args`
/// (component.py:979-989: `host`, `environment`, `component`,
/// `batou_generated_header`); environment settings as attributes
/// (environment.py:423-438: `target_directory` defaults to
/// `~/deployment`).
#[test]
fn a_ported_template_sees_the_names_batou_gives_it() {
    let p = Project::new().env(
        "t",
        "[environment]\nconnect_method = local\nhost_domain = example.com\nbranch = production\n\
         [host:web1]\ncomponents = templated:tls, templated:http2\ndata-role = frontend\nservice_user = web\n\
         [component:templated]\ncase = ported\n",
    );
    p.run(&["deploy", "t"]).success();
    let work = p.path().join("work/templated");
    assert_eq!(
        p.read("work/templated/out.txt"),
        format!(
            "# File is generated by batou for component Templated > File('out.txt'). Don't edit manually.\n\
             server_name web1.example.com;\n\
             env t on web1 (example.com)\n\
             root {work}/htdocs;\n\
             log {work}/logs/access.log;\n\
             features tls, http2\n\
             target ~/deployment, branch production\n\
             root component templated in {work} on web1\n\
             data frontend, user web\n\
             case ported\n",
            work = work.display()
        )
    );
}

/// batou cuts diffs above 200 lines and names the file in
/// `work/.batou-diffs` holding the whole one (lib/file.py, reference
/// §7.3) — a file that also gets the clear text of sensitive diffs. We
/// write none; `--full-diff[=ROOTS]` shows the whole diff instead, and
/// the note under a cut diff says so. Sensitive diffs stay hidden.
#[test]
fn a_cut_diff_says_how_to_see_all_of_it_and_full_diff_shows_it() {
    let p = templated("big");
    let padding = "+# padding line that makes this template large, 60 bytes..";
    let o = p.run(&["deploy", "-P", "t"]).success();
    let o = o
        .stdout_contains("localhost: More than 200 lines of diff. Showing first and last 50 lines.")
        .stdout_contains(
            "localhost: All 2004 lines: run with --full-diff=templated (e.g. batou deploy -P --full-diff=templated t).",
        );
    assert_eq!(o.stdout.matches(padding).count(), 96, "{}", o.stdout);

    for flag in ["--full-diff=templated", "--full-diff"] {
        let o = p.run(&["deploy", "-P", flag, "t"]).success();
        assert_eq!(o.stdout.matches(padding).count(), 2000, "{flag}");
        o.stdout_lacks("More than 200 lines")
            .stdout_lacks("--full-diff=");
    }
    // Another root named: this one's diff stays cut.
    let two = Project::new().env(
        "t",
        &format!(
            "{LOCAL}[hosts]\nlocalhost = templated, hello\n[component:templated]\ncase = big\n"
        ),
    );
    let o = two
        .run(&["deploy", "-P", "--full-diff=hello", "t"])
        .success();
    assert_eq!(o.stdout.matches(padding).count(), 96);
    // A name that is no root is refused, not ignored.
    two.run(&["deploy", "-P", "--full-diff=helo", "t"])
        .code(2)
        .message("unknown component `helo` (known: templated, hello)");
    p.assert_missing("work");
}

#[test]
fn full_diff_never_shows_a_sensitive_diff() {
    let secret = format!("full-diff-canary-{}", std::process::id());
    let p = super::secrets::project(&format!("[backend]\ngreeting = {secret}\n"));
    let o = p
        .run_with(
            &["deploy", "-P", "--full-diff", "sec"],
            &[("BATOU_AGE_IDENTITIES", &super::secrets::identity())],
        )
        .success()
        .stdout_contains("Not showing diff as it contains sensitive data.");
    for text in [&o.stdout, &o.stderr] {
        assert!(!text.contains(&secret), "{text}");
    }
}
