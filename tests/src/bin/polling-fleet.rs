//! `polling-fleet`: N runner processes poll the `polling-upstream` every cycle, directly or
//! through `ghmesh serve` (per runner, shared, or per runner joined in a fleet mesh), and the
//! charged requests, versions, staleness, latency, mesh figures and errors of each mode are
//! reported as a table or JSON. Exits 1 if any request failed. `polling-fleet runner` is one
//! runner (the fleet starts it; not for direct use).
//! See `ghmesh_system_tests::polling` and tests/bench/polling.sh.

use clap::{Parser, Subcommand};
use ghmesh_system_tests::polling::cli::{FleetArgs, RunnerArgs};
use ghmesh_system_tests::polling::fleet::{FleetConfig, run_mode};
use ghmesh_system_tests::polling::report::Report;
use ghmesh_system_tests::polling::runner::{self, RunnerConfig};
use std::process::ExitCode;

/// Replays an autoscaler's polling against a counting upstream, with and without ghmesh.
#[derive(Parser)]
#[command(name = "polling-fleet", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    fleet: FleetArgs,
}

#[derive(Subcommand)]
enum Command {
    /// One runner: polls, then prints what it observed as JSON.
    #[command(hide = true)]
    Runner(RunnerArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if let Some(Command::Runner(args)) = &cli.command {
        let result = runner::run(&RunnerConfig::from(args)).await?;
        println!("{}", serde_json::to_string(&result)?);
        return Ok(ExitCode::SUCCESS);
    }
    let config = FleetConfig::try_from(&cli.fleet)?;
    let work = tempfile::tempdir()?;
    let mut runs = Vec::new();
    for mode in cli.fleet.mode_order() {
        eprintln!("polling-fleet: running {} ...", mode.name());
        runs.push(run_mode(&config, mode, work.path()).await?);
    }
    let report = Report::new(&config, &runs);
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &cli.fleet.json_out {
        std::fs::write(path, &json)?;
    }
    if cli.fleet.json {
        println!("{json}");
    } else {
        print!("{}", report.table());
    }
    if report.errors() > 0 {
        for mode in &report.modes {
            for sample in &mode.error_samples {
                eprintln!("polling-fleet: {}: {sample}", mode.mode);
            }
        }
        eprintln!("polling-fleet: {} request(s) failed", report.errors());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
