//! `mesh-scale`: N `ghmesh serve` processes on loopback joined in a fleet mesh, K entries each
//! fetched by one node, then lookups from other nodes while a share of the fleet leaves and as
//! many fresh nodes join; per routing mode (gossip-only, Kademlia), the lookup success rate,
//! latency, announcement reach, memory and mesh traffic per node, as a table or JSON.
//! Exits 1 if a counted lookup failed. Every node is killed when the run ends, fails, panics or
//! is interrupted (SIGINT, SIGTERM). See `ghmesh_system_tests::scale` and
//! tests/bench/mesh_scale.sh.

use clap::Parser;
use ghmesh_system_tests::scale::cli::{ScaleArgs, ScaleConfig};
use ghmesh_system_tests::scale::report::Report;
use ghmesh_system_tests::scale::run::run_mode;
use std::process::ExitCode;
use tokio::signal::unix::{SignalKind, signal};

/// Measures the fleet mesh at scale, with churn, for each routing mode.
#[derive(Parser)]
#[command(name = "mesh-scale")]
struct Cli {
    #[command(flatten)]
    scale: ScaleArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let config = ScaleConfig::try_from(&cli.scale)?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    // Returning from the select drops the run, and with it every node (killed on drop).
    let runs = tokio::select! {
        runs = run_all(&config, &cli.scale) => runs?,
        _ = interrupt.recv() => anyhow::bail!("interrupted; every node was stopped"),
        _ = terminate.recv() => anyhow::bail!("terminated; every node was stopped"),
    };
    let report = Report::new(&config, &runs);
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &cli.scale.json_out {
        std::fs::write(path, &json)?;
    }
    if cli.scale.json {
        println!("{json}");
    } else {
        print!("{}", report.table());
    }
    for mode in &report.modes {
        for sample in &mode.error_samples {
            eprintln!("mesh-scale: {}: {sample}", mode.routing);
        }
    }
    if report.failures() > 0 {
        eprintln!(
            "mesh-scale: {} counted lookup(s) did not come from the fleet",
            report.failures()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_all(
    config: &ScaleConfig,
    args: &ScaleArgs,
) -> anyhow::Result<Vec<ghmesh_system_tests::scale::run::ModeRun>> {
    let work = tempfile::tempdir()?;
    let mut runs = Vec::new();
    for routing in args.routing_order() {
        eprintln!("mesh-scale: running {} ...", routing.name());
        runs.push(run_mode(config, routing, work.path()).await?);
    }
    Ok(runs)
}
