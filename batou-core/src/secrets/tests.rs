//! Secrets: fixtures made by Python batou 2.7.1 (`tests-data/secrets`,
//! see its README), round trips through every provider, errors, merging
//! and masking.

use std::path::{Path, PathBuf};

use super::*;
use crate::component::{Component, Configure, Registry};
use crate::environment::Environment;
use crate::error::{ConfigError, Result};
use crate::event::Event;
use crate::stdlib::File;
use crate::testutil::{Project, configure_err, configure_ok, deploy_ok};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests-data/secrets")
}

fn age_keys() -> Keys {
    Keys::with_identities(
        Identities::from_files(&[data_dir().join("age-identity.txt")]).expect("identity"),
    )
}

fn ssh_keys() -> Keys {
    Keys::with_identities(
        Identities::from_files(&[data_dir().join("id_ed25519")]).expect("ssh identity"),
    )
}

fn members() -> Vec<String> {
    let age = std::fs::read_to_string(data_dir().join("age-identity.txt")).unwrap();
    let age = age
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string();
    let ssh = std::fs::read_to_string(data_dir().join("id_ed25519.pub")).unwrap();
    let ssh: Vec<&str> = ssh.split_whitespace().take(2).collect();
    vec![age, ssh.join(" ")]
}

fn check_fixture_cleartext(config: &Cleartext, file: &Path) {
    assert_eq!(config.members, members());
    let hello = &config.components["hello"];
    assert_eq!(hello.values["password"].value, "s3cr3t-hunter2");
    assert_eq!(hello.values["multi"].value, "first line\nsecond line");
    assert_eq!(hello.values["password"].origin.file, file);
    assert_eq!(
        config.hosts["localhost"].values["token"].value,
        "tok-abc123"
    );
}

#[test]
fn decrypts_batou_age_fixture_with_age_and_ssh_identities() {
    for mut keys in [age_keys(), ssh_keys()] {
        let s = Secrets::load(&data_dir(), "agefix", &mut keys)
            .expect("decrypts")
            .expect("has secrets");
        let file = data_dir().join("environments/agefix/secrets.cfg.age");
        let config = s.config.as_ref().unwrap();
        assert_eq!(config.provider.as_deref(), Some("age"));
        check_fixture_cleartext(config, &file);
        // Line numbers point into the cleartext.
        assert_eq!(config.components["hello"].values["password"].origin.line, 7);
        assert_eq!(
            s.files["cert.pem"],
            b"-----BEGIN CERT-----\nc2VjcmV0LWNlcnQ=\n-----END CERT-----\n"
        );
    }
}

#[test]
fn decrypts_batou_age_diffable_fixture() {
    let s = Secrets::load(&data_dir(), "difffix", &mut age_keys())
        .unwrap()
        .unwrap();
    let file = data_dir().join("environments/difffix/secrets.cfg.age-diffable");
    let config = s.config.as_ref().unwrap();
    assert_eq!(config.provider.as_deref(), Some("age-diffable"));
    check_fixture_cleartext(config, &file);
}

#[test]
fn age_round_trip_to_x25519_and_ssh_recipients() {
    let file = Path::new("x.age");
    let cipher = age_file::encrypt(b"top secret\n", &members(), file).unwrap();
    assert!(!String::from_utf8_lossy(&cipher).contains("top secret"));
    for mut keys in [age_keys(), ssh_keys()] {
        let plain = age_file::decrypt(&cipher, file, keys.age().unwrap()).unwrap();
        assert_eq!(plain, b"top secret\n");
    }
}

