//! File modes as batou writes them: `755`, `0o755` or `rwxr-x---`.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};

/// The largest mode: permission bits plus setuid, setgid and sticky.
const MAX_MODE: u32 = 0o7777;

/// batou's message for a string that is neither octal nor ls-style.
const MODE_STRING_ERROR: &str = "Mode-string should be between `---------` and `rwxrwxrwx`.";

/// A file mode (permission bits), as batou's `Mode` component and
/// `File(mode=...)` take it.
///
/// It converts from
/// * an integer, taken as it is: a TOML `mode = 0o755` arrives as 493.
///   Beware that TOML `mode = 755` is the *decimal* 755 (as in batou,
///   where a Python `755` is decimal too); write `0o755` or `"755"`;
/// * an octal string: `"755"`, `"0755"` or `"0o755"` (batou's `int(s, 8)`);
/// * an ls-style string of exactly nine characters, each position `r`/`w`/`x`
///   or `-`: `"rwxr-x---"`. Like batou, no `s`/`t` letters: write setuid and
///   friends in octal (`"4755"`).
///
/// Values above `0o7777` are rejected. It serializes as the integer and
/// displays in octal (`0755`).
///
/// ```
/// # use batou_core::convert::{Mode, from_config_str};
/// assert_eq!(from_config_str::<Mode>("rwxr-x---").unwrap(), Mode(0o750));
/// assert_eq!(from_config_str::<Mode>("0o640").unwrap().to_string(), "0640");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mode(pub u32);

/// Why a mode does not convert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    /// Neither octal nor ls-style (batou's exact message).
    #[error("{MODE_STRING_ERROR}")]
    Syntax,
    /// More than the 12 permission bits.
    #[error("mode {0} is out of range (at most 0o7777)")]
    OutOfRange(String),
    /// A negative integer.
    #[error("mode {0} is negative")]
    Negative(i128),
}

impl Mode {
    /// Checks that `bits` is a valid mode.
    pub fn new(bits: u32) -> Result<Mode, ModeError> {
        Mode::from_unsigned(u128::from(bits))
    }

    fn from_unsigned(bits: u128) -> Result<Mode, ModeError> {
        match u32::try_from(bits) {
            Ok(bits) if bits <= MAX_MODE => Ok(Mode(bits)),
            _ => Err(ModeError::OutOfRange(format!("{bits:#o}"))),
        }
    }

    fn from_signed(bits: i128) -> Result<Mode, ModeError> {
        match u128::try_from(bits) {
            Ok(bits) => Mode::from_unsigned(bits),
            Err(_) => Err(ModeError::Negative(bits)),
        }
    }

    /// The mode bits, e.g. for `chmod`.
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl FromStr for Mode {
    type Err = ModeError;

    /// Octal first, as batou does, then ls-style.
    fn from_str(text: &str) -> Result<Mode, ModeError> {
        let text = text.trim();
        let digits = text
            .strip_prefix("0o")
            .or_else(|| text.strip_prefix("0O"))
            .unwrap_or(text);
        if !digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            // Long digit strings overflow u128; they are out of range either way.
            return match u128::from_str_radix(digits, 8) {
                Ok(bits) => Mode::from_unsigned(bits),
                Err(_) => Err(ModeError::OutOfRange(format!("0o{digits}"))),
            };
        }
        parse_ls_style(text).map(Mode)
    }
}

/// `rwxr-x---` → 0o750. Position `i` may hold only its own letter or `-`.
fn parse_ls_style(text: &str) -> Result<u32, ModeError> {
    const LETTERS: &[u8; 9] = b"rwxrwxrwx";
    let bytes = text.as_bytes();
    if bytes.len() != LETTERS.len() {
        return Err(ModeError::Syntax);
    }
    let mut bits = 0;
    for (i, (&got, &letter)) in bytes.iter().zip(LETTERS).enumerate() {
        if got == letter {
            bits |= 1 << (8 - i);
        } else if got != b'-' {
            return Err(ModeError::Syntax);
        }
    }
    Ok(bits)
}

impl fmt::Display for Mode {
    /// Four octal digits, e.g. `0755`, like `stat -c %a` with the leading zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl fmt::Debug for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mode(0o{:o})", self.0)
    }
}

impl From<Mode> for u32 {
    fn from(mode: Mode) -> u32 {
        mode.0
    }
}

impl serde::Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Mode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Mode, D::Error> {
        // `any`: an integer from JSON/TOML, a string from a config text.
        deserializer.deserialize_any(ModeVisitor)
    }
}

struct ModeVisitor;

impl Visitor<'_> for ModeVisitor {
    type Value = Mode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a file mode (octal like 755, or like rwxr-x---)")
    }

    fn visit_u64<E: de::Error>(self, bits: u64) -> Result<Mode, E> {
        Mode::from_unsigned(bits.into()).map_err(E::custom)
    }

    fn visit_u128<E: de::Error>(self, bits: u128) -> Result<Mode, E> {
        Mode::from_unsigned(bits).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, bits: i64) -> Result<Mode, E> {
        Mode::from_signed(bits.into()).map_err(E::custom)
    }

    fn visit_i128<E: de::Error>(self, bits: i128) -> Result<Mode, E> {
        Mode::from_signed(bits).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Mode, E> {
        text.parse().map_err(E::custom)
    }
}
