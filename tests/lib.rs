//! End-to-end test support lives in main.rs; this crate has no library code.
