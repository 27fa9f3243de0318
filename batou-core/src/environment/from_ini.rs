//! Loading batou's INI environment format (reference §2).

use std::path::PathBuf;

use super::{
    AttributeOverride, ComponentOverrides, Environment, HostConfig, LoadWarning, ResolverEntry,
    Vfs, parse_component_list,
};
use crate::convert::{OverrideValue, parse_bool, split_list};
use crate::error::{ConfigError, Origin};
use crate::ini::{self, Entry};

/// Fills `env` from INI text; returns every problem found.
pub(super) fn load(env: &mut Environment, source: &str) -> Vec<ConfigError> {
    let file = env.file.clone();
    let doc = match ini::parse(source) {
        Ok(doc) => doc,
        Err(e) => {
            return vec![ConfigError::Syntax {
                origin: Origin::new(&file, e.line, Some(e.span.clone())),
                message: e.to_string(),
            }];
        }
    };
    // A value's line is where its text starts: for `key =` followed by
    // indented lines, the first continuation line, so that `at FILE:LINE`
    // and the excerpt (which underlines `value_span`) agree.
    let value_line = |e: &Entry| {
        e.value_lines
            .iter()
            .find(|l| l.span.contains(&e.value_span.start))
            .map_or(e.line, |l| l.line)
    };
    let at = |e: &Entry| Origin::new(&file, value_line(e), Some(e.value_span.clone()));
    let at_key = |e: &Entry| Origin::new(&file, e.line, Some(e.key_span.clone()));
    let mut errors = Vec::new();
    // `[host:NAME]` sections without `components`: they add their keys to
    // a host of `[hosts]` (which may come later in the file).
    let mut additions = Vec::new();

    for (name, section) in &doc.sections {
        let section_origin = Origin::new(&file, section.line, Some(section.span.clone()));
        let items = doc.items(name).unwrap_or_default();
        match name.as_str() {
            "environment" => {
                for e in &items {
                    match env.settings.set(&e.key, &e.value, &at(e)) {
                        Ok(true) => {}
                        Ok(false) => env.warnings.push(LoadWarning {
                            origin: at_key(e),
                            message: format!("unknown key `{}` in [environment] is ignored", e.key),
                        }),
                        Err(err) => errors.push(err),
                    }
                }
            }
            "hosts" => {
                for e in &items {
                    let (ignore, host) = match e.key.strip_prefix('!') {
                        Some(h) => (true, h.trim().to_string()),
                        None => (false, e.key.clone()),
                    };
                    let origin = at_key(e);
                    let components = parse_component_list(&split_list(&e.value), &at(e));
                    let added = env.add_host(HostConfig {
                        components,
                        ignore,
                        ..HostConfig::new(host, origin)
                    });
                    errors.extend(added.err());
                }
            }
            "resolver" => {
                // One entry per address, each with its own line: a value
                // may span lines, with comment lines in between.
                for e in &items {
                    for l in &e.value_lines {
                        let text = source.get(l.span.clone()).unwrap_or("").trim();
                        if text.is_empty() {
                            continue;
                        }
                        env.resolver.push(ResolverEntry {
                            host: e.key.clone(),
                            value: text.to_string(),
                            origin: Origin::new(&file, l.line, Some(l.span.clone())),
                        });
                    }
                }
            }
            "vfs" => match load_vfs(&items, &at) {
                Ok((vfs, warnings)) => {
                    env.vfs = vfs;
                    env.warnings.extend(warnings);
                }
                Err(err) => errors.push(err),
            },
            _ => {
                if let Some(host) = name.strip_prefix("host:") {
                    let (h, has_components) = load_host(
                        host,
                        &section_origin,
                        &items,
                        &at,
                        &at_key,
                        env,
                        &mut errors,
                    );
                    if has_components {
                        errors.extend(env.add_host(h).err());
                    } else {
                        let sets_ignore = items.iter().any(|e| e.key == "ignore");
                        additions.push((h, sets_ignore));
                    }
                } else if let Some(component) = name.strip_prefix("component:") {
                    let values = items
                        .iter()
                        .map(|e| {
                            (
                                e.key.clone(),
                                AttributeOverride {
                                    value: OverrideValue::Text(e.value.clone()),
                                    origin: at(e),
                                    secret: false,
                                },
                            )
                        })
                        .collect();
                    env.overrides.insert(
                        component.trim().to_string(),
                        ComponentOverrides {
                            origin: section_origin,
                            values,
                        },
                    );
                } else if name.starts_with("provisioner:") {
                    env.warnings.push(LoadWarning {
                        origin: section_origin,
                        message: format!(
                            "[{name}]: provisioners are not supported and are ignored"
                        ),
                    });
                } else {
                    errors.push(ConfigError::SuperfluousSection {
                        origin: section_origin,
                        section: name.clone(),
                    });
                }
            }
        }
    }
    for (addition, sets_ignore) in additions {
        errors.extend(env.add_to_host(addition, sets_ignore).err());
    }
    errors
}

