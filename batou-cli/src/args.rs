//! Command-line definitions.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "batou",
    version,
    about = "batou: multi-(host|component|environment|platform) deployment",
    after_help = crate::exit::TABLE
)]
pub struct Cli {
    /// Show debug output (timings, decisions).
    #[arg(short, long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy an environment (or check or predict it).
    ///
    /// With --hosts/--skip-hosts, only the roots on the selected hosts are
    /// deployed; the model is still configured whole.
    #[command(after_help = crate::exit::TABLE)]
    Deploy(DeployArgs),
    /// Serve a controller on stdin/stdout (started by batou on targets).
    #[command(hide = true)]
    Agent,
    /// Apply an agent delta from stdin to BASE, the new agent on stdout
    /// (run by the upload script on targets).
    #[command(hide = true)]
    AgentPatch {
        /// The cached agent the delta was built against.
        base: std::path::PathBuf,
    },
    /// Run one shell command on the selected hosts, in parallel, over the
    /// environment's transport and as its service user; per host: exit
    /// status, stdout, stderr, duration. Takes no deploy lock and uploads
    /// no agent.
    #[command(after_help = crate::exit::TABLE)]
    Exec(ExecArgs),
    /// Run a registered command (the stdlib's `facts` and `verify`, or the
    /// deployment's own) in the agent on every selected host, in
    /// parallel; per host its JSON answer, shown as a table or passed
    /// through with --json. Takes no deploy lock unless --lock.
    #[command(after_help = crate::exit::TABLE)]
    Run(RunArgs),
    /// Show the deploy history of the selected hosts side by side: each
    /// deploy's id, start, controller, commit and each host's outcome.
    /// Reads each host's journal over the environment's transport (no
    /// agent, no lock).
    #[command(after_help = crate::exit::TABLE)]
    History(HistoryArgs),
    /// Undo the last deploy on the selected hosts: put back every file it
    /// changed (newest first, across roots) from the undo record it kept,
    /// then run the roots' revert handlers. Refused where a file changed
    /// since (exit 8, --force overrides); recorded in the history.
    #[command(after_help = crate::exit::TABLE)]
    Rollback(RollbackArgs),
    /// Manage encrypted secrets (age, age-diffable, gpg).
    #[command(after_help = crate::exit::TABLE)]
    Secrets(SecretsArgs),
    /// Show the merged environment: hosts, their components, platforms,
    /// host data, settings and every override with where it came from.
    #[command(after_help = crate::exit::TABLE)]
    Show(ShowArgs),
    /// Show the cross-host dependency graph of an environment's model.
    #[command(after_help = crate::exit::TABLE)]
    Graph(GraphArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) for batou and its subcommands.
    Man,
    /// Scaffold a new deployment project that deploys locally right away:
    /// a cargo workspace depending on batou, a `components` crate with an
    /// example component and template, `environments/local.cfg`, the
    /// `./batou` script and a `.gitignore`.
    #[command(
        after_help = "Exits 2 (nothing written) when DIR is not empty or PATH is not a batou checkout."
    )]
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the project (created if missing; must be empty).
    #[arg(default_value = ".")]
    pub dir: std::path::PathBuf,
    /// The batou checkout to depend on (path dependencies; batou is not on
    /// crates.io). Default: the checkout this batou was built from.
    #[arg(long, env = "BATOU_SOURCE", value_name = "PATH")]
    pub batou_path: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The environment (as for `deploy`).
    pub environment: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Override the platform of every host ('' for none), as for `deploy`.
    #[arg(short = 'p', long)]
    pub platform: Option<String>,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The environment (as for `deploy`).
    pub environment: String,
    /// Print Graphviz DOT (one cluster per host) instead of text.
    #[arg(long)]
    pub dot: bool,
    /// Print JSON (nodes in deploy order, with their dependencies,
    /// publications, subscriptions and watches) instead of text.
    #[arg(long, conflicts_with = "dot")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub command: SecretsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Edit an environment's secrets (or the secret file EDIT_FILE) in $EDITOR.
    Edit {
        /// The editor to run (default: $EDITOR, else vi).
        #[arg(short, long)]
        editor: Option<String>,
        environment: String,
        edit_file: Option<String>,
    },
    /// Members and secret files of every environment (no secret values).
    Summary,
    /// Add a member (age key, ssh public key, gpg key id) and re-encrypt.
    Add {
        key: String,
        /// Comma-separated environments (default: all).
        #[arg(long)]
        environments: Option<String>,
    },
    /// Remove a member and re-encrypt.
    Remove {
        key: String,
        /// Comma-separated environments (default: all).
        #[arg(long)]
        environments: Option<String>,
    },
    /// Re-encrypt for the current members (skipped if the key set is unchanged).
    Reencrypt {
        /// Re-encrypt even if nothing changed.
        #[arg(short, long)]
        force: bool,
        /// Comma-separated environments (default: all).
        #[arg(long)]
        environments: Option<String>,
    },
    /// Decrypt FILE to stdout (for git's textconv).
    Decrypttostdout { file: std::path::PathBuf },
}

