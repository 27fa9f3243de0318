//! Durations written like `90`, `90s`, `500ms` or `1h30m`.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Units from largest to smallest, with their length in nanoseconds. The
/// order is the order [`Duration`] is displayed in.
const UNITS: &[(&str, u128)] = &[
    ("d", 86_400 * NANOS_PER_SEC),
    ("h", 3_600 * NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("s", NANOS_PER_SEC),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// A length of time for timeouts, intervals and the like.
///
/// It converts from
/// * a bare whole number of seconds: `"90"`, or a TOML integer `90`
///   (a TOML float `1.5` is 1.5 seconds);
/// * whole numbers with units, largest first or in any order, optionally
///   separated by spaces: `"90s"`, `"500ms"`, `"5m"`, `"1h30m"`, `"2d"`,
///   `"1m 30s"`, `"5 m"`. Units: `d`, `h`, `m`, `s`, `ms`, `us` (or `µs`), `ns`.
///   Fractions (`"1.5h"`) are not accepted: write `"1h30m"`.
///
/// It serializes and displays as the same kind of string, using the
/// largest units (`"1m30s"` for 90 seconds, `"0s"` for zero), so a value
/// converts back to itself exactly.
///
/// ```
/// # use batou_core::convert::{Duration, from_config_str};
/// let timeout: Duration = from_config_str("1h30m").unwrap();
/// assert_eq!(timeout.0, std::time::Duration::from_secs(5400));
/// assert_eq!(timeout.to_string(), "1h30m");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Duration(pub std::time::Duration);

/// Why a duration does not convert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("the duration is empty")]
    Empty,
    #[error("expected a number in the duration at `{0}`")]
    ExpectedNumber(String),
    #[error("`{0}` needs a unit when combined with other parts (d, h, m, s, ms, us, ns)")]
    MissingUnit(String),
    #[error("unknown duration unit `{0}` (use d, h, m, s, ms, us or ns)")]
    UnknownUnit(String),
    #[error(
        "fractions are not supported in durations; combine units instead, e.g. 1h30m or 1500ms"
    )]
    Fraction,
    #[error("the duration is too large")]
    TooLarge,
    #[error("a duration cannot be negative or NaN")]
    Negative,
}

impl Duration {
    /// A duration of `secs` seconds.
    pub fn from_secs(secs: u64) -> Duration {
        Duration(std::time::Duration::from_secs(secs))
    }
}

impl From<std::time::Duration> for Duration {
    fn from(duration: std::time::Duration) -> Duration {
        Duration(duration)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(duration: Duration) -> std::time::Duration {
        duration.0
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Duration, DurationError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(DurationError::Empty);
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            let secs = text.parse().map_err(|_| DurationError::TooLarge)?;
            return Ok(Duration::from_secs(secs));
        }
        let mut total: u128 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits_end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits_end == 0 {
                return Err(DurationError::ExpectedNumber(rest.to_owned()));
            }
            let (digits, after) = rest.split_at(digits_end);
            let number: u128 = digits.parse().map_err(|_| DurationError::TooLarge)?;
            if after.starts_with(['.', ',']) {
                return Err(DurationError::Fraction);
            }
            // `5 m` is as clear as `5m`.
            let after = after.trim_start();
            let unit_end = after
                .find(|c: char| !c.is_alphabetic())
                .unwrap_or(after.len());
            let (unit, after) = after.split_at(unit_end);
            if unit.is_empty() {
                return Err(DurationError::MissingUnit(digits.to_owned()));
            }
            let factor = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit(unit.into()))?;
            total = number
                .checked_mul(factor)
                .and_then(|nanos| total.checked_add(nanos))
                .ok_or(DurationError::TooLarge)?;
            rest = after.trim_start();
        }
        let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| DurationError::TooLarge)?;
        // The remainder is below 10^9, so it fits.
        let nanos = (total % NANOS_PER_SEC) as u32;
        Ok(Duration(std::time::Duration::new(secs, nanos)))
    }
}

fn unit_nanos(unit: &str) -> Option<u128> {
    let unit = if unit == "µs" { "us" } else { unit };
    UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, nanos)| *nanos)
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0.as_nanos();
        if rest == 0 {
            return f.write_str("0s");
        }
        for (unit, nanos) in UNITS {
            let count = rest / nanos;
            if count > 0 {
                write!(f, "{count}{unit}")?;
                rest %= nanos;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        // `any`: a string from config text or JSON, a number from TOML.
        deserializer.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration (e.g. 90, 90s, 500ms, 1h30m)")
    }

    fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(secs))
    }

    fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Duration, E> {
        u64::try_from(secs)
            .map(Duration::from_secs)
            .map_err(|_| E::custom(DurationError::Negative))
    }

    fn visit_f64<E: de::Error>(self, secs: f64) -> Result<Duration, E> {
        std::time::Duration::try_from_secs_f64(secs)
            .map(Duration)
            .map_err(|_| {
                if secs.is_nan() || secs < 0.0 {
                    E::custom(DurationError::Negative)
                } else {
                    E::custom(DurationError::TooLarge)
                }
            })
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        text.parse().map_err(E::custom)
    }
}
