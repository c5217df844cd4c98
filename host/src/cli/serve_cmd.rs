//! `ghmesh serve`: run the caching proxy in front of GitHub's API, and say where it answers in
//! the cache directory's discovery file (`serve.json`) while it runs.

use super::discovery::{self, ServeRecord};
use super::proxy_setup::{self, UpstreamArgs};
use crate::config::Config;
use crate::mesh::{self, Mesh};
use crate::proxy::{self, AdminToken, Listeners};
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `ghmesh serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:8080", env = "GHMESH_LISTEN")]
    pub listen: SocketAddr,
    /// GitHub and how long to wait for it.
    #[command(flatten)]
    pub upstream: UpstreamArgs,
    /// Also serve on this unix socket (for gh's http_unix_socket setting).
    #[arg(long, value_name = "PATH")]
    pub unix_socket: Option<PathBuf>,
    /// Relay for runners of the fleet behind NAT, and be their rendezvous point; for a node
    /// the runners can reach (config `discovery.relay.enable_server`, env GHMESH_RELAY).
    #[arg(long)]
    pub relay: bool,
}

/// Runs the proxy until SIGINT or SIGTERM.
pub fn run(args: ServeArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let store = proxy_setup::open_store(config)
        .with_context(|| format!("opening the store in {}", config.cache.dir.display()))?;
    let admin_token = AdminToken::generate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.relay && !config.p2p.enabled {
        anyhow::bail!("--relay needs the fleet mesh: enable it (p2p.enabled, ENABLE_P2P_CACHE)");
    }
    let mut p2p = config.p2p.clone();
    p2p.discovery.relay_server |= args.relay;
    let (mesh, peer_events) = if p2p.enabled {
        let env = |var: &str| std::env::var(var).ok();
        let settings = mesh::setup::settings(&p2p, &config.cache.dir, env)?;
        let registry = mesh::registry::RegistrySettings::from_env(
            p2p.peer_discovery && p2p.discovery.github_cache,
            settings.max_peers,
            env,
        )?;
        let keys = settings.keys.clone();
        let (mesh, events) = runtime
            .block_on(Mesh::start(settings))
            .context("starting the fleet mesh")?;
        // The registry spawns onto the runtime; its failures never stop the mesh.
        runtime
            .block_on(async { mesh::registry::start(&mesh, keys, registry) })
            .context("starting the Actions cache registry")?;
        (Some(mesh), Some(events))
    } else {
        (None, None)
    };
    let shared = proxy_setup::shared(
        config,
        &args.upstream,
        store,
        Some(admin_token.clone()),
        mesh.clone(),
    )?;
    let (served, published) = runtime.block_on(async move {
        if let Some(events) = peer_events {
            tokio::spawn(proxy::serve_peers(shared.clone(), events));
        }
        let tcp = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = tcp.local_addr()?;
        let shutdown = shutdown_signal()?;
        // Published before the ready line, so whoever waits for that line finds it.
        let published = discovery::publish(
            &config.cache.dir,
            ServeRecord::of_this_process(address, &admin_token),
        )?;
        // One line on stdout when ready: scripts and tests wait for it and read the port. Whoever
        // started us may close the pipe after reading it; that must not bring the proxy down, so
        // write errors are ignored rather than panicking as println! would.
        let unix = args
            .unix_socket
            .as_ref()
            .map(|p| format!(" and unix:{}", p.display()))
            .unwrap_or_default();
        let mut stdout = std::io::stdout();
        if let Some(mesh) = &mesh {
            // Where peers reach this node (give one to other runners as a bootstrap peer).
            let status = mesh.status().await;
            let _ = writeln!(stdout, "ghmesh mesh {}", status.listen_addrs.join(" "));
        }
        let _ = writeln!(
            stdout,
            "ghmesh serving http://{address}{unix} -> {}",
            args.upstream.upstream
        );
        let _ = stdout.flush();
        let served = proxy::serve(
            shared,
            Listeners {
                tcp,
                unix_socket: args.unix_socket,
            },
            shutdown,
        )
        .await;
        if let Some(mesh) = &mesh {
            // Peers stop naming this node as a provider now, not when its records lapse.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), mesh.leave()).await;
        }
        anyhow::Ok((served, published))
    })?;
    // The runtime's tasks hold the last references to the store: once it is gone, the store is
    // closed and its lock released. Only then does the discovery file go, so while the file is
    // absent the store is never held by this serve.
    drop(runtime);
    drop(published);
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Listens for SIGINT and SIGTERM now, and returns a future that resolves on either. Listening
/// must start before the ready line: a signal sent right after it would otherwise still find the
/// default action and kill the process without a clean shutdown.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
