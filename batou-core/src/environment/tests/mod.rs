use super::*;
use std::path::Path;

fn load(src: &str) -> Result<Environment, Vec<ConfigError>> {
    Environment::from_source(
        Path::new("/p"),
        "t",
        Path::new("/p/environments/t.cfg"),
        src,
    )
}

#[test]
fn hosts_and_components() {
    let env = load("[hosts]\nlocalhost = a, b:x\n").unwrap();
    let h = &env.hosts["localhost"];
    assert_eq!(h.components.len(), 2);
    assert_eq!(h.components[1].features, ["x"]);
}
