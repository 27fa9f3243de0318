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
    if !output.status.success() {
        return Err(SecretsError::Gpg {
            command,
            code: output.status.code(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(output.stdout)
}

/// `gpg --batch --decrypt FILE`; `home` overrides `GNUPGHOME`.
pub fn decrypt(file: &Path, home: Option<&Path>) -> Result<Vec<u8>, SecretsError> {
    run(
        &[
            "--batch".into(),
            "--quiet".into(),
            "--decrypt".into(),
            file.display().to_string(),
        ],
        None,
        home,
    )
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
