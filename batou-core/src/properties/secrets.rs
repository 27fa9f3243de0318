//! The secrets file parsers: age (binary and armored), age-diffable, the
//! cleartext INI every provider decrypts to, age/ssh identity files, the
//! directory layout and gpg files. Garbage is a typed error naming the
//! file; tampering never yields a different cleartext; and no error ever
//! repeats a secret value.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use age::secrecy::ExposeSecret;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;

use super::{config, lines_of, nasty_text};
use crate::secrets::{
    Identities, Keys, Layout, Provider, SecretsError, age_file, cleartext, diffable,
};

/// One x25519 identity in a temp file, shared by all cases.
struct Key {
    _dir: tempfile::TempDir,
    identities: Identities,
    recipient: String,
}

fn key() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let identity = age::x25519::Identity::generate();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.txt");
        std::fs::write(&path, format!("{}\n", identity.to_string().expose_secret())).unwrap();
        Key {
            identities: Identities::from_files(&[path]).unwrap(),
            recipient: identity.to_public().to_string(),
            _dir: dir,
        }
    })
}

fn file() -> PathBuf {
    PathBuf::from("environments/fuzz/secrets.cfg.age")
}

fn encrypt(plain: &[u8]) -> Vec<u8> {
    age_file::encrypt(plain, std::slice::from_ref(&key().recipient), &file()).unwrap()
}

fn armor(binary: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut w =
        age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor).unwrap();
    w.write_all(binary).unwrap();
    w.finish().unwrap();
    out
}

/// An error about `file` that names it and keeps `secret` out.
fn check(e: &SecretsError, file: &Path, secret: &str) -> Result<(), TestCaseError> {
    let message = e.to_string();
    prop_assert!(message.contains(&file.display().to_string()), "{message}");
    if !secret.is_empty() {
        prop_assert!(!message.contains(secret), "{message} repeats the secret");
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Flip(i, x) => {
                if let Some(b) = bytes.get_mut(i % len) {
                    *b ^= x.max(1);
                }
            }
            Mutation::Truncate(i) => bytes.truncate(i % len),
            Mutation::Insert(i, x) => bytes.insert(i % len, x),
        }
    }
    bytes
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Flip(i, x)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Insert(i, x)),
    ]
}

/// A secret value, recognisable in any output.
fn secret() -> impl Strategy<Value = String> {
    "[a-z0-9]{6,12}".prop_map(|s| format!("SECRET-{s}"))
}

