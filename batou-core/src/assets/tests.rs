use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::cache::Receiving;
use super::project::{Shipment, path_of, read};
use super::*;

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// An asset of crate `app` in a project built at `build_root`.
fn asset(build_root: &Path, name: &str) -> Asset {
    Asset {
        name: leak(name.to_string()),
        key: leak(format!("app/{name}")),
        crate_dir: "app",
        build_root: leak(build_root.display().to_string()),
    }
}

fn manifest(entries: &[(&str, &[u8])]) -> Manifest {
    Manifest {
        entries: entries
            .iter()
            .map(|(k, v)| (k.to_string(), sha256_hex(v)))
            .collect(),
    }
}

#[test]
fn the_projects_copy_wins_when_the_project_holds_the_crate() {
    let built = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let a = asset(built.path(), "templates/a.conf");
    assert_eq!(
        path_of(&a, project.path()),
        built.path().join("app/templates/a.conf"),
        "a project without the crate: the build tree"
    );
    std::fs::create_dir_all(project.path().join("app/templates")).unwrap();
    std::fs::write(project.path().join("app/Cargo.toml"), "").unwrap();
    assert_eq!(
        path_of(&a, project.path()),
        project.path().join("app/templates/a.conf")
    );
    // The project has the crate but not the file: an error naming both,
    // never the build tree's copy.
    std::fs::create_dir_all(built.path().join("app/templates")).unwrap();
    std::fs::write(built.path().join("app/templates/a.conf"), "built").unwrap();
    let e = read(&a, project.path()).unwrap_err().to_string();
    assert!(e.starts_with("asset templates/a.conf: cannot read "), "{e}");
    assert!(
        e.contains(
            &project
                .path()
                .join("app/templates/a.conf")
                .display()
                .to_string()
        ),
        "{e}"
    );
}

#[test]
fn a_crate_at_the_root_of_its_workspace_is_read_from_the_project_only_when_it_is_that_workspace() {
    let built = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("Cargo.toml"), "").unwrap();
    let root_crate = |build_root: &Path| Asset {
        name: "t/x",
        key: "t/x",
        crate_dir: "",
        build_root: leak(build_root.display().to_string()),
    };
    // A dependency from elsewhere (its own workspace): where it was built,
    // though the project has a Cargo.toml at its root.
    assert_eq!(
        path_of(&root_crate(built.path()), project.path()),
        built.path().join("t/x")
    );
    assert_eq!(
        path_of(&root_crate(project.path()), project.path()),
        project.path().join("t/x")
    );
}

#[test]
fn a_shipment_holds_what_the_project_has_and_hashes_it() {
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(project.path().join("app/t")).unwrap();
    std::fs::write(project.path().join("app/Cargo.toml"), "").unwrap();
    std::fs::write(project.path().join("app/t/one"), "one {{ x }}\n").unwrap();
    std::fs::write(project.path().join("app/t/bin"), [0u8, 0xff, 1]).unwrap();
    let assets = [
        asset(project.path(), "t/one"),
        asset(project.path(), "t/bin"),
        asset(project.path(), "t/absent"),
    ];
    let s = Shipment::from_assets(&assets, project.path());
    assert_eq!(
        s.manifest,
        manifest(&[
            ("app/t/bin", &[0, 0xff, 1]),
            ("app/t/one", b"one {{ x }}\n")
        ])
    );
    assert_eq!(s.manifest_hash, s.manifest.hash());
    let blobs = s.blobs(&[sha256_hex(b"one {{ x }}\n")]).unwrap();
    assert_eq!(blobs[0].text.as_deref(), Some("one {{ x }}\n"));
    assert!(s.blobs(&["0".repeat(64)]).is_err(), "only blobs of the set");
}

#[test]
fn the_manifest_hash_covers_names_and_contents() {
    let a = manifest(&[("k/a", b"1"), ("k/b", b"2")]);
    assert_ne!(a.hash(), manifest(&[("k/a", b"1"), ("k/b", b"3")]).hash());
    assert_ne!(a.hash(), manifest(&[("k/a", b"1"), ("k/c", b"2")]).hash());
    assert_eq!(a.hash(), a.clone().hash());
}

