//! Finding an environment's file.

use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// The candidate files for environment `name`, in the order batou users
/// know them.
fn candidates(project_dir: &Path, name: &str) -> Vec<PathBuf> {
    let dir = project_dir.join("environments");
    vec![
        dir.join(name).join("environment.cfg"),
        dir.join(format!("{name}.cfg")),
        dir.join(name).join("environment.toml"),
        dir.join(format!("{name}.toml")),
    ]
}

/// The one file that defines environment `name`. None, or more than one,
/// is an error.
pub fn locate(project_dir: &Path, name: &str) -> Result<PathBuf, ConfigError> {
    let all = candidates(project_dir, name);
    let valid_name = !name.is_empty()
        && !name.contains('/')
        && !name.contains('\\')
        && name != "."
        && name != "..";
    let found: Vec<PathBuf> = if valid_name {
        all.iter().filter(|p| p.is_file()).cloned().collect()
    } else {
        Vec::new()
    };
    match found.len() {
        1 => Ok(found.into_iter().next().expect("one element")),
        0 => Err(ConfigError::MissingEnvironment {
            name: name.to_string(),
            searched: all,
        }),
        _ => Err(ConfigError::AmbiguousEnvironment {
            name: name.to_string(),
            files: found,
        }),
    }
}

/// Every environment defined in the project, sorted.
pub fn environment_names(project_dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let Ok(entries) = std::fs::read_dir(project_dir.join("environments")) else {
        return names;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if path.join("environment.cfg").is_file() || path.join("environment.toml").is_file() {
                names.push(file_name);
            }
        } else if let Some(stem) = file_name
            .strip_suffix(".cfg")
            .or_else(|| file_name.strip_suffix(".toml"))
        {
            names.push(stem.to_string());
        }
    }
    names.sort();
    names.dedup();
    names
}
