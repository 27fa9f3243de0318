//! Test-only components for the end-to-end tests (`tests/e2e`). The
//! `batou-test` binary registers them next to the example deployment's.

pub mod fixtures;

pub use fixtures::register;
