//! gpg through the `gpg` binary (else `gpg2`), as batou: it brings the
//! user's keyring, agent, pinentry and smartcards. `GNUPGHOME` is honoured
//! because gpg reads it itself.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::error::SecretsError;

fn binary() -> &'static str {
    static BINARY: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        for candidate in ["gpg", "gpg2"] {
            let ok = Command::new(candidate)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return candidate;
            }
        }
        "gpg"
    })
}

fn run(
    args: &[String],
    input: Option<&[u8]>,
    home: Option<&Path>,
) -> Result<Vec<u8>, SecretsError> {
    run_with_stderr(args, input, home).map(|(stdout, _)| stdout)
}

/// Runs gpg; on success its stdout and stderr. Machine-readable status
/// lines (`--status-fd 2`) are left out of the stderr shown in errors.
fn run_with_stderr(
    args: &[String],
    input: Option<&[u8]>,
    home: Option<&Path>,
) -> Result<(Vec<u8>, String), SecretsError> {
    let program = binary();
    let command = format!("{program} {}", args.join(" "));
    let mut cmd = Command::new(program);
    if let Some(home) = home {
        cmd.env("GNUPGHOME", home);
    }
    let mut child = cmd
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| SecretsError::Spawn {
            program: program.to_string(),
            source,
        })?;
    let stdin = child.stdin.take();
    // Feed stdin from a thread: gpg may fill the stdout pipe before it has
    // read all input.
    let output = std::thread::scope(|s| {
        if let (Some(data), Some(mut stdin)) = (input, stdin) {
            // A write error shows up as gpg's own failure below.
            s.spawn(move || {
                let _ = stdin.write_all(data);
            });
        }
        child.wait_with_output()
    })
    .map_err(|source| SecretsError::Spawn {
        program: program.to_string(),
        source,
    })?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        let shown: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.starts_with("[GNUPG:]"))
            .collect();
        return Err(SecretsError::Gpg {
            command,
            code: output.status.code(),
            stderr: shown.join("\n").trim().to_string(),
        });
    }
    Ok((output.stdout, stderr))
}

/// `gpg --batch --decrypt FILE`; `home` overrides `GNUPGHOME`.
///
/// gpg also "decrypts" an OpenPGP message that was never encrypted (a bare
/// literal or compressed packet) and exits 0; such a file is refused, so
/// secrets always come from a file encrypted to the members.
pub fn decrypt(file: &Path, home: Option<&Path>) -> Result<Vec<u8>, SecretsError> {
    let (plain, stderr) = run_with_stderr(
        &[
            "--batch".into(),
            "--quiet".into(),
            "--status-fd".into(),
            "2".into(),
            "--decrypt".into(),
            file.display().to_string(),
        ],
        None,
        home,
    )?;
    if !stderr
        .lines()
        .any(|l| l.starts_with("[GNUPG:] DECRYPTION_OKAY"))
    {
        return Err(SecretsError::Corrupted {
            file: file.to_path_buf(),
            message: "gpg found no encrypted data in it".into(),
        });
    }
    Ok(plain)
}

/// `gpg --batch --encrypt -r M…`, cleartext on stdin, ciphertext returned.
pub fn encrypt(
    plaintext: &[u8],
    members: &[String],
    file: &Path,
    home: Option<&Path>,
) -> Result<Vec<u8>, SecretsError> {
    if members.is_empty() {
        return Err(SecretsError::NoRecipients {
            file: file.to_path_buf(),
        });
    }
    let mut args: Vec<String> = vec!["--batch".into(), "--quiet".into(), "--encrypt".into()];
    for m in members {
        args.push("-r".into());
        args.push(m.trim().to_string());
    }
    args.push("-o".into());
    args.push("-".into());
    run(&args, Some(plaintext), home)
}

/// The key ids `file` is encrypted to, read from gpg's status output
/// (`ENC_TO`) without decrypting anything.
pub fn recipients(
    file: &Path,
    home: Option<&Path>,
) -> Result<std::collections::BTreeSet<String>, SecretsError> {
    let program = binary();
    let mut cmd = Command::new(program);
    if let Some(home) = home {
        cmd.env("GNUPGHOME", home);
    }
    let output = cmd
        .args(["--batch", "--status-fd", "1", "--list-only", "--decrypt"])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| SecretsError::Spawn {
            program: program.to_string(),
            source,
        })?;
    // --list-only may end non-zero (nothing was decrypted); the status
    // lines are what counts.
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("[GNUPG:] ENC_TO "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_uppercase)
        .collect())
}

/// For each member, the ids of its key and subkeys.
pub fn member_key_ids(
    members: &[String],
    home: Option<&Path>,
) -> Result<Vec<std::collections::BTreeSet<String>>, SecretsError> {
    members
        .iter()
        .map(|m| {
            let listing = run(
                &[
                    "--batch".into(),
                    "--with-colons".into(),
                    "--list-keys".into(),
                    m.trim().to_string(),
                ],
                None,
                home,
            )?;
            Ok(String::from_utf8_lossy(&listing)
                .lines()
                .filter(|l| l.starts_with("pub:") || l.starts_with("sub:"))
                .filter_map(|l| l.split(':').nth(4))
                .map(str::to_uppercase)
                .collect())
        })
        .collect()
}

/// Whether `file` is encrypted to exactly the members' keys: every member
/// has a key among the recipients, and every recipient belongs to a
/// member. Anything unreadable counts as changed (re-encrypting is safe).
pub fn keys_changed(file: &Path, members: &[String], home: Option<&Path>) -> bool {
    let (Ok(recipients), Ok(members)) = (recipients(file, home), member_key_ids(members, home))
    else {
        return true;
    };
    let every_member_covered = members
        .iter()
        .all(|ids| ids.iter().any(|id| recipients.contains(id)));
    let no_stranger = recipients
        .iter()
        .all(|r| members.iter().any(|ids| ids.contains(r)));
    !(every_member_covered && no_stranger)
}
