//! The DNS backend: hickory-resolver driven by a private tokio runtime, so
//! the rest of batou can stay synchronous.

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use tokio::runtime::{Handle, Runtime};

use super::resolver::{AddressFamily, ResolveError};

/// Per query. Short, because a deployment waiting on a dead DNS server is
/// worse than one that says so.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Retries after the first try (hickory's `attempts` does not count the
/// first one), so two tries and at most about 6 s per name and family.
const RETRIES: usize = 1;

pub(super) struct Dns {
    // An `Option` only so `Drop` can move it out.
    runtime: Option<Runtime>,
    resolver: TokioResolver,
}

impl Dns {
    /// /etc/resolv.conf and /etc/hosts.
    pub(super) fn system() -> Result<Dns, ResolveError> {
        Dns::build(|| {
            TokioResolver::builder_tokio().map_err(|err| ResolveError::Setup {
                message: format!("cannot read the system DNS configuration: {err}"),
            })
        })
    }

    /// One nameserver over UDP; /etc/hosts is not consulted so tests see
    /// only what that server says.
    pub(super) fn nameserver(addr: SocketAddr) -> Result<Dns, ResolveError> {
        Dns::build(|| {
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            let server = NameServerConfig::new(addr.ip(), true, vec![udp]);
            let config = ResolverConfig::from_parts(None, vec![], vec![server]);
            let mut builder =
                TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
            builder.options_mut().use_hosts_file = ResolveHosts::Never;
            Ok(builder)
        })
    }

    fn build(
        builder: impl FnOnce() -> Result<
            hickory_resolver::ResolverBuilder<TokioRuntimeProvider>,
            ResolveError,
        >,
    ) -> Result<Dns, ResolveError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| ResolveError::Setup {
                message: format!("cannot start the DNS runtime: {err}"),
            })?;
        // The provider captures the runtime handle, so build inside it.
        let _enter = runtime.enter();
        let mut builder = builder()?;
        let options: &mut ResolverOpts = builder.options_mut();
        options.timeout = TIMEOUT;
        options.attempts = RETRIES;
        let resolver = builder.build().map_err(|err| ResolveError::Setup {
            message: err.to_string(),
        })?;
        drop(_enter);
        Ok(Dns {
            runtime: Some(runtime),
            resolver,
        })
    }

    pub(super) fn lookup_v4(&self, name: &str) -> Result<Vec<Ipv4Addr>, ResolveError> {
        let lookup = self.lookup(name, AddressFamily::V4)?;
        Ok(lookup
            .iter()
            .filter_map(|data| match data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect())
    }

    pub(super) fn lookup_v6(&self, name: &str) -> Result<Vec<Ipv6Addr>, ResolveError> {
        let lookup = self.lookup(name, AddressFamily::V6)?;
        Ok(lookup
            .iter()
            .filter_map(|data| match data {
                RData::AAAA(aaaa) => Some(aaaa.0),
                _ => None,
            })
            .collect())
    }

    /// The answer's record data in answer order (CNAMEs included).
    fn lookup(&self, name: &str, family: AddressFamily) -> Result<Vec<RData>, ResolveError> {
        if name.is_empty() {
            return Err(ResolveError::InvalidName {
                name: name.to_string(),
                message: "the name is empty".into(),
            });
        }
        let record_type = match family {
            AddressFamily::V4 => RecordType::A,
            AddressFamily::V6 => RecordType::AAAA,
        };
        // Checked up front so a bad name is reported as such and not as
        // some protocol error.
        if let Err(err) = Name::from_utf8(name) {
            return Err(ResolveError::InvalidName {
                name: name.to_string(),
                message: err.to_string(),
            });
        }
        let Some(runtime) = &self.runtime else {
            return Err(ResolveError::Setup {
                message: "the DNS runtime is gone".into(),
            });
        };
        let result = block_on(runtime, self.resolver.lookup(name, record_type));
        match result {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .map(|record| record.data.clone())
                .collect()),
            Err(err) => Err(convert_error(err, name, family)),
        }
    }
}

/// Runs `future` to completion on `runtime`.
fn block_on<F: Future + Send>(runtime: &Runtime, future: F) -> F::Output
where
    F::Output: Send,
{
    if Handle::try_current().is_ok() {
        // Blocking on a runtime from inside another one panics; a
        // helper thread is outside of it.
        std::thread::scope(|scope| {
            scope
                .spawn(|| runtime.block_on(future))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    } else {
        runtime.block_on(future)
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        // Dropping a runtime inside an async context panics.
        if let Some(runtime) = self.runtime.take()
            && Handle::try_current().is_ok()
        {
            runtime.shutdown_background();
        }
    }
}

fn convert_error(err: NetError, name: &str, family: AddressFamily) -> ResolveError {
    let name = name.to_string();
    if err.is_nx_domain() {
        return ResolveError::NoSuchName { name };
    }
    if err.is_no_records_found() {
        return ResolveError::NoAddress { name, family };
    }
    match err {
        NetError::Timeout => ResolveError::Timeout { name, family },
        other => ResolveError::Lookup {
            name,
            family,
            message: other.to_string(),
        },
    }
}
