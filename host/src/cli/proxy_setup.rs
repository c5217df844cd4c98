//! The proxy as configuration describes it: the one place that opens the store and builds
//! [`Shared`], used by `ghmesh serve` and by `ghmesh api` when it answers in-process, so
//! both apply the same policy, keys, partitions, revalidation and invalidation.

use super::policy_cmd::{runtime, source_for};
use crate::config::Config;
use crate::mesh::Mesh;
use crate::policy::World;
use crate::proxy::{AdminToken, CodeqlShare, ProxySettings, Shared, Upstream};
use crate::store::{Store, StoreError, StoreLimits};
use clap::Args;
use std::sync::Arc;
use std::time::Duration;

/// Where GitHub is and how long to wait for it.
#[derive(Debug, Clone, Args)]
pub struct UpstreamArgs {
    /// GitHub API base URL: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server.
    #[arg(
        long,
        default_value = "https://api.github.com",
        env = "GHMESH_UPSTREAM"
    )]
    pub upstream: String,
    /// Seconds to wait for GitHub before answering 504 (or serving a stale entry).
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub upstream_timeout: u64,
}

/// The configured store: `cache.dir` on disk, or memory when `cache.persistence` is off. The
/// error is kept typed so a caller can tell a store locked by a running serve
/// ([`StoreError::Locked`]) from a broken one.
pub fn open_store(config: &Config) -> Result<Store, StoreError> {
    let limits = store_limits(config);
    if config.cache.persistence {
        Store::open(&config.cache.dir, limits)
    } else {
        Store::in_memory(limits)
    }
}

/// `cache.max_entries` and `cache.max_size`, the bounds of every store in the cache directory.
pub fn store_limits(config: &Config) -> StoreLimits {
    StoreLimits {
        max_entries: config.cache.max_entries,
        max_bytes: config.cache.max_size_bytes,
    }
}

/// Everything the proxy shares between requests: the configured cache policy, `store`, the
/// upstream client and the TTL settings; `admin_token` switches the admin endpoints on; `mesh`
/// joins the fleet (serve only).
pub fn shared(
    config: &Config,
    upstream: &UpstreamArgs,
    store: Store,
    admin_token: Option<AdminToken>,
    mesh: Option<Mesh>,
) -> anyhow::Result<Arc<Shared>> {
    let cache_policy = runtime(config)?.cache_policy(&source_for(config, World::CachePolicy))?;
    let upstream = Upstream::new(
        &upstream.upstream,
        Duration::from_secs(upstream.upstream_timeout.max(1)),
    )?;
    Ok(Shared::new(ProxySettings {
        cache_policy,
        store: Arc::new(store),
        upstream,
        operation_ttls: config
            .cache
            .operation_ttls
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        default_ttl_secs: config.cache.default_ttl_secs,
        admin_token,
        // Results are shared only by a node in the fleet.
        codeql: mesh.as_ref().map(|_| CodeqlShare {
            cache_dir: config.cache.dir.clone(),
            limits: store_limits(config),
        }),
        mesh,
    }))
}
