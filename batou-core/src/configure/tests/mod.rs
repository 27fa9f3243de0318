//! Tests of the configure engine, driven through `configure` with small
//! registries and environments.
//!
//! Most tests use [`Probe`], one component type registered under several
//! names; what each name provides and requires is set by the environment's
//! `[component:NAME]` overrides, and what it saw is kept on the configured
//! component for the test to read.

mod attributes;
mod errors;
mod model;
mod platforms;
mod resources;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::component::{Component, Configure, Registry, Require};
use crate::configure::Model;
use crate::error::{Error, Result};
use crate::testutil::{as_type, tree};

/// A root whose service discovery is configured by overrides.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct Probe {
    /// `key=value`: provided as strings.
    provide: Vec<String>,
    /// Keys required (all values, strict).
    require: Vec<String>,
    /// Keys required with `optional`.
    optional: Vec<String>,
    /// Keys required with `reverse`.
    reverse: Vec<String>,
    /// Keys required with `require_one`.
    one: Vec<String>,
    /// `in->out`: requires `in` and provides `out` = `out(<values joined by +>)`.
    relay: Vec<String>,
    /// Host filter for every require of this probe (empty: none).
    on_host: String,
    /// Free text, to see override expansion.
    label: String,
    /// A typed attribute, to see conversion.
    port: u16,
    /// If not empty, configure fails with this message.
    fail: String,
    /// What each require returned in the latest configure.
    #[serde(skip)]
    seen: BTreeMap<String, Vec<String>>,
    #[serde(skip)]
    features: Vec<String>,
    #[serde(skip)]
    platform: Option<String>,
}

impl Probe {
    fn opts(&self) -> Require {
        let r = Require::new();
        if self.on_host.is_empty() {
            r
        } else {
            r.host(self.on_host.clone())
        }
    }

    fn record(&mut self, key: &str, values: Vec<String>) {
        self.seen.insert(key.to_string(), values);
    }
}

impl Component for Probe {
    fn configure(&mut self, ctx: &mut Configure<'_>) -> Result<()> {
        self.features = ctx.features().to_vec();
        self.platform = ctx.platform().map(str::to_string);
        if !self.fail.is_empty() {
            return Err(Error::msg(self.fail.clone()));
        }
        for key in self.require.clone() {
            let v = ctx.require_with(&key, self.opts())?;
            self.record(&key, v);
        }
        for key in self.optional.clone() {
            let v = ctx.require_with(&key, self.opts().optional())?;
            self.record(&key, v);
        }
        for key in self.reverse.clone() {
            let v = ctx.require_with(&key, self.opts().reverse())?;
            self.record(&key, v);
        }
        for key in self.one.clone() {
            let v: Option<String> = ctx.require_one_with(&key, self.opts())?;
            self.record(&key, v.into_iter().collect());
        }
        for pair in self.relay.clone() {
            let (input, output) = pair.split_once("->").expect("relay is in->out");
            let v: Vec<String> = ctx.require_with(input, self.opts())?;
            ctx.provide(output, format!("{output}({})", v.join("+")))?;
            self.record(input, v);
        }
        for pair in &self.provide {
            let (k, v) = pair.split_once('=').expect("provide is key=value");
            ctx.provide(k, v)?;
        }
        Ok(())
    }
}

/// A registry with a `Probe` under each name.
pub(super) fn probes(names: &[&str]) -> Registry {
    let mut r = Registry::new();
    for n in names {
        r.component::<Probe>(n);
    }
    r
}

/// The probe `name` on `host` as configured.
pub(super) fn probe<'m>(model: &'m Model, host: &str, name: &str) -> &'m Probe {
    as_type::<Probe>(tree(model, host, name))
}

/// What probe `name` on `host` saw for `key`.
pub(super) fn seen(model: &Model, host: &str, name: &str, key: &str) -> Vec<String> {
    probe(model, host, name)
        .seen
        .get(key)
        .cloned()
        .unwrap_or_else(|| panic!("{name}@{host} never required {key}"))
}
