//! What the database families ([`super::postgres`], [`super::mysql`])
//! share: their connection settings are checked the same way, their
//! client runs on the target with the SQL on its stdin (never on its
//! command line), and a failing client's words reach the operator with
//! every secret-derived string (a password verifier or hash) masked.

use crate::component::Deploy;
use crate::error::{Error, Result};
use crate::host::{CommandErrorKind, CommandSpec};

/// Refuses connection settings that cannot be passed on safely as one
/// argument: empty, holding control characters, or taken for an option
/// (a leading `-`). `settings` are `(name, value)`; `what` names the
/// component in the error.
pub(super) fn check_settings(what: &str, settings: &[(&str, &Option<String>)]) -> Result<()> {
    for (key, value) in settings {
        if let Some(v) = value
            && (v.is_empty() || v.chars().any(char::is_control) || v.starts_with('-'))
        {
            return Err(Error::usage(format!(
                "{what}: invalid connection {key} `{}`",
                shown(v)
            )));
        }
    }
    Ok(())
}

/// The start of a client's argv: `client`, through `sudo -n -u USER --`
/// when it is to run as another system user.
pub(super) fn client_argv(run_as: Option<&str>, client: &str) -> Vec<String> {
    let mut argv: Vec<String> = Vec::new();
    if let Some(user) = run_as {
        argv.extend(["sudo", "-n", "-u", user, "--"].map(String::from));
    }
    argv.push(client.to_string());
    argv
}

/// Runs the client `spec` (`name` for the error: `psql`, `mysql`) and
/// returns its stdout. A failure says what the client said (stderr, or
/// stdout when stderr is empty), with each of `masked` replaced.
pub(super) fn run_client(
    ctx: &Deploy<'_>,
    spec: &CommandSpec,
    what: &str,
    name: &str,
    masked: &[&str],
) -> Result<String> {
    match ctx.run(spec) {
        Ok(out) => Ok(out.stdout),
        Err(Error::Command(e)) => {
            let detail = match &e.kind {
                CommandErrorKind::Failed { stderr, stdout, .. } => {
                    let text = if stderr.trim().is_empty() {
                        stdout
                    } else {
                        stderr
                    };
                    mask(text.trim(), masked)
                }
                other => mask(&other.to_string(), masked),
            };
            Err(Error::msg(format!("{what}: {name} failed: {detail}")))
        }
        Err(e) => Err(e),
    }
}

fn mask(text: &str, masked: &[&str]) -> String {
    masked
        .iter()
        .filter(|m| !m.is_empty())
        .fold(text.to_string(), |t, m| t.replace(m, "****"))
}

/// An SQL string literal, the quote doubled. Right for PostgreSQL with
/// `standard_conforming_strings` on, and for MySQL on values without a
/// backslash (refused there when configuring), whatever
/// `NO_BACKSLASH_ESCAPES` says.
pub(crate) fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A name or value for an error message: control characters escaped,
/// quotes left as they are.
pub(crate) fn shown(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_mask_what_they_must_not_show() {
        assert_eq!(mask("bad SCRAM-x here", &["SCRAM-x"]), "bad **** here");
        assert_eq!(mask("nothing to hide", &[""]), "nothing to hide");
    }

    #[test]
    fn settings_that_would_not_be_one_argument_are_refused() {
        let ok = Some("/run/postgresql".to_string());
        let option = Some("-oProxyCommand=x".to_string());
        let control = Some("a\nb".to_string());
        let empty = Some(String::new());
        assert!(check_settings("Role", &[("host", &ok), ("user", &None)]).is_ok());
        for bad in [&option, &control, &empty] {
            let err = check_settings("Role", &[("host", &ok), ("user", bad)])
                .unwrap_err()
                .to_string();
            assert!(err.contains("invalid connection user"), "{err}");
        }
        let err = check_settings("Role", &[("user", &control)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r"`a\nb`"),
            "the control character shown escaped: {err}"
        );
    }

    #[test]
    fn a_client_runs_as_another_user_through_sudo() {
        assert_eq!(client_argv(None, "psql"), ["psql"]);
        assert_eq!(
            client_argv(Some("postgres"), "psql"),
            ["sudo", "-n", "-u", "postgres", "--", "psql"]
        );
    }
}
