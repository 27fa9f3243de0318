//! Tests of the conversions and the overlay; each file covers one area.

mod overlay;
mod serde_attrs;
mod types;
mod values;
