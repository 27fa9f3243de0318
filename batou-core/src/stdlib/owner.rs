//! `Owner` and `Group`: who owns a path.
//!
//! Names are resolved in `verify`, not in `configure`: a `User` or `Group`
//! created earlier in the same deploy exists by the time this part runs
//! (batou resolves lazily for the same reason). When predicting, that user
//! may not exist yet; the part then says it would change instead of failing.

use std::path::PathBuf;

use super::content::base_name;
use crate::component::{Component, Configure, Deploy, Verdict};
use crate::error::{Error, Result};

/// A user or group, by name or numeric id.
///
/// ```
/// use batou_core::stdlib::Principal;
/// assert_eq!(Principal::from("www-data"), Principal::Name("www-data".into()));
/// assert_eq!(Principal::from(33u32), Principal::Id(33));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Name(String),
    Id(u32),
}

impl From<&str> for Principal {
    fn from(name: &str) -> Self {
        Principal::Name(name.to_string())
    }
}

impl From<String> for Principal {
    fn from(name: String) -> Self {
        Principal::Name(name)
    }
}

impl From<u32> for Principal {
    fn from(id: u32) -> Self {
        Principal::Id(id)
    }
}

// An unsuffixed literal (`.owner(1000)`) is an `i32`.
impl From<i32> for Principal {
    fn from(id: i32) -> Self {
        // A negative id cannot name anybody; it fails as an unknown name.
        u32::try_from(id)
            .map(Principal::Id)
            .unwrap_or_else(|_| Principal::Name(id.to_string()))
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::Name(n) => f.write_str(n),
            Principal::Id(id) => write!(f, "{id}"),
        }
    }
}

/// Which id of a path a part manages.
#[derive(Clone, Copy)]
enum Which {
    User,
    Group,
}

/// The shared logic of `Owner` and `Group`.
struct Ownership {
    which: Which,
    path: PathBuf,
    target: PathBuf,
    who: Principal,
    /// Resolved in verify, used in update.
    id: Option<u32>,
}

impl Ownership {
    fn new(which: Which, path: PathBuf, who: Principal) -> Self {
        Ownership {
            which,
            target: path.clone(),
            path,
            who,
            id: None,
        }
    }

    fn configure(&mut self, ctx: &Configure<'_>) -> Result<()> {
        if matches!(&self.who, Principal::Name(n) if n.is_empty()) {
            return Err(Error::usage(match self.which {
                Which::User => "owner must not be empty",
                Which::Group => "group must not be empty",
            }));
        }
        self.target = ctx.map(&self.path);
        Ok(())
    }

    fn resolve(&self, ctx: &Deploy<'_>) -> Result<Option<u32>> {
        Ok(match &self.who {
            Principal::Id(id) => Some(*id),
            Principal::Name(name) => match self.which {
                Which::User => ctx.host().user_id(name)?,
                Which::Group => ctx.host().group_id(name)?,
            },
        })
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        let (kind, word) = match self.which {
            Which::User => ("user", "owner"),
            Which::Group => ("group", "group"),
        };
        self.id = self.resolve(ctx)?;
        let Some(id) = self.id else {
            if ctx.predicting() {
                // Possibly created by a component before this one.
                ctx.log(format!(
                    "{kind} `{}` does not exist (yet); cannot check the {word} of {}",
                    self.who,
                    self.target.display()
                ));
                return Ok(Verdict::NeedsUpdate);
            }
            return Err(Error::usage(format!(
                "unknown {kind} `{}` (the {word} of {})",
                self.who,
                self.target.display()
            )));
        };
        Ok(match ctx.host().stat(&self.target)? {
            Some(stat) => Verdict::update_if(match self.which {
                Which::User => stat.uid != id,
                Which::Group => stat.gid != id,
            }),
            // Created by an earlier part in a real run; predicted missing.
            None => Verdict::NeedsUpdate,
        })
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        let id = match self.id {
            Some(id) => id,
            None => return Err(Error::usage(format!("cannot resolve `{}`", self.who))),
        };
        // `Host::chown` uses lchown: a symlink's own ids change, never
        // those of what it points to. `None` keeps the other id.
        match self.which {
            Which::User => ctx.host().chown(&self.target, Some(id), None)?,
            Which::Group => ctx.host().chown(&self.target, None, Some(id))?,
        }
        Ok(())
    }
}

/// Owner and Group are one [`Ownership`] each; only the label differs.
macro_rules! delegate_to_ownership {
    ($name:ident) => {
        impl Component for $name {
            fn label(&self) -> String {
                format!("{}('{}')", stringify!($name), base_name(&self.0.path))
            }

            fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
                self.0.configure(ctx)
            }

            fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
                self.0.verify(ctx)
            }

            fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
                self.0.update(ctx)
            }
        }
    };
}

/// The owning user of `path` (a name or a uid). The group is kept.
///
/// ```
/// use batou_core::stdlib::Owner;
/// let owned = Owner::new("htdocs", "www-data");
/// ```
pub struct Owner(Ownership);

impl Owner {
    pub fn new(path: impl Into<PathBuf>, owner: impl Into<Principal>) -> Self {
        Owner(Ownership::new(Which::User, path.into(), owner.into()))
    }
}

delegate_to_ownership!(Owner);

/// The owning group of `path` (a name or a gid). The owner is kept.
///
/// ```
/// use batou_core::stdlib::Group;
/// let shared = Group::new("uploads", "www-data");
/// ```
pub struct Group(Ownership);

impl Group {
    pub fn new(path: impl Into<PathBuf>, group: impl Into<Principal>) -> Self {
        Group(Ownership::new(Which::Group, path.into(), group.into()))
    }
}

delegate_to_ownership!(Group);
