//! `HealthCheck`: a gate in a rolling deploy. Added as the last
//! sub-component of a root, it runs on the target after the rest of the
//! root and fails the root when the service does not come up healthy, so
//! the rollout stops (see docs/rollouts.md).

use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::component::{Component, Deploy, Verdict};
use crate::error::{Error, Result};
use crate::host::CommandSpec;

/// What a health check asks.
#[derive(Debug, Clone)]
enum Probe {
    /// An HTTP(S) GET answered with `status`, its body containing `body`.
    Http {
        url: String,
        status: u16,
        body: Option<String>,
    },
    /// A TCP connection accepted.
    Tcp { address: String },
    /// A shell command exiting 0.
    Command { line: String },
}

/// Checks a service on the target until it is healthy: after
/// `start_delay`, up to `1 + retries` attempts, `interval` apart, each
/// given `timeout`. It never changes anything: a healthy service is up to
/// date, an unhealthy one fails its root with the last answer in the
/// error. Each attempt is logged (a `log` event). Predicting (`-P`) it
/// only says which check would run.
///
/// Sub-components deploy in the order they are added and before their
/// parent's own `verify`/`update`: add the check last, after what
/// restarts the service.
///
/// ```
/// use batou_core::prelude::*;
/// use batou_core::stdlib::HealthCheck;
/// use std::time::Duration;
///
/// let gate = HealthCheck::http("http://127.0.0.1:8080/health")
///     .status(200)
///     .body_contains("ok")
///     .start_delay(Duration::from_secs(2))
///     .retries(10)
///     .interval(Duration::from_secs(1))
///     .timeout(Duration::from_secs(5));
/// let port = HealthCheck::tcp("127.0.0.1:5432");
/// let cmd = HealthCheck::command("pg_isready -q");
/// ```
#[derive(Debug, Clone)]
pub struct HealthCheck {
    probe: Probe,
    interval: Duration,
    retries: u32,
    timeout: Duration,
    start_delay: Duration,
    /// What the check is called in its label and messages, instead of
    /// its probe (a long generated command line reads badly).
    shown: Option<String>,
}

impl HealthCheck {
    fn new(probe: Probe) -> Self {
        HealthCheck {
            probe,
            interval: Duration::from_secs(1),
            retries: 10,
            timeout: Duration::from_secs(5),
            start_delay: Duration::ZERO,
            shown: None,
        }
    }

    /// Names the check in its label and messages (`HealthCheck('NAME')`,
    /// "waiting until NAME ..."); the default is its URL, address or
    /// command line.
    pub fn shown_as(mut self, name: impl Into<String>) -> Self {
        self.shown = Some(name.into());
        self
    }

    /// An HTTP(S) GET of `url`, expecting status 200 unless
    /// [`HealthCheck::status`] says otherwise.
    pub fn http(url: impl Into<String>) -> Self {
        Self::new(Probe::Http {
            url: url.into(),
            status: 200,
            body: None,
        })
    }

    /// A TCP connection to `address` (`host:port`).
    pub fn tcp(address: impl Into<String>) -> Self {
        Self::new(Probe::Tcp {
            address: address.into(),
        })
    }

    /// A shell command (in the workdir) that exits 0 when healthy.
    pub fn command(line: impl Into<String>) -> Self {
        Self::new(Probe::Command { line: line.into() })
    }

    /// The HTTP status expected (default 200).
    pub fn status(mut self, code: u16) -> Self {
        if let Probe::Http { status, .. } = &mut self.probe {
            *status = code;
        }
        self
    }

    /// Text the HTTP body must contain.
    pub fn body_contains(mut self, text: impl Into<String>) -> Self {
        if let Probe::Http { body, .. } = &mut self.probe {
            *body = Some(text.into());
        }
        self
    }

    /// Time between attempts (default 1 s).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Attempts after the first (default 10).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Time one attempt may take (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time to wait before the first attempt (default none).
    pub fn start_delay(mut self, delay: Duration) -> Self {
        self.start_delay = delay;
        self
    }

    fn what(&self) -> String {
        if let Some(name) = &self.shown {
            return format!("{name} passes");
        }
        match &self.probe {
            Probe::Http { url, status, body } => match body {
                Some(b) => format!("GET {url} answers {status} containing {b:?}"),
                None => format!("GET {url} answers {status}"),
            },
            Probe::Tcp { address } => format!("{address} accepts TCP connections"),
            Probe::Command { line } => format!("`{line}` succeeds"),
        }
    }

    /// One attempt: `Ok` with what it saw when healthy, `Err` with the
    /// answer (or why there was none) when not.
    fn attempt(&self, ctx: &Deploy<'_>) -> std::result::Result<String, String> {
        match &self.probe {
            Probe::Http { url, status, body } => http(url, *status, body.as_deref(), self.timeout),
            Probe::Tcp { address } => tcp(address, self.timeout),
            Probe::Command { line } => {
                let spec = CommandSpec::shell(line)
                    .cwd(ctx.workdir())
                    .timeout(self.timeout);
                match ctx.run(&spec) {
                    Ok(_) => Ok("exit 0".into()),
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    }
}

/// At most this much of a body goes into a log line or an error.
const SHOWN: usize = 200;

fn http(
    url: &str,
    status: u16,
    body: Option<&str>,
    timeout: Duration,
) -> std::result::Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    let code = response.status().as_u16();
    let mut text = String::new();
    let _ = response
        .body_mut()
        .as_reader()
        .take(64 * 1024)
        .read_to_string(&mut text);
    let shown: String = text.trim().chars().take(SHOWN).collect();
    let answer = format!("HTTP {code}: {shown:?}");
    if code != status {
        return Err(answer);
    }
    match body {
        Some(wanted) if !text.contains(wanted) => Err(answer),
        _ => Ok(answer),
    }
}

fn tcp(address: &str, timeout: Duration) -> std::result::Result<String, String> {
    let addrs: Vec<_> = address
        .to_socket_addrs()
        .map_err(|e| format!("{address}: {e}"))?
        .collect();
    let mut last = format!("{address}: no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => return Ok(format!("connected to {addr}")),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

impl Component for HealthCheck {
    fn label(&self) -> String {
        if let Some(name) = &self.shown {
            return format!("HealthCheck('{name}')");
        }
        let target = match &self.probe {
            Probe::Http { url, .. } => url,
            Probe::Tcp { address } => address,
            Probe::Command { line } => line,
        };
        format!("HealthCheck('{target}')")
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        if ctx.predicting() {
            ctx.log(format!("would check that {}", self.what()));
            return Ok(Verdict::UpToDate);
        }
        let attempts = self.retries.saturating_add(1);
        // Said first, so the operator sees what the host waits for
        // (during the start delay too).
        ctx.log(format!(
            "waiting until {} (up to {attempts} attempts)",
            self.what()
        ));
        std::thread::sleep(self.start_delay);
        let mut last = String::new();
        for k in 1..=attempts {
            match self.attempt(ctx) {
                Ok(seen) => {
                    ctx.log(format!("attempt {k}/{attempts}: healthy ({seen})"));
                    return Ok(Verdict::UpToDate);
                }
                Err(seen) => {
                    ctx.log(format!("attempt {k}/{attempts}: unhealthy ({seen})"));
                    last = seen;
                }
            }
            if k < attempts {
                std::thread::sleep(self.interval);
            }
        }
        Err(Error::msg(format!(
            "health check failed: expected that {} ({attempts} attempts); last: {last}",
            self.what()
        )))
    }
}
