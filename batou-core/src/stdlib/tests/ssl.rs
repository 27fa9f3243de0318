//! `Certificate` with a CA, an intermediate and certificates the test
//! makes with the openssl CLI; `openssl verify` checks the written files
//! independently.

use std::path::Path;

use super::fixture::{param, run, set_params};
use super::*;
use crate::stdlib::Certificate;

/// Paths of the PKI the test made.
struct Pki {
    dir: std::path::PathBuf,
}

impl Pki {
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap()
    }

    /// `NAME.crt` signed by `issuer` (self-signed without one), with its
    /// key `NAME.key` of `alg` (`ec`, `rsa`, `ed25519`).
    fn make(&self, name: &str, issuer: Option<&str>, ca: bool, alg: &str) {
        let d = &self.dir;
        let key = format!("{name}.key");
        let mut genkey = vec!["genpkey", "-algorithm", alg, "-out", &key];
        match alg {
            "ec" => genkey.extend(["-pkeyopt", "ec_paramgen_curve:P-256"]),
            "rsa" => genkey.extend(["-pkeyopt", "rsa_keygen_bits:2048"]),
            _ => {}
        }
        run(d, "openssl", &genkey);
        let ext = if ca {
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n".to_string()
        } else {
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=DNS:www.example.test\n"
                .to_string()
        };
        std::fs::write(d.join(format!("{name}.ext")), ext).unwrap();
        let csr = format!("{name}.csr");
        let subj = format!("/CN={name}");
        run(
            d,
            "openssl",
            &["req", "-new", "-key", &key, "-subj", &subj, "-out", &csr],
        );
        let crt = format!("{name}.crt");
        let extfile = format!("{name}.ext");
        let mut x509 = vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-days",
            "2",
            "-extfile",
            &extfile,
            "-out",
            &crt,
            "-set_serial",
        ];
        let serial = format!(
            "{}",
            name.len() * 7919 + name.bytes().map(usize::from).sum::<usize>()
        );
        x509.push(&serial);
        let (ca_crt, ca_key) = issuer.map_or((String::new(), String::new()), |i| {
            (format!("{i}.crt"), format!("{i}.key"))
        });
        match issuer {
            Some(_) => x509.extend(["-CA", &ca_crt, "-CAkey", &ca_key]),
            None => x509.extend(["-signkey", &key]),
        }
        run(d, "openssl", &x509);
    }

    fn new(dir: &Path) -> Pki {
        let pki = Pki {
            dir: dir.join("pki"),
        };
        std::fs::create_dir_all(&pki.dir).unwrap();
        pki.make("root", None, true, "ec");
        pki.make("intermediate", Some("root"), true, "ec");
        pki.make("www", Some("intermediate"), false, "rsa");
        pki.make("other-root", None, true, "ec");
        pki.make("other-intermediate", Some("other-root"), true, "ec");
        pki.make("stranger", Some("intermediate"), false, "ed25519");
        pki
    }
}

/// A certificate of the case's parameters: cert, chain, key, ca files
/// in the PKI directory (an empty name: not given).
fn certificate(scene: &Scene) -> Certificate {
    let dir = std::path::PathBuf::from(param(scene, 0));
    let read = |i: usize| {
        let name = param(scene, i);
        (!name.is_empty()).then(|| std::fs::read_to_string(dir.join(name)).unwrap())
    };
    let mut c = Certificate::new("www").dir("ssl");
    if let Some(t) = read(1) {
        c = c.cert(t);
    }
    if let Some(t) = read(2) {
        c = c.chain(t);
    }
    if let Some(t) = read(3) {
        c = c.key(t);
    }
    if let Some(t) = read(4) {
        c = c.ca(t);
    }
    c
}

/// A stage whose certificate is made of these PKI files.
fn stage(pki: &Pki, files: [&str; 4]) -> Stage {
    let s = Stage::new(|scene, ctx| ctx.add(certificate(scene)).map(drop));
    let dir = pki.dir.display().to_string();
    set_params(s.case, &[&dir, files[0], files[1], files[2], files[3]]);
    s
}

