//! `Mode`: the permission bits of a path, and [`ModeSpec`], the ways to
//! write them.

use std::path::PathBuf;

use super::content::base_name;
use crate::component::{Component, Configure, Deploy, Verdict};
use crate::convert;
use crate::error::{Error, Result};
use crate::host::FileKind;

/// A mode as a component takes it: an integer (`0o640`), an octal string
/// (`"640"`, `"0o640"`) or an ls-style string (`"rw-r-----"`), or an
/// already converted [`convert::Mode`]. Strings are checked in `configure`;
/// a bad one is a configuration error with batou's message
/// (`Mode-string should be between `---------` and `rwxrwxrwx`.`).
///
/// ```
/// use batou_core::stdlib::ModeSpec;
/// assert_eq!(ModeSpec::from("rwxr-x---").resolve().unwrap(), 0o750);
/// assert_eq!(ModeSpec::from(0o640).resolve().unwrap(), 0o640);
/// assert!(ModeSpec::from("rwxrwxrwt").resolve().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeSpec {
    Bits(i64),
    Text(String),
}

impl ModeSpec {
    /// The permission bits, or the configuration error for a bad mode.
    pub fn resolve(&self) -> Result<u32> {
        let parsed = match self {
            ModeSpec::Bits(bits) => u32::try_from(*bits)
                .map_err(|_| convert::ModeError::Negative(i128::from(*bits)))
                .and_then(convert::Mode::new),
            ModeSpec::Text(text) => text.parse::<convert::Mode>(),
        };
        parsed.map(convert::Mode::bits).map_err(|e| match e {
            convert::ModeError::Syntax => Error::usage(e.to_string()),
            other => Error::usage(format!("bad mode: {other}")),
        })
    }
}

// `i32` too, so an unsuffixed literal (`.mode(0o640)`) works: integer
// literals fall back to `i32` when a generic leaves their type open.
impl From<i32> for ModeSpec {
    fn from(bits: i32) -> Self {
        ModeSpec::Bits(bits.into())
    }
}

impl From<u32> for ModeSpec {
    fn from(bits: u32) -> Self {
        ModeSpec::Bits(bits.into())
    }
}

impl From<&str> for ModeSpec {
    fn from(text: &str) -> Self {
        ModeSpec::Text(text.to_string())
    }
}

impl From<String> for ModeSpec {
    fn from(text: String) -> Self {
        ModeSpec::Text(text)
    }
}

impl From<convert::Mode> for ModeSpec {
    fn from(mode: convert::Mode) -> Self {
        ModeSpec::Bits(mode.bits().into())
    }
}

/// The permission bits of `path`. Symlinks are left alone, as in batou
/// (Linux has no `lchmod`; a chmod would change the link's target).
///
/// ```
/// use batou_core::stdlib::FileMode;
/// let private = FileMode::new("secrets/key.pem", "rw-------");
/// ```
pub struct Mode {
    path: PathBuf,
    target: PathBuf,
    spec: ModeSpec,
    mode: u32,
}

impl Mode {
    pub fn new(path: impl Into<PathBuf>, mode: impl Into<ModeSpec>) -> Self {
        let path = path.into();
        Mode {
            target: path.clone(),
            path,
            spec: mode.into(),
            mode: 0,
        }
    }
}

impl Component for Mode {
    fn label(&self) -> String {
        format!("Mode('{}')", base_name(&self.path))
    }

    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.mode = self.spec.resolve()?;
        self.target = ctx.map(&self.path);
        Ok(())
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let stat = ctx.host().stat(&self.target)?;
        Ok(match stat {
            Some(s) if s.kind == FileKind::Symlink => Verdict::UpToDate,
            Some(s) => Verdict::update_if(s.mode != self.mode),
            None => Verdict::NeedsUpdate,
        })
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        ctx.host().chmod(&self.target, self.mode)?;
        Ok(())
    }
}