/// The host a `[host:NAME]` section describes, and whether it has a
/// `components` key.
#[allow(clippy::too_many_arguments)]
fn load_host(
    name: &str,
    section_origin: &Origin,
    items: &[&Entry],
    at: &dyn Fn(&Entry) -> Origin,
    at_key: &dyn Fn(&Entry) -> Origin,
    env: &mut Environment,
    errors: &mut Vec<ConfigError>,
) -> (HostConfig, bool) {
    let mut host = HostConfig::new(name.trim(), section_origin.clone());
    let mut has_components = false;
    let boolean = |e: &Entry, errors: &mut Vec<ConfigError>| -> Option<bool> {
        let b = parse_bool(&e.value);
        if b.is_none() {
            errors.push(ConfigError::InvalidValue {
                origin: at(e),
                key: e.key.clone(),
                value: e.value.clone(),
                expected: "a boolean (True/False/yes/no/1/0)".into(),
            });
        }
        b
    };
    for e in items {
        match e.key.as_str() {
            "components" => {
                has_components = true;
                host.components = parse_component_list(&split_list(&e.value), &at(e));
            }
            "ignore" => host.ignore = boolean(e, errors).unwrap_or(false),
            "platform" => host.platform = Some(e.value.clone()),
            "service_user" => host.service_user = Some(e.value.clone()),
            "require_sudo" => host.require_sudo = boolean(e, errors),
            "tags" => host.tags = split_list(&e.value),
            "provisioner" | "provision-dynamic-hostname" | "provision-aliases" => {
                env.warnings.push(LoadWarning {
                    origin: at_key(e),
                    message: format!("`{}`: provisioning is not supported and is ignored", e.key),
                })
            }
            key => match key.strip_prefix("data-") {
                Some(data_key) => {
                    host.data.insert(
                        data_key.to_string(),
                        serde_json::Value::String(e.value.clone()),
                    );
                }
                None => env.warnings.push(LoadWarning {
                    origin: at_key(e),
                    message: format!("unknown key `{key}` in [host:{name}] is ignored"),
                }),
            },
        }
    }
    (host, has_components)
}

fn load_vfs(
    items: &[&Entry],
    at: &dyn Fn(&Entry) -> Origin,
) -> Result<(Vfs, Vec<LoadWarning>), ConfigError> {
    let mut sandbox = None;
    let mut rules = Vec::new();
    let mut warnings = Vec::new();
    for e in items {
        if e.key == "sandbox" {
            sandbox = Some(*e);
        } else if e.key.starts_with('/') {
            rules.push((PathBuf::from(&e.key), PathBuf::from(e.value.trim())));
        } else {
            warnings.push(LoadWarning {
                origin: at(e),
                message: format!("unknown key `{}` in [vfs] is ignored", e.key),
            });
        }
    }
    let Some(sandbox) = sandbox else {
        return Ok((Vfs::None, warnings));
    };
    match sandbox.value.trim() {
        "Developer" => Ok((Vfs::Developer, warnings)),
        "Map" => {
            // Longest prefix first, so /srv/www wins over /srv.
            rules.sort_by_key(|(from, _)| std::cmp::Reverse(from.as_os_str().len()));
            Ok((Vfs::Map(rules), warnings))
        }
        other => Err(ConfigError::InvalidValue {
            origin: at(sandbox),
            key: "sandbox".into(),
            value: other.to_string(),
            expected: "`Developer` or `Map`".into(),
        }),
    }
}
