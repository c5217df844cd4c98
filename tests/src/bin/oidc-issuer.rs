//! `oidc-issuer`: a test GitHub Actions OIDC issuer on 127.0.0.1 for system tests. Prints one JSON
//! line when ready — `issuer`, `jwks_url`, `token_request_url` (for
//! `ACTIONS_ID_TOKEN_REQUEST_URL`), `request_token` (for `ACTIONS_ID_TOKEN_REQUEST_TOKEN`),
//! `mint_url`, `rotate_url` — then serves until SIGINT/SIGTERM.
//! See `ghmesh_system_tests::oidc_issuer`.

use clap::Parser;
use ghmesh_system_tests::oidc_issuer::TestIssuer;

/// A test OIDC issuer shaped like GitHub Actions'.
#[derive(Parser)]
#[command(name = "oidc-issuer")]
struct Cli {
    /// Port on 127.0.0.1 (0: any free port; the ready line names it).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let issuer = TestIssuer::bind(([127, 0, 0, 1], cli.port).into()).await?;
    let url = issuer.url();
    let ready = serde_json::json!({
        "issuer": url,
        "jwks_url": issuer.jwks_url(),
        "token_request_url": issuer.token_request_url(),
        "request_token": issuer.request_token(),
        "mint_url": format!("{url}/mint"),
        "rotate_url": format!("{url}/rotate"),
    });
    ghmesh_system_tests::announce_ready_and_wait(ready).await?;
    drop(issuer);
    Ok(())
}
