//! Secrets end to end: a deployment whose template uses a secret, and the
//! errors of broken secrets, through the `batou-test` binary. The keys are
//! the throwaway fixtures of `batou-core/tests-data/secrets`.

use std::path::{Path, PathBuf};

use batou_core::secrets::{Provider, store};

use super::support::{Project, example_env, workspace_root};

fn keys_dir() -> PathBuf {
    workspace_root().join("batou-core/tests-data/secrets")
}

pub(super) fn identity() -> String {
    keys_dir().join("age-identity.txt").display().to_string()
}

pub(super) fn age_member() -> String {
    let text = std::fs::read_to_string(keys_dir().join("age-identity.txt")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string()
}

/// The example environment as `environments/sec/`, without the greeting
/// (the secrets provide it), and `cleartext` encrypted beside it.
pub(super) fn project(cleartext: &str) -> Project {
    let env = example_env().replace("greeting = Hello from {{ host.name }}\n", "");
    let p = Project::new().env_file("sec/environment.cfg", &env);
    encrypt(&p, cleartext);
    p
}

pub(super) fn encrypt(p: &Project, cleartext: &str) {
    let text = format!("[batou]\nmembers = {}\n\n{cleartext}", age_member());
    let path = p.path().join("environments/sec/secrets.cfg.age");
    store::write(
        &path,
        Provider::Age,
        text.as_bytes(),
        &[age_member()],
        None,
        false,
        None,
    )
    .unwrap();
}

/// Every regular file under `dir` (not following symlinks; nothing but
/// regular files is read) except `skip` that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8], skip: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            files_containing(&path, needle, skip, out);
        } else if meta.is_file()
            && path != skip
            && meta.len() < 16 << 20
            && let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            out.push(path);
        }
    }
}

#[test]
fn secret_in_a_template_never_leaks() {
    // Unique per run, so other tests' files cannot contain it by accident.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let secret = format!("leak-canary-{}-{nanos}", std::process::id());
    let p = project(&format!("[backend]\ngreeting = {secret}\n"));
    // The runs' own TMPDIR, the only temp directory scanned below (the
    // machine's may hold anything, e.g. a chroot with /proc mounted).
    let tmp = tempfile::Builder::new()
        .prefix("batou-leak-tmp-")
        .tempdir()
        .unwrap();
    let vars = [
        ("BATOU_AGE_IDENTITIES", identity()),
        ("TMPDIR", tmp.path().display().to_string()),
    ];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let first = p.run_with(&["deploy", "sec"], &vars).success();
    let first = first.stdout_contains("🔑 main: Loading secrets ...");
    let deployed = p.path().join("work/backend/etc/backend.conf");
    let text = std::fs::read_to_string(&deployed).unwrap();
    assert!(text.contains(&format!("greeting = {secret}")), "{text}");

    // A changed secret: the diff would show old and new value.
    let secret2 = format!("{secret}-rotated");
    encrypt(&p, &format!("[backend]\ngreeting = {secret2}\n"));
    let predict = p.run_with(&["deploy", "-P", "sec"], &vars).success();
    let predict = predict.stdout_contains("Not showing diff as it contains sensitive data.");
    let second = p.run_with(&["deploy", "sec"], &vars).success();
    assert!(
        std::fs::read_to_string(&deployed)
            .unwrap()
            .contains(&secret2)
    );

    for o in [&first, &predict, &second] {
        for s in [&secret, &secret2] {
            assert!(
                !o.stdout.contains(s.as_str()),
                "stdout leaks:\n{}",
                o.stdout
            );
            assert!(
                !o.stderr.contains(s.as_str()),
                "stderr leaks:\n{}",
                o.stderr
            );
        }
    }
    let mut leaks = Vec::new();
    // `secret` is a prefix of `secret2`, so this finds both.
    files_containing(
        &p.path().join("work"),
        secret.as_bytes(),
        &deployed,
        &mut leaks,
    );
    files_containing(tmp.path(), secret.as_bytes(), &deployed, &mut leaks);
    files_containing(
        &p.path().join("environments"),
        secret.as_bytes(),
        &deployed,
        &mut leaks,
    );
    assert!(leaks.is_empty(), "secret found in {leaks:?}");
}