#[test]
fn blobs_are_checked_against_their_hash() {
    let text = Blob::new(b"port = 1\n");
    assert_eq!(text.base64, None);
    assert_eq!(text.verified().unwrap(), b"port = 1\n");
    let binary = Blob::new(&[0xff, 0, 7]);
    assert_eq!(binary.text, None);
    assert_eq!(binary.verified().unwrap(), vec![0xff, 0, 7]);
    let mut forged = text.clone();
    forged.text = Some("port = 2\n".into());
    let e = forged.verified().unwrap_err();
    assert!(e.contains("content hashes to"), "{e}");
}

#[test]
fn the_cache_keeps_blobs_private_and_resends_a_damaged_one() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    let m = manifest(&[
        ("app/a", b"alpha\n"),
        ("app/b", b"beta\n"),
        ("app/c", b"alpha\n"),
    ]);

    let mut first = Receiving::open(m.clone(), Some(cache.clone()));
    let missing = first.missing();
    assert_eq!(missing.len(), 2, "one blob per content: {missing:?}");
    assert!(first.finish().is_err(), "not complete yet");
    let e = first.receive(vec![Blob::new(b"gamma\n")]).unwrap_err();
    assert!(e.contains("not in the manifest"), "{e}");
    first
        .receive(vec![Blob::new(b"alpha\n"), Blob::new(b"beta\n")])
        .unwrap();
    let shipped = first.finish().unwrap();
    assert_eq!(shipped.get("app/c").as_deref(), Some(&b"alpha\n"[..]));
    assert_eq!(
        shipped.hash(),
        m.hash(),
        "what it holds is what was announced"
    );
    let stored = cache.join(sha256_hex(b"beta\n"));
    let mode = std::fs::metadata(&stored).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // A second start has everything.
    assert!(
        Receiving::open(m.clone(), Some(cache.clone()))
            .missing()
            .is_empty()
    );

    // A damaged copy is dropped and asked for again.
    std::fs::write(&stored, "bête\n").unwrap();
    let again = Receiving::open(m.clone(), Some(cache.clone()));
    assert_eq!(again.missing(), vec![sha256_hex(b"beta\n")]);
    assert!(!stored.exists(), "the damaged copy is removed");

    // Without a cache nothing is remembered.
    assert_eq!(Receiving::open(m, None).missing().len(), 2);
}

#[test]
fn a_shipped_source_never_reads_the_disk() {
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(project.path().join("app/t")).unwrap();
    std::fs::write(project.path().join("app/Cargo.toml"), "").unwrap();
    std::fs::write(project.path().join("app/t/x"), "on disk").unwrap();
    let a = asset(project.path(), "t/x");
    let source = AssetSource::shipped(Default::default());
    let e = source.load(&a, project.path()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "asset t/x (app/t/x) was not shipped to this host: the controller has no such file"
    );
    assert_eq!(
        &*AssetSource::default().text(&a, project.path()).unwrap(),
        "on disk"
    );
}

/// `assets!` works in a `const` table, and every `asset!` registers
/// itself: the controller's set includes it without configure using it.
const TABLE: crate::stdlib::Assets = crate::assets!["Cargo.toml", "src/assets/mod.rs"];

#[test]
fn asset_macros_name_project_files_and_register_them() {
    let names: Vec<&str> = TABLE.iter().map(|t| t.name()).collect();
    assert_eq!(names, ["Cargo.toml", "src/assets/mod.rs"]);
    let a = TABLE[1].asset().expect("an asset, not text");
    assert_eq!(a.key, "batou-core/src/assets/mod.rs");
    assert_eq!(a.crate_dir, "batou-core");
    assert!(
        TABLE[1].source().is_none(),
        "the content is not compiled in"
    );
    let set = compiled();
    assert!(
        set.contains_key("batou-core/Cargo.toml"),
        "{:?}",
        set.keys()
    );
    assert_eq!(set["batou-core/src/assets/mod.rs"], a);
    // Read from the tree it was built in (no project holds the crate).
    let outside = tempfile::tempdir().unwrap();
    let text = AssetSource::default().text(a, outside.path()).unwrap();
    assert!(text.contains("inventory::collect!(Asset);"));
}
