//! `batou secrets …` (reference §1.4): summary, decrypttostdout, add,
//! remove, reencrypt and edit. The work is in [`batou_core::ops::secrets`];
//! this module asks for keys, runs the editor and prints.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use batou_core::ops::secrets::{self as ops, EditStart, Editing, MemberChange, Reencrypted};
use batou_core::secrets::SecretsError;
use batou_core::secrets::edit;

use crate::args::{SecretsArgs, SecretsCommand};
use crate::exit::ExitStatus;

pub fn run(project_dir: &Path, args: &SecretsArgs) -> ExitStatus {
    let mut keys = crate::prompt::keys();
    let result = match &args.command {
        SecretsCommand::Summary => Ok(summary(project_dir)),
        SecretsCommand::Decrypttostdout { file } => {
            ops::decrypt(file, &mut keys).map(|bytes| decrypted(&bytes))
        }
        SecretsCommand::Add { key, environments } => ops::change_members(
            project_dir,
            environments.as_deref(),
            &MemberChange::Add(key.clone()),
            &mut keys,
            &mut members_changed,
        )
        .map(|()| ExitStatus::Success),
        SecretsCommand::Remove { key, environments } => ops::change_members(
            project_dir,
            environments.as_deref(),
            &MemberChange::Remove(key.clone()),
            &mut keys,
            &mut members_changed,
        )
        .map(|()| ExitStatus::Success),
        SecretsCommand::Reencrypt {
            force,
            environments,
        } => ops::reencrypt(
            project_dir,
            environments.as_deref(),
            *force,
            &mut keys,
            &mut reencrypted,
        )
        .map(|()| ExitStatus::Success),
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

fn summary(project_dir: &Path) -> ExitStatus {
    let mut status = ExitStatus::Success;
    let mut out = String::new();
    for (name, membership) in ops::summary(project_dir, &mut crate::prompt::keys()) {
        let m = match membership {
            Ok(m) => m,
            Err(e) => {
                crate::guard::err(&format!("{name}: ERROR: {e}"));
                status = ExitStatus::Config;
                continue;
            }
        };
        out.push_str(&format!("{name}\n\t members\n"));
        push_list(&mut out, &m.members);
        out.push_str("\t secret files\n");
        push_list(&mut out, &m.files);
        out.push('\n');
    }
    if !out.is_empty() {
        crate::guard::out(out.strip_suffix('\n').unwrap_or(&out));
    }
    status
}

fn push_list(out: &mut String, items: &[String]) {
    if items.is_empty() {
        out.push_str("\t\t(none)\n");
    }
    for i in items {
        out.push_str(&format!("\t\t- {i}\n"));
    }
}

/// The cleartext itself is the output: it goes to stdout unaltered.
fn decrypted(bytes: &[u8]) -> ExitStatus {
    let mut stdout = std::io::stdout().lock();
    if bytes.is_empty() {
        let _ = writeln!(stdout, "(unable to decrypt content)");
    } else {
        let _ = stdout.write_all(bytes);
    }
    ExitStatus::Success
}

fn members_changed(r: Reencrypted) {
    if r.written {
        crate::guard::out(&format!(
            "{}: re-encrypted for {} member(s)",
            r.environment, r.members
        ));
    }
}

fn reencrypted(r: Reencrypted) {
    if r.written {
        crate::guard::out(&format!("{}: re-encrypted", r.environment));
    } else {
        crate::guard::out(&format!(
            "{}: keys unchanged, not re-encrypting (use --force)",
            r.environment
        ));
    }
}

/// After a SIGHUP or SIGTERM during the edit: what the editor saved is
/// re-encrypted if it is valid, else the user is told it is discarded.
/// Exits 128 + the signal, as a process that signal ended would.
fn after_signal(sig: i32, editing: &mut Editing, edited: Vec<u8>, original: &[u8]) -> ExitStatus {
    let name = edit::signal_name(sig);
    if edited == original {
        crate::guard::err(&format!("batou: {name} received; nothing was changed."));
    } else {
        match editing.save(edited) {
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
    let start = ops::start_edit(
        project_dir,
        environment,
        edit_file,
        &mut crate::prompt::keys(),
    )?;
    let (mut editing, original, suffix) = match start {
        EditStart::Edit {
            editing,
            original,
            suffix,
        } => (editing, original, suffix),
        EditStart::NoConfigYet => {
            crate::guard::err(&format!(
                "ERROR: environment `{environment}` has no secrets config yet; run `batou secrets edit {environment}` first"
            ));
            return Ok(ExitStatus::Config);
        }
    };
    let editor = editor
        .map(str::to_string)
        .or_else(|| std::env::var("EDITOR").ok())
        .unwrap_or_else(|| "vi".into());
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
            return Ok(after_signal(sig, &mut editing, edited, &original));
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
        match editing.save(edited) {
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