fn cleartext_line() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "[batou]", "[component:app]", "[host:web]", "[app]", "[weird:x]", "[component:]",
        ]).prop_map(str::to_string),
        1 => Just("members = age1qqqq, bob".to_string()),
        1 => Just("secret_provider = age".to_string()),
        4 => ("[a-z_-]{0,8}", secret()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => secret(),
        1 => secret().prop_map(|v| format!("    {v}")),
        1 => nasty_text(),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes_are_not_an_age_file(bytes in prop::collection::vec(any::<u8>(), 0..300), armored in any::<bool>()) {
        let bytes = if armored { armor(&bytes) } else { bytes };
        // Bytes that happen to be an age file for another key would be a
        // NoMatchingIdentity; all that matters is that it is an error.
        let e = age_file::decrypt(&bytes, &file(), &key().identities)
            .expect_err("random bytes decrypted");
        check(&e, &file(), "")?;
    }

    #[test]
    fn tampered_age_files_fail_or_give_the_original(
        plain in prop::collection::vec(any::<u8>(), 0..200),
        armored in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let good = encrypt(&plain);
        let good = if armored { armor(&good) } else { good };
        let bad = mutate(good.clone(), &mutations);
        match age_file::decrypt(&bad, &file(), &key().identities) {
            // Armor tolerates some whitespace changes; anything that still
            // decrypts must be exactly what was encrypted.
            Ok(out) => prop_assert_eq!(out, plain),
            Err(e) => check(&e, &file(), "")?,
        }
    }

    #[test]
    fn cleartext_parses_or_fails_without_repeating_a_secret(source in lines_of(cleartext_line(), 16)) {
        let path = Path::new("environments/fuzz/secrets.cfg");
        match cleartext::parse(&source, path) {
            Ok(parsed) => {
                for section in parsed.components.values().chain(parsed.hosts.values()) {
                    for v in section.values.values() {
                        prop_assert_eq!(&v.origin.file, path);
                        prop_assert!(v.origin.line >= 1);
                        // Debug output of a parsed secret never shows it.
                        prop_assert!(!format!("{v:?}").contains("SECRET-"), "{v:?}");
                    }
                }
            }
            Err(e) => check(&e, path, "SECRET-")?,
        }
    }

    #[test]
    fn age_diffable_files_decrypt_or_name_the_line(
        entries in prop::collection::vec(
            ("[a-z]{1,6}", prop_oneof![
                3 => secret().prop_map(|s| STANDARD.encode(encrypt(s.as_bytes()))),
                1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| STANDARD.encode(b)),
                1 => secret().prop_map(|s| mutate(STANDARD.encode(encrypt(s.as_bytes())).into_bytes(), &[Mutation::Flip(60, 1)]))
                    .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
                1 => nasty_text(),
                1 => secret(),
            ]),
            0..5,
        ),
        header in prop::sample::select(vec!["[batou]\nmembers = x\n", "", "[batou\n"]),
    ) {
        let path = Path::new("environments/fuzz/secrets.cfg.age-diffable");
        let mut source = header.to_string();
        source.push_str("[component:app]\n");
        let mut seen = std::collections::HashSet::new();
        for (k, v) in &entries {
            if seen.insert(k.clone()) {
                source.push_str(&format!("{k} = {v}\n"));
            }
        }
        match diffable::decrypt(&source, path, &key().identities) {
            Ok(text) => {
                // The result is a cleartext INI again.
                let _ = cleartext::parse(&text, path);
            }
            Err(e) => check(&e, path, "SECRET-")?,
        }
    }

    #[test]
    fn identity_files_load_or_fail_naming_the_file(
        content in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            nasty_text().prop_map(|t| format!("AGE-SECRET-KEY-{t}").into_bytes()),
            nasty_text().prop_map(|t| format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{t}\n-----END OPENSSH PRIVATE KEY-----\n").into_bytes()),
            nasty_text().prop_map(|t| format!("-----BEGIN RSA PRIVATE KEY-----\n{t}\n-----END RSA PRIVATE KEY-----\n").into_bytes()),
        ]
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id");
        std::fs::write(&path, &content).unwrap();
        if let Err(e) = Identities::from_files(std::slice::from_ref(&path)) {
            check(&e, &path, "")?;
        }
    }

    #[test]
    fn any_directory_of_files_has_one_layout_or_an_ambiguity_error(
        names in prop::collection::btree_set(
            prop_oneof![
                prop::sample::select(vec![
                    "secrets.cfg.age", "secrets.cfg.gpg", "secrets.cfg.age-diffable", "secrets.cfg.age~",
                    "secrets.cfg.swp", "secret-a.age", "secret-.age", "secret-b.gpg", "secret-c.age-diffable",
                    "secret-.gpg.age", "environment.cfg", "secret-x", "secrets.cfg.",
                ]).prop_map(str::to_string),
                "[a-z.-]{1,12}".prop_filter("a file name", |n| n != "." && n != ".."),
            ],
            0..6,
        )
    ) {
        let project = tempfile::tempdir().unwrap();
        let dir = project.path().join("environments").join("fuzz");
        std::fs::create_dir_all(&dir).unwrap();
        for n in &names {
            std::fs::write(dir.join(n), b"").unwrap();
        }
        let configs = names
            .iter()
            .filter(|n| matches!(n.as_str(), "secrets.cfg.age" | "secrets.cfg.gpg" | "secrets.cfg.age-diffable"))
            .count();
        match Layout::locate(project.path(), "fuzz") {
            Ok(Some(layout)) => {
                prop_assert!(configs <= 1);
                prop_assert_eq!(layout.config.is_some(), configs == 1);
                for f in &layout.files {
                    prop_assert!(f.path.starts_with(&dir));
                    prop_assert!(matches!(f.provider, Provider::Age | Provider::Gpg));
                }
            }
            Ok(None) => prop_assert!(false, "a directory without a layout"),
            Err(e) => {
                prop_assert!(configs > 1, "{e}");
                prop_assert!(matches!(e, SecretsError::AmbiguousConfig { .. }), "{}", e);
            }
        }
    }
}

proptest! {
    // Each case runs the real gpg binary: fewer of them.
    #![proptest_config(config(12))]

    #[test]
    fn garbage_gpg_files_are_a_gpg_error(bytes in prop::collection::vec(any::<u8>(), 1..200), armored in any::<bool>()) {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join("secrets.cfg.gpg");
        let bytes = if armored {
            format!(
                "-----BEGIN PGP MESSAGE-----\n\n{}\n-----END PGP MESSAGE-----\n",
                STANDARD.encode(&bytes)
            )
            .into_bytes()
        } else {
            bytes
        };
        std::fs::write(&path, &bytes).unwrap();
        let mut keys = Keys::new();
        keys.gpg_home = Some(home.path().join("gnupg"));
        std::fs::create_dir(home.path().join("gnupg")).unwrap();
        let e = keys.decrypt(&path, Provider::Gpg).expect_err("garbage decrypted");
        prop_assert!(matches!(e, SecretsError::Gpg { .. } | SecretsError::Corrupted { .. }), "{e}");
    }
}

/// Found by `garbage_gpg_files_are_a_gpg_error` (seed 1): gpg exits 0 on
/// an OpenPGP message that was never encrypted (here a bare literal data
/// packet) and prints its content; that must not pass as secrets.
#[test]
fn an_unencrypted_openpgp_message_is_not_a_secrets_file() {
    let home = tempfile::tempdir().unwrap();
    let gnupg = home.path().join("gnupg");
    std::fs::create_dir(&gnupg).unwrap();
    std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let clear = home.path().join("clear.txt");
    std::fs::write(&clear, "[backend]\ngreeting = forged\n").unwrap();
    let path = home.path().join("secrets.cfg.gpg");
    // `gpg --store`: a literal packet, no encryption, no key needed.
    let out = std::process::Command::new("gpg")
        .env("GNUPGHOME", &gnupg)
        .args(["--batch", "--quiet", "--store", "--output"])
        .arg(&path)
        .arg(&clear)
        .output()
        .expect("gpg must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut keys = Keys::new();
    keys.gpg_home = Some(gnupg);
    let e = keys
        .decrypt(&path, Provider::Gpg)
        .expect_err("an unencrypted file was accepted");
    assert!(
        e.to_string().contains("gpg found no encrypted data in it"),
        "{e}"
    );
}
