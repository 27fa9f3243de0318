//! Retries on any component: `.retries(n).retry_delay(d)` runs a failing
//! `verify` or `update` again, as Chef does on every resource, for what
//! fails now and then (a package mirror, a service still starting).

use std::time::Duration;

use super::{Component, Configure, Deploy, Verdict};
use crate::error::Result;

/// Adds `.retries(n)` to every component.
///
/// ```
/// use batou_core::prelude::*;
/// use std::time::Duration;
///
/// let fetch = Command::new("apt-get update")
///     .retries(3)
///     .retry_delay(Duration::from_secs(5));
/// ```
pub trait Retry: Component + Sized {
    /// Runs a failing `verify` or `update` up to `retries` more times,
    /// one second apart unless [`Retrying::retry_delay`] says otherwise.
    /// Each failed attempt is logged, and so is a retry that works; the
    /// last one's error is the component's.
    fn retries(self, retries: u32) -> Retrying<Self> {
        Retrying {
            inner: self,
            retries,
            delay: Duration::from_secs(1),
        }
    }
}

impl<C: Component + Sized> Retry for C {}

/// A component whose `verify` and `update` are retried (see [`Retry`]).
pub struct Retrying<C> {
    inner: C,
    retries: u32,
    delay: Duration,
}

impl<C> Retrying<C> {
    /// Time between attempts (default 1 s).
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    fn attempts<T>(
        &mut self,
        ctx: &mut Deploy<'_>,
        phase: &str,
        mut run: impl FnMut(&mut C, &mut Deploy<'_>) -> Result<T>,
    ) -> Result<T> {
        let attempts = self.retries.saturating_add(1);
        let mut k = 1;
        loop {
            match run(&mut self.inner, ctx) {
                Err(e) if k < attempts => {
                    ctx.log(format!(
                        "{phase} attempt {k}/{attempts} failed: {e}; retrying in {:.1}s",
                        self.delay.as_secs_f64()
                    ));
                    std::thread::sleep(self.delay);
                    k += 1;
                }
                Err(e) => {
                    if attempts > 1 {
                        ctx.log(format!("{phase} attempt {k}/{attempts} failed: {e}"));
                    }
                    return Err(e);
                }
                Ok(v) => {
                    // A retry that worked is said too: the transcript
                    // shows every attempt.
                    if k > 1 {
                        ctx.log(format!("{phase} attempt {k}/{attempts} succeeded"));
                    }
                    return Ok(v);
                }
            }
        }
    }
}

impl<C: Component> Component for Retrying<C> {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.inner.configure(ctx)
    }

    fn verify(&mut self, ctx: &mut Deploy<'_>) -> Result<Verdict> {
        self.attempts(ctx, "verify", |c, ctx| c.verify(ctx))
    }

    fn update(&mut self, ctx: &mut Deploy<'_>) -> Result<()> {
        self.attempts(ctx, "update", |c, ctx| c.update(ctx))
    }

    fn label(&self) -> String {
        self.inner.label()
    }

    fn max_parallel(&self) -> Option<crate::rollout::Limit> {
        self.inner.max_parallel()
    }
}