/// The base64 body of a PEM key (what must never be shown).
fn key_body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .take(2)
        .collect()
}

#[test]
fn certificate_chain_and_key_are_written_checked_and_kept() {
    let base = tempfile::tempdir().unwrap();
    let pki = Pki::new(base.path());
    // The chain written as a file of its own, for openssl verify.
    let s = stage(&pki, ["www.crt", "intermediate.crt", "www.key", "root.crt"]);
    let key = pki.read("www.key");

    let (report, events) = s.predict();
    assert!(report.changed >= 4, "{events:#?}");
    assert!(!s.path("ssl").exists(), "predict wrote");

    let (_, events) = s.deploy();
    assert_eq!(s.read("ssl/www.crt"), pki.read("www.crt"));
    assert_eq!(s.read("ssl/www.chain.crt"), pki.read("intermediate.crt"));
    assert_eq!(
        s.read("ssl/www.fullchain.crt"),
        format!("{}{}", pki.read("www.crt"), pki.read("intermediate.crt"))
    );
    assert_eq!(s.read("ssl/www.key"), key);
    assert_eq!(mode_of(&s.path("ssl/www.key")), 0o600);
    assert_eq!(mode_of(&s.path("ssl/www.crt")), 0o644);
    let shown = format!("{events:?}");
    assert!(!shown.contains(&key_body(&key)), "the key was shown");
    assert!(
        hidden(&events)
            .iter()
            .any(|(label, _)| label.ends_with("www.key")),
        "{:?}",
        hidden(&events)
    );
    // openssl agrees: the written files verify, and the key is the
    // certificate's.
    let ssl = s.path("ssl");
    run(
        &ssl,
        "openssl",
        &[
            "verify",
            "-CAfile",
            pki.dir.join("root.crt").to_str().unwrap(),
            "-untrusted",
            "www.chain.crt",
            "www.crt",
        ],
    );
    let cert_pub = run(
        &ssl,
        "openssl",
        &["x509", "-in", "www.crt", "-noout", "-pubkey"],
    );
    let key_pub = run(&ssl, "openssl", &["pkey", "-in", "www.key", "-pubout"]);
    assert_eq!(cert_pub, key_pub);

    // Nothing changed: nothing written.
    let before = identity(&s.path("ssl/www.key"));
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(identity(&s.path("ssl/www.key")), before);

    // Drift: the key opened up and edited; repaired without showing it.
    std::fs::write(s.path("ssl/www.key"), "tampered\n").unwrap();
    std::fs::set_permissions(
        s.path("ssl/www.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let (_, events) = s.deploy();
    assert_eq!(s.read("ssl/www.key"), key);
    assert_eq!(mode_of(&s.path("ssl/www.key")), 0o600);
    assert!(!format!("{events:?}").contains(&key_body(&key)));

    // Without a CA, the chain's last certificate is the anchor.
    let s = stage(&pki, ["www.crt", "intermediate.crt", "www.key", ""]);
    s.deploy();
    assert_eq!(s.read("ssl/www.key"), key);
    // Without a chain, a certificate alone is written.
    let s = stage(&pki, ["root.crt", "", "root.key", ""]);
    s.deploy();
    assert_eq!(s.read("ssl/www.fullchain.crt"), pki.read("root.crt"));
    assert!(!s.path("ssl/www.chain.crt").exists());
}

#[test]
fn a_wrong_key_or_chain_is_a_clear_error_that_shows_no_key() {
    let base = tempfile::tempdir().unwrap();
    let pki = Pki::new(base.path());
    std::fs::write(
        pki.dir.join("garbage.key"),
        "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(
        pki.dir.join("two.crt"),
        format!("{}{}", pki.read("www.crt"), pki.read("root.crt")),
    )
    .unwrap();
    let cases: &[([&str; 4], &str)] = &[
        (
            ["www.crt", "intermediate.crt", "stranger.key", "root.crt"],
            "Certificate('www'): the key does not belong to the certificate",
        ),
        (
            [
                "www.crt",
                "other-intermediate.crt",
                "www.key",
                "other-root.crt",
            ],
            "Certificate('www'): the certificate does not verify through its chain",
        ),
        (
            ["www.crt", "intermediate.crt", "www.key", "other-root.crt"],
            "the certificate does not verify through its chain",
        ),
        (
            ["www.crt", "intermediate.crt", "garbage.key", ""],
            "the key is not a PEM private key",
        ),
        (
            ["two.crt", "", "www.key", ""],
            "the certificate holds 2 certificates",
        ),
        (["", "", "www.key", ""], "no certificate given"),
        (["www.crt", "", "", ""], "no key given"),
        // A CA certificate as a server's.
        (
            ["intermediate.crt", "root.crt", "intermediate.key", ""],
            "the certificate does not verify through its chain",
        ),
    ];
    for (files, expected) in cases {
        let s = stage(&pki, *files);
        let text = match s.try_model() {
            Ok(_) => panic!("{files:?} configured, expected `{expected}`"),
            Err(errors) => crate::testutil::messages(&errors),
        };
        assert!(
            text.contains(expected),
            "{files:?}: expected `{expected}` in: {text}"
        );
        for key in ["www.key", "stranger.key", "intermediate.key"] {
            assert!(
                !text.contains(&key_body(&pki.read(key))),
                "a key in: {text}"
            );
        }
        assert!(!s.path("ssl").exists());
    }
}

#[test]
fn a_missing_secret_file_is_a_clear_error() {
    assert_config_errors(&[
        (
            |_, ctx| {
                ctx.add(Certificate::new("www").cert("x").key_secret("www.key"))
                    .map(drop)
            },
            "Certificate('www'): the key's secret file `www.key` does not exist",
        ),
        (
            |_, ctx| ctx.add(Certificate::new("a/b")).map(drop),
            "the name must be a file name",
        ),
    ]);
}

#[test]
fn certificate_chain_and_key_come_from_secret_files() {
    let base = tempfile::tempdir().unwrap();
    let pki = Pki::new(base.path());
    let s = Stage::new(|_, ctx| {
        ctx.add(
            Certificate::new("www")
                .dir("ssl")
                .cert_secret("www.crt")
                .chain_secret("www.chain.crt")
                .key_secret("www.key"),
        )
        .map(drop)
    });
    let key = pki.read("www.key");
    // The environment's decrypted secret files, as an agent receives
    // them (secret-NAME.age decrypted), the key masked in all output.
    let files: serde_json::Map<String, serde_json::Value> = [
        ("www.crt", pki.read("www.crt")),
        ("www.chain.crt", pki.read("intermediate.crt")),
        ("www.key", key.clone()),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), serde_json::json!(t.into_bytes())))
    .collect();
    let wire: crate::secrets::WireSecrets = serde_json::from_value(serde_json::json!({
        "files": files,
        "masked": [key_body(&key)],
        "overrides": [],
    }))
    .unwrap();
    let mut env = s.project.env(&s.ini());
    env.secrets = crate::secrets::SecretData::from_wire(wire);
    let mut registry = Registry::new();
    registry.component::<Scene>("scene");
    let mut model = configure(env, &registry, &s.project.options())
        .unwrap_or_else(|e| panic!("{}", crate::testutil::show(&e)));
    let (result, events) = deploy(&mut model, false);
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.read("ssl/www.key"), key);
    assert_eq!(mode_of(&s.path("ssl/www.key")), 0o600);
    assert_eq!(s.read("ssl/www.chain.crt"), pki.read("intermediate.crt"));
    assert!(!format!("{events:?}").contains(&key_body(&key)));
}
