//! The deployment binary: `./batou` builds and runs it.

fn main() {
    let mut registry = batou_core::Registry::new();
    components::register(&mut registry);
    batou_cli::main(registry)
}
