//! `ghmesh serve`: run the caching proxy in front of GitHub's API.

use super::policy_cmd::{runtime, source_for};
use crate::config::Config;
use crate::mesh::{self, Mesh};
use crate::policy::World;
use crate::proxy::{self, Listeners, ProxySettings, Shared, Upstream};
use crate::store::{Store, StoreLimits};
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Options of `ghmesh serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:8080", env = "GHMESH_LISTEN")]
    pub listen: SocketAddr,
    /// GitHub API base URL: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server.
    #[arg(
        long,
        default_value = "https://api.github.com",
        env = "GHMESH_UPSTREAM"
    )]
    pub upstream: String,
    /// Also serve on this unix socket (for gh's http_unix_socket setting).
    #[arg(long, value_name = "PATH")]
    pub unix_socket: Option<PathBuf>,
    /// Seconds to wait for GitHub before answering 504 (or serving a stale entry).
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub upstream_timeout: u64,
}

/// Runs the proxy until SIGINT or SIGTERM.
pub fn run(args: ServeArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let policy = runtime(config)?.cache_policy(&source_for(config, World::CachePolicy))?;
    let limits = StoreLimits {
        max_entries: config.cache.max_entries,
        max_bytes: config.cache.max_size_bytes,
    };
    let store = if config.cache.persistence {
        Store::open(&config.cache.dir, limits)
            .with_context(|| format!("opening the store in {}", config.cache.dir.display()))?
    } else {
        Store::in_memory(limits)?
    };
    let upstream = Upstream::new(
        &args.upstream,
        Duration::from_secs(args.upstream_timeout.max(1)),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (mesh, peer_events) = if config.p2p.enabled {
        let settings = mesh::setup::settings(&config.p2p, &config.cache.dir, |var| {
            std::env::var(var).ok()
        })?;
        let (mesh, events) = runtime
            .block_on(Mesh::start(settings))
            .context("starting the fleet mesh")?;
        (Some(mesh), Some(events))
    } else {
        (None, None)
    };
    let shared = Shared::new(ProxySettings {
        cache_policy: policy,
        store: Arc::new(store),
        upstream,
        operation_ttls: config
            .cache
            .operation_ttls
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        default_ttl_secs: config.cache.default_ttl_secs,
        mesh: mesh.clone(),
    });
    runtime.block_on(async move {
        if let Some(events) = peer_events {
            tokio::spawn(proxy::serve_peers(shared.clone(), events));
        }
        let tcp = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = tcp.local_addr()?;
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
            args.upstream
        );
        let _ = stdout.flush();
        proxy::serve(
            shared,
            Listeners {
                tcp,
                unix_socket: args.unix_socket,
            },
            shutdown_signal(),
        )
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
