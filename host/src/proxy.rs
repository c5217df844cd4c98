//! The GitHub API caching proxy: front ends (base-URL reverse proxy, forward proxy for
//! `api.github.localhost`, unix socket), the upstream client, coalescing, rate-limit tracking and
//! the orchestration of each request ([`handler`]), and what it reports (`/metrics`,
//! `/_ghmesh/stats`), store maintenance for the CLI ([`admin`]), CodeQL results shared with the
//! fleet ([`codeql_admin`], `scan_share`) and request ids in every log line ([`request_id`]).
//! Decisions come from the cache-policy component; bodies live in the
//! [`crate::store`].

pub mod admin;
mod coalesce;
pub mod codeql_admin;
mod fleet;
mod frontend;
mod handler;
mod hot;
mod key;
mod metrics;
mod outcome;
mod partition;
mod ratelimit;
pub mod request_id;
mod rewrite;
mod scan_share;
mod stats;
mod upstream;

pub use admin::AdminToken;
pub use fleet::serve_peers;
pub use frontend::FORWARD_HOST;
pub use outcome::Outcome;
pub use scan_share::{Announced, CodeqlShare};
pub use upstream::{Upstream, UpstreamError, UpstreamResponse};

use crate::mesh::{Mesh, MeshStatus};
use crate::policy::CachePolicy;
use crate::policy::cache::OperationTtl;
use crate::store::{Store, StoreStats};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use coalesce::Coalescer;
use http::{Request, Response, StatusCode, header};
use metrics::Metrics;
use ratelimit::RateLimits;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

/// An upstream answer shared between coalesced requests.
#[derive(Clone)]
struct Fetched {
    response: Arc<UpstreamResponse>,
    stored: bool,
}

type FetchResult = Result<Fetched, Arc<UpstreamError>>;

/// Everything a request handler needs, shared by all connections.
pub struct Shared {
    cache_policy: CachePolicy,
    store: Arc<Store>,
    /// Verified entries in memory, consulted before the store.
    hot: hot::HotCache,
    upstream: Upstream,
    coalescer: Arc<Coalescer<FetchResult>>,
    rate_limits: RateLimits,
    /// Every counter the proxy keeps; both `/metrics` and `/_ghmesh/stats` read them.
    metrics: Metrics,
    operation_ttls: Vec<OperationTtl>,
    default_ttl_secs: u32,
    /// The fleet mesh, when this node is in one.
    mesh: Option<Mesh>,
    /// Authorises the `/_ghmesh/cache` endpoints; `None` turns them off (every call is 401).
    admin_token: Option<AdminToken>,
    /// The CodeQL result store shared with the fleet (with the mesh only).
    codeql: Option<CodeqlShare>,
}

/// What `serve` needs to run.
pub struct ProxySettings {
    /// The loaded cache policy.
    pub cache_policy: CachePolicy,
    /// The store.
    pub store: Arc<Store>,
    /// GitHub.
    pub upstream: Upstream,
    /// `operation_ttls.*` from configuration, handed to the policy with every request.
    pub operation_ttls: Vec<(String, u32)>,
    /// `cache.default_ttl`.
    pub default_ttl_secs: u32,
    /// The fleet mesh, when this node joins one.
    pub mesh: Option<Mesh>,
    /// The secret of the admin endpoints, or `None` for none (an in-process proxy).
    pub admin_token: Option<AdminToken>,
    /// The CodeQL results this node shares with the fleet, when it is in a mesh.
    pub codeql: Option<CodeqlShare>,
}

impl Shared {
    /// Shared state from settings.
    pub fn new(settings: ProxySettings) -> Arc<Self> {
        Arc::new(Self {
            cache_policy: settings.cache_policy,
            store: settings.store,
            hot: hot::HotCache::default(),
            upstream: settings.upstream,
            coalescer: Arc::new(Coalescer::default()),
            rate_limits: RateLimits::default(),
            metrics: Metrics::default(),
            operation_ttls: settings
                .operation_ttls
                .into_iter()
                .map(|(operation, ttl_seconds)| OperationTtl {
                    operation,
                    ttl_seconds,
                })
                .collect(),
            default_ttl_secs: settings.default_ttl_secs,
            mesh: settings.mesh,
            admin_token: settings.admin_token,
            codeql: settings.codeql,
        })
    }

    /// The stats document served at `/_ghmesh/stats`.
    pub async fn stats_json(&self) -> serde_json::Value {
        let cache_size = self.store_stats().await.map_or(0, |s| s.entries);
        let rate_limits = serde_json::to_value(self.rate_limits.snapshot()).unwrap_or_default();
        let mesh = self.mesh_status().await;
        self.metrics
            .counts()
            .to_json(cache_size, rate_limits, mesh.as_ref())
    }