#[test]
fn age_diffable_rewrite_keeps_ciphertext_of_unchanged_values() {
    let file = Path::new("secrets.cfg.age-diffable");
    let ids = age_keys().age().unwrap().tried().to_vec();
    let ids = Identities::from_files(&ids).unwrap();
    // Values with characters outside base64's alphabet, so ciphertext can
    // never contain them by chance.
    let v1 = "[batou]\nmembers = x\n\n[a]\nkeep = same!\nchange = old!\nmulti = l1!\n    l2!\n";
    let enc1 = diffable::encrypt(v1, None, &members(), false, file).unwrap();
    assert!(enc1.contains("[batou]\nmembers = x\n"), "{enc1}");
    assert!(!enc1.contains("same!") && !enc1.contains("old!") && !enc1.contains("l2!"));
    assert_eq!(diffable::decrypt(&enc1, file, &ids).unwrap(), v1);

    let v2 = v1.replace("change = old!", "change = new!");
    let enc2 = diffable::encrypt(&v2, Some((&enc1, v1)), &members(), false, file).unwrap();
    assert_eq!(diffable::decrypt(&enc2, file, &ids).unwrap(), v2);
    let line = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .unwrap()
            .to_string()
    };
    assert_eq!(line(&enc1, "keep"), line(&enc2, "keep"));
    assert_eq!(line(&enc1, "multi"), line(&enc2, "multi"));
    assert_ne!(line(&enc1, "change"), line(&enc2, "change"));
    // --force re-encrypts everything.
    let enc3 = diffable::encrypt(&v2, Some((&enc2, &v2)), &members(), true, file).unwrap();
    assert_ne!(line(&enc2, "keep"), line(&enc3, "keep"));
}

/// A throwaway gpg keyring; returns (GNUPGHOME guard, key email).
fn gpg_home() -> (tempfile::TempDir, String) {
    let home = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let email = "batou-test@example.invalid".to_string();
    let status = std::process::Command::new("gpg")
        .env("GNUPGHOME", home.path())
        .args(["--batch", "--quiet", "--passphrase", "", "--quick-gen-key"])
        .arg(&email)
        .args(["default", "default", "never"])
        .status()
        .expect("gpg must be installed (apt-get install gnupg)");
    assert!(status.success(), "gpg --quick-gen-key failed");
    (home, email)
}

#[test]
fn gpg_round_trip_config_and_file() {
    let (home, email) = gpg_home();
    let project = tempfile::tempdir().unwrap();
    let dir = project.path().join("environments/prod");
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "[batou]\nsecret_provider = gpg\nmembers = {email}\n\n[app]\npassword = gpg-secret-1\n"
    );
    let cfg = dir.join("secrets.cfg.gpg");
    let m = vec![email.clone()];
    store::write(
        &cfg,
        Provider::Gpg,
        text.as_bytes(),
        &m,
        None,
        false,
        Some(home.path()),
    )
    .unwrap();
    store::write(
        &dir.join("secret-key.gpg"),
        Provider::Gpg,
        b"file body\n",
        &m,
        None,
        false,
        Some(home.path()),
    )
    .unwrap();
    assert!(
        !std::fs::read(&cfg)
            .unwrap()
            .windows(12)
            .any(|w| w == b"gpg-secret-1")
    );
    let mut keys = Keys {
        gpg_home: Some(home.path().to_path_buf()),
        ..Keys::default()
    };
    let s = Secrets::load(project.path(), "prod", &mut keys)
        .unwrap()
        .unwrap();
    assert_eq!(
        s.config.unwrap().components["app"].values["password"].value,
        "gpg-secret-1"
    );
    assert_eq!(s.files["key"], b"file body\n");
}

#[test]
fn gpg_failure_reports_exit_code_and_stderr() {
    let (home, _) = gpg_home();
    let err = gpg::encrypt(
        b"x",
        &["nobody@nowhere.invalid".into()],
        Path::new("f.gpg"),
        Some(home.path()),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, SecretsError::Gpg { code: Some(2), .. }),
        "{msg}"
    );
    assert!(msg.contains("nobody@nowhere.invalid"), "{msg}");
}

