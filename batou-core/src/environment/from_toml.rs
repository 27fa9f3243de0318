//! Loading the TOML form of an environment, where host data and overrides
//! can be typed:
//!
//! ```toml
//! [environment]
//! connect_method = "local"
//!
//! [hosts]
//! localhost = ["hello", "!broken"]
//!
//! [host.db1]
//! components = ["postgres:replica"]
//! data = { role = "replica", weight = 3 }
//!
//! [component.hello]
//! port = 8080
//!
//! [resolver]
//! "db.internal" = ["10.0.0.5", "fd00::5"]
//! ```

use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{
    AttributeOverride, ComponentOverrides, Environment, HostConfig, LoadWarning, ResolverEntry,
    Vfs, parse_component_list,
};
use crate::convert::{OverrideValue, split_list};
use crate::error::{ConfigError, Origin};

struct Ctx<'a> {
    file: PathBuf,
    source: &'a str,
    errors: Vec<ConfigError>,
}

impl Ctx<'_> {
    fn origin(&self, span: Range<usize>) -> Origin {
        let line = self.source[..span.start.min(self.source.len())]
            .matches('\n')
            .count()
            + 1;
        Origin::new(&self.file, line, Some(span))
    }

    fn invalid(&mut self, span: Range<usize>, key: &str, value: &str, expected: &str) {
        let origin = self.origin(span);
        self.errors.push(ConfigError::InvalidValue {
            origin,
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        });
    }
}

pub(super) fn load(env: &mut Environment, source: &str) -> Vec<ConfigError> {
    let mut ctx = Ctx {
        file: env.file.clone(),
        source,
        errors: Vec::new(),
    };
    let root = match DeTable::parse(source) {
        Ok(t) => t.into_inner(),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            return vec![ConfigError::Syntax {
                origin: ctx.origin(span),
                message: e.message().to_string(),
            }];
        }
    };
    let mut additions = Vec::new();
    for (key, value) in &root {
        let name = key.get_ref().as_ref();
        let key_span = key.span();
        let Some(table) = value.get_ref().as_table() else {
            let origin = ctx.origin(key_span);
            ctx.errors.push(ConfigError::SuperfluousSection {
                origin,
                section: name.to_string(),
            });
            continue;
        };
        match name {
            "environment" => {
                for (k, v) in table {
                    let text = scalar_text(v.get_ref());
                    let origin = ctx.origin(v.span());
                    match env.settings.set(k.get_ref(), &text, &origin) {
                        Ok(true) => {}
                        Ok(false) => env.warnings.push(LoadWarning {
                            origin: ctx.origin(k.span()),
                            message: format!(
                                "unknown key `{}` in [environment] is ignored",
                                k.get_ref()
                            ),
                        }),
                        Err(e) => ctx.errors.push(e),
                    }
                }
            }
            "hosts" => {
                for (k, v) in table {
                    let (ignore, host) = match k.get_ref().strip_prefix('!') {
                        Some(h) => (true, h.to_string()),
                        None => (false, k.get_ref().to_string()),
                    };
                    let items = list_items(v.get_ref());
                    let origin = ctx.origin(k.span());
                    let components = parse_component_list(&items, &ctx.origin(v.span()));
                    let added = env.add_host(HostConfig {
                        components,
                        ignore,
                        ..HostConfig::new(host, origin)
                    });
                    ctx.errors.extend(added.err());
                }
            }
            "host" => {
                for (k, v) in table {
                    match load_host(&mut ctx, env, k, v) {
                        Some((h, true, _)) => ctx.errors.extend(env.add_host(h).err()),
                        Some((h, false, sets_ignore)) => additions.push((h, sets_ignore)),
                        None => {}
                    }
                }
            }
            "component" => {
                for (k, v) in table {
                    let section_origin = ctx.origin(k.span());
                    let Some(attrs) = v.get_ref().as_table() else {
                        ctx.invalid(v.span(), k.get_ref(), "", "a table of attribute overrides");
                        continue;
                    };
                    let values = attrs
                        .iter()
                        .map(|(ak, av)| {
                            let value = match av.get_ref() {
                                DeValue::String(s) => OverrideValue::Text(s.to_string()),
                                other => OverrideValue::Typed(to_json(other)),
                            };
                            (
                                ak.get_ref().to_string(),
                                AttributeOverride {
                                    value,
                                    origin: ctx.origin(av.span()),
                                    secret: false,
                                },
                            )
                        })
                        .collect();
                    env.overrides.insert(
                        k.get_ref().to_string(),
                        ComponentOverrides {
                            origin: section_origin,
                            values,
                        },
                    );
                }
            }
            "resolver" => {
                for (k, v) in table {
                    // An array gives one entry per address, each with
                    // its own line.
                    let items: Vec<(String, Range<usize>)> = match v.get_ref() {
                        DeValue::Array(items) => items
                            .iter()
                            .map(|i| (scalar_text(i.get_ref()), i.span()))
                            .collect(),
                        other => vec![(list_items(other).join("\n"), v.span())],
                    };
                    for (value, span) in items {
                        env.resolver.push(ResolverEntry {
                            host: k.get_ref().to_string(),
                            value,
                            origin: ctx.origin(span),
                        });
                    }
                }
            }
            "vfs" => {
                let mut rules = Vec::new();
                let mut sandbox = None;
                for (k, v) in table {
                    let text = scalar_text(v.get_ref());
                    if k.get_ref() == "sandbox" {
                        sandbox = Some((text, v.span()));
                    } else if k.get_ref().starts_with('/') {
                        rules.push((PathBuf::from(k.get_ref().as_ref()), PathBuf::from(text)));
                    }
                }
                rules.sort_by_key(|(from, _)| std::cmp::Reverse(from.as_os_str().len()));
                match sandbox {
                    None => {}
                    Some((s, _)) if s == "Developer" => env.vfs = Vfs::Developer,
                    Some((s, _)) if s == "Map" => env.vfs = Vfs::Map(rules),
                    Some((s, span)) => ctx.invalid(span, "sandbox", &s, "`Developer` or `Map`"),
                }
            }
            other => {
                let origin = ctx.origin(key_span);
                ctx.errors.push(ConfigError::SuperfluousSection {
                    origin,
                    section: other.to_string(),
                });
            }
        }
    }
    // Host tables without `components` add their keys to a host of
    // `[hosts]` (see `Environment::add_to_host`).
    for (addition, sets_ignore) in additions {
        ctx.errors
            .extend(env.add_to_host(addition, sets_ignore).err());
    }
    ctx.errors
}

