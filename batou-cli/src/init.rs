//! `batou init [DIR]`: scaffolds a deployment project that deploys
//! locally right away — a cargo workspace depending on batou, a
//! `components` crate with one example component and its template,
//! `environments/local.cfg`, the `./batou` script and a `.gitignore`.
//!
//! batou is not on crates.io, so the workspace uses path dependencies on a
//! batou checkout: by default the one this binary was built from (known at
//! compile time), else `--batou-path` / `BATOU_SOURCE`. Its `Cargo.lock`
//! is copied, so the new project builds with the dependency versions batou
//! was tested with.

use std::path::{Path, PathBuf};

use crate::args::InitArgs;
use crate::exit::ExitStatus;

/// The files of a new project: (path, text, executable).
const FILES: &[(&str, &str, bool)] = &[
    (
        "Cargo.toml",
        include_str!("../scaffold/Cargo.toml.in"),
        false,
    ),
    (
        "components/Cargo.toml",
        include_str!("../scaffold/components.Cargo.toml.in"),
        false,
    ),
    (
        "components/src/main.rs",
        include_str!("../scaffold/main.rs.in"),
        false,
    ),
    (
        "components/src/lib.rs",
        include_str!("../scaffold/lib.rs.in"),
        false,
    ),
    (
        "components/src/hello.rs",
        include_str!("../scaffold/hello.rs.in"),
        false,
    ),
    (
        "components/templates/hello.txt",
        include_str!("../scaffold/hello.txt.in"),
        false,
    ),
    (
        "environments/local.cfg",
        include_str!("../scaffold/local.cfg.in"),
        false,
    ),
    (
        ".gitignore",
        include_str!("../scaffold/gitignore.in"),
        false,
    ),
    ("batou", include_str!("../scaffold/batou.in"), true),
];

/// Why `init` failed: all exit 2 (the DIR or checkout given cannot be
/// used); all but `Write` are found before anything is written.
#[derive(Debug, thiserror::Error)]
enum InitError {
    #[error("{0} is not empty; `batou init` only scaffolds into an empty or new directory")]
    NotEmpty(PathBuf),
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    #[error(
        "{0} is not a batou checkout (no batou-core/Cargo.toml and batou-cli/Cargo.toml); \
         pass the checkout with --batou-path or BATOU_SOURCE"
    )]
    NotACheckout(PathBuf),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

/// The checkout this binary was built from: batou-cli's parent.
fn built_from() -> PathBuf {
    let cli = Path::new(env!("CARGO_MANIFEST_DIR"));
    cli.parent().unwrap_or(cli).to_path_buf()
}

/// `batou init`.
pub fn run(opts: &InitArgs) -> ExitStatus {
    match scaffold(opts) {
        Ok(dir) => {
            crate::guard::out(&format!(
                "Created a batou deployment in {}.\nNext:\n  cd {}\n  ./batou deploy local",
                dir.display(),
                dir.display()
            ));
            ExitStatus::Success
        }
        Err(e) => {
            crate::guard::err(&format!("ERROR: {e}"));
            ExitStatus::Usage
        }
    }
}

fn scaffold(opts: &InitArgs) -> Result<PathBuf, InitError> {
    let checkout = opts.batou_path.clone().unwrap_or_else(built_from);
    let checkout = std::path::absolute(&checkout).unwrap_or(checkout);
    if !checkout.join("batou-core/Cargo.toml").is_file()
        || !checkout.join("batou-cli/Cargo.toml").is_file()
    {
        return Err(InitError::NotACheckout(checkout));
    }
    let dir = &opts.dir;
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(InitError::NotEmpty(dir.clone()));
            }
        }
        Err(_) if dir.exists() => return Err(InitError::NotADirectory(dir.clone())),
        Err(_) => {}
    }
    let write = |path: &Path, text: &str| -> Result<(), InitError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| InitError::Write(parent.into(), e))?;
        }
        std::fs::write(path, text).map_err(|e| InitError::Write(path.into(), e))
    };
    // A TOML basic string: backslashes and quotes escaped.
    let toml_path = checkout
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    for (path, text, executable) in FILES {
        let full = dir.join(path);
        write(&full, &text.replace("@BATOU_PATH@", &toml_path))?;
        if *executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| InitError::Write(full.clone(), e))?;
        }
    }
    // batou's lock: the same dependency versions as the checkout (cargo
    // drops batou's own workspace members from it on the first build).
    if let Ok(lock) = std::fs::read_to_string(checkout.join("Cargo.lock")) {
        write(&dir.join("Cargo.lock"), &lock)?;
    }
    Ok(std::path::absolute(dir).unwrap_or_else(|_| dir.clone()))
}