#[test]
fn wrong_key_names_the_identities_tried() {
    let other = tempfile::tempdir().unwrap();
    let key = other.path().join("other.txt");
    std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .expect("age-keygen must be installed (apt-get install age)");
    let mut keys =
        Keys::with_identities(Identities::from_files(std::slice::from_ref(&key)).unwrap());
    let err = Secrets::load(&data_dir(), "agefix", &mut keys).unwrap_err();
    assert!(matches!(err, SecretsError::NoMatchingIdentity { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("secrets.cfg.age") && msg.contains("other.txt"),
        "{msg}"
    );
    assert!(err.hint().unwrap().contains("BATOU_AGE_IDENTITIES"));
}

#[test]
fn missing_key_says_none_were_found() {
    let mut keys = Keys::with_identities(Identities::from_files(&[]).unwrap());
    let err = Secrets::load(&data_dir(), "agefix", &mut keys).unwrap_err();
    assert!(err.to_string().contains("tried: (none found)"), "{err}");
    let err = Identities::from_files(&[PathBuf::from("/nonexistent/key")]).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/key"), "{err}");
}

#[test]
fn corrupted_file_is_reported_as_such() {
    let project = tempfile::tempdir().unwrap();
    let dir = project.path().join("environments/e");
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read(data_dir().join("environments/agefix/secrets.cfg.age")).unwrap();
    std::fs::write(dir.join("secrets.cfg.age"), &good[..good.len() - 10]).unwrap();
    let err = Secrets::load(project.path(), "e", &mut age_keys()).unwrap_err();
    assert!(matches!(err, SecretsError::Corrupted { .. }), "{err}");
    std::fs::write(dir.join("secrets.cfg.age"), b"not age at all").unwrap();
    let err = Secrets::load(project.path(), "e", &mut age_keys()).unwrap_err();
    assert!(matches!(err, SecretsError::Corrupted { .. }), "{err}");
}

#[test]
fn layout_rules() {
    let project = tempfile::tempdir().unwrap();
    // Flat layout: no secrets.
    std::fs::create_dir_all(project.path().join("environments")).unwrap();
    std::fs::write(project.path().join("environments/flat.cfg"), "").unwrap();
    assert!(Layout::locate(project.path(), "flat").unwrap().is_none());
    let dir = project.path().join("environments/two");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("secrets.cfg.age"), "").unwrap();
    std::fs::write(dir.join("secrets.cfg.gpg"), "").unwrap();
    std::fs::write(dir.join("secrets.cfg.age.swp"), "").unwrap();
    let err = Layout::locate(project.path(), "two").unwrap_err();
    assert!(
        err.to_string().contains("more than one secrets config"),
        "{err}"
    );
    std::fs::remove_file(dir.join("secrets.cfg.gpg")).unwrap();
    std::fs::write(dir.join("secret-a.b.age"), "").unwrap();
    std::fs::write(dir.join("secret-c.gpg"), "").unwrap();
    let l = Layout::locate(project.path(), "two").unwrap().unwrap();
    assert_eq!(l.config.unwrap().1, Provider::Age);
    let names: Vec<_> = l
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.provider))
        .collect();
    assert_eq!(names, [("a.b", Provider::Age), ("c", Provider::Gpg)]);
}

