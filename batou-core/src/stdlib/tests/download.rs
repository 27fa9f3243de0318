//! `Download` against a real HTTP(S) server on loopback.

use super::fixture::{Server, param, set_params, sha256_of};
use super::*;
use crate::stdlib::Download;

/// A served directory with `app.tgz` (some kilobytes of varied bytes).
fn served() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let www = tmp.path().join("www");
    std::fs::create_dir(&www).unwrap();
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(www.join("app.tgz"), bytes).unwrap();
    (tmp, www)
}

fn stray_temp_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".batou-tmp"))
                .collect()
        })
        .unwrap_or_default()
}

fn url_and_checksum(s: &Scene, ctx: &mut Configure<'_>) -> Result<()> {
    ctx.add(Download::new(param(s, 0)).checksum(param(s, 1)))?;
    Ok(())
}

#[test]
fn a_download_is_fetched_once_kept_and_repaired() {
    let (_tmp, www) = served();
    let server = Server::http(&www);
    let s = Stage::new(url_and_checksum);
    set_params(
        s.case,
        &[&server.url("app.tgz"), &sha256_of(&www, "app.tgz")],
    );
    let wanted = std::fs::read(www.join("app.tgz")).unwrap();

    let (report, _) = s.predict();
    assert_eq!(report.changed, 1);
    assert!(!s.path("app.tgz").exists(), "predict wrote");
    assert_eq!(server.gets(), 0, "predict downloaded");

    let (report, _) = s.deploy();
    assert_eq!(report.changed, 1);
    assert_eq!(std::fs::read(s.path("app.tgz")).unwrap(), wanted);
    assert_eq!(server.gets(), 1);

    let before = identity(&s.path("app.tgz"));
    let (report, events) = s.deploy();
    assert_eq!(report.changed, 0, "{events:#?}");
    assert_eq!(identity(&s.path("app.tgz")), before, "rewritten");
    assert_eq!(server.gets(), 1, "downloaded again");

    // Drift: a damaged file is noticed by its hash and fetched again.
    std::fs::write(s.path("app.tgz"), b"damaged").unwrap();
    let (report, _) = s.predict();
    assert_eq!(report.changed, 1);
    assert_eq!(std::fs::read(s.path("app.tgz")).unwrap(), b"damaged");
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(std::fs::read(s.path("app.tgz")).unwrap(), wanted);
    assert_eq!(server.gets(), 2);
    assert!(stray_temp_files(&s.path("")).is_empty());
}

#[test]
fn batous_weak_md5_and_sha1_checksums_verify_a_download() {
    let (_tmp, www) = served();
    let server = Server::http(&www);
    let wanted = std::fs::read(www.join("app.tgz")).unwrap();
    for tool in ["md5sum", "sha1sum"] {
        let out = std::process::Command::new(tool)
            .arg("app.tgz")
            .current_dir(&www)
            .output()
            .unwrap();
        assert!(out.status.success(), "{tool}");
        let hex = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        let checksum = format!("{}:{hex}", tool.trim_end_matches("sum"));
        let s = Stage::new(url_and_checksum);
        set_params(s.case, &[&server.url("app.tgz"), &checksum]);
        assert_eq!(s.deploy().0.changed, 1, "{checksum}");
        assert_eq!(std::fs::read(s.path("app.tgz")).unwrap(), wanted);
        assert_eq!(s.deploy().0.changed, 0, "{checksum}");
        // A wrong digest of the same algorithm is still refused.
        let wrong = format!("{}:{}", tool.trim_end_matches("sum"), "0".repeat(hex.len()));
        let s = Stage::new(url_and_checksum);
        set_params(s.case, &[&server.url("app.tgz"), &wrong]);
        s.prepare();
        let message = match s.run(false) {
            (Err(e), _) => e.to_string(),
            (Ok(r), _) => panic!("{wrong} accepted: {r:?}"),
        };
        assert!(message.contains("checksum mismatch"), "{message}");
        assert!(!s.path("app.tgz").exists());
    }
}

