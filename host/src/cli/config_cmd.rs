//! `ghmesh config ...`: show the effective configuration and where each value came from.

use crate::config::{self, Config};
use clap::Subcommand;
use std::process::ExitCode;

/// Configuration commands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every effective setting with its source (default, file and key, env var or flag).
    Show {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a configuration command.
pub fn run(command: ConfigCommand, config: &Config) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Show { json: true } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&config::show_json(config))?
            )
        }
        ConfigCommand::Show { json: false } => print!("{}", config::render_show(config)),
    }
    Ok(ExitCode::SUCCESS)
}