/// The hosts a command acts on, as every command that reaches hosts
/// selects them.
#[derive(Debug, Args)]
pub struct HostSelection {
    /// Only these hosts: a host pattern (names, globs `web*`, tags
    /// `@web`, negations `!db1`, comma-separated). Default: every host.
    #[arg(long, value_name = "PATTERN")]
    pub hosts: Vec<String>,
    /// Leave these hosts out (a host pattern, as for --hosts).
    #[arg(long, value_name = "PATTERN")]
    pub skip_hosts: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The environment: `environments/NAME.cfg`, `environments/NAME/environment.cfg` or `.toml`.
    pub environment: String,
    /// Only configure the model and check its consistency; touch no host.
    #[arg(short = 'c', long)]
    pub consistency_only: bool,
    /// Verify only: show what would change, with diffs; change nothing.
    #[arg(short = 'P', long)]
    pub predict_only: bool,
    /// Run the check or prediction against this machine (`connect_method = local`).
    #[arg(short = 'L', long)]
    pub local: bool,
    /// Override the platform of every host ('' for none).
    #[arg(short = 'p', long)]
    pub platform: Option<String>,
    /// Hosts to deploy in parallel (default: the environment's `jobs`, else 1).
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Deploy hosts in batches of these sizes, each finished before the
    /// next starts: `1`, `25%`, `1,25%,100%` (default: the environment's
    /// `serial`, else all at once).
    #[arg(long, value_name = "SIZES", value_parser = parse_serial)]
    pub serial: Option<batou_core::rollout::Serial>,
    /// Go on after this many failed hosts (`N`), or until this share of
    /// the hosts failed (`N%`); default: the environment's `max_fail`,
    /// else stop at the first failure.
    #[arg(long, value_name = "N|N%", value_parser = parse_max_fail)]
    pub max_fail: Option<batou_core::rollout::Limit>,
    /// Seconds to wait between batches (default: the environment's
    /// `batch_wait`, else none).
    #[arg(long, value_name = "SECONDS")]
    pub batch_wait: Option<u64>,
    /// Override the environment's `timeout` (seconds).
    #[arg(short = 't', long)]
    pub timeout: Option<u64>,
    /// Take over a target's deploy lock held by a hung deploy (its agent is
    /// terminated).
    #[arg(long)]
    pub break_lock: bool,
    /// Leave a failed root as it failed instead of restoring what it
    /// changed (as the environment's `revert = false`).
    #[arg(long)]
    pub no_revert: bool,
    /// Seconds to wait when connecting to a host (default: the
    /// environment's `connect_timeout`, else 10).
    #[arg(long)]
    pub connect_timeout: Option<u64>,
    /// Seconds any command a component runs may take (default: the
    /// environment's `command_timeout`, else no limit).
    #[arg(long)]
    pub command_timeout: Option<u64>,
    #[command(flatten)]
    pub select: HostSelection,
    /// Print the hosts --hosts/--skip-hosts select and exit; connects
    /// nowhere.
    #[arg(long)]
    pub list_hosts: bool,
    /// Deploy only these root components (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "COMPONENTS")]
    pub components: Vec<String>,
    /// Deploy all root components but these (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "COMPONENTS")]
    pub skip_components: Vec<String>,
    /// Print plain lines only, no live per-host view (the default when
    /// stdout or stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// Print a JSON-lines event stream on stdout instead of the transcript
    /// (format: docs/json-events.md).
    #[arg(long)]
    pub json: bool,
    /// With -P: exit 6 when something would change, 0 when nothing would.
    #[arg(long, requires = "predict_only")]
    pub exit_code: bool,
    /// Show diffs of more than 200 lines whole, not just their first and
    /// last 50 lines: of every root component, or with
    /// --full-diff=COMPONENTS of these (comma-separated). Diffs of
    /// sensitive files stay hidden.
    #[arg(
        long,
        value_name = "COMPONENTS",
        num_args = 0..=1,
        require_equals = true,
        value_delimiter = ',',
        default_missing_value = ""
    )]
    pub full_diff: Option<Vec<String>>,
}