fn load_host(
    ctx: &mut Ctx<'_>,
    env: &mut Environment,
    key: &Spanned<toml::de::DeString<'_>>,
    value: &Spanned<DeValue<'_>>,
) -> Option<(HostConfig, bool, bool)> {
    let name = key.get_ref().to_string();
    let origin = ctx.origin(key.span());
    let Some(table) = value.get_ref().as_table() else {
        ctx.invalid(value.span(), &name, "", "a table describing the host");
        return None;
    };
    let mut host = HostConfig::new(name.clone(), origin.clone());
    let mut has_components = false;
    for (k, v) in table {
        let span = v.span();
        match k.get_ref().as_ref() {
            "components" => {
                has_components = true;
                host.components = parse_component_list(&list_items(v.get_ref()), &ctx.origin(span));
            }
            "ignore" | "require_sudo" => {
                let b = match v.get_ref() {
                    DeValue::Boolean(b) => Some(*b),
                    other => crate::convert::parse_bool(&scalar_text(other)),
                };
                match b {
                    Some(b) if k.get_ref() == "ignore" => host.ignore = b,
                    Some(b) => host.require_sudo = Some(b),
                    None => ctx.invalid(span, k.get_ref(), &scalar_text(v.get_ref()), "a boolean"),
                }
            }
            "platform" => host.platform = Some(scalar_text(v.get_ref())),
            "service_user" => host.service_user = Some(scalar_text(v.get_ref())),
            "tags" => host.tags = list_items(v.get_ref()),
            "data" => match v.get_ref().as_table() {
                Some(t) => {
                    for (dk, dv) in t {
                        host.data
                            .insert(dk.get_ref().to_string(), to_json(dv.get_ref()));
                    }
                }
                None => ctx.invalid(span, "data", &scalar_text(v.get_ref()), "a table"),
            },
            other => match other.strip_prefix("data-") {
                Some(dk) => {
                    host.data.insert(dk.to_string(), to_json(v.get_ref()));
                }
                None => env.warnings.push(LoadWarning {
                    origin: ctx.origin(k.span()),
                    message: format!("unknown key `{other}` in [host.{name}] is ignored"),
                }),
            },
        }
    }
    let sets_ignore = table.iter().any(|(k, _)| k.get_ref() == "ignore");
    Some((host, has_components, sets_ignore))
}

/// A list given as a TOML array, or as a string split like batou splits.
fn list_items(value: &DeValue<'_>) -> Vec<String> {
    match value {
        DeValue::Array(items) => items.iter().map(|i| scalar_text(i.get_ref())).collect(),
        other => split_list(&scalar_text(other)),
    }
}

/// A scalar as text (for settings, which are text in INI too).
fn scalar_text(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => s.to_string(),
        DeValue::Boolean(b) => if *b { "True" } else { "False" }.to_string(),
        other => match to_json(other) {
            serde_json::Value::String(s) => s,
            v => v.to_string(),
        },
    }
}

fn to_json(value: &DeValue<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        DeValue::String(s) => J::String(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            match i64::from_str_radix(&digits, i.radix()) {
                Ok(n) => J::from(n),
                Err(_) => J::String(i.to_string()),
            }
        }
        DeValue::Float(f) => {
            let text = f.as_str().replace('_', "");
            text.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(J::Number)
                .unwrap_or(J::String(text))
        }
        DeValue::Boolean(b) => J::Bool(*b),
        DeValue::Datetime(d) => J::String(d.to_string()),
        DeValue::Array(items) => J::Array(items.iter().map(|i| to_json(i.get_ref())).collect()),
        DeValue::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.get_ref().to_string(), to_json(v.get_ref())))
                .collect(),
        ),
    }
}