#[test]
fn cleartext_errors_do_not_quote_lines() {
    let err = cleartext::parse("password = leaked-value\n", Path::new("s.age")).unwrap_err();
    assert!(!err.to_string().contains("leaked-value"), "{err}");
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn masker_masks_whole_values_and_file_lines() {
    let mut m = Masker::new([
        "deploy often".to_string(),
        "abc".into(),
        "l1-secret\nl2-secret".into(),
    ]);
    m.add_file(b"BEGIN\nfile-line-secret\n");
    assert!(
        !m.is_sensitive("we deploy a lot"),
        "words alone are not secrets"
    );
    assert!(m.is_sensitive("x deploy often y"));
    assert!(!m.is_sensitive("abc"), "too short to mask");
    assert!(m.is_sensitive("only l2-secret here"));
    assert!(m.is_sensitive("file-line-secret"));
    assert_eq!(m.redact("a deploy often b"), "a ******** b");
    let e = m.redact_event(Event::Log {
        host: "h".into(),
        component: Some("c".into()),
        message: "pw=l1-secret\nl2-secret".into(),
    });
    assert_eq!(
        e,
        Event::Log {
            host: "h".into(),
            component: Some("c".into()),
            message: "pw=********".into(),
        }
    );
    assert!(!format!("{m:?}").contains("l1-secret"));
}

#[test]
fn masker_finds_secrets_in_any_case_and_reversed() {
    let m = Masker::new(["S3cret-Value".to_string(), "ünïcode-pass".to_string()]);
    for text in [
        "s3cret-value",
        "S3CRET-VALUE",
        "eulaV-terc3S",
        "EULAV-TERC3S",
    ] {
        assert!(m.is_sensitive(&format!("x {text} y")), "{text}");
        assert_eq!(m.redact(&format!("x {text} y")), "x ******** y");
    }
    assert!(m.is_sensitive("ÜNÏCODE-PASS".to_lowercase().as_str()));
    // Overlapping matches (a value and its reverse sharing letters) go
    // whole, and text around them keeps its bytes.
    let m = Masker::new(["abcdcba-x".to_string(), "dcba-xyz".to_string()]);
    assert_eq!(m.redact("<abcdcba-xyz>"), "<********>");
    assert_eq!(m.redact("ünï abcdcba-x ü"), "ünï ******** ü");
    assert!(!m.is_sensitive("abcdcb"));
}

#[test]
fn perturbing_changes_every_secret_and_nothing_else() {
    let m = Masker::new(["hunter2-xyz".to_string()]);
    let mut v = serde_json::json!({"pw": "pw=hunter2-xyz", "n": 3, "l": ["hunter2-xyz", "plain"]});
    assert!(m.perturb_json(&mut v));
    let text = v.to_string();
    assert!(!text.contains("hunter2-xyz"), "{text}");
    assert_eq!(v["l"][1], "plain");
    assert_eq!(v["pw"].as_str().unwrap().len(), "pw=hunter2-xyz".len());
    let mut plain = serde_json::json!({"a": "nothing here"});
    assert!(!m.perturb_json(&mut plain));
}

/// A component with a password written into a template and a secret file.
#[derive(Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct Hello {
    password: String,
    port: u16,
}

impl Component for Hello {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        ctx.add(
            File::new("hello.conf")
                .template(("hello.conf", "password = {{ component.password }}\n")),
        )?;
        if ctx.secret_file("cert.pem").is_some() {
            ctx.add(File::new("cert.pem").secret("cert.pem"))?;
        }
        Ok(())
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.component::<Hello>("hello");
    r
}

/// The fixture secrets under an environment of a temp project.
fn project_with_secrets(env_ini: &str, cleartext: &str) -> (Project, Secrets) {
    let p = Project::new();
    let dir = p.path().join("environments/test");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("environment.cfg"), env_ini).unwrap();
    store::write(
        &dir.join("secrets.cfg.age"),
        Provider::Age,
        cleartext.as_bytes(),
        &members(),
        None,
        false,
        None,
    )
    .unwrap();
    std::fs::copy(
        data_dir().join("environments/agefix/secret-cert.pem.age"),
        dir.join("secret-cert.pem.age"),
    )
    .unwrap();
    let s = Secrets::load(p.path(), "test", &mut age_keys())
        .unwrap()
        .unwrap();
    (p, s)
}

const ENV: &str = "[environment]\nconnect_method = local\n\n[hosts]\nlocalhost = hello\n";