    /// The mesh's status, `None` outside a mesh.
    pub async fn mesh_status(&self) -> Option<MeshStatus> {
        match &self.mesh {
            Some(mesh) => Some(mesh.status().await),
            None => None,
        }
    }

    /// The Prometheus text exposition served at `/metrics`.
    pub async fn metrics_text(&self) -> String {
        let store = self.store_stats().await;
        let mesh = self.mesh_status().await;
        self.metrics
            .encode(store.as_ref(), &self.rate_limits.snapshot(), mesh.as_ref())
    }

    /// The store's size, read off the async workers (a redb read transaction blocks); `None`
    /// (logged) when it cannot be read, so a report never fails because of it.
    async fn store_stats(&self) -> Option<StoreStats> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.stats()).await {
            Ok(Ok(stats)) => Some(stats),
            Ok(Err(e)) => {
                tracing::warn!("reading store stats failed: {e}");
                None
            }
            Err(e) => {
                tracing::warn!("store stats task failed: {e}");
                None
            }
        }
    }
}

/// The HTTP application: internal endpoints, everything else proxied; every request with an id
/// and a span carrying it ([`request_id`]).
pub fn router(shared: Arc<Shared>) -> Router {
    let app = Router::new()
        .route("/metrics", get(metrics_endpoint))
        .route("/_ghmesh/stats", get(stats_endpoint))
        .route("/_ghmesh/peers", get(peers_endpoint))
        .route("/_ghmesh/health", get(|| async { "ok" }))
        .merge(admin::routes())
        .merge(codeql_admin::routes())
        .fallback(proxy_endpoint)
        .with_state(shared);
    request_id::apply(app)
}

async fn stats_endpoint(State(shared): State<Arc<Shared>>) -> axum::Json<serde_json::Value> {
    axum::Json(shared.stats_json().await)
}

/// The mesh status (`ghmesh peers`); 404 when this node is not in a mesh.
async fn peers_endpoint(State(shared): State<Arc<Shared>>) -> Response<Body> {
    match shared.mesh_status().await {
        Some(status) => axum::Json(status).into_response(),
        None => handler::error_response(
            StatusCode::NOT_FOUND,
            "this ghmesh serve is not in a fleet mesh (p2p.enabled is false)",
        ),
    }
}

async fn metrics_endpoint(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        shared.metrics_text().await,
    )
}

async fn proxy_endpoint(
    State(shared): State<Arc<Shared>>,
    request: Request<Body>,
) -> Response<Body> {
    handler::handle(shared, request).await
}

/// Where `serve` listens.
pub struct Listeners {
    /// TCP listener (already bound, so the caller knows the port).
    pub tcp: tokio::net::TcpListener,
    /// Optional unix socket path (gh's `http_unix_socket`).
    pub unix_socket: Option<PathBuf>,
}

/// Serves until `shutdown` resolves; then stops accepting, finishes in-flight requests and
/// waits until every response already answered as stored (write-behind) is committed.
pub async fn serve(
    shared: Arc<Shared>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = shared.store.clone();
    let app = router(shared);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let unix = match listeners.unix_socket {
        Some(path) => {
            // A stale socket file from a killed run would make bind fail.
            if path.exists() {
                std::fs::remove_file(&path)?;
            }
            let listener = tokio::net::UnixListener::bind(&path)
                .map_err(|e| anyhow::anyhow!("cannot bind unix socket {}: {e}", path.display()))?;
            let app = app.clone();
            let rx = stop_rx.clone();
            Some(tokio::spawn(async move {
                axum::serve(listener, app.into_make_service())
                    .with_graceful_shutdown(wait(rx))
                    .await
            }))
        }
        None => None,
    };
    // Nagle's algorithm would hold back a response written in more than one piece until the
    // client acknowledges the first: on keep-alive connections that is a delayed-ACK wait.
    let tcp = listeners.tcp.tap_io(|stream| {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    axum::serve(tcp, app.into_make_service())
        .with_graceful_shutdown(wait(stop_rx))
        .await?;
    if let Some(task) = unix {
        task.await??;
    }
    // Dropping the last store handle would commit the queue too; flushing here makes a graceful
    // stop durable before `serve` returns, and a failure an error instead of a log line.
    tokio::task::spawn_blocking(move || store.flush())
        .await
        .map_err(|e| anyhow::Error::new(e).context("store flush task failed"))?
        .map_err(|e| anyhow::Error::new(e).context("committing queued store writes on shutdown"))?;
    Ok(())
}
