//! Merging decrypted secrets into an [`Environment`] (batou's
//! `Environment.load_secrets`): overrides go where environment overrides
//! go, marked secret; `[host:X]` values into the host's data; whole files
//! and the masker into [`Environment::secrets`].

use super::Secrets;
use crate::component::Registry;
use crate::convert::OverrideValue;
use crate::environment::{AttributeOverride, ComponentOverrides, Environment};
use crate::error::ConfigError;

/// Merges `secrets` into `env`. Every problem is reported, none applied
/// half: on error `env` may hold part of the secrets but is not deployed.
pub fn apply(env: &mut Environment, secrets: &Secrets, registry: &Registry) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut secret_keys = Vec::new();
    if let Some(config) = &secrets.config {
        for (component, section) in &config.components {
            if !registry.contains(component) {
                errors.push(ConfigError::SuperfluousSecretsSection {
                    origin: section.origin.clone(),
                    component: component.clone(),
                    known: registry.names(),
                });
                continue;
            }
            let target =
                env.overrides
                    .entry(component.clone())
                    .or_insert_with(|| ComponentOverrides {
                        origin: section.origin.clone(),
                        values: Default::default(),
                    });
            for (key, value) in &section.values {
                if let Some(existing) = target.values.get(key) {
                    errors.push(ConfigError::DuplicateOverride {
                        origin: value.origin.clone(),
                        component: component.clone(),
                        key: key.clone(),
                        environment: existing.origin.clone(),
                    });
                    continue;
                }
                target.values.insert(
                    key.clone(),
                    AttributeOverride {
                        value: OverrideValue::Text(value.value.clone()),
                        origin: value.origin.clone(),
                        secret: true,
                    },
                );
                secret_keys.push((component.clone(), key.clone()));
            }
        }
        for (host, section) in &config.hosts {
            let Some(h) = env.hosts.get_mut(host) else {
                errors.push(ConfigError::UnknownHostSecretsSection {
                    origin: section.origin.clone(),
                    host: host.clone(),
                    known: env.hosts.keys().cloned().collect(),
                });
                continue;
            };
            for (key, value) in &section.values {
                h.data
                    .insert(key.clone(), serde_json::Value::String(value.value.clone()));
            }
        }
    }
    env.secrets = secrets.data_with_overrides(secret_keys);
    errors
}
