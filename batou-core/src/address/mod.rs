//! Service addresses (batou's `batou.utils.Address` and `NetLoc`) and the
//! resolver behind their listen addresses.
//!
//! A component declares where a service is reached; the listen addresses
//! follow from DNS, or from the environment's `[resolver]` section:
//!
//! ```
//! use batou_core::address::{Address, Requirement};
//!
//! let web = Address::new("www.example.com:8080")?;
//! let db = Address::with_port("db.example.com", 5432).require_v6(Requirement::Optional);
//! let local = Address::new("[::1]:9000")?
//!     .require_v4(Requirement::Disabled)
//!     .require_v6(Requirement::Required);
//! assert_eq!(web.connect().to_string(), "www.example.com:8080");
//! assert_eq!(db.port(), 5432);
//! assert_eq!(local.to_string(), "[::1]:9000");
//! # Ok::<(), batou_core::address::AddressError>(())
//! ```
//!
//! `listen()` and `listen_v6()` resolve on first use through the
//! [`Resolver`] installed with [`with_resolver`]; the engine does that
//! while it configures a host, so component code and templates just use
//! them (`{{ component.address.listen }}`).

// Named like its parent because it holds the type the module is named for.
#[allow(clippy::module_inception)]
mod address;
mod dns;
mod netloc;
mod overrides;
mod requirement;
mod resolver;

#[cfg(test)]
mod dns_tests;
#[cfg(test)]
mod tests;

pub use address::{Address, AddressError};
pub use netloc::NetLoc;
pub use overrides::{InvalidIpAddress, ResolverOverrides};
pub use requirement::{AddressDefaults, InvalidRequirement, Requirement};
pub use resolver::{AddressFamily, ResolveError, Resolver, current_resolver, with_resolver};
