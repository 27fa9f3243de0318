//! `show` and `graph`: an environment loaded and configured as `deploy -c`
//! does, described instead of deployed. No host is touched.

use std::path::Path;

use crate::component::Registry;
use crate::configure::{ConfigureOptions, Model};
use crate::error::ConfigError;
use crate::secrets::{Keys, Masker};
use crate::show::{Description, Graph, describe, graph};

use super::load::{configure_loaded, load};
use super::observe::Quiet;
use super::plan::Connect;

/// The environment or model is wrong; `masker` redacts the secrets that
/// were decrypted before that was found.
#[derive(Debug)]
pub struct Rejected {
    pub errors: Vec<ConfigError>,
    pub masker: Masker,
}

/// `batou show ENV`: the merged environment with where every value came
/// from, and the masker for what is printed of it.
pub fn show(
    registry: &Registry,
    project_dir: &Path,
    environment: &str,
    platform: Option<&str>,
    keys: &mut Keys,
) -> Result<(Description, Masker), Rejected> {
    let model = model(registry, project_dir, environment, platform, keys)?;
    let masker = model.env.secrets.masker().clone();
    Ok((describe(&model.env, platform), masker))
}

/// What `batou graph` shows.
pub struct Graphed {
    pub graph: Graph,
    /// The environment's name.
    pub environment: String,
    /// Redacts the secrets a component's name may quote.
    pub masker: Masker,
}

/// `batou graph ENV`: the cross-host dependency graph.
pub fn graph_of(
    registry: &Registry,
    project_dir: &Path,
    environment: &str,
    keys: &mut Keys,
) -> Result<Graphed, Rejected> {
    let model = model(registry, project_dir, environment, None, keys)?;
    Ok(Graphed {
        graph: graph(&model),
        environment: model.env.name.clone(),
        masker: model.env.secrets.masker().clone(),
    })
}

/// Loads (with secrets) and configures `environment`, collecting every
/// error of both.
fn model(
    registry: &Registry,
    project_dir: &Path,
    environment: &str,
    platform: Option<&str>,
    keys: &mut Keys,
) -> Result<Model, Rejected> {
    let loaded =
        load(project_dir, environment, registry, keys, &mut Quiet).map_err(|errors| Rejected {
            errors,
            masker: Masker::default(),
        })?;
    let masker = loaded.env.secrets.masker().clone();
    let options = ConfigureOptions {
        platform: platform.map(str::to_string),
        lenient_dns: Connect::of(&loaded.env.settings).is_remote(),
        ..Default::default()
    };
    configure_loaded(loaded, registry, &options).map_err(|errors| Rejected { errors, masker })
}
