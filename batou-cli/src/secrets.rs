//! `batou secrets …` (reference §1.4): summary, decrypttostdout, add,
//! remove, reencrypt and edit. The work is in `batou_core::secrets`; this
//! module talks to the user.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use batou_core::lock::ProjectLock;
use batou_core::secrets::edit;
use batou_core::secrets::manage::EnvSecrets;
use batou_core::secrets::{Layout, Provider, SecretsError};

use crate::args::{SecretsArgs, SecretsCommand};
use crate::exit::ExitStatus;

pub fn run(project_dir: &Path, args: &SecretsArgs) -> ExitStatus {
    let result = match &args.command {
        SecretsCommand::Summary => summary(project_dir),
        SecretsCommand::Decrypttostdout { file } => decrypt_to_stdout(file),
        SecretsCommand::Add { key, environments } => {
            change_members(project_dir, environments.as_deref(), |m| {
                if !m.contains(key) {
                    m.push(key.clone());
                }
            })
        }
        SecretsCommand::Remove { key, environments } => {
            change_members(project_dir, environments.as_deref(), |m| {
                m.retain(|x| x != key)
            })
        }
        SecretsCommand::Reencrypt {
            force,
            environments,
        } => reencrypt(project_dir, environments.as_deref(), *force),
        SecretsCommand::Edit {
            editor,
            environment,
            edit_file,
        } => edit(
            project_dir,
            environment,
            edit_file.as_deref(),
            editor.as_deref(),
        ),
    };
    match result {
        Ok(status) => status,
        Err(e) => {
            crate::guard::err(&format!("ERROR: {e}"));
            if let Some(hint) = e.hint() {
                crate::guard::err(&format!("  help: {hint}"));
            }
            ExitStatus::Config
        }
    }
}

