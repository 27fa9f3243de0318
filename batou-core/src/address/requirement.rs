//! Whether an [`Address`](super::Address) needs an IPv4 or IPv6 listen
//! address, and the environment-wide defaults for that.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// How much an [`Address`](super::Address) cares about one address family.
///
/// batou spells these `True`, `optional` and `False` (in `[environment]`
/// `require_v4`/`require_v6` and as `Address(..., require_v6=...)`). All of
/// batou's spellings parse:
///
/// ```
/// use batou_core::address::Requirement;
///
/// assert_eq!("True".parse::<Requirement>().unwrap(), Requirement::Required);
/// assert_eq!("optional".parse::<Requirement>().unwrap(), Requirement::Optional);
/// assert_eq!("no".parse::<Requirement>().unwrap(), Requirement::Disabled);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Requirement {
    /// The family must resolve; a failure is an error.
    Required,
    /// Resolve if possible; a failure yields `None`.
    Optional,
    /// The family is not used; accessing it is an error.
    Disabled,
}

impl Requirement {
    /// batou's spelling: `True`, `optional` or `False`.
    pub fn as_str(self) -> &'static str {
        match self {
            Requirement::Required => "True",
            Requirement::Optional => "optional",
            Requirement::Disabled => "False",
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `require_v4`/`require_v6` value that is none of batou's spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid address family requirement {value:?}: expected True, False or optional.")]
pub struct InvalidRequirement {
    /// The text as given.
    pub value: String,
}

impl FromStr for Requirement {
    type Err = InvalidRequirement;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Case-insensitive because environment files are written by hand and
        // Python's literal `True` and YAML-ish `true` both occur in the wild.
        match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Requirement::Required),
            "false" | "no" | "0" => Ok(Requirement::Disabled),
            "optional" => Ok(Requirement::Optional),
            _ => Err(InvalidRequirement {
                value: s.to_string(),
            }),
        }
    }
}

impl From<bool> for Requirement {
    fn from(required: bool) -> Self {
        if required {
            Requirement::Required
        } else {
            Requirement::Disabled
        }
    }
}

impl Serialize for Requirement {
    /// `true`, `false` or `"optional"`, which is what batou's literal
    /// evaluation would produce.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Requirement::Required => serializer.serialize_bool(true),
            Requirement::Disabled => serializer.serialize_bool(false),
            Requirement::Optional => serializer.serialize_str("optional"),
        }
    }
}

impl<'de> Deserialize<'de> for Requirement {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RequirementVisitor;

        impl Visitor<'_> for RequirementVisitor {
            type Value = Requirement;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean or one of True, False, optional")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Requirement, E> {
                Ok(Requirement::from(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Requirement, E> {
                match v {
                    0 => Ok(Requirement::Disabled),
                    1 => Ok(Requirement::Required),
                    _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Requirement, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Requirement, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_any(RequirementVisitor)
    }
}

/// The environment's defaults for addresses that do not say what they
/// require (`[environment] require_v4` / `require_v6`).
///
/// batou's defaults since 2.3: IPv4 required, IPv6 disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddressDefaults {
    /// Default for addresses that do not call [`Address::require_v4`](super::Address::require_v4).
    pub require_v4: Requirement,
    /// Default for addresses that do not call [`Address::require_v6`](super::Address::require_v6).
    pub require_v6: Requirement,
}

impl Default for AddressDefaults {
    fn default() -> Self {
        AddressDefaults {
            require_v4: Requirement::Required,
            require_v6: Requirement::Disabled,
        }
    }
}
