//! The `batou` command line over `batou-core`: argument parsing, the
//! terminal transcript and error rendering. A deployment's `main` builds a
//! [`batou_core::Registry`] and calls [`main`].
//!
//! In the deployment's `src/main.rs`:
//!
//! ```no_run
//! let mut registry = batou_core::Registry::new();
//! // registry.component::<MyComponent>("mycomponent");
//! batou_cli::main(registry)
//! ```

// Output goes through `guard` (masked, escaped), never straight out.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod command;
mod deploy;
mod diagnostics;
mod exec;
mod exit;
mod guard;
mod history;
mod init;
mod inspect;
mod json;
mod notify;
mod output;
mod progress;
mod prompt;
mod remote;
mod rollback;
mod run;
mod secrets;
mod transcript;

use std::io::IsTerminal;
use std::path::PathBuf;

use batou_core::Registry;
use clap::{CommandFactory, Parser};

pub use exit::ExitStatus;

/// Parses the process arguments, runs the command and exits. Never panics
/// out to the user: a bug is reported as an internal error (exit 70),
/// with secrets masked, and with `--json` the stream still ends with an
/// `error` and a `summary`.
pub fn main(registry: Registry) -> ! {
    // First, so that the controller knows the binary runs here at all.
    if batou_core::remote::bootstrap::announce_start(&mut std::io::stdout()).is_err() {
        std::process::exit(1);
    }
    static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    std::panic::set_hook(Box::new(|info| {
        let message = guard::text(&format!("internal error: {info}"));
        guard::err(&message);
        guard::err("This is a bug in batou; please report it with the command you ran.");
        *LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
    }));
    let status = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(&registry, std::env::args_os().collect())
    }))
    .unwrap_or_else(|_| {
        if let Some(json) = guard::json_stream() {
            let message = LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()).take();
            json.end_after_panic(message.unwrap_or_else(|| "internal error".into()));
        }
        ExitStatus::Internal
    });
    std::process::exit(status.code())
}

/// Runs one command line (the first element is the program name).
pub fn run(registry: &Registry, argv: Vec<std::ffi::OsString>) -> ExitStatus {
    guard::reset();
    let cli = match args::Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitStatus::Success
                }
                _ => ExitStatus::Usage,
            };
        }
    };
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let project_dir = project_dir();
    if matches!(
        cli.command,
        args::Command::Deploy(_) | args::Command::Secrets(_)
    ) {
        // A `secrets edit` whose batou was killed left its cleartext.
        for dir in batou_core::secrets::edit::sweep() {
            guard::err(&format!(
                "WARN: removed the cleartext an interrupted `batou secrets edit` left in {} \
                 (its changes, if any, were not saved)",
                dir.display()
            ));
        }
    }
    match cli.command {
        args::Command::Deploy(opts) => deploy::run(registry, &project_dir, &opts, color, cli.debug),
        args::Command::Exec(opts) => exec::run(registry, &project_dir, &opts),
        args::Command::Run(opts) => command::run(registry, &project_dir, &opts),
        args::Command::History(opts) => history::run(registry, &project_dir, &opts),
        args::Command::Rollback(opts) => rollback::run(registry, &project_dir, &opts),
        args::Command::Secrets(opts) => secrets::run(&project_dir, &opts),
        args::Command::Show(opts) => inspect::show(registry, &project_dir, &opts, color),
        args::Command::Graph(opts) => inspect::graph_cmd(registry, &project_dir, &opts, color),
        args::Command::Completions { shell } => {
            let mut cmd = args::Cli::command();
            clap_complete::generate(shell, &mut cmd, "batou", &mut std::io::stdout());
            ExitStatus::Success
        }
        args::Command::Man => man(),
        args::Command::Init(opts) => init::run(&opts),
        args::Command::Agent => {
            let input = Box::new(std::io::BufReader::new(std::io::stdin()));
            let output = Box::new(std::io::stdout());
            ExitStatus::Code(batou_core::remote::agent::serve(registry, input, output))
        }
        args::Command::AgentPatch { base } => {
            let out = std::io::BufWriter::new(std::io::stdout().lock());
            match batou_core::remote::bootstrap::apply_patch(&base, std::io::stdin().lock(), out) {
                Ok(_) => ExitStatus::Success,
                Err(e) => {
                    guard::err(&format!("batou agent-patch {}: {e}", base.display()));
                    ExitStatus::Code(1)
                }
            }
        }
    }
}

/// `batou man`: batou(1), then the synopsis, description and options of
/// every subcommand, as roff on stdout.
fn man() -> ExitStatus {
    let cmd = args::Cli::command();
    let mut out = Vec::new();
    let mut result = clap_mangen::Man::new(cmd.clone()).render(&mut out);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub = sub.clone().bin_name(format!("batou {}", sub.get_name()));
        let page = clap_mangen::Man::new(sub);
        result = result
            .and_then(|_| page.render_synopsis_section(&mut out))
            .and_then(|_| page.render_description_section(&mut out))
            .and_then(|_| page.render_options_section(&mut out));
    }
    if let Err(e) = result {
        guard::err(&format!("ERROR: cannot render the man page: {e}"));
        return ExitStatus::Internal;
    }
    use std::io::Write;
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(&out).and_then(|_| stdout.flush());
    ExitStatus::Success
}

/// The deployment project: `BATOU_PROJECT_DIR` (set by `./batou`), else
/// the current directory.
fn project_dir() -> PathBuf {
    std::env::var_os("BATOU_PROJECT_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The command line's definition (clap), e.g. to generate or check its
/// documentation (the book's reference is checked against it).
pub fn command() -> clap::Command {
    args::Cli::command()
}