fn parse_serial(text: &str) -> Result<batou_core::rollout::Serial, String> {
    batou_core::rollout::Serial::parse(text).map_err(|e| e.to_string())
}

fn parse_max_fail(text: &str) -> Result<batou_core::rollout::Limit, String> {
    batou_core::rollout::Limit::parse(text, 0).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The environment (as for `deploy`).
    pub environment: String,
    #[command(flatten)]
    pub select: HostSelection,
    /// Show what would be restored and which revert handlers would run;
    /// change nothing.
    #[arg(short = 'P', long)]
    pub predict_only: bool,
    /// Roll back even where files changed since the deploy (their changes
    /// are lost).
    #[arg(long)]
    pub force: bool,
    /// Seconds to wait when connecting (default: the environment's
    /// `connect_timeout`, else 10).
    #[arg(long)]
    pub connect_timeout: Option<u64>,
    /// Print one JSON document: each host's result in full.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The environment (as for `deploy`).
    pub environment: String,
    #[command(flatten)]
    pub select: HostSelection,
    /// Seconds to wait when connecting (default: the environment's
    /// `connect_timeout`, else 10).
    #[arg(long)]
    pub connect_timeout: Option<u64>,
    /// Print one JSON document: each host's records in full, and the
    /// controller's copy.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The environment (as for `deploy`).
    pub environment: String,
    #[command(flatten)]
    pub select: HostSelection,
    /// Print the selected hosts and exit; connects nowhere.
    #[arg(long)]
    pub list_hosts: bool,
    /// Hosts at once (default: all selected, at most 64).
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Seconds to wait when connecting (default: the environment's
    /// `connect_timeout`, else 10).
    #[arg(long)]
    pub connect_timeout: Option<u64>,
    /// Seconds the command may run on a host before it is killed
    /// (default: the environment's `command_timeout`, else no limit).
    #[arg(long)]
    pub command_timeout: Option<u64>,
    /// How each host's answer is printed: %h host, %u user, %r result
    /// (ok, failed, timeout, unreachable, locked), %s exit status (- if none),
    /// %t seconds, %o stdout, %e stderr (or the error), %% a percent
    /// sign; \n and \t are a newline and a tab.
    #[arg(long, conflicts_with_all = ["stream", "json"])]
    pub format: Option<String>,
    /// Hold each host's deploy lock while the command runs (a host where a
    /// deploy runs is reported `locked`). Without it, exec runs beside a
    /// deploy.
    #[arg(long)]
    pub lock: bool,
    /// Print lines as they arrive, prefixed `HOST: ` (stderr: `HOST! `).
    #[arg(long, conflicts_with = "json")]
    pub stream: bool,
    /// Print one JSON document: the command and each host's answer.
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments (after `--`), run by `sh -c` on the
    /// target, joined with spaces as ssh does.
    #[arg(last = true, required_unless_present = "list_hosts")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The environment (as for `deploy`).
    pub environment: String,
    /// The registered command (`facts`, `verify`, or one the deployment
    /// registers); not needed with --list-hosts.
    #[arg(required_unless_present = "list_hosts")]
    pub name: Option<String>,
    /// The command's arguments (after `--` when one starts with `-`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = false)]
    pub args: Vec<String>,
    #[command(flatten)]
    pub select: HostSelection,
    /// Print the selected hosts and exit; connects nowhere.
    #[arg(long)]
    pub list_hosts: bool,
    /// Hosts at once (default: all selected, at most 64).
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Seconds to wait when connecting (default: the environment's
    /// `connect_timeout`, else 10).
    #[arg(long)]
    pub connect_timeout: Option<u64>,
    /// Hold each host's deploy lock while the command runs (a host where a
    /// deploy runs is reported `locked`). Without it, run works beside a
    /// deploy.
    #[arg(long)]
    pub lock: bool,
    /// Print one JSON document: the command and each host's answer.
    #[arg(long)]
    pub json: bool,
}
