//! Finding and loading environment files from a project directory.

use super::*;

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join("environments").join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

const HOSTS: &str = "[hosts]\nh = a\n";

#[test]
fn both_layouts_load_and_the_cfg_suffix_is_stripped() {
    let dir = project(&[
        ("flat.cfg", HOSTS),
        ("nested/environment.cfg", HOSTS),
        ("typed.toml", "[hosts]\nh = [\"a\"]\n"),
    ]);
    let flat = Environment::load(dir.path(), "flat").unwrap();
    assert_eq!(flat.name, "flat");
    assert_eq!(flat.file, dir.path().join("environments/flat.cfg"));
    assert_eq!(flat.project_dir, dir.path());
    let stripped = Environment::load(dir.path(), "flat.cfg").unwrap();
    assert_eq!(stripped.name, "flat");
    let nested = Environment::load(dir.path(), "nested").unwrap();
    assert_eq!(
        nested.file,
        dir.path().join("environments/nested/environment.cfg")
    );
    let typed = Environment::load(dir.path(), "typed.toml").unwrap();
    assert_eq!(typed.name, "typed");
    assert_eq!(entries(&typed.hosts["h"]), [entry("a", &[], false)]);
    assert_eq!(environment_names(dir.path()), ["flat", "nested", "typed"]);
}

#[test]
fn a_missing_environment_lists_where_it_looked() {
    let dir = project(&[("other.cfg", HOSTS)]);
    match &Environment::load(dir.path(), "prod").unwrap_err()[..] {
        [ConfigError::MissingEnvironment { name, searched }] => {
            assert_eq!(name, "prod");
            let env_dir = dir.path().join("environments");
            assert!(searched.contains(&env_dir.join("prod.cfg")));
            assert!(searched.contains(&env_dir.join("prod/environment.cfg")));
        }
        other => panic!("{other:?}"),
    }
    // Names that would leave environments/ are never looked up.
    let e = Environment::load(dir.path(), "../other").unwrap_err();
    assert!(
        matches!(&e[..], [ConfigError::MissingEnvironment { .. }]),
        "{e:?}"
    );
}

#[test]
fn an_environment_defined_twice_is_ambiguous() {
    let dir = project(&[("prod.cfg", HOSTS), ("prod/environment.cfg", HOSTS)]);
    match &Environment::load(dir.path(), "prod").unwrap_err()[..] {
        [ConfigError::AmbiguousEnvironment { name, files }] => {
            assert_eq!(name, "prod");
            assert_eq!(files.len(), 2);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_point_at_the_real_file() {
    let dir = project(&[("prod/environment.cfg", "[hosts]\nh = a\n[nope]\n")]);
    let errors = Environment::load(dir.path(), "prod").unwrap_err();
    let origin = errors[0].origin().unwrap();
    assert_eq!(
        origin.file,
        dir.path().join("environments/prod/environment.cfg")
    );
    assert_eq!(origin.line, 3);
}