/// Environments with their own directory (only those can have secrets).
fn env_dirs(project_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(project_dir.join("environments"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `--environments a,b`, checked; default: every environment.
fn selected(project_dir: &Path, list: Option<&str>) -> Result<Vec<String>, SecretsError> {
    let all = env_dirs(project_dir);
    let Some(list) = list else { return Ok(all) };
    let wanted: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let unknown: Vec<String> = wanted
        .iter()
        .filter(|w| !all.contains(w))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(SecretsError::UnknownEnvironment { names: unknown });
    }
    Ok(wanted)
}

fn summary(project_dir: &Path) -> Result<ExitStatus, SecretsError> {
    let mut status = ExitStatus::Success;
    let mut keys = crate::prompt::keys();
    let mut out = String::new();
    for name in env_dirs(project_dir) {
        let s = match EnvSecrets::open(project_dir, &name, &mut keys) {
            Ok(s) => s,
            Err(e) => {
                crate::guard::err(&format!("{name}: ERROR: {e}"));
                status = ExitStatus::Config;
                continue;
            }
        };
        out.push_str(&format!("{name}\n\t members\n"));
        let members = s.members().unwrap_or_default();
        push_list(&mut out, &members);
        out.push_str("\t secret files\n");
        push_list(&mut out, &s.files.keys().cloned().collect::<Vec<_>>());
        out.push('\n');
    }
    if !out.is_empty() {
        crate::guard::out(out.strip_suffix('\n').unwrap_or(&out));
    }
    Ok(status)
}

fn push_list(out: &mut String, items: &[String]) {
    if items.is_empty() {
        out.push_str("\t\t(none)\n");
    }
    for i in items {
        out.push_str(&format!("\t\t- {i}\n"));
    }
}

fn decrypt_to_stdout(file: &Path) -> Result<ExitStatus, SecretsError> {
    let provider = Provider::from_path(file).ok_or_else(|| SecretsError::Corrupted {
        file: file.to_path_buf(),
        message: "unknown suffix (expected .age, .age-diffable or .gpg)".into(),
    })?;
    let bytes = crate::prompt::keys().decrypt(file, provider)?;
    let mut stdout = std::io::stdout().lock();
    if bytes.is_empty() {
        let _ = writeln!(stdout, "(unable to decrypt content)");
    } else {
        let _ = stdout.write_all(&bytes);
    }
    Ok(ExitStatus::Success)
}

fn change_members(
    project_dir: &Path,
    environments: Option<&str>,
    change: impl Fn(&mut Vec<String>),
) -> Result<ExitStatus, SecretsError> {
    for_each_environment(project_dir, environments, |name, s| {
        let mut members = s.members()?;
        change(&mut members);
        let text = s.with_members(&members)?;
        if s.update(&text, false)? {
            crate::guard::out(&format!(
                "{name}: re-encrypted for {} member(s)",
                members.len()
            ));
        }
        Ok(())
    })
}

fn reencrypt(
    project_dir: &Path,
    environments: Option<&str>,
    force: bool,
) -> Result<ExitStatus, SecretsError> {
    for_each_environment(project_dir, environments, |name, s| {
        let text = s.cleartext.clone();
        if s.update(&text, force)? {
            crate::guard::out(&format!("{name}: re-encrypted"));
        } else {
            crate::guard::out(&format!(
                "{name}: keys unchanged, not re-encrypting (use --force)"
            ));
        }
        Ok(())
    })
}

/// Runs `f` on the secrets of every selected environment that has a
/// secrets config, each under its edit lock.
fn for_each_environment(
    project_dir: &Path,
    environments: Option<&str>,
    mut f: impl FnMut(&str, &mut EnvSecrets) -> Result<(), SecretsError>,
) -> Result<ExitStatus, SecretsError> {
    let mut keys = crate::prompt::keys();
    for name in selected(project_dir, environments)? {
        let env_dir = project_dir.join("environments").join(&name);
        let _lock = lock(&env_dir)?;
        let mut s = EnvSecrets::open(project_dir, &name, &mut keys)?;
        if s.layout.config.is_some() {
            f(&name, &mut s)?;
        }
    }
    Ok(ExitStatus::Success)
}

/// One `secrets edit` at a time per environment (a kernel lock: it goes
/// away with the process).
fn lock(env_dir: &Path) -> Result<ProjectLock, SecretsError> {
    ProjectLock::acquire(env_dir).map_err(|_| SecretsError::Locked {
        file: env_dir.join(".batou-lock"),
    })
}

/// Saves an edit: the secrets config (`edit_file` `None`) or a
/// whole-file secret.
fn save(s: &mut EnvSecrets, edit_file: Option<&str>, edited: Vec<u8>) -> Result<(), SecretsError> {
    match edit_file {
        None => match String::from_utf8(edited) {
            Ok(text) => s.update(&text, false).map(|_| ()),
            Err(_) => Err(SecretsError::NotText {
                file: s.config_path.clone(),
            }),
        },
        Some(name) => s.members().and_then(|m| s.write_file(name, &edited, &m)),
    }
}

/// After a SIGHUP or SIGTERM during the edit: what the editor saved is
/// re-encrypted if it is valid, else the user is told it is discarded.
/// Exits 128 + the signal, as a process that signal ended would.
fn after_signal(
    sig: i32,
    s: &mut EnvSecrets,
    edit_file: Option<&str>,
    edited: Vec<u8>,
    original: &[u8],
) -> ExitStatus {
    let name = edit::signal_name(sig);
    if edited == original {
        crate::guard::err(&format!("batou: {name} received; nothing was changed."));
    } else {
        match save(s, edit_file, edited) {
            Ok(()) => crate::guard::err(&format!(
                "batou: {name} received; the edit saved before it was re-encrypted."
            )),
            Err(e) => crate::guard::err(&format!(
                "batou: {name} received; the saved edit is not valid and was discarded: {e}"
            )),
        }
    }
    ExitStatus::Code(128 + sig)
}

fn edit(
    project_dir: &Path,
    environment: &str,
    edit_file: Option<&str>,
    editor: Option<&str>,
) -> Result<ExitStatus, SecretsError> {
    let env_dir = project_dir.join("environments").join(environment);
    if Layout::locate(project_dir, environment)?.is_none() {
        return Err(SecretsError::UnknownEnvironment {
            names: vec![environment.to_string()],
        });
    }
    let _lock = lock(&env_dir)?;
    let mut s = EnvSecrets::open(project_dir, environment, &mut crate::prompt::keys())?;
    let editor = editor
        .map(str::to_string)
        .or_else(|| std::env::var("EDITOR").ok())
        .unwrap_or_else(|| "vi".into());
    let original: Vec<u8> = match edit_file {
        None => s.cleartext.clone().into_bytes(),
        Some(name) => {
            if s.layout.config.is_none() {
                crate::guard::err(&format!(
                    "ERROR: environment `{environment}` has no secrets config yet; run `batou secrets edit {environment}` first"
                ));
                return Ok(ExitStatus::Config);
            }
            s.files
                .get(name)
                .map(|(_, b)| b.clone())
                .unwrap_or_default()
        }
    };
    let suffix = match edit_file {
        None => ".cfg".to_string(),
        Some(name) => Path::new(name)
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default(),
    };
    // From here until `scratch` is dropped the cleartext is on disk: the
    // signals that would end batou are caught (see `secrets::edit`).
    let signals = edit::Signals::catch();
    let scratch = edit::Scratch::create()?;
    let tmp = scratch.write(&format!("secrets{suffix}"), &original)?;
    loop {
        let end = edit::run_editor(&editor, &tmp, &signals)?;
        let edited = std::fs::read(&tmp).map_err(|source| SecretsError::Read {
            file: tmp.clone(),
            source,
        })?;
        if let Some(sig) = signals.received() {
            return Ok(after_signal(sig, &mut s, edit_file, edited, &original));
        }
        let failed = match end {
            edit::EditorEnd::Exited(0) => None,
            edit::EditorEnd::Exited(code) => Some(format!("exited with code {code}")),
            edit::EditorEnd::Killed(sig) => Some(format!("ended by {}", edit::signal_name(sig))),
        };
        if let Some(how) = failed {
            return Err(SecretsError::Spawn {
                program: editor,
                source: std::io::Error::other(format!(
                    "the editor {how}; its changes (if any) were discarded"
                )),
            });
        }
        if edited == original {
            crate::guard::out("No changes from original cleartext. Not updating.");
            return Ok(ExitStatus::Success);
        }
        match save(&mut s, edit_file, edited) {
            Ok(()) => return Ok(ExitStatus::Success),
            Err(e) => {
                crate::guard::err(&format!("ERROR: {e}"));
                if !std::io::stdin().is_terminal() || !ask_again()? || signals.received().is_some()
                {
                    // `scratch` is dropped here: nothing stays in the clear.
                    crate::guard::err("The edit was discarded.");
                    return Ok(ExitStatus::Config);
                }
            }
        }
    }
}

fn ask_again() -> Result<bool, SecretsError> {
    crate::guard::err_prompt("Edit again to fix it? [Y/n] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|source| SecretsError::Read {
            file: PathBuf::from("<stdin>"),
            source,
        })?;
    Ok(!answer.trim().eq_ignore_ascii_case("n"))
}