#[test]
fn secrets_deploy_masked_and_0600() {
    let (p, s) = project_with_secrets(
        ENV,
        "[batou]\nmembers = x\n\n[component:hello]\npassword = s3cr3t-value\n\n[host:localhost]\ndata-token = tok\n",
    );
    let mut env = Environment::load(p.path(), "test").unwrap();
    assert!(apply(&mut env, &s, &registry()).is_empty());
    assert_eq!(env.hosts["localhost"].data["token"], "tok");
    let mut model = configure_ok(env, &registry(), &p.options());
    let (_, events) = deploy_ok(&mut model, false);
    let conf = p.workdir("hello").join("hello.conf");
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        "password = s3cr3t-value\n"
    );
    let text = format!("{events:?}");
    assert!(!text.contains("s3cr3t-value"), "{text}");
    assert!(!text.contains("c2VjcmV0LWNlcnQ="), "{text}");
    assert!(
        text.contains("Not showing diff as it contains sensitive data."),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    let cert = p.workdir("hello").join("cert.pem");
    let mode = std::fs::metadata(&cert).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600);
}

#[test]
fn duplicate_override_unknown_component_and_host() {
    let env_ini = format!("{ENV}\n[component:hello]\npassword = in-env\n");
    let (p, s) = project_with_secrets(
        &env_ini,
        "[batou]\nmembers = x\n\n[hello]\npassword = dup-secret\n\n[component:nope]\na = b\n\n[host:ghost]\nx = y\n",
    );
    let mut env = Environment::load(p.path(), "test").unwrap();
    let errors = apply(&mut env, &s, &registry());
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(errors.len(), 3, "{text:?}");
    assert!(
        text[0].starts_with("A value hello.password is defined both in environment and secrets.")
    );
    assert!(
        text[0].contains("environment.cfg:8") && text[0].contains("secrets.cfg.age:5"),
        "{}",
        text[0]
    );
    assert_eq!(text[1], "secrets section for unknown component found: nope");
    assert_eq!(text[2], "secrets section for unknown host found: ghost");
    assert!(!text.iter().any(|t| t.contains("dup-secret")));
}

#[test]
fn conversion_error_of_a_secret_does_not_quote_it() {
    let (p, s) = project_with_secrets(
        ENV,
        "[batou]\nmembers = x\n\n[hello]\nport = not-a-port-secret\n",
    );
    let mut env = Environment::load(p.path(), "test").unwrap();
    assert!(apply(&mut env, &s, &registry()).is_empty());
    let errors = configure_err(env, &registry(), &p.options());
    let text = format!("{errors:?} {}", errors[0]);
    assert!(
        matches!(errors[0], ConfigError::Conversion { .. }),
        "{text}"
    );
    assert!(!text.contains("not-a-port-secret"), "{text}");
}

/// Counts the prompts and answers with a fixed passphrase.
struct CountingPrompt {
    answer: &'static str,
    asked: std::sync::atomic::AtomicUsize,
}

impl PassphrasePrompt for CountingPrompt {
    fn passphrase(&self, _description: &str) -> Option<String> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Some(self.answer.to_string())
    }
}

#[test]
fn an_encrypted_ssh_key_is_asked_for_once_however_many_files() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_ed25519");
    let status = std::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "open sesame",
            "-C",
            "test",
            "-f",
        ])
        .arg(&key)
        .status()
        .expect("ssh-keygen is needed for this test");
    assert!(status.success());
    let public = std::fs::read_to_string(dir.path().join("id_ed25519.pub")).unwrap();
    let file = Path::new("x.age");
    let ciphers: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            age_file::encrypt(
                format!("secret {i}\n").as_bytes(),
                &[public.trim().to_string()],
                file,
            )
            .unwrap()
        })
        .collect();

    let prompt = std::sync::Arc::new(CountingPrompt {
        answer: "open sesame",
        asked: Default::default(),
    });
    let ids =
        Identities::from_files_with(std::slice::from_ref(&key), Some(prompt.clone())).unwrap();
    for (i, c) in ciphers.iter().enumerate() {
        assert_eq!(
            age_file::decrypt(c, file, &ids).unwrap(),
            format!("secret {i}\n").into_bytes()
        );
    }
    assert_eq!(
        prompt.asked.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "asked once"
    );

    // A wrong answer is an error, not a panic or a hang.
    let wrong = std::sync::Arc::new(CountingPrompt {
        answer: "wrong",
        asked: Default::default(),
    });
    let ids = Identities::from_files_with(std::slice::from_ref(&key), Some(wrong)).unwrap();
    assert!(age_file::decrypt(&ciphers[0], file, &ids).is_err());
    // No prompt at all (not interactive): an error too.
    let ids = Identities::from_files_with(std::slice::from_ref(&key), None).unwrap();
    assert!(age_file::decrypt(&ciphers[0], file, &ids).is_err());
}

