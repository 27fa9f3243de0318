//! Tests of the INI parser. `differential` and `random` compare against the
//! real `python3` and fail (never skip) when it cannot be run.

mod differential;
mod python;
mod random;
mod unit;