#[test]
fn a_checksum_mismatch_is_an_error_and_leaves_no_file_behind() {
    let (_tmp, www) = served();
    std::fs::write(www.join("other"), "something else").unwrap();
    let server = Server::http(&www);
    let s = Stage::new(url_and_checksum);
    let wrong = sha256_of(&www, "other");
    let actual = sha256_of(&www, "app.tgz");
    set_params(s.case, &[&server.url("app.tgz"), &wrong]);
    s.prepare();

    let message = match s.run(false) {
        (Err(e), _) => e.to_string(),
        (Ok(r), _) => panic!("deployed: {r:?}"),
    };
    assert!(message.contains("checksum mismatch"), "{message}");
    assert!(message.contains(&format!("expected {wrong}")), "{message}");
    assert!(message.contains(&format!("got {actual}")), "{message}");
    assert!(!s.path("app.tgz").exists(), "a mismatching file was left");
    assert_eq!(stray_temp_files(&s.path("")), Vec::<String>::new());

    // A previous file stays exactly as it was.
    std::fs::write(s.path("app.tgz"), "previous").unwrap();
    let before = identity(&s.path("app.tgz"));
    assert!(s.run(false).0.is_err());
    assert_eq!(s.read("app.tgz"), "previous");
    assert_eq!(identity(&s.path("app.tgz")), before);
    assert_eq!(stray_temp_files(&s.path("")), Vec::<String>::new());
}

#[test]
fn https_is_verified_against_the_given_ca_file_only() {
    let (tmp, www) = served();
    let server = Server::https(&www, tmp.path());
    let cert = server.cert.clone().unwrap();
    let sha512 = super::fixture::run(&www, "sha512sum", &["app.tgz"]);
    let checksum = format!("sha512:{}", sha512.split_whitespace().next().unwrap());

    // Without the certificate the self-signed server is not trusted.
    let s = Stage::new(|s, ctx| {
        ctx.add(
            Download::new(param(s, 0))
                .checksum(param(s, 1))
                .target("dl/app.tgz")
                .leading(true),
        )?;
        Ok(())
    });
    set_params(s.case, &[&server.url("app.tgz"), &checksum]);
    let message = match s.run(false) {
        (Err(e), _) => e.to_string(),
        (Ok(r), _) => panic!("deployed against an untrusted certificate: {r:?}"),
    };
    assert!(
        message.contains("download of https://127.0.0.1"),
        "{message}"
    );
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    assert!(!s.path("dl/app.tgz").exists());

    let s = Stage::new(|s, ctx| {
        ctx.add(
            Download::new(param(s, 0))
                .checksum(param(s, 1))
                .ca_file(param(s, 2))
                .mode(0o600),
        )?;
        Ok(())
    });
    set_params(
        s.case,
        &[&server.url("app.tgz"), &checksum, cert.to_str().unwrap()],
    );
    assert_eq!(s.deploy().0.changed, 1);
    assert_eq!(
        std::fs::read(s.path("app.tgz")).unwrap(),
        std::fs::read(www.join("app.tgz")).unwrap()
    );
    assert_eq!(mode_of(&s.path("app.tgz")), 0o600);
    assert_eq!(s.deploy().0.changed, 0);
}

