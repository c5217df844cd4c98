//! `actions-cache-server`: the local GitHub Actions cache service of the system tests
//! (`ghmesh_system_tests::actions_cache_server`) as a process on 127.0.0.1, for trying the
//! registry by hand or from a script. Prints one JSON line when ready — `results_url` (for
//! `ACTIONS_RESULTS_URL`) and `runtime_token` (for `ACTIONS_RUNTIME_TOKEN`) — then serves until
//! SIGINT/SIGTERM.

use clap::Parser;
use ghmesh_system_tests::actions_cache_server::ActionsCacheServer;

/// A local GitHub Actions cache service (Twirp CacheService and signed blob URLs).
#[derive(Parser)]
#[command(name = "actions-cache-server")]
struct Cli {
    /// Port on 127.0.0.1 (0: any free port; the ready line names it).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The runtime token it accepts.
    #[arg(long, default_value = "local-actions-runtime-token")]
    token: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let server = ActionsCacheServer::bind(([127, 0, 0, 1], cli.port).into(), &cli.token).await?;
    let ready = serde_json::json!({
        "results_url": server.url(),
        "runtime_token": cli.token,
    });
    ghmesh_system_tests::announce_ready_and_wait(ready).await?;
    drop(server);
    Ok(())
}