/// A second key in an existing throwaway keyring.
fn gpg_add_key(home: &Path, email: &str) {
    let status = std::process::Command::new("gpg")
        .env("GNUPGHOME", home)
        .args([
            "--batch",
            "--quiet",
            "--passphrase",
            "",
            "--quick-gen-key",
            email,
        ])
        .args(["default", "default", "never"])
        .status()
        .expect("gpg must be installed (apt-get install gnupg)");
    assert!(status.success(), "gpg --quick-gen-key {email} failed");
}

#[test]
fn adding_a_gpg_member_reencrypts_config_and_files_to_it() {
    let (home, alice) = gpg_home();
    let bob = "bob-batou-test@example.invalid".to_string();
    gpg_add_key(home.path(), &bob);
    let project = tempfile::tempdir().unwrap();
    let dir = project.path().join("environments/prod");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("environment.cfg"), "[hosts]\nlocalhost = x\n").unwrap();
    let text =
        format!("[batou]\nsecret_provider = gpg\nmembers = {alice}\n\n[app]\npassword = s3cret!\n");
    let cfg = dir.join("secrets.cfg.gpg");
    store::write(
        &cfg,
        Provider::Gpg,
        text.as_bytes(),
        std::slice::from_ref(&alice),
        None,
        true,
        Some(home.path()),
    )
    .unwrap();
    let mut keys = Keys::new();
    keys.gpg_home = Some(home.path().to_path_buf());
    let mut s = manage::EnvSecrets::open(project.path(), "prod", &mut keys).unwrap();
    s.write_file(
        "cert.pem",
        b"-----BEGIN-----\n",
        std::slice::from_ref(&alice),
    )
    .unwrap();
    let file = dir.join("secret-cert.pem.gpg");

    let ids = gpg::member_key_ids(&[alice.clone(), bob.clone()], Some(home.path())).unwrap();
    let (alice_ids, bob_ids) = (&ids[0], &ids[1]);
    let to = |path: &Path| gpg::recipients(path, Some(home.path())).unwrap();
    assert!(to(&file).iter().any(|r| alice_ids.contains(r)));
    assert!(
        !to(&file).iter().any(|r| bob_ids.contains(r)),
        "bob is not a member yet"
    );
    assert!(!gpg::keys_changed(
        &cfg,
        std::slice::from_ref(&alice),
        Some(home.path())
    ));
    assert!(gpg::keys_changed(
        &cfg,
        &[alice.clone(), bob.clone()],
        Some(home.path())
    ));

    // `secrets add`: new members, no --force.
    let with_bob = s.with_members(&[alice.clone(), bob.clone()]).unwrap();
    assert!(s.update(&with_bob, false).unwrap());
    for path in [&cfg, &file] {
        let r = to(path);
        assert!(
            r.iter().any(|x| alice_ids.contains(x)),
            "{} still to alice",
            path.display()
        );
        assert!(
            r.iter().any(|x| bob_ids.contains(x)),
            "{} now to bob",
            path.display()
        );
    }
    // Nothing changed: no rewrite.
    let before = std::fs::read(&file).unwrap();
    assert!(!s.update(&with_bob, false).unwrap());
    assert_eq!(std::fs::read(&file).unwrap(), before);
}