#[test]
fn wrong_key_is_a_configuration_error() {
    let p = project("[backend]\ngreeting = x-secret\n");
    let other = p.path().join("otherkey.txt");
    let out = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(&other)
        .output()
        .expect("age-keygen must be installed (apt-get install age)");
    assert!(out.status.success());
    p.run_with(
        &["deploy", "sec"],
        &[("BATOU_AGE_IDENTITIES", other.to_str().unwrap())],
    )
    .code(3)
    .message("none of the age identities can decrypt")
    .message("otherkey.txt")
    .message("BATOU_AGE_IDENTITIES");
}

#[test]
fn missing_key_is_a_configuration_error() {
    // HOME is the project's empty `home/`: no ssh keys there.
    let p = project("[backend]\ngreeting = x-secret\n");
    p.run(&["deploy", "sec"])
        .code(3)
        .message("tried: (none found)");
}

#[test]
fn corrupted_file_is_a_configuration_error() {
    let p = project("[backend]\ngreeting = x-secret\n");
    let path = p.path().join("environments/sec/secrets.cfg.age");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 20);
    std::fs::write(&path, bytes).unwrap();
    p.run_with(&["deploy", "sec"], &[("BATOU_AGE_IDENTITIES", &identity())])
        .code(3)
        .message("is not a valid encrypted file");
}

#[test]
fn unknown_component_section_is_a_configuration_error() {
    let p = project("[component:nosuch]\nkey = x-secret\n");
    p.run_with(&["deploy", "sec"], &[("BATOU_AGE_IDENTITIES", &identity())])
        .code(3)
        .message("secrets section for unknown component found: nosuch")
        .stderr_lacks("x-secret");
}

#[test]
fn duplicate_override_is_a_configuration_error() {
    let p = project("[backend]\nworkers = 7\n");
    p.run_with(&["deploy", "sec"], &[("BATOU_AGE_IDENTITIES", &identity())])
        .code(3)
        .message("A value backend.workers is defined both in environment and secrets.")
        .message("environments/sec/environment.cfg:13")
        .message("environments/sec/secrets.cfg.age:5");
}

#[test]
fn more_than_one_secrets_config_is_an_error() {
    let p = project("[backend]\ngreeting = x\n").file("environments/sec/secrets.cfg.gpg", "");
    p.run_with(&["deploy", "sec"], &[("BATOU_AGE_IDENTITIES", &identity())])
        .code(3)
        .message("more than one secrets config");
}

#[test]
fn secrets_commands_round_trip() {
    let p = project("[backend]\ngreeting = cmd-secret\n");
    let id = identity();
    let vars = [("BATOU_AGE_IDENTITIES", id.as_str())];
    p.run_with(&["secrets", "summary"], &vars)
        .success()
        .stdout_contains(&format!(
            "sec\n\t members\n\t\t- {}\n\t secret files\n\t\t(none)\n",
            age_member()
        ))
        .stdout_lacks("cmd-secret");
    p.run_with(
        &[
            "secrets",
            "decrypttostdout",
            "environments/sec/secrets.cfg.age",
        ],
        &vars,
    )
    .success()
    .stdout_contains("greeting = cmd-secret");
    // An editor that changes nothing.
    p.run_with(&["secrets", "edit", "sec"], &[vars[0], ("EDITOR", "true")])
        .success()
        .stdout_contains("No changes from original cleartext. Not updating.");
    // An invalid edit without a terminal: reported, exit 3, file untouched.
    let before = std::fs::read(p.path().join("environments/sec/secrets.cfg.age")).unwrap();
    p.run_with(
        &["secrets", "edit", "sec"],
        &[vars[0], ("EDITOR", "echo 'no section' >")],
    )
    .code(3)
    .message("a line appears before any section header");
    assert_eq!(
        before,
        std::fs::read(p.path().join("environments/sec/secrets.cfg.age")).unwrap()
    );
    p.run_with(&["secrets", "add", "x", "--environments", "nope"], &vars)
        .code(3)
        .message("unknown secrets environment(s): nope");
}
