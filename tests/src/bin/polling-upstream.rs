//! `polling-upstream`: a fake GitHub API for an autoscaler's polling (queued runs, runners and
//! workflows of R repositories, changing on a seeded timetable) that counts charged requests and
//! free 304s. Listens on loopback only and prints `polling-upstream listening on http://...`.
//! See `ghmesh_system_tests::polling::upstream`.

use clap::Parser;
use ghmesh_system_tests::polling::cli::UpstreamArgs;
use ghmesh_system_tests::polling::upstream::{UpstreamConfig, router};
use std::io::Write;

/// A fake GitHub API that counts what a polling fleet costs.
#[derive(Parser)]
#[command(name = "polling-upstream")]
struct Cli {
    /// Port on 127.0.0.1 (0: any free port; the ready line names it).
    #[arg(long, default_value_t = 0)]
    port: u16,
    #[command(flatten)]
    upstream: UpstreamArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = UpstreamConfig::try_from(&cli.upstream)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", cli.port)).await?;
    println!(
        "polling-upstream listening on http://{}",
        listener.local_addr()?
    );
    std::io::stdout().flush()?;
    axum::serve(listener, router(config))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
