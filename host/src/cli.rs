//! The command line: clap's view of the arguments ([`Cli`]) and the dispatcher that turns them
//! into a validated [`Config`] and runs a command.

mod admin_client;
mod api_cmd;
mod api_transport;
mod cache_cmd;
mod codeql_cmd;
mod codeql_fleet;
mod config_cmd;
mod creds_access;
mod creds_cmd;
mod discovery;
mod peers_cmd;
mod policy_cmd;
mod proxy_setup;
mod serve_client;
mod serve_cmd;
mod stats_cmd;
mod summary;

use crate::config::{Config, Overrides};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// GitHub API cache, CodeQL result cache and credential manager for GitHub Actions runner fleets;
/// every policy decision is made by a sandboxed WebAssembly component.
#[derive(Debug, Parser)]
#[command(
    name = "ghmesh",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Directory holding cache-config.yml and p2p-config.yml.
    #[arg(long, global = true, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,

    /// Directory for the cache (compiled components, stored responses).
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Join the fleet mesh (overrides `p2p.enabled`; needs GHMESH_FLEET_SECRET).
    #[arg(long, global = true, conflicts_with = "no_p2p")]
    pub p2p: bool,

    /// Do not join the fleet mesh (overrides `p2p.enabled`).
    #[arg(long, global = true)]
    pub no_p2p: bool,

    /// Log debug detail to stderr (or set GHMESH_LOG, e.g. GHMESH_LOG=ghmesh=trace).
    #[arg(long, short, global = true)]
    pub verbose: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the GitHub API caching proxy.
    Serve(serve_cmd::ServeArgs),
    /// Print the counters of a running `ghmesh serve`: hits, misses, hit rate, calls saved, rate limits.
    Stats(stats_cmd::StatsArgs),
    /// List the fleet peers of a running `ghmesh serve`: address, state, round trip, faults.
    Peers(peers_cmd::PeersArgs),
    /// Call the GitHub API like `gh api`, through the cache: via a running `ghmesh serve`, else
    /// from the store directly.
    Api(api_cmd::ApiArgs),
    /// Inspect and maintain the response store (through a running `serve`'s admin API while it
    /// holds the store).
    #[command(subcommand)]
    Cache(cache_cmd::CacheCommand),
    /// CodeQL result cache: scan keys, stored results, skip checks, time saved.
    #[command(subcommand)]
    Codeql(codeql_cmd::CodeqlCommand),
    /// Credential vault: store, get, list, rotate, delete, purge expired, stats.
    Creds(creds_cmd::CredsArgs),
    /// Inspect and exercise policy components.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Inspect the effective configuration.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        config_dir: cli.config_dir,
        cache_dir: cli.cache_dir,
        p2p_enabled: match (cli.p2p, cli.no_p2p) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        ..Overrides::default()
    };
    let config = Config::load(&overrides, &|name| std::env::var(name).ok())?;
    match cli.command {
        Command::Serve(args) => serve_cmd::run(args, &config),
        Command::Stats(args) => stats_cmd::run(args, &config),
        Command::Peers(args) => peers_cmd::run(args, &config),
        Command::Api(args) => api_cmd::run(args, &config),
        Command::Cache(command) => cache_cmd::run(command, &config),
        Command::Codeql(command) => codeql_cmd::run(command, &config),
        Command::Creds(args) => creds_cmd::run(args, &config),
        Command::Policy(command) => policy_cmd::run(command, &config),
        Command::Config(command) => config_cmd::run(command, &config),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