#[test]
fn a_url_password_is_never_shown() {
    let (_tmp, www) = served();
    let server = Server::http(&www);
    let s = Stage::new(url_and_checksum);
    let url = format!("http://bob:s3cret@127.0.0.1:{}/missing.tgz", server.port);
    set_params(s.case, &[&url, &sha256_of(&www, "app.tgz")]);
    let (result, events) = s.run(false);
    let message = result.expect_err("a 404 fails").to_string();
    assert!(message.contains("HTTP status 404"), "{message}");
    assert!(message.contains("bob:****@127.0.0.1"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
    assert!(!format!("{events:?}").contains("s3cret"));
    assert!(!s.path("missing.tgz").exists());
}

#[test]
fn bad_arguments_are_configuration_errors() {
    let good = format!("sha256:{}", "0".repeat(64));
    let cases: &[(&str, &str, &str)] = &[
        ("http://127.0.0.1:9/a.tgz", "", "a checksum is required"),
        (
            "http://127.0.0.1:9/a.tgz",
            "md4:abc",
            "unsupported algorithm",
        ),
        // batou's md5 is accepted, but only as a whole digest.
        (
            "http://127.0.0.1:9/a.tgz",
            "md5:abc",
            "is not a valid digest",
        ),
        (
            "http://127.0.0.1:9/a.tgz",
            "sha256:abc",
            "is not a valid digest",
        ),
        ("http://127.0.0.1:9/", &good, "no file name"),
        ("ftp://127.0.0.1/a.tgz", &good, "only http and https"),
        ("not a url", &good, "is not a valid URL"),
    ];
    for (url, checksum, expected) in cases {
        let s = Stage::new(url_and_checksum);
        set_params(s.case, &[url, checksum]);
        let errors = s.try_model().err().expect("configure fails");
        assert!(
            matches!(&errors[..], [ConfigError::Component { source: crate::error::Error::Usage(m), .. }] if m.contains(expected)),
            "{url} {checksum}: {errors:?}"
        );
    }
}

#[test]
fn a_directory_at_the_target_is_not_replaced() {
    let (_tmp, www) = served();
    let server = Server::http(&www);
    let s = Stage::new(url_and_checksum);
    set_params(
        s.case,
        &[&server.url("app.tgz"), &sha256_of(&www, "app.tgz")],
    );
    std::fs::create_dir_all(s.path("app.tgz/keep")).unwrap();
    let message = s.run(false).0.expect_err("refused").to_string();
    assert!(message.contains("is a directory"), "{message}");
    assert!(s.path("app.tgz/keep").is_dir());
    assert_eq!(server.gets(), 0);
}

#[test]
fn a_downloaded_archive_is_extracted_in_the_same_deploy() {
    let (_tmp, www) = served();
    std::fs::create_dir_all(www.join("tool-1.0/bin")).unwrap();
    std::fs::write(www.join("tool-1.0/bin/run"), "#!/bin/sh\n").unwrap();
    super::fixture::run(&www, "tar", &["-czf", "tool-1.0.tar.gz", "tool-1.0"]);
    let server = Server::http(&www);
    let s = Stage::new(|s, ctx| {
        ctx.add(Download::new(param(s, 0)).checksum(param(s, 1)))?;
        ctx.add(crate::stdlib::Extract::new("tool-1.0.tar.gz").strip(1))?;
        Ok(())
    });
    set_params(
        s.case,
        &[
            &server.url("tool-1.0.tar.gz"),
            &sha256_of(&www, "tool-1.0.tar.gz"),
        ],
    );
    s.prepare();
    assert_eq!(s.predict().0.changed, 2);
    assert!(!s.path("tool-1.0").exists());
    assert_eq!(s.deploy().0.changed, 2);
    assert_eq!(s.read("tool-1.0/bin/run"), "#!/bin/sh\n");
    assert_eq!(s.deploy().0.changed, 0);
    assert_eq!(server.gets(), 1);
}

/// A timeout past the clock's range is no limit, not a panic (#15 bug 8:
/// every `Instant + Duration` in the tree was checked).
#[test]
fn a_timeout_past_the_clock_is_no_limit() {
    let (_tmp, www) = served();
    let server = Server::http(&www);
    let s = Stage::new(|s, ctx| {
        ctx.add(
            Download::new(param(s, 0))
                .checksum(param(s, 1))
                .timeout(std::time::Duration::MAX),
        )?;
        Ok(())
    });
    set_params(
        s.case,
        &[&server.url("app.tgz"), &sha256_of(&www, "app.tgz")],
    );
    assert_eq!(s.deploy().0.changed, 1);
    assert!(s.path("app.tgz").is_file());
}
