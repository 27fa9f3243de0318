//! The deployment binary the end-to-end tests run: the example deployment
//! (`components::register`) plus the test-only components of
//! `batou_tests::fixtures`.

fn main() {
    let mut registry = batou_core::Registry::new();
    components::register(&mut registry);
    batou_tests::register(&mut registry);
    batou_book::etherpad::register(&mut registry);
    batou_cli::main(registry)
}
