use super::*;

#[test]
fn atomic_write_keeps_mode() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::local();
    let p = dir.path().join("f");
    host.write(&p, b"one", Some(0o600)).unwrap();
    host.write(&p, b"two", None).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"two");
    assert_eq!(host.stat(&p).unwrap().unwrap().mode, 0o600);
}
