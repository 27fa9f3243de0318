//! End-to-end tests: the `batou-test` binary (the example deployment plus
//! the test components of `fixtures/`) run against temporary projects.
//! One test binary; one module per topic under `e2e/`.

mod e2e;
mod remote_support;
