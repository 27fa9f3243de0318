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
    #[command(after_help = crate::exit::TABLE)]
    Deploy(DeployArgs),
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
    /// Override the environment's `timeout` (seconds).
    #[arg(short = 't', long)]
    pub timeout: Option<u64>,
}
