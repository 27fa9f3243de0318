//! Reading an environment with its secrets, and configuring it: the first
//! half of every operation, written once.

use std::path::Path;

use crate::component::Registry;
use crate::configure::{ConfigureOptions, Model, configure};
use crate::environment::Environment;
use crate::error::ConfigError;
use crate::event::Event;
use crate::secrets::{Keys, Secrets};

use super::observe::{Observer, Step};

/// An environment with its secrets merged in, and what was wrong on the
/// way. Errors do not stop loading: configuring finds more, and a run
/// shows everything that is wrong at once.
pub struct Loaded {
    pub env: Environment,
    pub errors: Vec<ConfigError>,
    /// The secrets could not be decrypted or merged (their errors are in
    /// `errors`).
    pub secrets_failed: bool,
    /// The secrets could not be read at all (not decrypted, not parsed):
    /// the model lacks every secret value, so configuring it would report
    /// what is only missing because of that.
    pub secrets_unread: bool,
}

/// An environment read without errors and without secrets (say, parsed
/// from text).
impl From<Environment> for Loaded {
    fn from(env: Environment) -> Loaded {
        Loaded {
            env,
            errors: Vec::new(),
            secrets_failed: false,
            secrets_unread: false,
        }
    }
}

/// Reads environment `name` of the project and decrypts and merges its
/// secrets with `keys`. Warnings go to `observer` as events. `Err`:
/// nothing usable was read (a missing file, a syntax error).
pub fn load(
    project_dir: &Path,
    name: &str,
    registry: &Registry,
    keys: &mut Keys,
    observer: &mut dyn Observer,
) -> Result<Loaded, Vec<ConfigError>> {
    observer.step(Step::Loading { environment: name });
    let (env, mut errors) = Environment::load_partial(project_dir, name);
    let Some(mut env) = env else {
        return Err(errors);
    };
    for w in &env.warnings {
        let file = w
            .origin
            .file
            .strip_prefix(project_dir)
            .unwrap_or(&w.origin.file);
        observer.emit(Event::Warning {
            host: None,
            component: None,
            message: format!("{}:{}: {}", file.display(), w.origin.line, w.message),
        });
    }
    observer.step(Step::LoadingSecrets);
    let mut secrets_failed = false;
    let mut secrets_unread = false;
    match Secrets::load(project_dir, &env.name, keys) {
        Ok(Some(secrets)) => {
            let more = crate::secrets::apply(&mut env, &secrets, registry);
            observer.step(Step::Secrets(env.secrets.masker()));
            secrets_failed = !more.is_empty();
            errors.extend(more);
        }
        Ok(None) => {}
        Err(e) => {
            errors.push(e.into());
            secrets_failed = true;
            secrets_unread = true;
        }
    }
    Ok(Loaded {
        env,
        errors,
        secrets_failed,
        secrets_unread,
    })
}

/// Every error of an environment whose secrets failed: the secrets'
/// own, the loading errors, and those of the model (batou stops at the
/// secrets; a run shows everything wrong at once). Secrets that could not
/// be read at all leave the model without their values, so then only the
/// names it uses are checked (hosts' components, override sections,
/// `[resolver]`), which do not depend on them.
pub fn secrets_failed_errors(
    loaded: Loaded,
    registry: &Registry,
    options: &ConfigureOptions,
) -> Vec<ConfigError> {
    let mut errors = if loaded.secrets_unread {
        let mut errors = loaded.errors;
        errors.extend(crate::configure::check_names(&loaded.env, registry));
        errors
    } else {
        match configure_loaded(loaded, registry, options) {
            Err(errors) => errors,
            Ok(_) => Vec::new(),
        }
    };
    errors.sort_by_key(ConfigError::sort_key);
    errors
}

/// Configures what [`load`] read. `Err` holds the loading errors and
/// then (sorted with them) the model's.
pub fn configure_loaded(
    loaded: Loaded,
    registry: &Registry,
    options: &ConfigureOptions,
) -> Result<Model, Vec<ConfigError>> {
    let Loaded {
        env, mut errors, ..
    } = loaded;
    match configure(env, registry, options) {
        Ok(model) if errors.is_empty() => Ok(model),
        Ok(_) => Err(errors),
        Err(more) => {
            errors.extend(more);
            errors.sort_by_key(ConfigError::sort_key);
            Err(errors)
        }
    }
}
